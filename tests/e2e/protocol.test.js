// @ts-check
/**
 * The protocol's defences in the real browser: malformed messages, another
 * extension, a web page and a content script asking for too much. After all
 * of it a valid request still succeeds.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { REPO_ROOT, launch, openExtensionPage, openPage, sendRaw, serviceWorkerOf } from './harness.js';

const FOREIGN = path.join(REPO_ROOT, 'tests/fixtures/foreign-extension');
/** @type {import('./harness.js').Browser} */
let browser;
before(async () => {
  browser = await launch({ extraExtensions: [FOREIGN] });
});
after(async () => browser?.close());

test('malformed messages get error codes and the next valid request succeeds', async () => {
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  /** @type {[any, string][]} */
  const cases = [
    [null, 'bad_message'],
    [[1, 2, 3], 'bad_message'],
    [{ type: 'request', kind: 'report' }, 'bad_message'], // no id
    [{ type: 'request', id: 'x'.repeat(500), kind: 'report' }, 'bad_message'],
    [{ type: 'surprise', id: 'm1' }, 'bad_message'],
    [{ type: 'request', id: 'm2', kind: 'format_disk', payload: {} }, 'unknown_kind'],
    [{ type: 'request', id: 'm3', kind: 'report', payload: 'nope' }, 'bad_message'],
    // These pass the service worker's envelope check; the Rust runtime rejects the payload.
    [{ type: 'request', id: 'm4', kind: 'detect', payload: {} }, 'bad_message'],
    [{ type: 'request', id: 'm5', kind: 'summarize', payload: { text: 'hi', type: 'haiku' } }, 'bad_message'],
    [{ type: 'request', id: 'm6', kind: 'report', payload: { extra: true } }, 'bad_message'],
  ];
  for (const [message, code] of cases) {
    const events = await sendRaw(popup, message);
    const last = events.at(-1);
    assert.equal(last.event, 'error', `${JSON.stringify(message)} → ${JSON.stringify(events)}`);
    assert.equal(last.code, code, `${JSON.stringify(message)} → ${JSON.stringify(last)}`);
  }
  const ok = await sendRaw(popup, { type: 'request', id: 'valid-after', kind: 'report', payload: {} });
  assert.equal(ok.at(-1).event, 'done', JSON.stringify(ok.at(-1)));
  await popup.close();
});

test('another extension cannot reach Locus', async () => {
  const foreign = await serviceWorkerOf(browser.context, FOREIGN);
  const outcome = await foreign.evaluate(async (locusId) => {
    const viaMessage = await chrome.runtime
      .sendMessage(locusId, { type: 'request', id: 'evil', kind: 'chat', payload: { messages: [] } })
      .then((reply) => `answered ${JSON.stringify(reply)}`, (error) => `rejected: ${error.message}`);
    const viaPort = await new Promise((resolve) => {
      const port = chrome.runtime.connect(locusId, { name: 'locus.client' });
      port.onMessage.addListener((event) => resolve(`event ${JSON.stringify(event)}`));
      port.onDisconnect.addListener(() => resolve(`disconnected: ${chrome.runtime.lastError?.message ?? ''}`));
      port.postMessage({ type: 'request', id: 'evil-2', kind: 'report', payload: {} });
    });
    return { viaMessage, viaPort };
  }, browser.extensionId);
  assert.match(outcome.viaMessage, /^rejected: /);
  assert.match(outcome.viaPort, /^disconnected: /);
});

test('a sender that is not Locus is refused with foreign_sender', async () => {
  const posted = await browser.sw.evaluate(() => {
    /** @type {any[]} */
    const out = [];
    const port = {
      name: 'locus.client',
      sender: { id: 'abcdefghijklmnopabcdefghijklmnop', url: 'chrome-extension://abcdefghijklmnopabcdefghijklmnop/x.html' },
      postMessage: (/** @type {any} */ m) => out.push(m),
      disconnect: () => out.push('disconnected'),
      onMessage: { addListener: () => out.push('listened') },
      onDisconnect: { addListener: () => {} },
    };
    globalThis.locus.router.accept(port);
    return out;
  });
  assert.equal(posted[0].code, 'foreign_sender');
  assert.equal(posted[1], 'disconnected');
  assert.ok(!posted.includes('listened'), 'no listener is attached for a foreign port');
});

test('a content script may not ask for chat', async () => {
  const posted = await browser.sw.evaluate(async () => {
    /** @type {any[]} */
    const out = [];
    /** @type {(m: any) => void} */
    let deliver = () => {};
    const port = {
      name: 'locus.client',
      sender: { id: chrome.runtime.id, url: 'http://127.0.0.1/page.html', tab: { id: 1 } },
      postMessage: (/** @type {any} */ m) => out.push(m),
      disconnect: () => {},
      onMessage: { addListener: (/** @type {any} */ f) => (deliver = f) },
      onDisconnect: { addListener: () => {} },
    };
    globalThis.locus.router.accept(port);
    deliver({ type: 'request', id: 'page-chat', kind: 'chat', payload: { messages: [] } });
    await new Promise((r) => setTimeout(r, 50));
    return out;
  });
  assert.equal(posted[0].code, 'forbidden');
});

test('a web page has no way to message the extension', async () => {
  const { page } = await openPage(browser, 'article.html');
  assert.equal(await page.evaluate(() => typeof globalThis.chrome?.runtime?.connect), 'undefined');
  await page.close();
});
