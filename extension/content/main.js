// @ts-check
/** Runs one on-page action: read the text, open the panel, stream the request into it. */

import { LocusClient } from '../client.js';
import { Panel } from './panel.js';
import { readArticle, readSelection, replaceSelection } from './page_text.js';

const client = new LocusClient();
/** @type {Panel|null} */
let openPanel = null;

const t = (/** @type {string} */ key, /** @type {(string|number)[]} */ ...subs) =>
  chrome.i18n.getMessage(key, subs.map(String)) || key;

const TITLES = { summarize: 'panelTitleSummary', translate: 'panelTitleTranslation', detect: 'panelTitleDetect', report: 'panelTitleReport' };

/**
 * What the service worker sends with an action (settings at the time).
 * @typedef {{type?: string, length?: string, format?: string, targetLanguage?: string,
 *   targetLanguages?: string[], contextTokens?: number}} Options
 * (`contextTokens` is for tests: a small context makes long-text handling quick.)
 * @typedef {import('./page_text.js').EditableSelection} EditableSelection
 */

/** @param {{action: string, options: Options}} message */
export async function invoke({ action, options }) {
  if (!(action in TITLES)) return;
  const selection = readSelection();
  openPanel?.close();
  const panel = new Panel(t(TITLES[/** @type {keyof TITLES} */ (action)]), selection.rect);
  openPanel = panel;
  let text = selection.text;
  if (!text && (action === 'summarize' || action === 'detect')) {
    panel.setStatus(t('panelReadingPage'));
    text = await readArticle();
  }
  if (!text && action !== 'report') {
    panel.fail(t('errorNoText'));
    return;
  }
  start(panel, action, options ?? {}, text, selection.editable);
}

/**
 * Sends the request and shows its events; "Retry" starts it again here.
 * @param {Panel} panel @param {string} action @param {Options} options @param {string} text
 * @param {EditableSelection|null} editable
 */
function start(panel, action, options, text, editable) {
  panel.reset({ markdown: action === 'summarize' && options.format !== 'plain-text' });
  const { kind, payload } = requestFor(action, options, text);
  /** The detected source, shown for the rest of the translation. */
  let source = '';
  /** Whether the status line shows prompt-reading progress. */
  let reading = false;
  const job = client.request(kind, payload, (event) => {
    panel.show(event);
    if (event.event === 'progress') {
      if (event.stage === 'source') source = event.message;
      progress(panel, event, source);
      reading = event.stage === 'prefill';
    }
    // Once the answer streams, the prompt is read: a translation says its
    // source again instead of the last "Reading N of M tokens".
    if (event.event === 'token' && reading) {
      reading = false;
      if (source) panel.setStatus(t('panelTranslatingFrom', languageName(source)));
    }
    if (event.event === 'done') finished(panel, action, event.result ?? {}, editable);
    if (event.event === 'done' || event.event === 'error') {
      const fields = retryFields(action, options);
      if (fields.length) panel.offerRetry(fields, (values) => start(panel, action, { ...options, ...values }, text, editable));
    }
  });
  panel.onStop = () => job.abort();
}

/**
 * Status lines in the UI language for the runtime's progress stages.
 * @param {Panel} panel @param {any} event @param {string} source the detected source language, if any
 */
function progress(panel, { stage, done, total, percent }, source) {
  if (stage === 'load' && typeof percent === 'number') panel.setStatus(t('panelLoadingModel', percent));
  if (stage === 'prompt') panel.setStatus(t('panelReadingTokens', total));
  if (stage === 'prefill') panel.setStatus(t('panelReadingProgress', done.toLocaleString(), total.toLocaleString()));
  if (source && (stage === 'source' || stage === 'prompt')) panel.setStatus(t('panelTranslatingFrom', languageName(source)));
  if (stage === 'part') panel.setStatus(t('panelPart', done + 1, total));
  if (stage === 'combine') panel.setStatus(t('panelCombining', total));
}

/**
 * @param {Panel} panel @param {string} action @param {any} result
 * @param {EditableSelection|null} editable
 */
function finished(panel, action, result, editable) {
  if (typeof result.tokensPerSecond === 'number' && result.tokens > 0) {
    panel.setFooter(`${result.model} · ${String(result.backend).toUpperCase()} · ${t('panelSpeed', result.tokensPerSecond.toFixed(1))}`);
  }
  if (action === 'detect') {
    const rows = (result.languages ?? []).map((/** @type {any} */ d) => ({
      label: d.detectedLanguage === 'und' ? t('languageUnknown') : languageName(d.detectedLanguage),
      value: Number(d.confidence) || 0,
    }));
    panel.showRanking(rows);
  }
  if (action === 'translate') {
    if (result.alreadyInTarget) {
      panel.setStatus(t('panelAlreadyInTarget', languageName(result.targetLanguage)));
      return;
    }
    if (result.sourceLanguage) panel.setStatus(t('panelTranslatedFrom', languageName(result.sourceLanguage)));
    if (editable && result.text) {
      const button = panel.addAction(t('panelReplace'), () => {
        const replaced = replaceSelection(editable, result.text);
        panel.setStatus(t(replaced ? 'panelReplaced' : 'panelReplaceFailed'));
        if (replaced) button.remove();
      });
    }
  }
}

/**
 * The choices "Retry" offers for an action.
 * @param {string} action @param {Options} options
 * @returns {import('./panel.js').RetryField[]}
 */
function retryFields(action, options) {
  const choice = (/** @type {string} */ name, /** @type {string} */ value, /** @type {string[]} */ values, /** @type {(v: string) => string} */ label) => ({
    name,
    label: t(`option_${name}`),
    value,
    options: values.map((v) => ({ value: v, label: label(v) })),
  });
  const message = (/** @type {string} */ prefix) => (/** @type {string} */ v) => t(`${prefix}_${v.replace('-', '_')}`);
  if (action === 'summarize') {
    return [
      choice('type', options.type ?? 'key-points', ['key-points', 'tldr', 'teaser', 'headline'], message('summaryType')),
      choice('length', options.length ?? 'medium', ['short', 'medium', 'long'], message('summaryLength')),
      choice('format', options.format ?? 'markdown', ['markdown', 'plain-text'], message('summaryFormat')),
    ];
  }
  if (action === 'translate') {
    const targets = [...new Set([options.targetLanguage ?? 'en', ...(options.targetLanguages ?? [])])];
    return [choice('targetLanguage', options.targetLanguage ?? targets[0], targets, languageName)];
  }
  return [];
}

/**
 * @param {string} action @param {Options} options @param {string} text
 * @returns {{kind: import('../protocol.js').RequestKind, payload: object}}
 */
function requestFor(action, options, text) {
  switch (action) {
    case 'summarize':
      return {
        kind: 'summarize',
        payload: {
          text,
          type: options.type,
          length: options.length,
          format: options.format,
          contextTokens: options.contextTokens,
        },
      };
    case 'translate':
      return {
        kind: 'translate',
        payload: { text, targetLanguage: options.targetLanguage ?? 'en', contextTokens: options.contextTokens },
      };
    case 'detect':
      return { kind: 'detect', payload: { text } };
    default:
      return { kind: 'report', payload: {} };
  }
}

/** A language's name in the browser's UI language (`de` → `German`). @param {string} code */
function languageName(code) {
  try {
    return new Intl.DisplayNames([chrome.i18n.getUILanguage()], { type: 'language' }).of(code) ?? code;
  } catch {
    return code;
  }
}
