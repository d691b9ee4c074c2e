// @ts-check
/**
 * The model store in OPFS, used from the runtime worker (synchronous access
 * handles exist only in dedicated workers). One folder per model:
 *   models/<id>/model.gguf      the file, written in place as it downloads
 *   models/<id>/manifest.json   {id, name, url, size, sha256, status, error}
 * A download resumes from the bytes already on disk with an HTTP Range
 * request; the SHA-256 is computed as the bytes arrive (in the runtime), and
 * the GGUF header is checked before the model is marked ready.
 */

import { Sha256, inspectLanguageModel, inspectModel } from '../../pkg/locus.js';

const MODEL_FILE = 'model.gguf';
const MANIFEST = 'manifest.json';
/**
 * The manifest `kind` of a language-identification model (fastText `.ftz`,
 * asked for with `kind: 'langid'` in the download request): checked by its
 * own reader instead of the GGUF one, and loaded into its own runtime slot.
 * (Added by the on-page tools branch.)
 */
export const LANGID = 'langid';
/** Progress events at most this often while downloading. */
const PROGRESS_EVERY_MS = 200;
/** Bytes read back per step when re-hashing the part of a resumed download already on disk. */
const REHASH_CHUNK = 8 << 20;

/**
 * @typedef {{id:string, name:string, url?:string, size?:number, sha256?:string,
 *   status:'downloading'|'paused'|'ready'|'failed', error?:string, bytes?:number, kind?:string}} Manifest
 */

/** A store error with a protocol code. */
export class StoreError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

async function modelsDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle('models', { create: true });
}

/** @param {string} id */
function checkId(id) {
  if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(id)) {
    throw new StoreError('bad_message', 'a model id is 1..100 letters, digits, dots, dashes or underscores');
  }
  return id;
}

/** @param {FileSystemDirectoryHandle} dir @returns {Promise<Manifest|null>} */
async function readManifest(dir) {
  try {
    const file = await (await dir.getFileHandle(MANIFEST)).getFile();
    return JSON.parse(await file.text());
  } catch {
    return null;
  }
}

/** @param {FileSystemDirectoryHandle} dir @param {Manifest} manifest */
async function writeManifest(dir, manifest) {
  const handle = await dir.getFileHandle(MANIFEST, { create: true });
  const access = await handle.createSyncAccessHandle();
  try {
    const bytes = new TextEncoder().encode(JSON.stringify(manifest));
    access.truncate(0);
    access.write(bytes, { at: 0 });
    access.flush();
  } finally {
    access.close();
  }
}

/** Every model in the store with its size on disk. @returns {Promise<(Manifest & {bytes:number})[]>} */
export async function list() {
  const dir = await modelsDir();
  const models = [];
  // @ts-ignore: async iteration of directory handles is in every Chromium we support.
  for await (const [id, handle] of dir.entries()) {
    if (handle.kind !== 'directory') continue;
    const manifest = (await readManifest(handle)) ?? { id, name: id, status: 'failed', error: 'no manifest' };
    let bytes = 0;
    try {
      bytes = (await (await handle.getFileHandle(MODEL_FILE)).getFile()).size;
    } catch {
      /* nothing downloaded yet */
    }
    models.push({ ...manifest, bytes });
  }
  return models;
}

/** @param {string} id */
export async function remove(id) {
  const dir = await modelsDir();
  await dir.removeEntry(checkId(id), { recursive: true });
}

/**
 * Downloads (or resumes) a model into the store.
 * @param {{id:string, name?:string, url:string, sha256?:string, kind?:string}} request
 * @param {(progress:{done:number,total:number|null}) => void} onProgress
 * @param {AbortSignal} signal
 * @returns {Promise<Manifest>}
 */
