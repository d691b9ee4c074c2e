// @ts-check
/**
 * Shared by the polish_* tests: reading inside the panel's closed shadow
 * root, computing text contrast from rendered styles, and screenshots.
 */

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './harness.js';

export const SCREENSHOTS = path.join(REPO_ROOT, 'out/screenshots');

/**
 * Runs `fn` in the page with `this` bound to the panel's shadow root (the
 * DevTools protocol sees into closed roots; the page cannot). Null when there
 * is no panel in this page's top document.
 * @param {import('playwright-core').Page} page
 * @param {string} fn a function's source; it gets `this` = the shadow root
 * @param {import('playwright-core').Frame} [frame] the frame whose document holds the panel (default: the top one)
 */
export async function inPanel(page, fn, frame) {
  const inFrame = frame && frame !== page.mainFrame();
  // A cross-origin frame runs in a process (and a DevTools target) of its own.
  const own = inFrame ? await page.context().newCDPSession(frame).catch(() => null) : null;
  const cdp = own ?? (await page.context().newCDPSession(page));
  try {
    const { root } = await cdp.send('DOM.getDocument', { depth: -1, pierce: true });
    const doc = inFrame && !own ? findNode(root, (n) => n.nodeName === '#document' && n.documentURL === frame.url(), true) : root;
    // Only in that document, not in its frames': which frame draws the panel matters.
    const host = doc && findNode(doc, (n) => n.localName === 'locus-panel', false);
    const shadow = host?.shadowRoots?.[0];
    if (!shadow) return null;
    const { object } = await cdp.send('DOM.resolveNode', { backendNodeId: shadow.backendNodeId });
    const { result, exceptionDetails } = await cdp.send('Runtime.callFunctionOn', {
      objectId: object.objectId,
      returnByValue: true,
      awaitPromise: true,
      functionDeclaration: `function () { return (${fn}).call(this); }`,
    });
    if (exceptionDetails) throw new Error(JSON.stringify(exceptionDetails).slice(0, 800));
    return result.value;
  } finally {
    await cdp.detach();
  }
}

/** The panel's state (as `readPanel` gives it) in one document (`this`: its shadow root). */
export const PANEL_STATE = `function () {
  const panel = this.querySelector('.panel');
  return { title: this.querySelector('.title')?.textContent ?? '', status: this.querySelector('.status')?.textContent ?? '',
           state: panel?.dataset.state ?? 'running', result: JSON.parse(panel?.dataset.result ?? 'null'),
           top: panel.getBoundingClientRect().top, left: panel.getBoundingClientRect().left };
}`;

/**
 * @param {any} node @param {(n: any) => boolean} test
 * @param {boolean} intoFrames whether to look inside iframes' documents
 * @returns {any}
 */
function findNode(node, test, intoFrames) {
  if (test(node)) return node;
  const frames = intoFrames && node.contentDocument ? [node.contentDocument] : [];
  for (const child of [...(node.children ?? []), ...(node.shadowRoots ?? []), ...frames]) {
    const found = findNode(child, test, intoFrames);
    if (found) return found;
  }
  return null;
}

/** Where the panel is and what it scrolls (`this`: its shadow root). */
export const PANEL_GEOMETRY = `function () {
  const panel = this.querySelector('.panel');
  const output = this.querySelector('.output');
  const r = panel.getBoundingClientRect();
  return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height,
           viewport: { width: innerWidth, height: innerHeight },
           output: { scrollHeight: output.scrollHeight, clientHeight: output.clientHeight, overflowY: getComputedStyle(output).overflowY } };
}`;

/** What has the keyboard focus inside the panel, described (`this`: its shadow root). */
export const PANEL_FOCUS = `function () {
  const a = this.activeElement;
  if (!a) return document.activeElement?.localName === 'locus-panel' ? 'host' : 'outside:' + (document.activeElement?.id || document.activeElement?.localName);
  return a.className || a.localName;
}`;

