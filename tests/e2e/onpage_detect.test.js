// @ts-check
/**
 * Detect language with lid.176 in the real extension: 20 sentences in 10
 * languages through the protocol (and their speed in the browser), and the
 * panel's ranked list with language names in the UI language.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT, openPage, selectText } from './harness.js';
import { invokeWith, launchWithModels, waitForPanel } from './onpage_setup.js';

const OUT = path.join(REPO_ROOT, 'out');
/** @type {Awaited<ReturnType<typeof launchWithModels>>} */
let env;
before(async () => {
  await mkdir(OUT, { recursive: true });
  env = await launchWithModels({ llm: false, langid: true });
});
after(async () => env?.close());

const SENTENCES = [
  ['en', 'The weather was lovely, so we walked home through the park.'],
  ['en', 'Please remember to switch off the lights when you leave the office.'],
  ['de', 'Wir haben gestern Abend einen sehr spannenden Film im Kino gesehen.'],
  ['de', 'Die Kinder spielen nach der Schule gern im Garten ihrer Großeltern.'],
  ['fr', 'Nous avons passé un excellent week-end à la campagne avec nos amis.'],
  ['fr', "Le musée sera fermé lundi prochain pour des travaux d'entretien."],
  ['es', 'Mañana vamos a visitar a mis abuelos que viven cerca de la playa.'],
  ['es', 'El tren salió con veinte minutos de retraso por culpa de la lluvia.'],
  ['it', 'Abbiamo mangiato una pizza buonissima in una piccola trattoria vicino al porto.'],
  ['it', 'La biblioteca comunale resterà chiusa per tutto il mese di agosto.'],
  ['pt', 'Eu gosto muito de ler livros antigos nas tardes de domingo.'],
  ['pt', 'O mercado abre cedo e as frutas frescas acabam antes do meio-dia.'],
  ['nl', 'We gaan dit jaar met de fiets op vakantie naar het zuiden van Frankrijk.'],
  ['nl', 'De bakker op de hoek verkoopt het lekkerste brood van de hele stad.'],
  ['ru', 'Вчера вечером мы долго гуляли по набережной и разговаривали о книгах.'],
  ['ru', 'Поезд прибывает на центральный вокзал ровно в восемь часов утра.'],
  ['ja', '昨日は友達と一緒に新しいレストランで晩ご飯を食べました。'],
  ['ja', '来週の会議は午後三時から始まる予定です。'],
  ['zh', '我们明天早上去公园散步，然后一起吃午饭。'],
  ['zh', '这个城市的图书馆周末也开放，很多学生在那里学习。'],
];

test('20 sentences in 10 languages: at least 18 detected right, ranked like Chrome’s LanguageDetector', async () => {
  const right = [];
  const started = Date.now();
  // One port for all of them, as a client would use it.
  const results = await env.popup.evaluate(
    (sentences) =>
      Promise.all(
        sentences.map(
          ([, text], i) =>
            new Promise((resolve) => {
              const port = chrome.runtime.connect({ name: 'locus.client' });
              port.onMessage.addListener((event) => {
                if (event.event === 'done' || event.event === 'error') {
                  port.disconnect();
                  resolve(event);
                }
              });
              port.postMessage({ type: 'request', id: `detect-${i}`, kind: 'detect', payload: { text } });
            }),
        ),
      ),
    SENTENCES,
  );
  const seconds = (Date.now() - started) / 1000;
  for (const [i, event] of results.entries()) {
    assert.equal(event.event, 'done', JSON.stringify(event));
    const languages = event.result.languages;
    assert.equal(languages.at(-1).detectedLanguage, 'und', 'the list ends with und');
    const sum = languages.reduce((s, d) => s + d.confidence, 0);
    assert.ok(Math.abs(sum - 1) < 1e-3, `confidences sum to ${sum}`);
    if (languages[0].detectedLanguage === SENTENCES[i][0]) right.push(i);
  }
  console.log(`detect: ${right.length}/20 right; ${(20 / seconds).toFixed(0)} requests/s round trip through the extension`);
  assert.ok(right.length >= 18, `${right.length}/20 right`);
});

test('Detect language shows the ranked languages by name in the panel', async () => {
  const { page, tabId } = await openPage(env.browser, 'onpage.html');
  await selectText(page, '#german');
  await invokeWith(env.browser, tabId, 'detect', {});
  const panel = await waitForPanel(page, (p) => p.state !== 'running');
  assert.equal(panel.state, 'done', panel.status);
  assert.equal(panel.result.languages[0].detectedLanguage, 'de');
  assert.match(panel.output, /^German\s*\d+%/, panel.output);
  assert.deepEqual(panel.tags.slice(0, 2), ['ol', 'li']);
  await page.screenshot({ path: path.join(OUT, 'panel-detect.png') });
  await page.close();
});
