// @ts-check
/**
 * The offscreen document hosts the Rust/WASM runtime. It connects to the
 * service worker as the `runtime` port and answers protocol messages with
 * events produced by the runtime itself.
 */

import init, { Runtime } from '../pkg/locus.js';
import { ERROR_CODES, PORTS, errorEvent } from './protocol.js';

/** The runtime starts once per document; every request waits for it. */
const runtime = init().then(() => Runtime.create());

/** @type {chrome.runtime.Port|null} */
let port = null;
/** Ids aborted by the client: their remaining events are dropped. */
const aborted = new Set();

function connect() {
  if (port) return;
  port = chrome.runtime.connect({ name: PORTS.RUNTIME });
  port.onMessage.addListener((message) => void handle(/** @type {chrome.runtime.Port} */ (port), message));
  port.onDisconnect.addListener(() => {
    port = null; // reconnect only when the service worker asks, so an idle worker may sleep
  });
}

/**
 * @param {chrome.runtime.Port} from
 * @param {any} message
 */
async function handle(from, message) {
  if (message?.type === 'abort' && typeof message.id === 'string') aborted.add(message.id);
  let rt;
  try {
    rt = await runtime;
  } catch (error) {
    post(from, errorEvent(String(message?.id ?? ''), ERROR_CODES.INTERNAL, `the runtime failed to start: ${error}`));
    return;
  }
  await rt.handle(message, (/** @type {any} */ event) => {
    if (!aborted.has(event.id)) post(from, event);
  });
  if (message?.type === 'request') aborted.delete(message.id);
}

/** @param {chrome.runtime.Port} to @param {object} event */
function post(to, event) {
  try {
    to.postMessage(event);
  } catch {
    /* the service worker went away; its clients get runtime_lost */
  }
}

chrome.runtime.onMessage.addListener((message, sender) => {
  if (sender.id === chrome.runtime.id && message?.type === 'locus.runtime.connect') connect();
});
connect();
