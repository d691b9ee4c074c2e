// @ts-check
/**
 * On WebGPU (SwiftShader here) the chat and the page tools share the
 * decoder's one KV cache. A Summarise that arrives while a chat reply is
 * still streaming overwrites that cache once it runs, so the next chat turn
 * must not reuse the tokens the chat had cached: it reuses none and answers
 * exactly as a fresh prefill of the same conversation does.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hasEnded, launch, openExtensionPage, openPage, readPanel, sendRaw, startRaw, waitForEvents } from './harness.js';
import { invokeWith, selectNewText, waitForPanel } from './onpage_setup.js';
import { serveModels } from './model_server.js';

const MODEL = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
const PARAGRAPH =
  'The museum reopened after a long renovation of its east wing. Visitors can now see the restored ceiling paintings up close from a new gallery.';

/**
 * Not in the default run: on SwiftShader every step is minutes on the busy
 * 2-core machine. Measured 2026-12-06 (load average near 20): the load 33 s
 * with 102 progress events, turn 1's 31-token prompt 86-120 s, one group of
 * 8 decode steps up to 296 s. With the bounds below it passed in 37.5 min
 * (turn 2 reused 0 of 63 tokens and answered as the fresh prefill did), far
 * over what CI can give it. Run it with LOCUS_SLOW_E2E=1. The same interleaving is
 * checked on the CPU engine by `runtime::tests` (Rust).
 */
const SKIP = process.env.LOCUS_SLOW_E2E === '1' ? false : 'slow on SwiftShader; set LOCUS_SLOW_E2E=1';
/** Tokens per chat reply: one run-ahead group of the GPU decoder (8 greedy steps a submission). */
const MAX_TOKENS = 8;

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;
/** @type {import('playwright-core').Page} */
let popup;

before(async () => {
  if (SKIP) return;
  [browser, server] = await Promise.all([launch({ webgpu: true, backend: 'webgpu' }), serveModels()]);
  popup = await openExtensionPage(browser, 'popup/popup.html');
  // The model's load reports its progress, which keeps the router's
  // watchdog (300 s) quiet; one run-ahead group of decode steps on
  // SwiftShader is one silent submission that took 296 s on the loaded
  // machine, so the watchdog gets room for that here.
  await browser.sw.evaluate(() => /** @type {any} */ (globalThis).locus.router.setWatchdog(900_000));
  const download = await sendRaw(popup, { type: 'request', id: 'dl', kind: 'models.download', payload: { id: 'smollm2-135m', url: server.url(MODEL), sha256: SHA256 } }, 120_000);
  assert.equal(download.at(-1).event, 'done', JSON.stringify(download.at(-1)));
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** @param {string} id @param {{role:string, content:string}[]} messages @param {boolean} fresh */
function chat(id, messages, fresh) {
  return { type: 'request', id, kind: 'chat', payload: { messages, maxTokens: MAX_TOKENS, fresh } };
}

test('a Summarise during a streaming chat reply leaves the next turn no stale KV entries', { skip: SKIP }, async () => {
  const turn1 = [{ role: 'user', content: 'Write a short poem about the sea.' }];
  const started = await startRaw(popup, chat('turn1', turn1, true));
  // Nothing is known of this machine's speed yet: what bounds this wait is
  // the router's watchdog, which ends the request after 900 s without an
  // event (the load reports each step; the hour is only a backstop).
  const streaming = await waitForEvents(popup, 'turn1', (e) => e.some((x) => x.event === 'token') || hasEnded(e), 3_600_000);
  assert.ok(!hasEnded(streaming), `turn 1 ended before its reply streamed: ${JSON.stringify(streaming.at(-1))}`);
  const loaded = streaming.find((e) => e.stage === 'loaded');
  assert.equal(loaded?.model?.backend, 'webgpu', JSON.stringify(loaded));

  // The load onto the GPU reported its progress as the device worked,
  // rising to 100 % before the model was called loaded.
  const loading = streaming.filter((e) => e.stage === 'load' && typeof e.percent === 'number');
  const percents = loading.map((e) => e.percent);
  assert.ok(loading.length >= 3, `load progress: ${JSON.stringify(percents)}`);
  assert.deepEqual(percents, [...percents].sort((a, b) => a - b), 'progress never goes back');
  assert.equal(percents.at(-1), 100);
  assert.ok(loading.at(-1).at <= loaded.at);
  const gaps = streaming.slice(1).map((e, i) => ({ ms: e.at - streaming[i].at, after: streaming[i].stage ?? streaming[i].event }));
  const longest = gaps.reduce((a, b) => (b.ms > a.ms ? b : a));
  const firstToken = streaming.find((e) => e.event === 'token');
  console.log(
    `load: ${loading.length} progress events over ${((loaded.at - started) / 1000).toFixed(1)} s; first token after ${((firstToken.at - started) / 1000).toFixed(1)} s; ` +
      `longest silence ${(longest.ms / 1000).toFixed(1)} s after '${longest.after}'`,
  );

  // Summarise on a page while the reply is still being written.
  const { page, tabId } = await openPage(browser, 'onpage.html');
  await selectNewText(page, '#slot', PARAGRAPH);
  await invokeWith(browser, tabId, 'summarize', { type: 'headline', length: 'short', format: 'plain-text' });
  await waitForPanel(page, (p) => p.progress.some((e) => e.stage === 'runtime') || p.state !== 'running', 60_000);
  const arrived = await popup.evaluate(() => Date.now());
  // Turn 1's one decode group is one silent submission: the watchdog
  // (900 s) bounds it, the hour is a backstop.
  const first = await waitForEvents(popup, 'turn1', hasEnded, 3_600_000);
  const reply = first.at(-1);
  assert.equal(reply.event, 'done', JSON.stringify(reply));
  assert.ok(arrived < reply.at, 'the summary reached the runtime while the chat reply was streaming');
  // From here on turn 1's measured time (a short prompt and one group of
  // decode steps, after the load) bounds each wait: the headline is up to
  // 20 tokens (3 groups) after an 86-token prompt; turn 2 is one group.
  const turn = reply.at - loaded.at;
  const bound = (/** @type {number} */ turns) => 120_000 + turns * turn;
  console.log(`turn 1: prompt ${((firstToken.at - loaded.at) / 1000).toFixed(1)} s, whole turn ${(turn / 1000).toFixed(1)} s`);
  const summary = await waitForPanel(page, (p) => p.state !== 'running', bound(5));
  assert.equal(summary.state, 'done', summary.status);
  assert.equal(await readPanel(page).then((p) => p?.state), 'done');

  // The next turn: nothing of the chat's cache is left to reuse.
  const turn2 = [...turn1, { role: 'assistant', content: reply.result.text }, { role: 'user', content: 'Now give it a title.' }];
  const next = (await sendRaw(popup, chat('turn2', turn2, false), bound(3))).at(-1);
  assert.equal(next.event, 'done', JSON.stringify(next));
  const fresh = (await sendRaw(popup, chat('turn2-fresh', turn2, true), bound(3))).at(-1);
  assert.equal(fresh.event, 'done', JSON.stringify(fresh));
  console.log(`turn 2 reused ${next.result.reusedTokens} of ${next.result.contextTokens} tokens; text ${JSON.stringify(next.result.text)}`);
  assert.equal(next.result.reusedTokens, 0, 'no stale KV entries are reused');
  assert.equal(fresh.result.reusedTokens, 0);
  assert.equal(next.result.text, fresh.result.text, 'the turn answers as a fresh prefill does');
  await page.close();
});
