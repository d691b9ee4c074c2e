// @ts-check
/**
 * The popup's conversation, kept in the runtime worker so that it outlives
 * the popup: a reply goes on being written while the popup is closed, and a
 * reopened popup re-attaches with `chat.watch`. Saved to OPFS after every
 * turn as the user chose (keep / keep 7 days / don't keep: `history.js`;
 * never from an incognito window), so it can survive the offscreen document
 * being closed. The runtime keeps the KV cache between turns; this module
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

/** @type {Saved} */
let saved = { turns: [], context: null, system: '' };
/** The reply being written: its runtime request id and text so far. */
/** @type {{id: string, text: string}|null} */
let replying = null;
/** Watchers by request id. */
/** @type {Map<string, (event: object) => void>} */
const watchers = new Map();
let counter = 0;
/** @type {import('./history.js').HistoryPolicy} */
let policy = 'keep';
/** A turn came from an incognito window: nothing is written until the conversation is cleared. */
let offTheRecord = false;

// Read back, then rewritten as the saved policy allows (a week-old conversation goes).
const loaded = load().then(() => persist());

/** What a watcher is shown: the turns, the reply so far, the page context's size (not its text). */
function snapshot() {
  const { context } = saved;
  return {
    turns: saved.turns,
    replying: replying !== null,
    partial: replying?.text ?? '',
    context: context && { title: context.title, chars: context.text.length, total: context.total, trimmed: context.trimmed },
  };
}

function broadcast() {
  const state = snapshot();
  for (const [id, post] of watchers) post({ type: 'event', id, event: 'progress', stage: 'chat', message: '', state });
}

/**
 * Applies the user's history choice (and whether the popup is in an incognito
 * window) at once: a file that may no longer exist is deleted, old turns pruned.
 * @param {Privacy} privacy
 */
function applyPrivacy({ history, incognito }) {
  const chosen = checkPolicy(history);
  const changed = (chosen !== undefined && chosen !== policy) || (incognito === true && !offTheRecord);
  if (chosen) policy = chosen;
  if (incognito === true) offTheRecord = true;
  if (changed) void persist();
}

/** Adds a watcher: it gets the state now and whenever it changes, and every token. */
export async function watch(/** @type {string} */ id, /** @type {(event: object) => void} */ post, /** @type {Privacy} */ privacy = {}) {
  await loaded;
  applyPrivacy(privacy ?? {});
  watchers.set(id, post);
  post({ type: 'event', id, event: 'progress', stage: 'chat', message: '', state: snapshot() });
}

/** @returns {boolean} whether `id` was watching */
export function unwatch(/** @type {string} */ id) {
  return watchers.delete(id);
}

/**
 * Starts a turn and returns once it is under way; the reply streams to the
 * watchers. `context` replaces the page context (null removes it).
 * @param {{text?: unknown, system?: unknown, context?: PageContext|null} & Privacy} payload
 * @param {RunTurn} runTurn
 */
export async function send(payload, runTurn) {
  await loaded;
  const text = typeof payload.text === 'string' ? payload.text.trim() : '';
  if (!text) throw Object.assign(new Error('the message is empty'), { code: 'bad_message' });
  if (replying) throw Object.assign(new Error('a reply is still being written: stop it first'), { code: 'bad_message' });
  applyPrivacy(payload);
  if (typeof payload.system === 'string') saved.system = payload.system.slice(0, 4000);
  if (payload.context !== undefined) saved.context = checkContext(payload.context);
  const user = /** @type {Turn} */ ({ role: 'user', content: text.slice(0, 20_000), at: Date.now() });
  saved.turns.push(user);
  const id = `chat-turn-${Date.now()}-${counter++}`;
  replying = { id, text: '' };
  broadcast();
  void persist();
  void runTurn(prompt(), id, (event) => onEvent(id, user, event)).catch((error) =>
    onEvent(id, user, { event: 'error', code: error?.code ?? 'internal', message: String(error?.message ?? error) }),
  );
  return { turn: id };
}

/** The runtime request id of the reply being written, if any. */
export function replyId() {
  return replying?.id ?? null;
}

/** Forgets the conversation; a reply still being written is ignored from now on. */
export async function clear() {
  await loaded;
  replying = null;
  offTheRecord = false;
  saved = { turns: [], context: null, system: saved.system };
  broadcast();
  await persist();
}

/** The messages the model sees: system prompt (with the page), then every turn that did not fail. */
function prompt() {
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
function onEvent(turnId, user, event) {
  if (replying?.id !== turnId) return; // a turn the conversation forgot (cleared)
  if (event.event === 'token') {
    replying.text += event.text;
    for (const [id, post] of watchers) post({ type: 'event', id, event: 'token', text: event.text });
    return;
  }
  if (event.event === 'progress' && event.stage === 'prefill') {
    // A long prompt is read in chunks: watchers show how far.
    const { message, done, total } = event;
    for (const [id, post] of watchers) post({ type: 'event', id, event: 'progress', stage: 'prefill', message, done, total });
    return;
  }
  if (event.event === 'progress' && event.stage === 'load') {
    // Loading onto a slow GPU takes minutes: watchers show how far.
    const { message, percent, name } = event;
    for (const [id, post] of watchers) post({ type: 'event', id, event: 'progress', stage: 'load', message, percent, name });
    return;
  }
  if (event.event !== 'done' && event.event !== 'error') return;
  const text = event.event === 'done' ? event.result.text : replying.text;
  if (event.event === 'done') {
    const r = event.result;
    const stats = { model: r.model, firstTokenMs: r.firstTokenMs, promptTokens: r.promptTokens, reusedTokens: r.reusedTokens, contextTokens: r.contextTokens, tokens: r.tokens, tokensPerSecond: r.tokensPerSecond, droppedMessages: r.droppedMessages };
    saved.turns.push({ role: 'assistant', content: text, stats, at: Date.now() });
  } else if (event.code === 'aborted') {
    saved.turns.push({ role: 'assistant', content: text, stopped: true, at: Date.now() });
  } else if (text) {
    saved.turns.push({ role: 'assistant', content: text, failed: event.message, failedCode: event.code, at: Date.now() });
  } else {
    user.failed = event.message;
    user.failedCode = event.code;
  }
  replying = null;
  broadcast();
  void persist();
}

/** @param {unknown} value @returns {PageContext|null} */
function checkContext(value) {
  if (!value || typeof value !== 'object') return null;
  const c = /** @type {any} */ (value);
  if (typeof c.text !== 'string' || !c.text.trim()) return null;
  const at = typeof c.at === 'number' ? c.at : Date.now();
  return { title: String(c.title ?? '').slice(0, 300), text: c.text.slice(0, 50_000), trimmed: Boolean(c.trimmed), total: Number(c.total) || c.text.length, at };
}

async function load() {
  try {
    const root = await navigator.storage.getDirectory();
    const file = await (await root.getFileHandle(FILE)).getFile();
    const read = fromDisk(JSON.parse(await file.text()), Date.now());
    if (read) {
      const { turns, context, system } = read.conversation;
      saved = { turns: /** @type {Turn[]} */ (turns), context: checkContext(context), system };
      policy = read.policy;
    }
  } catch {
    /* no conversation yet */
  }
}

/**
 * Saves the conversation as the policy allows, or deletes the file when
 * nothing may be kept; writes are queued so they land in order.
 */
let writing = Promise.resolve();
function persist() {
  const kept = toDisk(saved, { policy, offTheRecord }, Date.now());
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
