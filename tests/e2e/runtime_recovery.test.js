// @ts-check
/**
 * The runtime never wedges (CPU backend, real SmolLM2):
 * - a real WASM panic mid-request (a debug-only message from the service
 *   worker) ends that request with `runtime_lost`, and the next request runs
 *   on a fresh runtime worker;
 * - so does a runtime worker terminated mid-request, and one stuck in a call
 *   that never returns (it answers no ping: it is replaced);
 * - a request that comes while no worker runs (a restart's back-off)
 *   waits for the next one;
 * - a service worker stopped over CDP mid-request ends the request with an
 *   error or finishes it, once: it never hangs and never runs twice.
 * Waits are bounded by the prefill speed measured in the same run.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { hasEnded, launch, openExtensionPage, sendRaw, serviceWorkerOf, REPO_ROOT, startRaw, waitForEvents } from './harness.js';
import { serveModels } from './model_server.js';

const MODEL = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
/** About 250 tokens: a few prefill chunks (CPU prefill in WASM is slow on a busy machine). */
const LONG = 'The river rises in the hills, turns east past the old mill and runs to the sea. '.repeat(14);

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;
/** @type {import('playwright-core').Page} */
let popup;
/** Milliseconds a prefill chunk took, measured in the first test, and its tokens. */
let chunkMs = 60_000;
let chunk = 64;

