// @ts-check
/** Sizes, speeds and durations for the popup, in the UI language. */

export const t = (/** @type {string} */ key, /** @type {(string|number)[]} */ ...subs) =>
  chrome.i18n.getMessage(key, subs.map(String)) || key;

const number = (/** @type {number} */ value, /** @type {number} */ digits) =>
  new Intl.NumberFormat(chrome.i18n.getUILanguage(), { maximumFractionDigits: digits }).format(value);

/** `98.4 MB`, `1.2 GB` (decimal units, as disks and downloads are sold). @param {number} bytes */
export function bytes(bytes) {
  if (bytes >= 1e9) return t('unitGB', number(bytes / 1e9, 2));
  if (bytes >= 1e6) return t('unitMB', number(bytes / 1e6, 1));
  return t('unitKB', number(Math.max(0, bytes) / 1e3, 0));
}

/** @param {number} bytesPerSecond */
export function speed(bytesPerSecond) {
  return t('unitPerSecond', bytes(bytesPerSecond));
}

/** `45 s`, `3 min`, `1 h 5 min`. @param {number} seconds */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return '…';
  if (seconds < 90) return t('unitSeconds', Math.max(1, Math.round(seconds)));
  if (seconds < 5400) return t('unitMinutes', Math.round(seconds / 60));
  return t('unitHours', Math.floor(seconds / 3600), Math.round((seconds % 3600) / 60));
}

/** `42%`. @param {number} done @param {number} total */
export function percent(done, total) {
  return new Intl.NumberFormat(chrome.i18n.getUILanguage(), { style: 'percent', maximumFractionDigits: 0 }).format(total ? done / total : 0);
}

/**
 * Download speed from successive progress samples, smoothed so the time left
 * does not jump around.
 */
export class Rate {
  /** @type {{at:number, bytes:number}|null} */
  #last = null;
  #rate = 0;

  /** @param {number} bytesDone @returns {number} bytes per second */
  push(bytesDone) {
    const now = performance.now();
    if (this.#last && now > this.#last.at && bytesDone >= this.#last.bytes) {
      const sample = ((bytesDone - this.#last.bytes) * 1000) / (now - this.#last.at);
      this.#rate = this.#rate ? 0.7 * this.#rate + 0.3 * sample : sample;
    }
    if (!this.#last || bytesDone < this.#last.bytes || now - this.#last.at > 150) this.#last = { at: now, bytes: bytesDone };
    return this.#rate;
  }
}

/** Creates an element with a class and text (never HTML). */
export function el(/** @type {string} */ tag, /** @type {string} */ className = '', /** @type {string} */ text = '') {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}
