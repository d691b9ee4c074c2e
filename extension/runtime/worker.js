// @ts-check
/**
 * The runtime worker: a dedicated worker of the offscreen document that owns
 * the Rust/WASM runtime and the OPFS model store. It receives client
 * messages (already checked by the service worker) from the offscreen
 * document and posts events back. Model-store kinds are answered here; the
 * tasks go to the runtime, after loading a model if none is loaded.
 */

import init, { Runtime } from '../../pkg/locus.js';
import { ERROR_CODES, STORE_KINDS, errorEvent } from '../protocol.js';
import * as store from './store.js';

const runtime = init().then(() => Runtime.create());
/** Running downloads by request id, so `abort` can stop them. */
/** @type {Map<string, AbortController>} */
const downloads = new Map();
/** Kinds that need a language model loaded. */
const MODEL_KINDS = new Set(['summarize', 'translate', 'chat']);
/** Kinds that use the language-identification model (a separate slot). */
const LANGID_KINDS = new Set(['detect', 'translate']);
/** @type {Promise<void>|null} */
let languageModelLoading = null;

self.onmessage = (/** @type {MessageEvent} */ { data }) => void handle(data);

/** @param {object} event */
function post(event) {
  self.postMessage(event);
}

/** @param {any} message */
async function handle(message) {
  const id = String(message?.id ?? '');
  if (message?.type === 'abort') downloads.get(id)?.abort();
  try {
    const rt = await runtime;
    if (message?.type === 'request' && STORE_KINDS.includes(message.kind)) {
      await storeRequest(rt, message);
      return;
    }
    if (message?.type === 'request' && MODEL_KINDS.has(message.kind)) {
      const { model, ...payload } = message.payload ?? {};
      message = { ...message, payload };
      await ensureModel(rt, id, model);
    }
    if (message?.type === 'request' && LANGID_KINDS.has(message.kind)) await ensureLanguageModel(rt);
    await rt.handle(message, post);
  } catch (error) {
    post(errorEvent(id, codeOf(error), String(/** @type {any} */ (error)?.message ?? error)));
  }
}

/**
 * Loads `wanted` (a model id), or keeps the loaded model, or loads the first
 * ready model in the store. No model at all is left to the runtime to report.
 * @param {any} rt @param {string} id @param {string|undefined} wanted
 */
async function ensureModel(rt, id, wanted) {
  const loaded = rt.modelName();
  if (wanted ? loaded === wanted : loaded) return;
  const ready = (await store.list()).filter((m) => m.status === 'ready' && m.kind !== store.LANGID);
  const choice = wanted ? ready.find((m) => m.id === wanted) : ready[0];
  if (!choice) {
    if (wanted) throw new store.StoreError(ERROR_CODES.NO_MODEL, `model ${wanted} is not installed`);
    return;
  }
  post({ type: 'event', id, event: 'progress', stage: 'load', message: `Loading ${choice.name}` });
  await store.withModelFile(choice.id, (access) => rt.loadModel(choice.id, access));
}

/**
 * Loads the first ready language-identification model in the store, once.
 * Without one, `detect` answers no_model and `translate` runs without
 * detecting the source.
 * @param {any} rt
 */
async function ensureLanguageModel(rt) {
  if (rt.hasLanguageModel()) return;
  // Requests that arrive together share one load (a file has one access handle at a time).
  languageModelLoading ??= (async () => {
    const choice = (await store.list()).find((m) => m.status === 'ready' && m.kind === store.LANGID);
    if (choice) await store.withModelFile(choice.id, (access) => rt.loadLanguageModel(access));
  })().finally(() => {
    languageModelLoading = null;
  });
  await languageModelLoading;
}

/** @param {any} rt @param {{id:string, kind:string, payload:any}} message */
async function storeRequest(rt, { id, kind, payload }) {
  const done = (/** @type {any} */ result) => post({ type: 'event', id, event: 'done', result });
  switch (kind) {
    case 'models.list':
      return done({ models: await store.list(), loaded: rt.modelName() ?? null });
    case 'models.delete':
      await store.remove(payload?.id);
      return done({ deleted: payload?.id });
    case 'models.download': {
      const controller = new AbortController();
      downloads.set(id, controller);
      try {
        const manifest = await store.download(
          payload ?? {},
          ({ done: bytes, total }) =>
            post({ type: 'event', id, event: 'progress', stage: 'download', message: 'Downloading', done: bytes, total: total ?? undefined }),
          controller.signal,
        );
        return done(manifest);
      } finally {
        downloads.delete(id);
      }
    }
    default:
      throw new store.StoreError(ERROR_CODES.UNKNOWN_KIND, `unknown store request ${kind}`);
  }
}

/** @param {unknown} error */
function codeOf(error) {
  const code = /** @type {any} */ (error)?.code;
  if (typeof code === 'string' && Object.values(ERROR_CODES).includes(code)) return code;
  if (/** @type {any} */ (error)?.name === 'AbortError') return ERROR_CODES.ABORTED;
  return ERROR_CODES.INTERNAL;
}
