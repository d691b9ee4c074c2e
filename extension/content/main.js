// @ts-check
/** Runs one on-page action: read the text, open the panel, stream the request into it. */

import { LocusClient } from '../client.js';
import { Panel } from './panel.js';
import { readArticle, readSelection, replaceSelection } from './page_text.js';

// The end-to-end tests drive the panel itself in the content script's world.
export { Panel };

const client = new LocusClient();
/** The open panel is kept on the window it is drawn in (our isolated world's view of it), so a panel opened from a frame replaces it too. */
const OPEN_PANEL = 'locusOpenPanel';

const t = (/** @type {string} */ key, /** @type {(string|number)[]} */ ...subs) =>
  chrome.i18n.getMessage(key, subs.map(String)) || key;

const TITLES = { summarize: 'panelTitleSummary', translate: 'panelTitleTranslation', detect: 'panelTitleDetect', report: 'panelTitleReport' };

/**
 * What the service worker sends with an action (settings at the time).
 * @typedef {{type?: string, length?: string, format?: string, targetLanguage?: string,
 *   targetLanguages?: string[], contextTokens?: number, repeatLimit?: number, model?: string}} Options
 * (`contextTokens` and `repeatLimit` are for tests: a small context makes
 * long-text handling quick, a low repeat limit provokes the loop stop.)
 * @typedef {import('./page_text.js').EditableSelection} EditableSelection
 */

/**
 * @typedef {{token: string, text: string, rect: {left: number, top: number, width: number, height: number}}} FrameSelection
 * a selection in a cross-origin child frame, sent here (the top frame) to be shown next to that frame
 */

