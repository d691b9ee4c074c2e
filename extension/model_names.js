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
