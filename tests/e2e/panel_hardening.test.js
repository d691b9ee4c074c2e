// @ts-check
/**
 * The on-page panel against the page it sits on: synthetic key events do not
 * drive the panel; links in rendered markdown show their host; the panel's
 * modules load in the content script.
 *
 * `use_dynamic_url: true` for the web-accessible modules was tried and does
 * not work in Chromium 156: `chrome.runtime.getURL` gives the dynamic URL and
 * the entry module loads, but Chromium serves it from the static URL, so its
 * relative imports (`./panel.js`, `../client.js`) resolve to static URLs,
 * which `use_dynamic_url` then denies ("Denying load of chrome-extension://
 * <id>/extension/client.js"): the panel never opens. It stays false until
 * the content modules are bundled into one file. No model is needed.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, openPage, readPanel } from './harness.js';
import { invokeWith, waitForPanel } from './onpage_setup.js';

/** @type {import('./harness.js').Browser} */
let browser;
before(async () => {
  browser = await launch({ webgpu: false });
});
after(async () => browser?.close());

/** Polls until `check` holds (at most `ms`). @param {() => Promise<boolean>} check */
async function until(check, ms = 10_000) {
  for (const deadline = Date.now() + ms; !(await check()); ) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the content script loads the panel modules and opens the panel', async () => {
  const { page, tabId } = await openPage(browser, 'onpage.html');
  await invokeWith(browser, tabId, 'report', {});
  const panel = await waitForPanel(page, () => true, 20_000);
  assert.equal(panel.shadowMode, 'closed');
  await page.close();
});

test('a synthetic Escape from the page does not close the panel; the user\'s does', async () => {
  const { page, tabId } = await openPage(browser, 'onpage.html');
  await invokeWith(browser, tabId, 'report', {});
  await waitForPanel(page, () => true, 20_000);
  await page.evaluate(() => {
    for (const target of [document, document.body, window]) {
      target.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true, cancelable: true }));
    }
  });
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(await readPanel(page), 'still open after a synthetic Escape');
  await page.keyboard.press('Escape');
  await until(async () => (await readPanel(page)) === null);
  await page.close();
});

test('links in rendered markdown show their host next to their text', async () => {
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  const rendered = await popup.evaluate(async () => {
    const { renderMarkdown } = await import('/extension/content/markdown.js');
    const box = document.createElement('div');
    box.append(renderMarkdown('Log in at [your bank](https://evil.example/login) or [here](javascript:alert(1)) or [münchen](https://münchen.example/).'));
    return { text: box.textContent, hrefs: [...box.querySelectorAll('a')].map((a) => a.getAttribute('href')) };
  });
  assert.match(rendered.text, /your bank \(evil\.example\)/);
  assert.match(rendered.text, /münchen \(xn--mnchen-3ya\.example\)/, 'the host as it really is (punycode)');
  assert.doesNotMatch(rendered.text, /here \(/, 'a refused link is not a link, and has no host');
  assert.deepEqual(rendered.hrefs, ['https://evil.example/login', 'https://xn--mnchen-3ya.example/']);
  await popup.close();
});
