// @ts-check
/**
 * Selections inside iframes (issue 15): the content script runs in every
 * frame; the shortcut analyses the selection of the frame the user is in,
 * not the outer page's; the panel is in the top frame, next to the
 * selection, for a same-origin frame (drawn directly) and a cross-origin
 * one (another origin: localhost for 127.0.0.1; relayed through the
 * service worker). The top page
 * has an English selection of its own as a decoy; the frames hold German.
 * The real language detector (lid.176) answers.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, openPage, sendRaw } from './harness.js';
import { serveModels } from './model_server.js';
import { PANEL_STATE, inPanel, screenshot, until } from './polish_support.js';

const LID = { id: 'lid-176', file: 'lid.176.ftz', sha256: '8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83', kind: 'fasttext' };

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;

before(async () => {
  [browser, server] = await Promise.all([launch({ webgpu: false }), serveModels()]);
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  const { file, ...payload } = LID;
  const done = (await sendRaw(popup, { type: 'request', id: 'dl-lid', kind: 'models.download', payload: { ...payload, url: server.url(file) } }, 120_000)).at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
  await popup.close();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Selects `selector`'s text in a frame. @param {import('playwright-core').Frame} frame @param {string} selector */
function select(frame, selector) {
  return frame.evaluate((sel) => {
    const range = document.createRange();
    range.selectNodeContents(/** @type {Node} */ (document.querySelector(sel)));
    const selection = /** @type {Selection} */ (window.getSelection());
    selection.removeAllRanges();
    selection.addRange(range);
  }, selector);
}

/** The page with both frames loaded, the outer paragraph selected. */
async function framesPage() {
  const opened = await openPage(browser, 'polish_frames.html');
  const { page } = opened;
  const crossUrl = `${browser.baseUrl.replace('127.0.0.1', 'localhost')}/polish_frame_inner.html`;
  await page.evaluate((url) => ((/** @type {HTMLIFrameElement} */ (document.querySelector('#cross'))).src = url), crossUrl);
  const same = await until(async () => page.frames().find((f) => f.url().endsWith('/polish_frame_inner.html') && f.url().includes('127.0.0.1')), 10_000, 'the same-origin frame');
  const cross = await until(async () => page.frames().find((f) => f.url() === crossUrl), 10_000, 'the cross-origin frame');
  await cross.waitForLoadState('load');
  await select(page.mainFrame(), '#outer');
  return { ...opened, same, cross };
}

/** What the shortcut does (the service worker's own handler, as Chrome calls it). @param {number} tabId @param {string} command */
async function shortcut(tabId, command) {
  const taken = await browser.sw.evaluate(({ tabId, command }) => /** @type {any} */ (globalThis).locus.onCommand(command, { id: tabId }), { tabId, command });
  assert.equal(taken, true, 'a frame took the shortcut');
}

/** Waits for a finished panel in `frame`'s document (the top one by default). */
function finished(/** @type {import('playwright-core').Page} */ page, /** @type {import('playwright-core').Frame} */ frame = page.mainFrame()) {
  return until(async () => {
    const panel = await inPanel(page, PANEL_STATE, frame);
    return panel && panel.state !== 'running' ? panel : null;
  }, 60_000, `a finished panel in ${frame.url()}`);
}

test('the shortcut in a same-origin frame analyses its selection; the panel is in the top frame next to it', async () => {
  const { page, tabId, same } = await framesPage();
  await page.focus('#same');
  await select(same, '#inner');
  await shortcut(tabId, 'detect');
  const panel = await finished(page);
  assert.equal(panel.state, 'done', panel.status);
  assert.equal(panel.result.languages[0].detectedLanguage, 'de', 'the frame\'s German, not the page\'s English');
  const frameBox = await page.locator('#same').boundingBox();
  const selection = await same.evaluate(() => {
    const r = /** @type {Selection} */ (window.getSelection()).getRangeAt(0).getBoundingClientRect();
    return { bottom: r.bottom, left: r.left };
  });
  const below = (frameBox?.y ?? 0) + 4 + selection.bottom; // the frame's 4 px border
  assert.ok(Math.abs(panel.top - (below + 8)) <= 3, `the panel sits under the frame's selection: top ${panel.top}, selection bottom ${below}`);
  assert.equal(await inPanel(page, PANEL_STATE, same), null, 'no second panel inside the frame');
  await screenshot(page, 'panel-frame-same-origin');
  await page.close();
});

test('the shortcut in a cross-origin frame analyses its selection; the top frame shows the panel next to it', async () => {
  const { page, tabId, cross } = await framesPage();
  await page.focus('#cross');
  await select(cross, '#inner');
  await shortcut(tabId, 'detect');
  const panel = await finished(page);
  assert.equal(panel.state, 'done', panel.status);
  assert.equal(panel.result.languages[0].detectedLanguage, 'de', 'the frame\'s German, not the page\'s English');
  const frameBox = await page.locator('#cross').boundingBox();
  const selection = await cross.evaluate(() => /** @type {Selection} */ (window.getSelection()).getRangeAt(0).getBoundingClientRect().bottom);
  const below = (frameBox?.y ?? 0) + 4 + selection;
  assert.ok(Math.abs(panel.top - (below + 8)) <= 3, `the panel sits under the frame's selection: top ${panel.top}, selection bottom ${below}`);
  assert.equal(await inPanel(page, PANEL_STATE, cross), null, 'no second panel inside the frame');
  await screenshot(page, 'panel-frame-cross-origin');
  await page.close();
});

test('with the focus on the page itself, the shortcut still analyses the page\'s own selection', async () => {
  const { page, tabId } = await framesPage();
  await page.focus('#outer').catch(() => {});
  await page.evaluate(() => (/** @type {HTMLElement} */ (document.activeElement))?.blur?.());
  await select(page.mainFrame(), '#outer');
  await shortcut(tabId, 'detect');
  const panel = await finished(page);
  assert.equal(panel.result.languages[0].detectedLanguage, 'en');
  await page.close();
});
