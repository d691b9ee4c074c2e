// @ts-check
/**
 * Which installed model a page task may run on, against the real catalog:
 * SmolLM2 (English-only, no translation) is never used to translate; with
 * nothing installed the recommended download is offered.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { catalogEntryOf, chooseModel, fitness, recommended } from '../../extension/model_fit.js';

const catalog = JSON.parse(await readFile(new URL('../../extension/catalog.json', import.meta.url), 'utf8'));
const entry = (/** @type {string} */ id) => catalog.models.find((/** @type {any} */ e) => e.id === id);
const smollm2 = entry('smollm2-135m-instruct-q4_1');
/** SmolLM2 as the e2e tests install it: another id, the catalog's file. */
const installedSmollm2 = { id: 'smollm2-135m', name: 'SmolLM2-135M-Instruct.Q4_1', sha256: smollm2.sha256, status: 'ready' };
/** A multilingual model offered for translation. */
const translator = { id: 'qwen-test', name: 'Qwen Test', kind: 'gguf', url: 'http://127.0.0.1/q.gguf', bytes: 1000, license: 'Apache-2.0', languages: ['en', 'fr', 'de'], tasks: ['chat', 'summarize', 'translate'] };

test('an installed model is matched to its catalog entry by hash', () => {
  assert.equal(catalogEntryOf(installedSmollm2, catalog.models), smollm2);
  assert.equal(catalogEntryOf({ id: 'mine', name: 'Mine' }, catalog.models), undefined);
});

test('SmolLM2 summarises but does not translate', () => {
  assert.equal(fitness(smollm2, { task: 'summarize' }), 'fit');
  assert.equal(fitness(smollm2, { task: 'translate', targetLanguage: 'fr' }), 'task');
  assert.equal(fitness(translator, { task: 'translate', targetLanguage: 'ja' }), 'language');
  assert.equal(fitness(translator, { task: 'translate', targetLanguage: 'fr-CA' }), 'fit');
  // A model the catalog does not know is the user's own choice.
  assert.equal(fitness(undefined, { task: 'translate', targetLanguage: 'fr' }), 'fit');
});

test('translating with only SmolLM2 installed offers a fitting download instead', () => {
  const models = [...catalog.models, translator];
  const choice = chooseModel({ task: 'translate', targetLanguage: 'fr' }, [installedSmollm2], 'smollm2-135m', models);
  assert.ok('offer' in choice);
  assert.equal(choice.offer.reason, 'task');
  assert.equal(choice.offer.englishOnly, true);
  assert.equal(choice.offer.current, 'SmolLM2 135M Instruct');
  assert.deepEqual(choice.offer.model, { id: 'qwen-test', name: 'Qwen Test', bytes: 1000, license: 'Apache-2.0' });
  // Once the translator is installed it is the one chosen, loaded or not.
  const installed = [installedSmollm2, { id: 'qwen-test', name: 'Qwen Test', url: translator.url, status: 'ready' }];
  assert.deepEqual(chooseModel({ task: 'translate', targetLanguage: 'fr' }, installed, 'smollm2-135m', models), { run: installed[1] });
  // Summaries keep the loaded model when it fits.
  assert.deepEqual(chooseModel({ task: 'summarize' }, installed, 'smollm2-135m', models), { run: installed[0] });
});

test('with nothing installed the recommended model for the task is offered', () => {
  const choice = chooseModel({ task: 'summarize' }, [], null, catalog.models);
  assert.ok('offer' in choice);
  assert.equal(choice.offer.reason, 'none');
  assert.equal(choice.offer.model?.id, 'smollm2-135m-instruct-q4_1');
  assert.equal(choice.offer.model?.license, 'Apache-2.0');
  assert.ok((choice.offer.model?.bytes ?? 0) > 90e6);
  assert.equal(recommended({ task: 'translate', targetLanguage: 'fr' }, [...catalog.models, translator])?.id, 'qwen-test');
});

test('the recommended download depends on the device', () => {
  const small = { ...translator, id: 'small', bytes: 400e6 };
  const large = { ...translator, id: 'large', bytes: 1.1e9 };
  const huge = { ...translator, id: 'huge', bytes: 2.5e9 };
  const need = { task: 'translate', targetLanguage: 'de' };
  assert.equal(recommended(need, [huge, large, small], { gpu: true })?.id, 'large');
  assert.equal(recommended(need, [huge, large, small], { gpu: false })?.id, 'small');
});
