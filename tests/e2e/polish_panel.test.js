// @ts-check
/**
 * The on-page panel as a new user meets it (issue 15): it stays inside the
 * viewport with a long answer (its own scrolling), follows the selection as
 * the page scrolls, fits a smaller window, is reachable by keyboard; every
 * text in it has WCAG AA contrast in light and dark mode; an error says
 * what to do with a button that does it. No language model is needed: the
 * backend report and the errors of a store without models drive the panel.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, openPage, readPanel, selectText } from './harness.js';
import { invokeWith, waitForPanel } from './onpage_setup.js';
import { PANEL_FOCUS, PANEL_GEOMETRY, contrastIssues, inPanel, screenshot, until } from './polish_support.js';

/** @type {import('./harness.js').Browser} */
let browser;
before(async () => {
  browser = await launch({ webgpu: false });
});
after(async () => browser?.close());

const ended = (/** @type {import('./harness.js').PanelState} */ p) => p.state !== 'running';
const geometry = (/** @type {import('playwright-core').Page} */ page) => inPanel(page, PANEL_GEOMETRY);
const pause = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** Opens the panel on `selector`'s text with the backend report, and waits for its end. */
async function reportPanel(/** @type {string} */ selector) {
  const { page, tabId } = await openPage(browser, 'polish_tall.html');
  await selectText(page, selector);
  await invokeWith(browser, tabId, 'report', {});
  await waitForPanel(page, ended, 60_000);
  return page;
}

/** @param {any} g */
function assertInside(g, what = '') {
  assert.ok(g.top >= 0 && g.left >= 0, `${what} top-left inside: ${JSON.stringify(g)}`);
  assert.ok(g.bottom <= g.viewport.height && g.right <= g.viewport.width, `${what} bottom-right inside: ${JSON.stringify(g)}`);
}

test('a long answer near the bottom of the window stays inside it and scrolls inside the panel', async () => {
  const page = await reportPanel('#low');
  // A long streamed answer ends up as text in the output, as this does.
  await inPanel(page, `function () { this.querySelector('.output').textContent = 'A long answer that goes on. '.repeat(400); }`);
  await pause(300);
  const g = await geometry(page);
  assertInside(g, 'a long answer');
  assert.ok(g.output.scrollHeight > g.output.clientHeight + 100, `the output scrolls inside the panel: ${JSON.stringify(g.output)}`);
  assert.equal(g.output.overflowY, 'auto');
  await page.close();
});

test('the panel follows its selection as the page scrolls, and fits a smaller window', async () => {
  const page = await reportPanel('#near-top');
  const before = await geometry(page);
  await page.evaluate(() => window.scrollBy(0, 40));
  await pause(300);
  const scrolled = await geometry(page);
  assert.ok(Math.abs(before.top - 40 - scrolled.top) <= 2, `moved up with the text: ${before.top} → ${scrolled.top}`);
  await page.setViewportSize({ width: 420, height: 480 });
  await pause(300);
  assertInside(await geometry(page), 'a 420×480 window');
  await page.setViewportSize({ width: 1100, height: 800 });
  await page.close();
});

test('keyboard: the panel takes the focus, Tab goes round its controls, Escape closes it and gives the focus back', async () => {
  const { page, tabId } = await openPage(browser, 'polish_tall.html');
  await page.focus('#before');
  await selectText(page, '#near-top');
  await invokeWith(browser, tabId, 'report', {});
  await waitForPanel(page, ended, 60_000);
  assert.equal(await inPanel(page, PANEL_FOCUS), 'panel', 'the panel has the focus when it opens');
  const visited = [];
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    visited.push(await inPanel(page, PANEL_FOCUS));
  }
  assert.ok(visited.every((v) => !String(v).startsWith('outside') && v !== 'host' && v !== 'panel'), `Tab stays on the panel's controls: ${visited}`);
  const first = visited[0];
  assert.ok(visited.indexOf(first, 1) > 0, `Tab comes round to the first control again: ${visited}`);
  await page.keyboard.press('Shift+Tab');
  assert.notEqual(await inPanel(page, PANEL_FOCUS), 'outside:before', 'Shift+Tab stays in too');
  await page.keyboard.press('Escape');
  await until(async () => (await readPanel(page)) === null, 5_000, 'Escape closes the panel');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'before', 'the focus is back where it was');
  await page.close();
});

