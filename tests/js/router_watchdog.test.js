// @ts-check
/**
 * The service worker's router never lets a request wait forever: a request
 * the runtime stays silent on for the watchdog's time ends with
 * `runtime_lost` (and is aborted in the runtime); one that keeps sending
 * events is left alone; `chat.watch`, silent by design, is exempt.
 * Ports are plain objects with the `chrome.runtime.Port` surface the router uses.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';

const EXTENSION = 'locus-test';
Object.assign(globalThis, { chrome: { runtime: { getURL: (/** @type {string} */ p) => `chrome-extension://${EXTENSION}/${p}` } } });
const { Router } = await import('../../extension/router.js');
const { PORTS } = await import('../../extension/protocol.js');

/** A fake port: records what is posted to it; `emit` delivers a message to its listeners. @param {string} name @param {string} url */
function fakePort(name, url) {
  /** @type {((m: any) => void)[]} */
  const listeners = [];
  return {
    name,
    sender: { id: EXTENSION, url },
    /** @type {any[]} */
    posted: [],
    postMessage(/** @type {any} */ m) {
      this.posted.push(m);
    },
    disconnect() {},
    onMessage: { addListener: (/** @type {(m: any) => void} */ f) => listeners.push(f) },
    onDisconnect: { addListener() {} },
    emit: (/** @type {any} */ m) => listeners.forEach((f) => f(m)),
  };
}

function setUp(watchdogMs = 60) {
  const router = new Router(EXTENSION, { watchdogMs });
  const runtime = fakePort(PORTS.RUNTIME, `chrome-extension://${EXTENSION}/extension/offscreen.html`);
  const client = fakePort(PORTS.CLIENT, `chrome-extension://${EXTENSION}/popup/popup.html`);
  router.accept(/** @type {any} */ (runtime));
  router.accept(/** @type {any} */ (client));
  return { router, runtime, client };
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

test('a request the runtime is silent on ends with runtime_lost and is aborted in the runtime', async () => {
  const { runtime, client } = setUp();
  client.emit({ type: 'request', id: 'r1', kind: 'summarize', payload: { text: 'x' } });
  await sleep(20);
  assert.equal(runtime.posted.length, 1);
  await sleep(120);
  const last = client.posted.at(-1);
  assert.equal(last?.event, 'error', JSON.stringify(client.posted));
  assert.equal(last.code, 'runtime_lost');
  assert.deepEqual(runtime.posted.at(-1), { type: 'abort', id: 'r1' });
  // Late events of the ended request go nowhere.
  runtime.emit({ type: 'event', id: 'r1', event: 'done', result: {} });
  assert.equal(client.posted.filter((e) => e.id === 'r1').length, 1);
});

test('a request that keeps sending events is not cut off, and chat.watch may stay silent', async () => {
  const { runtime, client } = setUp();
  client.emit({ type: 'request', id: 'r2', kind: 'chat', payload: { messages: [] } });
  client.emit({ type: 'request', id: 'w', kind: 'chat.watch', payload: {} });
  for (let i = 0; i < 6; i++) {
    await sleep(30);
    runtime.emit({ type: 'event', id: 'r2', event: 'progress', stage: 'prefill', message: '' });
  }
  runtime.emit({ type: 'event', id: 'r2', event: 'done', result: {} });
  await sleep(120);
  assert.deepEqual(
    client.posted.map((e) => e.event),
    ['progress', 'progress', 'progress', 'progress', 'progress', 'progress', 'done'],
  );
  assert.ok(!runtime.posted.some((m) => m.type === 'abort'));
});
