// @ts-check
/**
 * The one message vocabulary of every Locus context (content script, popup,
 * service worker, offscreen runtime). Mirrored by `src/protocol.rs`; a test
 * checks both sides list the same kinds, events and error codes.
 *
 * Client → runtime:  {type:'request', id, kind, payload} | {type:'abort', id}
 * Runtime → client:  {type:'event', id, event:'progress'|'token'|'done'|'error', ...}
 */

export const PROTOCOL_VERSION = 1;

/** Kinds the Rust runtime answers (mirrored in `src/protocol.rs`). */
export const RUNTIME_KINDS = Object.freeze(['report', 'summarize', 'translate', 'detect', 'chat']);

/** Kinds the runtime worker's model store answers (`extension/runtime/store.js`). */
export const STORE_KINDS = Object.freeze(['models.list', 'models.download', 'models.delete', 'models.cancel', 'models.import', 'models.install', 'models.load']);

/**
 * Kinds the runtime worker's conversation answers (`extension/runtime/conversation.js`):
 * the popup's chat lives in the worker, so it outlives the popup. `chat.watch`
 * streams `progress` events with `stage:'chat'` and a `state` snapshot, and
 * `token` events while a reply is written; it never ends by itself.
 */
export const CONVERSATION_KINDS = Object.freeze(['chat.send', 'chat.watch', 'chat.stop', 'chat.clear']);

/**
 * Kinds the runtime worker's device benchmark answers (`extension/runtime/device_bench.js`):
 * `device.bench` measures the installed models on WebGPU and on the CPU,
 * one at a time; each step is a `progress` event (the runtime's steps carry
 * `step: {phase: 'warmup'|'prompt'|'answer', done, total}`), and an `abort`
 * ends the run after the step that is running, with the code `aborted`.
 */
export const DEVICE_KINDS = Object.freeze(['device.bench']);

/**
 * @typedef {'report'|'summarize'|'translate'|'detect'|'chat'|'models.list'|'models.download'|'models.delete'
 *   |'models.cancel'|'models.import'|'models.install'|'models.load'|'chat.send'|'chat.watch'|'chat.stop'|'chat.clear'|'device.bench'} RequestKind
 */
/** @type {readonly RequestKind[]} */
export const REQUEST_KINDS = Object.freeze(
  /** @type {RequestKind[]} */ ([...RUNTIME_KINDS, ...STORE_KINDS, ...CONVERSATION_KINDS, ...DEVICE_KINDS]),
);

/** Kinds a content script (running inside a web page) may ask for. */
export const PAGE_KINDS = Object.freeze(new Set(['report', 'summarize', 'translate', 'detect', 'models.install', 'models.list']));

export const EVENT_TYPES = Object.freeze(['progress', 'token', 'done', 'error']);

export const ERROR_CODES = Object.freeze({
  BAD_MESSAGE: 'bad_message',
  UNKNOWN_KIND: 'unknown_kind',
  FOREIGN_SENDER: 'foreign_sender',
  FORBIDDEN: 'forbidden',
  ABORTED: 'aborted',
  NO_MODEL: 'no_model',
  RUNTIME_LOST: 'runtime_lost',
  GPU_UNAVAILABLE: 'gpu_unavailable',
  SELF_TEST_FAILED: 'self_test_failed',
  BAD_MODEL: 'bad_model',
  TOO_LONG: 'too_long',
  DOWNLOAD_FAILED: 'download_failed',
  QUOTA: 'quota',
  INTERNAL: 'internal',
});

/** Port names: clients talk to the service worker, which talks to the runtime. */
export const PORTS = Object.freeze({ CLIENT: 'locus.client', RUNTIME: 'locus.runtime' });

/** Message the service worker sends a tab to start an on-page action. */
export const INVOKE = 'locus.invoke';

const MAX_ID_LENGTH = 128;

