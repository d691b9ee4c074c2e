// @ts-check
/**
 * One thread of the CPU path's pool (started by `threads.js`): instantiates
 * the runtime's module on the shared memory, says so, then runs its rayon
 * thread until the runtime worker goes away.
 */

import init, { runPoolThread } from '../../pkg/locus.js';

// A panic traps this thread while the runtime worker waits for its part of
// the work, so the runtime worker cannot report it: the offscreen document
// hears it here and replaces the runtime worker (and with it this pool).
Object.assign(self, {
  locusRuntimePanicked: (/** @type {string} */ message) =>
    new BroadcastChannel('locus.runtime').postMessage({ type: 'runtime.lost', message: `a CPU thread: ${message}` }),
});

self.onmessage = async ({ data }) => {
  if (data?.type !== 'locus.pool.init') return;
  await init({ module_or_path: data.module, memory: data.memory });
  self.postMessage({ type: 'locus.pool.ready' });
  runPoolThread(data.receiver);
};
