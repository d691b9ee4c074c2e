// @ts-check
/**
 * The model store in OPFS, used from the runtime worker (synchronous access
 * handles exist only in dedicated workers). One folder per model:
 *   models/<id>/model.gguf | model.ftz   the file, written in place
 *   models/<id>/manifest.json            {id, name, kind, url, size, sha256, status, error}
 * Downloads live in `download.js`; this module knows the layout, lists,
 * deletes, validates a finished file and hands a ready file to the runtime.
 */

import { Sha256, inspectLanguageModel, inspectModel } from '../../pkg/locus.js';
import { idFrom, kindOf } from '../model_names.js';

export { idFrom, kindOf };

const MANIFEST = 'manifest.json';
/** Bytes read back per step when hashing a file already on disk. */
const REHASH_CHUNK = 8 << 20;
/** fastText's file magic and the version lid.176 uses (`FastText::checkModel`). */
const FASTTEXT_MAGIC = 793712314;

/**
 * @typedef {'gguf'|'fasttext'} ModelKind
 * @typedef {{id:string, name:string, kind:ModelKind, url?:string, size?:number, sha256?:string,
 *   status:'downloading'|'paused'|'ready'|'failed'|'importing', error?:string, bytes?:number,
 *   architecture?:string, validator?:string, source?:'url'|'file', finalUrl?:string,
 *   expectedSize?:number, verified?:boolean}} Manifest
 * `sha256`: the expected hash while downloading, the file's own once ready;
 * `verified`: it matched a hash known before the download (the catalog's);
 * `finalUrl`: where the bytes came from after redirects;
 * `expectedSize`: the size the catalog gave, which bounds a body of unknown length.
 */

/** A store error with a protocol code. */
export class StoreError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
    /** A cut download: what is on disk can resume. */
    this.resumable = false;
  }
}

/** The file name of a model of `kind` inside its folder. @param {ModelKind|undefined} kind */
export function fileName(kind) {
  return kind === 'fasttext' ? 'model.ftz' : 'model.gguf';
}

export async function modelsDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle('models', { create: true });
}

/** @param {unknown} id */
export function checkId(id) {
  if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(id) || /^\.+$/.test(id)) {
    throw new StoreError('bad_message', 'a model id is 1..100 letters, digits, dots, dashes or underscores');
  }
  return id;
}

/** @param {FileSystemDirectoryHandle} dir @returns {Promise<Manifest|null>} */
export async function readManifest(dir) {
  try {
    const file = await (await dir.getFileHandle(MANIFEST)).getFile();
    return JSON.parse(await file.text());
  } catch {
    return null;
  }
}

