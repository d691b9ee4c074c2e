// @ts-check
/**
 * The foundation, end to end in headless Chromium with the real unpacked
 * extension: page → service worker → offscreen document → WASM runtime →
 * back into the on-page panel.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  REPO_ROOT,
  invoke,
  launch,
  openExtensionPage,
  openPage,
  readPanel,
  selectText,
  sendRaw,
  waitForPanelEnd,
} from './harness.js';

const OUT = path.join(REPO_ROOT, 'out');
/** @type {import('./harness.js').Browser} */
let browser;

before(async () => {
  await mkdir(OUT, { recursive: true });
  browser = await launch({ webgpu: true, backend: 'webgpu' });
});
after(async () => browser?.close());

/** The same call the "Summarise selection" menu item makes. */
const clickSummarise = ({ tabId, text }) =>
  globalThis.locus.onMenuClick({ menuItemId: 'summarize-selection', selectionText: text, frameId: 0 }, { id: tabId });
const runReport = ({ tabId }) => globalThis.locus.invokeInTab(tabId, { action: 'report' });

test('Summarise selection with no model runs page → service worker → offscreen → runtime worker and offers the download in the panel', async () => {
  const { page, tabId } = await openPage(browser, 'article.html');
  const text = await selectText(page, '#economics');
  await invoke(browser, clickSummarise, { tabId, text });
  const panel = await waitForPanelEnd(page);
  assert.equal(panel.shadowMode, 'closed', 'the panel lives in a closed shadow root');
  assert.equal(panel.title, 'Locus · Summary');
  assert.deepEqual(panel.events, { progress: 0, token: 0, done: 0, error: 1, drafts: 0 }, 'one answer: the offer');
  // With no model installed, the runtime worker offers the recommended
  // download for the task in place (size, licence, one click) instead of an error.
  assert.equal(panel.state, 'error');
  assert.equal(panel.status, 'No language model is installed yet. Recommended for summaries: SmolLM2 135M Instruct (98 MB, Apache-2.0).');
  assert.deepEqual(panel.actions, ['Download SmolLM2 135M Instruct']);
  await page.close();
});

test('the backend report streams from the WASM runtime into the panel as tokens', async () => {
  const { page, tabId } = await openPage(browser, 'article.html');
  await invoke(browser, runReport, { tabId });
  const panel = await waitForPanelEnd(page);
  assert.equal(panel.state, 'done', panel.status);
  assert.ok(panel.events.token >= 4, `token events: ${JSON.stringify(panel.events)}`);
  assert.match(panel.output, /^Backend: WebGPU · /);
  assert.match(panel.output, /Self-test: rmsnorm \[(SUBGROUPS|base)\] on 1731 values, max error [0-9.e-]+: passed/);
  await page.screenshot({ path: path.join(OUT, 'panel-report.png') });
  await page.close();
});

test('a closed offscreen document is re-created for the next request', async () => {
  const { page, tabId } = await openPage(browser, 'article.html');
  await invoke(browser, runReport, { tabId });
  assert.equal((await waitForPanelEnd(page)).state, 'done');

  await browser.sw.evaluate(() => chrome.offscreen.closeDocument());
  const open = () => browser.sw.evaluate(async () => (await chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] })).length);
  assert.equal(await open(), 0, 'the offscreen document is gone');

  await invoke(browser, runReport, { tabId });
  const second = await waitForPanelEnd(page);
  assert.equal(second.state, 'done', second.status);
  assert.match(second.output, /^Backend: WebGPU · /);
  assert.equal(await open(), 1, 'the offscreen document was created again');
  await page.close();
});

test('with --enable-unsafe-webgpu the runtime reports the WebGPU adapter', async () => {
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  const events = await sendRaw(popup, { type: 'request', id: 'report-1', kind: 'report', payload: {} });
  const done = events.at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
  const report = done.result;
  assert.equal(report.backend, 'gpu');
  assert.equal(report.api, 'WebGPU');
  assert.equal(report.fallbackReason, null);
  assert.equal(typeof report.adapter.isFallbackAdapter, 'boolean');
  assert.equal(typeof report.features.shaderF16, 'boolean');
  assert.equal(typeof report.features.subgroups, 'boolean');
  // In the browser the kernels are bit-exact only where fma rounds once
  // (SwiftShader's rounds twice: it runs them with its own fma, faster).
  assert.equal(typeof report.features.fusedFma, 'boolean');
  assert.equal(report.features.bitExact, report.features.fusedFma);
  assert.ok(report.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20, JSON.stringify(report.limits));
  assert.equal(report.selfTest.passed, true);
  // The popup's indicator shows the same report.
  await popup.locator('#backend[data-state="gpu"]').waitFor({ timeout: 30_000 });
  assert.match(await popup.locator('#backend').innerText(), /^WebGPU · /);
  await popup.screenshot({ path: path.join(OUT, 'popup.png') });
  await popup.close();
});

test('the panel keeps its look on a page with aggressive CSS, in dark mode, and closes on Escape', async () => {
  const { page, tabId } = await openPage(browser, 'aggressive.html');
  await page.emulateMedia({ colorScheme: 'dark' });
  await selectText(page, '#text');
  await invoke(browser, runReport, { tabId });
  const panel = await waitForPanelEnd(page);
  assert.equal(panel.state, 'done');
  const box = await page.evaluate(() => {
    const host = /** @type {HTMLElement} */ (document.querySelector('locus-panel'));
    const rect = host.getBoundingClientRect();
    const style = getComputedStyle(host);
    return { width: rect.width, height: rect.height, display: style.display, visibility: style.visibility };
  });
  assert.equal(box.display, 'block');
  assert.equal(box.visibility, 'visible');
  assert.ok(box.width >= 300 && box.height >= 100, JSON.stringify(box));
  const look = await panelStyle(page);
  assert.equal(look.fontSize, '14px', 'page CSS does not reach into the panel');
  assert.equal(look.background, 'rgb(28, 27, 31)', 'dark mode colours');
  assert.equal(look.headerDisplay, 'flex');
  await page.screenshot({ path: path.join(OUT, 'panel-aggressive-dark.png') });

  await page.keyboard.press('Escape');
  assert.equal(await readPanel(page), null, 'Escape closes the panel');
  await page.close();
});

/** Computed styles inside the closed shadow root, read through CDP. @param {import('playwright-core').Page} page */
async function panelStyle(page) {
  const cdp = await page.context().newCDPSession(page);
  const { root } = await cdp.send('DOM.getDocument', { depth: -1, pierce: true });
  const host = root.children?.find((n) => n.localName === 'html')?.children?.find((n) => n.localName === 'locus-panel');
  const { object } = await cdp.send('DOM.resolveNode', { backendNodeId: host.shadowRoots[0].backendNodeId });
  const { result } = await cdp.send('Runtime.callFunctionOn', {
    objectId: object.objectId,
    returnByValue: true,
    functionDeclaration: `function () {
      const panel = getComputedStyle(this.querySelector('.panel'));
      return { fontSize: panel.fontSize, background: panel.backgroundColor,
               headerDisplay: getComputedStyle(this.querySelector('header')).display };
    }`,
  });
  await cdp.detach();
  return result.value;
}
