// @ts-check
/**
 * Drives the system Chromium with the real unpacked extension (the repo root)
 * through Playwright: launch, local pages, and reading the on-page panel.
 */

import { createServer } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PAGES = path.join(REPO_ROOT, 'tests/pages');
const CHROMIUM = process.env.LOCUS_CHROMIUM ?? '/usr/bin/chromium';

/**
 * @typedef {{
 *   context: import('playwright-core').BrowserContext,
 *   sw: import('playwright-core').Worker,
 *   extensionId: string,
 *   baseUrl: string,
 *   close: () => Promise<void>,
 * }} Browser
 */

/**
 * Starts Chromium with the unpacked extension and a local page server.
 * `backend`: the Settings tab's "Run models on" before the runtime starts
 * (`auto` by default, which passes SwiftShader over for the CPU: tests of
 * the WebGPU path ask for `webgpu`).
 * @param {{webgpu?: boolean, backend?: 'auto'|'webgpu'|'cpu', extraExtensions?: string[], args?: string[]}} [options] `args`: more Chromium flags
 * @returns {Promise<Browser>}
 */
export async function launch({ webgpu = true, backend = 'auto', extraExtensions = [], args: extraArgs = [] } = {}) {
  const profile = await mkdtemp(path.join(tmpdir(), 'locus-profile-'));
  const extensions = [REPO_ROOT, ...extraExtensions].join(',');
  const args = [
    `--disable-extensions-except=${extensions}`,
    `--load-extension=${extensions}`,
    '--no-first-run',
    '--disable-quic',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    ...extraArgs,
  ];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1100, height: 800 },
    // Crash reports and Chromium's config stay in the temp profile.
    env: { ...process.env, XDG_CONFIG_HOME: profile, XDG_CACHE_HOME: profile },
  });
  const sw = await serviceWorkerOf(context, REPO_ROOT);
  const extensionId = new URL(sw.url()).host;
  if (backend !== 'auto') await chooseBackend(context, extensionId, backend);
  const server = await serve(PAGES);
  return {
    context,
    sw,
    extensionId,
    baseUrl: server.url,
    close: async () => {
      await context.close();
      await server.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Sets "Run models on" as the Settings tab does (OPFS, shared by the
 * extension's contexts) and restarts a runtime that is already running.
 * (From an extension page: a service worker may not `import()`.)
 * @param {import('playwright-core').BrowserContext} context @param {string} extensionId
 * @param {'auto'|'webgpu'|'cpu'} backend
 */
export async function chooseBackend(context, extensionId, backend) {
  const page = await context.newPage();
  try {
    await page.goto(`chrome-extension://${extensionId}/popup/bench.html`);
    await page.evaluate(async (backend) => {
      const { RESTART_RUNTIME, writeBackendPreference } = await import('/extension/backend_preference.js');
      await writeBackendPreference(backend);
      await chrome.runtime.sendMessage({ type: RESTART_RUNTIME }).catch(() => {});
    }, backend);
  } finally {
    await page.close();
  }
}

/**
 * The service worker of the extension loaded from `root` (our own by default).
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} root
 */
export async function serviceWorkerOf(context, root) {
  const manifest = JSON.parse(await readFile(path.join(root, 'manifest.json'), 'utf8'));
  const script = manifest.background.service_worker;
  const matches = (/** @type {import('playwright-core').Worker} */ w) => w.url().endsWith('/' + script);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const found = context.serviceWorkers().find(matches);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no service worker ${script} started`);
    await context.waitForEvent('serviceworker', { timeout: 5_000 }).catch(() => {});
  }
}

/** Serves a folder on 127.0.0.1 on a free port. @param {string} root */
async function serve(root) {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const file = path.join(root, path.normalize(url.pathname).replace(/^([/\\])+/, ''));
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[/** @type {keyof types} */ (path.extname(file))] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}

/**
 * Opens a test page and waits until our content script is in it.
 * @param {Browser} browser
 * @param {string} name file under tests/pages
 */
export async function openPage(browser, name) {
  const page = await browser.context.newPage();
  await page.goto(`${browser.baseUrl}/${name}`);
  await page.waitForLoadState('load');
  // Locus has no `tabs` permission, so tabs cannot be found by URL: bring the
  // page to the front and take the active tab, as a user's click would.
  await page.bringToFront();
  const tabId = await browser.sw.evaluate(async () => (await chrome.tabs.query({ active: true, lastFocusedWindow: true }))[0]?.id);
  if (typeof tabId !== 'number') throw new Error(`no active tab for ${page.url()}`);
  return { page, tabId };
}

/**
 * Selects the text of the first element matching `selector`.
 * @param {import('playwright-core').Page} page
 * @param {string} selector
 */
export async function selectText(page, selector) {
  return page.evaluate((sel) => {
    const node = document.querySelector(sel);
    if (!node) throw new Error(`nothing matches ${sel}`);
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = /** @type {Selection} */ (window.getSelection());
    selection.removeAllRanges();
    selection.addRange(range);
    return selection.toString();
  }, selector);
}

/**
 * Calls a service-worker handler (the ones the menus and shortcuts call),
 * retrying while the page's content script is still starting.
 * @param {Browser} browser
 * @param {(args: any) => Promise<boolean>} handler runs in the service worker
 * @param {any} args
 */
export async function invoke(browser, handler, args) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await browser.sw.evaluate(handler, args)) return;
    if (Date.now() > deadline) throw new Error('the page never took the action (no content script?)');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * @typedef {{shadowMode: string, title: string, status: string, output: string, footer: string,
 *   state: string, events: Record<string, number>, result: any, progress: any[], tags: string[],
 *   links: (string|null)[], actions: string[]}} PanelState
 */

/**
 * Reads the on-page panel through the DevTools protocol, which can see into
 * its closed shadow root (the page itself cannot). Null when there is none.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<PanelState|null>}
 */
export async function readPanel(page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { root } = await cdp.send('DOM.getDocument', { depth: -1, pierce: true });
    const host = findNode(root, (n) => n.localName === 'locus-panel');
    const shadow = host?.shadowRoots?.[0];
    if (!shadow) return null;
    const { object } = await cdp.send('DOM.resolveNode', { backendNodeId: shadow.backendNodeId });
    const { result } = await cdp.send('Runtime.callFunctionOn', {
      objectId: object.objectId,
      returnByValue: true,
      functionDeclaration: `function () {
        const text = (s) => this.querySelector(s)?.textContent ?? '';
        const panel = this.querySelector('.panel');
        const output = this.querySelector('.output');
        return { title: text('.title'), status: text('.status'), output: text('.output'), footer: text('footer'),
                 state: panel?.dataset.state ?? 'running', events: JSON.parse(panel?.dataset.events ?? '{}'),
                 result: JSON.parse(panel?.dataset.result ?? 'null'), progress: JSON.parse(panel?.dataset.progress ?? '[]'),
                 tags: [...(output?.querySelectorAll('*') ?? [])].map((e) => e.localName),
                 links: [...this.querySelectorAll('a')].map((a) => a.getAttribute('href')),
                 actions: [...this.querySelectorAll('.actions button')].map((b) => b.textContent) };
      }`,
    });
    return { shadowMode: shadow.shadowRootType ?? '', ...result.value };
  } finally {
    await cdp.detach();
  }
}

/**
 * @param {any} node
 * @param {(n: any) => boolean} test
 * @returns {any}
 */
function findNode(node, test) {
  if (test(node)) return node;
  for (const child of [...(node.children ?? []), ...(node.shadowRoots ?? []), ...(node.contentDocument ? [node.contentDocument] : [])]) {
    const found = findNode(child, test);
    if (found) return found;
  }
  return null;
}

/**
 * Waits until the panel has finished (done or error) and returns it.
 * @param {import('playwright-core').Page} page
 * @param {number} [timeoutMs]
 */
export async function waitForPanelEnd(page, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const panel = await readPanel(page);
    if (panel && panel.state !== 'running') return panel;
    if (Date.now() > deadline) throw new Error(`the panel did not finish: ${JSON.stringify(panel)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/**
 * Opens one of our extension pages in a tab (e.g. the popup).
 * @param {Browser} browser
 * @param {string} pagePath
 */
export async function openExtensionPage(browser, pagePath) {
  const page = await browser.context.newPage();
  await page.goto(`chrome-extension://${browser.extensionId}/${pagePath}`);
  return page;
}

/**
 * Sends one request from an extension page over a real client port and
 * collects its events until the final one.
 * @param {import('playwright-core').Page} extensionPage
 * @param {any} message sent as is, so tests can send malformed ones
 * @param {number} [timeoutMs] after which a `{event:'timeout'}` ends the list
 * @param {{quiet?: boolean}} [options] `quiet`: the time counts from the
 *   last event, not from the start (a long run that keeps reporting
 *   progress is not cut off; a silent one is)
 * @returns {Promise<any[]>}
 */
export function sendRaw(extensionPage, message, timeoutMs = 30_000, { quiet = false } = {}) {
  return extensionPage.evaluate(
    ({ msg, timeoutMs, quiet }) =>
      new Promise((resolve) => {
        const port = chrome.runtime.connect({ name: 'locus.client' });
        /** @type {any[]} */
        const events = [];
        const expire = () => resolve([...events, { event: 'timeout' }]);
        let timer = setTimeout(expire, timeoutMs);
        port.onMessage.addListener((event) => {
          events.push({ ...event, at: Date.now() });
          if (quiet) {
            clearTimeout(timer);
            timer = setTimeout(expire, timeoutMs);
          }
          if (event.event === 'done' || event.event === 'error') {
            clearTimeout(timer);
            port.disconnect();
            resolve(events);
          }
        });
        port.postMessage(msg);
      }),
    { msg: message, timeoutMs, quiet },
  );
}

/**
 * Starts one request from an extension page on a port of its own and
 * returns at once; its events (each with `at`, the page's Date.now() when it
 * came) collect in the page: read them with `eventsSoFar`, wait with
 * `waitForEvents`, abort with `abortRaw`.
 * @param {import('playwright-core').Page} extensionPage
 * @param {any} message
 */
export function startRaw(extensionPage, message) {
  return extensionPage.evaluate((msg) => {
    const w = /** @type {any} */ (window);
    w.locusRaw ??= {};
    const events = /** @type {any[]} */ ([]);
    const port = chrome.runtime.connect({ name: 'locus.client' });
    w.locusRaw[msg.id] = { events, port };
    port.onMessage.addListener((event) => {
      if (event.id !== msg.id) return;
      events.push({ ...event, at: Date.now() });
      if (event.event === 'done' || event.event === 'error') port.disconnect();
    });
    port.postMessage(msg);
    return Date.now();
  }, message);
}

/** The events of a request started with `startRaw`, so far. @param {import('playwright-core').Page} extensionPage @param {string} id */
export function eventsSoFar(extensionPage, id) {
  return extensionPage.evaluate((id) => /** @type {any[]} */ (/** @type {any} */ (window).locusRaw[id].events), id);
}

/**
 * Waits until `test` holds for the events of `id` (polled every 50 ms).
 * @param {import('playwright-core').Page} extensionPage @param {string} id
 * @param {(events: any[]) => boolean} test @param {number} timeoutMs
 * @returns {Promise<any[]>}
 */
export async function waitForEvents(extensionPage, id, test, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await eventsSoFar(extensionPage, id);
    if (test(events)) return events;
    if (Date.now() > deadline) throw new Error(`${id}: not there after ${timeoutMs} ms: ${JSON.stringify(events).slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends `abort` for a request started with `startRaw`, on its port; returns the page's time. @param {import('playwright-core').Page} extensionPage @param {string} id */
export function abortRaw(extensionPage, id) {
  return extensionPage.evaluate((id) => {
    /** @type {any} */ (window).locusRaw[id].port.postMessage({ type: 'abort', id });
    return Date.now();
  }, id);
}

/** Whether an event list has ended. @param {any[]} events */
export const hasEnded = (events) => events.some((e) => e.event === 'done' || e.event === 'error');
