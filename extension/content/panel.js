// @ts-check
/**
 * The on-page panel: a closed shadow root anchored near the selection, which
 * shows a request's events as plain text. Nothing the page or the model
 * wrote ever becomes HTML here: text goes in through Text nodes only.
 */

const PANEL_CSS = `
:host { all: initial; }
.panel {
  box-sizing: border-box; width: min(420px, calc(100vw - 16px)); max-height: min(60vh, 520px);
  display: flex; flex-direction: column; overflow: hidden;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1c1b1f;
  background: #fffbfe; border: 1px solid #cac4d0; border-radius: 12px;
  box-shadow: 0 8px 28px rgba(0,0,0,.22); text-align: left; direction: ltr;
}
.panel:focus { outline: 2px solid #0f766e; outline-offset: 2px; }
header { display: flex; align-items: center; gap: 6px; padding: 8px 8px 6px 12px; border-bottom: 1px solid #e7e0ec; }
.title { font-weight: 600; flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
button {
  all: unset; cursor: pointer; font: inherit; font-size: 13px; padding: 2px 8px; border-radius: 6px;
  color: inherit; border: 1px solid transparent;
}
button:hover { background: rgba(15,118,110,.12); }
button:focus-visible { outline: 2px solid #0f766e; }
button[hidden] { display: none; }
.status { padding: 4px 12px 0; font-size: 12px; color: #49454f; min-height: 1.5em; }
.status.error { color: #b3261e; }
.progress { height: 3px; margin: 4px 12px 0; background: #e7e0ec; border-radius: 2px; overflow: hidden; }
.progress > div { height: 100%; width: 30%; background: #0f766e; border-radius: 2px; animation: slide 1.2s ease-in-out infinite; }
.progress.determinate > div { animation: none; transition: width .2s; }
.progress[hidden] { display: none; }
@keyframes slide { from { margin-left: -30%; } to { margin-left: 100%; } }
.output { padding: 8px 12px 10px; overflow-y: auto; white-space: pre-wrap; overflow-wrap: anywhere; flex: 1; }
.output:empty { display: none; }
footer { padding: 6px 12px; font-size: 11px; color: #49454f; border-top: 1px solid #e7e0ec; }
footer:empty { display: none; }
@media (prefers-color-scheme: dark) {
  .panel { color: #e6e1e5; background: #1c1b1f; border-color: #49454f; box-shadow: 0 8px 28px rgba(0,0,0,.6); }
  header, footer { border-color: #332f37; }
  .status, footer { color: #cac4d0; }
  .status.error { color: #f2b8b5; }
  .progress { background: #332f37; }
  .progress > div { background: #5eead4; }
  button:hover { background: rgba(94,234,212,.16); }
}
@media (prefers-reduced-motion: reduce) { .progress > div { animation: none; width: 100%; opacity: .5; } }
`;

const HOST_TAG = 'locus-panel';
/** Host styles set inline with !important: page CSS cannot hide or restyle the host. */
const HOST_STYLE = {
  all: 'initial', position: 'fixed', 'z-index': '2147483647', display: 'block',
  margin: '0', padding: '0', border: '0', width: 'auto', height: 'auto', transform: 'none',
  visibility: 'visible', opacity: '1', 'pointer-events': 'auto',
};

const t = (/** @type {string} */ key, /** @type {string[]} */ ...subs) => chrome.i18n.getMessage(key, subs) || key;

