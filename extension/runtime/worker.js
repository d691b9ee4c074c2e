// @ts-check
/**
 * The runtime worker: a dedicated worker of the offscreen document that owns
 * the Rust/WASM runtime, the OPFS model store and the popup's conversation.
 * It receives client messages (already checked by the service worker) from
 * the offscreen document and posts events back. Model-store and conversation
 * kinds are answered here; the tasks go to the runtime, after loading a
 * model if the right one is not loaded.
 */

import init, { Runtime, checkMessage, crashForTest } from '../../pkg/locus.js';
import { CONVERSATION_KINDS, DEVICE_KINDS, ERROR_CODES, STORE_KINDS, errorEvent } from '../protocol.js';
import { CHECKED_TASKS, chooseModel } from '../model_fit.js';
import * as conversation from './conversation.js';
import { benchDevice, runtimeOptions } from './device_bench.js';
import { startThreads } from './threads.js';
import * as downloads from './downloads.js';
import * as store from './store.js';

// A Rust panic calls this just before the module traps (see `src/web`): the
// runtime's memory cannot be trusted after that, so the offscreen document
// replaces this worker and ends the requests it was answering.
Object.assign(self, {
  locusRuntimePanicked: (/** @type {string} */ message) => self.postMessage({ type: 'runtime.lost', message }),
});

// The CPU path's worker threads (a pool that cannot start leaves one thread),
// then `auto`: a software GPU only where this device's benchmark measured it faster.
let runtime = init().then(async () => {
  await startThreads().catch((error) => console.warn('Locus: the CPU runs on one thread:', error));
  return Runtime.create(await runtimeOptions());
});
/** Kinds that need a language model loaded. */
const MODEL_KINDS = new Set(['summarize', 'translate', 'chat']);
/** Kinds that use the language-identification model (a separate slot). */
const LANGID_KINDS = new Set(['detect', 'translate']);
/** @type {Promise<void>|null} */
let languageModelLoading = null;
/**
 * Running device benchmarks by request id: an `abort` stops one after its current step.
 * @type {Map<string, AbortController>}
 */
const benches = new Map();
/** The last benchmark started: the next one waits for it (one at a time). */
let benchQueue = Promise.resolve();

self.onmessage = (/** @type {MessageEvent} */ { data }) => {
  // The offscreen document's liveness check: answered between any two calls.
  if (data?.type === 'ping') return void self.postMessage({ type: 'pong' });
  if (data?.type === 'debug.hang') {
    // From the offscreen document, for the stuck-runtime test: one call that never returns.
    for (;;);
  }
  void handle(data);
};

/** @param {object} event */
function post(event) {
  self.postMessage(event);
}

/** @param {any} message */
async function handle(message) {
  const id = String(message?.id ?? '');
  if (message?.type === 'debug.catalog') {
    // From the offscreen document, for end-to-end tests: a catalog of local files.
    catalogForTest = message.models;
    return;
  }
  if (message?.type === 'debug.crash') {
    // From the offscreen document, for the crash-recovery test: a real panic.
    await runtime;
    crashForTest();
    return;
  }
  if (message?.type === 'abort' && benches.has(id)) {
    benches.get(id)?.abort(); // the benchmark answers `aborted` after its current step
    return;
  }
  if (message?.type === 'abort' && (downloads.detach(id) || conversation.unwatch(id))) {
    // The client left (e.g. the popup closed): the download or chat goes on
    // without it. The final event lets the offscreen document forget the id.
    post(errorEvent(id, ERROR_CODES.ABORTED, 'detached'));
    return;
  }
  try {
    const rt = await runtime;
    if (message?.type === 'request' && STORE_KINDS.includes(message.kind)) {
      await storeRequest(rt, message);
      return;
    }
    if (message?.type === 'request' && CONVERSATION_KINDS.includes(message.kind)) {
      await conversationRequest(rt, message);
      return;
    }
    if (message?.type === 'request' && DEVICE_KINDS.includes(message.kind)) {
      post({ type: 'event', id, event: 'done', result: await benchInTurn(rt, message.payload, id) });
      return;
    }
    if (message?.type === 'request' && MODEL_KINDS.has(message.kind)) {
      const { model, ...payload } = message.payload ?? {};
      message = { ...message, payload };
      // A malformed request is answered as such, whatever model is installed.
      const rejected = checkMessage(message);
      if (rejected) return post(rejected);
      // A model the user chose runs as asked; otherwise only one fit for the task.
      if (!model && CHECKED_TASKS.includes(message.kind)) {
        const offer = await ensureFitModel(rt, id, { task: message.kind, targetLanguage: payload.targetLanguage });
        if (offer) return post({ ...errorEvent(id, ERROR_CODES.NO_MODEL, offerMessage(offer)), offer });
      } else await ensureModel(rt, id, model);
    }
    if (message?.type === 'request' && LANGID_KINDS.has(message.kind)) await ensureLanguageModel(rt);
    await rt.handle(message, post);
  } catch (error) {
    post(errorEvent(id, codeOf(error), String(/** @type {any} */ (error)?.message ?? error)));
  }
}

