// @ts-check
/** The toolbar popup: backend indicator, chat, models and settings tabs. */

import { LocusClient } from '../extension/client.js';
import { localize } from '../extension/i18n.js';
import { loadSettings, saveSettings } from '../extension/settings.js';

const client = new LocusClient();
const t = (/** @type {string} */ key, /** @type {string[]} */ ...subs) => chrome.i18n.getMessage(key, subs) || key;
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

localize(document);
setUpTabs();
showBackend();
setUpChat();
void setUpSettings();
void showStorage();

/** Tabs with the ARIA tab pattern: click, or arrow keys to move. */
function setUpTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')].map((tab) => /** @type {HTMLElement} */ (tab));
  const select = (/** @type {HTMLElement} */ chosen) => {
    for (const tab of tabs) {
      const selected = tab === chosen;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      $(tab.getAttribute('aria-controls') ?? '').hidden = !selected;
    }
    chosen.focus();
  };
  for (const [index, tab] of tabs.entries()) {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', (e) => {
      const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      if (step) select(tabs[(index + step + tabs.length) % tabs.length]);
    });
  }
}

/** Asks the runtime for its backend report and shows its one-line summary. */
function showBackend() {
  const badge = $('backend');
  client.request('report', {}, (event) => {
    if (event.event === 'progress') {
      badge.textContent = event.message;
      badge.title = event.message;
    } else if (event.event === 'done') {
      badge.dataset.state = event.result?.backend === 'gpu' ? 'gpu' : 'cpu';
    } else if (event.event === 'error') {
      badge.dataset.state = 'cpu';
      badge.textContent = t('backendUnavailable');
      badge.title = event.message;
    }
  });
}

function setUpChat() {
  const form = /** @type {HTMLFormElement} */ ($('chat-form'));
  const input = /** @type {HTMLTextAreaElement} */ ($('chat-input'));
  const stop = $('chat-stop');
  const send = $('chat-send');
  const list = $('messages');
  /** @type {{role: 'user'|'assistant', content: string}[]} */
  const history = [];
  /** @type {{abort: () => void}|null} */
  let job = null;

  const bubble = (/** @type {string} */ kind, /** @type {string} */ text) => {
    const item = document.createElement('li');
    item.className = kind;
    item.textContent = text;
    list.append(item);
    list.scrollTop = list.scrollHeight;
    return item;
  };
  const busy = (/** @type {boolean} */ on) => {
    send.hidden = on;
    stop.hidden = !on;
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || job) return;
    input.value = '';
    history.push({ role: 'user', content: text });
    bubble('user', text);
    const reply = bubble('assistant', '');
    busy(true);
    job = client.request('chat', { messages: history }, (event) => {
      if (event.event === 'token') reply.textContent += event.text;
      if (event.event !== 'done' && event.event !== 'error') return;
      if (event.event === 'done') history.push({ role: 'assistant', content: reply.textContent ?? '' });
      if (event.event === 'error') {
        reply.className = 'error';
        reply.textContent = event.code === 'aborted' ? t('panelStopped') : event.message;
      }
      job = null;
      busy(false);
    });
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  stop.addEventListener('click', () => job?.abort());
}

async function setUpSettings() {
  const form = /** @type {HTMLFormElement} */ ($('settings-form'));
  const settings = await loadSettings();
  for (const name of ['summaryType', 'summaryLength', 'summaryFormat']) {
    /** @type {HTMLSelectElement} */ (form.elements.namedItem(name)).value = settings[name];
  }
  const languages = /** @type {HTMLInputElement} */ (form.elements.namedItem('targetLanguages'));
  languages.value = settings.targetLanguages.join(', ');
  form.addEventListener('change', async () => {
    const codes = languages.value
      .split(/[\s,]+/)
      .map((code) => code.trim().toLowerCase())
      .filter((code) => /^[a-z]{2,3}(-[a-z0-9]{2,8})?$/.test(code));
    const data = new FormData(form);
    await saveSettings({
      summaryType: /** @type {any} */ (data.get('summaryType')),
      summaryLength: /** @type {any} */ (data.get('summaryLength')),
      summaryFormat: /** @type {any} */ (data.get('summaryFormat')),
      ...(codes.length ? { targetLanguages: codes } : {}),
    });
    $('settings-saved').textContent = t('settingsSaved');
  });
}

async function showStorage() {
  const { usage = 0, quota = 0 } = await navigator.storage.estimate();
  const mb = (/** @type {number} */ bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
  $('storage').textContent = t('storageOf', [mb(usage), mb(quota)]);
}
