// @ts-check
/**
 * "Test this device": measures every installed language model on WebGPU and
 * on the CPU (prompt and generation tokens/s, time to first token) with
 * runtimes of its own, and keeps the verdict `auto` starts by: a software
 * GPU (SwiftShader) is used only where it measured faster than the CPU.
 * The verdict lives in OPFS (`device/bench.json`): the runtime worker has
 * neither localStorage nor chrome.storage.
 *
 * The run is a series of steps (per backend: the start; per model: the load,
 * then in the runtime the warm-up, each prompt chunk and each generated
 * token), each reported as a progress event; a Stop (the request's `abort`)
 * ends it after the step that is running.
 */

import { Runtime, poolThreads, taskSeconds, useThreads } from '../../pkg/locus.js';
import { readBackendPreference } from '../backend_preference.js';
import { ERROR_CODES } from '../protocol.js';
import * as store from './store.js';

/** Small enough for SwiftShader, which decodes SmolLM2 at a fraction of a token a second. */
export const DEFAULT_PLAN = Object.freeze({ promptTokens: 32, answerTokens: 8 });
/** The most a page may ask for (it runs on the user's machine, on both backends). */
const MAX_PROMPT = 2048;
const MAX_ANSWER = 256;
const VERDICT = { dir: 'device', file: 'bench.json' };
/**
 * A step still running says so this often: SwiftShader compiles its
 * pipelines for minutes, and the service worker ends a request that is
 * silent for 5 (the GPU's work is awaited, so the timer runs meanwhile).
 */
const HEARTBEAT_MS = 15_000;

/** @typedef {{adapter:string, model:string, webgpuSeconds:number, cpuSeconds:number}} Verdict */

/** The verdict of this device's last benchmark, or null. @returns {Promise<Verdict|null>} */
export async function readVerdict() {
  try {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(VERDICT.dir);
    const file = await (await dir.getFileHandle(VERDICT.file)).getFile();
    const verdict = JSON.parse(await file.text());
    return typeof verdict?.adapter === 'string' ? verdict : null;
  } catch {
    return null; // never measured (or unreadable: measured again next time)
  }
}

/** @param {Verdict} verdict */
async function writeVerdict(verdict) {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(VERDICT.dir, { create: true });
  const writable = await (await dir.getFileHandle(VERDICT.file, { create: true })).createWritable();
  await writable.write(JSON.stringify(verdict));
  await writable.close();
}

/** Options for the worker's own runtime: the user's choice (`auto` unless set), and the cached verdict `auto` decides by. */
export async function runtimeOptions() {
  return { backend: await readBackendPreference(), bench: await readVerdict() };
}

/** A run ended by Stop: the request ends with the code `aborted`. */
export class BenchStopped extends Error {
  code = ERROR_CODES.ABORTED;
  constructor() {
    super('stopped');
  }
}

/**
 * Runs the benchmark and answers `id` with its table.
 * `threads` (for measuring) splits the CPU's work over fewer of the pool's
 * threads during this run; the verdict is kept only from a run on all.
 * Once `signal` is aborted the run ends after its current step with
 * `BenchStopped` (no verdict kept).
 * @param {{promptTokens?:number, answerTokens?:number, models?:string[], backends?:string[], threads?:number}} payload
 * @param {string} id
 * @param {(event: object) => void} post
 * @param {AbortSignal} [signal]
 */
export async function benchDevice(payload, id, post, signal = new AbortController().signal) {
  const plan = {
    promptTokens: clamp(payload?.promptTokens, DEFAULT_PLAN.promptTokens, MAX_PROMPT),
    answerTokens: clamp(payload?.answerTokens, DEFAULT_PLAN.answerTokens, MAX_ANSWER),
  };
  const wanted = Array.isArray(payload?.models) ? new Set(payload.models) : null;
  const models = (await store.list()).filter((m) => m.status === 'ready' && m.kind === 'gguf' && (!wanted || wanted.has(m.id)));
  const backends = ['webgpu', 'cpu'].filter((b) => !Array.isArray(payload?.backends) || payload.backends.includes(b));
  const progress = (/** @type {string} */ message, /** @type {object} */ extra = {}) =>
    post({ type: 'event', id, event: 'progress', stage: 'bench', message, ...extra });
  const allThreads = poolThreads();
  const threads = Number.isInteger(payload?.threads) ? useThreads(/** @type {number} */ (payload.threads)) : allThreads;
  let measured;
  try {
    measured = await measure(backends, models, plan, progress, signal);
  } finally {
    useThreads(allThreads);
  }
  const { rows, adapter, adapterKey } = measured;
  const verdict = threads === allThreads ? verdictOf(rows, adapterKey) : null;
  if (verdict) await writeVerdict(verdict);
  return {
    plan,
    threads: { ...threadsInfo(), wasmThreads: threads },
    adapter,
    rows,
    verdict,
  };
}

