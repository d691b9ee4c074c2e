// @ts-check
/**
 * Markdown from the model, shown safely: markdown-it (bundled, see
 * xtask/src/build.rs) parses the text into tokens, and this module builds
 * DOM nodes from them with createElement and textContent. markdown-it's own
 * HTML renderer is never used and nothing is assigned to innerHTML, so raw
 * HTML in the model's output stays text. Links keep only http(s) targets and
 * show their host after their text (`[your bank](https://evil.example)` reads
 * "your bank (evil.example)"); images become their alt text (no request
 * leaves the page for them).
 */

import markdownit from '../vendor/markdown-it.js';

const md = markdownit({ html: false, linkify: false, typographer: false });

/** Block and inline token types → the element they open. */
const TAGS = Object.freeze({
  paragraph: 'p',
  bullet_list: 'ul',
  ordered_list: 'ol',
  list_item: 'li',
  blockquote: 'blockquote',
  strong: 'strong',
  em: 'em',
  s: 's',
  table: 'table',
  thead: 'thead',
  tbody: 'tbody',
  tr: 'tr',
  th: 'th',
  td: 'td',
});

/**
 * Renders `text` as markdown into a fragment of plain DOM nodes.
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  build(md.parse(text, {}), fragment);
  return fragment;
}

/**
 * @param {any[]} tokens markdown-it tokens (block or inline level)
 * @param {Node} root
 */
function build(tokens, root) {
  /** @type {Node[]} */
  const stack = [root];
  const top = () => stack[stack.length - 1];
  for (const token of tokens) {
    const type = String(token.type);
    if (type.endsWith('_open')) {
      stack.push(top().appendChild(openElement(token, type.slice(0, -5))));
    } else if (type.endsWith('_close')) {
      const closed = stack.length > 1 ? stack.pop() : null;
      if (type === 'link_close' && closed instanceof HTMLAnchorElement) top().appendChild(hostNote(closed));
    } else {
      appendLeaf(token, type, top());
    }
  }
}

/** @param {any} token @param {string} kind */
function openElement(token, kind) {
  // Tight lists hide their paragraphs; a span keeps the nesting balanced.
  if (kind === 'paragraph' && token.hidden) return document.createElement('span');
  if (kind === 'heading') {
    const level = Math.min(6, Math.max(1, Number(String(token.tag).slice(1)) || 3));
    return document.createElement(`h${level}`);
  }
  if (kind === 'link') return link(token.attrGet('href'));
  const tag = TAGS[/** @type {keyof TAGS} */ (kind)] ?? 'span';
  const element = document.createElement(tag);
  if (kind === 'ordered_list') {
    const start = Number(token.attrGet('start'));
    if (Number.isInteger(start) && start > 1) element.setAttribute('start', String(start));
  }
  return element;
}

/** An `<a>` for http(s) targets only; anything else is a plain span. @param {unknown} href */
function link(href) {
  let url = null;
  try {
    url = new URL(String(href ?? ''));
  } catch {
    /* relative or malformed: not a link */
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return document.createElement('span');
  const a = document.createElement('a');
  a.setAttribute('href', url.href);
  a.setAttribute('target', '_blank');
  a.setAttribute('rel', 'noopener noreferrer nofollow');
  return a;
}

/** ` (host)` after a link, so its text cannot pass for another site. @param {HTMLAnchorElement} a */
function hostNote(a) {
  const note = document.createElement('span');
  note.className = 'link-host';
  note.textContent = ` (${new URL(a.href).host})`;
  return note;
}

/** @param {any} token @param {string} type @param {Node} parent */
function appendLeaf(token, type, parent) {
  switch (type) {
    case 'inline':
      build(token.children ?? [], parent);
      return;
    case 'softbreak':
      parent.appendChild(document.createTextNode('\n'));
      return;
    case 'hardbreak':
      parent.appendChild(document.createElement('br'));
      return;
    case 'code_inline': {
      const code = document.createElement('code');
      code.textContent = token.content;
      parent.appendChild(code);
      return;
    }
    case 'fence':
    case 'code_block': {
      const pre = document.createElement('pre');
      const code = document.createElement('code');
      code.textContent = token.content;
      pre.appendChild(code);
      parent.appendChild(pre);
      return;
    }
    case 'hr':
      parent.appendChild(document.createElement('hr'));
      return;
    case 'image':
      // The alt text only: loading a remote image would leak the page visit.
      parent.appendChild(document.createTextNode(token.content || ''));
      return;
    default:
      // text, html_inline/html_block (only with html:true, kept as text anyway), entities.
      parent.appendChild(document.createTextNode(String(token.content ?? '')));
  }
}
