// @ts-check
/**
 * The WASM runtime's CPU path under Node, one thread: loads a model from
 * disk through a stand-in for OPFS's synchronous access handle and runs the
 * device benchmark (`Runtime.bench`), printing prompt and decode tokens/s.
 * Not a test: a measurement and a profiling harness. Node runs the same
 * SIMD128 code as Chromium's V8, so `node --cpu-prof` on it gives a decode
 * step's time function by function (with a `pkg/` whose wasm keeps its
 * name section; `summarise_profile.mjs` ranks the functions).
 *
 *   node tests/wasm/bench_node.mjs [pkg dir] [model file] [prompt tokens] [answer tokens] [runs]
 */

import { openSync, readSync, fstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [pkgDir = path.join(root, 'pkg'), model = path.join(root, 'models/SmolLM2-135M-Instruct.Q4_1.gguf')] = process.argv.slice(2);
const promptTokens = Number(process.argv[4] ?? 64);
const answerTokens = Number(process.argv[5] ?? 32);
const runs = Number(process.argv[6] ?? 3);

const pkg = await import(pathToFileURL(path.join(pkgDir, 'locus.js')).href);
pkg.initSync({ module: readFileSync(path.join(pkgDir, 'locus_bg.wasm')) });

/** What `FileSystemSyncAccessHandle` offers the runtime: size and positioned reads. */
function syncHandle(/** @type {string} */ file) {
  const fd = openSync(file, 'r');
  return {
    getSize: () => fstatSync(fd).size,
    read: (/** @type {Uint8Array} */ buf, /** @type {{at:number}} */ { at }) => readSync(fd, buf, 0, buf.length, at),
    close: () => {},
  };
}

const runtime = await pkg.Runtime.create({ backend: 'cpu' });
const started = performance.now();
runtime.loadModel(path.basename(model), syncHandle(model));
console.log(`loaded ${path.basename(model)} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
const median = (/** @type {number[]} */ v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const pp = [];
const tg = [];
for (let i = 0; i < runs; i++) {
  const figures = await runtime.bench(promptTokens, answerTokens);
  console.log(JSON.stringify(figures));
  pp.push(figures.promptTokensPerSecond);
  tg.push(figures.answerTokensPerSecond);
}
console.log(`median of ${runs}: pp${promptTokens} ${median(pp).toFixed(1)} tg${answerTokens} ${median(tg).toFixed(1)} tokens/s`);
