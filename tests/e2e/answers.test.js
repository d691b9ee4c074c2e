// @ts-check
/**
 * Useful answers in the real extension (CPU backend, SmolLM2 and lid.176
 * installed as a user would): a loop is stopped with its reason shown; key
 * points come as at most as many bullets as the length allows, none cut
 * mid-sentence; a translation never runs on the English-only SmolLM2 but
 * offers a fitting download in the panel, which downloads with its progress
 * shown and then runs the request (last: the new model stays loaded).
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT, openPage, selectText } from './harness.js';
import { serveModels } from './model_server.js';
import { invokeWith, launchWithModels, selectNewText, waitForPanel } from './onpage_setup.js';

/** @type {Awaited<ReturnType<typeof launchWithModels>>} */
let env;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;
before(async () => {
  [env, server] = await Promise.all([launchWithModels({ llm: true, langid: true }), serveModels()]);
});
after(async () => {
  await env?.close();
  await server?.close();
});

const ended = (/** @type {any} */ panel) => panel.state !== 'running';

/** Clicks a button in the panel's closed shadow root as a user would (a trusted click at its place). */
async function clickPanelButton(/** @type {import('playwright-core').Page} */ page, /** @type {string} */ label) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { root } = await cdp.send('DOM.getDocument', { depth: -1, pierce: true });
    /** @type {(node: any) => any} */
    const find = (node) => {
      const text = node.children?.map((/** @type {any} */ c) => c.nodeValue ?? '').join('');
      if (node.localName === 'button' && text === label) return node;
      for (const child of [...(node.children ?? []), ...(node.shadowRoots ?? [])]) {
        const found = find(child);
        if (found) return found;
      }
      return null;
    };
    const button = find(root);
    assert.ok(button, `a button "${label}" in the panel`);
    const { model } = await cdp.send('DOM.getBoxModel', { backendNodeId: button.backendNodeId });
    const [x1, y1, , , x3, y3] = model.content;
    await page.mouse.click((x1 + x3) / 2, (y1 + y3) / 2);
  } finally {
    await cdp.detach();
  }
}

test('a loop is stopped and the panel says why', async () => {
  const { page, tabId } = await openPage(env.browser, 'onpage.html');
  const text = 'The river rises in the hills and runs to the sea. '.repeat(12);
  await selectNewText(page, '#slot', text);
  // A lower repeat limit (a test-only option) makes SmolLM2's echo of the text a loop.
  await invokeWith(env.browser, tabId, 'summarize', { type: 'tldr', length: 'long', format: 'plain-text', repeatLimit: 2 });
  const panel = await waitForPanel(page, ended, 300_000);
  assert.equal(panel.state, 'done', panel.status);
  assert.equal(panel.result.model, 'smollm2-135m');
  assert.equal(panel.result.stopReason, 'repetition', JSON.stringify(panel.result));
  assert.equal(panel.status, 'Stopped: the model began repeating itself.');
  await page.close();
});

test('key points are at most three bullets for a short summary, none cut mid-sentence', async () => {
  const { page, tabId } = await openPage(env.browser, 'article.html');
  await invokeWith(env.browser, tabId, 'summarize', { type: 'key-points', length: 'short', format: 'markdown' });
  const panel = await waitForPanel(page, ended, 600_000);
  assert.equal(panel.state, 'done', panel.status);
  assert.equal(panel.result.model, 'smollm2-135m');
  const bullets = panel.result.text.split('\n');
  assert.ok(bullets.length >= 1 && bullets.length <= 3, panel.result.text);
  for (const bullet of bullets) assert.match(bullet, /^- \S.*[.!?]$/);
  assert.ok(panel.tags.filter((tag) => tag === 'li').length === bullets.length, JSON.stringify(panel.tags));
  if (panel.result.stopReason === 'shortened') assert.equal(panel.status, 'Shortened: the answer ends at its last complete sentence.');
  console.log(`key points (${panel.result.tokens} tokens): ${panel.result.text}`);
  await page.close();
});

test('translating with the English-only SmolLM2 offers a fitting model, downloads it in the panel and then runs', async () => {
  const catalog = JSON.parse(await readFile(path.join(REPO_ROOT, 'extension/catalog.json'), 'utf8'));
  // The real catalog's SmolLM2, and a multilingual model served from here.
  const translator = {
    id: 'gemma-3-270m-test',
    name: 'Gemma Test',
    kind: 'gguf',
    url: server.url('gemma-3-270m.Q4_K_M.gguf'),
    approxBytes: 253_113_024,
    license: 'Gemma Terms of Use',
    languages: ['en', 'de', 'fr'],
    tasks: ['chat', 'summarize', 'translate'],
  };
  const models = [...catalog.models, translator];
  await env.browser.sw.evaluate((models) => chrome.runtime.sendMessage({ type: 'locus.runtime.catalogForTest', models }), models);

  const { page, tabId } = await openPage(env.browser, 'onpage.html');
  await selectText(page, '#german');
  await invokeWith(env.browser, tabId, 'translate', { targetLanguage: 'fr' });
  const offered = await waitForPanel(page, ended);
  assert.equal(offered.state, 'error');
  assert.equal(offered.status, 'SmolLM2 135M Instruct is English-only; translation needs e.g. Gemma Test (253 MB, Gemma Terms of Use).');
  assert.equal(offered.events.token, 0, 'nothing was generated');
  assert.deepEqual(offered.actions, ['Download Gemma Test']);

  await clickPanelButton(page, 'Download Gemma Test');
  const downloading = await waitForPanel(page, (p) => /^Downloading Gemma Test \d/.test(p.status) || ended(p));
  assert.equal(downloading.state, 'running', downloading.status);
  // Once it is ready the request runs again, now on the fitting model.
  const rerun = await waitForPanel(page, (p) => p.progress.some((e) => e.stage === 'load') || p.state === 'error', 300_000);
  assert.ok(rerun.progress.some((e) => e.stage === 'load' && e.message === 'Loading Gemma Test'), JSON.stringify(rerun.progress));
  await page.keyboard.press('Escape');
  await page.close();
});
