// @ts-check
/** The right-click menu: summarise, translate (one entry per target language), detect language. */

import { languageName } from './settings.js';

const TRANSLATE_PREFIX = 'translate:';

/**
 * @typedef {{action:'summarize'|'translate'|'detect', targetLanguage?:string}} Action
 */

/**
 * Rebuilds the whole menu for the given target languages.
 * @param {string[]} targetLanguages
 */
export async function installMenus(targetLanguages) {
  await chrome.contextMenus.removeAll();
  const t = chrome.i18n.getMessage;
  chrome.contextMenus.create({ id: 'summarize-selection', title: t('menuSummarizeSelection'), contexts: ['selection'] });
  chrome.contextMenus.create({ id: 'summarize-page', title: t('menuSummarizePage'), contexts: ['page'] });
  chrome.contextMenus.create({ id: 'translate', title: t('menuTranslateSelection'), contexts: ['selection'] });
  for (const code of targetLanguages) {
    chrome.contextMenus.create({
      id: TRANSLATE_PREFIX + code,
      parentId: 'translate',
      title: t('menuTranslateInto', [languageName(code)]),
      contexts: ['selection'],
    });
  }
  chrome.contextMenus.create({ id: 'detect', title: t('menuDetectLanguage'), contexts: ['selection', 'page'] });
}

/**
 * The action a menu item stands for, or null for an id we don't own.
 * @param {string|number} menuItemId
 * @returns {Action|null}
 */
export function actionForMenuItem(menuItemId) {
  const id = String(menuItemId);
  if (id === 'summarize-selection' || id === 'summarize-page') return { action: 'summarize' };
  if (id === 'detect') return { action: 'detect' };
  if (id.startsWith(TRANSLATE_PREFIX)) return { action: 'translate', targetLanguage: id.slice(TRANSLATE_PREFIX.length) };
  return null;
}
