// Locus content script. It stays inert until the user invokes Locus (menu or
// shortcut); only then does it load the panel module. Classic script: the
// manifest cannot declare module content scripts.
chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id || message?.type !== 'locus.invoke') return;
  import(chrome.runtime.getURL('extension/content/main.js'))
    .then((module) => module.invoke(message))
    .catch((error) => console.error('Locus could not open its panel:', error));
  sendResponse({ ok: true });
});
