// @ts-check
/**
 * SmolLM2 in the extension on WebGPU (SwiftShader here) and on the CPU
 * fallback in WASM: both must write exactly the text the native GPU backend
 * writes for the same chat prompt. The prompt is fixture 9 of
 * tests/fixtures/llama_cpp/smollm2.json, whose greedy path has a top-2
 * margin of at least 0.5 at every step (checked below), so exact equality
 * is a stable check. Also measures the WASM heap after loading on WebGPU.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT, launch, openExtensionPage, sendRaw } from './harness.js';
import { serveModels } from './model_server.js';

const MODEL = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
const TOKENS = 6;
const PROMPT = 'Complete the sequence: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,';
/** SmolLM2's largest tensor: the 49,152 × 576 Q8_0 embedding. */
const LARGEST_TENSOR = (49_152 * 576 * 34) / 32;
const LOCUS = process.env.LOCUS_BIN ?? path.join(homedir(), '.cache/locus/target/debug/locus');

/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;
/** @type {string} */
let native;
before(async () => {
  const fixture = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tests/fixtures/llama_cpp/smollm2.json'), 'utf8'));
  const g = fixture.generations.find((/** @type {any} */ g) => g.prompt.includes(PROMPT));
  assert.ok(g.margins.slice(0, TOKENS).every((/** @type {number} */ m) => m >= 0.5), 'the fixture prompt has no near-ties');
  server = await serveModels();
  native = execFileSync(
    LOCUS,
    ['generate', path.join(REPO_ROOT, 'models', MODEL), '--backend', 'gpu', '--chat', '--prompt', PROMPT, '--max-tokens', String(TOKENS)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  assert.ok(native.length > 0);
});
after(async () => server?.close());

/** Installs SmolLM2 in a fresh browser and runs the prompt; returns the events. @param {boolean} webgpu */
async function runInBrowser(webgpu) {
  const browser = await launch({ webgpu, backend: webgpu ? 'webgpu' : 'auto' });
  try {
    const popup = await openExtensionPage(browser, 'popup/popup.html');
    const download = await sendRaw(
      popup,
      { type: 'request', id: 'dl', kind: 'models.download', payload: { id: 'smollm2-135m', url: server.url(MODEL), sha256: SHA256 } },
      120_000,
    );
    assert.equal(download.at(-1).event, 'done', JSON.stringify(download.at(-1)));
    const payload = { messages: [{ role: 'user', content: PROMPT }], maxTokens: TOKENS, fresh: true };
    // Bounded by silence, not by a total: on SwiftShader under load the
    // run takes minutes, reporting model-load progress and each token. The
    // runtime's own watchdog ends a request whose worker is silent for
    // 300 s, so a longer quiet spell is a lost request.
    return await sendRaw(popup, { type: 'request', id: 'gen', kind: 'chat', payload }, 330_000, { quiet: true });
  } finally {
    await browser.close();
  }
}

/** Where the time went: each kind of event with the seconds since the first. @param {any[]} events */
function timeline(events) {
  const start = events[0]?.at ?? 0;
  return events.map((e) => `+${((e.at - start) / 1000).toFixed(1)} s ${e.event}${e.stage ? `/${e.stage}` : ''}`).join('\n');
}

/** The longest time between two events, ms. @param {any[]} events */
function quietest(events) {
  return Math.max(0, ...events.slice(1).map((e, i) => e.at - events[i].at));
}

test('on WebGPU the extension writes the native GPU backend text, with a small WASM heap', async () => {
  const events = await runInBrowser(true);
  const done = events.at(-1);
  assert.equal(done.event, 'done', `${JSON.stringify(done)}\n${timeline(events)}`);
  console.log(`longest quiet spell: ${(quietest(events) / 1000).toFixed(1)} s (the router gives up after 300 s)`);
  const loaded = events.find((e) => e.stage === 'loaded')?.model;
  assert.equal(loaded?.backend, 'webgpu', JSON.stringify(loaded));
  assert.equal(done.result.backend, 'webgpu');
  assert.equal(done.result.text, native);
  const heap = loaded.wasmHeapBytes;
  const bound = LARGEST_TENSOR + 32 * 2 ** 20; // the KV cache lives on the GPU
  console.log(`WebGPU: ${done.result.tokensPerSecond.toFixed(1)} tokens/s; WASM heap after load ${(heap / 2 ** 20).toFixed(1)} MiB (bound ${(bound / 2 ** 20).toFixed(1)} MiB)`);
  assert.ok(heap < bound, `WASM heap ${heap} bytes, bound ${bound}`);
});

test('without WebGPU the CPU fallback in WASM writes the same text', async () => {
  const events = await runInBrowser(false);
  const done = events.at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
  assert.equal(done.result.backend, 'cpu');
  assert.equal(done.result.text, native);
  console.log(`CPU (WASM): ${done.result.tokensPerSecond.toFixed(1)} tokens/s`);
});
