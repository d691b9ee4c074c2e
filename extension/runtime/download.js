// @ts-check
/**
 * Downloading a model into the store, streamed to disk chunk by chunk (never
 * the whole file in memory). A download resumes from the bytes already on
 * disk with an HTTP Range request (guarded by If-Range when the server gave
 * an ETag), so a cut connection, a browser restart or a closed offscreen
 * document costs only the bytes in flight; a server that ignores Range makes
 * it start over cleanly. The SHA-256 is computed as the bytes arrive (in the
 * runtime) and the file's format is checked before it is marked ready.
 */

import { Sha256 } from '../../pkg/locus.js';
import { StoreError, checkId, checkQuota, fileName, kindOf, modelsDir, readManifest, rehash, validate, writeManifest } from './store.js';

/** Progress events at most this often. */
const PROGRESS_EVERY_MS = 200;
/** Written bytes are flushed to disk this often, so a crash loses little. */
const FLUSH_EVERY_BYTES = 16 << 20;
/** Connection attempts before a download is left paused. */
const ATTEMPTS = 5;
const RETRY_BASE_MS = 500;

/**
 * @typedef {import('./store.js').Manifest} Manifest
 * @typedef {{done:number, total:number|null, restarted?:boolean, attempt?:number}} Progress
 */

/**
 * Downloads a model, or resumes it: `request.url` may be left out for a model
 * whose manifest has one. Ends with the ready manifest, or throws with the
 * manifest left `paused` (cancelled or cut off: resumable) or `failed`.
 * @param {{id:string, name?:string, url?:string, sha256?:string, size?:number, kind?:string}} request
 * @param {(progress: Progress) => void} onProgress
 * @param {AbortSignal} signal
 * @returns {Promise<Manifest>}
 */
export async function download(request, onProgress, signal) {
  const id = checkId(request.id);
  const dir = await (await modelsDir()).getDirectoryHandle(id, { create: true });
  const previous = await readManifest(dir);
  if (previous?.status === 'ready' && (!request.url || request.url === previous.url)) return previous;
  const url = checkUrl(request.url ?? previous?.url);
  const sameFile = previous?.url === url.href;
  /** @type {Manifest} */
  const manifest = {
    id,
    name: request.name ?? previous?.name ?? id,
    kind: request.kind === 'fasttext' || request.kind === 'gguf' ? request.kind : (previous?.kind ?? kindOf(url.pathname)),
    url: url.href,
    sha256: (request.sha256 ?? (sameFile ? previous?.sha256 : undefined))?.toLowerCase(),
    size: request.size ?? (sameFile ? previous?.size : undefined),
    validator: sameFile ? previous?.validator : undefined,
    status: 'downloading',
    source: 'url',
  };
  await writeManifest(dir, manifest);
  const access = await (await dir.getFileHandle(fileName(manifest.kind), { create: true })).createSyncAccessHandle();
  try {
    if (!sameFile) access.truncate(0); // a different file under the same id
    const digest = await fetchInto(access, manifest, onProgress, signal);
    access.flush();
    const { architecture } = validate(access, manifest.kind, digest, manifest.sha256);
    Object.assign(manifest, { status: 'ready', size: access.getSize(), sha256: digest, architecture, error: undefined });
    return manifest;
  } catch (error) {
    const code = /** @type {any} */ (error)?.code;
    if (code === 'bad_model') access.truncate(0); // corrupt: nothing of it is worth keeping
    Object.assign(manifest, {
      // Cancelled or cut off: what is on disk resumes. Anything else failed.
      status: signal.aborted || /** @type {any} */ (error)?.resumable ? 'paused' : 'failed',
      error: signal.aborted ? undefined : String(/** @type {any} */ (error)?.message ?? error),
    });
    throw error;
  } finally {
    access.close();
    await writeManifest(dir, manifest);
  }
}

