// @ts-check
/**
 * The offscreen document: connects to the service worker as the `runtime`
 * port and relays messages to and from the runtime worker, which hosts the
 * Rust/WASM runtime and the model store (OPFS synchronous file access only
 * exists in dedicated workers).
 */

import { PORTS } from './protocol.js';

const worker = new Worker(new URL('./runtime/worker.js', import.meta.url), { type: 'module' });

/** @type {chrome.runtime.Port|null} */
let port = null;
/** Ids aborted by the client: their remaining events are dropped. */
const aborted = new Set();

worker.onmessage = ({ data: event }) => {
  if (aborted.has(event?.id)) {
    if (event.event === 'done' || event.event === 'error') aborted.delete(event.id);
    return;
  }
  try {
    port?.postMessage(event);
  } catch {
    /* the service worker went away; its clients get runtime_lost */
  }
};

function connect() {
  if (port) return;
  port = chrome.runtime.connect({ name: PORTS.RUNTIME });
  port.onMessage.addListener((message) => {
    if (message?.type === 'abort' && typeof message.id === 'string') aborted.add(message.id);
    worker.postMessage(message);
  });
  port.onDisconnect.addListener(() => {
    port = null; // reconnect only when the service worker asks, so an idle worker may sleep
  });
}

chrome.runtime.onMessage.addListener((message, sender) => {
  if (sender.id === chrome.runtime.id && message?.type === 'locus.runtime.connect') connect();
});
connect();
