// @ts-check
/**
 * Summarise, end to end with the real SmolLM2 in the real extension (CPU
 * backend): a selection streams into the panel exactly as the native
 * runtime writes it (tests/onpage.rs checks the fixture natively); a page
 * without a selection is summarised from its article, not its comments; a
 * text three times the context is summarised part by part; Stop stops, and
 * the next request runs at once.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, readPanel } from './harness.js';
import { invokeWith, launchWithModels, selectNewText, summaryFixture, waitForPanel } from './onpage_setup.js';

/** @type {Awaited<ReturnType<typeof launchWithModels>>} */
let env;
before(async () => {
  env = await launchWithModels({ llm: true, langid: false });
});
after(async () => env?.close());

const ended = (/** @type {any} */ panel) => panel.state !== 'running';

test('a selected paragraph streams into the panel, equal to the native greedy summary', async () => {
  const fixture = await summaryFixture();
  const { page, tabId } = await openPage(env.browser, 'onpage.html');
  const selected = await selectNewText(page, '#slot', fixture.payload.text);
  assert.equal(selected, fixture.payload.text);
  const { type, length, format } = fixture.payload;
  await invokeWith(env.browser, tabId, 'summarize', { type, length, format });

  // A summary commits whole sentences or bullets (src/tasks/shape.rs) and
  // streams the one in progress token by token as a draft, so even this
  // one-sentence TL;DR arrives in several events; the draft is gone at the end.
  const panel = await waitForPanel(page, ended);
  assert.equal(panel.state, 'done', panel.status);
  assert.ok(panel.events.token >= 3 && panel.events.drafts >= 3, JSON.stringify(panel.events));
  assert.equal(panel.output, fixture.text, 'the panel shows the native greedy output');
  assert.equal(panel.result.text, fixture.text);
  assert.match(panel.footer, /^smollm2-135m · CPU · \d+(\.\d)? tokens\/s$/);
  console.log(`summary: ${panel.result.tokens} tokens at ${panel.result.tokensPerSecond.toFixed(1)} tokens/s ` +
    `(prompt ${panel.result.promptTokens} tokens at ${panel.result.promptTokensPerSecond.toFixed(0)} tokens/s)`);
  await page.close();
});

test('with nothing selected, the page is summarised from its article, without ads and comments', async () => {
  const { page, tabId } = await openPage(env.browser, 'article.html');
  await invokeWith(env.browser, tabId, 'summarize', { type: 'headline', length: 'short', format: 'plain-text' });
  const panel = await waitForPanel(page, ended);
  assert.equal(panel.state, 'done', panel.status);
  const prompt = panel.result.prompt;
  assert.match(prompt, /The quiet return of the night train/);
  assert.match(prompt, /After decades of decline, overnight trains are running again/);
  assert.match(prompt, /Demand, at least, is not the problem\./);
  assert.doesNotMatch(prompt, /COMMENT:|ADVERTISEMENT|SPONSORED|Subscribe/);
  assert.ok(panel.output.trim().length > 0);
  await page.close();
});

test('a text three times the context is summarised part by part, with progress for each part', async () => {
  const { page, tabId } = await openPage(env.browser, 'onpage.html');
  const sentences = [
    'The museum reopened after a long renovation of its east wing.',
    'Visitors can now see the restored ceiling paintings up close from a new gallery.',
    'The work took four years and cost more than the original estimate.',
    'Curators used the closure to catalogue thousands of drawings for the first time.',
    'A new café and a garden courtyard were added on the ground floor.',
    'Entry remains free on the first Sunday of every month.',
  ];
  // About 800 tokens for a 256-token context.
  const text = Array.from({ length: 60 }, (_, i) => sentences[i % sentences.length]).join(' ');
  await selectNewText(page, '#slot', text);
  await invokeWith(env.browser, tabId, 'summarize', { type: 'headline', length: 'short', format: 'plain-text', contextTokens: 256 });
  // Bounded by the panel's silence (a progress event starts every part and
  // announces its prompt), not by a total: the whole run takes minutes on a
  // loaded 2-core machine, one part well under the 300 s.
  const panel = await waitForPanel(page, ended, 300_000, { quiet: true });
  assert.equal(panel.state, 'done', panel.status);
  const parts = panel.progress.filter((p) => p.stage === 'part');
  const total = parts[0]?.total;
  assert.ok(total >= 3, `split into ${total} parts`);
  assert.deepEqual(parts.map((p) => p.done), [...Array(total).keys()], 'one progress event per part, in order');
  assert.ok(panel.progress.some((p) => p.stage === 'combine'));
  assert.equal(panel.result.parts, total);
  assert.ok(panel.output.trim().length > 0);
  console.log(`long text: ${total} parts, ${panel.result.tokens} tokens generated, headline: ${panel.output.trim()}`);
  await page.close();
});

test('Stop ends a summary mid-stream, and the next request starts at once', async () => {
  const fixture = await summaryFixture();
  const { page, tabId } = await openPage(env.browser, 'onpage.html');
  await selectNewText(page, '#slot', fixture.payload.text);
  await invokeWith(env.browser, tabId, 'summarize', { type: 'key-points', length: 'long', format: 'markdown' });
  // The first bullet shows while the others are being written.
  const streaming = await waitForPanel(page, (p) => p.events.token >= 1 || ended(p), 300_000, { quiet: true });
  assert.equal(streaming.state, 'running', `still running with ${streaming.events.token} bullets shown`);
  await page.keyboard.press('Escape'); // closing the panel stops its request
  assert.equal(await readPanel(page), null);

  const started = Date.now();
  await invokeWith(env.browser, tabId, 'summarize', { type: fixture.payload.type, length: fixture.payload.length, format: fixture.payload.format });
  // The runtime reads the new prompt as soon as the request arrives: the
  // stopped generation is not in its way (tests/onpage.rs checks it stops
  // within one token).
  const reading = await waitForPanel(page, (p) => p.progress.some((e) => e.stage === 'prompt') || ended(p));
  const seconds = (Date.now() - started) / 1000;
  assert.equal(reading.state, 'running', reading.status);
  console.log(`the next request was reading its prompt after ${seconds.toFixed(1)} s`);
  assert.ok(seconds < 5, `the next request waited ${seconds} s`);
  const panel = await waitForPanel(page, ended);
  assert.equal(panel.state, 'done', panel.status);
  assert.equal(panel.output, fixture.text, 'the next request is not disturbed by the stopped one');
  await page.close();
});
