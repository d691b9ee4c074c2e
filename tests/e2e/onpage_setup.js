// @ts-check
/**
 * Shared by the on-page tool tests: a browser with the real models in its
 * store (downloaded from a local server through the extension's own
 * download code, as a user's would be), and starting an action in a tab
 * with chosen options (what the menus do with the user's settings).
 */

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT, launch, openExtensionPage, readPanel, sendRaw } from './harness.js';
import { serveModels } from './model_server.js';

const MODELS = {
  llm: { id: 'smollm2-135m', file: 'SmolLM2-135M-Instruct.Q4_1.gguf', sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53' },
  langid: { id: 'lid-176', file: 'lid.176.ftz', sha256: '8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83', kind: 'fasttext' },
};

/**
 * Launches Chromium on the CPU backend and installs the wanted models.
 * @param {{llm?: boolean, langid?: boolean}} wanted
 */
export async function launchWithModels({ llm = true, langid = true } = {}) {
  const [browser, server] = await Promise.all([launch({ webgpu: false }), serveModels()]);
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  for (const [name, model] of Object.entries(MODELS)) {
    if ((name === 'llm' && !llm) || (name === 'langid' && !langid)) continue;
    const { file, ...payload } = model;
    const events = await sendRaw(popup, { type: 'request', id: `dl-${model.id}`, kind: 'models.download', payload: { ...payload, url: server.url(file) } }, 120_000);
    const done = events.at(-1);
    assert.equal(done.event, 'done', JSON.stringify(done));
    assert.equal(done.result.status, 'ready');
  }
  return {
    browser,
    popup,
    close: async () => {
      await browser.close();
      await server.close();
    },
  };
}

/**
 * Starts an on-page action in a tab with the given options, as the service
 * worker does from a menu click, retrying while the content script starts.
 * @param {import('./harness.js').Browser} browser
 * @param {number} tabId
 * @param {string} action
 * @param {object} options
 */
export async function invokeWith(browser, tabId, action, options) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const taken = await browser.sw.evaluate(
      ({ tabId, action, options }) =>
        chrome.tabs.sendMessage(tabId, { type: 'locus.invoke', action, options }, { frameId: 0 }).then(
          () => true,
          () => false,
        ),
      { tabId, action, options },
    );
    if (taken) return;
    if (Date.now() > deadline) throw new Error('the page never took the action (no content script?)');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Polls the panel until `test` holds, returning it.
 * @param {import('playwright-core').Page} page
 * @param {(panel: import('./harness.js').PanelState) => boolean} test
 * @param {number} [timeoutMs]
 * @param {{quiet?: boolean}} [options] `quiet`: the time counts from the
 *   panel's last change (progress, tokens, status), not from the start, so a
 *   long job that keeps reporting is not cut off on a slow machine
 */
export async function waitForPanel(page, test, timeoutMs = 120_000, { quiet = false } = {}) {
  let deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const panel = await readPanel(page);
    if (panel && test(panel)) return panel;
    const seen = JSON.stringify(panel);
    if (quiet && seen !== last) {
      last = seen;
      deadline = Date.now() + timeoutMs;
    }
    if (Date.now() > deadline) throw new Error(`the panel never got there: ${seen?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The native fixture (see tests/onpage.rs). */
export async function summaryFixture() {
  return JSON.parse(await readFile(path.join(REPO_ROOT, 'tests/fixtures/onpage/summary.json'), 'utf8'));
}

/**
 * Puts `text` into the element `selector` and selects it.
 * @param {import('playwright-core').Page} page
 * @param {string} selector
 * @param {string} text
 */
export async function selectNewText(page, selector, text) {
  return page.evaluate(
    ({ selector, text }) => {
      const node = /** @type {HTMLElement} */ (document.querySelector(selector));
      node.textContent = text;
      const range = document.createRange();
      range.selectNodeContents(node);
      const selection = /** @type {Selection} */ (window.getSelection());
      selection.removeAllRanges();
      selection.addRange(range);
      return selection.toString();
    },
    { selector, text },
  );
}
