// @ts-check
/**
 * Which installed model a page task runs on, by what the catalog says each
 * model is good for (its `tasks` and `languages`). A task never runs
 * silently on a model the catalog says is unfit for it (SmolLM2 135M, which
 * is English-only, asked to translate): when no installed model fits, the
 * answer is an offer of the catalog's best fitting download instead.
 *
 * Pure functions of the store's list and the catalog, so the runtime worker
 * and the Node tests share them.
 */

/**
 * @typedef {{id: string, name: string, kind?: string, url?: string, sha256?: string, bytes?: number,
 *   approxBytes?: number, license?: string, languages?: string[], tasks?: string[]}} CatalogEntry
 * @typedef {{id: string, name: string, kind?: string, url?: string, sha256?: string, status?: string}} Installed
 * @typedef {{task: string, targetLanguage?: string}} Need
 * @typedef {{reason: 'none'|'task'|'language', current?: string, englishOnly: boolean, task: string,
 *   targetLanguage?: string, model: {id: string, name: string, bytes: number, license: string}|null}} Offer
 * `current`: the installed model that does not fit; `model`: the download to offer (null: none fits).
 */

/** The tasks the fit check applies to (chat runs on whatever the user chose). */
export const CHECKED_TASKS = Object.freeze(['summarize', 'translate']);

/**
 * The catalog entry an installed model came from: the same id, file hash
 * or URL (a model installed from a local copy keeps the catalog's hash).
 * @param {Installed} model @param {CatalogEntry[]} catalog
 */
export function catalogEntryOf(model, catalog) {
  return catalog.find((entry) => entry.id === model.id || (entry.sha256 && entry.sha256 === model.sha256) || (entry.url && entry.url === model.url));
}

/** The primary subtag of a language code (`pt-BR` → `pt`). @param {string} code */
function primary(code) {
  return code.split(/[-_]/)[0].toLowerCase();
}

/**
 * Whether a catalog entry is good for `need`; an installed model the
 * catalog does not know is the user's own choice and counts as fit.
 * @param {CatalogEntry|undefined} entry @param {Need} need
 * @returns {'fit'|'task'|'language'}
 */
export function fitness(entry, need) {
  if (!entry) return 'fit';
  if (!(entry.tasks ?? []).includes(need.task)) return 'task';
  if (need.task === 'translate' && need.targetLanguage) {
    const languages = (entry.languages ?? []).map(primary);
    if (!languages.includes(primary(need.targetLanguage))) return 'language';
  }
  return 'fit';
}

/**
 * The model to run `need` on, or the offer to make instead.
 * @param {Need} need
 * @param {Installed[]} installed ready language models, in the store's order
 * @param {string|null} loaded the id of the model the runtime holds
 * @param {CatalogEntry[]} catalog the downloadable entries (pinned ones only)
 * @param {{gpu?: boolean}} [device] whether the runtime has a GPU (a larger model is offered then)
 * @returns {{run: Installed|null}|{offer: Offer}}
 */
export function chooseModel(need, installed, loaded, catalog, device = {}) {
  const fits = installed.filter((m) => fitness(catalogEntryOf(m, catalog), need) === 'fit');
  const current = fits.find((m) => m.id === loaded) ?? fits[0];
  if (current) return { run: current };
  const unfit = installed.find((m) => m.id === loaded) ?? installed[0];
  const entry = unfit ? catalogEntryOf(unfit, catalog) : undefined;
  const reason = unfit ? /** @type {'task'|'language'} */ (fitness(entry, need)) : 'none';
  const best = recommended(need, catalog, device);
  return {
    offer: {
      reason,
      current: entry?.name ?? unfit?.name,
      englishOnly: (entry?.languages ?? []).join() === 'en',
      task: need.task,
      targetLanguage: need.targetLanguage,
      model: best ? { id: best.id, name: best.name, bytes: best.bytes ?? best.approxBytes ?? 0, license: best.license ?? '' } : null,
    },
  };
}

/** The largest download offered to a device with a GPU: a 1–1.5B model at 4 bits. */
export const GPU_MAX_BYTES = 1.2e9;

/**
 * The catalog's recommended download for `need`, chosen by the device: with
 * a GPU the largest fitting model up to `GPU_MAX_BYTES` (a 1–1.5B model
 * answers in seconds there); on the CPU the entry marked `default` if it
 * fits, else the smallest fitting one (what answers in reasonable time).
 *
 * With a GPU that is Qwen2.5 1.5B for summaries, translation and chat,
 * measured against the other candidates (2026-12-08, H100, Locus `fast`,
 * `scripts/device/models.sh`): decode 348 / 498 / 330 tokens/s and a
 * 1,500-token article read in 179 / 142 / 103 ms for Qwen2.5 1.5B /
 * Llama 3.2 1B / Gemma 3 1B, so speed does not tell them apart for a
 * user; Qwen2.5 covers the most languages (13, with Russian, Arabic,
 * Chinese, Japanese), and is the one whose answers `cargo xtask eval`
 * could score here (Qwen2.5-Coder-1.5B: the most key facts, 0.53 in key
 * points, of the models tried; chrF 50.9 from English, 73.4 into it).
 * @param {Need} need @param {CatalogEntry[]} catalog @param {{gpu?: boolean}} [device]
 */
export function recommended(need, catalog, { gpu = false } = {}) {
  const fitting = catalog.filter((entry) => (entry.kind ?? 'gguf') === 'gguf' && fitness(entry, need) === 'fit');
  const size = (/** @type {CatalogEntry} */ e) => e.bytes ?? e.approxBytes ?? Infinity;
  if (gpu) {
    const large = fitting.filter((e) => size(e) <= GPU_MAX_BYTES).sort((a, b) => size(b) - size(a));
    if (large.length) return large[0];
  }
  return fitting.find((e) => /** @type {any} */ (e).default) ?? fitting.sort((a, b) => size(a) - size(b))[0] ?? null;
}
