// @ts-check
/** What of the chat may be written to disk (`extension/runtime/history.js`). */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WEEK_MS, checkPolicy, fromDisk, retained, toDisk } from '../../extension/runtime/history.js';

const NOW = 1_800_000_000_000;
const old = { role: 'user', content: 'old', at: NOW - WEEK_MS - 1 };
const recent = { role: 'assistant', content: 'recent', at: NOW - 1000 };
const undated = { role: 'user', content: 'undated' };
const conversation = { turns: [old, recent, undated], context: { title: 'p', text: 't', trimmed: false, total: 1, at: NOW - 2 * WEEK_MS }, system: 's' };

test('only the three choices are policies', () => {
  assert.equal(checkPolicy('week'), 'week');
  assert.equal(checkPolicy('forever'), undefined);
  assert.equal(checkPolicy(undefined), undefined);
});

test('"keep 7 days" drops turns and page context older than a week', () => {
  const kept = retained(conversation, 'week', NOW);
  assert.deepEqual(kept.turns, [recent]);
  assert.equal(kept.context, null);
  assert.equal(retained(conversation, 'keep', NOW), conversation);
  assert.deepEqual(retained(conversation, 'none', NOW).turns, []);
});

test('nothing is written under "don\'t keep" or when empty', () => {
  assert.equal(toDisk(conversation, 'none', NOW), null);
  assert.equal(toDisk({ turns: [], context: null, system: 's' }, 'keep', NOW), null);
  assert.deepEqual(toDisk(conversation, 'week', NOW)?.turns, [recent]);
  assert.equal(toDisk(conversation, 'keep', NOW)?.policy, 'keep');
});

test('a saved conversation is pruned by the policy it was saved under when read back', () => {
  const read = fromDisk({ turns: [old, recent], context: null, system: 'x', policy: 'week' }, NOW);
  assert.deepEqual(read?.conversation.turns, [recent]);
  assert.equal(read?.policy, 'week');
  assert.equal(fromDisk({ nonsense: true }, NOW), null);
  assert.deepEqual(fromDisk({ turns: [old] }, NOW)?.conversation.turns, [old], 'older files (no policy) were kept');
});