test('every text in the panel has AA contrast in light and dark mode; errors say what to do, with a button', async () => {
  const shots = [];
  for (const scheme of /** @type {const} */ (['light', 'dark'])) {
    const { page, tabId } = await openPage(browser, 'polish_tall.html');
    await page.emulateMedia({ colorScheme: scheme });
    // No language model installed: the recommended download is offered.
    await selectText(page, '#near-top');
    await invokeWith(browser, tabId, 'summarize', {});
    const offered = await waitForPanel(page, ended, 60_000);
    assert.equal(offered.state, 'error');
    assert.match(offered.actions.join('|'), /^Download /, 'the error has the download as its button');
    const offer = await inPanel(page, `function () { return (${contrastIssues})(this); }`);
    assert.ok(offer.checked >= 5, `texts checked: ${offer.checked}`);
    assert.deepEqual(offer.failures, [], `${scheme}: contrast of the offer`);

    // No language detector: the error names it, downloads it or opens the Models tab.
    await invokeWith(browser, tabId, 'detect', {});
    const detect = await waitForPanel(page, (p) => ended(p) && p.title.endsWith('Language'), 60_000);
    assert.equal(detect.state, 'error');
    assert.doesNotMatch(detect.status, /no_model|\(\w+_\w+\)/, `no developer wording: ${detect.status}`);
    assert.deepEqual(detect.actions, ['Download fastText lid.176', 'Open Models']);
    const error = await inPanel(page, `function () { return (${contrastIssues})(this); }`);
    assert.deepEqual(error.failures, [], `${scheme}: contrast of an error`);
    const box = await geometry(page);
    shots.push(await screenshot(page, `panel-${scheme}`, { clip: { x: box.left - 8, y: box.top - 8, width: box.right - box.left + 16, height: box.height + 16 } }));
    if (scheme === 'light') {
      // "Open Models" opens the popup's page on its Models tab.
      const opened = browser.context.waitForEvent('page', { timeout: 10_000 });
      // A real mouse click: the panel's actions ignore synthetic ones.
      const at = await inPanel(page, `function () {
        const r = [...this.querySelectorAll('.actions button')].find((b) => b.textContent === 'Open Models').getBoundingClientRect();
        return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
      }`);
      await page.mouse.click(at.x, at.y);
      const models = await opened;
      await models.waitForLoadState('load');
      assert.match(models.url(), /popup\/popup\.html.*#models$/);
      await models.waitForSelector('#tab-models[aria-selected="true"]', { timeout: 10_000 });
      await models.close();
    }

    // The backend report, finished, with its footer.
    await invokeWith(browser, tabId, 'report', {});
    await waitForPanel(page, (p) => ended(p) && !p.title.endsWith('Language'), 60_000);
    const report = await inPanel(page, `function () { return (${contrastIssues})(this); }`);
    assert.deepEqual(report.failures, [], `${scheme}: contrast of the report`);
    shots.push(await screenshot(page, `panel-report-${scheme}`));
    await page.close();
  }
  console.log(`screenshots: ${shots.join(', ')}`);
});

test('"Run on the CPU" (a GPU error\'s button) makes the CPU the backend', async () => {
  const page = await openExtensionPage(browser, 'popup/bench.html');
  const before = await page.evaluate(async () => (await import('/extension/backend_preference.js')).readBackendPreference());
  assert.equal(before, 'auto');
  // What the panel's button sends (content scripts cannot write the extension's storage).
  const answer = await page.evaluate(() => chrome.runtime.sendMessage({ type: 'locus.useCpu' }));
  assert.deepEqual(answer, { ok: true });
  const after = await page.evaluate(async () => (await import('/extension/backend_preference.js')).readBackendPreference());
  assert.equal(after, 'cpu');
  await page.evaluate(async () => (await import('/extension/backend_preference.js')).writeBackendPreference('auto'));
  await page.close();
});
