// @ts-check
/** The device benchmark's table and its copyable text (`popup/bench_table.js`). */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adapterLine, benchText, featuresLine, rowCells, verdictLine } from '../../popup/bench_table.js';

const SWIFTSHADER = {
  backend: 'gpu',
  adapter: { name: '', vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true },
  features: { shaderF16: false, subgroups: true, subgroupMinSize: 4, subgroupMaxSize: 4, fusedFma: false },
};
const RESULT = {
  plan: { promptTokens: 32, answerTokens: 8 },
  threads: { hardwareConcurrency: 2, crossOriginIsolated: true, wasmThreads: 2 },
  adapter: SWIFTSHADER,
  rows: [
    { backend: 'webgpu', model: 'SmolLM2', loadMs: 61_234, promptTokens: 32, answerTokens: 8, firstTokenMs: 40_000, promptTokensPerSecond: 0.8, answerTokensPerSecond: 0.123 },
    { backend: 'cpu', model: 'SmolLM2', loadMs: 1_500, promptTokens: 32, answerTokens: 8, firstTokenMs: 3_200, promptTokensPerSecond: 10, answerTokensPerSecond: 6.5 },
  ],
  verdict: { model: 'smollm2', webgpuSeconds: 840, cpuSeconds: 35.4 },
};

test('a row reads backend, model, load s, prompt and generation tokens/s, first token ms', () => {
  assert.deepEqual(rowCells(RESULT.rows[0]), ['WebGPU', 'SmolLM2', '61.2', '0.8', '0.12', '40000']);
  assert.deepEqual(rowCells({ backend: 'webgpu', model: null, error: 'no adapter' }), ['WebGPU', '—', 'no adapter', '', '', '']);
});

test('a rate too small for its decimals keeps two significant digits, not a zero', () => {
  const slow = { backend: 'webgpu', model: 'SmolLM2', loadMs: 500, firstTokenMs: 51_957, promptTokensPerSecond: 0.0385, answerTokensPerSecond: 0.00312 };
  assert.deepEqual(rowCells(slow), ['WebGPU', 'SmolLM2', '0.5', '0.038', '0.0031', '51957']);
  assert.equal(rowCells({ ...slow, promptTokensPerSecond: 0 })[3], '0.0');
});

test('the adapter and its features in a line each', () => {
  assert.equal(adapterLine(SWIFTSHADER), 'google · swiftshader (software / fallback adapter)');
  assert.equal(adapterLine({ backend: 'cpu', adapter: null, fallbackReason: 'navigator.gpu is missing' }), 'none (navigator.gpu is missing)');
  assert.equal(featuresLine(SWIFTSHADER), 'shader-f16 no, subgroups yes (4–4), fma rounds once no');
});

test('the copyable text is a Markdown table with the device lines and the verdict', () => {
  const text = benchText(RESULT, ['Backend', 'Model', 'Load (s)', 'Prompt (tokens/s)', 'Generation (tokens/s)', 'First token (ms)']);
  const lines = text.split('\n');
  assert.equal(lines[0], 'Locus device test: 32-token prompt, 8 generated tokens');
  assert.equal(lines[3], 'CPU: 2 logical cores, 2 WASM thread(s), cross-origin isolated yes');
  assert.ok(lines.includes('| Backend | Model | Load (s) | Prompt (tokens/s) | Generation (tokens/s) | First token (ms) |'));
  assert.ok(lines.includes('| CPU | SmolLM2 | 1.5 | 10.0 | 6.50 | 3200 |'));
  assert.equal(lines.at(-1), verdictLine(RESULT.verdict));
  assert.match(lines.at(-1) ?? '', /CPU is 23\.7× faster here\.$/);
});
