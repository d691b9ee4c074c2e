// @ts-check
/**
 * Starts the CPU path's thread pool: this worker and one more Web Worker
 * per other logical core (`navigator.hardwareConcurrency`), each running
 * `pool_thread.js` on this module's shared memory (see `src/web/threads.rs`). Needs a shared-memory
 * build and a cross-origin isolated context (the manifest's
 * `cross_origin_embedder_policy` / `cross_origin_opener_policy`); without
 * either the CPU path runs on this worker's thread alone.
 */

import { poolThreads, threadPool } from '../../pkg/locus.js';

/** More workers than this only cost memory (each holds a stack and a WASM instance). */
const MAX_THREADS = 16;
/** A worker that has not instantiated the module by then is taken as failed. */
const WORKER_START_MS = 60_000;

/** @type {Worker[]} */
let workers = [];

/**
 * Starts the pool once; returns the threads the CPU path splits work over.
 * @param {number} [wanted] threads (default: the logical cores)
 */
export async function startThreads(wanted = navigator.hardwareConcurrency || 1) {
  const count = Math.max(1, Math.min(MAX_THREADS, Math.floor(wanted)));
  if (workers.length || count < 2 || !self.crossOriginIsolated) return poolThreads();
  const start = threadPool(count);
  if (!start) return poolThreads(); // a build without shared memory
  const init = { module: start.module, memory: start.memory, receiver: start.receiver };
  // This worker is the pool's first thread: the others are helpers.
  workers = await Promise.all(Array.from({ length: start.helpers }, () => startWorker(init)));
  start.build();
  return poolThreads();
}

/** @param {{module: any, memory: any, receiver: number}} init @returns {Promise<Worker>} */
function startWorker(init) {
  const worker = new Worker(new URL('./pool_thread.js', import.meta.url), { type: 'module', name: 'locus-pool' });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('a pool worker did not start')), WORKER_START_MS);
    worker.onmessage = ({ data }) => {
      if (data?.type !== 'locus.pool.ready') return;
      clearTimeout(timer);
      resolve(worker);
    };
    worker.onerror = (event) => {
      clearTimeout(timer);
      reject(new Error(`a pool worker failed: ${event.message}`));
    };
    worker.postMessage({ type: 'locus.pool.init', ...init });
  });
}
