// @ts-check
/** The panel's stylesheet (inside its closed shadow root), light and dark. */

export const PANEL_CSS = `
:host { all: initial; }
.panel {
  box-sizing: border-box; width: min(440px, calc(100vw - 16px));
  /* --room: the space next to the selection, set as the panel is placed */
  max-height: min(65vh, 560px, var(--room, 560px), calc(100vh - 16px));
  display: flex; flex-direction: column; overflow: hidden;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1c1b1f;
  background: #fffbfe; border: 1px solid #cac4d0; border-radius: 12px;
  box-shadow: 0 8px 28px rgba(0,0,0,.22); text-align: left; direction: ltr;
}
.panel:focus { outline: 2px solid #0f766e; outline-offset: 2px; }
header { display: flex; align-items: center; gap: 4px; padding: 8px 8px 6px 12px; border-bottom: 1px solid #e7e0ec; }
.title { font-weight: 600; flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
button {
  all: unset; cursor: pointer; font: inherit; font-size: 13px; padding: 2px 8px; border-radius: 6px;
  color: inherit; border: 1px solid transparent;
}
button:hover { background: rgba(15,118,110,.12); }
button:focus-visible, select:focus-visible, .output:focus-visible { outline: 2px solid #0f766e; }
button[hidden], .options[hidden] { display: none; }
.options { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: end; padding: 8px 12px; border-bottom: 1px solid #e7e0ec; font-size: 12px; }
.options label { display: flex; flex-direction: column; gap: 2px; }
.options select { font: inherit; font-size: 13px; color: inherit; background: transparent; border: 1px solid #cac4d0; border-radius: 6px; padding: 2px 4px; }
.options .go, .action { border-color: #0f766e; color: #0f766e; }
.status { padding: 4px 12px 0; font-size: 12px; color: #49454f; min-height: 1.5em; }
.status.error { color: #b3261e; }
.progress { height: 3px; margin: 4px 12px 0; background: #e7e0ec; border-radius: 2px; overflow: hidden; }
.progress > div { height: 100%; width: 30%; background: #0f766e; border-radius: 2px; animation: slide 1.2s ease-in-out infinite; }
.progress.determinate > div { animation: none; transition: width .2s; }
.progress[hidden] { display: none; }
@keyframes slide { from { margin-left: -30%; } to { margin-left: 100%; } }
.output { padding: 8px 12px 10px; overflow-y: auto; min-height: 3em; overscroll-behavior: contain; white-space: pre-wrap; overflow-wrap: anywhere; flex: 1; }
.output:empty { display: none; }
.output .draft { opacity: .62; }
.output p, .output ul, .output ol, .output blockquote, .output pre { margin: 0 0 .6em; white-space: normal; }
.output pre { white-space: pre-wrap; }
.output ul, .output ol { padding-left: 1.4em; }
.output h1, .output h2, .output h3, .output h4, .output h5, .output h6 { font-size: 1.05em; margin: .4em 0; }
.output code { font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; background: rgba(0,0,0,.06); border-radius: 4px; padding: 0 3px; }
.output pre code { display: block; padding: 6px; }
.output blockquote { border-left: 3px solid #cac4d0; padding-left: 8px; color: #49454f; }
.output a { color: #0f766e; }
.output .link-host { color: #6b7280; font-size: 0.9em; }
.output table { border-collapse: collapse; } .output th, .output td { border: 1px solid #cac4d0; padding: 2px 6px; }
.output .ranking { list-style: none; margin: 0; padding: 0; white-space: normal; }
.ranking li { display: grid; grid-template-columns: 1fr 90px 3.2em; gap: 8px; align-items: center; padding: 2px 0; }
.ranking .meter { height: 6px; background: #e7e0ec; border-radius: 3px; overflow: hidden; }
.ranking .meter > span { display: block; height: 100%; background: #0f766e; }
.ranking .value { text-align: right; font-variant-numeric: tabular-nums; }
.actions { display: flex; gap: 6px; padding: 0 12px 8px; }
.actions:empty { display: none; }
header, .options, .status, .progress, .actions, .foot { flex: none; }
.foot { display: flex; align-items: center; gap: 8px; padding: 6px 12px; border-top: 1px solid #e7e0ec; font-size: 12px; color: #49454f; }
.foot:not(:has(footer:not(:empty), .picker)) { display: none; }
footer { flex: 1; min-width: 0; }
footer:empty { display: none; }
.picker { display: flex; align-items: center; gap: 4px; margin-left: auto; }
.picker select { font: inherit; color: inherit; background: transparent; border: 1px solid #79747e; border-radius: 6px; padding: 1px 4px; max-width: 220px; }
@media (prefers-color-scheme: dark) {
  .panel { color: #e6e1e5; background: #1c1b1f; border-color: #49454f; box-shadow: 0 8px 28px rgba(0,0,0,.6); }
  header, .foot, .options { border-color: #332f37; }
  .status, .foot, .output blockquote { color: #cac4d0; }
  .picker select { border-color: #938f99; }
  .picker select option { background: #1c1b1f; color: #e6e1e5; }
  .status.error { color: #f2b8b5; }
  .progress, .ranking .meter { background: #332f37; }
  .progress > div, .ranking .meter > span { background: #5eead4; }
  .options .go, .action, .output a { border-color: #5eead4; color: #5eead4; }
  .output code { background: rgba(255,255,255,.08); }
  .output .link-host { color: #b0a9b8; }
  button:hover { background: rgba(94,234,212,.16); }
}
@media (prefers-reduced-motion: reduce) { .progress > div { animation: none; width: 100%; opacity: .5; } }
`;
