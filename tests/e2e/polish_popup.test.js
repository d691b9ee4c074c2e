// @ts-check
/**
 * The popup as a new user meets it (issue 15): every text has WCAG AA
 * contrast in light and dark mode (computed from the rendered styles); a
 * chat error says what to do with buttons that do it; Settings understands
 * target languages by name or code, names what it did not understand and
 * saves only the rest; the keyboard shortcuts are listed with a way to
 * change them. No model is needed.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT, launch, openExtensionPage } from './harness.js';
import { contrastIssues, screenshot } from './polish_support.js';
import { LANGUAGES } from '../../popup/languages.js';

/** @type {import('./harness.js').Browser} */
let browser;
before(async () => {
  browser = await launch({ webgpu: false });
});
after(async () => browser?.close());

/** The popup at its real width (380 px), in a tab. */
async function popup() {
  const page = await openExtensionPage(browser, 'popup/popup.html');
  await page.setViewportSize({ width: 380, height: 720 });
  return page;
}

const stored = (/** @type {import('playwright-core').Page} */ page) =>
  page.evaluate(async () => (await chrome.storage.sync.get('settings')).settings?.targetLanguages);

test('a chat error says what to do, with buttons; every text in the popup has AA contrast in light and dark mode', async () => {
  const page = await popup();
  await page.fill('#chat-input', 'Hello');
  await page.click('#chat-send');
  const failed = page.locator('#messages li.failed');
  await failed.locator('.fix button').first().waitFor({ timeout: 60_000 });
  const error = (await failed.locator('.error-text').textContent()) ?? '';
  assert.doesNotMatch(error, /no_model|`/, `no developer wording: ${error}`);
  assert.deepEqual(await failed.locator('.fix button').allTextContents(), ['Download SmolLM2 135M Instruct', 'Open Models']);
  await page.waitForSelector('#catalog li', { state: 'attached' });

  const shots = [];
  for (const scheme of /** @type {const} */ (['light', 'dark'])) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const tab of ['chat', 'models', 'settings']) {
      await page.click(`#tab-${tab}`);
      await page.waitForTimeout(200);
      const report = await page.evaluate(`(${contrastIssues})(document)`);
      assert.ok(report.checked >= 10, `${tab}: texts checked: ${report.checked}`);
      assert.deepEqual(report.failures, [], `${scheme}, ${tab} tab: text under AA contrast`);
      shots.push(await screenshot(page, `popup-${tab}-${scheme}`, { fullPage: true }));
    }
  }
  console.log(`screenshots: ${shots.join(', ')}`);

  // "Open Models" goes to the Models tab.
  await page.emulateMedia({ colorScheme: 'light' });
  await page.click('#tab-chat');
  await failed.locator('.fix button', { hasText: 'Open Models' }).click();
  await page.waitForSelector('#tab-models[aria-selected="true"]');
  await page.close();
});

test('settings: languages by name or code; an entry not understood is named, and only the rest is saved', async () => {
  const page = await popup();
  await page.click('#tab-settings');
  const input = page.locator('input[name=targetLanguages]');
  const status = page.locator('#settings-saved');
  const type = async (/** @type {string} */ text) => {
    await page.evaluate(() => ((/** @type {HTMLElement} */ (document.querySelector('#settings-saved'))).textContent = ''));
    await input.fill(text);
    await input.press('Tab'); // `change` fires as the field loses the focus
    await page.waitForFunction(() => (document.querySelector('#settings-saved')?.textContent ?? '') !== '');
  };

  await type('German, French');
  assert.deepEqual(await stored(page), ['de', 'fr'], 'names are understood');
  assert.match((await status.textContent()) ?? '', /German, French/);
  assert.equal(await input.inputValue(), 'de, fr');

  await type('de, xx, klingon');
  assert.deepEqual(await stored(page), ['de'], 'only what was understood is saved');
  assert.match((await status.textContent()) ?? '', /Not understood: “xx”, “klingon”\. Saved the others: German\./);
  assert.equal(await status.getAttribute('role'), 'alert');

  await type('klingon');
  assert.deepEqual(await stored(page), ['de'], 'nothing understood: the list is kept');
  assert.match((await status.textContent()) ?? '', /“klingon”.*not changed/);

  await type('pt-br, Japanese, es');
  assert.deepEqual(await stored(page), ['pt-BR', 'ja', 'es']);
  await page.close();
});

test('the settings list the languages the runtime names in its prompts', async () => {
  const rust = await readFile(path.join(REPO_ROOT, 'src/tasks/languages.rs'), 'utf8');
  const table = [...rust.matchAll(/\("([a-z]+)", "([^"]+)"\)/g)].map(([, code, name]) => [code, name]);
  assert.ok(table.length >= 40);
  assert.deepEqual(LANGUAGES, table);
});

test('settings list the keyboard shortcuts, and "Change shortcuts" opens Chrome\'s page for them', async () => {
  const page = await popup();
  await page.click('#tab-settings');
  const commands = await page.evaluate(() => chrome.commands.getAll());
  assert.ok(commands.length >= 4);
  await page.waitForFunction((n) => document.querySelectorAll('#shortcuts li').length === n, commands.length);
  for (const command of commands) {
    const row = (await page.locator(`#shortcuts li[data-command="${command.name}"]`).textContent()) ?? '';
    assert.ok(row.includes(command.shortcut || 'Not set'), `${command.name}: ${row}`);
    if (command.description) assert.ok(row.includes(command.description), `${command.name}: ${row}`);
  }
  // Every suggested key is granted: Chrome silently drops one that collides
  // with its own (Alt+Shift+T focuses the toolbar, and was ours for translate).
  const manifest = await page.evaluate(() => chrome.runtime.getManifest());
  for (const [name, command] of Object.entries(manifest.commands ?? {})) {
    const granted = commands.find((c) => c.name === name)?.shortcut;
    assert.equal(granted, command.suggested_key?.default, `${name}: ${JSON.stringify(commands)}`);
  }
  const opened = browser.context.waitForEvent('page', { timeout: 10_000 });
  await page.click('#change-shortcuts');
  const shortcuts = await opened;
  await shortcuts.waitForLoadState('domcontentloaded').catch(() => {});
  assert.equal(shortcuts.url(), 'chrome://extensions/shortcuts');
  await shortcuts.close();
  await page.close();
});
