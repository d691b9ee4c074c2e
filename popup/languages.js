// @ts-check
/**
 * Target languages the user may type in Settings: the languages the
 * runtime names in its translation prompts (`src/tasks/languages.rs`, which
 * a test keeps this list equal to), by code (`de`, `pt-BR`), by English name
 * (`German`) or by name in the browser's language (`Deutsch`).
 */

/** `[code, English name]`, as in the runtime's table. */
export const LANGUAGES = Object.freeze([
  ['ar', 'Arabic'],
  ['bg', 'Bulgarian'],
  ['bn', 'Bengali'],
  ['ca', 'Catalan'],
  ['cs', 'Czech'],
  ['da', 'Danish'],
  ['de', 'German'],
  ['el', 'Greek'],
  ['en', 'English'],
  ['es', 'Spanish'],
  ['et', 'Estonian'],
  ['fa', 'Persian'],
  ['fi', 'Finnish'],
  ['fr', 'French'],
  ['he', 'Hebrew'],
  ['hi', 'Hindi'],
  ['hr', 'Croatian'],
  ['hu', 'Hungarian'],
  ['id', 'Indonesian'],
  ['it', 'Italian'],
  ['ja', 'Japanese'],
  ['ko', 'Korean'],
  ['lt', 'Lithuanian'],
  ['lv', 'Latvian'],
  ['ms', 'Malay'],
  ['nl', 'Dutch'],
  ['no', 'Norwegian'],
  ['pl', 'Polish'],
  ['pt', 'Portuguese'],
  ['ro', 'Romanian'],
  ['ru', 'Russian'],
  ['sk', 'Slovak'],
  ['sl', 'Slovenian'],
  ['sr', 'Serbian'],
  ['sv', 'Swedish'],
  ['sw', 'Swahili'],
  ['ta', 'Tamil'],
  ['th', 'Thai'],
  ['tr', 'Turkish'],
  ['uk', 'Ukrainian'],
  ['ur', 'Urdu'],
  ['vi', 'Vietnamese'],
  ['zh', 'Chinese'],
]);

const CODES = new Set(LANGUAGES.map(([code]) => code));

/**
 * Reads what the user typed: entries separated by commas (or semicolons, or
 * new lines); each is a code or a language's name.
 * @param {string} typed
 * @param {string} uiLanguage e.g. `en-GB`, for names in the user's language
 * @returns {{codes: string[], unknown: string[]}} the understood codes (no repeats, in order) and the entries that were not
 */
export function parseLanguages(typed, uiLanguage) {
  const names = namesFor(uiLanguage);
  /** @type {string[]} */
  const codes = [];
  /** @type {string[]} */
  const unknown = [];
  for (const entry of typed.split(/[,;\n]+/).map((e) => e.trim()).filter(Boolean)) {
    const code = codeOf(entry, names);
    if (!code) unknown.push(entry);
    else if (!codes.includes(code)) codes.push(code);
  }
  return { codes, unknown };
}

/**
 * A code for one entry: a supported code, optionally with a region
 * (`pt-br` → `pt-BR`), or a name.
 * @param {string} entry @param {Map<string, string>} names lower-cased name → code
 */
function codeOf(entry, names) {
  const match = /^([a-z]{2,3})(?:[-_]([a-z]{2}|[0-9]{3}|[a-z]{4}))?$/i.exec(entry);
  if (match && CODES.has(match[1].toLowerCase())) {
    const [, language, region] = match;
    if (!region) return language.toLowerCase();
    const subtag = region.length === 4 ? region[0].toUpperCase() + region.slice(1).toLowerCase() : region.toUpperCase();
    return `${language.toLowerCase()}-${subtag}`;
  }
  return names.get(entry.toLowerCase()) ?? null;
}

/** Every supported language's English name and its name in `uiLanguage`. @param {string} uiLanguage */
function namesFor(uiLanguage) {
  /** @type {Map<string, string>} */
  const names = new Map();
  let display = null;
  try {
    display = new Intl.DisplayNames([uiLanguage], { type: 'language' });
  } catch {
    /* an odd UI language: English names only */
  }
  for (const [code, english] of LANGUAGES) {
    names.set(english.toLowerCase(), code);
    const local = display?.of(code);
    if (local) names.set(local.toLowerCase(), code);
  }
  return names;
}
