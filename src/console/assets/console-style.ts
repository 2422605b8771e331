/** The console's stylesheet, served as /console/console.css. */
// prettier-ignore
export const CONSOLE_STYLE = String.raw`:root { --ink: #1b2430; --muted: #5a6572; --line: #d7dde4; --bg: #f6f8fa; --accent: #0b5cad; --ok: #176c2f; --bad: #b3261e; color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans SC", sans-serif; color: var(--ink); background: var(--bg); }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem; }
.skip:focus { left: .5rem; z-index: 10; }
.bar { display: flex; align-items: center; gap: 1rem; padding: .75rem 1.25rem; background: #102a43; color: #fff; }
.bar h1 { font-size: 1.1rem; margin: 0; flex: 1; }
.bar h1 span { font-weight: 400; opacity: .8; }
nav ul { display: flex; gap: .25rem; list-style: none; margin: 0; padding: 0 1.25rem; background: #fff; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
nav a { display: block; padding: .6rem .8rem; color: var(--ink); text-decoration: none; border-bottom: 3px solid transparent; }
nav a[aria-current="page"] { border-color: var(--accent); font-weight: 600; }
nav a:hover { background: var(--bg); }
main { padding: 1rem 1.25rem 3rem; max-width: 80rem; }
main:focus { outline: none; }
h2 { font-size: 1.3rem; margin: .5rem 0 1rem; }
h3 { font-size: 1rem; margin: 0 0 .5rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1rem; overflow-x: auto; }
.card.wide { grid-column: 1 / -1; }
table { border-collapse: collapse; width: 100%; background: #fff; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .25rem 0 .5rem; color: var(--muted); }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: var(--bg); }
code { font: 12.5px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
button { font: inherit; padding: .45rem .9rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.quiet { background: #fff; color: var(--accent); }
button.link { border: 0; background: none; color: var(--accent); padding: 0; text-decoration: underline; font: 12.5px ui-monospace, monospace; }
button:disabled { opacity: .6; cursor: progress; }
button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #f0b429; outline-offset: 2px; }
.bar button { border-color: #fff; }
.filters { display: flex; flex-wrap: wrap; gap: .75rem 1rem; align-items: flex-end; margin-bottom: 1rem; background: #fff; padding: .75rem; border: 1px solid var(--line); border-radius: 8px; }
.filters label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); gap: .2rem; }
.filters fieldset { border: 0; padding: 0; margin: 0; display: flex; gap: 1rem; }
.filters fieldset label { flex-direction: row; align-items: center; color: var(--ink); }
input, select { font: inherit; padding: .35rem .5rem; border: 1px solid #9aa5b1; border-radius: 5px; background: #fff; color: var(--ink); }
.status { min-height: 1.5em; margin: 0 0 .75rem; }
.ok { color: var(--ok); }
.bad { color: var(--bad); }
.actions { display: flex; gap: .75rem; }
#transfer-detail { margin-top: 1.25rem; }
.chart { width: 100%; max-width: 760px; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
.chart .series { fill: none; stroke: var(--accent); stroke-width: 2; }
.chart .grid { stroke: var(--line); }
.chart text { font-size: 11px; fill: var(--muted); }
figure { margin: 0; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .5rem; }
.hint { color: var(--muted); }
.id { color: var(--muted); }
`;
