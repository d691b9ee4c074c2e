// @ts-check
/**
 * The downloads running in this worker, by model id. A download belongs to
 * the worker, not to the popup that asked for it: closing the popup only
 * detaches its listener, `cancel` pauses it, and a second request for the
 * same model from the same URL joins the running one (another URL under the
 * same id is refused: it is another model).
 */

import { download, manifestOf } from './download.js';
import { StoreError } from './store.js';

/**
 * @typedef {import('./download.js').Progress} Progress
 * @typedef {{controller: AbortController, listeners: Map<string, (p: Progress) => void>,
 *   last: Progress, promise: Promise<import('./store.js').Manifest>, url: string|undefined}} Running
 */

/** @type {Map<string, Running>} */
const running = new Map();

/**
 * Starts (or joins) the download of `request.id`; `listener` hears its
 * progress under `requestId` until it ends or is detached.
 * @param {Parameters<typeof download>[0]} request
 * @param {string} requestId
 * @param {(p: Progress) => void} listener
 */
export function start(request, requestId, listener) {
  let job = running.get(request.id);
  if (job && request.url && job.url && request.url !== job.url) {
    return Promise.reject(new StoreError('bad_message', `another download (${job.url}) is running under the id ${request.id}`));
  }
  if (job && !request.url && job.url) {
    // A bare re-attach joins only a download of the model's own file: a job
    // started with another URL is refused (another file under this id), and
    // joining it would hand this request that refusal. Then it waits for
    // that job and asks on its own.
    const other = job;
    return manifestOf(request.id).then((manifest) =>
      manifest && manifest.url !== other.url
        ? other.promise.catch(() => {}).then(() => start(request, requestId, listener))
        : listen(other, requestId, listener),
    );
  }
  if (job && request.url && !job.url) {
    // The running job resumes (or re-attaches to) the URL in the model's
    // manifest, which may not be this one: joining it would hand this
    // request another file's result. Wait for it, then ask on our own.
    const after = job.promise.catch(() => {});
    return after.then(() => start(request, requestId, listener));
  }
  if (!job) {
    const controller = new AbortController();
    /** @type {Running} */
    const created = { controller, listeners: new Map(), last: { done: 0, total: null }, promise: Promise.resolve(/** @type {any} */ (null)), url: request.url };
    created.promise = download(
      request,
      (progress) => {
        created.last = progress;
        for (const hear of created.listeners.values()) hear(progress);
      },
      controller.signal,
    ).finally(() => {
      if (running.get(request.id) === created) running.delete(request.id);
    });
    running.set(request.id, created);
    job = created;
  }
  return listen(job, requestId, listener);
}

/** Adds `listener` to `job` under `requestId`. @param {Running} job @param {string} requestId @param {(p: Progress) => void} listener */
function listen(job, requestId, listener) {
  job.listeners.set(requestId, listener);
  return job.promise;
}

/** Stops listening for `requestId`; the download goes on. @returns {boolean} whether it was listening */
export function detach(/** @type {string} */ requestId) {
  for (const job of running.values()) {
    if (job.listeners.delete(requestId)) return true;
  }
  return false;
}

/** Pauses the download of a model (its bytes stay on disk). @param {string} modelId */
export function cancel(modelId) {
  const job = running.get(modelId);
  job?.controller.abort();
  return job?.promise.catch(() => {}) ?? Promise.resolve();
}

/** Progress of a running download, or undefined. @param {string} modelId */
export function progressOf(modelId) {
  return running.get(modelId)?.last;
}
