// @ts-check
/**
 * The model manager against a local server that serves the real model files
 * and misbehaves on demand (`model_server.js`): progress and SHA-256, resume
 * after a cut, a server that ignores Range, a corrupt file, cancel and a
 * closed offscreen document, delete, import, and the Models tab itself.
 * Every request of every extension context is recorded through the DevTools
 * protocol (`netlog.js`), so the test also checks that nothing but the model
 * URLs the test asked for was ever requested.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT, launch, openExtensionPage, sendRaw } from './harness.js';
import { serveModels } from './model_server.js';
import { freePort, recordNetwork } from './netlog.js';

const MODEL = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const SIZE = 98_362_432;
const SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
const LID = 'lid.176.ftz';
const LID_SIZE = 938_013;
const LID_SHA256 = '8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83';

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;
/** @type {import('playwright-core').Page} */
let popup;
/** @type {Awaited<ReturnType<typeof recordNetwork>>} */
let network;
let counter = 0;

before(async () => {
  server = await serveModels({ slowBytesPerSecond: 300_000 });
  const port = await freePort();
  browser = await launch({ webgpu: false, args: [`--remote-debugging-port=${port}`] });
  network = await recordNetwork(port);
  popup = await openExtensionPage(browser, 'popup/popup.html');
});
after(async () => {
  network?.close();
  await browser?.close();
  await server?.close();
});

/** @param {string} kind @param {object} payload @param {number} [timeoutMs] */
function ask(kind, payload, timeoutMs = 120_000) {
  return sendRaw(popup, { type: 'request', id: `t${counter++}`, kind, payload }, timeoutMs);
}

/** @param {string} kind @param {object} payload */
async function result(kind, payload) {
  const last = (await ask(kind, payload)).at(-1);
  assert.equal(last.event, 'done', JSON.stringify(last));
  return last.result;
}

/** @param {string} id */
async function modelInStore(id) {
  return (await result('models.list', {})).models.find((/** @type {any} */ m) => m.id === id);
}

const usage = () => popup.evaluate(async () => (await navigator.storage.estimate()).usage ?? 0);

/** Requests the server saw for one URL path. @param {string} file @param {string} mode */
const seen = (file, mode) => server.requests.filter((r) => r.path === `/${mode}/${file}`);

test('a download streams monotone progress to 100% and its SHA-256 matches', async () => {
  const started = Date.now();
  const events = await ask('models.download', { id: 'smollm2', url: server.url(MODEL), sha256: SHA256, size: SIZE });
  const seconds = (Date.now() - started) / 1000;
  const done = events.at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
  assert.equal(done.result.status, 'ready');
  assert.equal(done.result.sha256, SHA256);
  assert.equal(done.result.size, SIZE);
  const progress = events.filter((e) => e.event === 'progress');
  assert.ok(progress.length >= 3, `${progress.length} progress events`);
  const bytes = progress.map((e) => e.done);
  assert.deepEqual(bytes, [...bytes].sort((a, b) => a - b), 'progress only grows');
  assert.equal(progress.at(-1).done, SIZE, 'the last progress event is 100%');
  assert.ok(progress.every((e) => e.total === SIZE));
  console.log(`downloaded ${SIZE} bytes in ${seconds.toFixed(1)} s (${(SIZE / 1e6 / seconds).toFixed(0)} MB/s, ${progress.length} progress events)`);
});

test('deleting a model frees its space', async () => {
  const before = await usage();
  await result('models.delete', { id: 'smollm2' });
  const after = await usage();
  assert.equal(await modelInStore('smollm2'), undefined);
  console.log(`usage ${before} → ${after} bytes (freed ${before - after})`);
  assert.ok(before - after > SIZE * 0.95, `usage dropped by ${before - after}, expected about ${SIZE}`);
});

