// @ts-check
/**
 * A client of the runtime, for the content script and the popup. One port to
 * the service worker carries every request; if the port drops before a
 * request has produced output, the request is sent once more on a new port
 * (the service worker may have been restarted), otherwise it ends with
 * `runtime_lost`. A caller never waits forever.
 *
 * The copy sent again gets a new id: the first copy may still be running
 * (the runtime aborts it when the service worker's port drops, and refuses
 * a second request with a running id). The caller sees the id it was given.
 */

import { ERROR_CODES, PORTS, abort, errorEvent, isFinal, newRequestId, request } from './protocol.js';

/**
 * @typedef {import('./protocol.js').RuntimeEvent} RuntimeEvent
 * @typedef {{id: string, message: import('./protocol.js').Request, onEvent: (e: RuntimeEvent) => void, started: boolean, retried: boolean}} Job
 */

export class LocusClient {
  /** @type {chrome.runtime.Port|null} */
  #port = null;
  /** Jobs by the id of the copy last sent. */
  /** @type {Map<string, Job>} */
  #jobs = new Map();

  /**
   * Sends a request; `onEvent` receives its events until `done` or `error`.
   * @param {import('./protocol.js').RequestKind} kind
   * @param {object} payload
   * @param {(event: RuntimeEvent) => void} onEvent
   * @returns {{id: string, abort: () => void}}
   */
  request(kind, payload, onEvent) {
    const message = request(kind, payload);
    const job = { id: message.id, message, onEvent, started: false, retried: false };
    this.#jobs.set(message.id, job);
    this.#send(job);
    return { id: message.id, abort: () => this.#abort(job) };
  }

  /** @param {Job} job */
  #send(job) {
    try {
      this.#connect().postMessage(job.message);
    } catch (error) {
      this.#finish(job, errorEvent(job.message.id, ERROR_CODES.RUNTIME_LOST, `Locus is not reachable: ${error}`));
    }
  }

  #connect() {
    if (this.#port) return this.#port;
    const port = chrome.runtime.connect({ name: PORTS.CLIENT });
    port.onMessage.addListener((event) => this.#dispatch(event));
    port.onDisconnect.addListener(() => this.#disconnected(port));
    this.#port = port;
    return port;
  }

  /** @param {any} event */
  #dispatch(event) {
    const job = this.#jobs.get(event?.id);
    if (!job) return;
    if (event.event === 'token') job.started = true;
    if (isFinal(event)) this.#jobs.delete(event.id);
    job.onEvent({ ...event, id: job.id });
  }

  /** @param {chrome.runtime.Port} port */
  #disconnected(port) {
    if (this.#port === port) this.#port = null;
    for (const job of [...this.#jobs.values()]) {
      if (!job.started && !job.retried) {
        job.retried = true;
        this.#jobs.delete(job.message.id);
        job.message = { ...job.message, id: newRequestId() };
        this.#jobs.set(job.message.id, job);
        this.#send(job);
      } else {
        this.#finish(job, errorEvent(job.message.id, ERROR_CODES.RUNTIME_LOST, 'the connection to Locus was lost'));
      }
    }
  }

  /** @param {Job} job */
  #abort(job) {
    if (this.#jobs.get(job.message.id) !== job) return;
    try {
      this.#port?.postMessage(abort(job.message.id));
    } catch {
      /* the port is gone: finishing below is all that is left */
    }
    this.#finish(job, errorEvent(job.id, ERROR_CODES.ABORTED, 'stopped'));
  }

  /** @param {Job} job @param {RuntimeEvent} event */
  #finish(job, event) {
    if (this.#jobs.get(job.message.id) !== job) return;
    this.#jobs.delete(job.message.id);
    job.onEvent({ ...event, id: job.id });
  }
}
