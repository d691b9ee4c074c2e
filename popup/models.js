// @ts-check
/**
 * The Models tab: installed models (status, size on disk, progress, pause /
 * resume, delete, default per task, which one is loaded), the catalog, and
 * adding a model by URL. Downloads run in the runtime worker; this tab only
 * watches them, so closing the popup never stops one.
 */

import { kindOf, parseModelUrl, uniqueId } from '../extension/model_names.js';
import { MODEL_TASKS, loadSettings, saveSettings } from '../extension/settings.js';
import { Rate, bytes, duration, el, percent, speed, t } from './format.js';
import { setUpImport } from './importer.js';

/** @typedef {import('../extension/client.js').LocusClient} LocusClient */
/** @typedef {{id:string, name:string, kind:string, url:string, bytes?:number, approxBytes?:number, sha256?:string,
 *   license:string, languages:string[], architecture:string, quantization:string, tasks:string[], default?:boolean}} CatalogEntry */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const TASK_LABELS = { summarize: 'taskSummarize', translate: 'taskTranslate', chat: 'taskChat' };

export class ModelsTab {
  /** @type {CatalogEntry[]} */
  #catalog = [];
  /** Downloads this popup is watching: model id → rate meter. */
  /** @type {Map<string, Rate>} */
  #watching = new Map();
  /** @type {any[]} */
  #models = [];
  #client;
  /** Who waits for a download to end: model id → callbacks (true: ready). */
  /** @type {Map<string, ((ready: boolean) => void)[]>} */
  #waiting = new Map();
  /** Hears the installed models and the default per task after every refresh (the chat's picker). */
  /** @type {(models: any[], defaults: Record<string, string>) => void} */
  onModels = () => {};

