// @ts-check
/**
 * The main job of `cargo xtask run`: Chromium with the unpacked extension
 * installs the default model (SmolLM2-135M-Instruct, downloaded through the
 * extension's own model store from a local server holding `models/`), opens
 * the bundled sample article and summarises the page: Readability finds the
 * article, the runtime (WASM on the CPU here) streams the summary into the
 * on-page panel. The summary is printed and a screenshot saved to
 * out/locus-run.png.
 */

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT, openPage, waitForPanelEnd } from '../tests/e2e/harness.js';
import { invokeWith, launchWithModels } from '../tests/e2e/onpage_setup.js';

const out = path.join(REPO_ROOT, 'out');
await mkdir(out, { recursive: true });
const env = await launchWithModels({ llm: true, langid: false });
try {
  const browser = env.browser;
  const { page, tabId } = await openPage(browser, 'article.html');
  console.log(`Opened ${page.url()} with Locus ${browser.extensionId}; summarising the page…`);
  await invokeWith(browser, tabId, 'summarize', { type: 'key-points', length: 'short', format: 'markdown' });
  const panel = await waitForPanelEnd(page, 600_000);
  const screenshot = path.join(out, 'locus-run.png');
  await page.screenshot({ path: screenshot });
  // The answer as the runtime wrote it (markdown bullets); the panel shows it rendered.
  const summary = typeof panel.result?.text === 'string' ? panel.result.text : panel.output;
  console.log(`\n${panel.title}\n${'-'.repeat(panel.title.length)}\n${summary.trim()}\n`);
  console.log(`${panel.footer}\nStatus: ${panel.status}. Events: ${JSON.stringify(panel.events)}`);
  console.log(`Screenshot: ${screenshot}`);
  if (panel.state !== 'done') process.exitCode = 1;
} finally {
  await env.close();
}
