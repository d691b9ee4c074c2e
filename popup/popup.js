// @ts-check
/** The toolbar popup (and side panel): backend indicator, chat, models and settings tabs. */

import { LocusClient } from '../extension/client.js';
import { RESTART_RUNTIME, readBackendPreference, writeBackendPreference } from '../extension/backend_preference.js';
import { localize } from '../extension/i18n.js';
import { loadSettings, saveSettings } from '../extension/settings.js';
import { ChatTab } from './chat.js';
import { t } from './format.js';
import { ModelsTab } from './models.js';
import { parseLanguages } from './languages.js';
import { languageName } from '../extension/settings.js';

const client = new LocusClient();
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

if (new URLSearchParams(location.search).get('view') === 'side') document.body.classList.add('side');
localize(document);
setUpTabs();
showBackend();
const chat = new ChatTab(client);
chat.start();
const models = new ModelsTab(client);
models.onModels = (list, defaults) => chat.setModels(list, defaults.chat);
chat.actions = {
  openModels: () => /** @type {HTMLElement} */ ($('tab-models')).click(),
  downloadRecommended: () => models.downloadRecommended(),
  recommendedName: () => models.recommended()?.name ?? '',
};
void models.start();
void setUpSettings();
// For tests and the curious: the tabs' objects.
Object.assign(globalThis, { locusPopup: { client, models, chat } });

/** Tabs with the ARIA tab pattern: click, or arrow keys / Home / End to move. */
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
    if (chosen.id === 'tab-models') void models.refresh();
  };
  // `#models`, `#settings`: opened on that tab (e.g. by a panel's "Open Models").
  const wanted = tabs.find((tab) => `#${tab.id.replace('tab-', '')}` === location.hash);
  if (wanted) select(wanted);
  for (const [index, tab] of tabs.entries()) {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', (e) => {
      const to = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      select(tabs[(to + tabs.length) % tabs.length]);
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

async function setUpSettings() {
  const form = /** @type {HTMLFormElement} */ ($('settings-form'));
  const settings = await loadSettings();
  for (const name of ['summaryType', 'summaryLength', 'summaryFormat', 'systemPrompt', 'history']) {
    /** @type {HTMLSelectElement} */ (form.elements.namedItem(name)).value = /** @type {any} */ (settings)[name] ?? '';
  }
  const languages = /** @type {HTMLInputElement} */ (form.elements.namedItem('targetLanguages'));
  languages.value = settings.targetLanguages.join(', ');
  const status = $('settings-saved');
  const show = (/** @type {string} */ message, isError = false) => {
    status.textContent = message;
    status.classList.toggle('error', isError);
    status.setAttribute('role', isError ? 'alert' : 'status');
  };
  const backend = /** @type {HTMLSelectElement} */ ($('backend-choice'));
  backend.value = await readBackendPreference();
  backend.addEventListener('change', async () => {
    try {
      await writeBackendPreference(/** @type {any} */ (backend.value));
      await chrome.runtime.sendMessage({ type: RESTART_RUNTIME }).catch(() => {}); // no runtime running: nothing to restart
      show(t('settingsSaved'));
      setTimeout(showBackend, 2_500); // the offscreen document waits 2 s before a quick restart
    } catch (error) {
      show(t('settingsSaveFailed', String(/** @type {any} */ (error)?.message ?? error)), true);
    }
  });
  // The benchmark takes minutes: it gets a tab of its own, which outlives the popup.
  $('test-device').addEventListener('click', () => void chrome.tabs.create({ url: chrome.runtime.getURL('popup/bench.html') }));
  $('clear-history').addEventListener('click', () =>
    client.request('chat.clear', { everything: true }, (event) => {
      if (event.event === 'done') show(t('settingsHistoryCleared'));
      if (event.event === 'error') show(event.message, true);
    }),
  );
  void showShortcuts();
  form.addEventListener('change', async () => {
    // Only languages the runtime knows are saved; the rest are named back.
    const { codes, unknown } = parseLanguages(languages.value, chrome.i18n.getUILanguage());
    const data = new FormData(form);
    const history = /** @type {any} */ (data.get('history'));
    try {
      await saveSettings({
        summaryType: /** @type {any} */ (data.get('summaryType')),
        summaryLength: /** @type {any} */ (data.get('summaryLength')),
        summaryFormat: /** @type {any} */ (data.get('summaryFormat')),
        systemPrompt: String(data.get('systemPrompt') ?? '').slice(0, 4000),
        history,
        ...(codes.length ? { targetLanguages: codes } : {}),
      });
      if (unknown.length === 0) {
        if (codes.length) languages.value = codes.join(', ');
        show(codes.length ? t('settingsSavedLanguages', codes.map(languageName).join(', ')) : t('settingsSaved'));
      } else {
        const kept = codes.length ? t('settingsLanguagesKept', codes.map(languageName).join(', ')) : t('settingsLanguagesNoneKept');
        show(`${t('settingsLanguagesUnknown', unknown.map((u) => `“${u}”`).join(', '))} ${kept}`, true);
      }
    } catch (error) {
      show(t('settingsSaveFailed', String(/** @type {any} */ (error)?.message ?? error)), true);
      return;
    }
    // The conversation applies a new choice at once (e.g. "Don't keep" deletes the saved one).
    chat.applyPrivacy();
  });
}

/**
 * The keyboard shortcuts as Chrome has them (the user may have changed
 * them), and a button to Chrome's page for changing them: a link to a
 * chrome:// page does not open from an extension page, `chrome.tabs` does.
 */
async function showShortcuts() {
  const list = $('shortcuts');
  const commands = await chrome.commands.getAll();
  list.replaceChildren(
    ...commands.map((command) => {
      const item = document.createElement('li');
      item.dataset.command = command.name ?? '';
      const what = document.createElement('span');
      what.textContent = command.description || t('commandOpenPopup');
      const key = document.createElement(command.shortcut ? 'kbd' : 'span');
      key.textContent = command.shortcut || t('settingsShortcutNotSet');
      if (!command.shortcut) key.className = 'muted';
      item.append(what, key);
      return item;
    }),
  );
  $('change-shortcuts').addEventListener('click', () => void chrome.tabs.create({ url: 'chrome://extensions/shortcuts' }));
}
