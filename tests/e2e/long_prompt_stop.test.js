// @ts-check
/**
 * A long prompt on the CPU backend (WASM) is read in chunks, with a
 * "Reading N of M tokens" progress event after each: the Models tab answers
 * while it is read, and Stop ends it within one chunk (the next request
 * starts reading then, not after the whole prompt). Every wait is bounded by
 * the chunk time measured in the same run.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { abortRaw, hasEnded, launch, openExtensionPage, sendRaw, startRaw, waitForEvents } from './harness.js';
import { serveModels } from './model_server.js';

const MODEL = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
/** About 2,000 tokens of SmolLM2's vocabulary. */
const LONG = 'The river rises in the hills, turns east past the old mill and runs to the sea. '.repeat(110);

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;
/** @type {import('playwright-core').Page} */
let popup;

before(async () => {
  [browser, server] = await Promise.all([launch({ webgpu: false }), serveModels()]);
  popup = await openExtensionPage(browser, 'popup/popup.html');
  const download = await sendRaw(popup, { type: 'request', id: 'dl', kind: 'models.download', payload: { id: 'smollm2', url: server.url(MODEL), sha256: SHA256 } }, 120_000);
  assert.equal(download.at(-1).event, 'done', JSON.stringify(download.at(-1)));
  // Load the model now, so that loading is not in the timings below.
  const warm = await sendRaw(popup, chat('warm', 'Hi', 1), 180_000);
  assert.equal(warm.at(-1).event, 'done', JSON.stringify(warm.at(-1)));
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** @param {string} id @param {string} text @param {number} maxTokens */
function chat(id, text, maxTokens) {
  return { type: 'request', id, kind: 'chat', payload: { messages: [{ role: 'user', content: text }], maxTokens, fresh: true } };
}

const prefills = (/** @type {any[]} */ events) => events.filter((e) => e.event === 'progress' && e.stage === 'prefill');

test('Stop during a 2,000-token CPU prefill ends it within one chunk; the Models tab answers meanwhile', async () => {
  await startRaw(popup, chat('long', LONG, 8));
  // The first chunk: generous (speed not known yet); the second one measures a chunk.
  let events = await waitForEvents(popup, 'long', (e) => prefills(e).length >= 1 || hasEnded(e), 180_000);
  const first = prefills(events)[0];
  assert.ok(first, `no prefill progress: ${JSON.stringify(events.at(-1))}`);
  assert.ok(first.total >= 1800, `the prompt is ${first.total} tokens`);
  const chunk = first.done;
  assert.equal(first.message, `Reading ${chunk} of ${first.total.toLocaleString('en-US')} tokens`);
  events = await waitForEvents(popup, 'long', (e) => prefills(e).length >= 2 || hasEnded(e), 180_000);
  const chunkMs = prefills(events)[1].at - first.at;
  console.log(`one ${chunk}-token chunk: ${chunkMs} ms (${((chunk / chunkMs) * 1000).toFixed(1)} tokens/s)`);
  const bound = 2 * chunkMs + 2_000;

  // The Models tab is answered between chunks.
  const asked = Date.now();
  const list = await sendRaw(popup, { type: 'request', id: 'list', kind: 'models.list', payload: {} }, bound);
  const listMs = Date.now() - asked;
  assert.equal(list.at(-1).event, 'done', JSON.stringify(list.at(-1)));
  console.log(`models.list answered in ${listMs} ms during the prefill`);
  assert.ok(listMs < bound, `models.list took ${listMs} ms (bound ${bound})`);

  // Stop; the runtime lets go of the model within one chunk: the next
  // request is reading its prompt by then.
  const stopped = await abortRaw(popup, 'long');
  await startRaw(popup, chat('next', 'Name a colour.', 4));
  const next = await waitForEvents(popup, 'next', (e) => e.some((x) => x.stage === 'prompt') || hasEnded(e), bound);
  const reading = next.find((e) => e.stage === 'prompt');
  assert.ok(reading, JSON.stringify(next));
  const waitedMs = reading.at - stopped;
  console.log(`after Stop the next request was reading after ${waitedMs} ms (one chunk: ${chunkMs} ms)`);
  assert.ok(waitedMs < chunkMs + 1_500, `the stopped prefill held the model ${waitedMs} ms`);
  const long = await waitForEvents(popup, 'long', hasEnded, bound);
  assert.equal(long.at(-1).code, 'aborted');
  assert.ok(prefills(long).length < first.total / chunk - 1, 'the prompt was not read to its end');
  const done = await waitForEvents(popup, 'next', hasEnded, 60_000);
  assert.equal(done.at(-1).event, 'done', JSON.stringify(done.at(-1)));
});
