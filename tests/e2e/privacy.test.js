// @ts-check
/**
 * Privacy is the user's choice: the chat history and page context are kept
 * on disk (OPFS `conversation.json`) only as Settings → Chat history says
 * (keep / 7 days / don't keep), "Clear history" deletes them, and a long
 * system prompt is saved (in storage.local: sync's 8 KB item limit made every
 * settings save fail). No model is needed: a turn without one fails, and is
 * still part of the conversation.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, sendRaw } from './harness.js';

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {import('playwright-core').Page} */
let popup;
let counter = 0;

before(async () => {
  browser = await launch({ webgpu: false });
  popup = await openExtensionPage(browser, 'popup/popup.html');
});
after(async () => browser?.close());

/** The saved conversation file, or null when there is none. */
const savedFile = () =>
  popup.evaluate(async () => {
    try {
      const file = await (await (await navigator.storage.getDirectory()).getFileHandle('conversation.json')).getFile();
      return JSON.parse(await file.text());
    } catch {
      return null;
    }
  });

/** Polls until `check` holds (at most 15 s). @param {() => Promise<boolean>} check @param {string} what */
async function until(check, what) {
  for (const deadline = Date.now() + 15_000; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The conversation as the worker shows it to a watcher. @param {object} [payload] */
async function watched(payload = {}) {
  const events = await sendRaw(popup, { type: 'request', id: `w${counter++}`, kind: 'chat.watch', payload }, 1500);
  return events.find((e) => e.event === 'progress' && e.state)?.state;
}

/** @param {string} text @param {object} [extra] */
async function send(text, extra = {}) {
  const last = (await sendRaw(popup, { type: 'request', id: `s${counter++}`, kind: 'chat.send', payload: { text, ...extra } }, 10_000)).at(-1);
  assert.equal(last.event, 'done', JSON.stringify(last));
  // The turn fails (no model); wait for it to be over.
  await until(async () => (await watched())?.replying === false, 'the turn to end');
}

/** Opens Settings in a fresh popup tab. */
async function settingsPage() {
  const page = await openExtensionPage(browser, 'popup/popup.html');
  await page.click('#tab-settings');
  return page;
}

test('a long system prompt is saved (storage.local), and shown again', async () => {
  const page = await settingsPage();
  const prompt = 'あなたは丁寧なアシスタントです。'.repeat(250).slice(0, 4000); // 12 kB of UTF-8: over sync's 8 KB item limit
  await page.fill('textarea[name=systemPrompt]', prompt);
  await page.locator('textarea[name=systemPrompt]').dispatchEvent('change');
  await page.waitForFunction(() => document.querySelector('#settings-saved')?.textContent?.length, null, { timeout: 10_000 });
  assert.doesNotMatch((await page.textContent('#settings-saved')) ?? '', /not saved/);
  const stored = await page.evaluate(async () => (await chrome.storage.local.get('settings')).settings?.systemPrompt);
  assert.equal(stored, prompt);
  await page.close();
  const again = await settingsPage();
  assert.equal(await again.inputValue('textarea[name=systemPrompt]'), prompt, 'the prompt survives a reopened popup');
  await again.close();
});

test('a settings save the storage refuses is shown, not silent', async () => {
  const page = await settingsPage();
  // 3,000 distinct language codes (Settings keeps one of each): the synced settings item passes sync's 8 KB limit.
  await page.fill('input[name=targetLanguages]', Array.from({ length: 3000 }, (_, i) => `${['de', 'fr', 'es'][i % 3]}-${String(i).padStart(3, '0').slice(-3)}`).join(', '));
  await page.locator('input[name=targetLanguages]').dispatchEvent('change');
  await page.waitForSelector('#settings-saved.error', { timeout: 10_000 });
  assert.match((await page.textContent('#settings-saved')) ?? '', /not saved: .*quota/i);
  await page.close();
});

test('"Don\'t keep" deletes the saved conversation and keeps nothing new', async () => {
  await send('Remember this: the keep test.', { history: 'keep' });
  await until(async () => (await savedFile())?.turns?.length > 0, 'the conversation to be saved');
  const page = await settingsPage();
  await page.selectOption('select[name=history]', 'none');
  await until(async () => (await savedFile()) === null, 'the saved conversation to be deleted');
  await page.close();
  await send('Do not remember this.', { history: 'none' });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await savedFile(), null, 'nothing written under "don\'t keep"');
  assert.ok((await watched()).turns.length >= 2, 'the conversation itself goes on in memory');
});

test('an incognito window has its own conversation: never written, never shown in normal windows, forgotten with the last incognito window', async () => {
  await send('A normal turn.', { history: 'keep' });
  await until(async () => (await savedFile())?.turns?.some((/** @type {any} */ t) => t.content === 'A normal turn.'), 'the normal turn to be saved');
  const before = JSON.stringify(await savedFile());
  await send('An incognito turn.', { history: 'keep', incognito: true });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(JSON.stringify(await savedFile()), before, 'the saved file is left as it was');
  const contents = (/** @type {any} */ state) => state.turns.map((/** @type {any} */ t) => t.content);
  assert.deepEqual(contents(await watched({ incognito: true })), ['An incognito turn.'], 'the incognito window sees only its own turn');
  assert.ok(!contents(await watched()).includes('An incognito turn.'), 'a normal window does not see it');
  await send('Another turn from a normal window.', { history: 'keep' });
  await until(async () => (await savedFile())?.turns?.some((/** @type {any} */ t) => t.content === 'Another turn from a normal window.'), 'the normal conversation to go on being saved');
  assert.ok(!JSON.stringify(await savedFile()).includes('incognito turn'), 'nothing of the incognito turn on disk');
  // The test browser has no incognito window: closing any window ends the incognito session.
  assert.equal(await browser.sw.evaluate(() => /** @type {any} */ (globalThis).locus.onWindowRemoved()), true);
  await until(async () => (await watched({ incognito: true })).turns.length === 0, 'the incognito conversation to be forgotten');
  assert.ok(contents(await watched()).includes('A normal turn.'), 'the normal conversation stays');
});

test('"Clear history" empties the conversation and deletes the file', async () => {
  const page = await settingsPage();
  await page.selectOption('select[name=history]', 'keep');
  await page.click('#clear-history');
  await page.waitForFunction(() => /cleared/i.test(document.querySelector('#settings-saved')?.textContent ?? ''), null, { timeout: 10_000 });
  assert.equal((await watched()).turns.length, 0);
  await send('After clearing.', { history: 'keep' });
  await until(async () => (await savedFile())?.turns?.length > 0, 'a cleared conversation to be saved again');
  await page.click('#clear-history');
  await until(async () => (await savedFile()) === null, 'the file to be deleted');
  await page.close();
});

test('"Keep for 7 days": older turns are gone when the conversation is read back', async () => {
  const day = 24 * 60 * 60 * 1000;
  await popup.evaluate(async (day) => {
    const data = {
      policy: 'week',
      system: '',
      context: null,
      turns: [
        { role: 'user', content: 'eight days old', at: Date.now() - 8 * day },
        { role: 'assistant', content: 'also old', at: Date.now() - 8 * day },
        { role: 'user', content: 'from yesterday', at: Date.now() - day },
      ],
    };
    const root = await navigator.storage.getDirectory();
    const writable = await (await root.getFileHandle('conversation.json', { create: true })).createWritable();
    await writable.write(JSON.stringify(data));
    await writable.close();
  }, day);
  // A new runtime worker reads the file back, as after a browser restart.
  await browser.sw.evaluate(() => chrome.offscreen.closeDocument());
  const state = await watched();
  assert.deepEqual(state.turns.map((/** @type {any} */ t) => t.content), ['from yesterday']);
  await until(async () => (await savedFile())?.turns?.length === 1, 'the file to be pruned too');
});
