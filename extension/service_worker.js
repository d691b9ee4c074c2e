// @ts-check
/**
 * Service worker: menus, shortcuts, offscreen lifecycle and routing. It keeps
 * no state that matters, since Chrome may stop it at any moment (MV3).
 */

import { INVOKE } from './protocol.js';
import { actionForMenuItem, installMenus } from './menus.js';
import { Router } from './router.js';
import { loadSettings, withDefaultModel } from './settings.js';
import { onPanelAction } from './panel_actions.js';

const router = new Router(chrome.runtime.id, { prepare: withDefaultModel });
chrome.runtime.onConnect.addListener((port) => router.accept(port));
chrome.runtime.onMessage.addListener(onPanelAction);

async function rebuildMenus() {
  const settings = await loadSettings();
  await installMenus(settings.targetLanguages);
}

chrome.runtime.onInstalled.addListener(() => void rebuildMenus());
chrome.storage.onChanged.addListener((changes, area) => {
  if (area === 'sync' && changes.settings) void rebuildMenus();
});

/**
 * Starts an on-page action in a tab: the content script reads the selection
 * (or the article), opens the panel and sends the request.
 * @param {number} tabId
 * @param {{action:string, targetLanguage?:string}} action
 * @param {number|'focused'} [frameId] the frame (a menu click's), or `focused`:
 *   every frame, and the one with the keyboard focus takes it (a shortcut)
 * @returns {Promise<boolean>} whether the page's content script took it
 */
export async function invokeInTab(tabId, action, frameId = 0) {
  const settings = await loadSettings();
  const message = {
    type: INVOKE,
    action: action.action,
    options: {
      type: settings.summaryType,
      length: settings.summaryLength,
      format: settings.summaryFormat,
      targetLanguage: action.targetLanguage ?? settings.targetLanguages[0],
      targetLanguages: settings.targetLanguages,
    },
  };
  try {
    // No frame took a shortcut (the focus is in a frame without our script): the top frame does.
    const taken = frameId === 'focused' && (await chrome.tabs.sendMessage(tabId, { ...message, focusedFrame: true }).then(Boolean, () => false));
    if (!taken) await chrome.tabs.sendMessage(tabId, message, { frameId: frameId === 'focused' ? 0 : frameId });
    return true;
  } catch {
    // No content script here: a browser page, the web store, or a tab opened
    // before Locus was installed. Say so on the icon rather than fail silently.
    await chrome.action.setBadgeText({ tabId, text: '!' });
    await chrome.action.setTitle({ tabId, title: chrome.i18n.getMessage('errorNoContentScript') });
    return false;
  }
}

/** What the context menu calls; tests call it too, since a real menu cannot be clicked. */
export function onMenuClick(/** @type {chrome.contextMenus.OnClickData} */ info, /** @type {chrome.tabs.Tab|undefined} */ tab) {
  const action = actionForMenuItem(info.menuItemId);
  if (!action || tab?.id === undefined) return Promise.resolve(false);
  return invokeInTab(tab.id, action, info.frameId ?? 0);
}

/** What a keyboard shortcut calls. */
export function onCommand(/** @type {string} */ command, /** @type {chrome.tabs.Tab|undefined} */ tab) {
  if (tab?.id === undefined || !['summarize', 'translate', 'detect'].includes(command)) return Promise.resolve(false);
  return invokeInTab(tab.id, { action: command }, 'focused');
}

/**
 * When the last incognito window closes, the incognito conversation (kept
 * only in the runtime's memory) is forgotten, as the browser forgets the
 * rest of an incognito session.
 */
export async function onWindowRemoved() {
  const windows = await chrome.windows.getAll();
  if (windows.some((window) => window.incognito)) return false;
  return router.tell('chat.clear', { incognito: true });
}

chrome.contextMenus.onClicked.addListener((info, tab) => void onMenuClick(info, tab));
chrome.windows.onRemoved.addListener(() => void onWindowRemoved());
chrome.commands.onCommand.addListener((command, tab) => void onCommand(command, tab));

// For end-to-end tests, which drive the same handlers from outside.
Object.assign(globalThis, { locus: { onMenuClick, onCommand, invokeInTab, onWindowRemoved, router } });
