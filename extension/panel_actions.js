// @ts-check
/**
 * What the buttons under an error in the on-page panel ask the service
 * worker to do, since a content script can do neither itself: open the
 * Models tab (the popup's page, in a tab of its own) and switch the runtime
 * to the CPU (the preference lives in the extension's own storage).
 */

import { RESTART_RUNTIME, writeBackendPreference } from './backend_preference.js';

export const OPEN_MODELS = 'locus.openModels';
export const USE_CPU = 'locus.useCpu';

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
