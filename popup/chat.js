// @ts-check
/**
 * The Chat tab. The conversation lives in the runtime worker: this tab
 * watches it (`chat.watch`: a state snapshot on every change, tokens as they
 * stream), so closing the popup neither loses it nor stops a reply. Model
 * output is shown as text, never as HTML.
 */

import { loadSettings } from '../extension/settings.js';
import { el, t } from './format.js';

/** Characters of page text sent as context: the chat window is 4096 tokens
 * and a reply needs room, so about 2,000 tokens of page at most. */
export const PAGE_CONTEXT_CHARS = 6000;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @typedef {import('../extension/client.js').LocusClient} LocusClient */

export class ChatTab {
  #client;
  /** The page context to send with the next message: undefined keeps the current one. */
  /** @type {object|null|undefined} */
  #pendingContext = undefined;
  /** The bubble the streaming reply is written into. */
  /** @type {HTMLElement|null} */
  #partial = null;
  /** @type {any} */
  #state = null;

  /** @param {LocusClient} client */
  constructor(client) {
    this.#client = client;
    const form = /** @type {HTMLFormElement} */ ($('chat-form'));
    const input = /** @type {HTMLTextAreaElement} */ ($('chat-input'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text || this.#state?.replying) return;
      input.value = '';
      void this.#send(text);
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    $('chat-stop').addEventListener('click', () => this.#client.request('chat.stop', {}, () => {}));
    $('chat-clear').addEventListener('click', () => this.#client.request('chat.clear', {}, () => {}));
    $('chat-page').addEventListener('click', () => void this.#togglePage());
    const side = $('chat-side');
    side.hidden = !chrome.sidePanel || new URLSearchParams(location.search).get('view') === 'side';
    side.addEventListener('click', async () => {
      const { id } = await chrome.windows.getCurrent();
      if (id !== undefined) await chrome.sidePanel.open({ windowId: id });
      window.close();
    });
  }

  /** Attaches to the worker's conversation, telling it the user's history choice. */
  async start() {
    this.#client.request('chat.watch', await privacy(), (event) => {
      if (event.event === 'progress' && /** @type {any} */ (event).state) this.#render(/** @type {any} */ (event).state);
      else if (event.event === 'progress' && event.stage === 'load' && typeof (/** @type {any} */ (event).percent) === 'number') {
        this.#note(t('panelLoadingModel', /** @type {any} */ (event).percent));
      } else if (event.event === 'progress' && event.stage === 'prefill' && event.total !== undefined) {
        this.#note(t('panelReadingProgress', (event.done ?? 0).toLocaleString(), event.total.toLocaleString()));
      } else if (event.event === 'token' && this.#partial) {
        if (!this.#partial.textContent) this.#note(''); // the prompt has been read
        this.#partial.textContent += event.text;
        $('messages').scrollTop = $('messages').scrollHeight;
      } else if (event.event === 'error' && event.code !== 'aborted') this.#note(event.message, true);
    });
  }

  /** @param {string} text */
  async #send(text) {
    const { systemPrompt } = await loadSettings();
    /** @type {Record<string, any>} */
    const payload = { text, system: systemPrompt ?? '', ...(await privacy()) };
    if (this.#pendingContext !== undefined) payload.context = this.#pendingContext;
    this.#pendingContext = undefined;
    this.#client.request('chat.send', payload, (event) => {
      if (event.event === 'error') this.#note(event.message, true);
    });
  }

  /** Tells the conversation the user's (new) history choice; it applies it at once. */
  applyPrivacy() {
    void privacy().then((payload) => {
      const job = this.#client.request('chat.watch', payload, () => {});
      setTimeout(() => job.abort(), 5000); // a watch never ends by itself
    });
  }

  /** "Use this page": reads the active tab's main text, trimmed to fit, for the next message. */
  async #togglePage() {
    const toggle = $('chat-page');
    if (toggle.getAttribute('aria-pressed') === 'true') {
      toggle.setAttribute('aria-pressed', 'false');
      this.#pendingContext = null;
      this.#note(t('chatPageOff'));
      return;
    }
    try {
      const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
      if (tab?.id === undefined) throw new Error('no tab');
      const answer = await chrome.tabs.sendMessage(tab.id, { type: 'locus.pageText' });
      if (!answer?.ok || !answer.text) throw new Error(answer?.error ?? 'no text');
      const text = String(answer.text);
      this.#pendingContext = { title: answer.title ?? '', text: text.slice(0, PAGE_CONTEXT_CHARS), trimmed: text.length > PAGE_CONTEXT_CHARS, total: text.length };
      toggle.setAttribute('aria-pressed', 'true');
      this.#note(contextNote(/** @type {any} */ (this.#pendingContext)));
    } catch {
      this.#note(t('chatPageUnavailable'), true);
    }
  }

  /** @param {string} message @param {boolean} [isError] */
  #note(message, isError = false) {
    const note = $('chat-note');
    note.hidden = !message;
    note.textContent = message;
    note.classList.toggle('error', isError);
  }

