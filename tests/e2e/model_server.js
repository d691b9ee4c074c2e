// @ts-check
/**
 * A local HTTP server for model files (the repo's `models/` folder) that
 * honours Range requests and records every request, so download tests run
 * the real download code against the real files.
 */

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './harness.js';

const MODELS = path.join(REPO_ROOT, 'models');

/**
 * @returns {Promise<{url: (file: string) => string, requests: {path: string, range: string|undefined}[], close: () => Promise<void>}>}
 */
export async function serveModels() {
  /** @type {{path: string, range: string|undefined}[]} */
  const requests = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push({ path: url.pathname, range: req.headers.range });
    const file = path.join(MODELS, path.basename(url.pathname));
    let size;
    try {
      size = (await stat(file)).size;
    } catch {
      return void res.writeHead(404).end('not found');
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start >= size && size > 0) return void res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(size - start), 'accept-ranges': 'bytes' };
    if (range) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${size - 1}/${size}` });
    else res.writeHead(200, headers);
    createReadStream(file, { start }).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: (file) => `http://127.0.0.1:${port}/${file}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}
