// A quick benchmark a contributor can run (`npm run bench`, after `npm run build`): requests per
// second and latency straight to a plain-HTTP app and through dev-https, with a Node keep-alive
// client, then the shared side-by-side comparison with Caddy, nginx and local-ssl-proxy when
// ../shared/bench is set up (see README "Performance"). `--ceiling` also runs that comparison with
// bench/bare-proxy.mjs in dev-https' place, to show what Node's own TLS and HTTP code allow.
// Then the latency benchmark by response shape (bench/latency.mjs, about 2 minutes) and the page
// load in headless Chromium (bench/page-load.mjs, 10 unmeasured loads then 3 rounds, about 4 minutes).
// `--only rps,shared,latency,page-load` picks parts (`--no-shared` still works); `--devhttps-bin
// PATH` measures another build of the bin; `--latency-args "..."` and `--page-load-args "..."`
// pass options on (e.g. `--page-load-args "--modules 300 --delay 5"`).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SECONDS = opt('secs', 3);
const CONNS = opt('conns', 32);
const here = path.dirname(new URL(import.meta.url).pathname);
const str = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const PARTS = ['rps', 'shared', 'latency', 'page-load'];
const only = str('only', PARTS.join(',')).split(',');
for (const p of only)
  if (!PARTS.includes(p)) throw new Error(`Invalid --only "${p}": expected a comma-separated list of ${PARTS.join(', ')}`);
const part = (name) => only.includes(name) && !args.includes(`--no-${name}`);
const BIN = path.resolve(str('devhttps-bin', path.join(here, '../bin/dev-https.js')));
// Each later part is bounded: a hung run is stopped.
const PART_LIMIT_MS = 20 * 60_000;
const runPart = (script, extra) => {
  const r = spawnSync(process.execPath, [path.join(here, script), '--devhttps-bin', BIN, ...extra], {
    stdio: 'inherit',
    timeout: PART_LIMIT_MS,
    killSignal: 'SIGTERM',
  });
  if (r.status !== 0) process.exitCode = 1;
};
const splitArgs = (text) => (text ? text.split(/\s+/).filter(Boolean) : []);

if (part('rps')) {
  const app = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 12 });
    res.end('hello world\n');
  });
  await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
  const appPort = app.address().port;

  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-https-bench-'));
  // A CA of the benchmark's own: the user's is left alone.
  process.env.DEV_HTTPS_CAROOT = path.join(certDir, 'ca');
  const child = spawn(process.execPath, [BIN, '--target', String(appPort), '--port', '0', '--cert-dir', certDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const m = /➜  Local:   (https:\/\/localhost:\d+\/)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error('dev-https exited: ' + out)));
  });
  const ca = fs.readFileSync(path.join(certDir, 'ca', 'rootCA.pem'), 'utf8');

  async function load(target, mod, agentOptions) {
    const agent = new mod.Agent({ keepAlive: true, maxSockets: CONNS, ...agentOptions });
    const latencies = [];
    let count = 0;
    const end = Date.now() + SECONDS * 1000;
    const worker = async () => {
      while (Date.now() < end) {
        const t0 = process.hrtime.bigint();
        await new Promise((resolve, reject) => {
          mod
            .get(target, { agent }, (res) => {
              res.resume();
              res.on('end', resolve);
            })
            .on('error', reject);
        });
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        count++;
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: CONNS }, worker));
    agent.destroy();
    latencies.sort((a, b) => a - b);
    return {
      rps: count / ((Date.now() - started) / 1000),
      p50: latencies[Math.floor(latencies.length / 2)],
      p99: latencies[Math.floor(latencies.length * 0.99)],
    };
  }

  const rows = [
    ['direct http', await load(`http://127.0.0.1:${appPort}/`, http, {})],
    ['dev-https', await load(url, https, { ca })],
  ];
  console.log(`${SECONDS}s, ${CONNS} keep-alive connections, Node client (client and servers share ${os.cpus().length} cores)`);
  console.log('target'.padEnd(14), 'req/s'.padStart(9), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8));
  for (const [name, r] of rows)
    console.log(name.padEnd(14), r.rps.toFixed(0).padStart(9), r.p50.toFixed(2).padStart(8), r.p99.toFixed(2).padStart(8));

  child.kill('SIGTERM');
  app.close();
  fs.rmSync(certDir, { recursive: true, force: true });
}

// The side-by-side comparison with the reference proxies (Caddy, nginx, local-ssl-proxy), when
// the shared benchmark and its setup are present on this machine.
const shared = path.join(here, '../../shared/bench/proxies.mjs');
const anchors = process.env.ANCHORS_DIR || path.join(os.tmpdir(), 'dev-https-anchors');
if (!part('shared')) {
  // not asked for
} else if (fs.existsSync(shared) && fs.existsSync(path.join(anchors, 'ec.crt'))) {
  const sharedCerts = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-https-bench-'));
  process.env.DEV_HTTPS_CAROOT = path.join(sharedCerts, 'ca');
  console.log(`\nshared benchmark (${shared}):`);
  spawnSync(
    process.execPath,
    [shared, '--devhttps', `${process.execPath} ${BIN} --target 3000 --port 9004 --cert-dir ${sharedCerts} --quiet`],
    { stdio: 'inherit' },
  );
  if (args.includes('--ceiling')) {
    // The same benchmark with bench/bare-proxy.mjs in dev-https' row: what Node itself allows.
    spawnSync(process.execPath, [BIN, 'cert', '--cert-dir', sharedCerts, '--json'], { stdio: 'ignore' });
    console.log('\nthe Node ceiling: bench/bare-proxy.mjs in the dev-https row, Caddy alongside:');
    spawnSync(
      process.execPath,
      [
        shared,
        '--only',
        'caddy,dev-https',
        '--devhttps',
        `${process.execPath} ${path.join(here, 'bare-proxy.mjs')} 9004 3000 ${sharedCerts}`,
      ],
      { stdio: 'inherit' },
    );
  }
  fs.rmSync(sharedCerts, { recursive: true, force: true });
} else {
  console.log('\nfor the comparison with Caddy, nginx and local-ssl-proxy: bash ../shared/bench/setup.sh, then npm run bench again');
}

if (part('latency')) {
  console.log('\nlatency by response shape (bench/latency.mjs):');
  runPart('latency.mjs', splitArgs(str('latency-args', '')));
}
if (part('page-load')) {
  console.log('\npage load in headless Chromium (bench/page-load.mjs):');
  const extra = splitArgs(str('page-load-args', ''));
  runPart('page-load.mjs', extra.includes('--rounds') ? extra : ['--rounds', '3', ...extra]);
}