test('a connection cut at 40% resumes from where it stopped', async () => {
  const events = await ask('models.download', { id: 'cut', url: server.url(MODEL, 'cut'), sha256: SHA256 });
  assert.equal(events.at(-1).event, 'done', JSON.stringify(events.at(-1)));
  assert.equal(events.at(-1).result.sha256, SHA256);
  const [first, second, ...rest] = seen(MODEL, 'cut');
  assert.equal(rest.length, 0, 'two requests');
  assert.equal(first.range, undefined);
  assert.ok(first.sent >= SIZE * 0.39 && first.sent < SIZE * 0.41, `cut after ${first.sent}`);
  assert.equal(second.status, 206);
  assert.equal(second.range, `bytes=${second.start}-`);
  assert.ok(second.start > SIZE * 0.35 && second.start <= first.sent, `resumed at ${second.start} of ${first.sent} sent`);
  console.log(`cut after ${first.sent} bytes; resumed with Range: bytes=${second.start}- and fetched ${second.sent} more`);
  await result('models.delete', { id: 'cut' });
});

test('a server that ignores Range makes the download start over cleanly', async () => {
  const events = await ask('models.download', { id: 'norange', url: server.url(MODEL, 'cutnorange'), sha256: SHA256 });
  assert.equal(events.at(-1).event, 'done', JSON.stringify(events.at(-1)));
  assert.equal(events.at(-1).result.sha256, SHA256);
  const [, second] = seen(MODEL, 'cutnorange');
  assert.match(second.range ?? '', /^bytes=\d+-$/);
  assert.equal(second.status, 200, 'the server answered the Range request with the whole file');
  assert.equal(second.sent, SIZE);
  assert.ok(events.some((e) => e.stage === 'restart'), 'the restart is reported');
  await result('models.delete', { id: 'norange' });
});

test('a corrupt file is rejected and never marked ready', async () => {
  const last = (await ask('models.download', { id: 'corrupt', url: server.url(MODEL, 'corrupt'), sha256: SHA256 })).at(-1);
  assert.equal(last.event, 'error');
  assert.equal(last.code, 'bad_model');
  assert.match(last.message, /corrupt.*SHA-256/);
  const model = await modelInStore('corrupt');
  assert.equal(model.status, 'failed');
  assert.equal(model.bytes, 0, 'nothing of it is kept');
  await result('models.delete', { id: 'corrupt' });
});

