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
 * Not in the default run yet: starting the runtime and loading the fast plan
 * onto SwiftShader took over 5 minutes on the busy 2-core machine, and the
 * test has not yet been seen to finish there. The same interleaving is
 * checked on the CPU engine by `runtime::tests` (Rust). Run it with
 * LOCUS_SLOW_E2E=1.
 */
const SKIP = process.env.LOCUS_SLOW_E2E === '1' ? false : 'slow on SwiftShader; set LOCUS_SLOW_E2E=1';

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
  // Starting the runtime (GPU self-test) and loading the model onto
  // SwiftShader are silent steps that took over 300 s on the busy 2-core
  // test machine: give the router's watchdog room for them here.
  await browser.sw.evaluate(() => /** @type {any} */ (globalThis).locus.router.setWatchdog(1_200_000));
  const download = await sendRaw(popup, { type: 'request', id: 'dl', kind: 'models.download', payload: { id: 'smollm2-135m', url: server.url(MODEL), sha256: SHA256 } }, 120_000);
  assert.equal(download.at(-1).event, 'done', JSON.stringify(download.at(-1)));
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** @param {string} id @param {{role:string, content:string}[]} messages @param {boolean} fresh */
function chat(id, messages, fresh) {
  return { type: 'request', id, kind: 'chat', payload: { messages, maxTokens: 24, fresh } };
}

test('a Summarise during a streaming chat reply leaves the next turn no stale KV entries', { skip: SKIP }, async () => {
  const turn1 = [{ role: 'user', content: 'Write a short poem about the sea.' }];
  await startRaw(popup, chat('turn1', turn1, true));
  const streaming = await waitForEvents(popup, 'turn1', (e) => e.some((x) => x.event === 'token') || hasEnded(e), 600_000);
  assert.ok(!hasEnded(streaming), `turn 1 ended before its reply streamed: ${JSON.stringify(streaming.at(-1))}`);
  const loaded = streaming.find((e) => e.stage === 'loaded')?.model;
  assert.equal(loaded?.backend, 'webgpu', JSON.stringify(loaded));

  // Summarise on a page while the reply is still being written.
  const { page, tabId } = await openPage(browser, 'onpage.html');
  await selectNewText(page, '#slot', PARAGRAPH);
  await invokeWith(browser, tabId, 'summarize', { type: 'headline', length: 'short', format: 'plain-text' });
  await waitForPanel(page, (p) => p.progress.some((e) => e.stage === 'runtime') || p.state !== 'running', 60_000);
  const arrived = await popup.evaluate(() => Date.now());
  const first = await waitForEvents(popup, 'turn1', hasEnded, 600_000);
  const reply = first.at(-1);
  assert.equal(reply.event, 'done', JSON.stringify(reply));
  assert.ok(arrived < reply.at, 'the summary reached the runtime while the chat reply was streaming');
  const summary = await waitForPanel(page, (p) => p.state !== 'running', 600_000);
  assert.equal(summary.state, 'done', summary.status);
  assert.equal(await readPanel(page).then((p) => p?.state), 'done');

  // The next turn: nothing of the chat's cache is left to reuse.
  const turn2 = [...turn1, { role: 'assistant', content: reply.result.text }, { role: 'user', content: 'Now give it a title.' }];
  const next = (await sendRaw(popup, chat('turn2', turn2, false), 600_000)).at(-1);
  assert.equal(next.event, 'done', JSON.stringify(next));
  const fresh = (await sendRaw(popup, chat('turn2-fresh', turn2, true), 600_000)).at(-1);
  assert.equal(fresh.event, 'done', JSON.stringify(fresh));
  console.log(`turn 2 reused ${next.result.reusedTokens} of ${next.result.contextTokens} tokens; text ${JSON.stringify(next.result.text)}`);
  assert.equal(next.result.reusedTokens, 0, 'no stale KV entries are reused');
  assert.equal(fresh.result.reusedTokens, 0);
  assert.equal(next.result.text, fresh.result.text, 'the turn answers as a fresh prefill does');
  await page.close();
});
