// @ts-check
/**
 * The on-page panel: a closed shadow root anchored near the selection that
 * shows a request's events. Nothing the page or the model wrote ever
 * becomes HTML here: plain text goes in through Text nodes, markdown through
 * `markdown.js`, which builds nodes itself.
 */

import { PANEL_CSS } from './panel_style.js';
import { renderMarkdown } from './markdown.js';

const HOST_TAG = 'locus-panel';
/** Host styles set inline with !important: page CSS cannot hide or restyle the host. */
const HOST_STYLE = {
  all: 'initial', position: 'fixed', 'z-index': '2147483647', display: 'block',
  margin: '0', padding: '0', border: '0', width: 'auto', height: 'auto', transform: 'none',
  visibility: 'visible', opacity: '1', 'pointer-events': 'auto',
};
/** Markdown is re-rendered at most this often while tokens stream in. */
const RENDER_EVERY_MS = 60;

const t = (/** @type {string} */ key, /** @type {string[]} */ ...subs) => chrome.i18n.getMessage(key, subs) || key;

/** @param {string} tag @param {Record<string,string>} [attrs] @param {string} [text] */
function el(tag, attrs = {}, text = '') {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

/**
 * A choice offered by "Retry": a select with its current value.
 * @typedef {{name: string, label: string, value: string, options: {value: string, label: string}[]}} RetryField
 */

export class Panel {
  /** Called when the user presses Stop (and on close). */
  onStop = () => {};
  #host;
  #panel;
  #title;
  #status;
  #progress;
  #bar;
  #output;
  #options;
  #actions;
  #footer;
  #stop;
  #retry;
  #foot;
  #root;
  #view;
  /** @type {() => DOMRect|null} */
  #locate;
  #resizes;
  #placing = false;
  /** Where the keyboard focus was before the panel took it; it goes back there on close. */
  /** @type {Element|null} */
  #returnFocus = null;
  /** The raw text streamed so far (what Copy copies). */
  #text = '';
  #markdown = false;
  /**
   * A summary's unit in progress (a bullet or sentence being written), shown
   * after the text until a token event commits it; never part of #text.
   */
  #draft = '';
  /** @type {ReturnType<typeof setTimeout>|null} */
  #renderTimer = null;
  /** Event counts by type, kept as a data attribute for tests and debugging. */
  #counts = { progress: 0, token: 0, done: 0, error: 0, drafts: 0 };
  /** @type {{stage: string, message: string, done?: number, total?: number}[]} */
  #progressLog = [];
  #onKey = (/** @type {KeyboardEvent} */ e) => {
    // Only the user's own key presses: a page can dispatch synthetic events.
    if (!e.isTrusted) return;
    if (e.key === 'Escape') this.close();
  };

  /**
   * @param {string} title
   * @param {(() => DOMRect|null)|null} locate where the selection is now, in
   *   `view`'s viewport (null, or giving null: the panel goes to the top right)
   * @param {Window} [view] the window to draw in: this frame's, or the top
   *   frame's for a selection in a same-origin iframe
   */
  constructor(title, locate, view = window) {
    this.#locate = locate ?? (() => null);
    this.#view = view;
    const doc = view.document;
    this.#returnFocus = document.activeElement;
    this.#host = doc.createElement(HOST_TAG);
    for (const [name, value] of Object.entries(HOST_STYLE)) this.#host.style.setProperty(name, value, 'important');
    const root = this.#host.attachShadow({ mode: 'closed' });
    this.#root = root;
    const style = document.createElement('style');
    style.textContent = PANEL_CSS;

    this.#panel = el('div', { class: 'panel', role: 'dialog', 'aria-label': title, tabindex: '-1' });
    const header = el('header');
    this.#title = el('span', { class: 'title' }, title);
    this.#stop = el('button', { type: 'button', class: 'stop' }, t('panelStop'));
    const copy = el('button', { type: 'button', class: 'copy' }, t('panelCopy'));
    this.#retry = el('button', { type: 'button', class: 'retry', 'aria-expanded': 'false', hidden: '' }, t('panelRetry'));
    const close = el('button', { type: 'button', class: 'close', 'aria-label': t('panelClose'), title: `${t('panelClose')} (Esc)` }, '✕');
    header.append(this.#title, this.#stop, this.#retry, copy, close);
    this.#options = el('form', { class: 'options', hidden: '' });
    this.#status = el('div', { class: 'status', role: 'status', 'aria-live': 'polite' }, t('panelStarting'));
    this.#progress = el('div', { class: 'progress', role: 'progressbar', 'aria-label': t('panelWorking') });
    this.#bar = el('div');
    this.#progress.append(this.#bar);
    this.#output = el('div', { class: 'output', 'aria-live': 'polite', tabindex: '0' });
    this.#actions = el('div', { class: 'actions' });
    this.#footer = el('footer');
    // The footer row: model, backend and speed, and the model picker.
    this.#foot = el('div', { class: 'foot' });
    this.#foot.append(this.#footer);
    this.#panel.append(header, this.#options, this.#status, this.#progress, this.#output, this.#actions, this.#foot);
    root.append(style, this.#panel);

    this.#stop.addEventListener('click', () => this.onStop());
    copy.addEventListener('click', () => void navigator.clipboard.writeText(this.#text).then(() => this.#flash(copy, t('panelCopied'))));
    close.addEventListener('click', () => this.close());
    this.#retry.addEventListener('click', () => this.#toggleOptions());
    this.#panel.addEventListener('keydown', this.#onTab);
    for (const d of new Set([document, doc])) d.addEventListener('keydown', this.#onKey, true);
    // Follow the selection as the page scrolls or the window changes size,
    // and stay inside the viewport as the answer grows.
    for (const w of new Set([window, view])) {
      w.addEventListener('scroll', this.#schedulePlace, { capture: true, passive: true });
      w.addEventListener('resize', this.#schedulePlace, { passive: true });
    }
    this.#resizes = new ResizeObserver(this.#schedulePlace);
    this.#resizes.observe(this.#panel);

    doc.documentElement.append(this.#host);
    this.#place();
    this.#panel.focus({ preventScroll: true });
  }

  #schedulePlace = () => {
    if (this.#placing) return;
    this.#placing = true;
    this.#view.requestAnimationFrame(() => {
      this.#placing = false;
      if (this.#host.isConnected) this.#place();
    });
  };

  /**
   * Puts the panel next to the selection, below it when it fits, above it
   * when that fits, else on the side with more room; its height is capped
   * by that room (it scrolls inside), and it never leaves the viewport.
   */
  #place() {
    const margin = 8;
    const { innerWidth: vw, innerHeight: vh } = this.#view;
    const anchor = this.#locate();
    const width = this.#panel.offsetWidth;
    const natural = this.#panel.scrollHeight;
    let left = vw - width - margin * 2;
    let top = margin * 2;
    let room = vh - top - margin;
    const visible = anchor && anchor.width + anchor.height > 0 && anchor.bottom > 0 && anchor.top < vh;
    if (anchor && visible) {
      left = anchor.left;
      const below = vh - anchor.bottom - 2 * margin;
      const above = anchor.top - 2 * margin;
      if (natural <= below || below >= above) {
        top = anchor.bottom + margin;
        room = below;
      } else {
        room = above;
        top = anchor.top - margin - Math.min(natural, above);
      }
    }
    // Too little room next to the selection: cover it rather than shrink to nothing.
    const minimum = Math.min(240, vh - 2 * margin);
    if (room < minimum) {
      room = minimum;
      top = Math.min(top, vh - margin - minimum);
    }
    this.#panel.style.setProperty('--room', `${Math.floor(room)}px`);
    const height = Math.min(this.#panel.offsetHeight, room);
    left = Math.min(Math.max(margin, left), vw - width - margin);
    top = Math.min(Math.max(margin, top), vh - height - margin);
    this.#host.style.setProperty('left', `${Math.round(Math.max(0, left))}px`, 'important');
    this.#host.style.setProperty('top', `${Math.round(Math.max(0, top))}px`, 'important');
  }

  /**
   * Tab and Shift+Tab go round the panel's controls, so the keyboard never
   * falls out of the panel onto the page behind it (Escape leaves it).
   * @param {KeyboardEvent} e
   */
  #onTab = (e) => {
    if (e.key !== 'Tab' || !e.isTrusted) return;
    const stops = this.#tabStops();
    if (!stops.length) return;
    const at = stops.indexOf(/** @type {HTMLElement} */ (this.#root.activeElement));
    const next = e.shiftKey ? (at <= 0 ? stops.length - 1 : at - 1) : at === stops.length - 1 ? 0 : -1;
    if (next < 0 && at >= 0) return; // the browser moves to the next control itself
    e.preventDefault();
    stops[next < 0 ? 0 : next].focus();
  };

  /** The controls Tab visits, in order. */
  #tabStops() {
    const candidates = this.#panel.querySelectorAll('button, select, input, a[href], [tabindex="0"]');
    return [...candidates].filter((node) => {
      const element = /** @type {HTMLElement} */ (node);
      return !element.closest('[hidden]') && !(/** @type {any} */ (element).disabled) && element.getClientRects().length > 0;
    }).map((node) => /** @type {HTMLElement} */ (node));
  }

  /**
   * Starts over for a new request in the same panel (a retry).
   * @param {{title?: string, markdown?: boolean}} [options]
   */
  reset({ title, markdown = false } = {}) {
    if (title) this.#title.textContent = title;
    this.#markdown = markdown;
    this.#text = '';
    this.#draft = '';
    this.#output.replaceChildren();
    this.#actions.replaceChildren();
    this.#footer.textContent = '';
    this.#counts = { progress: 0, token: 0, done: 0, error: 0, drafts: 0 };
    this.#progressLog = [];
    for (const key of ['events', 'progress', 'result', 'state', 'offer']) delete this.#panel.dataset[key];
    this.#status.textContent = t('panelStarting');
    this.#status.title = '';
    this.#status.classList.remove('error');
    this.#status.setAttribute('role', 'status');
    this.#progress.hidden = false;
    this.#progress.classList.remove('determinate');
    this.#bar.style.width = '';
    this.#stop.hidden = false;
    this.#retry.hidden = true;
    this.#options.hidden = true;
  }

  /**
   * Shows one runtime event: progress in the status line and bar, tokens in
   * the output, and the end of the request.
   * @param {import('../protocol.js').RuntimeEvent} event
   */
  show(event) {
    if (event.event in this.#counts) this.#counts[event.event] += 1;
    this.#panel.dataset.events = JSON.stringify(this.#counts);
    switch (event.event) {
      case 'progress': {
        const { stage, message, done, total } = event;
        this.#progressLog.push({ stage, message, done, total });
        this.#panel.dataset.progress = JSON.stringify(this.#progressLog);
        this.setStatus(String(message ?? ''));
        if (stage === 'backend' || stage === 'runtime') this.#footer.textContent = String(message ?? '');
        if (typeof total === 'number' && total > 0 && typeof done === 'number') {
          this.#progress.classList.add('determinate');
          const percent = Math.round((100 * done) / total);
          this.#bar.style.width = `${percent}%`;
          this.#progress.setAttribute('aria-valuenow', String(percent));
        }
        break;
      }
      case 'token':
        this.append(String(event.text ?? ''));
        if (typeof event.draft === 'string') {
          this.#counts.drafts += 1;
          this.#setDraft(event.draft);
        }
        break;
      case 'done':
        this.#panel.dataset.result = JSON.stringify(event.result ?? null);
        this.#finish(t('panelDone'), false);
        break;
      case 'error':
        this.#finish(event.code === 'aborted' ? t('panelStopped') : `${event.message} (${event.code})`, event.code !== 'aborted');
        break;
    }
  }

  /** Adds streamed text to the output. @param {string} text */
  append(text) {
    this.#text += text;
    if (!this.#markdown) {
      this.#output.querySelector('.draft')?.remove();
      const last = this.#output.lastChild;
      if (last instanceof Text) last.appendData(text);
      else this.#output.append(document.createTextNode(text));
      this.#placeDraft();
      return;
    }
    this.#renderTimer ??= setTimeout(() => this.#render(), RENDER_EVERY_MS);
  }

  /** Replaces the unit in progress. @param {string} draft */
  #setDraft(draft) {
    this.#draft = draft;
    if (this.#markdown) this.#renderTimer ??= setTimeout(() => this.#render(), RENDER_EVERY_MS);
    else this.#placeDraft();
  }

  /**
   * Puts the unit in progress after the output, dimmed and hidden from
   * screen readers (the live region announces committed text only): a
   * bullet as the next item of the last list, prose inline.
   */
  #placeDraft() {
    this.#output.querySelector('.draft')?.remove();
    if (!this.#draft) return;
    const attrs = { class: 'draft', 'aria-hidden': 'true' };
    const bullet = this.#markdown ? /^\n?- ([^]*)$/.exec(this.#draft) : null;
    if (bullet) {
      const last = this.#output.lastElementChild;
      const list = last?.tagName === 'UL' ? last : this.#output.appendChild(el('ul', { class: 'draft' }));
      list.append(el('li', attrs, bullet[1]));
      return;
    }
    const last = this.#output.lastElementChild;
    const inline = this.#markdown && last?.tagName === 'P' && !this.#draft.startsWith('\n');
    (inline ? last : this.#output).append(el('span', attrs, this.#markdown ? this.#draft.trimStart() : this.#draft));
  }

  #render() {
    if (this.#renderTimer !== null) clearTimeout(this.#renderTimer);
    this.#renderTimer = null;
    if (!this.#markdown) return;
    this.#output.replaceChildren(renderMarkdown(this.#text));
    this.#placeDraft();
  }

  /** The status line. @param {string} message */
  setStatus(message) {
    this.#status.textContent = message;
  }

  /**
   * The model picker in the footer: the installed language models, the one
   * that answers chosen; `onPick` gets the id the user switches to.
   * @param {{id: string, name: string}[]} models @param {string} current @param {(id: string) => void} onPick
   */
  setPicker(models, current, onPick) {
    this.#foot.querySelector('.picker')?.remove();
    if (models.length === 0) return;
    const label = el('label', { class: 'picker' });
    label.append(el('span', {}, t('panelModel')));
    const select = /** @type {HTMLSelectElement} */ (el('select', { name: 'model' }));
    for (const model of models) {
      const option = /** @type {HTMLOptionElement} */ (el('option', { value: model.id }, model.name));
      option.selected = model.id === current;
      select.append(option);
    }
    select.addEventListener('change', () => onPick(select.value));
    label.append(select);
    this.#foot.append(label);
  }

  /** The footer line (model, backend, speed). @param {string} text */
  setFooter(text) {
    this.#footer.textContent = text;
  }

  /**
   * Shows a ranked list, e.g. detected languages with their confidence.
   * @param {{label: string, value: number}[]} rows value in 0..1
   */
  showRanking(rows) {
    const list = el('ol', { class: 'ranking' });
    for (const { label, value } of rows) {
      const item = el('li');
      const percent = `${Math.round(value * 100)}%`;
      const meter = el('span', { class: 'meter', 'aria-hidden': 'true' });
      const fill = el('span');
      fill.style.width = percent; // CSSOM, not a style attribute: pages' CSP may forbid those
      meter.append(fill);
      item.append(el('span', { class: 'name' }, label), meter, el('span', { class: 'value' }, percent));
      list.append(item);
    }
    this.#output.replaceChildren(list);
    this.#text = rows.map(({ label, value }) => `${label}\t${Math.round(value * 100)}%`).join('\n');
  }

  /**
   * A button under the output, e.g. "Replace selection".
   * @param {string} label @param {() => void} onClick
   */
  addAction(label, onClick) {
    const button = el('button', { type: 'button', class: 'action' }, label);
    // Only the user's own clicks: an action may change a setting (Run on the
    // CPU) or start a download, and a page can dispatch synthetic events.
    button.addEventListener('click', (e) => {
      if (e.isTrusted) onClick();
    });
    this.#actions.append(button);
    return button;
  }

  /**
   * Offers "Retry" with the given choices; `onRetry` gets the chosen values.
   * @param {RetryField[]} fields
   * @param {(values: Record<string, string>) => void} onRetry
   */
  offerRetry(fields, onRetry) {
    this.#options.replaceChildren();
    for (const field of fields) {
      const label = el('label', {}, field.label);
      const select = /** @type {HTMLSelectElement} */ (el('select', { name: field.name }));
      for (const option of field.options) {
        const node = /** @type {HTMLOptionElement} */ (el('option', { value: option.value }, option.label));
        node.selected = option.value === field.value;
        select.append(node);
      }
      label.append(select);
      this.#options.append(label);
    }
    const go = el('button', { type: 'submit', class: 'go' }, t('panelRetryGo'));
    this.#options.append(go);
    this.#options.onsubmit = (event) => {
      event.preventDefault();
      const values = Object.fromEntries([...new FormData(/** @type {HTMLFormElement} */ (this.#options))].map(([k, v]) => [k, String(v)]));
      onRetry(values);
    };
    this.#retry.hidden = false;
  }

  #toggleOptions() {
    this.#options.hidden = !this.#options.hidden;
    this.#retry.setAttribute('aria-expanded', String(!this.#options.hidden));
    if (!this.#options.hidden) this.#options.querySelector('select')?.focus();
  }

  /**
   * Marks the model the panel offers for download (for tests and debugging).
   * @param {string} id
   */
  setOffer(id) {
    this.#panel.dataset.offer = id;
  }

  /** Shows the panel at work again (e.g. a download it started). @param {string} message */
  working(message) {
    this.#status.textContent = message;
    this.#status.classList.remove('error');
    this.#status.setAttribute('role', 'status');
    this.#progress.hidden = false;
    this.#progress.classList.remove('determinate');
    this.#stop.hidden = false;
    this.#panel.dataset.state = 'running';
  }

  /**
   * A status line with a determinate bar.
   * @param {string} message @param {number} done @param {number} total
   */
  showProgress(message, done, total) {
    this.#status.textContent = message;
    if (total > 0) {
      const percent = Math.round((100 * done) / total);
      this.#progress.classList.add('determinate');
      this.#bar.style.width = `${percent}%`;
      this.#progress.setAttribute('aria-valuenow', String(percent));
    }
  }

  /**
   * Ends the panel's work with an error message; `detail` (the runtime's own
   * words) goes in the tooltip.
   * @param {string} message @param {string} [detail]
   */
  fail(message, detail = '') {
    this.#finish(message, true);
    this.#status.title = detail;
  }

  /** @param {string} message @param {boolean} isError */
  #finish(message, isError) {
    this.#draft = '';
    this.#output.querySelector('.draft')?.remove();
    this.#render();
    this.#status.textContent = message;
    this.#status.classList.toggle('error', isError);
    if (isError) this.#status.setAttribute('role', 'alert');
    this.#progress.hidden = true;
    this.#stop.hidden = true;
    this.#panel.dataset.state = isError ? 'error' : 'done';
  }

  /** @param {HTMLElement} button @param {string} text */
  #flash(button, text) {
    const before = button.textContent;
    button.textContent = text;
    setTimeout(() => (button.textContent = before), 1200);
  }

  close() {
    for (const d of new Set([document, this.#view.document])) d.removeEventListener('keydown', this.#onKey, true);
    for (const w of new Set([window, this.#view])) {
      w.removeEventListener('scroll', this.#schedulePlace, { capture: true });
      w.removeEventListener('resize', this.#schedulePlace);
    }
    this.#resizes.disconnect();
    if (this.#renderTimer !== null) clearTimeout(this.#renderTimer);
    this.onStop();
    this.#host.remove();
    if (this.#returnFocus instanceof HTMLElement && this.#returnFocus.isConnected) this.#returnFocus.focus({ preventScroll: true });
  }
}
