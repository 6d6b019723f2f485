// CPU per proxied HTTP/2 request of the dev-https process (issue 18): bursts of concurrent GETs,
// each on a new HTTP/2 connection as a fresh browser context opens, to an app that answers after
// D ms; the dev-https bin's utime+stime (/proc/<pid>/stat) over each batch, divided by the
// requests. Several bins (`--bins A,B`) are measured in interleaved rounds in one run.
// Run: `node bench/h2-cpu.mjs [--bins PATH,PATH] [--rounds 6] [--bursts 10] [--streams 300]
//   [--delay 5] [--log-sink pty|pipe|null] [--body 60]`.
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_BIN, argsOf, cpuMicros, median, startDevHttpsBin, stopAll, stopChild } from './procs.mjs';

const a = argsOf(process.argv.slice(2));
const BINS = a
  .str('bins', DEFAULT_BIN)
  .split(',')
  .map((b) => path.resolve(b));
const ROUNDS = a.int('rounds', 6, 1);
const BURSTS = a.int('bursts', 10, 1);
const STREAMS = a.int('streams', 300, 1);
const DELAY = a.int('delay', 5, 0);
const BODY = a.int('body', 60, 0);
const SINK = a.str('log-sink', 'pty');
// With --cpu-prof DIR every bin runs under `node --cpu-prof` and its profile is summarised.
const PROFILE_DIR = a.str('cpu-prof', '');
if (PROFILE_DIR) fs.mkdirSync(PROFILE_DIR, { recursive: true });
// With --trace-gc the bins run under `node --trace-gc` (log sink pipe): GC pauses per request are printed too.
const TRACE_GC = a.has('trace-gc');

const body = `${'x'.repeat(Math.max(0, BODY - 1))}\n`;
const app = http.createServer((req, res) => {
  req.resume();
  setTimeout(() => {
    res.writeHead(200, { 'content-type': 'text/javascript', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  }, DELAY);
});

/** One burst: a new connection, STREAMS concurrent GETs, each body read whole. */
function burst(port, ca, latencies) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://localhost:${port}`, { ca });
    const t0 = performance.now();
    session.on('error', reject);
    let left = STREAMS;
    for (let i = 0; i < STREAMS; i++) {
      const s = session.request({ ':path': `/m/${i}.js`, accept: '*/*', 'user-agent': 'h2-cpu' });
      s.on('response', (h) => {
        if (h[':status'] !== 200) reject(new Error(`status ${h[':status']}`));
      });
      s.on('error', reject);
      s.resume();
      s.on('end', () => {
        latencies?.push(performance.now() - t0);
        if (--left === 0) session.close(resolve);
      });
    }
  });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-https-h2-cpu-'));
try {
  await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
  const appPort = app.address().port;
  const certDir = path.join(tmp, 'certs');
  const caRoot = path.join(tmp, 'ca');
  const procs = [];
  for (const bin of BINS) {
    const nodeArgs = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', path.resolve(PROFILE_DIR)] : [];
    if (TRACE_GC) nodeArgs.push('--trace-gc');
    // Extra node flags for every bin (`--node-args "--max-semi-space-size=64"`).
    nodeArgs.push(...a.str('node-args', '').split(' ').filter(Boolean));
    const d = await startDevHttpsBin({ bin, appPort, certDir, caRoot, sink: TRACE_GC ? 'pipe' : SINK, cwd: tmp, nodeArgs });
    const p = { bin, d, pid: d.child.innerPid ?? d.child.pid, us: [], p50: [], last: [], gc: { scavenge: 0, major: 0, ms: 0 }, gcUs: [] };
    if (TRACE_GC) {
      // `[pid:addr]   123 ms: Scavenge 10.1 (12.0) -> 9.0 (12.0) MB, 0.52 / 0.00 ms ...`
      d.child.stdout.on('data', (chunk) => {
        for (const m of String(chunk).matchAll(/ms: (Scavenge|Mark-Compact|Mark-sweep)[^,]*, ([\d.]+) \/ ([\d.]+) ms/g)) {
          if (m[1] === 'Scavenge') p.gc.scavenge++;
          else p.gc.major++;
          p.gc.ms += Number(m[2]);
        }
      });
    }
    procs.push(p);
  }
  // Warm-up: the JIT and the pool.
  for (const p of procs) for (let i = 0; i < 3; i++) await burst(p.d.port, p.d.ca);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < procs.length; k++) {
      const p = procs[(round + k) % procs.length];
      const before = cpuMicros(p.pid);
      const gcBefore = p.gc.ms;
      for (let i = 0; i < BURSTS; i++) {
        const lat = [];
        await burst(p.d.port, p.d.ca, lat);
        p.p50.push(median(lat));
        p.last.push(Math.max(...lat));
      }
      p.us.push((cpuMicros(p.pid) - before) / (BURSTS * STREAMS));
      p.gcUs.push(((p.gc.ms - gcBefore) * 1000) / (BURSTS * STREAMS));
    }
  }
  console.log(
    `CPU µs per proxied HTTP/2 request of the dev-https process: ${ROUNDS} interleaved rounds of ${BURSTS} bursts x ${STREAMS} streams (new connection per burst), app delay ${DELAY} ms, log to ${TRACE_GC ? 'pipe' : SINK}; node ${process.version}`,
  );
  const base = median(procs[0].us);
  for (const p of procs) {
    const m = median(p.us);
    console.log(
      `  ${p.bin}: median ${m.toFixed(0)} µs/req (rounds ${p.us.map((u) => u.toFixed(0)).join(', ')}), ratio to the first ${(m / base).toFixed(3)}x`,
    );
    console.log(
      `    per burst, median: half the streams answered after ${median(p.p50).toFixed(1)} ms, the last after ${median(p.last).toFixed(1)} ms`,
    );
    if (TRACE_GC)
      console.log(
        `    GC pauses ${median(p.gcUs).toFixed(1)} µs/req median (rounds ${p.gcUs.map((u) => u.toFixed(1)).join(', ')}); ${p.gc.scavenge} scavenges, ${p.gc.major} mark-compacts in all`,
      );
  }
  // A notice (the stall watch switching to a connection per request) changes what is measured.
  for (const p of procs) for (const l of p.d.lines.filter((x) => !/^\[\d+:0x/.test(x))) console.log(`  ${p.bin} said: ${l}`);
  if (PROFILE_DIR) {
    const { summarise } = await import('./profile-summary.mjs');
    for (const p of procs) {
      const before = new Set(fs.readdirSync(PROFILE_DIR));
      await stopChild(p.d.child);
      const file = fs.readdirSync(PROFILE_DIR).find((f) => f.endsWith('.cpuprofile') && !before.has(f));
      console.log(`\nCPU profile of ${p.bin}: ${file}`);
      if (file) console.log(summarise(JSON.parse(fs.readFileSync(path.join(PROFILE_DIR, file), 'utf8')), { top: 40 }));
    }
  }
} finally {
  await stopAll();
  app.closeAllConnections?.();
  app.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
