// Page load in a real headless Chromium: a page of 300 ES modules, each answered by the app after
// ~5 ms (as a dev server compiling on demand), straight from the app over plain HTTP and through
// dev-https with HTTP/2 and with HTTP/1.1 only. Browsers open at most 6 HTTP/1.1 connections per
// host, so HTTP/1.1 queues the modules; HTTP/2 asks for all of them at once on one connection.
// Run: `npm run build && node bench/page-load.mjs [--rounds 5] [--modules 300] [--delay 5]`.
import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { silentLogger, startDevHttps } from '../dist/index.js';

const CHROMIUM = '/usr/bin/chromium';
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  const n = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(n) || n < 0) throw new Error(`Invalid --${name} "${args[i + 1]}": expected a whole number`);
  return n;
};
const ROUNDS = Math.max(1, opt('rounds', 5));
const MODULES = Math.max(1, opt('modules', 300));
const DELAY_MS = opt('delay', 5);
// One page load must never hang the run.
const LOAD_TIMEOUT_MS = 60_000;

// The page's inline module imports every module statically: the browser fetches them all in
// parallel, evaluates them (each bumps window.__n), then runs the inline body, which notes the
// time since navigation start (performance.now() counts from the navigation's time origin).
// The classic script first lifts the resource-timing buffer (250 entries by default) so every
// module's protocol can be checked.
const page = `<!doctype html><html><head><meta charset="utf-8"><title>${MODULES} modules</title>
<script>performance.setResourceTimingBufferSize(${MODULES + 50});</script>
<script type="module">
${Array.from({ length: MODULES }, (_, i) => `import '/m/${i}.js';`).join('\n')}
window.__done = { n: window.__n, ms: performance.now() };
</script></head><body><p>${MODULES} modules</p></body></html>`;

const app = http.createServer((req, res) => {
  const send = (status, type, body) => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  };
  const m = /^\/m\/(\d+)\.js$/.exec(req.url ?? '');
  if (req.url === '/') send(200, 'text/html; charset=utf-8', page);
  else if (m && Number(m[1]) < MODULES) {
    setTimeout(() => send(200, 'text/javascript', `window.__n = (window.__n || 0) + 1; export const id = ${m[1]};\n`), DELAY_MS);
  } else send(404, 'text/plain', 'not found\n');
});

/** The base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as --ignore-certificate-errors-spki-list wants it. */
function spkiHash(certPem) {
  const der = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-https-page-load-'));
// A CA of the benchmark's own: the user's is left alone.
process.env.DEV_HTTPS_CAROOT = path.join(certDir, 'ca');
const handles = [];
let browser = null;
let exitCode = 0;
try {
  await new Promise((resolve, reject) => app.once('error', reject).listen(0, '127.0.0.1', resolve));
  const appPort = app.address().port;
  // One cert dir for both: the first start generates the certificate, the second reuses it, so a
  // single pin covers both proxies.
  const h2 = await startDevHttps({ target: appPort, port: 0, certDir, http2: true, logger: silentLogger });
  handles.push(h2);
  const h1 = await startDevHttps({ target: appPort, port: 0, certDir, http2: false, logger: silentLogger });
  handles.push(h1);
  if (h1.certificate.generated || h1.certificate.cert !== h2.certificate.cert) throw new Error('the second proxy did not reuse the first one\'s certificate');

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
      // Trusts exactly this key, as a user accepting the certificate would.
      `--ignore-certificate-errors-spki-list=${spkiHash(h2.certificate.cert)}`,
    ],
  });

  const targets = [
    { name: 'direct http', url: `http://127.0.0.1:${appPort}/`, expect: 'http/1.1' },
    { name: 'dev-https h2', url: h2.urls.https, expect: 'h2' },
    { name: 'dev-https h1', url: h1.urls.https, expect: 'http/1.1' },
  ];

  /** One cold load in a fresh context (no cache, no pooled connection): ms until every module ran. */
  async function load(target) {
    const context = await browser.newContext();
    try {
      const p = await context.newPage();
      const wallStart = performance.now();
      const response = await p.goto(target.url, { timeout: LOAD_TIMEOUT_MS });
      if (response?.status() !== 200) throw new Error(`${target.name}: ${target.url} answered ${response?.status()}`);
      await p.waitForFunction(() => window.__done !== undefined, undefined, { timeout: LOAD_TIMEOUT_MS, polling: 10 });
      const wall = performance.now() - wallStart;
      const result = await p.evaluate(() => ({
        done: window.__done,
        nav: performance.getEntriesByType('navigation')[0].nextHopProtocol,
        modules: [...new Set(performance.getEntriesByType('resource').filter((e) => /\/m\/\d+\.js$/.test(e.name)).map((e) => e.nextHopProtocol))],
        count: performance.getEntriesByType('resource').filter((e) => /\/m\/\d+\.js$/.test(e.name)).length,
      }));
      if (result.done.n !== MODULES) throw new Error(`${target.name}: ${result.done.n} of ${MODULES} modules ran`);
      if (result.count !== MODULES) throw new Error(`${target.name}: ${result.count} of ${MODULES} modules fetched`);
      return { ms: result.done.ms, wall, nav: result.nav, modules: result.modules };
    } finally {
      await context.close();
    }
  }

  // One unmeasured load each: Chromium's and Node's first-use costs are not the proxy's.
  for (const t of targets) await load(t);
  const results = new Map(targets.map((t) => [t.name, { ms: [], wall: [], protocols: new Set() }]));
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved, and the order rotates so no target always goes first.
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(round + k) % targets.length];
      const r = await load(t);
      const acc = results.get(t.name);
      acc.ms.push(r.ms);
      acc.wall.push(r.wall);
      acc.protocols.add(`${r.nav}/${r.modules.join('+')}`);
    }
  }

  console.log(`${MODULES} ES modules, ${DELAY_MS} ms app delay each, ${ROUNDS} rounds (fresh browser context each), headless Chromium, ${os.cpus().length} cores shared by browser, proxies and app`);
  console.log('time = navigation start -> last module evaluated (performance.now() in the page); wall = page.goto + wait, from Node');
  console.log(['target'.padEnd(14), 'protocol'.padEnd(9), 'check'.padEnd(5), 'median ms'.padStart(9), 'min'.padStart(7), 'max'.padStart(7), 'wall med'.padStart(9)].join(' '));
  for (const t of targets) {
    const r = results.get(t.name);
    // Page and every module over the protocol this target must use.
    const seen = [...r.protocols];
    const ok = seen.length === 1 && seen[0] === `${t.expect}/${t.expect}`;
    if (!ok) exitCode = 1;
    console.log(
      [
        t.name.padEnd(14),
        (ok ? t.expect : seen.join(',')).padEnd(9),
        (ok ? 'ok' : 'FAIL').padEnd(5),
        median(r.ms).toFixed(1).padStart(9),
        Math.min(...r.ms).toFixed(1).padStart(7),
        Math.max(...r.ms).toFixed(1).padStart(7),
        median(r.wall).toFixed(1).padStart(9),
      ].join(' '),
    );
  }
  const m = (name) => median(results.get(name).ms);
  console.log(`ratio h1/h2 (medians): ${(m('dev-https h1') / m('dev-https h2')).toFixed(2)}x; h2 vs direct http: ${(m('dev-https h2') / m('direct http')).toFixed(2)}x`);
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await browser?.close().catch(() => undefined);
  await Promise.all(handles.map((h) => h.close()));
  app.closeAllConnections?.();
  await new Promise((resolve) => app.close(() => resolve()));
  fs.rmSync(certDir, { recursive: true, force: true });
}
process.exitCode = exitCode;