  /** @param {LocusClient} client */
  constructor(client) {
    this.#client = client;
    $('add-url').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = /** @type {HTMLInputElement} */ (/** @type {HTMLFormElement} */ ($('add-url')).elements.namedItem('url'));
      void this.#addUrl(input);
    });
    setUpImport(client, (message, isError) => this.say(message, isError), () => this.refresh());
  }

  async start() {
    const response = await fetch(chrome.runtime.getURL('extension/catalog.json'));
    this.#catalog = (await response.json()).models;
    await this.refresh();
  }

  /** "Download a file from a URL": a malformed URL gets a message; the id is unique per source. @param {HTMLInputElement} input */
  async #addUrl(input) {
    let parsed;
    try {
      parsed = parseModelUrl(input.value);
    } catch (error) {
      this.say(t('modelsBadUrl', String(/** @type {any} */ (error)?.message ?? error)), true);
      return;
    }
    input.value = '';
    await this.refresh();
    const id = uniqueId(parsed.url, [...this.#models, ...this.#catalog]);
    this.download({ id, name: parsed.fileName, url: parsed.url, kind: kindOf(parsed.fileName) });
  }

  /** Shows a status line (errors in the error style). @param {string} message @param {boolean} [isError] */
  say(message, isError = false) {
    const status = $('models-status');
    status.hidden = !message;
    status.textContent = message;
    status.classList.toggle('error', isError);
  }

  /** @type {Promise<void>|null} */
  #refreshing = null;

  /** Re-reads the store and redraws; calls while one runs share it. */
  refresh() {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = null));
    return this.#refreshing;
  }

  async #refresh() {
    const result = await this.#call('models.list', {});
    if (!result) return;
    this.#models = result.models;
    const settings = await loadSettings();
    this.#renderInstalled(result, settings.defaultModels ?? {});
    this.#renderCatalog();
    this.onModels(this.#models, settings.defaultModels ?? {});
    await showStorage();
    // A download running without us (the popup was closed): watch it again.
    for (const model of this.#models) {
      if (model.status === 'downloading' && !this.#watching.has(model.id)) this.download({ id: model.id });
    }
  }

  /**
   * Starts, resumes or re-attaches to a download and shows its progress.
   * @param {{id:string, name?:string, url?:string, sha256?:string, size?:number, kind?:string}} request
   */
  download(request) {
    const ended = new Promise((resolve) => this.#waiting.set(request.id, [...(this.#waiting.get(request.id) ?? []), resolve]));
    if (this.#watching.has(request.id)) return ended;
    const rate = new Rate();
    this.#watching.set(request.id, rate);
    this.say('');
    this.#client.request('models.download', request, (event) => {
      if (event.event === 'progress') {
        this.#showProgress(request.id, event.done ?? 0, event.total ?? null, rate.push(event.done ?? 0));
        return;
      }
      this.#watching.delete(request.id);
      if (event.event === 'error' && event.code !== 'aborted') this.say(t('modelsDownloadFailed', event.message), true);
      if (event.event === 'done') this.say(t('modelsDownloadDone', event.result.name));
      for (const resolve of this.#waiting.get(request.id) ?? []) resolve(event.event === 'done');
      this.#waiting.delete(request.id);
      void this.refresh();
    });
    void this.refresh();
    return ended;
  }

  /** The catalog's recommended language model. */
  recommended() {
    return this.#catalog.find((entry) => entry.default && entry.kind !== 'fasttext') ?? null;
  }

  /** Downloads the recommended model (e.g. from a chat error's button); true once it is ready. */
  async downloadRecommended() {
    const entry = this.recommended();
    if (!entry) return false;
    return this.download({ id: entry.id, name: entry.name, url: entry.url, sha256: entry.sha256, size: entry.bytes, kind: entry.kind });
  }

  /** @param {string} id @param {number} done @param {number|null} total @param {number} rate */
  #showProgress(id, done, total, rate) {
    const item = document.querySelector(`#installed li[data-id="${CSS.escape(id)}"]`);
    if (!item) return void this.refresh();
    item.dataset.status = 'downloading';
    const bar = /** @type {HTMLProgressElement|null} */ (item.querySelector('progress'));
    const line = item.querySelector('.progress-text');
    if (!bar || !line) return;
    const text = progressText(done, total, rate);
    if (total) {
      bar.max = total;
      bar.value = done;
      bar.setAttribute('aria-valuenow', String(Math.round((done / total) * 100)));
    }
    bar.setAttribute('aria-valuetext', text);
    line.textContent = text;
  }

  /** @param {{models:any[], loaded:string|null, backend:string}} list @param {Record<string, string>} defaults */
  #renderInstalled({ models, loaded, backend }, defaults) {
    $('models-none').hidden = models.length > 0;
    const items = models
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((model) => this.#installedItem(model, model.id === loaded ? backend : null, defaults));
    $('installed').replaceChildren(...items);
  }

  /** @param {any} model @param {string|null} loadedOn @param {Record<string, string>} defaults */
  #installedItem(model, loadedOn, defaults) {
    const item = el('li', 'model');
    item.dataset.id = model.id;
    item.dataset.status = model.status;
    const state = shownState(model);
    item.dataset.state = state;
    const head = el('div', 'row');
    head.append(el('strong', '', model.name), el('span', `badge ${state}`, t(`state_${state}`)));
    if (loadedOn) head.append(el('span', 'badge loaded', t('modelsLoadedOn', loadedOn.toUpperCase())));
    item.append(head);
    const size = model.size ?? this.#catalogEntry(model.id)?.bytes;
    const meta = [t('modelsOnDisk', bytes(model.bytes ?? 0)), model.architecture, model.source === 'file' ? t('modelsImportedTag') : ''];
    item.append(el('p', 'muted', meta.filter(Boolean).join(' · ')));
    if (model.status === 'ready' && model.sha256) item.append(this.#integrity(model));
    if (model.status === 'downloading' || model.status === 'paused') {
      const bar = /** @type {HTMLProgressElement} */ (el('progress'));
      bar.setAttribute('aria-label', t('modelsProgressLabel', model.name));
      if (size) {
        bar.max = size;
        bar.value = model.bytes ?? 0;
        bar.setAttribute('aria-valuemin', '0');
        bar.setAttribute('aria-valuemax', '100');
        bar.setAttribute('aria-valuenow', String(Math.round(((model.bytes ?? 0) / size) * 100)));
      }
      const text = progressText(model.bytes ?? 0, size ?? null, 0);
      bar.setAttribute('aria-valuetext', text);
      item.append(bar, el('p', 'progress-text muted', text));
    }
    if (model.error && model.status !== 'ready') item.append(el('p', 'error-text', failureText(model)));
    const actions = el('div', 'actions');
    if (model.status === 'downloading') {
      actions.append(button(t('modelsPause'), () => void this.#call('models.cancel', { id: model.id }).then(() => this.refresh())));
    } else if (state === 'failed' && model.url) {
      actions.append(button(t('modelsRetry'), () => this.download({ id: model.id })));
    } else if (model.status === 'paused') {
      actions.append(button(t('modelsResume'), () => this.download({ id: model.id })));
    }
    if (model.status === 'ready') actions.append(confirmButton(t('modelsDelete'), t('modelsDeleteConfirm', model.name), () => this.#delete(model.id)));
    else actions.append(confirmButton(t('modelsRemove'), t('modelsRemoveConfirm'), () => this.#delete(model.id)));
    item.append(actions);
    if (model.status === 'ready' && model.kind !== 'fasttext') item.append(this.#defaultsFor(model, defaults));
    return item;
  }

  /**
   * "Verified" when the file matched a hash known before it came (the
   * catalog's); otherwise "unverified" with the hash recorded on its first
   * download, for the user to compare. And where the bytes came from.
   * @param {any} model
   */
  #integrity(model) {
    const verified = model.verified === true || (model.sha256 && this.#catalogEntry(model.id)?.sha256 === model.sha256);
    const line = el('p', 'integrity muted');
    line.append(el('span', `badge ${verified ? 'verified' : 'unverified'}`, t(verified ? 'modelsVerified' : 'modelsUnverified')), document.createTextNode(' '));
    const hash = el('code', 'sha256', model.sha256);
    hash.title = t(verified ? 'modelsHashVerified' : 'modelsHashRecorded');
    line.append(document.createTextNode(`${t('modelsSha256')} `), hash);
    if (model.finalUrl) line.append(document.createTextNode(` · ${t('modelsServedFrom', hostOf(model.finalUrl))}`));
    return line;
  }

  /** Checkboxes "default for chat / summaries / translation"; one model per task. */
  #defaultsFor(/** @type {any} */ model, /** @type {Record<string, string>} */ defaults) {
    const group = el('fieldset', 'defaults');
    group.append(el('legend', '', t('modelsDefaultFor')));
    for (const task of MODEL_TASKS) {
      const label = el('label');
      const box = /** @type {HTMLInputElement} */ (el('input'));
      box.type = 'checkbox';
      box.checked = defaults[task] === model.id;
      box.addEventListener('change', async () => {
        const current = { ...((await loadSettings()).defaultModels ?? {}) };
        if (box.checked) current[task] = model.id;
        else if (current[task] === model.id) delete current[task];
        await saveSettings({ defaultModels: current });
        await this.refresh();
      });
      label.append(box, document.createTextNode(t(TASK_LABELS[/** @type {'chat'} */ (task)])));
      group.append(label);
    }
    return group;
  }

  #renderCatalog() {
    const items = this.#catalog.map((entry) => {
      const item = el('li', 'model');
      item.dataset.id = entry.id;
      const head = el('div', 'row');
      head.append(el('strong', '', entry.name));
      if (entry.default) head.append(el('span', 'badge', t('modelsRecommended')));
      if (!entry.sha256) head.append(el('span', 'badge unverified', t('modelsUnverified')));
      const size = entry.bytes ? bytes(entry.bytes) : t('modelsAbout', bytes(entry.approxBytes ?? 0));
      const tasks = entry.tasks.map((task) => t(TASK_LABELS[/** @type {'chat'} */ (task)] ?? 'taskDetect')).join(', ');
      item.append(
        head,
        el('p', 'muted', [size, entry.quantization, entry.architecture, entry.license].join(' · ')),
        el('p', 'muted', t('modelsGoodFor', tasks, entry.languages.join(', '))),
      );
      const mine = this.#models.find((m) => m.id === entry.id);
      const state = mine ? shownState(mine) : 'none';
      item.dataset.state = state;
      const start = async () => {
        // Say so before starting when it cannot fit (the worker checks again with the real size).
        const { usage = 0, quota = Infinity } = await navigator.storage.estimate();
        const needed = entry.bytes ?? entry.approxBytes ?? 0;
        if (needed > quota - usage) return this.say(t('modelsNoSpace', bytes(needed), bytes(Math.max(0, quota - usage))), true);
        this.download({ id: entry.id, name: entry.name, url: entry.url, sha256: entry.sha256, size: entry.bytes, kind: entry.kind });
      };
      // What the button says is what the model's state is, and does what it says.
      const labels = { none: 'modelsDownload', installed: 'modelsInstalledShort', downloading: 'modelsDownloadingShort', importing: 'modelsDownloadingShort', paused: 'modelsResume', failed: 'modelsRetry' };
      const action = button(t(labels[/** @type {keyof labels} */ (state)] ?? 'modelsDownload'), start);
      action.disabled = state === 'installed' || state === 'downloading' || state === 'importing';
      action.setAttribute('aria-label', `${action.textContent} ${entry.name}`);
      const actions = el('div', 'actions');
      actions.append(action);
      if (state === 'failed' || state === 'paused') {
        if (mine?.error) item.append(el('p', 'error-text', failureText(mine)));
        const remove = button(t('modelsRemove'), () => void this.#delete(entry.id));
        remove.classList.add('danger');
        remove.setAttribute('aria-label', `${t('modelsRemove')} ${entry.name}`);
        actions.append(remove);
      }
      item.append(actions);
      return item;
    });
    $('catalog').replaceChildren(...items);
  }

  /** @param {string} id */
  #catalogEntry(id) {
    return this.#catalog.find((entry) => entry.id === id);
  }

  /** @param {string} id */
  async #delete(id) {
    const before = (await navigator.storage.estimate()).usage ?? 0;
    if (await this.#call('models.delete', { id })) {
      // A deleted model is no task's default any more.
      const defaults = { ...((await loadSettings()).defaultModels ?? {}) };
      const kept = Object.fromEntries(Object.entries(defaults).filter(([, model]) => model !== id));
      if (Object.keys(kept).length !== Object.keys(defaults).length) await saveSettings({ defaultModels: kept });
      const after = (await navigator.storage.estimate()).usage ?? 0;
      this.say(t('modelsDeleted', bytes(Math.max(0, before - after))));
    }
    await this.refresh();
  }

  /** One request's result, or null after showing its error. @param {any} kind @param {object} payload */
  #call(kind, payload) {
    return new Promise((resolve) => {
      this.#client.request(kind, payload, (event) => {
        if (event.event === 'done') resolve(event.result);
        if (event.event === 'error') {
          this.say(event.message, true);
          resolve(null);
        }
      });
    });
  }
}

