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
/**
 * For tests: the last result, and the current run's events (each with `at`,
 * this page's Date.now() when it came).
 */
/** @type {{result: any, events: any[]}} */
const state = { result: null, events: [] };
Object.assign(globalThis, { locusBench: state });

/** @param {{promptTokens:number, answerTokens:number}} plan */
function run(plan) {
  const button = /** @type {HTMLButtonElement} */ ($('bench-run'));
  const stop = /** @type {HTMLButtonElement} */ ($('bench-stop'));
  const status = $('bench-status');
  button.disabled = true;
  stop.hidden = false;
  stop.disabled = false;
  status.hidden = false;
  status.classList.remove('error');
  status.dataset.state = 'running';
  status.textContent = t('benchRunning');
  state.events = [];
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 1000);
  /** @param {string} outcome @param {string} text */
  const end = (outcome, text) => {
    button.disabled = false;
    stop.hidden = true;
    status.dataset.state = outcome;
    status.classList.toggle('error', outcome === 'error');
    status.textContent = text;
  };
  const request = client.request('device.bench', { ...plan, backends: BACKENDS }, (event) => {
    state.events.push({ ...event, at: Date.now() });
    if (event.event === 'progress') {
      status.textContent = t('benchStep', event.message, seconds());
    } else if (event.event === 'done') {
      end('done', t('benchDone', seconds()));
      show(event.result);
    } else if (event.event === 'error') {
      // Stop ends the request at once here; the runtime stops after its current step.
      if (event.code === 'aborted') end('stopped', t('benchStopped', seconds()));
      else end('error', event.message);
    }
  });
  stop.onclick = () => {
    stop.disabled = true;
    request.abort();
  };
}

/** @param {import('./bench_table.js').BenchResult} result */
function show(result) {
  state.result = result;
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
