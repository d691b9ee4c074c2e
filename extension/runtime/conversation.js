// @ts-check
/**
 * The popup's conversation, kept in the runtime worker so that it outlives
 * the popup: a reply goes on being written while the popup is closed, and a
 * reopened popup re-attaches with `chat.watch`. Saved to OPFS after every
 * turn as the user chose (keep / keep 7 days / don't keep: `history.js`),
 * so it can survive the offscreen document being closed. Incognito windows
 * have a conversation of their own that is never written to disk, never
 * shown in a normal window and forgotten when the last incognito window
 * closes (the service worker says so). The runtime keeps the KV cache between turns; this module
 * only holds the text.
 */

import { checkPolicy, fromDisk, toDisk } from './history.js';

/**
 * @typedef {{role:'user'|'assistant', content:string, at?:number, stopped?:boolean, failed?:string, failedCode?:string, stats?:Record<string, number|string>}} Turn
 * @typedef {{title:string, text:string, trimmed:boolean, total:number, at?:number}} PageContext
 * @typedef {{history?: unknown, incognito?: unknown}} Privacy what the popup says of the user's choice and its window
 * @typedef {{turns: Turn[], context: PageContext|null, system: string}} Saved
 * @typedef {(messages: {role:string, content:string}[], turnId: string, onEvent: (e: any) => void) => Promise<void>} RunTurn
 */

const FILE = 'conversation.json';

/**
 * One conversation: its text, the reply being written and its watchers.
 * The normal windows' conversation is saved as the history policy says;
 * the incognito windows' one lives only in memory.
 */
class Conversation {
  /** @type {Saved} */
  saved = { turns: [], context: null, system: '' };
  /** The reply being written: its runtime request id and text so far. */
  /** @type {{id: string, text: string}|null} */
  replying = null;
  /** Watchers by request id. */
  /** @type {Map<string, (event: object) => void>} */
  watchers = new Map();
  /** @type {import('./history.js').HistoryPolicy} */
  policy = 'keep';

  /** @param {boolean} onDisk whether this conversation is saved at all */
  constructor(onDisk) {
    this.onDisk = onDisk;
    // Read back, then rewritten as the saved policy allows (a week-old conversation goes).
    this.loaded = onDisk ? this.load().then(() => this.persist()) : Promise.resolve();
  }

  /** What a watcher is shown: the turns, the reply so far, the page context's size (not its text). */
  snapshot() {
    const { context } = this.saved;
    return {
      turns: this.saved.turns,
      replying: this.replying !== null,
      partial: this.replying?.text ?? '',
      context: context && { title: context.title, chars: context.text.length, total: context.total, trimmed: context.trimmed },
    };
  }

  broadcast() {
    const state = this.snapshot();
    for (const [id, post] of this.watchers) post({ type: 'event', id, event: 'progress', stage: 'chat', message: '', state });
  }

  /**
   * Applies the user's history choice at once: a file that may no longer
   * exist is deleted, old turns pruned.
   * @param {unknown} history
   */
  applyPolicy(history) {
    const chosen = checkPolicy(history);
    if (chosen === undefined || chosen === this.policy) return;
    this.policy = chosen;
    void this.persist();
  }

  /**
   * Starts a turn and returns once it is under way; the reply streams to the
   * watchers. `context` replaces the page context (null removes it).
   * @param {{text?: unknown, system?: unknown, context?: PageContext|null} & Privacy} payload
   * @param {RunTurn} runTurn
   */
  async send(payload, runTurn) {
    await this.loaded;
    const text = typeof payload.text === 'string' ? payload.text.trim() : '';
    if (!text) throw Object.assign(new Error('the message is empty'), { code: 'bad_message' });
    if (replyId()) throw Object.assign(new Error('a reply is still being written: stop it first'), { code: 'bad_message' });
    this.applyPolicy(payload.history);
    if (typeof payload.system === 'string') this.saved.system = payload.system.slice(0, 4000);
    if (payload.context !== undefined) this.saved.context = checkContext(payload.context);
    const user = /** @type {Turn} */ ({ role: 'user', content: text.slice(0, 20_000), at: Date.now() });
    this.saved.turns.push(user);
    const id = `chat-turn-${Date.now()}-${counter++}`;
    this.replying = { id, text: '' };
    this.broadcast();
    void this.persist();
    void runTurn(this.prompt(), id, (event) => this.onEvent(id, user, event)).catch((error) =>
      this.onEvent(id, user, { event: 'error', code: error?.code ?? 'internal', message: String(error?.message ?? error) }),
    );
    return { turn: id };
  }

  /** Forgets the conversation; a reply still being written is ignored from now on. */
  async clear() {
    await this.loaded;
    this.replying = null;
    this.saved = { turns: [], context: null, system: this.saved.system };
    this.broadcast();
    await this.persist();
  }

  /** The messages the model sees: system prompt (with the page), then every turn that did not fail. */
  prompt() {
    const { saved } = this;
    const system = [saved.system.trim()];
    if (saved.context) {
      system.push(`The user is reading this web page${saved.context.title ? ` ("${saved.context.title}")` : ''}. Its text:\n\n${saved.context.text}`);
    }
    const systemText = system.filter(Boolean).join('\n\n');
    const turns = saved.turns.filter((turn) => !turn.failed && (turn.role === 'user' || turn.content));
    // The turn being answered ends the list; drop a failed user turn's orphan.
    return [...(systemText ? [{ role: 'system', content: systemText }] : []), ...turns.map(({ role, content }) => ({ role, content }))];
  }

