// @ts-check
/** Fills `data-i18n` (text) and `data-i18n-*` (attribute) placeholders from `_locales`. */

/** @param {ParentNode} root */
export function localize(root) {
  for (const node of root.querySelectorAll('[data-i18n]')) {
    const text = chrome.i18n.getMessage(/** @type {HTMLElement} */ (node).dataset.i18n ?? '');
    if (text) node.textContent = text;
  }
  for (const attr of ['aria-label', 'placeholder', 'title']) {
    for (const node of root.querySelectorAll(`[data-i18n-${attr}]`)) {
      const text = chrome.i18n.getMessage(node.getAttribute(`data-i18n-${attr}`) ?? '');
      if (text) node.setAttribute(attr, text);
    }
  }
}
