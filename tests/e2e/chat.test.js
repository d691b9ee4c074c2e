// @ts-check
/**
 * The popup's chat with the real SmolLM2 (CPU backend): replies stream into
 * the popup, turn 2 reuses turn 1's KV cache (time to first token against a
 * fresh prompt of the same length is printed), Stop stops mid-reply, and the
 * conversation, kept in the offscreen runtime, survives closing the popup
 * while a reply is still being written.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openExtensionPage, openPage, sendRaw } from './harness.js';
import { serveModels } from './model_server.js';

const MODEL = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
const SYSTEM = 'You are a helpful assistant. Answer in one short sentence.';

/** @type {import('./harness.js').Browser} */
let browser;
/** @type {Awaited<ReturnType<typeof serveModels>>} */
let server;
/** @type {import('playwright-core').Page} */
let popup;

before(async () => {
  [browser, server] = await Promise.all([launch({ webgpu: false }), serveModels()]);
  popup = await openExtensionPage(browser, 'popup/popup.html');
  const done = (
    await sendRaw(popup, { type: 'request', id: 'dl', kind: 'models.download', payload: { id: 'smollm2', url: server.url(MODEL), sha256: SHA256 } }, 120_000)
  ).at(-1);
  assert.equal(done.event, 'done', JSON.stringify(done));
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** The conversation as the worker holds it (one `chat.watch` snapshot). @param {import('playwright-core').Page} page */
function conversation(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const port = chrome.runtime.connect({ name: 'locus.client' });
        port.onMessage.addListener((event) => {
          if (event.event !== 'progress' || !event.state) return;
          port.disconnect();
          resolve(event.state);
        });
        port.postMessage({ type: 'request', id: `watch-${Math.random()}`, kind: 'chat.watch', payload: {} });
      }),
  );
}

/** Types a message and sends it with Enter. @param {import('playwright-core').Page} page @param {string} text */
async function say(page, text) {
  await page.fill('#chat-input', text);
  await page.press('#chat-input', 'Enter');
  await page.waitForSelector('#messages li.streaming');
}

/** Waits until no reply is being written. @param {import('playwright-core').Page} page */
async function replyDone(page, timeout = 180_000) {
  await page.waitForSelector('#messages li.streaming', { state: 'detached', timeout });
}

/** Records the streaming reply's length at every change (to see it grow). @param {import('playwright-core').Page} page */
function recordStreaming(page) {
  return page.evaluate(() => {
    const lengths = /** @type {number[]} */ ([]);
    Object.assign(window, { streamLengths: lengths });
    new MutationObserver(() => {
      const text = document.querySelector('#messages li.streaming .text')?.textContent;
      if (text !== undefined && text !== null) lengths.push(text.length);
    }).observe(document.getElementById('messages') ?? document.body, { subtree: true, childList: true, characterData: true });
  });
}

test('two turns stream into the popup, and turn 2 reuses the KV cache', async () => {
  // The system prompt comes from Settings.
  await popup.click('#tab-settings');
  await popup.fill('textarea[name=systemPrompt]', SYSTEM);
  await popup.dispatchEvent('#settings-form', 'change');
  await popup.waitForFunction(async (s) => (await chrome.storage.local.get('settings')).settings?.systemPrompt === s, SYSTEM);
  await popup.click('#tab-chat');

  await recordStreaming(popup);
  await say(popup, 'What is the capital of France?');
  await replyDone(popup);
  const lengths = await popup.evaluate(() => /** @type {any} */ (window).streamLengths);
  assert.ok(new Set(lengths).size >= 3, `the reply grew in steps: ${lengths}`);
  await say(popup, 'And what is the capital of Germany?');
  await replyDone(popup);

  const state = /** @type {any} */ (await conversation(popup));
  const replies = state.turns.filter((/** @type {any} */ t) => t.role === 'assistant');
  assert.equal(replies.length, 2);
  assert.ok(replies.every((/** @type {any} */ r) => r.content.trim().length > 0));
  assert.equal(await popup.locator('#messages li.assistant').count(), 2);
  assert.equal(await popup.locator('#messages li.assistant .text').first().textContent(), replies[0].content);
  const [one, two] = replies.map((/** @type {any} */ r) => r.stats);
  assert.equal(one.reusedTokens, 0);
  assert.ok(two.reusedTokens >= one.contextTokens, `turn 2 kept turn 1's ${one.contextTokens} prompt tokens: ${JSON.stringify(two)}`);
  assert.equal(two.promptTokens, two.contextTokens - two.reusedTokens);

  // The same conversation as one fresh prompt (empty cache), same total length.
  const messages = [{ role: 'system', content: SYSTEM }, ...state.turns.slice(0, 3).map(({ role, content }) => ({ role, content }))];
  const fresh = (await sendRaw(popup, { type: 'request', id: 'fresh', kind: 'chat', payload: { messages, fresh: true, maxTokens: 1 } }, 120_000)).at(-1);
  assert.equal(fresh.event, 'done', JSON.stringify(fresh));
  assert.equal(fresh.result.contextTokens, two.contextTokens, 'same total length');
  assert.equal(fresh.result.reusedTokens, 0);
  console.log(
    `time to first token, turn 2: ${two.firstTokenMs.toFixed(0)} ms for ${two.promptTokens} new tokens (${two.reusedTokens} reused); ` +
      `fresh prompt of the same ${fresh.result.contextTokens} tokens: ${fresh.result.firstTokenMs.toFixed(0)} ms ` +
      `(${(fresh.result.firstTokenMs / two.firstTokenMs).toFixed(1)}x); turn 1: ${one.firstTokenMs.toFixed(0)} ms for ${one.contextTokens} tokens; ` +
      `${two.tokensPerSecond.toFixed(1)} tokens/s`,
  );
  assert.ok(two.firstTokenMs < fresh.result.firstTokenMs, 'reusing the cache is faster than reading it all again');
});

