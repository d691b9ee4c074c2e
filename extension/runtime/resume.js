// @ts-check
/**
 * The decisions of a resumable download, kept free of I/O so they can be
 * tested on their own: what a response to a (ranged) request means for the
 * bytes already on disk, and how many bytes a body may write.
 *
 * We never send `If-Range`: it is not a CORS-safelisted header (every resume
 * would need a preflight the CDN may refuse), and servers that ignore it
 * would append a new version of the file to the old one. Instead the
 * response's ETag and total size are compared with what the first response
 * said, and the start of a 206's Content-Range with the bytes on disk.
 */

/**
 * @typedef {{start:number, end:number, total:number|null}} ContentRange
 * @typedef {{status:number, contentRange:string|null, contentLength:string|null,
 *   contentEncoding:string|null, etag:string|null}} ResponseHead
 * @typedef {{have:number, validator?:string, size?:number}} OnDisk
 *   `validator` and `size`: the ETag and total size the file had when its first bytes came
 * @typedef {{action:'write', at:number, total:number|null, restarted:boolean}
 *   | {action:'refetch', reason:string}
 *   | {action:'complete'}} Plan
 *   write: write the body at `at` (0 with `restarted`: drop what is on disk first);
 *   refetch: drop the body and what is on disk, and ask again without Range;
 *   complete: the file on disk is already whole.
 */

/** `bytes 100-199/1000` → {start:100, end:199, total:1000}; `/*` gives total null. Null when malformed. */
export function parseContentRange(/** @type {string|null} */ value) {
  const match = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value ?? '');
  if (!match) return null;
  const [start, end] = [Number(match[1]), Number(match[2])];
  if (end < start) return null;
  const total = match[3] === '*' ? null : Number(match[3]);
  if (total !== null && end >= total) return null;
  return /** @type {ContentRange} */ ({ start, end, total });
}

/** The request headers for a download that has `have` bytes on disk: a plain open-ended Range, nothing else. */
export function rangeHeaders(/** @type {number} */ have) {
  return have > 0 ? { Range: `bytes=${have}-` } : {};
}

/** The body's length from Content-Length, when it is the file's own (no content coding). */
function bodyLength(/** @type {ResponseHead} */ head) {
  const coding = (head.contentEncoding ?? '').trim().toLowerCase();
  if (coding && coding !== 'identity') return null; // Content-Length counts the encoded bytes
  const length = Number(head.contentLength ?? NaN);
  return Number.isSafeInteger(length) && length >= 0 && head.contentLength !== null && head.contentLength.trim() !== '' ? length : null;
}

/**
 * What to do with a response, given what is on disk.
 * @param {ResponseHead} head
 * @param {OnDisk} disk
 * @returns {Plan}
 */
export function planResponse(head, disk) {
  const { have } = disk;
  if (head.status === 416) {
    // Nothing past what we have: the file may be complete, else start over.
    const total = Number(/^\s*bytes\s+\*\/(\d+)\s*$/i.exec(head.contentRange ?? '')?.[1]);
    if (have > 0 && total === have && (disk.size === undefined || disk.size === have)) return { action: 'complete' };
    return { action: 'refetch', reason: 'the server has no bytes past what is on disk' };
  }
  const changed = changedFrom(head, disk);
  if (head.status === 200) {
    // The whole file, from its first byte: a server that ignores Range, or a first request.
    const length = bodyLength(head);
    return { action: 'write', at: 0, total: length, restarted: have > 0 };
  }
  if (head.status !== 206) return { action: 'refetch', reason: `unexpected status ${head.status}` };
  const range = parseContentRange(head.contentRange);
  if (!range) return { action: 'refetch', reason: 'a partial answer without a readable Content-Range' };
  const total = range.total;
  if (range.start === 0) return { action: 'write', at: 0, total, restarted: have > 0 };
  if (changed) return { action: 'refetch', reason: changed };
  if (range.start !== have) return { action: 'refetch', reason: `the server answered from byte ${range.start}, not ${have}` };
  return { action: 'write', at: have, total, restarted: false };
}

/** Why the file on the server is not the one whose first bytes are on disk, or ''. */
function changedFrom(/** @type {ResponseHead} */ head, /** @type {OnDisk} */ disk) {
  if (disk.have === 0) return '';
  if (disk.validator && head.etag && head.etag !== disk.validator) return `the file changed on the server (ETag ${head.etag}, was ${disk.validator})`;
  const total = head.status === 206 ? (parseContentRange(head.contentRange)?.total ?? null) : bodyLength(head);
  if (disk.size !== undefined && total !== null && total !== disk.size) return `the file changed on the server (${total} bytes, was ${disk.size})`;
  return '';
}

/**
 * How many bytes the file may reach: the total the server announced, else the
 * size the catalog (or the user) expects. Null: nothing bounds it, and a
 * download that could fill the disk is refused.
 * @param {number|null} total
 * @param {number|undefined} expected
 */
export function sizeLimit(total, expected) {
  if (total !== null) return total;
  if (expected !== undefined && Number.isSafeInteger(expected) && expected > 0) return expected;
  return null;
}
