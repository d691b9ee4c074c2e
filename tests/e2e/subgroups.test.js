// @ts-check
/**
 * Subgroups in the browser: wgpu's WebGPU backend maps the adapter's
 * `subgroups` feature (third_party/wgpu, gfx-rs/wgpu#10146), the runtime
 * asks for it, and its subgroup kernels run. Headless Chromium's adapter is
 * SwiftShader, which offers `subgroups` with a subgroup size of 4.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { invoke, launch, openExtensionPage, openPage, sendRaw, waitForPanelEnd } from './harness.js';

/** @type {import('./harness.js').Browser} */
let browser;

before(async () => {
  browser = await launch({ webgpu: true, backend: 'webgpu' });
});
after(async () => browser?.close());

const runReport = ({ tabId }) => globalThis.locus.invokeInTab(tabId, { action: 'report' });

test('the adapter offers subgroups and the runtime is granted them and uses them', async () => {
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  // What the browser itself offers, asked without wgpu: if this fails the
  // test below would prove nothing.
  const offered = await popup.evaluate(async () => {
    const adapter = await navigator.gpu.requestAdapter();
    return adapter ? [...adapter.features] : [];
  });
  assert.ok(offered.includes('subgroups'), `the adapter offers: ${offered.join(', ')}`);

  const events = await sendRaw(popup, { type: 'request', id: 'report-subgroups', kind: 'report', payload: {} });
  const done = events.at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
  const report = done.result;
  assert.equal(report.api, 'WebGPU');
  // Granted: the device was created with the feature (wgpu reports the
  // device's features), with SwiftShader's subgroup size.
  assert.equal(report.features.subgroups, true, JSON.stringify(report.features));
  assert.ok(report.features.subgroupMinSize >= 1, JSON.stringify(report.features));
  assert.ok(report.features.subgroupMinSize <= 4 && report.features.subgroupMaxSize >= 4, JSON.stringify(report.features));
  // Used: the argmax's SUBGROUPS variant (`enable subgroups;` injected for
  // the browser) compiled, ran and picked the right logit.
  assert.deepEqual(
    { kernel: report.subgroupTest?.kernel, variant: report.subgroupTest?.variant, passed: report.subgroupTest?.passed },
    { kernel: 'argmax', variant: 'SUBGROUPS', passed: true },
    JSON.stringify(report.subgroupTest),
  );
  await popup.close();
});

test('the backend report in the panel says so', async () => {
  const { page, tabId } = await openPage(browser, 'article.html');
  await invoke(browser, runReport, { tabId });
  const panel = await waitForPanelEnd(page);
  assert.equal(panel.state, 'done', panel.status);
  assert.match(panel.output, /Features: shader-f16 (yes|no), subgroups yes \(size \d+–\d+\)/);
  assert.match(panel.output, /Self-test: argmax \[SUBGROUPS\] on \d+ values, max error [0-9.e+-]+: passed/);
  await page.close();
});
