// @ts-check
/**
 * The CPU fallback's speed in the browser: headless Chromium without WebGPU
 * (so the offscreen runtime runs on the CPU, in WASM), the real extension
 * from this checkout (its `pkg/`), SmolLM2 downloaded through the model
 * store, then `runs` fresh chat requests of the same prompt, each with an
 * empty cache. Prints prompt processing and decode tokens/s per run and
 * their medians. Not a test: a measurement (`node tests/wasm/bench_browser.mjs [runs]`).
 */

import { launch, openExtensionPage, sendRaw } from '../e2e/harness.js';
import { serveModels } from '../e2e/model_server.js';

const MODEL = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
const runs = Number(process.argv[2] ?? 3);
const PROMPT =
  'Night trains are coming back across Europe. Operators have restored routes that were abandoned when cheap flights ' +
  'made a twelve-hour rail journey look old-fashioned. Today the same journey appeals to travellers who want to avoid ' +
  'airports, arrive rested in a city centre, and cut the carbon cost of their trip. Write a long, detailed story about ' +
  'a family taking a night train from Vienna to Paris, with the names of every station, what they eat, and whom they meet.';

const median = (/** @type {number[]} */ v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const [browser, server] = await Promise.all([launch({ webgpu: false }), serveModels()]);
try {
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  const dl = (
    await sendRaw(popup, { type: 'request', id: 'dl', kind: 'models.download', payload: { id: 'smollm2', url: server.url(MODEL), sha256: SHA256 } }, 300_000)
  ).at(-1);
  if (dl.event !== 'done') throw new Error(JSON.stringify(dl));
  const pp = [];
  const tg = [];
  for (let i = 0; i < runs; i++) {
    const messages = [{ role: 'user', content: PROMPT }];
    const done = (
      await sendRaw(popup, { type: 'request', id: `bench-${i}`, kind: 'chat', payload: { messages, fresh: true, maxTokens: 64 } }, 600_000)
    ).at(-1);
    if (done.event !== 'done') throw new Error(JSON.stringify(done));
    const r = done.result;
    if (r.backend !== 'cpu' && !String(r.backend).toLowerCase().includes('cpu')) throw new Error(`backend ${r.backend}`);
    pp.push(r.promptTokensPerSecond);
    tg.push(r.tokensPerSecond);
    console.log(
      `run ${i + 1}: prompt ${r.promptTokens} tokens at ${r.promptTokensPerSecond.toFixed(1)} tokens/s, ` +
        `${r.tokens} generated at ${r.tokensPerSecond.toFixed(1)} tokens/s (backend ${r.backend})`,
    );
  }
  console.log(`median: prompt ${median(pp).toFixed(1)} tokens/s, decode ${median(tg).toFixed(1)} tokens/s`);
} finally {
  await browser.close();
  await server.close();
}
