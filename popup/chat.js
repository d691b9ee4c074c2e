// @ts-check
/**
 * The Chat tab. The conversation lives in the runtime worker: this tab
 * watches it (`chat.watch`: a state snapshot on every change, tokens as they
 * stream), so closing the popup neither loses it nor stops a reply. Model
 * output is shown as text, never as HTML.
 */

import { RESTART_RUNTIME, writeBackendPreference } from '../extension/backend_preference.js';
import { loadSettings, saveSettings } from '../extension/settings.js';
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
  /** Installed language models, id → name (for the picker and for naming answers). */
  /** @type {Map<string, string>} */
  #names = new Map();
  /** What the error buttons do outside this tab (set by the popup). */
  actions = {
    openModels: () => {},
    /** @type {() => Promise<boolean>} downloads the recommended model; true once it is ready */
    downloadRecommended: async () => false,
    /** @type {() => string} */
    recommendedName: () => '',
  };

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
    $('chat-stop').addEventListener('click', async () => this.#client.request('chat.stop', await privacy(), () => {}));
    $('chat-clear').addEventListener('click', async () => this.#client.request('chat.clear', await privacy(), () => {}));
    $('chat-page').addEventListener('click', () => void this.#togglePage());
    $('chat-model').addEventListener('change', () => void this.#pick(/** @type {HTMLSelectElement} */ ($('chat-model')).value));
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
      else if (event.event === 'progress' && event.stage === 'load') {
        this.#loading(/** @type {any} */ (event).name, /** @type {any} */ (event).percent);
      } else if (event.event === 'progress' && event.stage === 'prefill' && event.total !== undefined) {
        this.#note(t('panelReadingProgress', (event.done ?? 0).toLocaleString(), event.total.toLocaleString()));
      } else if (event.event === 'token' && this.#partial) {
        if (!this.#partial.textContent) this.#note(''); // the prompt has been read
        this.#loading(null);
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

  /**
   * The installed models, for the picker (the default chat model is its
   * choice) and for naming answers.
   * @param {{id: string, name: string, status: string, kind: string}[]} models
   * @param {string|undefined} chosen the default chat model's id
   */
  setModels(models, chosen) {
    const ready = models.filter((m) => m.status === 'ready' && m.kind !== 'fasttext').sort((a, b) => a.name.localeCompare(b.name));
    for (const m of models) this.#names.set(m.id, m.name);
    const picker = /** @type {HTMLSelectElement} */ ($('chat-model'));
    const auto = el('option', '', t('chatModelAuto'));
    /** @type {HTMLOptionElement} */ (auto).value = '';
    const options = ready.map((m) => {
      const option = /** @type {HTMLOptionElement} */ (el('option', '', m.name));
      option.value = m.id;
      return option;
    });
    picker.replaceChildren(auto, ...options);
    picker.value = chosen && ready.some((m) => m.id === chosen) ? chosen : '';
    picker.disabled = ready.length === 0;
    if (this.#state) this.#render(this.#state);
  }

  /** The picker's choice: kept as the default chat model, and loaded now with its progress. @param {string} id */
  async #pick(id) {
    const defaults = { ...((await loadSettings()).defaultModels ?? {}) };
    if (id) defaults.chat = id;
    else delete defaults.chat;
    await saveSettings({ defaultModels: defaults });
    if (!id) return;
    this.#loading(this.#names.get(id) ?? id);
    this.#client.request('models.load', { id }, (event) => {
      if (event.event === 'progress' && event.stage === 'load') this.#loading(/** @type {any} */ (event).name, /** @type {any} */ (event).percent);
      if (event.event === 'done') this.#loading(null);
      if (event.event === 'error') {
        this.#loading(null);
        this.#note(event.message, true);
      }
    });
  }

  /**
   * The loading bar: "Loading SmolLM2 135M — 40%" (a percent where the
   * runtime reports one: the GPU; indeterminate on the CPU), hidden with null.
   * @param {string|null|undefined} name @param {number} [percent]
   */
  #loading(name, percent) {
    const box = $('chat-load');
    if (name === null) {
      box.hidden = true;
      return;
    }
    const label = name ?? t('chatThisModel');
    box.hidden = false;
    box.dataset.model = label; // the last model loaded here, for tests
    const bar = /** @type {HTMLProgressElement} */ (box.querySelector('progress'));
    const text = /** @type {HTMLElement} */ (box.querySelector('.label'));
    if (typeof percent === 'number') {
      bar.max = 100;
      bar.value = percent;
      text.textContent = t('chatLoadingPercent', label, percent);
    } else {
      bar.removeAttribute('value');
      text.textContent = t('chatLoading', label);
    }
    bar.setAttribute('aria-valuetext', text.textContent ?? '');
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
    if (!state.replying) this.#loading(null);
    $('chat-send').hidden = state.replying;
    $('chat-stop').hidden = !state.replying;
    $('chat-page').setAttribute('aria-pressed', String(this.#pendingContext ? true : this.#pendingContext === null ? false : Boolean(state.context)));
    const last = [...state.turns].reverse().find((/** @type {any} */ turn) => turn.role === 'assistant');
    const notes = [];
    if (state.context && this.#pendingContext !== null) notes.push(contextNote(state.context));
    if (last?.stats?.droppedMessages > 0) notes.push(t('chatDropped', last.stats.droppedMessages));
    if (notes.length || !$('chat-note').classList.contains('error')) this.#note(notes.join(' '));
  }

  /**
   * A failed turn: what went wrong, and buttons that do what it says (open
   * Models and download the recommended model, run on the CPU, or try again).
   * @param {HTMLElement} item @param {any} turn
   */
  #explain(item, turn) {
    const code = String(turn.failedCode ?? '');
    const key = ERROR_TEXTS[/** @type {keyof ERROR_TEXTS} */ (code)];
    const line = el('p', 'error-text', key ? t(key) : t('errorOther', turn.failed));
    line.title = turn.failed;
    item.append(line);
    const fix = el('div', 'fix');
    const again = () => void this.#send(turn.content);
    const add = (/** @type {string} */ label, /** @type {() => void} */ onClick) => {
      const b = /** @type {HTMLButtonElement} */ (el('button', 'quiet', label));
      b.type = 'button';
      b.addEventListener('click', onClick);
      fix.append(b);
      return b;
    };
    if (code === 'no_model' || code === 'bad_model') {
      const name = this.actions.recommendedName();
      if (name && code === 'no_model' && turn.role === 'user') {
        const download = add(t('offerDownload', name), async () => {
          download.disabled = true;
          download.textContent = t('offerDownloading', name, '');
          if (await this.actions.downloadRecommended()) again();
          else download.disabled = false;
        });
      }
      add(t('actionOpenModels'), () => this.actions.openModels());
    } else if (code === 'gpu_unavailable' || code === 'self_test_failed') {
      add(t('actionUseCpu'), async () => {
        await writeBackendPreference('cpu');
        await chrome.runtime.sendMessage({ type: RESTART_RUNTIME }).catch(() => {});
        setTimeout(again, 2_500); // the offscreen document waits 2 s before it restarts
      });
    } else if (turn.role === 'user' && code !== 'too_long') {
      add(t('actionTryAgain'), again);
    }
    if (fix.childElementCount) item.append(fix);
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
      this.#explain(item, turn);
    }
    if (turn.stats) {
      const s = turn.stats;
      if (s.model) item.append(el('p', 'model-name', t('chatAnsweredBy', this.#names.get(s.model) ?? s.model)));
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
 * Error texts by code: what went wrong in words; the runtime's own words
 * stay in the tooltip.
 */
const ERROR_TEXTS = { no_model: 'errorNoModel', bad_model: 'errorBadModel', gpu_unavailable: 'errorGpu', self_test_failed: 'errorGpu', too_long: 'errorTooLong', runtime_lost: 'errorRuntimeLost' };

/**
 * What the conversation needs to know to keep only what the user allows: the
 * history choice, and whether this popup is in an incognito window (whose
 * conversation is its own and never written to disk).
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