/**
 * Text whose contrast with its effective background is under WCAG AA (4.5:1,
 * 3:1 for large text), computed from rendered styles: every visible text
 * node, its element's colour (with the opacity of it and its ancestors), and
 * the backgrounds behind it composited up the tree (through shadow roots);
 * and the placeholders of empty fields.
 * Disabled controls are exempt, as in WCAG. Runs in the browser.
 * @param {Document|ShadowRoot} root
 * @returns {{checked: number, failures: {text: string, where: string, ratio: number, need: number, fg: string, bg: string}[]}}
 */
export function contrastIssues(root) {
  /** @param {string} c @returns {number[]|null} */
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\s,/]+/).filter(Boolean).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  /** @param {number[]} top @param {number[]} bottom */
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat(1);
  /** @param {number[]} c */
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  /** @param {Element} e @returns {Element|null} */
  const parentOf = (e) => e.parentElement ?? (e.parentNode instanceof ShadowRoot ? e.parentNode.host : null);
  /** @param {Element} e */
  const backgroundOf = (e) => {
    const layers = [];
    for (let n = /** @type {Element|null} */ (e); n; n = parentOf(n)) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    return layers.reverse().reduce((bottom, layer) => over(layer, bottom), [255, 255, 255, 1]);
  };
  /** @param {Element} e */
  const opacityOf = (e) => {
    let o = 1;
    for (let n = /** @type {Element|null} */ (e); n; n = parentOf(n)) o *= parseFloat(getComputedStyle(n).opacity);
    return o;
  };
  const hex = (/** @type {number[]} */ c) => '#' + c.slice(0, 3).map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
  const failures = [];
  let checked = 0;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!element || !node.textContent?.trim()) continue;
    if (element.closest('option, script, style, [hidden], :disabled')) continue;
    if (!element.checkVisibility({ visibilityProperty: true })) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const box = range.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;
    const style = getComputedStyle(element);
    const fg = parse(style.color);
    if (!fg) continue;
    fg[3] *= opacityOf(element);
    const bg = backgroundOf(element);
    const shown = over(fg, bg);
    const [a, b] = [luminance(shown), luminance(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    checked += 1;
    if (ratio < need) {
      const where = element.localName + (element.className ? '.' + String(element.className).split(' ').join('.') : '');
      failures.push({ text: node.textContent.trim().slice(0, 50), where, ratio: Math.round(ratio * 100) / 100, need, fg: hex(shown), bg: hex(bg) });
    }
  }
  // Placeholders of empty fields are text too.
  for (const field of root.querySelectorAll('input[placeholder], textarea[placeholder]')) {
    const input = /** @type {HTMLInputElement} */ (field);
    if (input.value || !input.placeholder || !input.checkVisibility({ visibilityProperty: true })) continue;
    const fg = parse(getComputedStyle(input, '::placeholder').color);
    if (!fg) continue;
    fg[3] *= opacityOf(input);
    const bg = backgroundOf(input);
    const shown = over(fg, bg);
    const [a, b] = [luminance(shown), luminance(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    checked += 1;
    if (ratio < 4.5) failures.push({ text: input.placeholder.slice(0, 50), where: `${input.localName}::placeholder`, ratio: Math.round(ratio * 100) / 100, need: 4.5, fg: hex(shown), bg: hex(bg) });
  }
  return { checked, failures };
}

/**
 * Saves a screenshot under out/screenshots and returns its path.
 * @param {import('playwright-core').Page} page @param {string} name
 * @param {{fullPage?: boolean, clip?: {x: number, y: number, width: number, height: number}}} [options]
 */
export async function screenshot(page, name, options = {}) {
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, ...options });
  return file;
}

/** Polls until `check` returns a truthy value, which it returns. @template T @param {() => Promise<T>} check @param {number} ms @param {string} what */
export async function until(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
