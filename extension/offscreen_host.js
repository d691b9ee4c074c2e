// @ts-check
/** Creates the offscreen document that hosts the runtime, once, and again whenever it is gone. */

const OFFSCREEN_PATH = 'extension/offscreen.html';

/** @type {Promise<void>|null} */
let creating = null;

export function offscreenUrl() {
  return chrome.runtime.getURL(OFFSCREEN_PATH);
}

export async function hasOffscreenDocument() {
  const contexts = await chrome.runtime.getContexts({
    contextTypes: [chrome.runtime.ContextType.OFFSCREEN_DOCUMENT],
    documentUrls: [offscreenUrl()],
  });
  return contexts.length > 0;
}

/** Makes sure the offscreen document exists; concurrent callers share one creation. */
export async function ensureOffscreenDocument() {
  if (await hasOffscreenDocument()) return;
  creating ??= chrome.offscreen
    .createDocument({
      url: OFFSCREEN_PATH,
      reasons: [chrome.offscreen.Reason.WORKERS],
      justification: 'Runs the on-device language model runtime (WebAssembly on WebGPU).',
    })
    .catch((error) => {
      // Another caller won the race: that is fine, anything else is not.
      if (!String(error?.message ?? error).includes('single offscreen')) throw error;
    })
    .finally(() => {
      creating = null;
    });
  await creating;
}
