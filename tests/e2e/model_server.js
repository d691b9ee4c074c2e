// @ts-check
/**
 * A local HTTP server for model files (the repo's `models/` folder) that
 * behaves like a real CDN (Range, strong ETags, HEAD, CORS headers with the
 * headers a download needs exposed, preflights answered, redirects to another
 * origin) and records every request, so download tests run the real download
 * code against the real files. The first path segment may pick a
 * misbehaviour:
 *   /slow/<file>      throttled to `slowBytesPerSecond`
 *   /cut/<file>       the first response closes the connection at 40% of the file
 *   /norange/<file>   Range is ignored (always 200 with the whole file)
 *   /cutnorange/<f>   the first response is cut at 40%, later ones ignore Range
 *   /corrupt/<file>   one byte in the middle is flipped
 *   /range0/<file>    the first response is cut at 40%; later ranges are answered
 *                     with a 206 that starts at byte 0 (the whole file)
 *   /changing/<file>  the file changes between two ranges: the first response is
 *                     an older version (one byte differs, ETag "v1"), cut at 40%;
 *                     later ones are the real file (ETag "v2"). Like many
 *                     servers, it does not evaluate If-Range.
 *   /redirect/<file>  302 to the same file on a second server (another port on
 *                     127.0.0.1: another origin)
 *   /nolength/<file>  200 with no Content-Length (chunked), Range ignored
 */

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { REPO_ROOT } from './harness.js';

const MODELS = path.join(REPO_ROOT, 'models');
const CUT_AT = 0.4;
/** Where the older version of a `changing` file differs from the real one. */
const CHANGED_AT = 0.1;
/** What a CDN exposes to cross-origin scripts (Hugging Face's list has these). */
const EXPOSED = 'content-range, content-length, etag, accept-ranges';

/**
 * @typedef {{server: 'main'|'other', method: string, path: string, url: string, mode: string,
 *   range: string|undefined, ifRange: string|undefined, status: number, sent: number, start: number}} Logged
 */

/**
 * @param {{slowBytesPerSecond?: number}} [options]
 * @returns {Promise<{url: (file: string, mode?: string) => string, otherUrl: (file: string) => string,
 *   requests: Logged[], close: () => Promise<void>}>}
 */
export async function serveModels({ slowBytesPerSecond = 400_000 } = {}) {
  /** @type {Logged[]} */
  const requests = [];
  /** Paths whose first response was already cut (or served as the old version). */
  const cut = new Set();
  const other = await listen((req, res) => handle(req, res, 'other'));
  const main = await listen((req, res) => handle(req, res, 'main'));

  /** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res @param {'main'|'other'} server */
  async function handle(req, res, server) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const base = server === 'main' ? main.origin : other.origin;
    const parts = url.pathname.split('/').filter(Boolean);
    const mode = parts.length > 1 ? parts[0] : 'plain';
    /** @type {Logged} */
    const log = {
      server, method: req.method ?? 'GET', path: url.pathname, url: `${base}${url.pathname}`, mode,
      range: req.headers.range, ifRange: /** @type {string|undefined} */ (req.headers['if-range']), status: 0, sent: 0, start: 0,
    };
    requests.push(log);
    const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': EXPOSED };
    if (req.method === 'OPTIONS') {
      log.status = 204;
      return void res
        .writeHead(204, { ...cors, 'access-control-allow-methods': 'GET, HEAD', 'access-control-allow-headers': 'range, if-range', 'access-control-max-age': '0' })
        .end();
    }
    const file = path.join(MODELS, path.basename(url.pathname));
    let size;
    try {
      size = (await stat(file)).size;
    } catch {
      log.status = 404;
      return void res.writeHead(404, cors).end('not found');
    }
    if (mode === 'redirect') {
      log.status = 302;
      return void res.writeHead(302, { ...cors, location: `${other.origin}/${path.basename(url.pathname)}` }).end();
    }
    const firstOfPath = !cut.has(url.pathname);
    const oldVersion = mode === 'changing' && firstOfPath;
    const etag = mode === 'changing' ? (oldVersion ? '"v1"' : '"v2"') : `"${size.toString(16)}"`;
    const honoursRange = !['norange', 'nolength'].includes(mode) && !(mode === 'cutnorange' && !firstOfPath);
    const range = honoursRange ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null;
    const fromZero = mode === 'range0' && !firstOfPath;
    const start = range && !fromZero ? Number(range[1]) : 0;
    log.start = start;
    if (start >= size && size > 0) {
      log.status = 416;
      return void res.writeHead(416, { ...cors, 'content-range': `bytes */${size}` }).end();
    }
    /** @type {Record<string, string>} */
    const headers = { ...cors, 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', etag };
    if (mode !== 'nolength') headers['content-length'] = String(size - start);
    log.status = range ? 206 : 200;
    if (range) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${size - 1}/${size}` });
    else res.writeHead(200, headers);
    if (req.method === 'HEAD') return void res.end();
    const cutsFirst = ['cut', 'cutnorange', 'range0', 'changing'].includes(mode);
    const cutHere = cutsFirst && firstOfPath ? Math.floor(size * CUT_AT) : Infinity;
    if (cutsFirst) cut.add(url.pathname);
    const flipAt = mode === 'corrupt' ? Math.floor(size / 2) : oldVersion ? Math.floor(size * CHANGED_AT) : -1;
    let at = start;
    const shape = new Transform({
      transform(chunk, _encoding, done) {
        let piece = /** @type {Buffer} */ (chunk);
        if (flipAt >= at && flipAt < at + piece.length) {
          piece = Buffer.from(piece);
          piece[flipAt - at] ^= 0xff;
        }
        if (at + piece.length >= cutHere) {
          // Send up to the cut, then drop the connection mid-body (a moment
          // later, so the client has the bytes before it sees the cut).
          const head = piece.subarray(0, cutHere - at);
          at += head.length;
          log.sent = at - start;
          res.write(head, () => setTimeout(() => res.socket?.destroy(), 250));
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
  }

  return {
    url: (file, mode) => `${main.origin}/${mode ? `${mode}/` : ''}${file}`,
    otherUrl: (file) => `${other.origin}/${file}`,
    requests,
    close: async () => {
      await main.close();
      await other.close();
    },
  };
}

/** An HTTP server on a free port of 127.0.0.1. @param {import('node:http').RequestListener} handler */
async function listen(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      /** @type {Promise<void>} */ (
        new Promise((resolve) => {
          server.closeAllConnections?.();
          server.close(() => resolve());
        })
      ),
  };
}
