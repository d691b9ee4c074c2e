// @ts-check
/**
 * Model identity in the store and the Models tab: ids are unique per source
 * (another URL with the same file name is another model, never a join or an
 * overwrite); a file without a known hash is shown unverified with the hash
 * recorded on its first download; a malformed URL gets a message; an import
 * cut short is cleaned up when the runtime starts; deleting the loaded model
 * unloads it.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, sendRaw } from './harness.js';
import { serveModels } from './model_server.js';

const LID = 'lid.176.ftz';
const LID_SHA256 = '8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83';
const MODEL = 'SmolLM2-135M-Instruct.Q4_1.gguf';

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;
/** @type {import('playwright-core').Page} */
let popup;
let counter = 0;

before(async () => {
  server = await serveModels();
  browser = await launch({ webgpu: false });
  popup = await openExtensionPage(browser, 'popup/popup.html');
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** @param {string} kind @param {object} payload @param {number} [ms] */
async function last(kind, payload, ms = 120_000) {
  return (await sendRaw(popup, { type: 'request', id: `i${counter++}`, kind, payload }, ms)).at(-1);
}
const list = async () => (await last('models.list', {})).result;

/** Polls until `check` holds. @param {() => Promise<boolean>} check @param {string} what @param {number} [ms] */
async function until(check, what, ms = 20_000) {
  for (const deadline = Date.now() + ms; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

test('the same file name from another URL is another model, in the store and in the Models tab', async () => {
  const first = await last('models.download', { id: 'same', url: server.url(LID) });
  assert.equal(first.event, 'done', JSON.stringify(first));
  const other = await last('models.download', { id: 'same', url: server.url(LID, 'cut') });
  assert.equal(other.event, 'error', 'another URL under the same id is refused');
  assert.match(other.message, /another model already has the id same/);
  const kept = (await list()).models.find((/** @type {any} */ m) => m.id === 'same');
  assert.equal(kept.url, server.url(LID), 'the first model is untouched');
  assert.equal(kept.status, 'ready');

  // The popup re-attaches to any model it sees downloading with a bare
  // `{id}` request. Such requests for a ready model, crossing lists and
  // another URL's request, must neither list it as downloading nor let the
  // other URL join them.
  const burst = await popup.evaluate(
    async ({ reattach, other }) => {
      const ask = (/** @type {string} */ id, /** @type {string} */ kind, /** @type {object} */ payload) =>
        new Promise((resolve) => {
          const port = chrome.runtime.connect({ name: 'locus.client' });
          port.onMessage.addListener((/** @type {any} */ event) => {
            if (event.event !== 'done' && event.event !== 'error') return;
            port.disconnect();
            resolve({ kind, url: /** @type {any} */ (payload).url, event });
          });
          port.postMessage({ type: 'request', id, kind, payload });
        });
      const asked = [];
      for (let i = 0; i < reattach; i++) {
        asked.push(ask(`burst-d${i}`, 'models.download', { id: 'same' }));
        asked.push(ask(`burst-l${i}`, 'models.list', {}));
        if (i % 4 === 1) asked.push(ask(`burst-o${i}`, 'models.download', { id: 'same', url: other }));
      }
      return Promise.all(asked);
    },
    { reattach: 12, other: server.url(LID, 'cut') },
  );
  for (const { kind, url, event } of /** @type {any[]} */ (burst)) {
    if (kind === 'models.list') {
      const listed = event.result.models.find((/** @type {any} */ m) => m.id === 'same');
      assert.equal(listed?.status, 'ready', `listed during re-attaches: ${JSON.stringify(listed)}`);
    } else if (url) {
      assert.equal(event.event, 'error', `another URL joined a re-attach: ${JSON.stringify(event)}`);
    } else {
      assert.equal(event.event, 'done', JSON.stringify(event));
      assert.equal(event.result.url, server.url(LID));
    }
  }
  await last('models.delete', { id: 'same' });

  const page = await openExtensionPage(browser, 'popup/popup.html');
  await page.click('#tab-models');
  for (const url of [server.url(LID), server.url(LID, 'cut')]) {
    await page.fill('#add-url input[name=url]', url);
    await page.click('#add-url button[type=submit]');
    await page.waitForFunction(() => /installed and checked/.test(document.querySelector('#models-status')?.textContent ?? ''), null, { timeout: 30_000 });
    await page.evaluate(() => ((/** @type {HTMLElement} */ (document.querySelector('#models-status'))).textContent = ''));
  }
  const installed = (await list()).models.filter((/** @type {any} */ m) => m.url?.endsWith(LID));
  assert.deepEqual(installed.map((/** @type {any} */ m) => m.url).sort(), [server.url(LID), server.url(LID, 'cut')].sort());
  const ids = installed.map((/** @type {any} */ m) => m.id);
  assert.equal(new Set(ids).size, 2, `two ids: ${ids}`);
  assert.ok(!ids.includes('lid.176'), 'the catalog entry keeps its own id');

  // Unverified (no hash was known), with the hash recorded on the first download shown.
  const item = page.locator(`#installed li[data-id="${ids[0]}"]`);
  await item.locator('.badge.unverified').waitFor({ timeout: 10_000 });
  assert.equal(await item.locator('code.sha256').textContent(), LID_SHA256);
  // Every catalog entry names its file's hash (extension/catalog.json), so none is marked.
  await page.locator('#catalog li[data-id="qwen2.5-1.5b-instruct-q4_k_m"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#catalog li .badge.unverified').count(), 0, 'a catalog entry is marked unverified');
  for (const id of ids) await last('models.delete', { id });
  await page.close();
});

test('a malformed URL gets a message instead of a silent exception', async () => {
  const page = await openExtensionPage(browser, 'popup/popup.html');
  await page.click('#tab-models');
  await page.fill('#add-url input[name=url]', 'not a url at all');
  await page.click('#add-url button[type=submit]');
  await page.waitForSelector('#models-status.error', { timeout: 5_000 });
  assert.match((await page.textContent('#models-status')) ?? '', /cannot be downloaded: not a URL/);
  // A stray % in the file name: it is kept as written, and the server's answer is shown.
  await page.fill('#add-url input[name=url]', server.url('bad%E0%A4%A.gguf'));
  await page.click('#add-url button[type=submit]');
  await page.waitForFunction(() => /404/.test(document.querySelector('#models-status')?.textContent ?? ''), null, { timeout: 10_000 });
  const failed = (await list()).models.find((/** @type {any} */ m) => m.url === server.url('bad%E0%A4%A.gguf'));
  assert.equal(failed?.status, 'failed');
  await last('models.delete', { id: failed.id });
  await page.close();
});

test('an import cut short is removed when the runtime starts', async () => {
  await popup.evaluate(async () => {
    const models = await (await navigator.storage.getDirectory()).getDirectoryHandle('models', { create: true });
    const dir = await models.getDirectoryHandle('half-imported', { create: true });
    for (const [name, text] of [['manifest.json', JSON.stringify({ id: 'half-imported', name: 'half', kind: 'gguf', status: 'importing', source: 'file' })], ['model.gguf', 'GGUF partial']]) {
      const writable = await (await dir.getFileHandle(name, { create: true })).createWritable();
      await writable.write(text);
      await writable.close();
    }
  });
  await browser.sw.evaluate(() => chrome.offscreen.closeDocument());
  const models = (await list()).models;
  assert.equal(models.find((/** @type {any} */ m) => m.id === 'half-imported'), undefined, JSON.stringify(models));
});

test('deleting the loaded model unloads it', async () => {
  const installed = await last('models.download', { id: 'smollm2', url: server.url(MODEL) });
  assert.equal(installed.event, 'done', JSON.stringify(installed));
  const sent = await last('chat.send', { text: 'Hi', model: 'smollm2', history: 'none' }, 10_000);
  assert.equal(sent.event, 'done', JSON.stringify(sent));
  await until(async () => (await list()).loaded === 'smollm2', 'the model to load', 120_000);
  await last('chat.stop', {});
  const deleted = await last('models.delete', { id: 'smollm2' });
  assert.equal(deleted.event, 'done', JSON.stringify(deleted));
  assert.equal(deleted.result.unloaded, true);
  assert.equal((await list()).loaded, null, 'nothing is loaded any more');
  const reply = await last('chat.send', { text: 'Still there?', history: 'none' }, 10_000);
  assert.equal(reply.event, 'done');
  await until(async () => {
    const state = (await sendRaw(popup, { type: 'request', id: `w${counter++}`, kind: 'chat.watch', payload: {} }, 1000)).find((e) => e.state)?.state;
    return state?.replying === false;
  }, 'the turn to end');
  assert.equal((await list()).loaded, null, 'the deleted model did not come back');
});
