// @ts-check
/**
 * What the on-page panel asks the service worker to do, since a content
 * script can do none of it itself: open the Models tab (the popup's page, in
 * a tab of its own), switch the runtime to the CPU (the preference lives in
 * the extension's own storage), and pass a cross-origin frame's selection to
 * the top frame's panel.
 */

import { RESTART_RUNTIME, writeBackendPreference } from './backend_preference.js';

export const OPEN_MODELS = 'locus.openModels';
export const USE_CPU = 'locus.useCpu';
/** From a cross-origin frame's content script: show this selection's panel in the top frame. */
export const SHOW_IN_TOP = 'locus.showInTop';
const MAX_TEXT = 200_000;

/**
 * Answers the two messages from our own content scripts and pages only.
 * @param {any} message @param {chrome.runtime.MessageSender} sender @param {(answer: object) => void} respond
 * @returns {boolean|undefined} true when the answer comes later
 */
export function onPanelAction(message, sender, respond) {
  if (sender.id !== chrome.runtime.id) return;
  if (message?.type === OPEN_MODELS) {
    chrome.tabs.create({ url: chrome.runtime.getURL('popup/popup.html?view=tab#models') }).then(
      () => respond({ ok: true }),
      (error) => respond({ ok: false, error: String(error) }),
    );
    return true;
  }
  if (message?.type === SHOW_IN_TOP) {
    const tabId = sender.tab?.id;
    if (tabId === undefined || !sender.frameId) return void respond({ ok: false });
    const { token, action, options, text, rect } = message;
    const fromFrame = { token: String(token).slice(0, 64), text: String(text).slice(0, MAX_TEXT), rect };
    chrome.tabs.sendMessage(tabId, { type: 'locus.invoke', action, options, fromFrame }, { frameId: 0 }).then(
      () => respond({ ok: true }),
      () => respond({ ok: false }),
    );
    return true;
  }
  if (message?.type === USE_CPU) {
    writeBackendPreference('cpu')
      .then(() => chrome.runtime.sendMessage({ type: RESTART_RUNTIME }).catch(() => {}))
      .then(
        () => respond({ ok: true }),
        (error) => respond({ ok: false, error: String(error) }),
      );
    return true;
  }
}
