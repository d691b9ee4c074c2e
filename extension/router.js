// @ts-check
/**
 * Routes requests from clients (content scripts, popup) to the offscreen
 * runtime and its events back. Holds nothing that matters across a service
 * worker restart: a lost runtime or client ends its requests with an error.
 */

import {
  ERROR_CODES,
  PAGE_KINDS,
  PORTS,
  abort,
  checkClientMessage,
  errorEvent,
  isFinal,
  senderContext,
} from './protocol.js';
import { ensureOffscreenDocument, hasOffscreenDocument, offscreenUrl } from './offscreen_host.js';

/** How long to wait for a freshly started runtime to connect. */
const RUNTIME_CONNECT_TIMEOUT_MS = 20_000;
/**
 * Longest silence from the runtime before a request is ended: the runtime
 * sends progress at least every prompt chunk, download chunk or token, so a
 * request silent this long is stuck (e.g. a runtime that hung mid-call).
 * Some steps are one silent call: starting the runtime (the GPU self-test)
 * and loading a model onto the GPU took over 120 s together on SwiftShader
 * on the busy 2-core test machine, hence five minutes.
 */
const WATCHDOG_MS = 300_000;
/** Kinds that may stay silent for good: `chat.watch` speaks only on changes. */
const SILENT_KINDS = new Set(['chat.watch']);

export class Router {
  /** @type {chrome.runtime.Port|null} */
  #runtime = null;
  /** @type {((port: chrome.runtime.Port) => void)[]} */
  #runtimeWaiters = [];
  /** Request id → the client port that asked. */
  /** @type {Map<string, chrome.runtime.Port>} */
  #inflight = new Map();
  /** Request id → the watchdog timer that ends it if the runtime goes silent. */
  /** @type {Map<string, ReturnType<typeof setTimeout>>} */
  #watchdogs = new Map();
  #watchdogMs;
  #extensionId;
  /** Fills in what a request leaves to the settings (e.g. the default model). */
  /** @type {(request: import('./protocol.js').Request) => Promise<import('./protocol.js').Request>} */
  #prepare;

  /**
   * @param {string} extensionId
   * @param {{prepare?: (request: import('./protocol.js').Request) => Promise<import('./protocol.js').Request>, watchdogMs?: number}} [options]
   */
  constructor(extensionId, { prepare = async (request) => request, watchdogMs = WATCHDOG_MS } = {}) {
    this.#extensionId = extensionId;
    this.#prepare = prepare;
    this.#watchdogMs = watchdogMs;
  }

  /** Sets the longest silence a request may have (tests shorten it). @param {number} ms */
  setWatchdog(ms) {
    this.#watchdogMs = ms;
  }

  /** Entry point for every `chrome.runtime.onConnect`. @param {chrome.runtime.Port} port */
  accept(port) {
    if (port.name === PORTS.RUNTIME) return this.#acceptRuntime(port);
    if (port.name === PORTS.CLIENT) return this.#acceptClient(port);
    port.disconnect();
  }

