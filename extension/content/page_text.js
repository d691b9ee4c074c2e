// @ts-check
/** Reading what the user pointed at: the selection, or the page's main text. */

/** Longest text sent from a page in one request, in characters. */
export const MAX_PAGE_TEXT = 200_000;

/**
 * The selected text and where it is on screen.
 * @returns {{text: string, rect: DOMRect|null}}
 */
export function readSelection() {
  const selection = window.getSelection();
  const text = selection?.toString().trim() ?? '';
  if (!selection || !text || selection.rangeCount === 0) return { text: '', rect: null };
  const rect = selection.getRangeAt(selection.rangeCount - 1).getBoundingClientRect();
  return { text: text.slice(0, MAX_PAGE_TEXT), rect };
}

/**
 * The page's main text: `<article>` or `<main>` when the page has one,
 * else the body. (Article extraction proper comes with the summariser.)
 */
export function readPageText() {
  const root = document.querySelector('article') ?? document.querySelector('main') ?? document.body;
  return (root?.innerText ?? '').replace(/\n{3,}/g, '\n\n').trim().slice(0, MAX_PAGE_TEXT);
}
