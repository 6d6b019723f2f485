// The inspector page: its HTML, stylesheet and browser script, served under a CSP that allows no
// inline script or style. Everything in the data is attacker-controlled, so the script builds the
// DOM with createElement and textContent only, never from markup.
import { escapeHtml } from '../pages/html.js';

/** The page itself; the token it sends back on /api calls goes in a meta tag, not a script. */
export function inspectorHtml(token: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="dev-https-token" content="${escapeHtml(token)}">
<title>dev-https inspector</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/inspector.css">
<script src="/inspector.js" defer></script>
</head>
<body>
<header class="top">
<h1>dev-https inspector</h1>
<span id="live-state" class="state off" data-testid="live-state" role="status">connecting…</span>
<input id="filter" type="search" placeholder="Filter: method, path, status, route" aria-label="Filter the requests" autocomplete="off" spellcheck="false">
<button type="button" id="pause" aria-pressed="false">Pause</button>
<button type="button" id="clear" title="Empty this list (dev-https keeps its own)">Clear</button>
<button type="button" id="check" data-testid="check-button" title="Run dev-https check against the selected request's path, or /">Run dev-https check</button>
</header>
<section id="check-pane" class="check" hidden aria-label="dev-https check">
<div class="check-head"><h2>dev-https check <code id="check-path"></code></h2><span id="check-summary"></span><button type="button" id="check-close">Close</button></div>
<pre id="check-report" data-testid="check-report"></pre>
</section>
<main>
<div id="list-wrap" class="list-wrap">
<div class="list-head" aria-hidden="true"><span>time</span><span>method</span><span>path</span><span>status</span><span>via</span><span class="c-route">route</span><span>duration</span><span>marks</span></div>
<div id="list" class="list" aria-label="Requests, newest first"></div>
<p id="empty" class="empty">No requests yet: open the app through dev-https and each request shows here as it happens.</p>
</div>
<section id="detail" class="detail" data-testid="detail" hidden aria-label="Request detail"></section>
</main>
<footer class="legend" aria-label="Legend">
<span><b class="mark m-kept">&nbsp;</b> passed on as it was</span>
<span class="m-set"><b class="mark">+</b> set by dev-https</span>
<span class="m-changed"><b class="mark">~</b> changed by dev-https</span>
<span class="m-dropped"><b class="mark">−</b> <s>dropped</s> by dev-https</span>
<span><b class="mark">…</b> a secret, masked: reveal shows it</span>
</footer>
</body>
</html>
`;
}

export const INSPECTOR_CSS = `:root {
  color-scheme: light dark;
  --bg: #fff; --fg: #1f2328; --muted: #656d76; --line: #d8dee4; --panel: #f6f8fa;
  --hover: #eef4ff; --sel: #dbe8ff; --accent: #0969da;
  --ok: #1a7f37; --okbg: #dafbe1; --warn: #9a6700; --warnbg: #fff3c4;
  --bad: #cf222e; --badbg: #ffebe9; --info: #57606a; --infobg: #eaeef2;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --panel: #161b22;
    --hover: #1b2332; --sel: #1f3354; --accent: #58a6ff;
    --ok: #3fb950; --okbg: #10281b; --warn: #d29922; --warnbg: #2d230f;
    --bad: #f85149; --badbg: #3b1719; --info: #9198a1; --infobg: #21262d;
  }
}
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; background: var(--bg); color: var(--fg); }
h1 { font-size: 15px; margin: 0 .5rem 0 0; }
h2 { font-size: 14px; margin: 0; }
h3 { font-size: 13px; margin: 0 0 .35rem; color: var(--muted); font-weight: 600; }
code, pre, .mono { font-family: var(--mono); font-size: 12px; }
button { font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--line); border-radius: 5px; padding: .2rem .6rem; cursor: pointer; }
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { opacity: .6; cursor: progress; }
button[aria-pressed="true"] { background: var(--warnbg); border-color: var(--warn); }
:focus-visible { outline: 2px solid var(--accent); outline-offset: -2px; }
[hidden] { display: none !important; }
.top { position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; padding: .5rem 1rem; background: var(--panel); border-bottom: 1px solid var(--line); }
.top input { flex: 1 1 14rem; min-width: 10rem; font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--line); border-radius: 5px; padding: .2rem .5rem; }
.state::before { content: "● "; }
.state.live { color: var(--ok); }
.state.off { color: var(--bad); }
.check { padding: .5rem 1rem; border-bottom: 1px solid var(--line); }
.check-head { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; }
.check pre { margin: .5rem 0 0; padding: .5rem .75rem; max-height: 40vh; overflow: auto; white-space: pre-wrap; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
.check pre.ok { border-color: var(--ok); }
.check pre.bad { border-color: var(--bad); }
.list-wrap { max-height: 45vh; overflow: auto; border-bottom: 1px solid var(--line); }
.list-head, .row {
  /* Each row is its own grid: only the path column may flex, or rows would not line up. */
  display: grid; grid-template-columns: 5.2rem 4.2rem minmax(10rem, 1fr) 3.8rem 6.4rem 4.6rem 14rem;
  gap: .6rem; align-items: baseline; padding: .2rem 1rem;
}
.has-route .list-head, .has-route .row { grid-template-columns: 5.2rem 4.2rem minmax(10rem, 1fr) 3.8rem 6.4rem 8rem 4.6rem 14rem; }
.list-head { position: sticky; top: 0; z-index: 1; background: var(--bg); color: var(--muted); font-size: 11px; border-bottom: 1px solid var(--line); }
.c-route { display: none; }
.has-route .c-route { display: block; }
.row { width: 100%; text-align: left; border: 0; border-bottom: 1px solid var(--line); border-radius: 0; background: none; font-variant-numeric: tabular-nums; }
.row:hover { background: var(--hover); }
.row.selected { background: var(--sel); }
.row > span, .row > time { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.row > .c-flags { white-space: normal; }
.c-time, .c-dur, .c-proto { color: var(--muted); }
.c-dur { text-align: right; }
.c-method { font-weight: 600; }
.c-path { font-family: var(--mono); font-size: 12px; padding-left: calc(var(--depth, 0) * 1.1rem); }
.chain { color: var(--accent); font-weight: 700; }
.status { font-weight: 600; }
.s1, .s2 { color: var(--ok); }
.s3 { color: var(--accent); }
.s4 { color: var(--warn); }
.s5, .s0 { color: var(--bad); }
.badge { display: inline-block; margin-right: .25rem; padding: 0 .35rem; border-radius: 9px; font-size: 11px; line-height: 1.5; background: var(--infobg); color: var(--info); cursor: help; }
.badge.bad { background: var(--badbg); color: var(--bad); font-weight: 600; }
.badge.warn { background: var(--warnbg); color: var(--warn); }
.badge.accent { background: var(--sel); color: var(--accent); box-shadow: inset 0 0 0 1px var(--accent); }
.empty { margin: 1rem; color: var(--muted); }
.detail { padding: .75rem 1rem 1.5rem; }
.d-head { display: flex; gap: .75rem; align-items: baseline; }
.d-head h2 { flex: 1; overflow-wrap: anywhere; }
.d-path { font-family: var(--mono); font-weight: 400; }
.facts { display: flex; flex-wrap: wrap; gap: .2rem 1.25rem; margin: .4rem 0 .75rem; color: var(--muted); }
.facts div { display: flex; gap: .35rem; }
.facts dt::after { content: ":"; }
.facts dd { margin: 0; color: var(--fg); overflow-wrap: anywhere; }
.link { border: 0; padding: 0; background: none; color: var(--accent); text-decoration: underline; }
.loop { margin: 0 0 .75rem; padding: .5rem .75rem; border: 1px solid var(--bad); border-radius: 6px; background: var(--badbg); }
.loop h3 { color: var(--bad); }
.loop ol { margin: .25rem 0; padding-left: 1.5rem; font-family: var(--mono); font-size: 12px; overflow-wrap: anywhere; }
.loop pre { margin: .35rem 0 0; white-space: pre-wrap; font-family: inherit; font-size: 13px; }
.block { margin: 0 0 1rem; }
.block > h2 { margin-bottom: .35rem; }
.pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: .75rem; }
@media (max-width: 900px) { .pair { grid-template-columns: minmax(0, 1fr); } }
.panel { min-width: 0; padding: .5rem .75rem; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
.line { font-family: var(--mono); font-size: 12px; font-weight: 600; margin-bottom: .25rem; overflow-wrap: anywhere; }
.none { color: var(--muted); font-style: italic; margin: 0; }
.body { margin: .35rem 0 0; color: var(--muted); }
.headers { list-style: none; margin: 0; padding: 0; font-family: var(--mono); font-size: 12px; }
.hr { position: relative; padding: 0 .25rem 0 1.2rem; border-radius: 3px; overflow-wrap: anywhere; }
.mark { display: inline-block; width: 1rem; font-weight: 700; font-family: var(--mono); }
.hr .mark { position: absolute; left: .15rem; }
.hn { font-weight: 600; }
.m-set { background: var(--okbg); } .m-set .mark { color: var(--ok); }
.m-changed { background: var(--warnbg); } .m-changed .mark { color: var(--warn); }
.m-dropped { background: var(--badbg); } .m-dropped .mark { color: var(--bad); }
.m-dropped .hn, .m-dropped .hv { text-decoration: line-through; }
.why { font-family: system-ui, sans-serif; font-size: 12px; color: var(--muted); }
.reveal { margin-left: .4rem; padding: 0 .4rem; font-size: 11px; }
.changes, .notes { margin: 0; padding-left: 1.25rem; }
.cookie { margin: 0 0 .5rem; padding: .4rem .75rem; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
.cookie-attrs { color: var(--muted); margin-left: .5rem; overflow-wrap: anywhere; }
.note { list-style: none; margin-left: -1.25rem; }
.lvl { display: inline-block; min-width: 2.6rem; margin-right: .4rem; padding: 0 .3rem; border-radius: 3px; font-size: 11px; text-align: center; }
.note.bad .lvl { background: var(--badbg); color: var(--bad); font-weight: 700; }
.note.warn .lvl { background: var(--warnbg); color: var(--warn); }
.note.ok .lvl { background: var(--okbg); color: var(--ok); }
.note.info .lvl { background: var(--infobg); color: var(--info); }
.note.bad { color: var(--bad); }
.legend { display: flex; flex-wrap: wrap; gap: .4rem 1.25rem; padding: .5rem 1rem; color: var(--muted); border-top: 1px solid var(--line); font-size: 12px; }
.legend > span { padding: 0 .35rem; border-radius: 3px; }
.legend .m-dropped { text-decoration: none; }
@media (max-width: 860px) {
  .list-head { display: none; }
  .row, .has-route .row { display: flex; flex-wrap: wrap; gap: .1rem .6rem; }
  .row .c-path { flex-basis: 100%; order: -1; }
}
`;

// Plain JavaScript for the browser, kept free of backticks and dollar-brace so it sits in a raw
// template literal as it is.
export const INSPECTOR_JS = String.raw`'use strict';
(() => {
  const MAX = 500;
  const token = document.querySelector('meta[name="dev-https-token"]').getAttribute('content') || '';
  const $ = (id) => document.getElementById(id);
  const ui = {
    live: $('live-state'), filter: $('filter'), pause: $('pause'), clear: $('clear'), check: $('check'),
    checkPane: $('check-pane'), checkPath: $('check-path'), checkSummary: $('check-summary'), checkClose: $('check-close'),
    report: $('check-report'), wrap: $('list-wrap'), list: $('list'), empty: $('empty'), detail: $('detail'),
  };
  const state = {
    byId: new Map(), order: [], pending: [], pendingCount: 0, paused: false, maxId: 0, clearedUpTo: 0, selected: null, selectedPath: null, seq: 0,
  };
  const rows = new Map();

  // Builds an element: text through textContent, attributes through setAttribute, never markup.
  function h(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'text') node.textContent = String(value);
      else if (key === 'class') node.className = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, String(value));
    }
    for (const child of [].concat(children === undefined ? [] : children)) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  const FLAGS = {
    loop: ['redirect loop', 'bad', 'This response closes a redirect loop: the URLs and the fix are in the detail'],
    error: ['error', 'bad', 'The proxy hit an error on the way (the app unreachable, a connection reset): see the detail'],
    cookie: ['cookie', 'warn', 'A Set-Cookie worth a look (no Secure over HTTPS, or one the browser rejects): see the cookie notes'],
    'hsts-removed': ['HSTS removed', 'info', 'dev-https removed the app\'s Strict-Transport-Security, so the browser does not pin HTTPS on this name for months'],
    'location-rewritten': ['Location rewritten', 'info', 'dev-https rewrote the redirect\'s Location from the app\'s own address to the one the client used'],
    'spoofed-header-dropped': ['spoofed header dropped', 'warn', 'The client sent its own X-Forwarded-* or Forwarded header: dev-https dropped it and set its own'],
  };
  const MARKS = {
    kept: ['', 'passed on as it was'],
    set: ['+', 'set by dev-https'],
    changed: ['~', 'changed by dev-https'],
    dropped: ['\u2212', 'dropped by dev-https'],
  };
  const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

  const pad = (n, width) => String(n).padStart(width || 2, '0');
  function clock(iso) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  const ms = (n) => (n < 10 ? n.toFixed(1) : String(Math.round(n))) + ' ms';
  const statusText = (s) => (s === 0 ? 'closed' : String(s));
  const statusEl = (s) => h('span', { class: 'status s' + (s === 0 ? '0' : String(s).charAt(0)), text: statusText(s) });
  function size(bytes) {
    if (bytes === null) return 'size unknown (streamed)';
    if (bytes < 1024) return bytes + ' B';
    if (bytes < 1048576) return (bytes / 1024).toFixed(1) + ' KB';
    return (bytes / 1048576).toFixed(1) + ' MB';
  }

  function badges(r) {
    const out = [];
    const badge = (label, level, title, flag) => h('span', { class: 'badge ' + level, title: title, 'data-flag': flag, text: label });
    const flags = r.flags.slice();
    if (r.loop && !flags.includes('loop')) flags.unshift('loop');
    for (const flag of ['loop', 'error']) if (flags.includes(flag)) out.push(badge(FLAGS[flag][0], FLAGS[flag][1], FLAGS[flag][2], flag));
    if (r.answeredBy === 'dev-https') {
      out.push(badge('dev-https', 'accent', 'Answered by dev-https itself (its 502, its loop page, a refusal, the redirect to HTTPS), not by the app', 'answered-by'));
    }
    if (r.ws) out.push(badge('ws', 'accent', 'A WebSocket upgrade', 'ws'));
    for (const flag of flags) {
      if (flag === 'loop' || flag === 'error') continue;
      const known = own(FLAGS, flag) ? FLAGS[flag] : [flag, 'info', flag];
      out.push(badge(known[0], known[1], known[2], flag));
    }
    return out;
  }

  function rowFor(r) {
    let row = rows.get(r.id);
    if (row) return row;
    row = h('button', { type: 'button', class: 'row', 'data-testid': 'request-row', 'data-id': r.id, onclick: (e) => select(r.id, e.detail === 0), onkeydown: rowKey }, [
      h('time', { class: 'c-time', datetime: r.time, title: r.time, text: clock(r.time) }),
      h('span', { class: 'c-method', text: r.method }),
      h('span', { class: 'c-path', title: r.path }, [h('span', { class: 'chain' }), r.path]),
      h('span', { class: 'c-status' }, statusEl(r.status)),
      h('span', { class: 'c-proto', text: r.listener + ' ' + r.protocol }),
      h('span', { class: 'c-route', text: r.route || '' }),
      h('span', { class: 'c-dur', text: ms(r.durationMs) }),
      h('span', { class: 'c-flags' }, badges(r)),
    ]);
    rows.set(r.id, row);
    return row;
  }

  function rowKey(event) {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    event.preventDefault();
    const next = event.key === 'ArrowDown' ? event.currentTarget.nextElementSibling : event.currentTarget.previousElementSibling;
    if (next) next.focus();
  }

  function matches(r, needle) {
    if (!needle) return true;
    const hay = [r.method, r.path, String(r.status), r.status === 0 ? 'closed' : '', r.route || ''].join(' ').toLowerCase();
    return hay.includes(needle);
  }

  // Newest first, each redirect attached under the request whose Location led to it.
  function ordered() {
    const children = new Map();
    const roots = [];
    for (const id of state.order) {
      const from = state.byId.get(id).redirectFrom;
      if (from !== null && from < id && state.byId.has(from)) {
        if (!children.has(from)) children.set(from, []);
        children.get(from).push(id);
      } else roots.push(id);
    }
    const latest = new Map();
    const newest = (id) => {
      let max = id;
      for (const child of children.get(id) || []) max = Math.max(max, newest(child));
      latest.set(id, max);
      return max;
    };
    roots.forEach(newest);
    roots.sort((a, b) => latest.get(b) - latest.get(a));
    const out = [];
    const visit = (id, depth) => {
      out.push([id, depth]);
      for (const child of children.get(id) || []) visit(child, depth + 1);
    };
    roots.forEach((id) => visit(id, 0));
    return out;
  }

  // Moves existing rows only where the order changed, so focus and hover survive an update.
  function place(container, elements) {
    let cursor = container.firstChild;
    for (const el of elements) {
      if (el === cursor) cursor = cursor.nextSibling;
      else container.insertBefore(el, cursor);
    }
    while (cursor) {
      const next = cursor.nextSibling;
      cursor.remove();
      cursor = next;
    }
  }

  function render() {
    const needle = ui.filter.value.trim().toLowerCase();
    const visible = [];
    let anyRoute = false;
    for (const [id, depth] of ordered()) {
      const r = state.byId.get(id);
      if (r.route) anyRoute = true;
      if (!matches(r, needle)) continue;
      const row = rowFor(r);
      row.style.setProperty('--depth', String(depth));
      row.querySelector('.chain').textContent = depth > 0 ? '\u21b3 ' : '';
      if (depth > 0) row.setAttribute('data-depth', String(depth));
      else row.removeAttribute('data-depth');
      row.classList.toggle('selected', id === state.selected);
      visible.push(row);
    }
    place(ui.list, visible);
    ui.wrap.classList.toggle('has-route', anyRoute);
    ui.empty.hidden = visible.length > 0;
    ui.empty.textContent = state.order.length ? 'No request matches the filter.' : 'No requests yet: open the app through dev-https and each request shows here as it happens.';
  }

  function add(batch) {
    for (const r of batch) {
      if (!r || typeof r.id !== 'number' || state.byId.has(r.id) || r.id <= state.clearedUpTo) continue;
      state.byId.set(r.id, r);
      state.order.push(r.id);
      state.maxId = Math.max(state.maxId, r.id);
    }
    state.order.sort((a, b) => a - b);
    while (state.order.length > MAX) {
      const old = state.order.shift();
      state.byId.delete(old);
      rows.delete(old);
    }
    render();
  }

  function receive(event) {
    let batch;
    try {
      batch = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!Array.isArray(batch)) return;
    if (state.paused) {
      const known = new Set(state.pending.map((r) => r.id));
      const fresh = batch.filter((r) => r && !state.byId.has(r.id) && !known.has(r.id) && r.id > state.clearedUpTo);
      state.pending.push(...fresh);
      state.pendingCount += fresh.length;
      // Only the newest MAX could be shown on resume anyway.
      if (state.pending.length > MAX) state.pending.splice(0, state.pending.length - MAX);
      showPause();
    } else add(batch);
  }

  function showPause() {
    ui.pause.setAttribute('aria-pressed', String(state.paused));
    const n = state.pendingCount;
    ui.pause.textContent = state.paused ? 'Resume' + (n ? ' (' + n + ' new)' : '') : 'Pause';
  }

  // Each dev-https process says who it is first: after a restart (same port, ids from 1 again, a
  // new token) the page reloads instead of mixing two processes' requests.
  let instance = null;
  function hello(event) {
    const id = JSON.parse(event.data).instance;
    if (instance !== null && instance !== id) location.reload();
    instance = id;
  }

  function connect() {
    const source = new EventSource('/events?token=' + encodeURIComponent(token));
    source.addEventListener('hello', hello);
    source.addEventListener('requests', receive);
    source.onopen = () => setLive(true);
    source.onerror = () => {
      setLive(false);
      // EventSource retries by itself unless the server refused it outright.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    };
  }

  function setLive(live) {
    ui.live.textContent = live ? 'live' : 'disconnected';
    ui.live.className = 'state ' + (live ? 'live' : 'off');
  }

  const api = (path, body) =>
    fetch(path, body === undefined
      ? { headers: { 'X-Dev-Https-Token': token }, cache: 'no-store' }
      : { method: 'POST', headers: { 'X-Dev-Https-Token': token, 'Content-Type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store' });

  async function readJson(response) {
    try {
      return await response.json();
    } catch {
      return { error: 'HTTP ' + response.status + ', not JSON' };
    }
  }

  // From the keyboard (a click with detail 0), focus follows into the detail.
  async function select(id, keyboard) {
    const r = state.byId.get(id);
    state.selected = id;
    state.selectedPath = r ? r.path : null;
    for (const [rowId, row] of rows) row.classList.toggle('selected', rowId === id);
    const seq = ++state.seq;
    ui.detail.hidden = false;
    ui.detail.replaceChildren(h('p', { class: 'none', text: 'loading…' }));
    let detail;
    try {
      const response = await api('/api/requests/' + encodeURIComponent(String(id)));
      detail = await readJson(response);
      if (!response.ok) detail = { error: (detail && detail.error) || 'HTTP ' + response.status };
    } catch (error) {
      detail = { error: 'dev-https did not answer (' + ((error && error.message) || 'network error') + ')' };
    }
    if (seq !== state.seq) return;
    if (detail.error) {
      ui.detail.replaceChildren(detailHead(r || { id: id, method: '', path: '#' + id, status: 0 }), h('p', { class: 'none', text: String(detail.error) }));
      if (keyboard) ui.detail.querySelector('h2').focus();
      return;
    }
    renderDetail(detail);
    if (keyboard) ui.detail.querySelector('h2').focus();
  }

  function closeDetail() {
    state.seq++;
    const row = rows.get(state.selected);
    state.selected = null;
    state.selectedPath = null;
    ui.detail.replaceChildren();
    ui.detail.hidden = true;
    for (const el of rows.values()) el.classList.remove('selected');
    if (row && row.isConnected) row.focus();
  }

  function detailHead(d) {
    return h('div', { class: 'd-head' }, [
      h('h2', { tabindex: '-1' }, [h('span', { class: 'c-method', text: d.method }), ' ', h('span', { class: 'd-path', text: d.path }), ' ', statusEl(d.status)]),
      h('button', { type: 'button', class: 'close', text: 'Close', title: 'Close (Esc)', onclick: closeDetail }),
    ]);
  }

  function facts(d) {
    const fact = (term, value) => h('div', {}, [h('dt', { text: term }), h('dd', {}, value)]);
    const list = [
      fact('time', h('time', { datetime: d.time, text: d.time })),
      fact('via', d.listener + ' ' + d.protocol + (d.ws ? ', WebSocket' : '')),
      fact('target', d.target),
      fact('route', d.route === null ? 'the default target' : d.route),
      fact('duration', ms(d.durationMs)),
      fact('answered by', d.answeredBy === 'dev-https' ? 'dev-https itself' : 'the app'),
    ];
    if (d.redirectFrom !== null) {
      const from = d.redirectFrom;
      const link = state.byId.has(from) ? h('button', { type: 'button', class: 'link', text: '#' + from, onclick: (e) => select(from, e.detail === 0) }) : '#' + from;
      list.push(fact('redirected from', link));
    }
    return h('dl', { class: 'facts' }, list);
  }

  function loopBlock(loop) {
    return h('section', { class: 'loop', 'aria-label': 'Redirect loop' }, [
      h('h3', { text: 'Redirect loop: these URLs redirect to each other' }),
      h('ol', {}, loop.urls.map((url) => h('li', { text: url }))),
      h('pre', { 'data-testid': 'loop-fix', text: loop.fix }),
    ]);
  }

  function headerRow(row, id) {
    const mark = own(MARKS, row.mark) ? row.mark : 'kept';
    const value = h('span', { class: 'hv', text: row.value });
    const item = h('li', { class: 'hr m-' + mark, 'data-testid': 'header-row', 'data-mark': mark, 'data-name': String(row.name).toLowerCase() }, [
      h('span', { class: 'mark', title: MARKS[mark][1], 'aria-label': MARKS[mark][1], text: MARKS[mark][0] }),
      h('span', { class: 'hn', text: row.name }),
      ': ',
      value,
    ]);
    if (typeof row.secret === 'string') {
      const button = h('button', { type: 'button', class: 'reveal', 'data-testid': 'reveal', 'aria-label': 'Reveal ' + row.name, text: 'reveal' });
      button.addEventListener('click', () => reveal(id, row.secret, value, button));
      item.append(button);
    }
    if (row.why) item.append(h('div', { class: 'why', text: row.why }));
    return item;
  }

  async function reveal(id, secret, value, button) {
    button.disabled = true;
    button.textContent = 'revealing…';
    let result;
    try {
      const response = await api('/api/reveal', { id: id, secret: secret });
      result = await readJson(response);
      if (!response.ok && !result.error) result = { error: 'HTTP ' + response.status };
    } catch (error) {
      result = { error: (error && error.message) || 'network error' };
    }
    // Closed or replaced meanwhile: the value is not wanted any more.
    if (!value.isConnected) return;
    if (typeof result.value === 'string') {
      value.textContent = result.value;
      button.remove();
    } else {
      button.textContent = 'not available';
      button.title = String(result.error || 'no value');
    }
  }

  function panel(testid, title, view, absent, id) {
    const children = [h('h3', { text: title })];
    if (!view) children.push(h('p', { class: 'none', text: absent }));
    else {
      children.push(h('div', { class: 'line', text: view.line }));
      children.push(h('ul', { class: 'headers' }, view.headers.map((row) => headerRow(row, id))));
    }
    return h('section', { class: 'panel', 'data-testid': testid }, children);
  }

  function bodyLine(label, body) {
    const text = body.size === 0 && body.type === null ? 'no body' : size(body.size) + (body.type ? ', ' + body.type : '');
    return h('p', { class: 'body', text: label + ': ' + text });
  }

  function block(title, children) {
    return h('section', { class: 'block' }, [h('h2', { text: title })].concat(children));
  }

  function cookieBlock(cookie) {
    return h('div', { class: 'cookie' }, [
      h('div', {}, [h('b', { class: 'mono', text: cookie.name === '' ? '(no name)' : cookie.name }), h('code', { class: 'cookie-attrs', text: cookie.attributes || 'no attributes' })]),
      h('ul', { class: 'notes' }, cookie.notes.map((n) =>
        h('li', { class: 'note ' + n.level, 'data-testid': 'cookie-note', 'data-level': n.level }, [h('span', { class: 'lvl', text: n.level }), n.text]))),
    ]);
  }

  function renderDetail(d) {
    const parts = [detailHead(d), facts(d)];
    if (d.loop) parts.push(loopBlock(d.loop));
    parts.push(block('Request', [
      h('div', { class: 'pair' }, [
        panel('panel-client-request', 'as the client sent it', d.request.client, '', d.id),
        panel('panel-app-request', 'as the app received it', d.request.app, 'never reached the app', d.id),
      ]),
      bodyLine('request body', d.request.body),
    ]));
    parts.push(block('Response', [
      h('div', { class: 'pair' }, [
        panel('panel-app-response', 'as the app sent it', d.response.app, 'the app did not answer', d.id),
        panel('panel-client-response', 'as the client got it', d.response.client, 'the client got no answer: the connection closed first', d.id),
      ]),
      bodyLine('response body', d.response.body),
    ]));
    parts.push(block('What dev-https changed', d.changes.length
      ? h('ul', { class: 'changes' }, d.changes.map((c) => h('li', { text: c })))
      : h('p', { class: 'none', text: 'nothing: passed on as it was' })));
    if (d.cookies.length) parts.push(block('Cookies the app set', d.cookies.map(cookieBlock)));
    ui.detail.replaceChildren(...parts);
  }

  async function runCheck() {
    const path = state.selectedPath ? state.selectedPath.split('?')[0] || '/' : '/';
    ui.check.disabled = true;
    ui.check.textContent = 'running…';
    ui.checkPane.hidden = false;
    ui.checkPath.textContent = path;
    ui.checkSummary.textContent = '';
    ui.report.className = '';
    ui.report.textContent = 'running… (it can take 10 s or more)';
    try {
      const response = await api('/api/check', { path: path });
      const result = await readJson(response);
      if (typeof result.text === 'string') {
        ui.report.textContent = result.text;
        ui.report.className = result.ok ? 'ok' : 'bad';
        ui.checkSummary.textContent = (result.ok ? 'passed' : 'found problems') + ', score ' + result.score;
      } else ui.report.textContent = 'The check did not run: ' + (result.error || 'HTTP ' + response.status);
    } catch (error) {
      ui.report.textContent = 'The check did not run: ' + ((error && error.message) || 'network error');
    } finally {
      ui.check.disabled = false;
      ui.check.textContent = 'Run dev-https check';
    }
  }

  ui.filter.addEventListener('input', render);
  ui.pause.addEventListener('click', () => {
    state.paused = !state.paused;
    if (!state.paused) {
      const pending = state.pending;
      state.pending = [];
      state.pendingCount = 0;
      add(pending);
    }
    showPause();
  });
  ui.clear.addEventListener('click', () => {
    state.clearedUpTo = Math.max(state.maxId, ...state.pending.map((r) => r.id));
    state.byId.clear();
    state.order = [];
    state.pending = [];
    state.pendingCount = 0;
    rows.clear();
    closeDetail();
    showPause();
    render();
  });
  ui.check.addEventListener('click', runCheck);
  ui.checkClose.addEventListener('click', () => { ui.checkPane.hidden = true; });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !ui.detail.hidden) closeDetail();
  });
  render();
  connect();
})();
`;
