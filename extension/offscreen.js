// @ts-check
/**
 * The offscreen document: connects to the service worker as the `runtime`
 * port and relays messages to and from the runtime worker, which hosts the
 * Rust/WASM runtime and the model store (OPFS synchronous file access only
 * exists in dedicated workers).
 *
 * It also keeps the runtime from wedging: a worker that crashes (an error it
 * did not catch, or a WASM panic, after which its memory cannot be trusted)
 * is replaced by a fresh one, and every request it was answering ends with
 * `runtime_lost`; when the service worker goes away, the requests it sent are
 * aborted, since nobody is left to receive their answers.
 */

import { RESTART_RUNTIME } from './backend_preference.js';
import { ERROR_CODES, PORTS, abort, errorEvent, isFinal } from './protocol.js';

/** A worker that dies this soon after it started is started again only after this long (a worker that cannot load would otherwise be restarted in a loop). */
const RESTART_BACKOFF_MS = 2_000;
/** While requests are in flight the worker is pinged this often; it answers between any two of its calls. */
const PING_EVERY_MS = 1_000;
/**
 * A worker that answers nothing for this long is stuck inside one call (a
 * hostile file can make library code loop: minijinja flattens a list doubled
 * 33 times into 2^33 entries) and is replaced like a crashed one. The longest
 * honest calls (a CPU prompt chunk, loading a large model into WASM) take
 * seconds to a minute or two on a slow machine (a 64-token chunk of the 135M
 * model: 14-17 s on the busy 2-core test machine); a request silent this long
 * is ended by the router's watchdog (300 s) anyway.
 */
const STUCK_AFTER_MS = 300_000;
/** The limit now: a test may shorten it for the worker it hangs on purpose. */
let stuckAfterMs = STUCK_AFTER_MS;
/** When the current worker last said anything. */
let lastHeard = Date.now();

/** @type {chrome.runtime.Port|null} */
let port = null;
let startedAt = 0;
/** Ids sent to the worker whose final event has not come back. */
const inflight = new Set();
/** Ids aborted by the client or by a lost port: their remaining events are dropped. */
const aborted = new Set();
/** Requests that came while no worker was running (a restart's back-off): sent to the next worker. */
/** @type {object[]} */
let waiting = [];
/** @type {Worker|null} */
let worker = startWorker();

function startWorker() {
  startedAt = Date.now();
  lastHeard = startedAt;
  const started = new Worker(new URL('./runtime/worker.js', import.meta.url), { type: 'module' });
  started.onmessage = ({ data }) => fromWorker(started, data);
  started.onerror = (event) => {
    event.preventDefault();
    replaceWorker(started, `the runtime failed: ${event.message || 'error'}`);
  };
  return started;
}

/** @param {Worker} from @param {any} event */
function fromWorker(from, event) {
  if (from !== worker) return; // a replaced worker's last words
  lastHeard = Date.now();
  if (event?.type === 'pong') return;
  if (event?.type === 'runtime.lost') {
    replaceWorker(from, `the runtime crashed: ${event.message ?? 'panic'}`);
    return;
  }
  if (isFinal(event)) inflight.delete(event.id);
  if (aborted.has(event?.id)) {
    if (isFinal(event)) aborted.delete(event.id);
    return;
  }
  send(event);
}

/**
 * Ends every request `lost` was answering and starts a fresh worker (it
 * loads the runtime and, on the next request, the model again).
 * @param {Worker} lost @param {string} reason
 */
function replaceWorker(lost, reason) {
  if (lost !== worker) return;
  lost.terminate();
  stuckAfterMs = STUCK_AFTER_MS;
  for (const id of inflight) {
    if (!aborted.has(id)) send(errorEvent(id, ERROR_CODES.RUNTIME_LOST, reason));
  }
  inflight.clear();
  aborted.clear();
  if (Date.now() - startedAt > RESTART_BACKOFF_MS) {
    worker = startWorker();
    return;
  }
  worker = null;
  setTimeout(() => {
    worker ??= startWorker();
    const held = waiting;
    waiting = [];
    for (const message of held) fromServiceWorker(message);
  }, RESTART_BACKOFF_MS);
}

