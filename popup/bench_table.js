// @ts-check
/**
 * The device benchmark's result as table cells and as copyable text (a
 * Markdown table, readable as plain text too). No DOM, no chrome APIs: the
 * labels come from the caller.
 */

/**
 * @typedef {{backend:string, model:string|null, error?:string, loadMs?:number, promptTokens?:number,
 *   answerTokens?:number, firstTokenMs?:number, promptTokensPerSecond?:number, answerTokensPerSecond?:number}} BenchRow
 * @typedef {{plan:{promptTokens:number, answerTokens:number}, threads:{hardwareConcurrency:number, crossOriginIsolated:boolean, wasmThreads?:number},
 *   adapter:any, rows:BenchRow[], verdict:{webgpuSeconds:number, cpuSeconds:number, model:string}|null}} BenchResult
 */

/** @param {number|undefined} value @param {number} digits */
const fixed = (value, digits) => (typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—');

/**
 * Tokens/s with `digits` decimals, or two significant digits where those
 * would round a measured rate to zero (a software GPU: 0.038 tokens/s).
 * @param {number|undefined} value @param {number} digits
 */
const rate = (value, digits) =>
  typeof value === 'number' && value > 0 && value < 0.5 * 10 ** -digits ? value.toPrecision(2) : fixed(value, digits);

/**
 * One row's cells: backend, model, load s, prompt t/s, generation t/s, first token ms.
 * @param {BenchRow} row @returns {string[]}
 */
export function rowCells(row) {
  const backend = row.backend === 'webgpu' ? 'WebGPU' : 'CPU';
  if (row.error) return [backend, row.model ?? '—', row.error, '', '', ''];
  return [
    backend,
    row.model ?? '—',
    fixed((row.loadMs ?? NaN) / 1000, 1),
    rate(row.promptTokensPerSecond, 1),
    rate(row.answerTokensPerSecond, 2),
    fixed(row.firstTokenMs, 0),
  ];
}

/** The adapter in one line: name, vendor, architecture, fallback or not. @param {any} report */
export function adapterLine(report) {
  const adapter = report?.adapter ?? report?.skippedAdapter;
  if (!adapter) return `none (${report?.fallbackReason ?? 'no WebGPU adapter'})`;
  const parts = [adapter.name, adapter.vendor, adapter.architecture].filter((s) => typeof s === 'string' && s.length);
  return `${parts.join(' · ') || 'unnamed'}${adapter.isFallbackAdapter ? ' (software / fallback adapter)' : ''}`;
}

/** The adapter's features in one line. @param {any} report */
export function featuresLine(report) {
  const f = report?.features;
  if (!f) return '—';
  const yes = (/** @type {boolean} */ b) => (b ? 'yes' : 'no');
  return `shader-f16 ${yes(f.shaderF16)}, subgroups ${yes(f.subgroups)}${f.subgroups ? ` (${f.subgroupMinSize}–${f.subgroupMaxSize})` : ''}, fma rounds once ${yes(f.fusedFma)}`;
}

/**
 * The whole result as copyable text.
 * @param {BenchResult} result @param {string[]} headers
 */
export function benchText(result, headers) {
  const lines = [
    `Locus device test: ${result.plan.promptTokens}-token prompt, ${result.plan.answerTokens} generated tokens`,
    `WebGPU adapter: ${adapterLine(result.adapter)}`,
    `Features: ${featuresLine(result.adapter)}`,
    `CPU: ${result.threads.hardwareConcurrency} logical cores, ${result.threads.wasmThreads ?? 1} WASM thread(s), cross-origin isolated ${result.threads.crossOriginIsolated ? 'yes' : 'no'}`,
    '',
    `| ${headers.join(' | ')} |`,
    `|${headers.map(() => '---').join('|')}|`,
    ...result.rows.map((row) => `| ${rowCells(row).join(' | ')} |`),
  ];
  if (result.verdict) lines.push('', verdictLine(result.verdict));
  return lines.join('\n');
}

/** Which backend the page task favours. @param {{webgpuSeconds:number, cpuSeconds:number}} v */
export function verdictLine(v) {
  const faster = v.webgpuSeconds < v.cpuSeconds ? 'WebGPU' : 'CPU';
  const ratio = Math.max(v.webgpuSeconds, v.cpuSeconds) / Math.max(1e-9, Math.min(v.webgpuSeconds, v.cpuSeconds));
  return `A 256-token prompt and a 64-token answer: WebGPU ${v.webgpuSeconds.toFixed(1)} s, CPU ${v.cpuSeconds.toFixed(1)} s — ${faster} is ${ratio.toFixed(1)}× faster here.`;
}
