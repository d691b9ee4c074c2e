// @ts-check
/**
 * Translate, end to end with SmolLM2 and lid.176 in the real extension:
 * the source language is detected first (and shown), the translation
 * streams; text already in the target language is not translated; a
 * selection in a text field can be replaced by its translation, undoably.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT, openPage, selectText, sendRaw } from './harness.js';
import { invokeWith, launchWithModels, waitForPanel } from './onpage_setup.js';

const OUT = path.join(REPO_ROOT, 'out');
/** @type {Awaited<ReturnType<typeof launchWithModels>>} */
let env;
before(async () => {
  await mkdir(OUT, { recursive: true });
  env = await launchWithModels({ llm: true, langid: true });
  // SmolLM2 is not offered for translation (tests/e2e/answers.test.js): these
  // tests run it as a user may, by choosing it for translation in Settings.
  await env.browser.sw.evaluate(() => chrome.storage.sync.set({ settings: { defaultModels: { translate: 'smollm2-135m' } } }));
});
after(async () => env?.close());

const ended = (/** @type {any} */ panel) => panel.state !== 'running';

test('a German paragraph is detected as German and translated into English, streaming', async () => {
  const { page, tabId } = await openPage(env.browser, 'onpage.html');
  await selectText(page, '#german');
  await invokeWith(env.browser, tabId, 'translate', { targetLanguage: 'en', targetLanguages: ['en', 'fr'] });
  const streaming = await waitForPanel(page, (p) => p.events.token >= 2 || ended(p));
  assert.equal(streaming.state, 'running');
  assert.match(streaming.status, /German/, 'the detected source is shown while translating');
  const panel = await waitForPanel(page, ended);
  assert.equal(panel.state, 'done', panel.status);
  assert.equal(panel.result.sourceLanguage, 'de');
  assert.ok(panel.progress.some((p) => p.stage === 'source' && p.message === 'de'));
  assert.equal(panel.status, 'Translated from German');
  await page.screenshot({ path: path.join(OUT, 'panel-translate.png') });
  assert.ok(panel.events.token >= 2);
  assert.equal(panel.output, panel.result.text);
  assert.match(panel.result.prompt, /from German into English/);
  // A 135M model translates loosely; what it writes must at least be English.
  const check = await sendRaw(env.popup, { type: 'request', id: 'check-output', kind: 'detect', payload: { text: panel.output } });
  assert.equal(check.at(-1).result.languages[0].detectedLanguage, 'en', `an English translation: ${panel.output}`);
  console.log(`translation (${panel.result.tokens} tokens, ${panel.result.tokensPerSecond.toFixed(1)} tokens/s): ${panel.output}`);
  await page.close();
});

test('English text asked into English is not translated', async () => {
  const { page, tabId } = await openPage(env.browser, 'onpage.html');
  await selectText(page, '#english');
  await invokeWith(env.browser, tabId, 'translate', { targetLanguage: 'en' });
  const panel = await waitForPanel(page, ended);
  assert.equal(panel.state, 'done', panel.status);
  assert.equal(panel.result.alreadyInTarget, true);
  assert.equal(panel.status, 'This text is already in English.');
  assert.equal(panel.events.token, 0);
  await page.close();
});

test('a selection in a text field is replaced by its translation, and Ctrl+Z brings it back', async () => {
  const { page, tabId } = await openPage(env.browser, 'onpage.html');
  const original = await page.locator('#field').inputValue();
  await page.evaluate(() => {
    const field = /** @type {HTMLTextAreaElement} */ (document.querySelector('#field'));
    field.focus();
    field.setSelectionRange(7, field.value.length); // "Guten Morgen, wie geht es dir?"
  });
  await invokeWith(env.browser, tabId, 'translate', { targetLanguage: 'en' });
  const panel = await waitForPanel(page, ended);
  assert.equal(panel.state, 'done', panel.status);
  assert.deepEqual(panel.actions, ['Replace selection']);
  const translation = panel.result.text.trim();
  assert.ok(translation.length > 0);

  await clickPanelAction(page);
  const replaced = await page.locator('#field').inputValue();
  assert.equal(replaced, `Bitte: ${panel.result.text}`);
  await page.locator('#field').focus();
  await page.keyboard.press('Control+z');
  assert.equal(await page.locator('#field').inputValue(), original, 'undo restores the original text');
  await page.close();
});

/** Clicks the panel's first action button (inside its closed shadow root) with a real mouse click. */
async function clickPanelAction(/** @type {import('playwright-core').Page} */ page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { root } = await cdp.send('DOM.getDocument', { depth: -1, pierce: true });
    const host = root.children?.find((n) => n.localName === 'html')?.children?.find((n) => n.localName === 'locus-panel');
    const { object } = await cdp.send('DOM.resolveNode', { backendNodeId: host.shadowRoots[0].backendNodeId });
    const { result } = await cdp.send('Runtime.callFunctionOn', {
      objectId: object.objectId,
      returnByValue: true,
      functionDeclaration: `function () {
        const r = this.querySelector('.actions button').getBoundingClientRect();
        return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
      }`,
    });
    await page.mouse.click(result.value.x, result.value.y);
  } finally {
    await cdp.detach();
  }
}
