// @ts-check
/** Model ids and kinds from URLs and file names; shared by the popup and the store. */

/** A model's kind from its URL or file name: `.ftz` is fastText, the rest GGUF. @param {string} name */
export function kindOf(name) {
  return /\.ftz$/i.test(name.split(/[?#]/)[0]) ? 'fasttext' : 'gguf';
}

/** A model id made from a URL or file name (`Foo Bar.Q4.gguf` → `foo-bar.q4`). @param {string} name */
export function idFrom(name) {
  const base = name.split(/[?#]/)[0].split('/').pop() ?? 'model';
  const id = base
    .replace(/\.(gguf|ftz|bin)$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-.]+|-+$/g, '')
    .slice(0, 100);
  return id || 'model';
}

/**
 * A URL typed by the user, checked: an http(s) URL and the file name it
 * names (percent-decoding that fails keeps the raw name). Throws an Error
 * whose message says what is wrong.
 * @param {string} text
 * @returns {{url: string, fileName: string}}
 */
export function parseModelUrl(text) {
  let url;
  try {
    url = new URL(text.trim());
  } catch {
    throw new Error('not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('only http and https URLs can be downloaded');
  const raw = url.pathname.split('/').pop() ?? '';
  let fileName = raw;
  try {
    fileName = decodeURIComponent(raw);
  } catch {
    /* a stray % in the name: keep it as written */
  }
  if (!fileName) throw new Error('the URL names no file');
  return { url: url.href, fileName };
}

/**
 * An id for a model from `url` that no other source uses: the file's id, or
 * the same with `-2`, `-3`… when a model from another URL already has it.
 * The same URL keeps its id (a resume, or a second click).
 * @param {string} url
 * @param {{id: string, url?: string}[]} models installed (and catalog) models
 */
export function uniqueId(url, models) {
  const base = idFrom(url);
  const taken = new Map(models.map((m) => [m.id, m.url]));
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base.slice(0, 96)}-${n}`;
    if (!taken.has(id) || taken.get(id) === url) return id;
  }
}
