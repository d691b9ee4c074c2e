// @ts-check
/**
 * What of the popup's conversation may be written to disk, by the user's
 * choice (Settings → Chat history): keep it, keep it 7 days, or keep nothing.
 * (Incognito windows' conversation is never written: `conversation.js`.)
 * Pure functions, no I/O.
 */

/** The choices, in the order the settings show them. */
export const HISTORY_CHOICES = Object.freeze(['keep', 'week', 'none']);
export const WEEK_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * @typedef {'keep'|'week'|'none'} HistoryPolicy
 * @typedef {{role:string, content:string, at?:number}} DatedTurn
 * @typedef {{title:string, text:string, trimmed:boolean, total:number, at?:number}} DatedContext
 * @typedef {{turns: DatedTurn[], context: DatedContext|null, system: string}} Conversation
 */

/** A valid policy, or undefined. @param {unknown} value @returns {HistoryPolicy|undefined} */
export function checkPolicy(value) {
  return HISTORY_CHOICES.includes(/** @type {string} */ (value)) ? /** @type {HistoryPolicy} */ (value) : undefined;
}

/**
 * The part of a conversation that may still be kept under `policy` at `now`:
 * under `week`, turns and page context older than 7 days (or undated) go.
 * @template {Conversation} C
 * @param {C} conversation @param {HistoryPolicy} policy @param {number} now
 * @returns {C}
 */
export function retained(conversation, policy, now) {
  if (policy === 'none') return { ...conversation, turns: [], context: null };
  if (policy === 'keep') return conversation;
  const fresh = (/** @type {{at?: number}|null} */ item) => typeof item?.at === 'number' && now - item.at < WEEK_MS;
  return { ...conversation, turns: conversation.turns.filter(fresh), context: fresh(conversation.context) ? conversation.context : null };
}

/**
 * What to write to disk, or null when the file should not exist (nothing to
 * keep, or the policy keeps nothing).
 * @param {Conversation} conversation
 * @param {HistoryPolicy} policy
 * @param {number} now
 */
export function toDisk(conversation, policy, now) {
  if (policy === 'none') return null;
  const kept = retained(conversation, policy, now);
  if (!kept.turns.length && !kept.context) return null;
  return { ...kept, policy };
}

/**
 * A conversation read back from disk, pruned by the policy it was saved
 * under (a week-old conversation is gone when the browser starts again).
 * @param {any} data @param {number} now
 * @returns {{conversation: Conversation, policy: HistoryPolicy}|null}
 */
export function fromDisk(data, now) {
  if (!Array.isArray(data?.turns)) return null;
  const policy = checkPolicy(data.policy) ?? 'keep';
  const conversation = { turns: data.turns, context: data.context ?? null, system: String(data.system ?? '') };
  return { conversation: retained(conversation, policy, now), policy };
}
