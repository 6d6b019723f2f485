// Page load in a real headless Chromium (issue 18): a page of N ES modules, each answered by the
// app after D ms (a dev server compiling on demand), straight from the app over plain HTTP/1.1,
// through Caddy (HTTP/2, the shared setup's EC P-256 certificate, the type dev-https makes) and
// through the dev-https bin run as users run it: HTTP/2 with its request log on, HTTP/2 with
// --quiet, and --no-http2. Browsers open at most 6 HTTP/1.1 connections per host, so HTTP/1.1
// queues the modules; HTTP/2 asks for all of them at once on one connection.
// The request log goes to a pseudo-terminal by default (`--log-sink pty`: util-linux `script`
// gives dev-https a TTY, as a terminal does; Node writes TTYs synchronously on Linux, so a slow
// terminal slows the proxy), or to a pipe this script drains (`pipe`), to /dev/null (`null`), or
// to a pseudo-terminal read at `--tty-rate` bytes/s (`slow-pty`, a terminal slow to scroll).
// Rounds are interleaved per case (one load per target, the order rotating), medians reported.
// `--profile DIR` then runs one more dev-https (HTTP/2, log on) under `node --cpu-prof`, loads the
// first case's page `--profile-loads` times, and summarises where its CPU time went.
// Run: `npm run build && node bench/page-load.mjs [--rounds 5] [--modules 300,1000] [--delay 5,20]
//   [--targets direct,caddy,dev-https,dev-https-quiet,dev-https-h1] [--log-sink pty|pipe|null|slow-pty]
//   [--tty-rate 20000] [--warmup 10]
//   [--devhttps-bin PATH] [--profile DIR] [--profile-loads 10]`. About 4 minutes with the defaults.
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import {
  DEFAULT_BIN,
  argsOf,
  caddyAvailable,
  cpuMicros,
  has,
  median,
  printSaid,
  startCaddy,
  startDevHttpsBin,
  stopAll,
  stopChild,
} from './procs.mjs';

const CHROMIUM = '/usr/bin/chromium';
const TARGET_NAMES = ['direct', 'caddy', 'dev-https', 'dev-https-quiet', 'dev-https-h1', 'dev-https-b', 'dev-https-h1-b'];
const a = argsOf(process.argv.slice(2));
const ROUNDS = a.int('rounds', 5, 1);
const MODULES = a.str('modules', '300,1000').split(',').map(Number);
const DELAYS = a.str('delay', '5,20').split(',').map(Number);
for (const n of [...MODULES, ...DELAYS])
  if (!Number.isInteger(n) || n < 0) throw new Error(`Invalid --modules/--delay list: expected whole numbers`);
const WANT = a.list('targets', TARGET_NAMES, TARGET_NAMES);
const SINK = a.list('log-sink', [has('script') ? 'pty' : 'pipe'], ['pty', 'pipe', 'null', 'slow-pty'])[0];
const TTY_RATE = a.int('tty-rate', 20_000, 100);
const BIN = path.resolve(a.str('devhttps-bin', DEFAULT_BIN));
// A second dev-https build in the same run (log on): targets `dev-https-b` (HTTP/2) and `dev-https-h1-b` (--no-http2).
const BIN_B = a.str('bin-b', '') && path.resolve(a.str('bin-b', ''));
const PROFILE_DIR = a.str('profile', '');
const PROFILE_LOADS = a.int('profile-loads', 10, 1);
// Unmeasured loads per target before the rounds, each printed in order with its CPU. A developer
// reloads many times an hour: the rounds measure a dev-https whose JavaScript V8 has compiled,
// which takes about 8 loads of 300 modules (the first costs 4-5x the CPU per request).
const WARMUP = a.int('warmup', 10, 0);
// One page load must never hang the run; nor the run itself.
const LOAD_TIMEOUT_MS = 60_000;
const RUN_LIMIT_MS = 30 * 60_000;
setTimeout(() => {
  console.error(`page-load benchmark: still running after ${RUN_LIMIT_MS / 60_000} min, stopping`);
  stopAll().finally(() => process.exit(1));
}, RUN_LIMIT_MS).unref();

