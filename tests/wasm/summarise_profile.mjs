// @ts-check
/**
 * Ranks the functions of a V8 `.cpuprofile` (from `node --cpu-prof`) by
 * self time: where a WASM decode step's time goes.
 *
 *   node tests/wasm/summarise_profile.mjs FILE.cpuprofile [top]
 */

import { readFileSync } from 'node:fs';

const [file, top = '30'] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, 'utf8'));
/** @type {Map<number, any>} */
const nodes = new Map(profile.nodes.map((/** @type {any} */ n) => [n.id, n]));
/** @type {Map<string, number>} */
const self = new Map();
const deltas = profile.timeDeltas;
let total = 0;
profile.samples.forEach((/** @type {number} */ id, /** @type {number} */ i) => {
  const frame = nodes.get(id).callFrame;
  const name = frame.functionName || `(anonymous ${frame.url.split('/').pop()}:${frame.lineNumber})`;
  const dt = deltas[i] ?? 0;
  total += dt;
  self.set(name, (self.get(name) ?? 0) + dt);
});
const ranked = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(top));
for (const [name, us] of ranked) {
  console.log(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name.slice(0, 160)}`);
}
console.log(`total ${(total / 1000).toFixed(0)} ms`);
