// @ts-check
/** "Test this device" (from Settings): runs the device benchmark in the runtime and shows its table. */

import { LocusClient } from '../extension/client.js';
import { localize } from '../extension/i18n.js';
import { t } from './format.js';
import { adapterLine, benchText, featuresLine, rowCells } from './bench_table.js';

const client = new LocusClient();
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** `?backends=cpu` measures only those (diagnostics, and the quick end-to-end test). */
const BACKENDS = new URLSearchParams(location.search).get('backends')?.split(',') ?? undefined;
const HEADERS = ['benchBackend', 'benchModel', 'benchLoad', 'benchPrompt', 'benchAnswer', 'benchFirstToken'];

localize(document);
const form = /** @type {HTMLFormElement} */ ($('bench-form'));
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(form);
  run({ promptTokens: Number(data.get('promptTokens')), answerTokens: Number(data.get('answerTokens')) });
});
// For tests: the last result.
Object.assign(globalThis, { locusBench: { result: null } });

/** @param {{promptTokens:number, answerTokens:number}} plan */
function run(plan) {
  const button = /** @type {HTMLButtonElement} */ ($('bench-run'));
  const status = $('bench-status');
  button.disabled = true;
  status.hidden = false;
  status.classList.remove('error');
  status.textContent = t('benchRunning');
  const started = Date.now();
  client.request('device.bench', { ...plan, backends: BACKENDS }, (event) => {
    if (event.event === 'progress') {
      status.textContent = t('benchStep', event.message, Math.round((Date.now() - started) / 1000));
    } else if (event.event === 'done') {
      button.disabled = false;
      status.textContent = t('benchDone', Math.round((Date.now() - started) / 1000));
      show(event.result);
    } else if (event.event === 'error') {
      button.disabled = false;
      status.classList.add('error');
      status.textContent = event.message;
    }
  });
}

/** @param {import('./bench_table.js').BenchResult} result */
function show(result) {
  /** @type {any} */ (globalThis).locusBench.result = result;
  const device = $('bench-device');
  device.replaceChildren(
    item(t('benchAdapter', adapterLine(result.adapter))),
    item(t('benchFeatures', featuresLine(result.adapter))),
    item(t('benchCpu', result.threads.hardwareConcurrency, result.threads.wasmThreads ?? 1, t(result.threads.crossOriginIsolated ? 'benchYes' : 'benchNo'))),
  );
  const body = /** @type {HTMLTableSectionElement} */ ($('bench-table').querySelector('tbody'));
  body.replaceChildren(
    ...result.rows.map((row) => {
      const tr = document.createElement('tr');
      tr.dataset.backend = row.backend;
      for (const [index, text] of rowCells(row).entries()) {
        const td = document.createElement('td');
        td.textContent = text;
        if (row.error && index === 2) {
          td.className = 'error';
          td.colSpan = 4;
          tr.append(td);
          break;
        }
        if (index >= 2) td.className = 'number';
        tr.append(td);
      }
      return tr;
    }),
  );
  const verdict = result.verdict;
  $('bench-verdict').textContent = verdict
    ? t(verdict.webgpuSeconds < verdict.cpuSeconds ? 'benchVerdictGpu' : 'benchVerdictCpu', verdict.webgpuSeconds.toFixed(1), verdict.cpuSeconds.toFixed(1))
    : t('benchNoVerdict');
  const text = /** @type {HTMLTextAreaElement} */ ($('bench-text'));
  text.value = benchText(result, HEADERS.map((key) => t(key)));
  $('bench-copy').onclick = async () => {
    try {
      await navigator.clipboard.writeText(text.value);
      $('bench-copy').textContent = t('benchCopied');
    } catch {
      text.select(); // no clipboard permission here: the text is selected for Ctrl+C
    }
  };
  $('bench-result').hidden = false;
}

/** @param {string} text */
function item(text) {
  const li = document.createElement('li');
  li.textContent = text;
  return li;
}
