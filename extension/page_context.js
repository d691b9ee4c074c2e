// Locus: answers the popup's "use this page as context" with the page's main
// text, read by the same module the on-page panel uses. Classic script (the
// manifest cannot declare module content scripts); inert until asked.
chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id || sender.tab || message?.type !== 'locus.pageText') return;
  import(chrome.runtime.getURL('extension/content/page_text.js'))
    .then((module) => sendResponse({ ok: true, title: document.title, text: module.readPageText() }))
    .catch((error) => sendResponse({ ok: false, error: String(error) }));
  return true; // answers asynchronously
});