  /** @param {string} turnId @param {Turn} user @param {any} event */
  onEvent(turnId, user, event) {
    const { replying } = this;
    if (replying?.id !== turnId) return; // a turn the conversation forgot (cleared)
    if (event.event === 'token') {
      replying.text += event.text;
      for (const [id, post] of this.watchers) post({ type: 'event', id, event: 'token', text: event.text });
      return;
    }
    if (event.event === 'progress' && event.stage === 'prefill') {
      // A long prompt is read in chunks: watchers show how far.
      const { message, done, total } = event;
      for (const [id, post] of this.watchers) post({ type: 'event', id, event: 'progress', stage: 'prefill', message, done, total });
      return;
    }
    if (event.event === 'progress' && event.stage === 'load') {
      // Loading onto a slow GPU takes minutes: watchers show how far.
      const { message, percent, name } = event;
      for (const [id, post] of this.watchers) post({ type: 'event', id, event: 'progress', stage: 'load', message, percent, name });
      return;
    }
    if (event.event !== 'done' && event.event !== 'error') return;
    const text = event.event === 'done' ? event.result.text : replying.text;
    const turns = this.saved.turns;
    if (event.event === 'done') {
      const r = event.result;
      const stats = { model: r.model, firstTokenMs: r.firstTokenMs, promptTokens: r.promptTokens, reusedTokens: r.reusedTokens, contextTokens: r.contextTokens, tokens: r.tokens, tokensPerSecond: r.tokensPerSecond, droppedMessages: r.droppedMessages };
      turns.push({ role: 'assistant', content: text, stats, at: Date.now() });
    } else if (event.code === 'aborted') {
      turns.push({ role: 'assistant', content: text, stopped: true, at: Date.now() });
    } else if (text) {
      turns.push({ role: 'assistant', content: text, failed: event.message, failedCode: event.code, at: Date.now() });
    } else {
      user.failed = event.message;
      user.failedCode = event.code;
    }
    this.replying = null;
    this.broadcast();
    void this.persist();
  }

  async load() {
    try {
      const root = await navigator.storage.getDirectory();
      const file = await (await root.getFileHandle(FILE)).getFile();
      const read = fromDisk(JSON.parse(await file.text()), Date.now());
      if (read) {
        const { turns, context, system } = read.conversation;
        this.saved = { turns: /** @type {Turn[]} */ (turns), context: checkContext(context), system };
        this.policy = read.policy;
      }
    } catch {
      /* no conversation yet */
    }
  }

  /**
   * Saves the conversation as the policy allows, or deletes the file when
   * nothing may be kept; writes are queued so they land in order. The
   * incognito conversation never touches the file.
   */
  persist() {
    if (!this.onDisk) return Promise.resolve();
    const kept = toDisk(this.saved, this.policy, Date.now());
    const bytes = kept && new TextEncoder().encode(JSON.stringify(kept));
    writing = writing.then(async () => {
      const root = await navigator.storage.getDirectory();
      if (!bytes) {
        await root.removeEntry(FILE).catch(() => {}); // NotFoundError: nothing was kept
        return;
      }
      const access = await (await root.getFileHandle(FILE, { create: true })).createSyncAccessHandle();
      try {
        access.truncate(0);
        access.write(bytes, { at: 0 });
        access.flush();
      } finally {
        access.close();
      }
    }).catch((error) => console.warn('Locus could not save the conversation:', error));
    return writing;
  }
}

let counter = 0;
let writing = Promise.resolve();
/** Normal windows' conversation (saved as the user chose) and incognito windows' (memory only). */
const normal = new Conversation(true);
const incognito = new Conversation(false);

/** The conversation of the window a request comes from. @param {Privacy|undefined} privacy */
const of = (privacy) => (privacy?.incognito === true ? incognito : normal);

/**
 * Adds a watcher of its window's conversation: it gets the state now and
 * whenever it changes, and every token. The history choice applies at once.
 * @param {string} id @param {(event: object) => void} post @param {Privacy} [privacy]
 */
export async function watch(id, post, privacy = {}) {
  const conversation = of(privacy);
  await conversation.loaded;
  normal.applyPolicy(privacy?.history);
  conversation.watchers.set(id, post);
  post({ type: 'event', id, event: 'progress', stage: 'chat', message: '', state: conversation.snapshot() });
}

/** @returns {boolean} whether `id` was watching */
export function unwatch(/** @type {string} */ id) {
  return normal.watchers.delete(id) || incognito.watchers.delete(id);
}

/**
 * Starts a turn in its window's conversation (one reply at a time in all:
 * there is one model).
 * @param {{text?: unknown, system?: unknown, context?: PageContext|null} & Privacy} payload
 * @param {RunTurn} runTurn
 */
export function send(payload, runTurn) {
  return of(payload).send(payload, runTurn);
}

/** The runtime request id of the reply being written, in either conversation or in the one of `privacy`'s window. @param {Privacy} [privacy] */
export function replyId(privacy) {
  if (privacy) return of(privacy).replying?.id ?? null;
  return normal.replying?.id ?? incognito.replying?.id ?? null;
}

/**
 * Forgets a conversation: the one of `privacy`'s window, or with
 * `everything` (Settings → Clear history) both.
 * @param {Privacy & {everything?: unknown}} [privacy]
 */
export async function clear(privacy = {}) {
  if (privacy.everything === true) await Promise.all([normal.clear(), incognito.clear()]);
  else await of(privacy).clear();
}

/** @param {unknown} value @returns {PageContext|null} */
function checkContext(value) {
  if (!value || typeof value !== 'object') return null;
  const c = /** @type {any} */ (value);
  if (typeof c.text !== 'string' || !c.text.trim()) return null;
  const at = typeof c.at === 'number' ? c.at : Date.now();
  return { title: String(c.title ?? '').slice(0, 300), text: c.text.slice(0, 50_000), trimmed: Boolean(c.trimmed), total: Number(c.total) || c.text.length, at };
}
