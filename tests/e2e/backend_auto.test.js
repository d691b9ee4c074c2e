// @ts-check
/**
 * `auto` with only a software GPU (headless Chromium's SwiftShader): the
 * runtime runs on the CPU and says why, unless this device's benchmark
 * (cached in OPFS) measured the adapter faster; the CPU threads are up in
 * the cross-origin isolated runtime worker.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, sendRaw } from './harness.js';

/** @type {import('./harness.js').Browser} */
let browser;
before(async () => {
  browser = await launch({ webgpu: true });
});
after(async () => browser?.close());

/** @param {import('playwright-core').Page} page */
async function report(page) {
  const events = await sendRaw(page, { type: 'request', id: `report-${Date.now()}`, kind: 'report', payload: {} }, 120_000);
  const done = events.at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
  return { done, progress: events.find((e) => e.event === 'progress') };
}

/**
 * Writes this device's benchmark verdict as the bench page would and starts
 * a fresh runtime worker, which reads it.
 * @param {import('playwright-core').Page} page @param {object} verdict
 */
async function restartWithVerdict(page, verdict) {
  await page.evaluate(async (verdict) => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('device', { create: true });
    const writable = await (await dir.getFileHandle('bench.json', { create: true })).createWritable();
    await writable.write(JSON.stringify(verdict));
    await writable.close();
    await chrome.runtime.sendMessage({ type: 'locus.runtime.restart' });
  }, verdict);
  await new Promise((r) => setTimeout(r, 2_500)); // the offscreen document's restart back-off
}

test('with only SwiftShader, auto runs on the CPU and the indicator says why', async () => {
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  const { done, progress } = await report(popup);
  assert.equal(done.result.backend, 'cpu', JSON.stringify(done.result));
  const skipped = done.result.skippedAdapter;
  assert.ok(skipped, 'the passed-over adapter is reported');
  console.log(`SwiftShader as the browser reports it: ${JSON.stringify(skipped)}`);
  assert.ok(skipped.isFallbackAdapter || /swiftshader/i.test(`${skipped.vendor} ${skipped.architecture} ${skipped.name}`));
  assert.match(done.result.fallbackReason, /^the only GPU is a software renderer \(/);
  assert.match(progress.message, /^CPU — the only GPU is a software renderer/);
  await popup.locator('#backend[data-state="cpu"]').waitFor({ timeout: 30_000 });
  assert.match(await popup.locator('#backend').innerText(), /^CPU — the only GPU is a software renderer/);
  await popup.close();
});

test('a cached benchmark decides: slower keeps the CPU with the ratio, faster takes the adapter', async () => {
  const page = await openExtensionPage(browser, 'popup/bench.html');
  const { done } = await report(page);
  const a = done.result.skippedAdapter;
  const adapter = `${a.vendor}|${a.architecture}|${a.name}`;

  await restartWithVerdict(page, { adapter, model: 'smollm2-135m', webgpuSeconds: 300, cpuSeconds: 100 });
  let now = await report(page);
  assert.equal(now.done.result.backend, 'cpu');
  assert.match(now.progress.message, /^CPU — the only GPU is a software renderer \(.+\), 3\.0× slower here$/);

  // A benchmark of another adapter says nothing about this one.
  await restartWithVerdict(page, { adapter: 'nvidia|hopper|NVIDIA H100', model: 'smollm2-135m', webgpuSeconds: 1, cpuSeconds: 100 });
  now = await report(page);
  assert.equal(now.done.result.backend, 'cpu');

  await restartWithVerdict(page, { adapter, model: 'smollm2-135m', webgpuSeconds: 50, cpuSeconds: 100 });
  now = await report(page);
  assert.equal(now.done.result.backend, 'gpu', JSON.stringify(now.done.result));
  assert.match(now.progress.message, /^WebGPU · /);
  await page.close();
});

test('the runtime worker is cross-origin isolated and splits the CPU work over every core', async () => {
  const page = await openExtensionPage(browser, 'popup/bench.html');
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, 'extension pages are isolated (manifest keys)');
  const events = await sendRaw(page, { type: 'request', id: 'bench-none', kind: 'device.bench', payload: { models: [], backends: ['cpu'] } }, 120_000);
  const done = events.at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
  const { threads } = done.result;
  console.log(`runtime worker: ${JSON.stringify(threads)}`);
  assert.equal(threads.crossOriginIsolated, true);
  assert.equal(threads.wasmThreads, Math.min(16, threads.hardwareConcurrency));
  await page.close();
});
