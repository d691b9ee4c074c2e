// @ts-check
/**
 * `extension/protocol.js` and `src/protocol.rs` must speak the same protocol.
 * Loads the built WASM runtime in Node (no browser) and compares both sides.
 */

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import init, { Runtime, protocolDescription } from '../../pkg/locus.js';
import * as protocol from '../../extension/protocol.js';

before(async () => {
  await init({ module_or_path: await readFile(new URL('../../pkg/locus_bg.wasm', import.meta.url)) });
});

test('both sides list the same kinds, events and error codes', () => {
  const rust = protocolDescription();
  assert.equal(rust.version, protocol.PROTOCOL_VERSION);
  assert.deepEqual(rust.kinds, [...protocol.RUNTIME_KINDS]);
  assert.deepEqual(rust.events, [...protocol.EVENT_TYPES]);
  assert.deepEqual([...rust.error_codes].sort(), Object.values(protocol.ERROR_CODES).sort());
});

test('the envelope check and the Rust parser agree on accepting and rejecting', async () => {
  const runtime = await Runtime.create(); // no WebGPU in Node: the CPU fallback
  const messages = [
    null,
    42,
    'request',
    [],
    {},
    { type: 'request', kind: 'report' },
    { type: 'request', id: '', kind: 'report' },
    { type: 'request', id: 'a', kind: 'nope' },
    { type: 'request', id: 'a', kind: 'report', payload: [] },
    { type: 'weird', id: 'a' },
    { type: 'request', id: 'ok', kind: 'report', payload: {} },
    { type: 'request', id: 'ok2', kind: 'report' },
  ];
  for (const message of messages) {
    const js = protocol.checkClientMessage(message);
    /** @type {any[]} */
    const events = [];
    await runtime.handle(message, (/** @type {any} */ e) => events.push(e));
    const last = events.at(-1);
    if (js.ok) {
      assert.equal(last.event, 'done', `${JSON.stringify(message)}: JS accepts, Rust says ${JSON.stringify(last)}`);
    } else {
      assert.equal(last.event, 'error', `${JSON.stringify(message)}: JS rejects, Rust accepts`);
      assert.equal(last.code, js.code, `${JSON.stringify(message)}: codes differ`);
    }
  }
});

test('in Node the runtime falls back to the CPU and says why', async () => {
  const runtime = await Runtime.create();
  const report = runtime.report();
  assert.equal(report.backend, 'cpu');
  assert.match(report.fallbackReason, /navigator\.gpu is missing/);
  assert.match(runtime.summary(), /^CPU \(no WebGPU adapter: /);
});
