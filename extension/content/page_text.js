// @ts-check
/** Reading what the user pointed at: the selection (in the page or in a field), or the page's article. */

/** Longest text sent from a page in one request, in characters. */
export const MAX_PAGE_TEXT = 200_000;

/**
 * Where a selection inside an editable field was, so that it can be
 * replaced later (the panel takes the focus meanwhile).
 * @typedef {{kind: 'field', element: HTMLInputElement|HTMLTextAreaElement, start: number, end: number, text: string}
 *   | {kind: 'rich', element: HTMLElement, range: Range, text: string}} EditableSelection
 */

/** Input types whose value is text that can be selected and replaced. */
const TEXT_INPUTS = new Set(['text', 'search', 'url', 'email', 'tel', '']);

/**
 * The selected text, where it is on screen (`locate` says where it is now,
 * after the page scrolled), and the editable field it is in (if it is in one).
 * @returns {{text: string, rect: DOMRect|null, locate: () => DOMRect|null, editable: EditableSelection|null}}
 */
export function readSelection() {
  const field = document.activeElement;
  if (field instanceof HTMLTextAreaElement || (field instanceof HTMLInputElement && TEXT_INPUTS.has(field.type))) {
    // Selections inside fields do not show up in window.getSelection().
    const start = field.selectionStart ?? 0;
    const end = field.selectionEnd ?? 0;
    const text = field.value.slice(start, end);
    if (text.trim()) {
      const editable = field.readOnly || field.disabled ? null : { kind: /** @type {const} */ ('field'), element: field, start, end, text };
      const locate = () => (field.isConnected ? field.getBoundingClientRect() : null);
      return { text: text.trim().slice(0, MAX_PAGE_TEXT), rect: locate(), locate, editable };
    }
  }
  const selection = window.getSelection();
  const text = selection?.toString().trim() ?? '';
  if (!selection || !text || selection.rangeCount === 0) return { text: '', rect: null, locate: () => null, editable: null };
  const range = selection.getRangeAt(selection.rangeCount - 1);
  const container = range.commonAncestorContainer;
  const host = (container instanceof Element ? container : container.parentElement)?.closest('[contenteditable]');
  const editable =
    host instanceof HTMLElement && host.isContentEditable
      ? { kind: /** @type {const} */ ('rich'), element: host, range: range.cloneRange(), text: selection.toString() }
      : null;
  // A copy: the page may change its selection while the panel is open.
  const kept = range.cloneRange();
  const locate = () => (kept.startContainer.isConnected ? kept.getBoundingClientRect() : null);
  return { text: text.slice(0, MAX_PAGE_TEXT), rect: locate(), locate, editable };
}

/**
 * Replaces a remembered editable selection with `text` the way typing
 * would (`insertText`), so the page's undo (Ctrl+Z) brings the original back.
 * @param {EditableSelection} editable
 * @param {string} text
 * @returns {boolean} false when the field has changed since (nothing is replaced then)
 */
export function replaceSelection(editable, text) {
  if (!editable.element.isConnected) return false;
  editable.element.focus({ preventScroll: true });
  if (editable.kind === 'field') {
    const { element, start, end } = editable;
    if (element.value.slice(start, end) !== editable.text) return false;
    element.setSelectionRange(start, end);
  } else {
    if (editable.range.toString() !== editable.text) return false;
    const selection = window.getSelection();
    selection?.removeAllRanges();
    selection?.addRange(editable.range);
  }
  return document.execCommand('insertText', false, text);
}

/**
 * The page's main text: the article as Mozilla's Readability finds it
 * (bundled, see xtask/src/build.rs), without navigation, ads and comments;
 * `<article>`, `<main>` or the body when Readability finds none.
 * @returns {Promise<string>}
 */
export async function readArticle() {
  try {
    const { default: Readability } = await import(chrome.runtime.getURL('extension/vendor/readability.js'));
    // Readability changes the document it reads: give it an inert copy.
    const copy = /** @type {Document} */ (document.cloneNode(true));
    const article = new Readability(copy, { serializer: (/** @type {Element} */ el) => el }).parse();
    if (article?.content) {
      const body = blockText(article.content);
      const title = String(article.title ?? '').trim();
      const text = title && !body.startsWith(title) ? `${title}\n\n${body}` : body;
      if (text.length > 0) return text.slice(0, MAX_PAGE_TEXT);
    }
  } catch (error) {
    console.warn('Locus: article extraction failed, using the page text', error);
  }
  return readPageText();
}

/** `<article>` or `<main>` when the page has one, else the body. */
export function readPageText() {
  const root = document.querySelector('article') ?? document.querySelector('main') ?? document.body;
  return (root?.innerText ?? '').replace(/\n{3,}/g, '\n\n').trim().slice(0, MAX_PAGE_TEXT);
}

const BLOCKS = new Set([
  'ADDRESS', 'ARTICLE', 'ASIDE', 'BLOCKQUOTE', 'DD', 'DIV', 'DL', 'DT', 'FIGCAPTION', 'FIGURE', 'FOOTER',
  'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'HEADER', 'HR', 'LI', 'OL', 'P', 'PRE', 'SECTION', 'TABLE', 'TR', 'UL',
]);

/**
 * The text of an element with paragraph breaks where its blocks are
 * (`textContent` runs paragraphs together; `innerText` needs layout, which a
 * detached copy does not have).
 * @param {Element} root
 */
function blockText(root) {
  /** @type {string[]} */
  const out = [];
  const walk = (/** @type {Node} */ node, /** @type {boolean} */ pre) => {
    if (node.nodeType === Node.TEXT_NODE) {
      out.push(pre ? String(node.nodeValue) : String(node.nodeValue).replace(/\s+/g, ' '));
      return;
    }
    if (!(node instanceof Element)) return;
    if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE'].includes(node.tagName)) return;
    if (node.tagName === 'BR') return void out.push('\n');
    const block = BLOCKS.has(node.tagName);
    if (block) out.push('\n\n');
    if (node.tagName === 'LI') out.push('- ');
    for (const child of node.childNodes) walk(child, pre || node.tagName === 'PRE');
    if (block) out.push('\n\n');
  };
  walk(root, false);
  return out
    .join('')
    .split('\n')
    .map((line) => line.trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