/** @param {{action: string, options: Options, fromFrame?: FrameSelection}} message */
export async function invoke({ action, options, fromFrame }) {
  if (!(action in TITLES)) return;
  const selection = fromFrame ? await frameSelection(fromFrame) : readSelection();
  const { view, locate } = whereToDraw(selection.locate);
  // A cross-origin frame: the top frame draws the panel when it can.
  if (!fromFrame && view === window && window !== window.top && selection.text && !selection.editable) {
    if (await showInTop(action, options, selection)) return;
  }
  /** @type {any} */ (view)[OPEN_PANEL]?.close();
  const panel = new Panel(t(TITLES[/** @type {keyof TITLES} */ (action)]), locate, view);
  /** @type {any} */ (view)[OPEN_PANEL] = panel;
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
 * Where the panel goes for a selection in this frame: in the top frame,
 * next to where the selection shows on screen, when every frame between
 * here and the top is of the same origin (their documents are reachable);
 * in this frame otherwise (a cross-origin frame cannot reach the top).
 * @param {() => DOMRect|null} locate the selection, in this frame's viewport
 * @returns {{view: Window, locate: () => DOMRect|null}}
 */
function whereToDraw(locate) {
  if (window === window.top) return { view: window, locate };
  try {
    /** @type {Element[]} */
    const chain = [];
    for (let w = /** @type {Window} */ (window); w !== w.top; w = w.parent) {
      if (!w.frameElement) throw new Error('cross-origin');
      chain.push(w.frameElement);
    }
    const top = /** @type {Window} */ (window.top);
    void top.document.documentElement; // throws when it is not ours to draw in
    const inTop = () => {
      const rect = locate();
      if (!rect) return null;
      let x = rect.left;
      let y = rect.top;
      // Up the frames: each frame's content box in its parent's viewport.
      for (const frame of chain) {
        const box = frame.getBoundingClientRect();
        x += box.left + frame.clientLeft;
        y += box.top + frame.clientTop;
      }
      return new DOMRect(x, y, rect.width, rect.height);
    };
    return { view: top, locate: inTop };
  } catch {
    return { view: window, locate };
  }
}

/**
 * From a cross-origin child of the top frame: asks the top frame (through
 * the service worker) to show the panel for this selection next to this
 * frame; false when it cannot (then this frame shows it).
 * @param {string} action @param {Options} options @param {{text: string, locate: () => DOMRect|null}} selection
 */
async function showInTop(action, options, selection) {
  const rect = selection.locate();
  if (!rect || window.parent !== window.top) return false;
  const token = crypto.randomUUID();
  window.parent.postMessage({ locusFrame: token }, '*');
  try {
    const { left, top, width, height } = rect;
    const answer = await chrome.runtime.sendMessage({ type: 'locus.showInTop', token, action, options, text: selection.text, rect: { left, top, width, height } });
    return answer?.ok === true;
  } catch {
    return false;
  }
}

/**
 * In the top frame: a child frame's selection, located on screen through
 * the frame element that named itself with the token (see `loader.js`).
 * @param {FrameSelection} fromFrame
 */
async function frameSelection({ token, text, rect }) {
  const sources = /** @type {Map<string, unknown>|undefined} */ (/** @type {any} */ (globalThis).locusFrameSources);
  /** @type {HTMLIFrameElement|HTMLFrameElement|undefined} */
  let frame;
  // The frame's postMessage usually arrives first; give it a moment if not.
  for (let tries = 0; tries < 20 && !frame; tries++) {
    const source = sources?.get(token);
    frame = source ? [...document.querySelectorAll('iframe, frame')].find((f) => /** @type {HTMLIFrameElement} */ (f).contentWindow === source) : undefined;
    if (!frame) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const locate = () => {
    if (!frame?.isConnected) return null;
    const box = frame.getBoundingClientRect();
    return new DOMRect(box.left + frame.clientLeft + rect.left, box.top + frame.clientTop + rect.top, rect.width, rect.height);
  };
  return { text: String(text), rect: null, locate, editable: null };
}

/** Tasks that run on a language model the user may pick in the footer. */
const PICKABLE = new Set(['summarize', 'translate']);

/**
 * The footer's model picker: the installed language models; switching runs
 * the request again on the chosen one (loaded first, with its progress).
 * @param {Panel} panel @param {string} action @param {Options} options @param {string} text
 * @param {EditableSelection|null} editable @param {string} [answered] the id of the model that answered
 */
function offerModels(panel, action, options, text, editable, answered) {
  if (!PICKABLE.has(action)) return;
  client.request('models.list', {}, (event) => {
    if (event.event !== 'done') return;
    const models = (event.result?.models ?? []).filter((/** @type {any} */ m) => m.status === 'ready' && m.kind !== 'fasttext');
    models.sort((/** @type {any} */ a, /** @type {any} */ b) => a.name.localeCompare(b.name));
    modelNames = new Map(models.map((/** @type {any} */ m) => [m.id, m.name]));
    const current = answered ?? options.model ?? event.result?.loaded ?? '';
    panel.setPicker(models, current, (id) => start(panel, action, { ...options, model: id }, text, editable));
  });
}

/** Installed models' names by id, as last listed (for naming the model that answered). */
/** @type {Map<string, string>} */
let modelNames = new Map();

/** Each panel's latest run: events of runs it replaced are dropped. */
/** @type {WeakMap<Panel, number>} */
const runs = new WeakMap();

/**
 * Sends the request and shows its events; "Retry" starts it again here.
 * @param {Panel} panel @param {string} action @param {Options} options @param {string} text
 * @param {EditableSelection|null} editable
 */
function start(panel, action, options, text, editable) {
  // A run started while another is going (the footer's model picker) replaces it.
  panel.onStop();
  const run = (runs.get(panel) ?? 0) + 1;
  runs.set(panel, run);
  panel.reset({ markdown: action === 'summarize' && options.format !== 'plain-text' });
  offerModels(panel, action, options, text, editable);
  const { kind, payload } = requestFor(action, options, text);
  /** The detected source, shown for the rest of the translation. */
  let source = '';
  /** Whether the status line shows prompt-reading progress. */
  let reading = false;
  const job = client.request(kind, payload, (event) => {
    if (runs.get(panel) !== run) return; // a run that was replaced
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
    if (event.event === 'done') {
      finished(panel, action, event.result ?? {}, editable);
      offerModels(panel, action, options, text, editable, event.result?.model);
    }
    // No installed model fits the task: offer the download, then run again.
    if (event.event === 'error' && event.offer) {
      offerModel(panel, /** @type {Offer} */ (event.offer), () => start(panel, action, options, text, editable));
      return;
    }
    const again = () => start(panel, action, options, text, editable);
    if (event.event === 'error' && event.code !== 'aborted') explainError(panel, action, event, again);
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
function progress(panel, event, source) {
  const { stage, done, total, percent } = event;
  if (stage === 'load') {
    const name = event.name ?? t('panelTheModel');
    panel.setStatus(typeof percent === 'number' ? t('panelLoadingNamed', name, percent) : t('panelLoadingNoPercent', name));
  }
  if (stage === 'prompt') panel.setStatus(t('panelReadingTokens', total));
  if (stage === 'prefill') panel.setStatus(t('panelReadingProgress', done.toLocaleString(), total.toLocaleString()));
  if (source && (stage === 'source' || stage === 'prompt')) panel.setStatus(t('panelTranslatingFrom', languageName(source)));
  if (stage === 'part') panel.setStatus(t('panelPart', done + 1, total));
  if (stage === 'combine') panel.setStatus(t('panelCombining', total));
}

/** @typedef {import('../model_fit.js').Offer} Offer */

/**
 * Says why no installed model may run the task and offers the fitting
 * download in place: its size and licence, one click, its progress here,
 * and the request again once it is ready.
 * @param {Panel} panel @param {Offer} offer @param {() => void} rerun
 */
function offerModel(panel, offer, rerun) {
  const task = t(offer.task === 'translate' ? 'taskNameTranslate' : 'taskNameSummarize');
  const model = offer.model;
  const about = model ? `${model.name} (${[sizeText(model.bytes), model.license].filter(Boolean).join(', ')})` : '';
  let message;
  if (!model) message = t('offerNoneAvailable', offer.current ?? '', task);
  else if (offer.reason === 'none') message = t('offerNoModel', task, about);
  else if (offer.reason === 'language') message = t('offerLanguage', offer.current ?? '', languageName(offer.targetLanguage ?? ''), about);
  else message = t(offer.englishOnly ? 'offerEnglishOnly' : 'offerNotForTask', offer.current ?? '', task, about);
  panel.fail(message);
  panel.setOffer(offer.model?.id ?? '');
  // The download is the button that does what the message says; with
  // nothing to offer, the Models tab is where to add a model by hand.
  if (!model) return void panel.addAction(t('actionOpenModels'), () => void chrome.runtime.sendMessage({ type: 'locus.openModels' }));
  const button = panel.addAction(t('offerDownload', model.name), () => {
    button.remove();
    installThenRun(panel, model, model.bytes, rerun);
  });
}

/** The catalog's language detector, offered when `detect` has no model. */
const LANGUAGE_DETECTOR = { id: 'lid.176', name: 'fastText lid.176' };

/**
 * Says what went wrong in words and what to do, with a button that does it:
 * open the Models tab, download the missing model, run on the CPU, or try
 * again. The runtime's own words stay in the tooltip, for a bug report.
 * @param {Panel} panel @param {string} action @param {{code: string, message: string}} error @param {() => void} again
 */
function explainError(panel, action, { code, message }, again) {
  const openModels = () => panel.addAction(t('actionOpenModels'), () => void chrome.runtime.sendMessage({ type: 'locus.openModels' }));
  if (code === 'no_model') {
    panel.fail(t(action === 'detect' ? 'errorNoLanguageModel' : 'errorNoModel'), message);
    if (action === 'detect') {
      const download = panel.addAction(t('offerDownload', LANGUAGE_DETECTOR.name), () => {
        download.remove();
        installThenRun(panel, LANGUAGE_DETECTOR, 0, again);
      });
    }
    openModels();
  } else if (code === 'bad_model') {
    panel.fail(t('errorBadModel'), message);
    openModels();
  } else if (code === 'gpu_unavailable' || code === 'self_test_failed') {
    panel.fail(t('errorGpu'), message);
    panel.addAction(t('actionUseCpu'), async () => {
      panel.working(t('panelSwitchingToCpu'));
      await chrome.runtime.sendMessage({ type: 'locus.useCpu' });
      // The offscreen document waits 2 s before it starts the new runtime.
      setTimeout(again, 2_500);
    });
  } else if (code === 'too_long') {
    panel.fail(t('errorTooLong'), message);
  } else {
    panel.fail(t(code === 'runtime_lost' ? 'errorRuntimeLost' : 'errorOther', message), message);
    panel.addAction(t('actionTryAgain'), again);
  }
}

/**
 * Downloads a catalog model from the panel, with its progress, then runs the request again.
 * @param {Panel} panel @param {{id: string, name: string}} model @param {number} bytes @param {() => void} rerun
 */
function installThenRun(panel, model, bytes, rerun) {
  panel.working(t('offerDownloading', model.name, ''));
  const download = client.request('models.install', { id: model.id }, (event) => {
    if (event.event === 'progress' && typeof event.done === 'number') {
      const total = typeof event.total === 'number' ? event.total : bytes;
      panel.showProgress(t('offerDownloading', model.name, `${sizeText(event.done)} / ${sizeText(total)}`), event.done, total);
    }
    if (event.event === 'done') rerun();
    if (event.event === 'error') {
      panel.fail(t('errorDownload', model.name), event.message);
      panel.addAction(t('actionTryAgain'), () => installThenRun(panel, model, bytes, rerun));
    }
  });
  panel.onStop = () => download.abort();
}

/** A byte count for people: `1.1 GB`, `98 MB`. @param {number} bytes */
function sizeText(bytes) {
  if (!(bytes > 0)) return '';
  const [value, unit] = bytes >= 1e9 ? [bytes / 1e9, 'GB'] : [bytes / 1e6, 'MB'];
  return `${value.toLocaleString(undefined, { maximumFractionDigits: value < 10 ? 1 : 0 })} ${unit}`;
}

/** Status lines for the reasons the runtime stopped or cut an answer. */
const STOP_MESSAGES = { repetition: 'stopRepetition', tooLong: 'stopTooLong', shortened: 'stopShortened' };

/** Says why the answer ended early, if it did. @param {Panel} panel @param {any} result */
function explainStop(panel, result) {
  const reason = result.stopReason;
  if (reason === 'wrongLanguage') {
    panel.setStatus(t('stopWrongLanguage', languageName(result.foundLanguage ?? ''), languageName(result.targetLanguage ?? '')));
  } else if (reason in STOP_MESSAGES) {
    panel.setStatus(t(STOP_MESSAGES[/** @type {keyof STOP_MESSAGES} */ (reason)]));
  }
}

/**
 * @param {Panel} panel @param {string} action @param {any} result
 * @param {EditableSelection|null} editable
 */
function finished(panel, action, result, editable) {
  if (typeof result.tokensPerSecond === 'number' && result.tokens > 0) {
    panel.setFooter(`${modelNames.get(result.model) ?? result.model} · ${String(result.backend).toUpperCase()} · ${t('panelSpeed', result.tokensPerSecond.toFixed(1))}`);
  }
  if (action === 'detect') {
    const rows = (result.languages ?? []).map((/** @type {any} */ d) => ({
      label: d.detectedLanguage === 'und' ? t('languageUnknown') : languageName(d.detectedLanguage),
      value: Number(d.confidence) || 0,
    }));
    panel.showRanking(rows);
  }
  if (action === 'summarize') explainStop(panel, result);
  if (action === 'translate') {
    if (result.alreadyInTarget) {
      panel.setStatus(t('panelAlreadyInTarget', languageName(result.targetLanguage)));
      return;
    }
    if (result.sourceLanguage) panel.setStatus(t('panelTranslatedFrom', languageName(result.sourceLanguage)));
    explainStop(panel, result);
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
          model: options.model,
          contextTokens: options.contextTokens,
          repeatLimit: options.repeatLimit,
        },
      };
    case 'translate':
      return {
        kind: 'translate',
        payload: { text, targetLanguage: options.targetLanguage ?? 'en', model: options.model, contextTokens: options.contextTokens },
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