/** @param {unknown} value */
function checkUrl(value) {
  if (typeof value !== 'string') throw new StoreError('bad_message', 'a download needs a URL');
  let url;
  try {
    url = new URL(value);
  } catch {
    throw new StoreError('bad_message', `not a URL: ${value.slice(0, 200)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new StoreError('bad_message', 'models download over http(s) only');
  return url;
}

/**
 * Fetches the rest of the file into `access`, retrying a cut connection from
 * where it stopped; returns the whole file's SHA-256.
 * @param {FileSystemSyncAccessHandle} access
 * @param {Manifest} manifest
 * @param {(progress: Progress) => void} onProgress
 * @param {AbortSignal} signal
 */
async function fetchInto(access, manifest, onProgress, signal) {
  const hasher = new Sha256();
  let hashed = 0;
  let lastError = '';
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (attempt > 0) await sleep(RETRY_BASE_MS * 2 ** (attempt - 1), signal);
    let have = access.getSize();
    if (hashed !== have) {
      // First attempt (or a restart): the hash must cover what is on disk.
      hasher.hexDigest(); // resets
      rehash(access, have, hasher);
      hashed = have;
    }
    if (manifest.size && have === manifest.size) return hasher.hexDigest();
    /** @type {Record<string, string>} */
    const headers = {};
    if (have > 0) {
      headers.Range = `bytes=${have}-`;
      if (manifest.validator) headers['If-Range'] = manifest.validator;
    }
    let response;
    try {
      response = await fetch(manifest.url ?? '', { headers, signal, cache: 'no-store' });
    } catch (error) {
      if (signal.aborted) throw error;
      lastError = String(/** @type {any} */ (error)?.message ?? error);
      continue;
    }
    if (response.status === 416 && have > 0) {
      // Nothing past what we have: the file may be complete, else start over.
      const total = Number(/\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1]);
      if (total === have) return hasher.hexDigest();
      access.truncate(0);
      continue;
    }
    if (!response.ok || !response.body) {
      if (response.status >= 500) {
        lastError = `the server answered ${response.status}`;
        continue;
      }
      throw new StoreError('download_failed', `the server answered ${response.status} ${response.statusText}`.trim());
    }
    let restarted = false;
    if (have > 0 && response.status !== 206) {
      // The server ignored Range (or the file changed): start over cleanly.
      access.truncate(0);
      hasher.hexDigest();
      have = hashed = 0;
      restarted = true;
    }
    manifest.validator = response.headers.get('etag') ?? manifest.validator;
    const total = totalOf(response, have) ?? manifest.size ?? null;
    if (total !== null) manifest.size = total;
    await checkQuota(total === null ? 0 : total - have);
    onProgress({ done: have, total, restarted, attempt });
    try {
      hashed = await stream(response.body, access, hasher, have, total, onProgress);
    } catch (error) {
      access.flush();
      hashed = access.getSize(); // every byte written was hashed
      if (signal.aborted) throw error;
      lastError = String(/** @type {any} */ (error)?.message ?? error);
      continue;
    }
    if (total === null || hashed === total) {
      onProgress({ done: hashed, total: hashed });
      return hasher.hexDigest();
    }
    lastError = `the connection closed at ${hashed} of ${total} bytes`;
  }
  const error = new StoreError('download_failed', `the download stopped (${lastError}); it resumes from ${access.getSize()} bytes`);
  error.resumable = true;
  throw error;
}

/** The whole file's size from Content-Range, or from Content-Length plus what we have. */
function totalOf(/** @type {Response} */ response, /** @type {number} */ have) {
  const range = /\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
  if (range) return Number(range[1]);
  const length = Number(response.headers.get('content-length'));
  return Number.isFinite(length) && length > 0 ? have + length : null;
}

/**
 * Writes a response body at `at`, hashing as it goes; returns the bytes on disk.
 * @param {ReadableStream<Uint8Array>} body
 * @param {FileSystemSyncAccessHandle} access
 * @param {Sha256} hasher
 * @param {number} at
 * @param {number|null} total
 * @param {(progress: Progress) => void} onProgress
 */
async function stream(body, access, hasher, at, total, onProgress) {
  const reader = body.getReader();
  let done = at;
  let lastReport = 0;
  let flushed = at;
  try {
    for (;;) {
      const { value, done: finished } = await reader.read();
      if (finished) return done;
      access.write(value, { at: done });
      hasher.update(value);
      done += value.byteLength;
      if (done - flushed >= FLUSH_EVERY_BYTES) {
        access.flush();
        flushed = done;
      }
      if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = Date.now();
        onProgress({ done, total });
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** @param {number} ms @param {AbortSignal} signal */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason ?? new DOMException('aborted', 'AbortError'));
      },
      { once: true },
    );
  });
}