/** @param {string} tag @param {Record<string,string>} [attrs] @param {string} [text] */
function el(tag, attrs = {}, text = '') {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

export class Panel {
  /** Called when the user presses Stop. */
  onStop = () => {};
  #host;
  #panel;
  #status;
  #progress;
  #bar;
  #output;
  #text;
  #footer;
  #stop;
  /** Event counts by type, kept as a data attribute for tests and debugging. */
  #counts = { progress: 0, token: 0, done: 0, error: 0 };
  #onKey = (/** @type {KeyboardEvent} */ e) => {
    if (e.key === 'Escape') this.close();
  };

  /**
   * @param {string} title
   * @param {DOMRect|null} anchor where the selection is, or null for the top right
   */
  constructor(title, anchor) {
    this.#host = document.createElement(HOST_TAG);
    for (const [name, value] of Object.entries(HOST_STYLE)) this.#host.style.setProperty(name, value, 'important');
    const root = this.#host.attachShadow({ mode: 'closed' });
    const style = document.createElement('style');
    style.textContent = PANEL_CSS;

    this.#panel = el('div', { class: 'panel', role: 'dialog', 'aria-label': title, tabindex: '-1' });
    const header = el('header');
    header.append(el('span', { class: 'title' }, title));
    this.#stop = el('button', { type: 'button', 'aria-label': t('panelStop') }, t('panelStop'));
    const copy = el('button', { type: 'button', 'aria-label': t('panelCopy') }, t('panelCopy'));
    const close = el('button', { type: 'button', 'aria-label': t('panelClose'), title: 'Esc' }, '✕');
    header.append(this.#stop, copy, close);
    this.#status = el('div', { class: 'status', role: 'status', 'aria-live': 'polite' }, t('panelStarting'));
    this.#progress = el('div', { class: 'progress', role: 'progressbar', 'aria-label': t('panelWorking') });
    this.#bar = el('div');
    this.#progress.append(this.#bar);
    this.#output = el('div', { class: 'output', 'aria-live': 'polite' });
    this.#text = document.createTextNode('');
    this.#output.append(this.#text);
    this.#footer = el('footer');
    this.#panel.append(header, this.#status, this.#progress, this.#output, this.#footer);
    root.append(style, this.#panel);

    this.#stop.addEventListener('click', () => this.onStop());
    copy.addEventListener('click', () => void navigator.clipboard.writeText(this.#text.data));
    close.addEventListener('click', () => this.close());
    document.addEventListener('keydown', this.#onKey, true);

    document.documentElement.append(this.#host);
    this.#place(anchor);
    this.#panel.focus({ preventScroll: true });
  }

  /** @param {DOMRect|null} anchor */
  #place(anchor) {
    const margin = 8;
    const width = this.#panel.offsetWidth;
    const height = this.#panel.offsetHeight || 200;
    let left = window.innerWidth - width - margin * 2;
    let top = margin * 2;
    if (anchor && anchor.width + anchor.height > 0) {
      left = Math.min(Math.max(margin, anchor.left), window.innerWidth - width - margin);
      const below = anchor.bottom + margin;
      top = below + height < window.innerHeight ? below : Math.max(margin, anchor.top - height - margin);
    }
    this.#host.style.setProperty('left', `${Math.round(left)}px`, 'important');
    this.#host.style.setProperty('top', `${Math.round(top)}px`, 'important');
  }

  /**
   * Shows one runtime event.
   * @param {import('../protocol.js').RuntimeEvent} event
   */
  show(event) {
    if (event.event in this.#counts) this.#counts[event.event] += 1;
    this.#panel.dataset.events = JSON.stringify(this.#counts);
    switch (event.event) {
      case 'progress':
        this.#status.textContent = String(event.message ?? '');
        if (event.stage === 'backend' || event.stage === 'runtime') this.#footer.textContent = String(event.message ?? '');
        if (typeof event.total === 'number' && event.total > 0) {
          this.#progress.classList.add('determinate');
          const percent = Math.round((100 * (event.done ?? 0)) / event.total);
          this.#bar.style.width = `${percent}%`;
          this.#progress.setAttribute('aria-valuenow', String(percent));
        }
        break;
      case 'token':
        this.#text.appendData(String(event.text ?? ''));
        break;
      case 'done':
        this.#finish(t('panelDone'), false);
        break;
      case 'error':
        this.#finish(event.code === 'aborted' ? t('panelStopped') : `${event.message} (${event.code})`, event.code !== 'aborted');
        break;
    }
  }

  /** Ends the panel's work with a message, without a request. @param {string} message */
  fail(message) {
    this.#finish(message, true);
  }

  /** @param {string} message @param {boolean} isError */
  #finish(message, isError) {
    this.#status.textContent = message;
    this.#status.classList.toggle('error', isError);
    if (isError) this.#status.setAttribute('role', 'alert');
    this.#progress.hidden = true;
    this.#stop.hidden = true;
    this.#panel.dataset.state = isError ? 'error' : 'done';
  }

  close() {
    document.removeEventListener('keydown', this.#onKey, true);
    this.onStop();
    this.#host.remove();
  }
}
