// @ts-check
/**
 * The real model in the real extension: download SmolLM2 from a local server
 * into the OPFS store (SHA-256 checked, header validated), then summarise a
 * paragraph with it; the reply streams as token events.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, sendRaw } from './harness.js';
import { serveModels } from './model_server.js';

const MODEL = 'SmolLM2-135M-Instruct.Q4_1.gguf';
/** The file's SHA-256 (as `xtask/src/models.rs` checks it when fetching). */
const SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;
before(async () => {
  [browser, server] = await Promise.all([launch({ webgpu: false }), serveModels()]);
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test('download SmolLM2 into the store, then summarise with it', async () => {
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  const download = await sendRaw(
    popup,
    { type: 'request', id: 'dl', kind: 'models.download', payload: { id: 'smollm2-135m', url: server.url(MODEL), sha256: SHA256 } },
    120_000,
  );
  const done = download.at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
  assert.equal(done.result.status, 'ready');
  assert.equal(done.result.size, 98_362_432);
  const progress = download.filter((e) => e.event === 'progress').map((e) => e.done);
  assert.ok(progress.length >= 2, 'progress events while downloading');
  assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress only grows');

  const text =
    'After decades of decline, overnight trains are running again across much of Europe. Operators have restored routes ' +
    'that were abandoned when cheap flights made a twelve-hour rail journey look old-fashioned. Today the same journey appeals ' +
    'to travellers who want to avoid airports, arrive rested in a city centre, and cut the carbon cost of their trip.';
  const events = await sendRaw(
    popup,
    { type: 'request', id: 'sum', kind: 'summarize', payload: { text, type: 'tldr', length: 'short', format: 'plain-text' } },
    300_000,
  );
  const last = events.at(-1);
  assert.equal(last.event, 'done', JSON.stringify(last));
  const tokens = events.filter((e) => e.event === 'token');
  // A summary streams by whole sentences (src/tasks/shape.rs): a short TL;DR is one.
  assert.ok(tokens.length >= 1, `streamed ${tokens.length} token events`);
  assert.equal(tokens.map((e) => e.text).join(''), last.result.text);
  assert.ok(last.result.text.trim().length > 0);
  assert.equal(last.result.model, 'smollm2-135m');
  console.log(`summary (${last.result.tokens} tokens, ${last.result.tokensPerSecond.toFixed(1)} tokens/s): ${last.result.text}`);
  await popup.close();
});
