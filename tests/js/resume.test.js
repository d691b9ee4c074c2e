// @ts-check
/** The download's resume decisions (`extension/runtime/resume.js`), without a network. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseContentRange, planResponse, rangeHeaders, sizeLimit } from '../../extension/runtime/resume.js';

/** @param {Partial<import('../../extension/runtime/resume.js').ResponseHead>} head */
const response = (head) => ({ status: 200, contentRange: null, contentLength: null, contentEncoding: null, etag: null, ...head });

test('Content-Range is parsed strictly', () => {
  assert.deepEqual(parseContentRange('bytes 100-199/1000'), { start: 100, end: 199, total: 1000 });
  assert.deepEqual(parseContentRange('bytes 0-9/*'), { start: 0, end: 9, total: null });
  for (const bad of [null, '', 'bytes */1000', 'bytes 5-4/10', 'bytes 0-10/10', 'items 0-1/2', 'bytes 1-2']) {
    assert.equal(parseContentRange(bad), null, String(bad));
  }
});

test('a resume sends Range only, never If-Range', () => {
  assert.deepEqual(rangeHeaders(0), {});
  assert.deepEqual(rangeHeaders(4096), { Range: 'bytes=4096-' });
});

test('a 206 that starts where the disk ends is appended', () => {
  const plan = planResponse(response({ status: 206, contentRange: 'bytes 400-999/1000', etag: '"v1"' }), { have: 400, validator: '"v1"', size: 1000 });
  assert.deepEqual(plan, { action: 'write', at: 400, total: 1000, restarted: false });
});

test('a 206 that starts at 0 rewrites the file from the start', () => {
  const plan = planResponse(response({ status: 206, contentRange: 'bytes 0-999/1000' }), { have: 400, size: 1000 });
  assert.deepEqual(plan, { action: 'write', at: 0, total: 1000, restarted: true });
});

test('a 206 that starts anywhere else is refetched from scratch', () => {
  const plan = planResponse(response({ status: 206, contentRange: 'bytes 300-999/1000' }), { have: 400, size: 1000 });
  assert.equal(plan.action, 'refetch');
  assert.match(/** @type {any} */ (plan).reason, /from byte 300, not 400/);
});

test('a 206 without a readable Content-Range is not trusted', () => {
  assert.equal(planResponse(response({ status: 206 }), { have: 400 }).action, 'refetch');
});

test('a file that changed between two ranges (ETag or size) starts over', () => {
  const etag = planResponse(response({ status: 206, contentRange: 'bytes 400-999/1000', etag: '"v2"' }), { have: 400, validator: '"v1"', size: 1000 });
  assert.equal(etag.action, 'refetch');
  assert.match(/** @type {any} */ (etag).reason, /changed.*"v2".*"v1"/);
  const size = planResponse(response({ status: 206, contentRange: 'bytes 400-1199/1200' }), { have: 400, size: 1000 });
  assert.equal(size.action, 'refetch');
  assert.match(/** @type {any} */ (size).reason, /1200 bytes, was 1000/);
  // Without a validator to compare (CORS hides it) the range is taken as it comes.
  assert.equal(planResponse(response({ status: 206, contentRange: 'bytes 400-999/1000' }), { have: 400 }).action, 'write');
});

test('a 200 replaces whatever is on disk; its length counts only without content coding', () => {
  assert.deepEqual(planResponse(response({ contentLength: '1000' }), { have: 400 }), { action: 'write', at: 0, total: 1000, restarted: true });
  assert.deepEqual(planResponse(response({ contentLength: '1000' }), { have: 0 }), { action: 'write', at: 0, total: 1000, restarted: false });
  assert.deepEqual(planResponse(response({ contentLength: '300', contentEncoding: 'gzip' }), { have: 0 }), { action: 'write', at: 0, total: null, restarted: false });
  assert.deepEqual(planResponse(response({}), { have: 0 }), { action: 'write', at: 0, total: null, restarted: false });
});

test('416 means complete only when the server total is what is on disk', () => {
  assert.deepEqual(planResponse(response({ status: 416, contentRange: 'bytes */1000' }), { have: 1000 }), { action: 'complete' });
  assert.equal(planResponse(response({ status: 416, contentRange: 'bytes */900' }), { have: 1000 }).action, 'refetch');
  assert.equal(planResponse(response({ status: 416, contentRange: 'bytes */1000' }), { have: 1000, size: 1200 }).action, 'refetch');
});

test('a body of unknown length is bounded by the expected size, or refused', () => {
  assert.equal(sizeLimit(1000, undefined), 1000);
  assert.equal(sizeLimit(1000, 5), 1000);
  assert.equal(sizeLimit(null, 2048), 2048);
  assert.equal(sizeLimit(null, undefined), null);
  assert.equal(sizeLimit(null, 0), null);
});
