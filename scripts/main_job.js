// @ts-check
/**
 * The main job of `cargo xtask run`: Chromium with the unpacked extension
 * opens the bundled sample article and Locus works on it; the result is
 * printed here and a screenshot saved to out/locus-run.png.
 *
 * Until the inference runtime lands, the best job that exists is the
 * runtime's backend report, streamed into the on-page panel.
 */

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT, invoke, launch, openPage, waitForPanelEnd } from '../tests/e2e/harness.js';

const out = path.join(REPO_ROOT, 'out');
await mkdir(out, { recursive: true });
const browser = await launch({ webgpu: true });
try {
  const { page, tabId } = await openPage(browser, 'article.html');
  console.log(`Opened ${page.url()} with Locus ${browser.extensionId}`);
  await invoke(browser, ({ tabId: id }) => globalThis.locus.invokeInTab(id, { action: 'report' }), { tabId });
  const panel = await waitForPanelEnd(page, 120_000);
  const screenshot = path.join(out, 'locus-run.png');
  await page.screenshot({ path: screenshot });
  console.log(`\n${panel.title}\n${'-'.repeat(panel.title.length)}\n${panel.output.trim()}\n`);
  console.log(`Status: ${panel.status}. Events: ${JSON.stringify(panel.events)}`);
  console.log(`Screenshot: ${screenshot}`);
  if (panel.state !== 'done') process.exitCode = 1;
} finally {
  await browser.close();
}
