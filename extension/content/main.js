// @ts-check
/** Runs one on-page action: read the text, open the panel, stream the request into it. */

import { LocusClient } from '../client.js';
import { Panel } from './panel.js';
import { readPageText, readSelection } from './page_text.js';

const client = new LocusClient();
/** @type {Panel|null} */
let openPanel = null;

const t = (/** @type {string} */ key) => chrome.i18n.getMessage(key) || key;

const TITLES = { summarize: 'panelTitleSummary', translate: 'panelTitleTranslation', detect: 'panelTitleDetect', report: 'panelTitleReport' };

/**
 * @param {{action: string, options: {type?: string, length?: string, format?: string, targetLanguage?: string}}} message
 */
export function invoke({ action, options }) {
  if (!(action in TITLES)) return;
  const selection = readSelection();
  const wholePage = !selection.text && (action === 'summarize' || action === 'detect');
  const text = wholePage ? readPageText() : selection.text;

  openPanel?.close();
  const panel = new Panel(t(TITLES[/** @type {keyof TITLES} */ (action)]), selection.rect);
  openPanel = panel;
  if (!text && action !== 'report') {
    panel.fail(t('errorNoText'));
    return;
  }
  const { kind, payload } = requestFor(action, options, text);
  const job = client.request(kind, payload, (event) => panel.show(event));
  panel.onStop = () => job.abort();
}

/**
 * @param {string} action
 * @param {{type?: string, length?: string, format?: string, targetLanguage?: string}} options
 * @param {string} text
 * @returns {{kind: import('../protocol.js').RequestKind, payload: object}}
 */
function requestFor(action, options, text) {
  switch (action) {
    case 'summarize':
      return { kind: 'summarize', payload: { text, type: options.type, length: options.length, format: options.format } };
    case 'translate':
      return { kind: 'translate', payload: { text, targetLanguage: options.targetLanguage } };
    case 'detect':
      return { kind: 'detect', payload: { text } };
    default:
      return { kind: 'report', payload: {} };
  }
}
