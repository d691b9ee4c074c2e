// @ts-check
/**
 * The on-page panel against the page it sits on: synthetic key events do not
 * drive the panel; links in rendered markdown show their host; the panel's
 * module loads in the content script from the per-session dynamic URL while
 * a page probing the static URLs finds nothing (`use_dynamic_url`).
 *
 * Why one bundled module (`cargo xtask build` → extension/bundle/content.js):
 * with `use_dynamic_url`, Chromium 156 serves a module fetched at its dynamic
 * URL from the static one, so its relative imports resolve to static URLs,
 * which it then denies ("Denying load of chrome-extension://<id>/extension/
 * client.js") and the panel never opened. No model is needed.
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

test('the content script loads the panel from the dynamic URL; the page cannot fetch it at the static one', async () => {
  const { page, tabId } = await openPage(browser, 'onpage.html');
  await invokeWith(browser, tabId, 'report', {});
  const panel = await waitForPanel(page, () => true, 20_000);
  assert.equal(panel.shadowMode, 'closed');
  // What a fingerprinting page does: fetch a known file of the extension at its static URL.
  const probes = await page.evaluate(async (id) => {
    const files = ['extension/bundle/content.js', 'extension/content/page_text.js', 'extension/vendor/readability.js', 'manifest.json'];
    return Promise.all(files.map((file) => fetch(`chrome-extension://${id}/${file}`).then((r) => `${file}: ${r.status}`, () => `${file}: refused`)));
  }, browser.extensionId);
  assert.deepEqual(probes, probes.map((p) => p.replace(/: .*/, ': refused')), probes.join(', '));
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