/** Pings a busy worker; replaces it when it has not answered for `stuckAfterMs`. */
function checkWorker() {
  if (!worker || inflight.size === 0) {
    lastHeard = Date.now(); // an idle worker owes no answer
    return;
  }
  if (Date.now() - lastHeard > stuckAfterMs) {
    replaceWorker(worker, `the runtime stopped answering for ${Math.round(stuckAfterMs / 1000)} s`);
    return;
  }
  worker.postMessage({ type: 'ping' });
}
setInterval(checkWorker, PING_EVERY_MS);

/** @param {object} event */
function send(event) {
  try {
    port?.postMessage(event);
  } catch {
    /* the service worker went away; its clients get runtime_lost */
  }
}

/** @param {any} message */
function fromServiceWorker(message) {
  const id = message?.id;
  if (message?.type === 'abort' && typeof id === 'string') {
    // The router has already answered the client `aborted`.
    waiting = waiting.filter((held) => /** @type {any} */ (held).id !== id);
    if (inflight.has(id)) aborted.add(id);
  } else if (message?.type === 'request' && typeof id === 'string') {
    // A client that lost the service worker re-sends its request with the
    // same id; the first copy may still be running (it was aborted).
    if (inflight.has(id) || waiting.some((held) => /** @type {any} */ (held).id === id)) {
      send(errorEvent(id, ERROR_CODES.BAD_MESSAGE, 'this request id is already running'));
      return;
    }
    if (!worker) {
      // The worker restarts within RESTART_BACKOFF_MS: hold the request
      // until then rather than fail a user who asked a moment too soon.
      waiting.push(message);
      return;
    }
    inflight.add(id);
  }
  worker?.postMessage(message);
}

function connect() {
  if (port) return;
  const connected = chrome.runtime.connect({ name: PORTS.RUNTIME });
  port = connected;
  connected.onMessage.addListener(fromServiceWorker);
  connected.onDisconnect.addListener(() => {
    if (port !== connected) return;
    port = null; // reconnect only when the service worker asks, so an idle worker may sleep
    waiting = [];
    // Nobody is left to receive these answers: stop the work.
    for (const id of inflight) {
      if (aborted.has(id)) continue;
      aborted.add(id);
      worker?.postMessage(abort(id));
    }
  });
}

// The runtime worker's CPU threads (workers of its own) report their panics
// here: the runtime worker itself is blocked waiting for them.
new BroadcastChannel('locus.runtime').onmessage = ({ data }) => {
  if (data?.type === 'runtime.lost' && worker) replaceWorker(worker, `the runtime crashed: ${data.message ?? 'panic'}`);
};

chrome.runtime.onMessage.addListener((message, sender) => {
  if (sender.id !== chrome.runtime.id) return;
  if (message?.type === 'locus.runtime.connect') connect();
  // The backend preference changed (Settings): a fresh worker reads it.
  if (message?.type === RESTART_RUNTIME && worker) replaceWorker(worker, 'the runtime restarted on another backend');
  // For end-to-end tests, from the service worker only: crash the runtime
  // worker for real (a WASM panic), terminate it, or make it hang in one
  // call (with a limit for being stuck that lasts until it is replaced),
  // mid-request.
  if (message?.type === 'locus.runtime.crashForTest' && !sender.tab) {
    if (message.how === 'terminate' && worker) replaceWorker(worker, 'the runtime was terminated');
    else if (message.how === 'hang') {
      if (typeof message.stuckAfterMs === 'number') stuckAfterMs = message.stuckAfterMs;
      worker?.postMessage({ type: 'debug.hang' });
    } else worker?.postMessage({ type: 'debug.crash' });
  }
  // For end-to-end tests: the catalog the runtime offers downloads from.
  if (message?.type === 'locus.runtime.catalogForTest' && !sender.tab) worker?.postMessage({ type: 'debug.catalog', models: message.models });
});
connect();
