// @ts-check
/**
 * Downloading a model into the store, streamed to disk chunk by chunk (never
 * the whole file in memory). A download resumes from the bytes already on
 * disk with an HTTP Range request, so a cut connection, a browser restart or
 * a closed offscreen document costs only the bytes in flight. Each answer is
 * checked against the bytes on disk (`resume.js`: where a 206 starts, the
 * ETag and size) and the download starts over cleanly when they disagree;
 * a body is never allowed past the size the server announced. The SHA-256 is computed as the bytes arrive (in the
 * runtime) and the file's format is checked before it is marked ready.
 */

import { Sha256 } from '../../pkg/locus.js';
import { planResponse, rangeHeaders, sizeLimit } from './resume.js';
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
  const url = checkUrl(request.url ?? (await manifestOf(id))?.url);
  const dir = await (await modelsDir()).getDirectoryHandle(id, { create: true });
  const previous = await readManifest(dir);
  if (previous && previous.url !== url.href) {
    // Ids are unique per source: another file never joins or replaces this model.
    throw new StoreError('bad_message', `another model already has the id ${id} (${previous.url ?? 'an imported file'}): delete it first, or give this one another id`);
  }
  if (previous?.status === 'ready') return previous;
  const expectedSize = positive(request.size) ?? previous?.expectedSize;
  /** @type {Manifest} */
  const manifest = {
    id,
    name: request.name ?? previous?.name ?? id,
    kind: request.kind === 'fasttext' || request.kind === 'gguf' ? request.kind : (previous?.kind ?? kindOf(url.pathname)),
    url: url.href,
    sha256: (request.sha256 ?? previous?.sha256)?.toLowerCase(),
    expectedSize,
    size: expectedSize ?? previous?.size,
    validator: previous?.validator,
    finalUrl: previous?.finalUrl,
    status: 'downloading',
    source: 'url',
  };
  await writeManifest(dir, manifest);
  const access = await (await dir.getFileHandle(fileName(manifest.kind), { create: true })).createSyncAccessHandle();
  try {
    if (!previous) access.truncate(0); // leftovers of a folder without a manifest
    const digest = await fetchInto(access, manifest, expectedSize, onProgress, signal);
    access.flush();
    const { architecture } = validate(access, manifest.kind, digest, manifest.sha256);
    // Without an expected hash the file is unverified: its hash is recorded now, and shown.
    const verified = Boolean(manifest.sha256);
    Object.assign(manifest, { status: 'ready', size: access.getSize(), sha256: digest, verified, architecture, error: undefined });
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

/** A model's manifest, or null when it has none. @param {string} id */
export async function manifestOf(id) {
  try {
    return await readManifest(await (await modelsDir()).getDirectoryHandle(id));
  } catch {
    return null;
  }
}

/** @param {unknown} value @returns {number|undefined} */
function positive(value) {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
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
 * where it stopped; returns the whole file's SHA-256. Every response is
 * checked against the bytes on disk (`resume.js`) before its body is written.
 * @param {FileSystemSyncAccessHandle} access
 * @param {Manifest} manifest
 * @param {number|undefined} expectedSize the size the catalog or the request gave
 * @param {(progress: Progress) => void} onProgress
 * @param {AbortSignal} signal
 */
async function fetchInto(access, manifest, expectedSize, onProgress, signal) {
  const hasher = new Sha256();
  let hashed = 0;
  let lastError = '';
  /** @type {string[]} why the download started over */
  const restarts = [];
  const startOver = () => {
    access.truncate(0);
    hasher.hexDigest(); // resets
    hashed = 0;
    manifest.validator = undefined;
    manifest.size = expectedSize;
  };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (attempt > 0 && lastError) await sleep(RETRY_BASE_MS * 2 ** (attempt - 1), signal);
    const have = access.getSize();
    if (hashed !== have) {
      // First attempt (or a restart): the hash must cover what is on disk.
      hasher.hexDigest(); // resets
      rehash(access, have, hasher);
      hashed = have;
    }
    if (manifest.size && have === manifest.size) return hasher.hexDigest();
    let response;
    try {
      response = await fetch(manifest.url ?? '', { headers: rangeHeaders(have), signal, cache: 'no-store' });
    } catch (error) {
      if (signal.aborted) throw error;
      lastError = String(/** @type {any} */ (error)?.message ?? error);
      continue;
    }
    // Where the bytes really came from (a CDN's redirect), for the record;
    // resumes still ask the URL we were given (signed redirects expire).
    if (response.url && response.url !== manifest.url) manifest.finalUrl = response.url;
    if (!response.ok && response.status !== 416) {
      await response.body?.cancel().catch(() => {});
      if (response.status >= 500) {
        lastError = `the server answered ${response.status}`;
        continue;
      }
      throw new StoreError('download_failed', `the server answered ${response.status} ${response.statusText}`.trim());
    }
    const plan = planResponse(headOf(response), { have, validator: manifest.validator, size: manifest.size });
    if (plan.action === 'complete') return hasher.hexDigest();
    if (plan.action === 'refetch' || !response.body) {
      await response.body?.cancel().catch(() => {});
      startOver();
      onProgress({ done: 0, total: manifest.size ?? null, restarted: true, attempt });
      // Start over at once (no back-off): the server answered, just not usefully.
      lastError = '';
      restarts.push(plan.action === 'refetch' ? plan.reason : 'an empty answer');
      continue;
    }
    if (plan.at === 0 && have > 0) startOver();
    manifest.validator = response.headers.get('etag') ?? manifest.validator;
    const limit = sizeLimit(plan.total, expectedSize);
    if (limit === null) {
      await response.body.cancel().catch(() => {});
      throw new StoreError('download_failed', 'the server does not say how large the file is, so it could fill the disk: give its size, or use another server');
    }
    if (plan.total !== null) manifest.size = plan.total;
    await checkQuota(limit - plan.at);
    onProgress({ done: plan.at, total: manifest.size ?? null, restarted: plan.restarted, attempt });
    try {
      hashed = await stream(response.body, access, hasher, plan.at, limit, manifest.size ?? null, onProgress);
    } catch (error) {
      access.flush();
      hashed = access.getSize(); // every byte written was hashed
      if (/** @type {any} */ (error)?.code === 'download_failed') access.truncate(0); // more than announced: keep none of it
      if (signal.aborted || /** @type {any} */ (error)?.code === 'download_failed') throw error;
      lastError = String(/** @type {any} */ (error)?.message ?? error);
      continue;
    }
    if (plan.total === null || hashed === plan.total) {
      onProgress({ done: hashed, total: hashed });
      return hasher.hexDigest();
    }
    lastError = `the connection closed at ${hashed} of ${plan.total} bytes`;
  }
  const error = new StoreError('download_failed', `the download stopped (${lastError || restarts.at(-1)}); it resumes from ${access.getSize()} bytes`);
  error.resumable = true;
  throw error;
}

/** The response headers the resume decisions read. @param {Response} response */
function headOf(response) {
  const get = (/** @type {string} */ name) => response.headers.get(name);
  return {
    status: response.status,
    contentRange: get('content-range'),
    contentLength: get('content-length'),
    contentEncoding: get('content-encoding'),
    etag: get('etag'),
  };
}

/**
 * Writes a response body at `at`, hashing as it goes; returns the bytes on disk.
 * @param {ReadableStream<Uint8Array>} body
 * @param {FileSystemSyncAccessHandle} access
 * @param {Sha256} hasher
 * @param {number} at
 * @param {number} limit the most bytes the file may reach: more is refused
 * @param {number|null} total
 * @param {(progress: Progress) => void} onProgress
 */
async function stream(body, access, hasher, at, limit, total, onProgress) {
  const reader = body.getReader();
  let done = at;
  let lastReport = 0;
  let flushed = at;
  try {
    for (;;) {
      const { value, done: finished } = await reader.read();
      if (finished) return done;
      if (done + value.byteLength > limit) {
        await reader.cancel().catch(() => {});
        throw new StoreError('download_failed', `the server sent more than the ${limit} bytes it announced`);
      }
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
