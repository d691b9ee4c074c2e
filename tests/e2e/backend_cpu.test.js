// @ts-check
/** Without --enable-unsafe-webgpu Chromium offers no adapter: the runtime must say so and run on the CPU. */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, sendRaw } from './harness.js';

/** @type {import('./harness.js').Browser} */
let browser;
before(async () => {
  browser = await launch({ webgpu: false });
});
after(async () => browser?.close());

test('without WebGPU the runtime reports the CPU fallback with its reason', async () => {
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  const events = await sendRaw(popup, { type: 'request', id: 'report-cpu', kind: 'report', payload: {} });
  const done = events.at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
  assert.equal(done.result.backend, 'cpu');
  assert.equal(done.result.api, 'CPU');
  assert.equal(done.result.adapter, null);
  assert.match(done.result.fallbackReason, /adapter|WebGPU/);
  const progress = events.find((e) => e.event === 'progress');
  assert.match(progress.message, /^CPU \(no WebGPU adapter: .+\)$/);
  await popup.locator('#backend[data-state="cpu"]').waitFor({ timeout: 30_000 });
  assert.match(await popup.locator('#backend').innerText(), /^CPU \(no WebGPU adapter/);
  await popup.close();
});