/**
 * @typedef {{type:'request', id:string, kind:RequestKind, payload:object}} Request
 * @typedef {{type:'abort', id:string}} Abort
 * @typedef {Request|Abort} ClientMessage
 * @typedef {{type:'event', id:string, event:'progress', stage:string, message:string, done?:number, total?:number}} ProgressEvent
 * (A token event's `draft`: a summary's unit in progress, shown after the text until a later event commits it.)
 * @typedef {{type:'event', id:string, event:'token', text:string, draft?:string}} TokenEvent
 * @typedef {{type:'event', id:string, event:'done', result:any}} DoneEvent
 * @typedef {{type:'event', id:string, event:'error', code:string, message:string}} ErrorEvent
 * @typedef {ProgressEvent|TokenEvent|DoneEvent|ErrorEvent} RuntimeEvent
 */

/** @returns {string} */
export function newRequestId() {
  return crypto.randomUUID();
}

/**
 * @param {RequestKind} kind
 * @param {object} [payload]
 * @returns {Request}
 */
export function request(kind, payload = {}) {
  return { type: 'request', id: newRequestId(), kind, payload };
}

/** @param {string} id @returns {Abort} */
export function abort(id) {
  return { type: 'abort', id };
}

/**
 * @param {string} id
 * @param {string} code one of ERROR_CODES
 * @param {string} message
 * @returns {ErrorEvent}
 */
export function errorEvent(id, code, message) {
  return { type: 'event', id, event: 'error', code, message };
}

/** @param {any} event @returns {boolean} true for `done` and `error`, after which no event follows. */
export function isFinal(event) {
  return event?.event === 'done' || event?.event === 'error';
}

/**
 * Checks a client message's envelope. The runtime checks payloads itself.
 * @param {unknown} message
 * @returns {{ok:true, message:ClientMessage} | {ok:false, id:string, code:string, reason:string}}
 */
export function checkClientMessage(message) {
  const fail = (/** @type {string} */ code, /** @type {string} */ reason) => ({
    ok: /** @type {const} */ (false),
    id: typeof (/** @type {any} */ (message)?.id) === 'string' ? /** @type {any} */ (message).id.slice(0, MAX_ID_LENGTH) : '',
    code,
    reason,
  });
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    return fail(ERROR_CODES.BAD_MESSAGE, 'a message must be an object');
  }
  const m = /** @type {Record<string, unknown>} */ (message);
  if (typeof m.id !== 'string' || m.id.length === 0 || m.id.length > MAX_ID_LENGTH) {
    return fail(ERROR_CODES.BAD_MESSAGE, `id must be a string of 1..${MAX_ID_LENGTH} characters`);
  }
  if (m.type === 'abort') return { ok: true, message: { type: 'abort', id: m.id } };
  if (m.type !== 'request') return fail(ERROR_CODES.BAD_MESSAGE, `unknown message type ${JSON.stringify(m.type)}`);
  if (typeof m.kind !== 'string' || !REQUEST_KINDS.includes(/** @type {RequestKind} */ (m.kind))) {
    return fail(ERROR_CODES.UNKNOWN_KIND, `unknown request kind ${JSON.stringify(String(m.kind).slice(0, 64))}`);
  }
  const payload = m.payload ?? {};
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return fail(ERROR_CODES.BAD_MESSAGE, 'payload must be an object');
  }
  return { ok: true, message: { type: 'request', id: m.id, kind: /** @type {RequestKind} */ (m.kind), payload } };
}

/**
 * Which of our contexts a port's sender is, or null when it is not ours.
 * @param {chrome.runtime.MessageSender | undefined} sender
 * @param {string} extensionId
 * @returns {'extension'|'page'|null}
 */
export function senderContext(sender, extensionId) {
  if (!sender || sender.id !== extensionId) return null;
  const origin = `chrome-extension://${extensionId}/`;
  if (typeof sender.url === 'string' && sender.url.startsWith(origin) && !sender.tab) return 'extension';
  if (sender.tab && typeof sender.url === 'string' && !sender.url.startsWith('chrome-extension://')) return 'page';
  // Our own pages opened in a tab (e.g. the popup in a tab) are extension contexts too.
  if (typeof sender.url === 'string' && sender.url.startsWith(origin)) return 'extension';
  return null;
}