/**
 * Runs a device benchmark once the one before it has ended (a stopped one
 * ends within a step); an `abort` for `id`, even while it waits, stops it.
 * @param {any} rt @param {any} payload @param {string} id
 */
async function benchInTurn(rt, payload, id) {
  const controller = new AbortController();
  benches.set(id, controller);
  const previous = benchQueue;
  /** @type {() => void} */
  let finished = () => {};
  benchQueue = new Promise((resolve) => (finished = resolve));
  try {
    await previous;
    // The benchmark loads models into runtimes of its own: free this one's.
    rt.unloadModel();
    const result = await benchDevice(payload, id, post, controller.signal);
    // A new verdict is what `auto` decides by: the next requests get a
    // runtime started with it (requests still running finish on this one,
    // which is freed once unreachable).
    const options = await runtimeOptions();
    if (result.verdict && options.backend === 'auto') runtime = Runtime.create(options);
    return result;
  } finally {
    benches.delete(id);
    finished();
  }
}

/**
 * Loads `wanted` (a model id) unless it is loaded; when it is not installed,
 * keeps the loaded model or loads the first ready language model. No model
 * at all is left to the runtime to report. On the GPU the load goes on after
 * `loadModel` returns (the device uploads and compiles): its progress comes
 * as `load` events with a `percent` until the device has settled, which also
 * keeps the router's watchdog from ending a slow but moving load.
 * @param {any} rt @param {string} id @param {string|undefined} wanted
 * @param {(event: object) => void} [emit] where the request's events go
 */
async function ensureModel(rt, id, wanted, emit = post) {
  const loaded = rt.modelName();
  if (wanted && loaded === wanted) return;
  const ready = (await store.list()).filter((m) => m.status === 'ready' && m.kind === 'gguf');
  const choice = ready.find((m) => m.id === wanted) ?? (loaded ? null : ready[0]);
  if (!choice) return;
  const loading = (/** @type {object} */ fields) => emit({ type: 'event', id, event: 'progress', stage: 'load', message: `Loading ${choice.name}`, name: choice.name, ...fields });
  loading({});
  const onProgress = (/** @type {{phase: string, done: number, total: number, percent: number}} */ p) =>
    loading({ phase: p.phase, done: p.done, total: p.total, percent: p.percent });
  const info = await store.withModelFile(choice.id, (access) => rt.loadModel(choice.id, access, onProgress));
  await rt.gpuSettled();
  emit({ type: 'event', id, event: 'progress', stage: 'loaded', message: `${choice.name} on ${info.backend}`, model: info });
}

/**
 * Whether the runtime runs on a hardware GPU: on a software renderer (the
 * runtime reports SwiftShader and the like as a fallback adapter) a 1–1.5B
 * model would be as slow as on the CPU, so the CPU's recommendations hold.
 * @param {any} report the runtime's backend report
 */
function onHardwareGpu(report) {
  return report?.backend === 'gpu' && !report.adapter?.isFallbackAdapter;
}

/**
 * Loads an installed model fit for `need` (see `model_fit.js`) unless the
 * loaded one is; returns the download to offer when none is installed.
 * @param {any} rt @param {string} id @param {import('../model_fit.js').Need} need
 */
async function ensureFitModel(rt, id, need) {
  const ready = (await store.list()).filter((m) => m.status === 'ready' && m.kind === 'gguf');
  const gpu = onHardwareGpu(rt.report());
  const choice = chooseModel(need, ready, rt.modelName() ?? null, await catalog(), { gpu });
  if ('offer' in choice) return choice.offer;
  if (choice.run) await ensureModel(rt, id, choice.run.id);
  return null;
}

/** The offer as one English line, for clients that show only the message. @param {any} offer */
function offerMessage(offer) {
  const what = offer.model ? `; ${offer.model.name} can do it` : '';
  return offer.current ? `${offer.current} is not made for ${offer.task}${what}` : `no model is installed${what}`;
}

/** @type {import('../model_fit.js').CatalogEntry[]|null} */
let catalogForTest = null;