export async function download(request, onProgress, signal) {
  const id = checkId(request.id);
  const url = new URL(request.url); // throws on a malformed URL
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new StoreError('bad_message', 'models download over http(s) only');
  }
  const expected = request.sha256?.toLowerCase();
  const dir = await (await modelsDir()).getDirectoryHandle(id, { create: true });
  /** @type {Manifest} */
  const manifest = { id, name: request.name ?? id, url: url.href, sha256: expected, status: 'downloading' };
  if (request.kind === LANGID) manifest.kind = LANGID;
  await writeManifest(dir, manifest);
  const access = await (await dir.getFileHandle(MODEL_FILE, { create: true })).createSyncAccessHandle();
  try {
    const hasher = new Sha256();
    let have = access.getSize();
    const headers = have > 0 ? { Range: `bytes=${have}-` } : undefined;
    const response = await fetch(url, { headers, signal, cache: 'no-store' });
    if (!response.ok || !response.body) throw new StoreError('download_failed', `the server answered ${response.status}`);
    if (have > 0 && response.status !== 206) {
      have = 0; // the server ignored Range: start over
      access.truncate(0);
    }
    rehash(access, have, hasher);
    const length = Number(response.headers.get('content-length'));
    const total = Number.isFinite(length) && length > 0 ? have + length : null;
    await checkQuota(total === null ? 0 : total - have);
    let done = have;
    let lastReport = 0;
    const reader = response.body.getReader();
    for (;;) {
      const { value, done: finished } = await reader.read();
      if (finished) break;
      access.write(value, { at: done });
      hasher.update(value);
      done += value.byteLength;
      if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = Date.now();
        onProgress({ done, total });
      }
    }
    access.flush();
    onProgress({ done, total: total ?? done });
    if (total !== null && done !== total) throw new StoreError('download_failed', `the download stopped at ${done} of ${total} bytes`);
    const digest = hasher.hexDigest();
    if (expected && digest !== expected) {
      access.truncate(0);
      throw new StoreError('bad_model', `the file's SHA-256 is ${digest}, the catalog says ${expected}`);
    }
    // Throws a coded error for a file we cannot run.
    const info = manifest.kind === LANGID ? inspectLanguageModel(access) : inspectModel(access);
    Object.assign(manifest, { status: 'ready', size: done, sha256: digest, architecture: info.architecture });
    return manifest;
  } catch (error) {
    const aborted = signal.aborted;
    Object.assign(manifest, { status: aborted ? 'paused' : 'failed', error: aborted ? undefined : String(error?.message ?? error) });
    throw error;
  } finally {
    access.close();
    await writeManifest(dir, manifest);
  }
}

/** Feeds the first `length` bytes already on disk to `hasher`. */
function rehash(/** @type {FileSystemSyncAccessHandle} */ access, /** @type {number} */ length, /** @type {Sha256} */ hasher) {
  const buffer = new Uint8Array(Math.min(REHASH_CHUNK, Math.max(length, 1)));
  for (let at = 0; at < length; at += buffer.length) {
    const view = buffer.subarray(0, Math.min(buffer.length, length - at));
    access.read(view, { at });
    hasher.update(view);
  }
}

/** Refuses a download that would not fit the origin's quota. @param {number} bytes */
async function checkQuota(bytes) {
  const { usage = 0, quota = Infinity } = await navigator.storage.estimate();
  if (bytes > quota - usage) {
    throw new StoreError('quota', `the model needs ${bytes} bytes, ${Math.max(0, quota - usage)} are free`);
  }
}

/**
 * Runs `use` with a synchronous access handle on a ready model's file.
 * @template T
 * @param {string} id
 * @param {(access: FileSystemSyncAccessHandle) => T} use
 * @returns {Promise<T>}
 */
export async function withModelFile(id, use) {
  const dir = await (await modelsDir()).getDirectoryHandle(checkId(id));
  const manifest = await readManifest(dir);
  if (manifest?.status !== 'ready') throw new StoreError('no_model', `model ${id} is not ready (${manifest?.status ?? 'missing'})`);
  const access = await (await dir.getFileHandle(MODEL_FILE)).createSyncAccessHandle();
  try {
    return use(access);
  } finally {
    access.close();
  }
}