test('Stop ends a reply mid-way and keeps what was written', async () => {
  await say(popup, 'Write a long story about a dragon who learns to bake bread. Use many paragraphs.');
  await popup.waitForFunction(() => (document.querySelector('#messages li.streaming .text')?.textContent ?? '').length > 20);
  await popup.click('#chat-stop');
  await replyDone(popup, 30_000);
  const last = popup.locator('#messages li.assistant').last();
  assert.equal(await last.locator('.tag').textContent(), 'Stopped');
  const state = /** @type {any} */ (await conversation(popup));
  const reply = state.turns.at(-1);
  assert.equal(reply.stopped, true);
  assert.ok(reply.content.length > 20);
  assert.ok(await popup.isVisible('#chat-send'));
});

test('the conversation survives closing the popup, and the reply goes on without it', async () => {
  await say(popup, 'Name three colours.');
  await popup.close();
  const reopened = await openExtensionPage(browser, 'popup/popup.html');
  await reopened.waitForSelector('#messages li.user');
  const users = await reopened.locator('#messages li.user .text').allTextContents();
  assert.deepEqual(users.slice(-2), ['Write a long story about a dragon who learns to bake bread. Use many paragraphs.', 'Name three colours.']);
  assert.equal(users.length, 4);
  await replyDone(reopened);
  const state = /** @type {any} */ (await conversation(reopened));
  assert.ok(state.turns.at(-1).stats, 'the reply finished while the popup was closed');
  assert.equal(await reopened.locator('#messages li.assistant .stats').last().isVisible(), true);

  await reopened.click('#chat-clear');
  await reopened.waitForSelector('#messages li', { state: 'detached' });
  assert.equal((/** @type {any} */ (await conversation(reopened))).turns.length, 0);
  popup = reopened;
});

test('"use this page": the page script returns the main text, and the chat keeps it as context', async () => {
  const { page, tabId } = await openPage(browser, 'article.html');
  const answer = await popup.evaluate((id) => chrome.tabs.sendMessage(id, { type: 'locus.pageText' }), tabId);
  assert.equal(answer.ok, true);
  const expected = await page.evaluate(() => (document.querySelector('article') ?? document.body).innerText.trim().slice(0, 40));
  assert.ok(answer.text.startsWith(expected), answer.text.slice(0, 80));
  // What the Chat tab sends after reading it: trimmed to fit, with the size noted.
  const context = { title: answer.title, text: answer.text.slice(0, 500), trimmed: answer.text.length > 500, total: answer.text.length };
  const sent = (await sendRaw(popup, { type: 'request', id: 'ctx', kind: 'chat.send', payload: { text: 'In three words, what is this page about?', context } })).at(-1);
  assert.equal(sent.event, 'done', JSON.stringify(sent));
  await popup.waitForSelector('#chat-note:not([hidden])');
  assert.match((await popup.textContent('#chat-note')) ?? '', /as context/);
  await replyDone(popup);
  const state = /** @type {any} */ (await conversation(popup));
  assert.equal(state.context.chars, 500);
  assert.equal(state.context.trimmed, answer.text.length > 500);
  assert.ok(state.turns.at(-1).stats.contextTokens > 100, 'the page text is in the prompt');
  await page.close();
});