/**
 * Each model on each backend, in runtimes of their own.
 * @param {string[]} backends @param {import('./store.js').Manifest[]} models
 * @param {{promptTokens:number, answerTokens:number}} plan
 * @param {(message: string, extra?: object) => void} progress
 * @param {AbortSignal} signal
 */
async function measure(backends, models, plan, progress, signal) {
  const checkStop = () => {
    if (signal.aborted) throw new BenchStopped();
  };
  /** @type {any[]} */
  const rows = [];
  /** @type {any} */
  let adapter = null;
  /** @type {string|null} */
  let adapterKey = null;
  for (const backend of backends) {
    checkStop();
    progress(`Starting ${backend}`, { backend });
    const started = performance.now();
    const rt = await Runtime.create({ backend });
    try {
      checkStop();
      const report = rt.report();
      if (backend === 'webgpu') {
        adapter = report;
        adapterKey = rt.adapterKey() ?? null;
      }
      if (backend === 'webgpu' && report.backend !== 'gpu') {
        rows.push({ backend, model: null, error: report.fallbackReason ?? 'no WebGPU adapter' });
        continue;
      }
      const startMs = performance.now() - started;
      for (const model of models) {
        checkStop();
        progress(`Loading ${model.name} on ${backend}`, { backend, model: model.id });
        const loading = performance.now();
        try {
          await store.withModelFile(model.id, (access) => rt.loadModel(model.id, access));
          const loadMs = performance.now() - loading;
          checkStop();
          const measuring = `Measuring ${model.name} on ${backend}`;
          progress(measuring, { backend, model: model.id, loadMs });
          /** @param {{phase:string, done:number, total:number}} step @returns {boolean} whether to stop */
          const onStep = (step) => {
            progress(`${measuring}: ${STEP_NAMES[step.phase] ?? step.phase} ${step.done}/${step.total}`, { backend, model: model.id, step });
            return signal.aborted;
          };
          const figures = await heartbeat(() => rt.bench(plan.promptTokens, plan.answerTokens, onStep), (seconds) =>
            progress(`${measuring} (${seconds} s)`, { backend, model: model.id }),
          );
          rows.push({ backend, model: model.name, modelId: model.id, startMs, loadMs, ...figures });
          progress(`Measured ${model.name} on ${backend}`, { backend, model: model.id, figures: rows.at(-1) });
        } catch (error) {
          if (signal.aborted) throw new BenchStopped(); // the runtime's `aborted`, or a step that failed meanwhile
          rows.push({ backend, model: model.name, modelId: model.id, error: String(/** @type {any} */ (error)?.message ?? error) });
        } finally {
          rt.unloadModel();
        }
      }
    } finally {
      rt.free();
    }
  }
  return { rows, adapter, adapterKey };
}

/** How a runtime step's phase reads in the progress line. */
const STEP_NAMES = /** @type {Record<string, string>} */ ({ warmup: 'warm-up', prompt: 'prompt tokens', answer: 'generated tokens' });

/**
 * Runs `work`, calling `beat` with the seconds so far every HEARTBEAT_MS.
 * @template T @param {() => Promise<T>} work @param {(seconds: number) => void} beat @returns {Promise<T>}
 */
async function heartbeat(work, beat) {
  const started = performance.now();
  const timer = setInterval(() => beat(Math.round((performance.now() - started) / 1000)), HEARTBEAT_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/**
 * The verdict from the first model measured on both backends: seconds of a
 * page task (a prompt read, a short answer) on each.
 * @param {any[]} rows @param {string|null} adapterKey @returns {Verdict|null}
 */
function verdictOf(rows, adapterKey) {
  if (!adapterKey) return null;
  const measured = rows.filter((r) => !r.error);
  for (const gpu of measured.filter((r) => r.backend === 'webgpu')) {
    const cpu = measured.find((r) => r.backend === 'cpu' && r.modelId === gpu.modelId);
    if (!cpu) continue;
    return {
      adapter: adapterKey,
      model: gpu.modelId,
      webgpuSeconds: taskSeconds(gpu.promptTokensPerSecond, gpu.answerTokensPerSecond),
      cpuSeconds: taskSeconds(cpu.promptTokensPerSecond, cpu.answerTokensPerSecond),
    };
  }
  return null;
}

/** What the CPU path runs on: threads, and whether this context may share memory with them. */
export function threadsInfo() {
  return {
    hardwareConcurrency: navigator.hardwareConcurrency ?? 1,
    crossOriginIsolated: self.crossOriginIsolated === true,
    wasmThreads: poolThreads(),
  };
}

/** @param {unknown} value @param {number} fallback @param {number} max */
function clamp(value, fallback, max) {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? Math.min(n, max) : fallback;
}
