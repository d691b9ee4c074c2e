// @ts-check
/**
 * "Test this device", opened from the Settings tab: the benchmark page
 * measures SmolLM2 on WebGPU (SwiftShader here) and on the CPU (WASM,
 * threads), shows a row for each with the adapter and its features, copies
 * the table as text, and keeps a verdict that `auto` then follows; Stop ends
 * a run within a step. The figures are printed.
 *
 * Every wait is bounded by silence (each runtime step, and every 15 s of a
 * long one, is reported) and by measured speed: on WebGPU the runtime's start
 * on SwiftShader bounds its warm-up step (the decoder's pipelines compiled,
 * one token), which bounds the rest. Measured on the 2-core machine at load
 * 7: start 0.7 s, warm-up 50.6 s, a 2-token prompt 46.4 s and one generated
 * token 48.8 s on SwiftShader, the CPU's part 0.6 s; 148 s in all (before
 * the benchmark told the GPU decoder where the run ends, its warm-up alone
 * ran a group of greedy steps ahead and had not finished after 240 s).
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, sendRaw } from './harness.js';
import { serveModels } from './model_server.js';

const MODEL = { id: 'smollm2-135m', file: 'SmolLM2-135M-Instruct.Q4_1.gguf', sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53' };
const PLAN = { promptTokens: 2, answerTokens: 1 };
/** The WebGPU warm-up's bound, in runtime starts on SwiftShader. */
const SWIFTSHADER_WORK = 200;
const MIN_GPU_BOUND_MS = 120_000;
/** The rest of the run's bound, in WebGPU warm-ups (one token each, with the decoder's pipelines to compile). */
const REST_IN_WARMUPS = 10;
/** A run that says nothing for this long is stuck: each step, and every 15 s of a long one, is reported. */
const QUIET_MS = 60_000;

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;
before(async () => {
  [browser, server] = await Promise.all([launch({ webgpu: true }), serveModels()]);
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  const { file, ...payload } = MODEL;
  const events = await sendRaw(popup, { type: 'request', id: 'dl', kind: 'models.download', payload: { ...payload, url: server.url(file) } }, 120_000);
  assert.equal(events.at(-1).event, 'done', JSON.stringify(events.at(-1)));
  await popup.close();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Opens the page as a user does: Settings → "Test this device". */
async function openFromSettings() {
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  await popup.click('#tab-settings');
  const [page] = await Promise.all([browser.context.waitForEvent('page'), popup.click('#test-device')]);
  await page.waitForLoadState();
  assert.match(page.url(), /\/popup\/bench\.html$/);
  await popup.close();
  return page;
}

test('Settings → "Test this device" measures the CPU and shows a copyable table', async () => {
  const page = await openFromSettings();
  await page.goto(`${page.url()}?backends=cpu`);
  await page.fill('input[name="promptTokens"]', '16');
  await page.fill('input[name="answerTokens"]', '4');
  await page.click('#bench-run');
  await waitForRun(page, (events) => events.some((e) => e.event === 'done'));
  const text = await page.locator('#bench-text').inputValue();
  console.log(text);
  const result = await page.evaluate(() => /** @type {any} */ (globalThis).locusBench.result);
  assert.equal(result.rows.length, 1);
  const [row] = result.rows;
  assert.ok(!row.error && row.promptTokensPerSecond > 0 && row.answerTokensPerSecond > 0 && row.firstTokenMs > 0, JSON.stringify(row));
  assert.match(text, /\| CPU \| smollm2/i);
  assert.match(text, /CPU: \d+ logical cores, \d+ WASM thread\(s\), cross-origin isolated yes/);
  assert.equal(await page.locator('#bench-table tbody tr[data-backend="cpu"]').count(), 1);
  await assertCopies(page, text);
  await page.close();
});

test('both backends: a row for WebGPU (SwiftShader) and one for the CPU, copyable; auto then follows the verdict', async () => {
  const page = await openFromSettings();
  await page.fill('input[name="promptTokens"]', String(PLAN.promptTokens));
  await page.fill('input[name="answerTokens"]', String(PLAN.answerTokens));
  await page.click('#bench-run');
  // WebGPU runs first. Its start (adapter, device, the kernels' self-tests)
  // is timed, and its warm-up step (the decoder's pipelines compiled by
  // SwiftShader, one token) gets SWIFTSHADER_WORK times that; the rest (the
  // prompt, the answer, then the CPU) gets REST_IN_WARMUPS warm-ups. Every
  // step is reported, and a running one every 15 s: a silent run fails
  // sooner (`waitForRun`).
  const isGpu = (/** @type {any} */ e) => e.backend === 'webgpu';
  const started = await waitForRun(page, (events) => events.some((e) => isGpu(e) && /^(Loading|Measuring) /.test(e.message ?? '')));
  const gpuStartMs = started.at(-1).at - started[0].at;
  const warmupBound = Math.max(MIN_GPU_BOUND_MS, SWIFTSHADER_WORK * gpuStartMs);
  console.log(`WebGPU (SwiftShader) started in ${(gpuStartMs / 1000).toFixed(1)} s: its warm-up gets ${(warmupBound / 1000).toFixed(0)} s`);
  const warm = await waitForRun(page, (events) => events.some((e) => isGpu(e) && e.step?.phase === 'warmup'), Date.now() + warmupBound);
  const measuring = warm.find((e) => isGpu(e) && e.message?.startsWith('Measuring'));
  const warmupMs = warm.at(-1).at - measuring.at;
  const restBound = REST_IN_WARMUPS * warmupMs;
  console.log(`its warm-up took ${(warmupMs / 1000).toFixed(1)} s: the rest gets ${(restBound / 1000).toFixed(0)} s`);
  const events = await waitForRun(page, (events) => events.some((e) => e.event === 'done'), Date.now() + restBound);
  console.log(timeline(events));
  const result = await page.evaluate(() => /** @type {any} */ (globalThis).locusBench.result);
  const text = await page.locator('#bench-text').inputValue();
  console.log(text);

  // The table: one row per backend, with prompt and generation tokens/s and the first token.
  const rows = await page.locator('#bench-table tbody tr').evaluateAll((trs) =>
    trs.map((tr) => ({ backend: /** @type {HTMLElement} */ (tr).dataset.backend, cells: [...tr.children].map((td) => td.textContent ?? '') })),
  );
  assert.deepEqual(rows.map((r) => r.backend), ['webgpu', 'cpu']);
  for (const row of rows) {
    const [, model, , prompt, answer, firstToken] = row.cells;
    assert.match(model, /smollm2/i);
    for (const figure of [prompt, answer, firstToken]) assert.ok(Number(figure) > 0, `${row.backend}: ${JSON.stringify(row.cells)}`);
  }
  for (const row of result.rows) {
    assert.ok(!row.error, JSON.stringify(row));
    assert.equal(row.promptTokens, PLAN.promptTokens);
  }
  // The adapter and its features.
  const device = await page.locator('#bench-device').innerText();
  assert.match(device, /swiftshader|fallback/i);
  assert.match(device, /shader-f16 (yes|no), subgroups (yes|no)/);
  assert.match(text, /\| WebGPU \| smollm2/i);
  assert.match(text, /\| CPU \| smollm2/i);
  assert.match(text, /WebGPU adapter: .*(swiftshader|fallback)/i);
  assert.match(text, /Features: shader-f16 (yes|no), subgroups/);
  await assertCopies(page, text);

  // The verdict is kept, and `auto` follows it from the next request on,
  // without a restart: the backend measured faster, and the indicator says why.
  assert.ok(result.verdict && result.verdict.cpuSeconds > 0 && result.verdict.webgpuSeconds > 0, JSON.stringify(result.verdict));
  assert.notEqual(await page.locator('#bench-verdict').innerText(), '');
  const cpuFaster = result.verdict.cpuSeconds <= result.verdict.webgpuSeconds;
  const ratio = Math.max(result.verdict.cpuSeconds, result.verdict.webgpuSeconds) / Math.min(result.verdict.cpuSeconds, result.verdict.webgpuSeconds);
  console.log(`verdict: WebGPU ${result.verdict.webgpuSeconds.toFixed(1)} s, CPU ${result.verdict.cpuSeconds.toFixed(1)} s`);
  const popup = await openExtensionPage(browser, 'popup/popup.html');
  const badge = popup.locator(`#backend[data-state="${cpuFaster ? 'cpu' : 'gpu'}"]`);
  await badge.waitFor({ timeout: QUIET_MS });
  const indicator = await badge.innerText();
  console.log(`auto after the benchmark: ${indicator}`);
  if (cpuFaster) {
    const said = Number(indicator.match(/^CPU — the only GPU is a software renderer \(.+\), (\d+(?:\.\d)?)× slower here$/)?.[1]);
    assert.ok(Math.abs(said - ratio) <= Math.max(0.05, ratio / 200), `${indicator} (measured ${ratio.toFixed(2)}×)`);
  } else assert.match(indicator, /^WebGPU · /);
  await popup.close();
  await page.close();
});

test('Stop ends a running benchmark within one step, says so, and the next run goes ahead', async () => {
  const page = await openFromSettings();
  await page.goto(`${page.url()}?backends=cpu`);
  // The longest run the page allows, stopped while it reads the prompt (64-token
  // chunks on the CPU): a Stop the runtime ignored would keep it busy for
  // many more steps than the bound below allows.
  await page.fill('input[name="promptTokens"]', '2048');
  await page.fill('input[name="answerTokens"]', '256');
  await page.click('#bench-run');
  const running = await waitForRun(page, (events) => promptSteps(events).length >= 3);
  // The slowest chunk so far (from the warm-up's end): the runtime's step on this machine now.
  const steps = running.filter((e) => e.step && e.step.phase !== 'answer');
  const stepMs = Math.max(...steps.slice(1).map((e, i) => e.at - steps[i].at));
  const { done, total } = steps.at(-1).step;
  const chunk = promptSteps(running)[0].step.done;
  const stepsLeft = Math.ceil((total - done) / chunk);
  console.log(`CPU: ${done} of ${total} prompt tokens read, the slowest ${chunk}-token step ${stepMs} ms; Stop`);
  const stoppedAt = await page.evaluate(() => Date.now());
  await page.click('#bench-stop');
  await page.locator('#bench-status[data-state="stopped"]').waitFor({ timeout: 5_000 });
  assert.match(await page.locator('#bench-status').innerText(), /^Stopped after \d+ s\./);
  assert.equal(await page.locator('#bench-stop').isHidden(), true);
  assert.equal(await page.locator('#bench-run').isEnabled(), true);
  assert.equal(await page.locator('#bench-result').isHidden(), true, 'a stopped run shows no table');

  // The runtime runs one benchmark at a time: the next one starts only once
  // the stopped one has ended, which must be within about a step (an
  // ignored Stop would take the rest of the prompt and the 256 tokens).
  const bound = 5 * stepMs + 2_000;
  assert.ok(stepsLeft * stepMs > 2 * bound, `stopped early enough to tell: ${stepsLeft} prompt steps left`);
  await page.fill('input[name="promptTokens"]', '4');
  await page.fill('input[name="answerTokens"]', '2');
  await page.click('#bench-run');
  const next = await waitForRun(page, (events) => events.length > 0, stoppedAt + bound).catch((error) => {
    throw new Error(`the next run had not started ${bound} ms after Stop: the stopped run went on (${error.message})`);
  });
  const startedAfter = next[0].at - stoppedAt;
  console.log(`the next run started ${startedAfter} ms after Stop (bound ${bound} ms)`);
  assert.ok(startedAfter <= bound, `the next run started ${startedAfter} ms after Stop, over ${bound} ms: the stopped run went on`);
  await waitForRun(page, (events) => events.some((e) => e.event === 'done'));
  assert.equal(await page.locator('#bench-status').getAttribute('data-state'), 'done');
  const result = await page.evaluate(() => /** @type {any} */ (globalThis).locusBench.result);
  assert.equal(result.rows[0].answerTokens, 2, JSON.stringify(result.rows));
  await page.close();
});

/** A run's events, one line each: seconds since the first, and the message. @param {any[]} events */
function timeline(events) {
  return events.map((e) => `${((e.at - events[0].at) / 1000).toFixed(1).padStart(7)} s  ${e.event === 'progress' ? e.message : e.event}`).join('\n');
}

/** The runtime's prompt-chunk steps among the page's events. @param {any[]} events */
const promptSteps = (events) => events.filter((e) => e.event === 'progress' && e.step?.phase === 'prompt');

/**
 * Waits until `test` holds for the page's current run's events; fails when
 * the run ends otherwise, says nothing for `QUIET_MS` (a running step is
 * reported at least every 15 s), or `deadline` (the page's Date.now()) passes.
 * @param {import('playwright-core').Page} page @param {(events: any[]) => boolean} test
 * @param {number} [deadline]
 * @returns {Promise<any[]>}
 */
async function waitForRun(page, test, deadline = Infinity) {
  let heard = Date.now();
  let count = -1;
  for (;;) {
    const events = await page.evaluate(() => /** @type {any[]} */ (/** @type {any} */ (globalThis).locusBench.events));
    if (test(events)) return events;
    const last = events.at(-1);
    if (last && (last.event === 'done' || last.event === 'error')) throw new Error(`the run ended first: ${JSON.stringify(last).slice(0, 500)}`);
    if (events.length !== count) [count, heard] = [events.length, Date.now()];
    if (Date.now() - heard > QUIET_MS) throw new Error(`no progress for ${QUIET_MS} ms: ${JSON.stringify(events.slice(-2))}`);
    if (Date.now() > deadline) throw new Error(`not done by the bound: ${JSON.stringify(events.slice(-2))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The Copy button puts the table's text on the clipboard (read back in a
 * local page: permissions cannot be granted to an extension's origin).
 * @param {import('playwright-core').Page} page @param {string} text
 */
async function assertCopies(page, text) {
  await page.bringToFront();
  await page.click('#bench-copy');
  await page.locator('#bench-copy', { hasText: 'Copied' }).waitFor({ timeout: 5_000 });
  const reader = await browser.context.newPage();
  await reader.goto(`${browser.baseUrl}/article.html`);
  await browser.context.grantPermissions(['clipboard-read'], { origin: new URL(browser.baseUrl).origin });
  assert.equal(await reader.evaluate(() => navigator.clipboard.readText()), text);
  await reader.close();
}