/**
 * What a model's state means to the user: `installed` (ready to run),
 * `downloading`, `paused` (by the user, or by a closed browser), `failed`
 * (the store keeps a download the connection stopped as resumable, but to
 * the user it failed: it says why and offers Retry), `importing`.
 * @param {any} model
 */
function shownState(model) {
  if (model.status === 'ready') return 'installed';
  if (model.status === 'paused' && model.error) return 'failed';
  return String(model.status);
}

/** Why a download failed, and what to do: the store's reason, and Retry where it can resume. @param {any} model */
function failureText(model) {
  return model.url ? t('modelsFailedRetry', model.error) : String(model.error);
}

/** `42% · 41 MB of 98 MB · 3.1 MB/s · 20 s left`. @param {number} done @param {number|null} total @param {number} rate */
function progressText(done, total, rate) {
  const parts = total ? [percent(done, total), t('modelsOf', bytes(done), bytes(total))] : [bytes(done)];
  if (rate > 0) parts.push(speed(rate));
  if (rate > 0 && total) parts.push(t('modelsTimeLeft', duration((total - done) / rate)));
  return parts.join(' · ');
}

/** The host of a URL, or the URL itself when it does not parse. @param {string} url */
function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** @param {string} label @param {() => void} onClick */
function button(label, onClick) {
  const node = /** @type {HTMLButtonElement} */ (el('button', 'quiet', label));
  node.type = 'button';
  node.addEventListener('click', onClick);
  return node;
}

/** A button that asks once more before it acts (no modal dialog: the popup would close). */
function confirmButton(/** @type {string} */ label, /** @type {string} */ confirmLabel, /** @type {() => void} */ onConfirm) {
  const node = button(label, () => {
    if (node.dataset.armed) return onConfirm();
    node.dataset.armed = '1';
    node.textContent = confirmLabel;
    setTimeout(() => {
      delete node.dataset.armed;
      node.textContent = label;
    }, 4000);
  });
  node.classList.add('danger');
  return node;
}

export async function showStorage() {
  const { usage = 0, quota = 0 } = await navigator.storage.estimate();
  $('storage').textContent = t('storageOf', bytes(usage), bytes(quota));
}
