// Warm start: wall time from spawning the proxy (certificate already cached) to the first HTTPS
// response through it, for the dev-https bin (HTTP/2 and --no-http2) and for a bare node:https
// proxy written here, the least a Node proxy can do. `node -e 0` is printed for reference.
// Run: `npm run build && node bench/start.mjs [--rounds 10]`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { silentLogger, startDevHttps } from '../dist/index.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  const n = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(n) || n < 1) throw new Error(`Invalid --${name} "${args[i + 1]}": expected a whole number from 1`);
  return n;
};
const ROUNDS = opt('rounds', 10);
const POLL_MS = 5;
// A start that takes longer than this is a failure, not a data point.
const START_TIMEOUT_MS = 15_000;
const here = path.dirname(new URL(import.meta.url).pathname);
const BIN = path.join(here, '../bin/dev-https.js');
const BODY = 'hello from the app\n';

// The least a Node proxy can do (bench/bare-proxy.mjs), the baseline of the start target.
const BARE_PROXY = path.join(here, 'bare-proxy.mjs');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port free on both loopback addresses (dev-https binds both for localhost), released again. */
async function freePort() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const v4 = net.createServer();
    const port = await new Promise((resolve, reject) => v4.once('error', reject).listen(0, '127.0.0.1', () => resolve(v4.address().port)));
    const v6 = net.createServer();
    const ok = await new Promise((resolve) => v6.once('error', () => resolve(false)).listen(port, '::1', () => resolve(true)));
    await new Promise((resolve) => v4.close(resolve));
    if (ok) await new Promise((resolve) => v6.close(resolve));
    if (ok) return port;
  }
  throw new Error('no port free on both 127.0.0.1 and ::1');
}

/** One HTTPS GET that trusts only the proxy's certificate; resolves true on the app's answer. */
function tryOnce(port, ca) {
  return new Promise((resolve) => {
    const req = https.get(
      { host: '127.0.0.1', servername: 'localhost', port, path: '/', headers: { host: `localhost:${port}` }, ca, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 && body === BODY));
        res.on('error', () => resolve(false));
      },
    );
    req.on('error', () => resolve(false));
  });
}

const children = new Set();
function startChild(argv, cwd) {
  const child = spawn(process.execPath, argv, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => children.delete(child));
  return { child, exited, stderr: () => stderr };
}

async function stopChild({ child, exited }) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-https-start-'));
const certDir = path.join(tmp, 'certs');
// A CA of the benchmark's own (the spawned proxies inherit it): the user's is left alone.
process.env.DEV_HTTPS_CAROOT = path.join(tmp, 'ca');
const app = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(BODY) });
  res.end(BODY);
});
let exitCode = 0;
try {
  await new Promise((resolve, reject) => app.once('error', reject).listen(0, '127.0.0.1', resolve));
  const appPort = app.address().port;
  // The certificate is made once, here, so every timed start finds it cached.
  const warm = await startDevHttps({ target: appPort, port: 0, certDir, logger: silentLogger });
  const ca = warm.certificate.ca.cert;
  await warm.close();

  const variants = [
    { name: 'dev-https', argv: (p) => [BIN, '--target', String(appPort), '--port', String(p), '--cert-dir', certDir, '--quiet'] },
    {
      name: 'dev-https --no-http2',
      argv: (p) => [BIN, '--target', String(appPort), '--port', String(p), '--cert-dir', certDir, '--quiet', '--no-http2'],
    },
    { name: 'bare node:https', argv: (p) => [BARE_PROXY, String(p), String(appPort), certDir] },
  ];

  /** ms from spawn to the first good response through the proxy. */
  async function measure(variant) {
    const port = await freePort();
    const t0 = performance.now();
    const proc = startChild(variant.argv(port), tmp);
    try {
      const deadline = t0 + START_TIMEOUT_MS;
      while (performance.now() < deadline) {
        if (await tryOnce(port, ca)) return performance.now() - t0;
        if (proc.child.exitCode !== null || proc.child.signalCode !== null) break;
        await sleep(POLL_MS);
      }
      throw new Error(`${variant.name} gave no response within ${START_TIMEOUT_MS} ms (exit ${proc.child.exitCode}): ${proc.stderr()}`);
    } finally {
      // Each start runs alone: the previous one is gone before the next spawn.
      await stopChild(proc);
    }
  }

  async function nodeNoop() {
    const t0 = performance.now();
    const proc = startChild(['-e', '0'], tmp);
    await proc.exited;
    return performance.now() - t0;
  }

  // One unmeasured start each: the first spawn pays for cold file caches.
  for (const v of variants) await measure(v);
  await nodeNoop();

  const results = new Map([...variants.map((v) => [v.name, []]), ['node -e 0', []]]);
  const all = [...variants.map((v) => ({ name: v.name, run: () => measure(v) })), { name: 'node -e 0', run: nodeNoop }];
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved, and the order rotates so no variant always goes first.
    for (let k = 0; k < all.length; k++) {
      const v = all[(round + k) % all.length];
      results.get(v.name).push(await v.run());
    }
  }

  console.log(
    `warm start (certificate cached) -> first HTTPS response through the proxy, ${ROUNDS} rounds, poll every ${POLL_MS} ms, node ${process.version}, ${os.cpus().length} cores`,
  );
  console.log(['variant'.padEnd(22), 'median ms'.padStart(9), 'min'.padStart(7), 'max'.padStart(7), 'vs bare'.padStart(8)].join(' '));
  const bare = median(results.get('bare node:https'));
  for (const [name, xs] of results) {
    const ratio = name.startsWith('dev-https') ? `${(median(xs) / bare).toFixed(2)}x` : '';
    console.log(
      [
        name.padEnd(22),
        median(xs).toFixed(1).padStart(9),
        Math.min(...xs)
          .toFixed(1)
          .padStart(7),
        Math.max(...xs)
          .toFixed(1)
          .padStart(7),
        ratio.padStart(8),
      ].join(' '),
    );
  }
  console.log('target: dev-https / bare <= 1.5x');
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  await Promise.all(
    [...children].map((c) =>
      stopChild({ child: c, exited: new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', r))) }),
    ),
  );
  app.closeAllConnections?.();
  await new Promise((resolve) => app.close(() => resolve()));
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exitCode = exitCode;
