// What the inspector costs: keep-alive requests per second (wrk, 32 connections), the latency of one
// request at a time over a reused connection (wrk, 1 connection) and CPU per request, through
// dev-https with the inspector off, on with no page open (the default: requests are recorded), and on
// with a page open (an /events stream reading every batch). Interleaved rounds, medians.
// Run: `npm run build && node bench/inspector.mjs [--rounds 3] [--secs 5]`.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { argsOf, cpuMicros, freePort, has, median, sleep, startChild, stopAll, stopChild, waitPort } from './procs.mjs';

const args = argsOf(process.argv.slice(2));
const ROUNDS = args.int('rounds', 3, 1);
const SECS = args.int('secs', 5, 1);
const here = path.dirname(new URL(import.meta.url).pathname);
const DIST = path.join(here, '../dist/index.js');
if (!has('wrk')) throw new Error('wrk is not installed: run ../shared/bench/setup.sh');
const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dh-bench-inspector-'));

const upstreamPort = await freePort();
startChild(process.execPath, [
  '-e',
  `require('http').createServer((q, r) => { r.writeHead(200, {'content-type': 'text/plain', 'content-length': 12}); r.end('hello world\\n'); }).listen(${upstreamPort}, '127.0.0.1')`,
]);
await waitPort(upstreamPort);

const MODES = ['off', 'on', 'page open'];

/** dev-https as the CLI starts it, with the inspector on or off, on a free port. */
async function startProxy(inspect) {
  const port = await freePort();
  const code = `import { startDevHttps, createLogger } from ${JSON.stringify(DIST)};
await startDevHttps({ target: ${upstreamPort}, port: ${port}, certDir: ${JSON.stringify(certDir)}, inspect: ${inspect}, logger: createLogger({ quiet: true }) });`;
  const child = startChild(process.execPath, ['--input-type=module', '-e', code]);
  await waitPort(port);
  return { child, port };
}

/** The page itself, for its token (the event stream needs it). */
function pageToken(port) {
  return new Promise((resolve, reject) => {
    const headers = { host: `dev-https.localhost:${port}` };
    https
      .get({ host: '127.0.0.1', port, path: '/', servername: 'dev-https.localhost', headers, rejectUnauthorized: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(/<meta name="dev-https-token" content="([^"]+)"/.exec(body)[1]));
      })
      .on('error', reject);
  });
}

/** An open inspector page, as far as dev-https can tell: an /events stream that reads every batch. */
async function openPage(port) {
  const token = await pageToken(port);
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'dev-https.localhost',
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
  });
  let bytes = 0;
  socket.on('data', (c) => (bytes += c.length));
  socket.on('error', () => undefined);
  socket.write(`GET /events?token=${token} HTTP/1.1\r\nHost: dev-https.localhost:${port}\r\nAccept: text/event-stream\r\n\r\n`);
  return { close: () => socket.destroy(), bytes: () => bytes };
}

// Asynchronous: the open page's stream is read by this process meanwhile.
async function wrk(port, connections) {
  const { stdout: out } = await promisify(execFile)('wrk', [
    '-t1',
    `-c${connections}`,
    `-d${SECS}s`,
    '--latency',
    `https://127.0.0.1:${port}/`,
  ]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const requests = Number(/(\d+) requests in/.exec(out)[1]);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p50us = Number(p50[1]) * (p50[2] === 'us' ? 1 : p50[2] === 'ms' ? 1000 : 1e6);
  return { rps, requests, p50us };
}

const results = Object.fromEntries(MODES.map((m) => [m, { rps: [], cpu: [], p50: [], streamed: [] }]));
for (let round = 1; round <= ROUNDS; round++) {
  for (const mode of MODES) {
    const { child, port } = await startProxy(mode !== 'off');
    await wrk(port, 8); // warm up: JIT, TLS sessions, the pool
    const page = mode === 'page open' ? await openPage(port) : null;
    await sleep(200);
    const before = cpuMicros(child.pid);
    const loaded = await wrk(port, 32);
    const cpu = (cpuMicros(child.pid) - before) / loaded.requests;
    const single = await wrk(port, 1);
    results[mode].rps.push(loaded.rps);
    results[mode].cpu.push(cpu);
    results[mode].p50.push(single.p50us);
    if (page) {
      results[mode].streamed.push(page.bytes());
      page.close();
    }
    await stopChild(child);
    process.stdout.write(
      `round ${round} ${mode}: ${Math.round(loaded.rps)} req/s, ${cpu.toFixed(0)} µs CPU/req, one at a time p50 ${single.p50us} µs\n`,
    );
  }
}

const base = median(results.off.rps);
console.log('\n| inspector | req/s keep-alive (32 conns) | vs off | CPU µs/req | one at a time p50 µs |');
console.log('|---|---|---|---|---|');
for (const mode of MODES) {
  const r = results[mode];
  console.log(
    `| ${mode} | ${Math.round(median(r.rps))} | ${(median(r.rps) / base).toFixed(2)}x | ${median(r.cpu).toFixed(0)} | ${median(r.p50).toFixed(0)} |`,
  );
}
if (results['page open'].streamed.length)
  console.log(`\nThe open page received ${Math.round(median(results['page open'].streamed) / 1024)} KiB per round.`);
await stopAll();
fs.rmSync(certDir, { recursive: true, force: true });