// The page's inline module imports every module statically: the browser fetches them all in
// parallel, evaluates them (each bumps window.__n), then runs the inline body, which notes the
// time since navigation start (performance.now() counts from the navigation's time origin).
// The classic script first lifts the resource-timing buffer (250 entries by default) so every
// module's protocol can be checked. Cases live in the URL: /p/<modules>/<delay>/.
const pages = new Map();
const pageOf = (modules) => {
  if (!pages.has(modules)) {
    pages.set(
      modules,
      `<!doctype html><html><head><meta charset="utf-8"><title>${modules} modules</title>
<script>performance.setResourceTimingBufferSize(${modules + 50});</script>
<script type="module">
${Array.from({ length: modules }, (_, i) => `import './m/${i}.js';`).join('\n')}
window.__done = { n: window.__n, ms: performance.now() };
</script></head><body><p>${modules} modules</p></body></html>`,
    );
  }
  return pages.get(modules);
};

// Connections the app accepted, counted per page load: what a burst of module requests opens.
let appConnections = 0;
const app = http.createServer((req, res) => {
  const send = (status, type, body) => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  };
  const m = /^\/p\/(\d+)\/(\d+)\/(?:m\/(\d+)\.js)?$/.exec(req.url ?? '');
  if (!m || Number(m[1]) > 5000) return send(404, 'text/plain', 'not found\n');
  if (m[3] === undefined) return send(200, 'text/html; charset=utf-8', pageOf(Number(m[1])));
  if (Number(m[3]) >= Number(m[1])) return send(404, 'text/plain', 'not found\n');
  setTimeout(() => send(200, 'text/javascript', `window.__n = (window.__n || 0) + 1; export const id = ${m[3]};\n`), Number(m[2]));
});

app.on('connection', () => appConnections++);