before(async () => {
  [browser, server] = await Promise.all([launch({ webgpu: false }), serveModels()]);
  popup = await openExtensionPage(browser, 'popup/popup.html');
  const download = await sendRaw(popup, { type: 'request', id: 'dl', kind: 'models.download', payload: { id: 'smollm2', url: server.url(MODEL), sha256: SHA256 } }, 120_000);
  assert.equal(download.at(-1).event, 'done', JSON.stringify(download.at(-1)));
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

/** Runs a short request and expects it to finish. @param {string} id @param {number} timeoutMs */
async function expectWorking(id, timeoutMs) {
  const events = await sendRaw(popup, chat(id, 'Name a colour.', 4), timeoutMs);
  assert.equal(events.at(-1).event, 'done', JSON.stringify(events.at(-1)));
  assert.ok(events.at(-1).result.text.length > 0);
}

/** Starts the long request `id` and waits until it is mid-prefill. @param {string} id */
async function midPrefill(id) {
  await startRaw(popup, chat(id, LONG, 8));
  const events = await waitForEvents(popup, id, (e) => prefills(e).length >= 1 || hasEnded(e), 180_000 + 2 * chunkMs);
  assert.ok(prefills(events).length >= 1, JSON.stringify(events.at(-1)));
  return events;
}

/** A hung worker counts as stuck after this long in the test (three minutes in use). */
const STUCK_AFTER_MS = 5_000;

/** @param {'panic'|'terminate'|'hang'} how */
function crashRuntime(how) {
  return browser.sw.evaluate(
    ({ how, stuckAfterMs }) => chrome.runtime.sendMessage({ type: 'locus.runtime.crashForTest', how, stuckAfterMs }).catch(() => {}),
    { how, stuckAfterMs: STUCK_AFTER_MS },
  );
}

for (const how of /** @type {const} */ (['panic', 'terminate', 'hang'])) {
  test(`a runtime worker lost to a ${how} mid-request ends that request with runtime_lost; the next one runs`, async () => {
    const events = await midPrefill(`victim-${how}`);
    const first = prefills(events)[0];
    if (how === 'panic') {
      // Measure a chunk for the bounds below (and the other tests).
      const second = await waitForEvents(popup, `victim-${how}`, (e) => prefills(e).length >= 2 || hasEnded(e), 180_000);
      if (prefills(second).length >= 2) chunkMs = prefills(second)[1].at - first.at;
      chunk = first.done;
      console.log(`one ${chunk}-token chunk: ${chunkMs} ms`);
    }
    const crashed = Date.now();
    await crashRuntime(how);
    // The panic (or hang) is seen at the worker's next turn of its event
    // loop, between chunks; a hang is declared after STUCK_AFTER_MS more.
    const ended = await waitForEvents(popup, `victim-${how}`, hasEnded, 2 * chunkMs + 5_000 + (how === 'hang' ? 2 * STUCK_AFTER_MS : 0));
    const last = ended.at(-1);
    assert.equal(last.event, 'error', JSON.stringify(last));
    assert.equal(last.code, 'runtime_lost', JSON.stringify(last));
    if (how === 'hang') assert.match(last.message, /stopped answering for 5 s/);
    console.log(`${how}: the request ended after ${Date.now() - crashed} ms: ${last.message}`);
    // A fresh worker loads WASM and the model again.
    await expectWorking(`after-${how}`, 180_000);
  });
}

test('a request sent while the runtime restarts (within its back-off) waits for the new worker instead of failing', async () => {
  await expectWorking('before-twice', 180_000);
  // Two losses in a row: the second worker dies within the back-off, so no
  // worker runs for two seconds, and the request comes in that gap.
  await crashRuntime('terminate');
  await crashRuntime('terminate');
  await expectWorking('in-the-gap', 180_000);
});

test('a service worker stopped mid-request: the request ends once (error or done), never hangs, never runs twice', async () => {
  await expectWorking('before-stop', 180_000);
  // The popup's own client (it re-sends a request that had no output yet).
  await popup.evaluate((msg) => {
    const w = /** @type {any} */ (window);
    w.stopEvents = [];
    return import('/extension/client.js').then(({ LocusClient }) => {
      new LocusClient().request(msg.kind, msg.payload, (/** @type {any} */ e) => w.stopEvents.push({ ...e, at: Date.now() }));
    });
  }, chat('unused', LONG, 8));
  const read = () => popup.evaluate(() => /** @type {any[]} */ (/** @type {any} */ (window).stopEvents));
  const deadline = Date.now() + 180_000;
  while (!prefills(await read()).length && !hasEnded(await read())) {
    assert.ok(Date.now() < deadline, 'no prefill progress');
    await new Promise((r) => setTimeout(r, 50));
  }
  const cdp = await browser.context.newCDPSession(popup);
  await cdp.send('ServiceWorker.enable');
  await cdp.send('ServiceWorker.stopAllWorkers');
  const stoppedAt = Date.now();
  // Bounded: the prompt's remaining chunks twice over, plus starting again.
  const bound = (Math.ceil(250 / chunk) + 1) * chunkMs * 2 + 30_000;
  let events = await read();
  while (!hasEnded(events)) {
    assert.ok(Date.now() - stoppedAt < bound, `hung: ${JSON.stringify(events.slice(-3))}`);
    await new Promise((r) => setTimeout(r, 100));
    events = await read();
  }
  // Nothing comes after the final event.
  await new Promise((r) => setTimeout(r, Math.min(chunkMs * 2, 20_000)));
  events = await read();
  const finals = events.filter((e) => e.event === 'done' || e.event === 'error');
  assert.equal(finals.length, 1, JSON.stringify(finals));
  assert.ok(hasEnded([events.at(-1)]), 'the final event is the last');
  const after = events.filter((e) => e.at > stoppedAt);
  const reads = prefills(after).map((e) => e.done);
  // Run twice, the prefill would start over (its counts would go back).
  assert.deepEqual(reads, [...reads].sort((a, b) => a - b), `prefill restarted: ${reads}`);
  console.log(`after the service worker stopped: ${finals[0].event}${finals[0].code ? ` (${finals[0].code}: ${finals[0].message})` : ''} after ${finals[0].at - stoppedAt} ms`);
  await cdp.detach();
  // The extension works again (a new service worker).
  browser.sw = await serviceWorkerOf(browser.context, REPO_ROOT);
  await expectWorking('after-stop', 180_000);
});
