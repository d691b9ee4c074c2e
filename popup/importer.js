// @ts-check
/**
 * Importing a local model file (file picker or drag and drop). The popup
 * streams the File straight into the model's OPFS folder (the popup and the
 * runtime worker share the extension's origin), chunk by chunk, so the whole
 * file is never in memory; the worker then hashes and validates it and marks
 * it ready, or deletes it and says why (e.g. not a GGUF file).
 */

import { bytes, percent, t } from './format.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @param {import('../extension/client.js').LocusClient} client
 * @param {(message: string, isError?: boolean) => void} say
 * @param {() => void} refresh
 */
export function setUpImport(client, say, refresh) {
  const drop = $('drop');
  const input = /** @type {HTMLInputElement} */ ($('import-file'));
  const pick = () => input.click();
  drop.addEventListener('click', pick);
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      pick();
    }
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file) void importFile(client, file, say).finally(refresh);
  });
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    input.value = '';
    if (file) void importFile(client, file, say).finally(refresh);
  });
}

/**
 * @param {import('../extension/client.js').LocusClient} client
 * @param {File} file
 * @param {(message: string, isError?: boolean) => void} say
 */
export async function importFile(client, file, say) {
  try {
    const begun = await call(client, 'models.import', { name: file.name, size: file.size });
    say(t('modelsImporting', file.name, percent(0, 1)));
    const root = await navigator.storage.getDirectory();
    const dir = await (await root.getDirectoryHandle('models')).getDirectoryHandle(begun.id);
    const writable = await (await dir.getFileHandle(begun.file, { create: true })).createWritable();
    let written = 0;
    const count = new TransformStream({
      transform(chunk, controller) {
        written += chunk.byteLength;
        say(t('modelsImporting', file.name, percent(written, file.size)));
        controller.enqueue(chunk);
      },
    });
    await file.stream().pipeThrough(count).pipeTo(writable);
    const manifest = await call(client, 'models.import', { id: begun.id, finish: true });
    say(t('modelsImportDone', `${manifest.name} (${bytes(manifest.size)})`));
  } catch (error) {
    say(t('modelsImportFailed', file.name, String(/** @type {any} */ (error)?.message ?? error)), true);
  }
}

/** @param {import('../extension/client.js').LocusClient} client @param {any} kind @param {object} payload */
function call(client, kind, payload) {
  return new Promise((resolve, reject) => {
    client.request(kind, payload, (event) => {
      if (event.event === 'done') resolve(event.result);
      if (event.event === 'error') reject(new Error(event.message));
    });
  });
}
