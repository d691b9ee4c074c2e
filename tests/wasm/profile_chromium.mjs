// @ts-check
/**
 * Where a WASM decode step's time goes, in headless Chromium (the engine
 * users run; Node 20's V8 miscompiles relaxed SIMD): serves this checkout
 * cross-origin isolated, loads a `pkg/` build in a page, loads a model from
 * bytes through a stand-in for OPFS's synchronous access handle, runs the
 * device benchmark (`Runtime.bench`) on one thread under the DevTools
 * profiler, prints tokens/s and writes the `.cpuprofile`
 * (`summarise_profile.mjs` ranks its functions: use a `pkg/` whose wasm
 * keeps its name section, e.g. wasm-bindgen's output before wasm-opt).
 * Not a test: a measurement.
 *
 *   node tests/wasm/profile_chromium.mjs PKG_DIR MODEL_FILE PROMPT ANSWER RUNS [OUT.cpuprofile]
 */

import { createServer } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
const CHROMIUM = process.env.LOCUS_CHROMIUM ?? '/usr/bin/chromium';

const [pkgDir, model, prompt = '64', answer = '32', runs = '3', out] = process.argv.slice(2);
if (!pkgDir || !model) throw new Error('usage: profile_chromium.mjs PKG_DIR MODEL_FILE [PROMPT ANSWER RUNS OUT]');

const files = {
  '/locus.js': path.join(pkgDir, 'locus.js'),
  '/locus_bg.wasm': path.join(pkgDir, 'locus_bg.wasm'),
  '/model.gguf': model,
};
const server = createServer(async (req, res) => {
  const file = files[/** @type {keyof files} */ (req.url ?? '')];
  const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
  if (req.url === '/') {
    res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end('<!doctype html><title>profile</title>');
  } else if (file) {
    const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream';
    res.writeHead(200, { ...headers, 'Content-Type': type }).end(await readFile(file));
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(undefined)));
const address = server.address();
const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless=new'] });
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.log(`[page] ${m.text()}`));
  await page.goto(origin);
  await page.evaluate(async () => {
    const pkg = await import('/locus.js');
    await pkg.default({ module_or_path: '/locus_bg.wasm' });
    const bytes = new Uint8Array(await (await fetch('/model.gguf')).arrayBuffer());
    const handle = {
      getSize: () => bytes.length,
      read: (/** @type {Uint8Array} */ buf, /** @type {{at:number}} */ { at }) => {
        const part = bytes.subarray(at, at + buf.length);
        buf.set(part);
        return part.length;
      },
      close: () => {},
    };
    const runtime = await pkg.Runtime.create({ backend: 'cpu' });
    runtime.loadModel('model.gguf', handle);
    Object.assign(globalThis, { runtime });
  });
  const cdp = await page.context().newCDPSession(page);
  if (out) {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  }
  const figures = await page.evaluate(
    async ([p, a, n]) => {
      const all = [];
      // @ts-ignore
      for (let i = 0; i < n; i++) all.push(await globalThis.runtime.bench(p, a));
      return all;
    },
    [Number(prompt), Number(answer), Number(runs)],
  );
  if (out) {
    const { profile } = await cdp.send('Profiler.stop');
    await writeFile(out, JSON.stringify(profile));
  }
  const median = (/** @type {number[]} */ v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
  for (const f of figures) console.log(JSON.stringify(f));
  console.log(
    `median of ${runs}: pp${prompt} ${median(figures.map((f) => f.promptTokensPerSecond)).toFixed(1)} ` +
      `tg${answer} ${median(figures.map((f) => f.answerTokensPerSecond)).toFixed(1)} tokens/s (1 thread, Chromium)`,
  );
} finally {
  await browser.close();
  server.close();
}
