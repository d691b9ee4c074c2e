// @ts-check
/**
 * Hostile content stays inert: a selection with `<script>` and
 * `<img onerror>` (as elements and as text) goes to the model as text and
 * whatever comes back is shown without running anything; model output in
 * markdown with raw HTML and `javascript:` links is shown as text, with
 * only http(s) links.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT, openPage, readPanel, selectText } from './harness.js';
import { invokeWith, launchWithModels, waitForPanel } from './onpage_setup.js';

const OUT = path.join(REPO_ROOT, 'out');
/** @type {Awaited<ReturnType<typeof launchWithModels>>} */
let env;
before(async () => {
  await mkdir(OUT, { recursive: true });
  env = await launchWithModels({ llm: true, langid: false });
});
after(async () => env?.close());

/** Elements the markdown renderer may create; anything else would be a leak. */
const ALLOWED = new Set(['p', 'span', 'ul', 'ol', 'li', 'strong', 'em', 's', 'code', 'pre', 'blockquote', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'a', 'br', 'hr', 'table', 'thead', 'tbody', 'tr', 'th', 'td']);

test('a hostile selection goes to the model as text, and the reply is shown inert', async () => {
  const { page, tabId } = await openPage(env.browser, 'hostile.html');
  const selected = await selectText(page, '#hostile');
  assert.match(selected, /<script>window\.pwned/);
  await invokeWith(env.browser, tabId, 'summarize', { type: 'headline', length: 'short', format: 'markdown' });
  const panel = await waitForPanel(page, (p) => p.state !== 'running');
  assert.equal(panel.state, 'done', panel.status);
  assert.match(panel.result.prompt, /<img src=x onerror="window\.pwned\.push\('text-img'\)">/, 'the markup went to the model as text');
  assert.ok(panel.tags.every((tag) => ALLOWED.has(tag)), panel.tags.join(','));
  assert.ok(panel.links.every((href) => /^https?:/.test(String(href))), panel.links.join(','));
  assert.deepEqual(await page.evaluate(() => window.pwned), []);
  await page.close();
});

test('markdown with raw HTML and javascript: links from the model is rendered as inert text', async () => {
  const { page } = await openPage(env.browser, 'hostile.html');
  const reply = [
    '# Summary\n\n',
    '- <script>window.pwned.push("md-script")</script>\n',
    '- <img src=x onerror="window.pwned.push(\'md-img\')">\n',
    '- [click me](javascript:window.pwned.push("md-link")) and ',
    '[also](JaVaScRiPt:alert(1)) and <a href="javascript:alert(2)">raw</a>\n',
    '- ![tracker](https://example.invalid/pixel.gif) [a real link](https://example.org/page)\n\n',
    '<iframe src="javascript:alert(3)"></iframe>\n\n**bold** and `code`\n',
  ];
  // Feed the reply through the content script's own panel, token by token,
  // in the content script's isolated world (where the extension runs it).
  await inContentScript(page, async (/** @type {string[]} */ pieces) => {
    const { Panel } = await import(chrome.runtime.getURL('extension/bundle/content.js'));
    const panel = new Panel('Locus · Summary', null);
    panel.reset({ markdown: true });
    for (const text of pieces) panel.show({ type: 'event', id: 'x', event: 'token', text });
    panel.show({ type: 'event', id: 'x', event: 'done', result: { text: pieces.join('') } });
  }, reply);
  const panel = /** @type {import('./harness.js').PanelState} */ (await readPanel(page));
  assert.equal(panel.state, 'done');
  assert.ok(panel.tags.every((tag) => ALLOWED.has(tag)), panel.tags.join(','));
  for (const tag of ['script', 'img', 'iframe']) assert.ok(!panel.tags.includes(tag), `no <${tag}>`);
  assert.deepEqual(panel.links, ['https://example.org/page'], 'only the http(s) link is a link');
  assert.match(panel.output, /<script>window\.pwned\.push\("md-script"\)<\/script>/, 'raw HTML shows as text');
  assert.match(panel.output, /<img src=x onerror=/);
  assert.match(panel.output, /click me/);
  assert.ok(panel.tags.includes('h1') && panel.tags.includes('li') && panel.tags.includes('strong'), 'markdown still renders');
  await new Promise((r) => setTimeout(r, 300)); // time for any handler to have fired
  await page.screenshot({ path: path.join(OUT, 'panel-hostile-markdown.png') });
  assert.deepEqual(await page.evaluate(() => window.pwned), []);
  await page.close();
});

/**
 * Runs `fn(arg)` in the page's Locus content-script world.
 * @param {import('playwright-core').Page} page
 * @param {(arg: any) => Promise<void>} fn
 * @param {any} arg
 */
async function inContentScript(page, fn, arg) {
  const cdp = await page.context().newCDPSession(page);
  try {
    /** @type {any[]} */
    const contexts = [];
    cdp.on('Runtime.executionContextCreated', ({ context }) => contexts.push(context));
    await cdp.send('Runtime.enable');
    const world = contexts.find((c) => c.auxData?.type === 'isolated' && String(c.origin).startsWith(`chrome-extension://${env.browser.extensionId}`));
    assert.ok(world, `no Locus content-script world among ${JSON.stringify(contexts.map((c) => c.origin))}`);
    const { exceptionDetails } = await cdp.send('Runtime.evaluate', {
      expression: `(${fn.toString()})(${JSON.stringify(arg)})`,
      contextId: world.id,
      awaitPromise: true,
    });
    assert.equal(exceptionDetails, undefined, JSON.stringify(exceptionDetails));
  } finally {
    await cdp.detach();
  }
}