/** @param {FileSystemDirectoryHandle} dir @param {Manifest} manifest */
export async function writeManifest(dir, manifest) {
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

/**
 * Imports left `importing` when this worker starts were cut short (the popup
 * that streamed the file closed, or the browser stopped): nothing will finish
 * them, so they are removed. Runs once, when the worker loads this module.
 */
async function removeInterruptedImports() {
  const dir = await modelsDir();
  // @ts-ignore: async iteration of directory handles is in every Chromium we support.
  for await (const [id, handle] of dir.entries()) {
    if (handle.kind !== 'directory') continue;
    const manifest = await readManifest(handle);
    if (manifest?.status === 'importing') await dir.removeEntry(id, { recursive: true }).catch(() => {});
  }
}

/** Start-up clean-up; every store operation waits for it. */
export const startedUp = removeInterruptedImports().catch((error) => console.warn('Locus could not clean up the model store:', error));

/** Every model in the store with its size on disk. @returns {Promise<(Manifest & {bytes:number})[]>} */
export async function list() {
  await startedUp;
  const dir = await modelsDir();
  const models = [];
  // @ts-ignore: async iteration of directory handles is in every Chromium we support.
  for await (const [id, handle] of dir.entries()) {
    if (handle.kind !== 'directory') continue;
    const manifest = (await readManifest(handle)) ?? { id, name: id, kind: 'gguf', status: 'failed', error: 'no manifest' };
    let bytes = 0;
    try {
      bytes = (await (await handle.getFileHandle(fileName(manifest.kind))).getFile()).size;
    } catch {
      /* nothing on disk yet, or the file is open for writing */
    }
    models.push({ ...manifest, kind: manifest.kind ?? 'gguf', bytes });
  }
  return models;
}

/** Deletes a model's folder, file and manifest. @param {string} id */
export async function remove(id) {
  const dir = await modelsDir();
  try {
    await dir.removeEntry(checkId(id), { recursive: true });
  } catch (error) {
    if (/** @type {any} */ (error)?.name !== 'NotFoundError') throw error;
  }
}

/**
 * Checks a complete file: SHA-256 when one is expected, then the format (a
 * GGUF header the runtime can run, or fastText's magic). Throws `bad_model`.
 * @param {FileSystemSyncAccessHandle} access
 * @param {ModelKind} kind
 * @param {string} digest the file's SHA-256
 * @param {string|undefined} expected
 * @returns {{architecture:string}}
 */
export function validate(access, kind, digest, expected) {
  if (expected && digest !== expected) {
    throw new StoreError('bad_model', `the file is corrupt: its SHA-256 is ${digest}, expected ${expected}`);
  }
  if (kind === 'fasttext') {
    const head = new DataView(new ArrayBuffer(8));
    access.read(new Uint8Array(head.buffer), { at: 0 });
    if (head.getInt32(0, true) !== FASTTEXT_MAGIC) throw new StoreError('bad_model', 'this is not a fastText model');
    try {
      inspectLanguageModel(access); // the whole model, read by the runtime's own reader
    } catch (error) {
      throw new StoreError('bad_model', `this fastText model cannot be used: ${/** @type {any} */ (error)?.message ?? error}`);
    }
    return { architecture: 'fasttext' };
  }
  try {
    return { architecture: inspectModel(access).architecture };
  } catch (error) {
    throw new StoreError('bad_model', `this is not a model Locus can run: ${/** @type {any} */ (error)?.message ?? error}`);
  }
}

/** The SHA-256 of the first `length` bytes on disk, fed to `hasher`. */
export function rehash(/** @type {FileSystemSyncAccessHandle} */ access, /** @type {number} */ length, /** @type {Sha256} */ hasher) {
  const buffer = new Uint8Array(Math.min(REHASH_CHUNK, Math.max(length, 1)));
  for (let at = 0; at < length; at += buffer.length) {
    const view = buffer.subarray(0, Math.min(buffer.length, length - at));
    access.read(view, { at });
    hasher.update(view);
  }
}

/**
 * Starts an import of a local file: makes the model's folder with an
 * `importing` manifest, after checking the file fits. The popup then streams
 * the file into `models/<id>/<fileName(kind)>` and calls `finishImport`.
 * @param {{id?:string, name:string, size:number}} request
 * @returns {Promise<Manifest & {file:string}>}
 */
export async function beginImport(request) {
  await startedUp;
  const name = String(request.name ?? '');
  const id = checkId(request.id ?? idFrom(name));
  const kind = kindOf(name);
  await checkQuota(Number(request.size) || 0);
  const dir = await (await modelsDir()).getDirectoryHandle(id, { create: true });
  const existing = await readManifest(dir);
  if (existing && existing.status !== 'failed') throw new StoreError('bad_message', `a model called ${id} is already installed`);
  /** @type {Manifest} */
  const manifest = { id, name: name.replace(/\.(gguf|ftz)$/i, ''), kind, status: 'importing', source: 'file' };
  await writeManifest(dir, manifest);
  return { ...manifest, file: fileName(kind) };
}

/** Refuses `bytes` more that would not fit the origin's quota. @param {number} bytes */
export async function checkQuota(bytes) {
  const { usage = 0, quota = Infinity } = await navigator.storage.estimate();
  if (bytes > quota - usage) {
    const mb = (/** @type {number} */ n) => `${Math.ceil(n / 1e6)} MB`;
    throw new StoreError('quota', `not enough space: the model needs ${mb(bytes)}, ${mb(Math.max(0, quota - usage))} are free`);
  }
}

/**
 * Finishes an import: the popup has streamed the user's file into
 * `models/<id>/` (its manifest says `importing`); hash it, validate it and
 * mark it ready, or delete it with the reason.
 * @param {{id:string}} request
 * @returns {Promise<Manifest>}
 */
export async function finishImport(request) {
  const id = checkId(request.id);
  const dir = await (await modelsDir()).getDirectoryHandle(id);
  const manifest = await readManifest(dir);
  if (manifest?.status !== 'importing') throw new StoreError('bad_message', `model ${id} is not being imported`);
  const access = await (await dir.getFileHandle(fileName(manifest.kind))).createSyncAccessHandle();
  try {
    const size = access.getSize();
    const hasher = new Sha256();
    rehash(access, size, hasher);
    const sha256 = hasher.hexDigest();
    const { architecture } = validate(access, manifest.kind, sha256, undefined);
    // A file of the user's own: unverified, its hash recorded for them to compare.
    Object.assign(manifest, { status: 'ready', size, sha256, verified: false, architecture, error: undefined });
    return manifest;
  } catch (error) {
    access.truncate(0);
    Object.assign(manifest, { status: 'failed', error: String(/** @type {any} */ (error)?.message ?? error) });
    throw error;
  } finally {
    access.close();
    await writeManifest(dir, manifest);
    if (manifest.status === 'failed') await remove(id);
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
  const access = await (await dir.getFileHandle(fileName(manifest.kind))).createSyncAccessHandle();
  try {
    return use(access);
  } finally {
    access.close();
  }
}
