// @ts-check
/**
 * Where the models run: `auto` (the default: a hardware GPU, or the CPU
 * where the only GPU is a software renderer that this device's benchmark has
 * not measured faster), `webgpu` or `cpu`. Kept in OPFS (`device/backend.json`),
 * which the runtime worker can read when it starts (it has neither
 * chrome.storage nor localStorage); the Settings tab writes it and restarts
 * the runtime so it applies at once.
 */

/** @typedef {'auto'|'webgpu'|'cpu'} BackendPreference */
export const BACKEND_PREFERENCES = Object.freeze(/** @type {BackendPreference[]} */ (['auto', 'webgpu', 'cpu']));
const FILE = { dir: 'device', file: 'backend.json' };
/** Message the offscreen document answers by starting a fresh runtime worker. */
export const RESTART_RUNTIME = 'locus.runtime.restart';

/** @returns {Promise<BackendPreference>} */
export async function readBackendPreference() {
  try {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(FILE.dir);
    const text = await (await (await dir.getFileHandle(FILE.file)).getFile()).text();
    const backend = JSON.parse(text)?.backend;
    return BACKEND_PREFERENCES.includes(backend) ? backend : 'auto';
  } catch {
    return 'auto';
  }
}

/** @param {BackendPreference} backend */
export async function writeBackendPreference(backend) {
  if (!BACKEND_PREFERENCES.includes(backend)) throw new Error(`unknown backend ${backend}`);
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(FILE.dir, { create: true });
  const writable = await (await dir.getFileHandle(FILE.file, { create: true })).createWritable();
  await writable.write(JSON.stringify({ backend }));
  await writable.close();
}
