// Summarises a V8 .cpuprofile (node --cpu-prof): self time by area (HTTP/2 compat API, HTTP/2
// core, HTTP/1, TLS, streams, dev-https' own modules, GC ...), the time each area is on the stack
// at all (inclusive), and the top functions by self time. Idle time is left out of the percentages.
// Usage: node bench/profile-summary.mjs FILE.cpuprofile [--top 25]   (also imported by page-load.mjs)
import fs from 'node:fs';
import path from 'node:path';

/** The area a stack frame belongs to, from its script URL. */
export function areaOf(frame) {
  const { url, functionName } = frame;
  if (!url) return /^\((garbage collector|program|idle|root)\)$/.test(functionName) ? functionName : 'native (bindings, builtins)';
  if (url.includes('/dist/') && !url.includes('node_modules')) return `dev-https ${path.basename(url)}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `package ${pkg[1]}`;
  if (url.startsWith('node:internal/http2/compat')) return 'node HTTP/2 compat API';
  if (url.startsWith('node:internal/http2/')) return 'node HTTP/2 core';
  if (/^node:_http_(client|agent)/.test(url)) return 'node HTTP/1 client (to the app)';
  if (/^node:_http_/.test(url) || url === 'node:http') return 'node HTTP/1 messages and parser';
  if (/^node:(_tls|tls|https|internal\/tls)/.test(url)) return 'node TLS';
  if (/^node:(net|stream|internal\/streams|internal\/stream_base_commons|internal\/net)/.test(url)) return 'node net and streams';
  if (/^node:(internal\/)?timers/.test(url)) return 'node timers';
  if (/^node:(events|internal\/event_target)/.test(url)) return 'node events';
  if (/^node:(internal\/)?(tty|fs|console)/.test(url)) return 'node tty/fs/console (log writes)';
  if (/^node:internal\/(process\/task_queues|async_hooks|process\/)/.test(url)) return 'node microtasks/nextTick';
  if (url.startsWith('node:')) return `node other (${url.replace(/^node:(internal\/)?/, '')})`;
  return url;
}

export function summarise(profile, { top = 25 } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map(); // node id -> µs
  const inclusive = new Map(); // area -> µs
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      return;
    }
    total += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) seen.add(areaOf(byId.get(cur).callFrame));
    for (const area of seen) inclusive.set(area, (inclusive.get(area) ?? 0) + dt);
  });
  const pct = (us) => `${((100 * us) / total).toFixed(1)}%`.padStart(6);
  const ms = (us) => `${(us / 1000).toFixed(0)} ms`.padStart(8);
  const selfByArea = new Map();
  const selfByFn = new Map();
  for (const [id, us] of self) {
    const f = byId.get(id).callFrame;
    const area = areaOf(f);
    selfByArea.set(area, (selfByArea.get(area) ?? 0) + us);
    const key =
      `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.replace(/^.*\/dist\//, 'dist/').replace(/^file:\/\/.*node_modules\//, '')}:${f.lineNumber + 1}` : ''}`.trim();
    const prev = selfByFn.get(key) ?? { us: 0, area };
    prev.us += us;
    selfByFn.set(key, prev);
  }
  const sorted = (m) => [...m].sort((x, y) => (y[1].us ?? y[1]) - (x[1].us ?? x[1]));
  const lines = [
    `busy ${ms(total)} (idle ${(idle / 1000).toFixed(0)} ms left out). (program) is native work outside JavaScript: OpenSSL, nghttp2, libuv, syscalls.`,
    'Self time is charged to the function V8 ran, so a callee inlined by the optimizer counts as its caller.',
    '',
    `${'area (self >= 0.3% or on the stack >= 2%)'.padEnd(44)}self      %   on stack     %`,
  ];
  const areas = new Set([...selfByArea.keys(), ...inclusive.keys()]);
  const rows = [...areas].map((area) => [area, selfByArea.get(area) ?? 0, inclusive.get(area) ?? 0]).filter(([area]) => area !== '(root)');
  let restSelf = 0;
  for (const [area, s, inc] of rows.sort((x, y) => y[1] - x[1])) {
    if (s / total >= 0.003 || inc / total >= 0.02) lines.push(`  ${area.padEnd(38)}${ms(s)} ${pct(s)}  ${ms(inc)} ${pct(inc)}`);
    else restSelf += s;
  }
  lines.push(`  ${'(the other areas)'.padEnd(38)}${ms(restSelf)} ${pct(restSelf)}`);
  lines.push('', `top ${top} functions by self time`);
  for (const [key, { us, area }] of sorted(selfByFn).slice(0, top)) lines.push(`  ${ms(us)} ${pct(us)}  ${key}  [${area}]`);
  // dev-https' own functions by the time they are on the stack (what they call included).
  const ownInclusive = new Map();
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur).callFrame;
      if (areaOf(f).startsWith('dev-https ')) seen.add(`${f.functionName || '(anonymous)'} ${path.basename(f.url)}:${f.lineNumber + 1}`);
    }
    for (const k of seen) ownInclusive.set(k, (ownInclusive.get(k) ?? 0) + dt);
  });
  lines.push('', "dev-https' own functions by time on the stack (callees included), top 12");
  for (const [key, us] of sorted(ownInclusive).slice(0, 12)) lines.push(`  ${ms(us)} ${pct(us)}  ${key}`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top N]');
  const i = process.argv.indexOf('--top');
  console.log(summarise(JSON.parse(fs.readFileSync(file, 'utf8')), { top: i > 0 ? Number(process.argv[i + 1]) : 25 }));
}
