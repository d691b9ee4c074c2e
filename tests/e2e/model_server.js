// @ts-check
/**
 * A local HTTP server for model files (the repo's `models/` folder) that
 * honours Range requests and records every request, so download tests run
 * the real download code against the real files. The first path segment may
 * pick a misbehaviour:
 *   /slow/<file>      throttled to `slowBytesPerSecond`
 *   /cut/<file>       the first response closes the connection at 40% of the file
 *   /norange/<file>   Range is ignored (always 200 with the whole file)
 *   /cutnorange/<f>   the first response is cut at 40%, later ones ignore Range
 *   /corrupt/<file>   one byte in the middle is flipped
 */

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { REPO_ROOT } from './harness.js';

const MODELS = path.join(REPO_ROOT, 'models');
const CUT_AT = 0.4;

/**
 * @typedef {{path: string, mode: string, range: string|undefined, status: number, sent: number, start: number}} Logged
 */

/**
 * @param {{slowBytesPerSecond?: number}} [options]
 * @returns {Promise<{url: (file: string, mode?: string) => string, requests: Logged[], close: () => Promise<void>}>}
 */
export async function serveModels({ slowBytesPerSecond = 400_000 } = {}) {
  /** @type {Logged[]} */
  const requests = [];
  /** Paths whose first response was already cut. */
  const cut = new Set();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    /** @type {Logged} */
    const log = { path: url.pathname, mode: '', range: req.headers.range, status: 0, sent: 0, start: 0 };
    requests.push(log);
    const parts = url.pathname.split('/').filter(Boolean);
    const mode = parts.length > 1 ? parts[0] : 'plain';
    log.mode = mode;
    const file = path.join(MODELS, path.basename(url.pathname));
    let size;
    try {
      size = (await stat(file)).size;
    } catch {
      log.status = 404;
      return void res.writeHead(404).end('not found');
    }
    const honoursRange = mode !== 'norange' && !(mode === 'cutnorange' && cut.has(url.pathname));
    const range = honoursRange ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null;
    const start = range ? Number(range[1]) : 0;
    log.start = start;
    if (start >= size && size > 0) {
      log.status = 416;
      return void res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    }
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(size - start), 'accept-ranges': 'bytes' };
    log.status = range ? 206 : 200;
    if (range) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${size - 1}/${size}` });
    else res.writeHead(200, headers);
    const cutHere = (mode === 'cut' || mode === 'cutnorange') && !cut.has(url.pathname) ? Math.floor(size * CUT_AT) : Infinity;
    if (cutHere !== Infinity) cut.add(url.pathname);
    const flipAt = mode === 'corrupt' ? Math.floor(size / 2) : -1;
    let at = start;
    const shape = new Transform({
      transform(chunk, _encoding, done) {
        let piece = /** @type {Buffer} */ (chunk);
        if (flipAt >= at && flipAt < at + piece.length) {
          piece = Buffer.from(piece);
          piece[flipAt - at] ^= 0xff;
        }
        if (at + piece.length >= cutHere) {
          // Send up to the cut, then drop the connection mid-body.
          const head = piece.subarray(0, cutHere - at);
          at += head.length;
          log.sent = at - start;
          res.write(head, () => res.socket?.destroy());
          this.unpipe();
          return;
        }
        at += piece.length;
        log.sent = at - start;
        if (mode === 'slow') setTimeout(() => done(null, piece), (piece.length / slowBytesPerSecond) * 1000);
        else done(null, piece);
      },
    });
    createReadStream(file, { start, highWaterMark: 64 * 1024 }).pipe(shape).pipe(res);
    res.on('close', () => shape.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: (file, mode) => `http://127.0.0.1:${port}/${mode ? `${mode}/` : ''}${file}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve(undefined));
      }),
  };
}