  /** Draws the conversation from the worker's snapshot. @param {any} state */
  #render(state) {
    this.#state = state;
    const list = $('messages');
    const items = state.turns.map((/** @type {any} */ turn) => this.#bubble(turn));
    this.#partial = null;
    if (state.replying) {
      const item = this.#bubble({ role: 'assistant', content: state.partial });
      item.classList.add('streaming');
      item.setAttribute('aria-busy', 'true');
      this.#partial = /** @type {HTMLElement} */ (item.querySelector('.text'));
      items.push(item);
    }
    list.replaceChildren(...items);
    list.scrollTop = list.scrollHeight;
    $('chat-empty').hidden = items.length > 0;
    $('chat-send').hidden = state.replying;
    $('chat-stop').hidden = !state.replying;
    $('chat-page').setAttribute('aria-pressed', String(this.#pendingContext ? true : this.#pendingContext === null ? false : Boolean(state.context)));
    const last = [...state.turns].reverse().find((/** @type {any} */ turn) => turn.role === 'assistant');
    const notes = [];
    if (state.context && this.#pendingContext !== null) notes.push(contextNote(state.context));
    if (last?.stats?.droppedMessages > 0) notes.push(t('chatDropped', last.stats.droppedMessages));
    if (notes.length || !$('chat-note').classList.contains('error')) this.#note(notes.join(' '));
  }

  /** One message: its text (as text), a copy button, and for replies how it went. @param {any} turn */
  #bubble(turn) {
    const item = el('li', turn.role);
    item.append(el('span', 'visually-hidden', t(turn.role === 'user' ? 'chatYou' : 'chatModel')));
    const text = el('div', 'text', turn.content);
    item.append(text);
    if (turn.stopped) item.append(el('p', 'tag', t('panelStopped')));
    if (turn.failed) {
      item.classList.add('failed');
      item.append(el('p', 'error-text', turn.failed));
    }
    if (turn.stats) {
      const s = turn.stats;
      item.append(el('p', 'stats', t('chatStats', Math.round(s.firstTokenMs), (s.tokensPerSecond ?? 0).toFixed(1), s.reusedTokens, s.contextTokens)));
    }
    if (turn.content) {
      const copy = /** @type {HTMLButtonElement} */ (el('button', 'copy quiet', t('panelCopy')));
      copy.type = 'button';
      copy.setAttribute('aria-label', t('chatCopy'));
      copy.addEventListener('click', async () => {
        await navigator.clipboard.writeText(turn.content);
        copy.textContent = t('chatCopied');
      });
      item.append(copy);
    }
    return item;
  }
}

/**
 * What the conversation needs to know to keep only what the user allows: the
 * history choice, and whether this popup is in an incognito window (then
 * nothing of the conversation is written to disk).
 */
async function privacy() {
  const [{ history }, window] = await Promise.all([loadSettings(), chrome.windows.getCurrent().catch(() => null)]);
  return { history, incognito: Boolean(window?.incognito) };
}

/** @param {{title:string, chars:number, total:number, trimmed:boolean}|{title:string, text:string, total:number, trimmed:boolean}} context */
function contextNote(context) {
  const chars = 'chars' in context ? context.chars : context.text.length;
  const title = context.title || t('chatThisPage');
  return context.trimmed ? t('chatPageTrimmed', title, chars, context.total) : t('chatPageUsed', title);
}
