// @ts-check
/** Model ids and user-typed URLs (`extension/model_names.js`). */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idFrom, parseModelUrl, uniqueId } from '../../extension/model_names.js';

test('a different URL with the same file name gets its own id', () => {
  const a = 'https://a.example/m/Foo.Q4.gguf';
  const b = 'https://b.example/other/Foo.Q4.gguf';
  assert.equal(idFrom(a), idFrom(b), 'the file name alone would collide');
  assert.equal(uniqueId(a, []), 'foo.q4');
  assert.equal(uniqueId(b, [{ id: 'foo.q4', url: a }]), 'foo.q4-2');
  assert.equal(uniqueId(b, [{ id: 'foo.q4', url: a }, { id: 'foo.q4-2', url: 'https://c.example/Foo.Q4.gguf' }]), 'foo.q4-3');
  assert.equal(uniqueId(a, [{ id: 'foo.q4', url: a }]), 'foo.q4', 'the same URL keeps its id');
  assert.equal(uniqueId(b, [{ id: 'foo.q4' }]), 'foo.q4-2', 'an imported file (no URL) also keeps its id');
});

test('malformed URLs are refused with a reason, odd names are kept', () => {
  assert.throws(() => parseModelUrl('not a url'), /not a URL/);
  assert.throws(() => parseModelUrl('ftp://x.example/a.gguf'), /http and https/);
  assert.throws(() => parseModelUrl('https://x.example/'), /names no file/);
  assert.deepEqual(parseModelUrl(' https://x.example/a%20b.gguf '), { url: 'https://x.example/a%20b.gguf', fileName: 'a b.gguf' });
  assert.deepEqual(parseModelUrl('https://x.example/bad%E0%A4%A.gguf'), { url: 'https://x.example/bad%E0%A4%A.gguf', fileName: 'bad%E0%A4%A.gguf' });
});
