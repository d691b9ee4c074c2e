// @ts-check
/**
 * Downloads against a server that behaves like a CDN (`model_server.js`):
 * a resume is checked against the bytes on disk, never trusted blindly; no
 * If-Range (so no CORS preflight) is sent; a body of unknown length is
 * refused unless its size is known; the final URL after a redirect to
 * another origin is recorded. Uses the small lid.176.ftz (938 kB).
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, sendRaw } from './harness.js';
import { serveModels } from './model_server.js';

const LID = 'lid.176.ftz';
const LID_SIZE = 938_013;
const LID_SHA256 = '8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83';

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

/** @param {string} kind @param {object} payload */
async function last(kind, payload) {
  return (await sendRaw(popup, { type: 'request', id: `d${counter++}`, kind, payload }, 60_000)).at(-1);
}

/** @param {string} mode */
const seen = (mode) => server.requests.filter((r) => r.path === `/${mode}/${LID}`);

test('a 206 that starts at byte 0 instead of where the disk ends rewrites the file', async () => {
  const done = await last('models.download', { id: 'range0', url: server.url(LID, 'range0') });
  assert.equal(done.event, 'done', JSON.stringify(done));
  assert.equal(done.result.sha256, LID_SHA256);
  assert.equal(done.result.size, LID_SIZE);
  const [first, second] = seen('range0');
  assert.ok(first.sent < LID_SIZE, 'the first answer was cut');
  assert.match(second.range ?? '', /^bytes=[1-9]\d*-$/, 'the second asked to resume');
  assert.equal(second.status, 206);
  assert.equal(second.start, 0, 'and got the file from its first byte');
  await last('models.delete', { id: 'range0' });
});

test('a file that changes between two ranges is fetched again from the start', async () => {
  const done = await last('models.download', { id: 'changing', url: server.url(LID, 'changing') });
  assert.equal(done.event, 'done', JSON.stringify(done));
  assert.equal(done.result.sha256, LID_SHA256, 'the new version, not a mix of two');
  const requests = seen('changing');
  assert.ok(requests.length >= 3, `cut, resume refused, refetch: ${JSON.stringify(requests)}`);
  assert.equal(requests.at(-1).range, undefined, 'the refetch asks for the whole file');
  await last('models.delete', { id: 'changing' });
});

test('resumes send Range only: no If-Range, so no CORS preflight', async () => {
  const done = await last('models.download', { id: 'cut', url: server.url(LID, 'cut'), sha256: LID_SHA256 });
  assert.equal(done.event, 'done', JSON.stringify(done));
  const modes = ['cut', 'changing', 'range0'];
  const ours = server.requests.filter((r) => modes.includes(r.mode));
  assert.ok(ours.some((r) => r.range), 'some requests resumed');
  assert.deepEqual(ours.filter((r) => r.ifRange !== undefined), [], 'no If-Range');
  assert.deepEqual(ours.filter((r) => r.method === 'OPTIONS'), [], 'no preflight');
  await last('models.delete', { id: 'cut' });
});

test('a redirect to another origin is followed and the final URL recorded', async () => {
  const done = await last('models.download', { id: 'redirected', url: server.url(LID, 'redirect') });
  assert.equal(done.event, 'done', JSON.stringify(done));
  assert.equal(done.result.sha256, LID_SHA256);
  assert.equal(done.result.url, server.url(LID, 'redirect'), 'the URL asked for is kept (for resumes)');
  assert.equal(done.result.finalUrl, server.otherUrl(LID), 'where the bytes came from');
  assert.ok(server.requests.some((r) => r.server === 'other' && r.method === 'GET' && r.status === 200));
  const listed = (await last('models.list', {})).result.models.find((/** @type {any} */ m) => m.id === 'redirected');
  assert.equal(listed.finalUrl, server.otherUrl(LID));
  await last('models.delete', { id: 'redirected' });
});

test('a body of unknown length is refused, unless the expected size bounds it', async () => {
  const refused = await last('models.download', { id: 'nolength', url: server.url(LID, 'nolength') });
  assert.equal(refused.event, 'error', JSON.stringify(refused));
  assert.equal(refused.code, 'download_failed');
  assert.match(refused.message, /does not say how large/);
  await last('models.delete', { id: 'nolength' });

  const bounded = await last('models.download', { id: 'nolength', url: server.url(LID, 'nolength'), size: LID_SIZE });
  assert.equal(bounded.event, 'done', JSON.stringify(bounded));
  assert.equal(bounded.result.sha256, LID_SHA256);
  await last('models.delete', { id: 'nolength' });

  const tooSmall = await last('models.download', { id: 'nolength', url: server.url(LID, 'nolength'), size: 1000 });
  assert.equal(tooSmall.event, 'error', JSON.stringify(tooSmall));
  assert.match(tooSmall.message, /more than the 1000 bytes/);
  const listed = (await last('models.list', {})).result.models.find((/** @type {any} */ m) => m.id === 'nolength');
  assert.equal(listed.bytes, 0, 'nothing of it is kept');
  await last('models.delete', { id: 'nolength' });
});