test('cancel pauses, a closed offscreen document pauses, and the download resumes from disk', async () => {
  const url = server.url(LID, 'slow');
  const bytesOnDisk = async () => (await modelInStore('lid'))?.bytes ?? 0;
  const waitFor = async (/** @type {() => Promise<boolean>} */ check) => {
    for (const deadline = Date.now() + 20_000; !(await check()); ) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const first = ask('models.download', { id: 'lid', url, sha256: LID_SHA256 });
  await waitFor(async () => (await bytesOnDisk()) > 100_000);
  await result('models.cancel', { id: 'lid' });
  assert.equal((await first).at(-1).code, 'aborted');
  const paused = await modelInStore('lid');
  assert.equal(paused.status, 'paused');
  const pausedAt = paused.bytes;

  const second = ask('models.download', { id: 'lid' }); // resumes with what the manifest knows
  await waitFor(async () => (await bytesOnDisk()) > pausedAt + 100_000);
  await browser.sw.evaluate(() => chrome.offscreen.closeDocument());
  assert.equal((await second).at(-1).code, 'runtime_lost');
  const interrupted = await modelInStore('lid'); // a new offscreen document answers
  assert.equal(interrupted.status, 'paused');

  const done = (await ask('models.download', { id: 'lid' })).at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
  assert.equal(done.result.sha256, LID_SHA256);
  assert.equal(done.result.size, LID_SIZE);
  assert.equal(done.result.kind, 'fasttext');
  const starts = seen(LID, 'slow').map((r) => r.start);
  assert.equal(starts[0], 0);
  assert.ok(starts.length >= 3 && starts.slice(1).every((s) => s > 0), `every later request resumed: ${starts}`);
  console.log(`lid.176.ftz: paused at ${pausedAt}, requests started at ${starts.join(', ')}`);
});

test('the Models tab: add by URL with a progress bar, status, default per task, import and refusal', async () => {
  const page = await openExtensionPage(browser, 'popup/popup.html');
  await page.click('#tab-models');
  await page.waitForSelector('#catalog li[data-id="smollm2-135m-instruct-q4_1"]');
  assert.ok((await page.locator('#catalog li').count()) >= 3, 'the catalog is listed');
  await page.fill('#add-url input[name=url]', server.url(LID, 'slow').replace(LID, 'lid-copy.ftz'));
  // The server has no lid-copy.ftz: the failure is shown with its reason.
  await page.click('#add-url button[type=submit]');
  await page.waitForSelector('#models-status.error');
  assert.match(await page.textContent('#models-status') ?? '', /404/);

  await page.fill('#add-url input[name=url]', server.url(MODEL, 'slow'));
  await page.click('#add-url button[type=submit]');
  const bar = page.locator(`#installed li[data-id="smollm2-135m-instruct.q4_1"] progress`);
  await page.waitForFunction(() => /\/s/.test(document.querySelector('#installed .progress-text')?.textContent ?? ''));
  assert.match((await bar.getAttribute('aria-valuetext')) ?? '', /%.*of.*\/s.*left/);
  assert.ok(Number(await bar.getAttribute('aria-valuenow')) >= 0);
  assert.ok(await bar.getAttribute('aria-label'));
  await page.click(`#installed li[data-id="smollm2-135m-instruct.q4_1"] .actions button:text("Pause")`);
  await page.waitForSelector(`#installed li[data-id="smollm2-135m-instruct.q4_1"][data-status="paused"]`);
  await page.click(`#installed li[data-id="smollm2-135m-instruct.q4_1"] .actions button.danger`);
  await page.click(`#installed li[data-id="smollm2-135m-instruct.q4_1"] .actions button.danger`);
  await page.waitForSelector(`#installed li[data-id="smollm2-135m-instruct.q4_1"]`, { state: 'detached' });

  // Import a real GGUF file through the file picker; the file streams into OPFS.
  await page.setInputFiles('#import-file', path.join(REPO_ROOT, 'models', MODEL));
  await page.waitForFunction(() => /Imported/.test(document.querySelector('#models-status')?.textContent ?? ''), null, { timeout: 60_000 });
  const imported = await modelInStore('smollm2-135m-instruct.q4_1');
  assert.equal(imported.status, 'ready');
  assert.equal(imported.source, 'file');
  assert.equal(imported.size, SIZE);

  // Default for chat: saved in the settings.
  const item = `#installed li[data-id="smollm2-135m-instruct.q4_1"]`;
  await page.waitForSelector(`${item} fieldset.defaults`);
  await page.locator(`${item} fieldset.defaults input`).nth(2).check();
  await page.waitForFunction(async () => (await chrome.storage.sync.get('settings')).settings?.defaultModels?.chat === 'smollm2-135m-instruct.q4_1');

  // A file that is not a model is refused with a clear message, and not kept.
  const dir = await mkdtemp(path.join(tmpdir(), 'locus-import-'));
  const notes = path.join(dir, 'notes.gguf');
  await writeFile(notes, 'These are my notes, not a model.\n'.repeat(100));
  await page.setInputFiles('#import-file', notes);
  await page.waitForSelector('#models-status.error');
  assert.match((await page.textContent('#models-status')) ?? '', /notes\.gguf was not imported: this is not a model Locus can run/);
  assert.equal(await modelInStore('notes'), undefined);
  await page.close();
});

test('the extension requested nothing but the model URLs it was given', () => {
  const ours = `chrome-extension://${browser.extensionId}/`;
  const fromExtension = network.requests.filter((r) => r.target.startsWith(ours));
  const web = fromExtension.filter((r) => !r.url.startsWith(ours));
  assert.ok(web.length >= 8, `the recorder saw the downloads: ${JSON.stringify(web)}`);
  assert.ok(web.every((r) => r.targetType === 'worker'), 'downloads come from the runtime worker');
  const asked = new Set(server.requests.map((r) => server.url(path.basename(r.path), r.mode === 'plain' ? undefined : r.mode)));
  const unexpected = web.filter((r) => !asked.has(r.url));
  assert.deepEqual(unexpected, [], 'no request but to model URLs');
  const others = network.requests.filter((r) => !r.target.startsWith(ours) && /^https?:/.test(r.url));
  assert.deepEqual(others, [], 'no other context requested anything either');
  const hosts = new Set(web.map((r) => new URL(r.url).host));
  console.log(`${web.length} requests from the extension, to ${[...hosts].join(', ')}; all to model URLs`);
});
