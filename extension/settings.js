// @ts-check
/**
 * User settings, with defaults. Shared by the popup and the service worker.
 * Small choices live in chrome.storage.sync (they follow the user's Chrome
 * profile); the chat system prompt lives in chrome.storage.local: it can be
 * longer than sync's 8 KB per item, and a failed write there would make every
 * settings save fail. Writes reject with the storage's own error.
 */

/**
 * @typedef {{
 *   summaryType: 'key-points'|'tldr'|'teaser'|'headline',
 *   summaryLength: 'short'|'medium'|'long',
 *   summaryFormat: 'markdown'|'plain-text',
 *   targetLanguages: string[],
 *   defaultModels: {summarize?: string, translate?: string, chat?: string},
 *   systemPrompt: string,
 *   history: 'keep'|'week'|'none',
 * }} Settings
 * `targetLanguages[0]` is the default target (the translate shortcut's);
 * `defaultModels` names a model id in the store per task (none: the first
 * installed model); `history` is what of the chat is kept on disk (see
 * `extension/runtime/history.js`).
 */

/** Tasks that can each have their own default model (model ids in the store). */
export const MODEL_TASKS = Object.freeze(['summarize', 'translate', 'chat']);

export const SUMMARY_TYPES = Object.freeze(['key-points', 'tldr', 'teaser', 'headline']);
export const SUMMARY_LENGTHS = Object.freeze(['short', 'medium', 'long']);
export const SUMMARY_FORMATS = Object.freeze(['markdown', 'plain-text']);

/** The browser's UI language as a bare code (`en-GB` → `en`). */
export function uiLanguage() {
  return (chrome.i18n.getUILanguage() || 'en').split('-')[0].toLowerCase();
}

/** @returns {Settings} */
export function defaultSettings() {
  const first = uiLanguage();
  const others = ['en', 'es', 'fr', 'de', 'zh', 'ja'].filter((code) => code !== first);
  return {
    summaryType: 'key-points',
    summaryLength: 'medium',
    summaryFormat: 'markdown',
    targetLanguages: [first, ...others].slice(0, 6),
    defaultModels: {},
    systemPrompt: '',
    history: 'keep',
  };
}

/** Settings kept in chrome.storage.local rather than sync. */
const LOCAL_KEYS = Object.freeze(['systemPrompt']);

/** @returns {Promise<Settings>} */
export async function loadSettings() {
  const [synced, local] = await Promise.all([chrome.storage.sync.get('settings'), chrome.storage.local.get('settings')]);
  // An older version kept the system prompt in sync: the local copy wins.
  return { ...defaultSettings(), ...(synced.settings ?? {}), ...(local.settings ?? {}) };
}

/**
 * Saves changes; rejects with the storage's error (e.g. a quota) so the
 * caller can show it.
 * @param {Partial<Settings>} changes
 */
export async function saveSettings(changes) {
  const settings = { ...(await loadSettings()), ...changes };
  /** @type {Record<string, unknown>} */
  const local = {};
  /** @type {Record<string, unknown>} */
  const synced = {};
  for (const [key, value] of Object.entries(settings)) (LOCAL_KEYS.includes(key) ? local : synced)[key] = value;
  await chrome.storage.local.set({ settings: local });
  await chrome.storage.sync.set({ settings: synced });
  return settings;
}

/**
 * A language's name in the UI language, e.g. `de` → `German`.
 * @param {string} code
 */
export function languageName(code) {
  try {
    return new Intl.DisplayNames([chrome.i18n.getUILanguage()], { type: 'language' }).of(code) ?? code;
  } catch {
    return code;
  }
}

/**
 * A request with the user's default model for its task filled in, when the
 * request names none (the runtime worker cannot read chrome.storage).
 * @template {{kind: string, payload: any}} R
 * @param {R} request
 * @returns {Promise<R>}
 */
export async function withDefaultModel(request) {
  const task = request.kind === 'chat.send' ? 'chat' : request.kind;
  if (!MODEL_TASKS.includes(task) || request.payload?.model) return request;
  const model = (await loadSettings()).defaultModels?.[/** @type {'chat'} */ (task)];
  return model ? { ...request, payload: { ...request.payload, model } } : request;
}