  /** @param {chrome.runtime.Port} port */
  #acceptRuntime(port) {
    if (port.sender?.id !== this.#extensionId || port.sender?.url !== offscreenUrl()) {
      port.disconnect();
      return;
    }
    this.#runtime?.disconnect();
    this.#runtime = port;
    port.onMessage.addListener((event) => this.#fromRuntime(event));
    port.onDisconnect.addListener(() => this.#runtimeLost(port));
    for (const resolve of this.#runtimeWaiters.splice(0)) resolve(port);
  }

  /** @param {chrome.runtime.Port} port */
  #acceptClient(port) {
    const context = senderContext(port.sender, this.#extensionId);
    if (context === null) {
      port.postMessage(errorEvent('', ERROR_CODES.FOREIGN_SENDER, 'messages are accepted only from Locus itself'));
      port.disconnect();
      return;
    }
    port.onMessage.addListener((message) => this.handleClientMessage(message, port, context));
    port.onDisconnect.addListener(() => this.#clientGone(port));
  }

  /**
   * Validates one client message and forwards it. Exposed for the protocol test.
   * @param {unknown} message
   * @param {chrome.runtime.Port} port
   * @param {'extension'|'page'} context
   */
  async handleClientMessage(message, port, context) {
    const checked = checkClientMessage(message);
    if (!checked.ok) {
      port.postMessage(errorEvent(checked.id, checked.code, checked.reason));
      return;
    }
    const msg = checked.message;
    if (msg.type === 'abort') {
      if (this.#inflight.get(msg.id) !== port) return;
      this.#forget(msg.id);
      this.#runtime?.postMessage(abort(msg.id));
      port.postMessage(errorEvent(msg.id, ERROR_CODES.ABORTED, 'stopped'));
      return;
    }
    if (context === 'page' && !PAGE_KINDS.has(msg.kind)) {
      port.postMessage(errorEvent(msg.id, ERROR_CODES.FORBIDDEN, `a web page may not request ${msg.kind}`));
      return;
    }
    if (this.#inflight.has(msg.id)) {
      port.postMessage(errorEvent(msg.id, ERROR_CODES.BAD_MESSAGE, 'this request id is already running'));
      return;
    }
    this.#inflight.set(msg.id, port);
    if (!SILENT_KINDS.has(msg.kind)) this.#watch(msg.id);
    try {
      await this.#sendToRuntime(await this.#prepare(msg));
    } catch (error) {
      this.#forget(msg.id);
      safePost(port, errorEvent(msg.id, ERROR_CODES.RUNTIME_LOST, `the runtime could not be started: ${error}`));
    }
  }

  /**
   * Sends the runtime a request of the service worker's own, which no client
   * waits for (its events are dropped), and only if the runtime is running:
   * a runtime that is not has nothing to be told (e.g. to forget the
   * incognito conversation, which lives only in its memory).
   * @param {import('./protocol.js').RequestKind} kind @param {object} payload
   * @returns {Promise<boolean>} whether it was sent
   */
  async tell(kind, payload) {
    if (!this.#runtime && !(await hasOffscreenDocument())) return false;
    await this.#sendToRuntime({ type: 'request', id: `service-worker-${kind}-${Date.now()}`, kind, payload });
    return true;
  }

  /** Sends to the runtime, starting it if needed; retries once on a port that just died. @param {object} message */
  async #sendToRuntime(message) {
    for (let attempt = 0; ; attempt++) {
      const runtime = await this.#connectRuntime();
      try {
        runtime.postMessage(message);
        return;
      } catch (error) {
        if (this.#runtime === runtime) this.#runtime = null;
        if (attempt > 0) throw error;
      }
    }
  }

  /** @returns {Promise<chrome.runtime.Port>} */
  async #connectRuntime() {
    if (this.#runtime) return this.#runtime;
    const connected = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the offscreen runtime did not connect')), RUNTIME_CONNECT_TIMEOUT_MS);
      this.#runtimeWaiters.push((port) => {
        clearTimeout(timer);
        resolve(port);
      });
    });
    await ensureOffscreenDocument();
    // A document that outlived an earlier service worker connects when asked;
    // a new one connects by itself as it starts.
    chrome.runtime.sendMessage({ type: 'locus.runtime.connect' }).catch(() => {});
    return /** @type {Promise<chrome.runtime.Port>} */ (connected);
  }

  /** @param {any} event */
  #fromRuntime(event) {
    const client = typeof event?.id === 'string' ? this.#inflight.get(event.id) : undefined;
    if (!client) return; // aborted, or its client has gone
    if (isFinal(event)) this.#forget(event.id);
    else if (this.#watchdogs.has(event.id)) this.#watch(event.id);
    safePost(client, event);
  }

  /** (Re)starts the timer that ends request `id` after a silence. @param {string} id */
  #watch(id) {
    clearTimeout(this.#watchdogs.get(id));
    const timer = setTimeout(() => {
      const client = this.#inflight.get(id);
      this.#forget(id);
      if (!client) return;
      this.#runtime?.postMessage(abort(id));
      const seconds = Math.round(this.#watchdogMs / 1000);
      safePost(client, errorEvent(id, ERROR_CODES.RUNTIME_LOST, `the runtime did not answer for ${seconds} s`));
    }, this.#watchdogMs);
    this.#watchdogs.set(id, timer);
  }

  /** Request `id` has ended: no more routing, no watchdog. @param {string} id */
  #forget(id) {
    this.#inflight.delete(id);
    clearTimeout(this.#watchdogs.get(id));
    this.#watchdogs.delete(id);
  }

  /** @param {chrome.runtime.Port} port */
  #runtimeLost(port) {
    if (this.#runtime !== port) return;
    this.#runtime = null;
    for (const [id, client] of this.#inflight) {
      this.#forget(id);
      safePost(client, errorEvent(id, ERROR_CODES.RUNTIME_LOST, 'the runtime stopped while answering'));
    }
  }

  /** @param {chrome.runtime.Port} port */
  #clientGone(port) {
    for (const [id, client] of this.#inflight) {
      if (client !== port) continue;
      this.#forget(id);
      this.#runtime?.postMessage(abort(id));
    }
  }
}

/** Posting to a port whose other end has gone throws; there is no one to tell then. */
function safePost(/** @type {chrome.runtime.Port} */ port, /** @type {object} */ message) {
  try {
    port.postMessage(message);
  } catch {
    /* the client closed */
  }
}
