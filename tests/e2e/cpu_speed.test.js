// @ts-check
/**
 * The CPU path's speed in headless Chromium (no WebGPU), with the WASM
 * thread pool on every core against one thread, runs alternated so that the
 * busy machine's load falls on both alike: SmolLM2-135M prefill and decode
 * tokens/s (medians), and Qwen2.5-0.5B's time to first token for a
 * 500-token prompt. Prints the figures with the machine's load. Minutes
 * long: run with LOCUS_SLOW_E2E=1. With LOCUS_LLAMA_BENCH=<llama-bench> it
 * runs llama.cpp's CPU backend on the same model with the same threads
 * between the browser's runs, and prints the ratios.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { REPO_ROOT, launch, openExtensionPage, sendRaw } from './harness.js';
import { serveModels } from './model_server.js';

const SLOW = process.env.LOCUS_SLOW_E2E === '1';
const SMOLLM2 = { id: 'smollm2-135m', file: 'SmolLM2-135M-Instruct.Q4_1.gguf' };
const QWEN = { id: 'qwen2.5-0.5b', file: 'Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf' };
const RUNS = Number(process.env.LOCUS_CPU_SPEED_RUNS ?? 3);
/** A run may take this many times the first run's time before it counts as hung. */
const SLOWER_THAN_FIRST = 10;

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {import('playwright-core').Page} */
let page;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;

before(async () => {
  if (!SLOW) return;
  [browser, server] = await Promise.all([launch({ webgpu: false }), serveModels()]);
  page = await openExtensionPage(browser, 'popup/bench.html');
  for (const model of [SMOLLM2, QWEN]) {
    if (!existsSync(path.join(REPO_ROOT, 'models', model.file))) continue;
    const events = await sendRaw(page, { type: 'request', id: `dl-${model.id}`, kind: 'models.download', payload: { id: model.id, url: server.url(model.file) } }, 300_000);
    assert.equal(events.at(-1).event, 'done', JSON.stringify(events.at(-1)));
  }
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/**
 * One CPU benchmark run; `boundMs` from an earlier measured run.
 * @param {string} model @param {number} threads @param {{promptTokens:number, answerTokens:number}} plan @param {number} boundMs
 */
async function bench(model, threads, plan, boundMs) {
  const started = Date.now();
  const events = await sendRaw(page, { type: 'request', id: `b-${model}-${threads}-${started}`, kind: 'device.bench', payload: { ...plan, models: [model], backends: ['cpu'], threads } }, boundMs);
  const done = events.at(-1);
  assert.equal(done.event, 'done', JSON.stringify(events.slice(-2)));
  const row = done.result.rows[0];
  assert.ok(row && !row.error, JSON.stringify(done.result));
  return { ...row, threads: done.result.threads.wasmThreads, wallMs: Date.now() - started };
}

const LLAMA_BENCH = process.env.LOCUS_LLAMA_BENCH;

/**
 * llama.cpp's CPU figures for `file` (tokens/s), or null without llama-bench.
 * @param {string} file @param {number} threads @param {{promptTokens:number, answerTokens:number}} plan
 */
function llamaCpp(file, threads, plan) {
  if (!LLAMA_BENCH) return null;
  const args = ['-m', path.join(REPO_ROOT, 'models', file), '-ngl', '0', '-t', String(threads), '-p', String(plan.promptTokens), '-n', String(plan.answerTokens), '-r', '1', '-o', 'json'];
  const runs = JSON.parse(execFileSync(LLAMA_BENCH, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 1_200_000 }));
  const rate = (/** @type {(r: any) => boolean} */ which) => runs.find(which)?.avg_ts ?? NaN;
  return { pp: rate((r) => r.n_prompt > 0), tg: rate((r) => r.n_gen > 0) };
}

const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

test('SmolLM2 on the CPU: every core against one thread, alternated', { skip: !SLOW && 'LOCUS_SLOW_E2E=1 runs it' }, async () => {
  // 64 tokens each: 16 decoded tokens (about 0.2 s) left the 2-thread
  // decode spread over 48–79 tokens/s within one run of 7.
  const plan = { promptTokens: 64, answerTokens: 64 };
  /** @type {Record<number, any[]>} */
  const byThreads = {};
  /** @type {{pp:number, tg:number}[]} */
  const llama = [];
  let bound = 600_000; // the first run's own bound: ten minutes
  const all = (await bench(SMOLLM2.id, 64, plan, bound)).threads;
  console.log(`threads in the pool: ${all}; load ${load()}`);
  for (let run = 0; run < RUNS; run++) {
    for (const threads of [1, all]) {
      const row = await bench(SMOLLM2.id, threads, plan, bound);
      bound = Math.max(60_000, SLOWER_THAN_FIRST * row.wallMs);
      (byThreads[threads] ??= []).push(row);
      console.log(`run ${run + 1}, ${threads} thread(s): pp${plan.promptTokens} ${row.promptTokensPerSecond.toFixed(2)} t/s, tg${plan.answerTokens} ${row.answerTokensPerSecond.toFixed(2)} t/s; load ${load()}`);
    }
    const native = llamaCpp(SMOLLM2.file, all, plan);
    if (native) {
      llama.push(native);
      console.log(`run ${run + 1}, llama.cpp CPU -t ${all}: pp${plan.promptTokens} ${native.pp.toFixed(2)} t/s, tg${plan.answerTokens} ${native.tg.toFixed(2)} t/s; load ${load()}`);
    }
  }
  for (const [threads, rows] of Object.entries(byThreads)) {
    const pp = median(rows.map((r) => r.promptTokensPerSecond));
    const tg = median(rows.map((r) => r.answerTokensPerSecond));
    let ratio = '';
    if (llama.length) {
      const [lpp, ltg] = [median(llama.map((l) => l.pp)), median(llama.map((l) => l.tg))];
      ratio = `; llama.cpp -t ${all} pp ${lpp.toFixed(2)} tg ${ltg.toFixed(2)}: ${(pp / lpp).toFixed(2)}× / ${(tg / ltg).toFixed(2)}×`;
    }
    console.log(`SmolLM2 CPU, ${threads} thread(s), median of ${rows.length}: pp ${pp.toFixed(2)} t/s, tg ${tg.toFixed(2)} t/s${ratio}`);
  }
});

test('Qwen2.5-0.5B on the CPU: time to first token for a 500-token prompt', { skip: (!SLOW || !existsSync(path.join(REPO_ROOT, 'models', QWEN.file))) && 'LOCUS_SLOW_E2E=1 and the Qwen2.5 model run it' }, async () => {
  const plan = { promptTokens: 500, answerTokens: 1 };
  let bound = 1_200_000; // the first run's own bound: twenty minutes
  for (const threads of [64, 1]) {
    const row = await bench(QWEN.id, threads, plan, bound);
    bound = Math.max(60_000, SLOWER_THAN_FIRST * row.wallMs);
    console.log(`Qwen2.5-0.5B CPU, ${row.threads} thread(s): first token after ${(row.firstTokenMs / 1000).toFixed(1)} s for ${plan.promptTokens} tokens (${row.promptTokensPerSecond.toFixed(2)} t/s); load ${load()}`);
  }
});