/** The base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as --ignore-certificate-errors-spki-list wants it. */
function spkiHash(certPem) {
  const der = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-https-page-load-'));
const certDir = path.join(tmp, 'certs');
const caRoot = path.join(tmp, 'ca');
let browser = null;
let exitCode = 0;
try {
  await new Promise((resolve, reject) => app.once('error', reject).listen(0, '127.0.0.1', resolve));
  const appPort = app.address().port;
  const targets = [];
  const notes = [];
  if (WANT.includes('direct'))
    targets.push({ name: 'direct', label: 'direct HTTP/1.1', origin: `http://127.0.0.1:${appPort}`, expect: 'http/1.1' });
  let caddyCert = null;
  if (WANT.includes('caddy')) {
    if (caddyAvailable()) {
      const c = await startCaddy([appPort], tmp);
      caddyCert = c.ca;
      targets.push({ name: 'caddy', label: `Caddy ${c.version} h2`, origin: `https://localhost:${c.ports[0]}`, expect: 'h2' });
    } else notes.push('Caddy not installed (bash ../shared/bench/setup.sh): no Caddy column');
  }
  const dhVariants = [
    { name: 'dev-https', label: 'dev-https h2 (log on)', extra: [], expect: 'h2' },
    { name: 'dev-https-quiet', label: 'dev-https h2 --quiet', extra: ['--quiet'], expect: 'h2' },
    { name: 'dev-https-h1', label: 'dev-https --no-http2 (log on)', extra: ['--no-http2'], expect: 'http/1.1' },
    ...(BIN_B
      ? [
          { name: 'dev-https-b', label: 'dev-https (--bin-b) h2 (log on)', extra: [], expect: 'h2', bin: BIN_B },
          {
            name: 'dev-https-h1-b',
            label: 'dev-https (--bin-b) --no-http2 (log on)',
            extra: ['--no-http2'],
            expect: 'http/1.1',
            bin: BIN_B,
          },
        ]
      : []),
  ];
  const started = [];
  for (const v of dhVariants.filter((x) => WANT.includes(x.name))) {
    // Sequential starts: the first makes the certificate, the others reuse it (one pin for all).
    const d = await startDevHttpsBin({
      bin: v.bin ?? BIN,
      appPort,
      certDir,
      caRoot,
      extra: v.extra,
      sink: SINK,
      ttyRate: TTY_RATE,
      cwd: tmp,
    });
    started.push(d);
    targets.push({ ...v, origin: `https://localhost:${d.port}`, pid: d.child.innerPid ?? d.child.pid });
  }
  if (!started.length && PROFILE_DIR) {
    // The profiled run starts later; its certificate must exist now, for Chromium's pin.
    execFileSync(process.execPath, [BIN, 'cert', '--cert-dir', certDir, '--json'], {
      env: { ...process.env, DEV_HTTPS_CAROOT: caRoot },
      stdio: 'ignore',
    });
  }
  const pins = [];
  if (caddyCert) pins.push(spkiHash(caddyCert));
  if (started.length || PROFILE_DIR) pins.push(spkiHash(fs.readFileSync(path.join(certDir, 'cert.pem'), 'utf8')));

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Trusts exactly these keys, as a user accepting the certificate would.
      `--ignore-certificate-errors-spki-list=${pins.join(',') || 'none'}`,
    ],
  });

  /** One cold load in a fresh context (no cache, no pooled connection): ms until every module ran. */
  async function load(target, modules, delay) {
    const context = await browser.newContext();
    try {
      const p = await context.newPage();
      const url = `${target.origin}/p/${modules}/${delay}/`;
      const connectionsBefore = appConnections;
      // A module that fails stops the page's module graph: fail the load at once, saying which.
      const failed = new Promise((resolve) => {
        p.on('requestfailed', (r) => resolve(`${r.url()}: ${r.failure()?.errorText}`));
        p.on('response', (r) => r.status() !== 200 && resolve(`${r.url()}: status ${r.status()}`));
      });
      const response = await p.goto(url, { timeout: LOAD_TIMEOUT_MS });
      if (response?.status() !== 200) throw new Error(`${target.name}: ${url} answered ${response?.status()}`);
      const why = await Promise.race([
        p
          .waitForFunction(() => window.__done !== undefined, undefined, { timeout: LOAD_TIMEOUT_MS, polling: 10 })
          .then(
            () => null,
            (e) => e.message,
          ),
        failed,
      ]);
      if (why) throw new Error(`${target.name}, ${modules} modules x ${delay} ms: ${why}`);
      const r = await p.evaluate(() => {
        const mods = performance.getEntriesByType('resource').filter((e) => /\/m\/\d+\.js$/.test(e.name));
        return {
          done: window.__done,
          nav: performance.getEntriesByType('navigation')[0].nextHopProtocol,
          protocols: [...new Set(mods.map((e) => e.nextHopProtocol))],
          count: mods.length,
        };
      });
      if (r.done.n !== modules) throw new Error(`${target.name}: ${r.done.n} of ${modules} modules ran`);
      if (r.count !== modules) throw new Error(`${target.name}: ${r.count} of ${modules} modules fetched`);
      return { ms: r.done.ms, protocol: `${r.nav}/${r.protocols.join('+')}`, connections: appConnections - connectionsBefore };
    } finally {
      await context.close();
    }
  }

  /** A load and the CPU dev-https spent on it per request, page and modules (null: not a dev-https). */
  async function measuredLoad(target, modules, delay) {
    const before = target.pid ? cpuMicros(target.pid) : 0;
    const r = await load(target, modules, delay);
    return { ...r, cpu: target.pid ? (cpuMicros(target.pid) - before) / (modules + 1) : null };
  }

  const cases = MODULES.flatMap((modules) =>
    DELAYS.map((delay) => ({
      modules,
      delay,
      results: new Map(targets.map((t) => [t.name, { ms: [], connections: [], protocols: new Set() }])),
    })),
  );
  const t0 = performance.now();
  // Unmeasured loads first: Chromium's first-use costs are not the proxy's. Each is printed, in
  // order, so what a just-started proxy costs (its JavaScript not yet compiled) is seen too.
  const warm = new Map(targets.map((t) => [t.name, []]));
  for (let i = 0; i < WARMUP; i++)
    for (const t of targets) {
      const r = await measuredLoad(t, MODULES[0], DELAYS[0]);
      warm.get(t.name).push(`${r.ms.toFixed(0)}${r.cpu === null ? '' : ` (${r.cpu.toFixed(0)} µs)`}`);
    }
  for (const c of cases) {
    for (let round = 0; round < ROUNDS; round++) {
      // Interleaved, and the order rotates so no target always goes first.
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(round + k) % targets.length];
        const acc = c.results.get(t.name);
        try {
          const r = await measuredLoad(t, c.modules, c.delay);
          if (r.cpu !== null) (acc.cpu ??= []).push(r.cpu);
          acc.ms.push(r.ms);
          acc.connections.push(r.connections);
          acc.protocols.add(r.protocol);
        } catch (err) {
          // Counted and shown: a proxy that fails a load fails the benchmark, but the others are still measured.
          acc.failed = (acc.failed ?? 0) + 1;
          acc.error ??= err.message.split('\n')[0];
        }
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;

  const sinkWhy = {
    pty: 'a pseudo-terminal (script), as in a terminal',
    pipe: 'a pipe this script drains',
    null: '/dev/null',
    'slow-pty': `a pseudo-terminal read at ${TTY_RATE} bytes/s (a slow terminal)`,
  }[SINK];
  console.log(
    `\nPage load in headless Chromium: navigation start -> last module evaluated, median ms of ${ROUNDS} interleaved rounds (fresh browser context each load); ` +
      `node ${process.version}, ${os.cpus().length} cores shared by browser, proxies and app; dev-https ${BIN}, request log to ${sinkWhy}; ${seconds.toFixed(0)} s.\n`,
  );
  const hasCaddy = targets.some((t) => t.name === 'caddy');
  const ratioCols = hasCaddy ? targets.filter((t) => t.name.startsWith('dev-https')).map((t) => t.name) : [];
  console.log(`| case | ${targets.map((t) => t.label).join(' | ')} | ${ratioCols.map((n) => `${n}/Caddy`).join(' | ')} |`);
  console.log(`| --- | ${targets.map(() => '---:').join(' | ')} | ${ratioCols.map(() => '---:').join(' | ')} |`);
  const bad = [];
  for (const c of cases) {
    const med = (name) => median(c.results.get(name).ms);
    const cols = targets.map((t) => {
      const r = c.results.get(t.name);
      const seen = [...r.protocols];
      if (r.failed) bad.push(`${c.modules} x ${c.delay} ms, ${t.name}: ${r.failed} of ${ROUNDS} loads failed (first: ${r.error})`);
      if (seen.length > 1 || (seen.length === 1 && seen[0] !== `${t.expect}/${t.expect}`))
        bad.push(`${c.modules} x ${c.delay} ms, ${t.name}: protocols ${seen.join(', ')} (expected ${t.expect})`);
      return r.ms.length ? `${med(t.name).toFixed(0)}${r.failed ? ` (${r.failed} failed)` : ''}` : 'failed';
    });
    const ratios = ratioCols.map((n) => (Number.isFinite(med(n) / med('caddy')) ? `${(med(n) / med('caddy')).toFixed(2)}x` : '–'));
    console.log(`| ${c.modules} modules, ${c.delay} ms | ${cols.join(' | ')} | ${ratios.join(' | ')} |`);
  }
  if (BIN_B) {
    // The two builds side by side: this one over --bin-b's, per protocol.
    const pairs = [
      ['dev-https', 'dev-https-b', 'h2'],
      ['dev-https-h1', 'dev-https-h1-b', '--no-http2'],
    ].filter(([x, y]) => [x, y].every((n) => targets.some((t) => t.name === n)));
    if (pairs.length) console.log(`\nThis build / --bin-b's, median page load (${pairs.map((p) => p[2]).join(', ')})`);
    for (const c of cases) {
      const ratio = ([x, y]) => (median(c.results.get(x).ms) / median(c.results.get(y).ms)).toFixed(2) + 'x';
      if (pairs.length) console.log(`- ${c.modules} x ${c.delay} ms: ${pairs.map(ratio).join(', ')}`);
    }
  }
  console.log('\nEvery load: min–max ms, and [connections the app accepted per load, median]');
  for (const c of cases) {
    const each = targets
      .filter((t) => c.results.get(t.name).ms.length)
      .map((t) => {
        const r = c.results.get(t.name);
        return `${t.name} ${Math.min(...r.ms).toFixed(0)}–${Math.max(...r.ms).toFixed(0)} [${median(r.connections)}]`;
      });
    console.log(`- ${c.modules} x ${c.delay} ms: ${each.join(', ')}`);
  }
  console.log('\nCPU of the dev-https process per request (page and modules), µs, median of the loads (mean) [min–max]');
  for (const c of cases) {
    const each = targets
      .filter((t) => c.results.get(t.name).cpu?.length)
      .map((t) => {
        const cpu = c.results.get(t.name).cpu;
        return `${t.name} ${median(cpu).toFixed(0)} (mean ${(cpu.reduce((x, y) => x + y, 0) / cpu.length).toFixed(0)}) [${Math.min(...cpu).toFixed(0)}–${Math.max(...cpu).toFixed(0)}]`;
      });
    console.log(`- ${c.modules} x ${c.delay} ms: ${each.join(', ')}`);
  }
  if (WARMUP)
    console.log(
      `\nUnmeasured loads after start (${MODULES[0]} x ${DELAYS[0]} ms), in order: ms (CPU per request)\n` +
        targets.map((t) => `- ${t.name}: ${warm.get(t.name).join(', ')}`).join('\n'),
    );
  if (bad.length) {
    exitCode = 1;
    console.log('\nFAILED:\n' + bad.map((b) => `- ${b}`).join('\n'));
  }
  if (notes.length) console.log(notes.map((n) => `- ${n}`).join('\n'));
  const said = started.flatMap((d, i) =>
    [...d.lines, ...d.child.stderrText.split('\n')]
      .filter((l) => l.trim())
      .map((l) => `${dhVariants.filter((x) => WANT.includes(x.name))[i].name}: ${l.trim()}`),
  );
  printSaid(said);

  if (PROFILE_DIR) {
    // The measured processes are done: the profiled one has the machine to itself.
    for (const d of started) await stopChild(d.child);
    fs.mkdirSync(PROFILE_DIR, { recursive: true });
    const before = new Set(fs.readdirSync(PROFILE_DIR));
    const d = await startDevHttpsBin({
      bin: BIN,
      appPort,
      certDir,
      caRoot,
      sink: SINK,
      ttyRate: TTY_RATE,
      cwd: tmp,
      nodeArgs: ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', PROFILE_DIR],
    });
    const t = { name: 'dev-https (profiled)', origin: `https://localhost:${d.port}`, expect: 'h2' };
    const { modules, delay } = { modules: MODULES[0], delay: DELAYS[0] };
    const ms = [];
    for (let i = 0; i < PROFILE_LOADS; i++) ms.push((await load(t, modules, delay)).ms);
    await stopChild(d.child);
    const file = fs.readdirSync(PROFILE_DIR).find((f) => f.endsWith('.cpuprofile') && !before.has(f));
    if (!file) throw new Error(`no .cpuprofile in ${PROFILE_DIR}: did dev-https exit cleanly on SIGTERM?`);
    console.log(
      `\nCPU profile: ${PROFILE_LOADS} loads of ${modules} modules x ${delay} ms through dev-https h2, log on (median ${median(ms).toFixed(0)} ms under the profiler): ${path.join(PROFILE_DIR, file)}`,
    );
    const { summarise } = await import('./profile-summary.mjs');
    console.log(summarise(JSON.parse(fs.readFileSync(path.join(PROFILE_DIR, file), 'utf8'))));
  }
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await browser?.close().catch(() => undefined);
  await stopAll();
  app.closeAllConnections?.();
  await new Promise((resolve) => app.close(() => resolve()));
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exitCode = exitCode;
