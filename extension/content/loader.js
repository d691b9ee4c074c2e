// Locus content script, in every frame. It stays inert until the user
// invokes Locus (menu or shortcut); only then does it load the panel module
// (extension/content/main.js and its imports, bundled into one file by
// `cargo xtask build`: the manifest serves it only at the per-session dynamic
// URL that chrome.runtime.getURL gives, so a page cannot probe for Locus).
// Classic script: the manifest cannot declare module content scripts.
chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id || message?.type !== 'locus.invoke') return;
  // A shortcut goes to every frame of the tab: only the frame the user is in
  // takes it (a menu click names its frame).
  if (message.focusedFrame && !isFocusedFrame()) return;
  import(chrome.runtime.getURL('extension/bundle/content.js'))
    .then((module) => module.invoke(message))
    .catch((error) => console.error('Locus could not open its panel:', error));
  sendResponse({ ok: true });
});

/**
 * Whether this is the innermost frame with the keyboard focus: its document
 * has the focus and no child frame inside it does. With no focus anywhere,
 * the top frame.
 */
function isFocusedFrame() {
  const active = document.activeElement;
  const inChild = active instanceof HTMLIFrameElement || active instanceof HTMLFrameElement;
  if (window === window.top && !document.hasFocus()) return true;
  return document.hasFocus() && !inChild;
}

// A cross-origin frame cannot reach the top frame's document: its content
// script names itself to the top frame with a one-time token, so that the
// top frame's panel can sit next to that frame (see `main.js`). Only the
// frame's window is learnt here; the selected text goes through the
// extension, never through the page.
if (window === window.top) {
  const sources = new Map();
  Object.assign(globalThis, { locusFrameSources: sources });
  window.addEventListener('message', (event) => {
    const token = event.data?.locusFrame;
    if (typeof token !== 'string' || token.length > 64 || !event.source || sources.size > 20) return;
    sources.set(token, event.source);
    setTimeout(() => sources.delete(token), 10_000);
  });
}