/** The catalog's downloadable entries (tests may replace them). */
async function catalog() {
  if (catalogForTest) return catalogForTest;
  const response = await fetch(new URL('../catalog.json', import.meta.url));
  return (await response.json()).models;
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
    const choice = (await store.list()).find((m) => m.status === 'ready' && m.kind === 'fasttext');
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
      return done({ models: await listLive(), loaded: rt.modelName() ?? null, backend: rt.report().backend });
    case 'models.delete': {
      await downloads.cancel(payload?.id);
      // A deleted model is not left loaded (and answering) in the runtime.
      const unloaded = rt.modelName() === payload?.id;
      if (unloaded) rt.unloadModel();
      await store.remove(payload?.id);
      return done({ deleted: payload?.id, unloaded });
    }
    case 'models.load':
      // The model picker: load the chosen model now, with its progress.
      await ensureModel(rt, id, store.checkId(payload?.id));
      return done({ loaded: rt.modelName() ?? null });
    case 'models.cancel':
      await downloads.cancel(store.checkId(payload?.id));
      return done({ cancelled: payload?.id });
    case 'models.import':
      return done(payload?.finish ? await store.finishImport(payload) : await store.beginImport(payload ?? {}));
    case 'models.install':
    case 'models.download': {
      // A page may only install what the catalog offers, by its id.
      const wanted = kind === 'models.install' ? await catalogDownload(payload?.id) : payload ?? {};
      const manifest = await downloads.start(wanted, id, ({ done: bytes, total, restarted }) =>
        post({ type: 'event', id, event: 'progress', stage: restarted ? 'restart' : 'download', message: 'Downloading', done: bytes, total: total ?? undefined }),
      );
      downloads.detach(id);
      return done(manifest);
    }
    default:
      throw new store.StoreError(ERROR_CODES.UNKNOWN_KIND, `unknown store request ${kind}`);
  }
}

/** The download request for catalog entry `id`. @param {unknown} id */
async function catalogDownload(id) {
  const entry = (await catalog()).find((e) => e.id === id);
  if (!entry) throw new store.StoreError(ERROR_CODES.BAD_MESSAGE, `no catalog model ${String(id).slice(0, 100)}`);
  return { id: entry.id, name: entry.name, url: entry.url, sha256: entry.sha256, size: entry.bytes, kind: entry.kind };
}

/**
 * The store's list with running downloads' live progress; a download that is
 * not running is paused. A ready model stays ready while a request for it
 * runs: such a request (e.g. the popup re-attaching to what it saw
 * downloading) only reads its manifest and answers with it.
 */
async function listLive() {
  return (await store.list()).map((model) => {
    const live = model.status === 'ready' ? undefined : downloads.progressOf(model.id);
    if (live) return { ...model, status: 'downloading', bytes: live.done, size: live.total ?? model.size };
    // Left `downloading` by a browser restart or a closed offscreen document.
    if (model.status === 'downloading') return { ...model, status: 'paused' };
    return model;
  });
}

/** @param {any} rt @param {{id:string, kind:string, payload:any}} message */
async function conversationRequest(rt, { id, kind, payload }) {
  const done = (/** @type {any} */ result) => post({ type: 'event', id, event: 'done', result });
  switch (kind) {
    case 'chat.watch':
      return conversation.watch(id, post, payload ?? {});
    case 'chat.send': {
      const { model, ...rest } = payload ?? {};
      const runTurn = async (/** @type {any[]} */ messages, /** @type {string} */ turnId, /** @type {(e: any) => void} */ onEvent) => {
        await ensureModel(rt, turnId, model, onEvent);
        await rt.handle({ type: 'request', id: turnId, kind: 'chat', payload: { messages } }, onEvent);
      };
      return done(await conversation.send(rest, runTurn));
    }
    case 'chat.stop': {
      const turn = conversation.replyId(payload ?? {});
      if (turn) await rt.handle({ type: 'abort', id: turn }, post);
      return done({ stopped: turn });
    }
    case 'chat.clear': {
      const turn = payload?.everything === true ? conversation.replyId() : conversation.replyId(payload ?? {});
      if (turn) await rt.handle({ type: 'abort', id: turn }, post);
      await conversation.clear(payload ?? {});
      return done({ cleared: true });
    }
    default:
      throw new store.StoreError(ERROR_CODES.UNKNOWN_KIND, `unknown chat request ${kind}`);
  }
}

/** @param {unknown} error */
function codeOf(error) {
  const code = /** @type {any} */ (error)?.code;
  if (typeof code === 'string' && Object.values(ERROR_CODES).includes(code)) return code;
  if (/** @type {any} */ (error)?.name === 'AbortError') return ERROR_CODES.ABORTED;
  return ERROR_CODES.INTERNAL;
}
