// Shared test tools: temp dirs, real upstream apps on ephemeral ports, real HTTP(S) requests.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from '../src/logger.js';
import type { DevHttpsOptions } from '../src/options.js';
import { startDevHttps, type DevHttpsHandle } from '../src/server/server.js';

const cleanups: Array<() => Promise<void> | void> = [];

/** Registers something to undo in afterEach (see runCleanups). */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

export async function runCleanups(): Promise<void> {
  while (cleanups.length) await cleanups.pop()!();
}

export async function tempDir(prefix = 'dev-https-test-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  onCleanup(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface CapturingLogger extends Logger {
  lines: string[];
  text(): string;
}

/** A logger that records `info: ...`, `warn: ...` and `error: ...` lines. */
export function captureLogger(): CapturingLogger {
  const lines: string[] = [];
  return {
    lines,
    text: () => lines.join('\n'),
    info: (m) => lines.push(`info: ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
  };
}

export interface Upstream {
  server: http.Server;
  port: number;
  /** TCP connections the app has accepted so far. */
  connections: () => number;
  close: () => Promise<void>;
}

/** A real plain-HTTP app on an ephemeral port (or `port`), closed in afterEach. */
export async function startUpstream(handler: http.RequestListener, host = '127.0.0.1', port = 0): Promise<Upstream> {
  const server = http.createServer(handler);
  let connections = 0;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ipv6Only: host === '::1' }, () => resolve());
  });
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  onCleanup(close);
  return { server, port: (server.address() as net.AddressInfo).port, connections: () => connections, close };
}

/** An app that answers every request with JSON of what it received. */
export function echoHandler(): http.RequestListener {
  return (req, res) => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  /** PEM to trust (the generated certificate): proves the SANs, verification stays on. */
  ca?: string;
  agent?: http.Agent | false;
  /** Connect to this address instead of resolving the URL's host (the Host header stays). */
  lookupAddress?: string;
}

/** A dns.lookup stand-in that always answers `address` (Node asks with { all: true }). */
function fixedLookup(address: string) {
  const family = address.includes(':') ? 6 : 4;
  return (_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) =>
    opts.all ? cb(null, [{ address, family }]) : cb(null, address, family);
}

/** One real request over HTTP or HTTPS; resolves with the whole body. */
export function request(url: string, options: RequestOptions = {}): Promise<Reply> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        ca: options.ca,
        agent: options.agent ?? false,
        ...(options.lookupAddress ? { lookup: fixedLookup(options.lookupAddress) } : {}),
      } as https.RequestOptions,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A real HTTPS server of `pair` on `host` (port 0) answering "tls ok", closed in afterEach; resolves with its port. */
export async function serveTls(pair: { cert: string; key: string }, host: string): Promise<number> {
  const server = https.createServer({ cert: pair.cert, key: pair.key }, (_req, res) => res.end('tls ok'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host, ipv6Only: host === '::1' }, () => resolve());
  });
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

/** GET / over TLS to `address` (an IP), verifying the certificate for `servername` against `ca`; resolves with "<status> <body>". */
export function tlsGet(address: string, port: number, servername: string, ca: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: address, port, path: '/', servername, ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** One GET of / on an open HTTP/2 session: its status and body. */
export function h2get(session: http2.ClientHttp2Session): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/' });
    let status = 0;
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (c: string) => (body += c));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
    stream.end();
  });
}

/** A port that nothing listens on right now (bound then released). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export const BIN = path.resolve(import.meta.dirname, '../bin/dev-https.js');

/**
 * The real bin as a user runs it, killed in afterEach if still running. PORT, FORCE_COLOR and
 * DEV_HTTPS_* (but the run's DEV_HTTPS_CAROOT) come only from `env`, so the machine's own do not leak in.
 */
export function run(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; wrapper?: string[]; installedBin?: string }): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  // The run's CA root stays (test/global-setup.ts): a bin must never create the user's real CA.
  for (const name of Object.keys(env))
    if (name === 'PORT' || name === 'FORCE_COLOR' || (name.startsWith('DEV_HTTPS_') && name !== 'DEV_HTTPS_CAROOT')) delete env[name];
  Object.assign(env, options.env);
  // `wrapper` runs it through another command first, e.g. setpriv to drop privileges;
  // `installedBin` is the bin of a package installed elsewhere, run as npm links it.
  const [command, ...rest] = [
    ...(options.wrapper ?? []),
    ...(options.installedBin ? [options.installedBin] : [process.execPath, BIN]),
    ...args,
  ];
  const child = spawn(command!, rest, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  // Decoded as a stream: a "➜" split across two chunks stays whole.
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Resolves with the first stdout match of `re`, or rejects with what the process printed. */
export function waitFor(r: Run, re: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(r.stdout());
      if (m) {
        r.child.stdout!.off('data', check);
        resolve(m);
      }
    };
    r.child.stdout!.on('data', check);
    void r.exited.then(() => reject(new Error(`exited before ${re}: ${r.stdout()} ${r.stderr()}`)));
    check();
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `fn` every 50 ms, at most `tries` times; resolves with its first truthy result, or null. */
export async function poll<T>(fn: () => T | Promise<T>, tries = 200): Promise<T | null> {
  for (let i = 0; i < tries; i++) {
    const value = await fn();
    if (value) return value;
    await sleep(50);
  }
  return null;
}

const PYTHON = '/usr/bin/python3';
const DJANGO_APP = path.resolve(import.meta.dirname, 'fixtures/django_app.py');

/** True when Debian's Django is there; CI installs it, so there a missing one fails instead of skipping. */
export const djangoAvailable = ((): boolean => {
  try {
    execFileSync(PYTHON, ['-c', 'import django'], { stdio: 'ignore' });
    return true;
  } catch {
    return process.env.CI === 'true';
  }
})();

/** The fixture's Django under runserver on a free port, with the settings of `profile`; stopped in afterEach. */
export async function startDjango(profile: 'prod' | 'noproxy' | 'dev' = 'prod'): Promise<number> {
  const port = await freePort();
  const child = spawn(PYTHON, [DJANGO_APP, 'runserver', `127.0.0.1:${port}`, '--noreload'], {
    stdio: 'ignore',
    env: { ...process.env, DJANGO_PROFILE: profile },
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  onCleanup(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  // Until runserver accepts connections (bounded: 200 tries, 100 ms apart).
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return port;
    await sleep(100);
  }
  throw new Error('Django runserver did not start');
}

export interface Started {
  handle: DevHttpsHandle;
  logger: CapturingLogger;
  /** The HTTPS port. */
  port: number;
  /** The HTTP listener's port, or 0 without one. */
  httpPort: number;
  /** The generated certificate, to trust as `ca`. */
  ca: string;
}

/** startDevHttps on port 0 with its own cert dir and a capturing logger, closed in afterEach. */
export async function start(options: DevHttpsOptions): Promise<Started> {
  const logger = captureLogger();
  const handle = await startDevHttps({ port: 0, certDir: await tempDir(), logger, ...options });
  onCleanup(() => handle.close());
  // Every test starts with a fresh cert dir: the line about generating it is not what is tested.
  const generated = logger.lines.findIndex((l) => l.startsWith('info: Generating a new certificate'));
  if (generated >= 0) logger.lines.splice(generated, 1);
  return {
    handle,
    logger,
    port: Number(new URL(handle.urls.https).port),
    httpPort: handle.urls.http ? Number(new URL(handle.urls.http).port) : 0,
    ca: handle.certificate.ca!.cert,
  };
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

/** A promise and the function that resolves it: one side of a test waits for the other. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Reads one response with a Content-Length body from `socket`, without waiting for it to close. */
export function readResponse(socket: net.Socket): Promise<{ head: string; body: string }> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      const split = got.indexOf('\r\n\r\n');
      if (split < 0) return;
      const head = got.subarray(0, split).toString('latin1');
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length) return reject(new Error(`no Content-Length in ${JSON.stringify(head)}`));
      const body = got.subarray(split + 4);
      if (body.length >= Number(length[1])) resolve({ head, body: body.toString('utf8') });
    });
    socket.on('end', () => reject(new Error(`connection ended after ${JSON.stringify(got.toString('latin1'))}`)));
    socket.on('error', reject);
  });
}

/** The run's CA (test/global-setup.ts): what clients trust to reach any dev-https of the tests. */
export function testCa(): Promise<string> {
  return fs.readFile(path.join(process.env.DEV_HTTPS_CAROOT!, 'rootCA.pem'), 'utf8');
}

/** X.509 dates have whole seconds. */
export function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** Runs `fn` with the process umask set to `mask`, then restores it. */
export async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const previous = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(previous);
  }
}

/** startDevHttps that should fail: its error, or null when it started (that handle is closed in afterEach). */
export function startError(options: DevHttpsOptions): Promise<unknown> {
  return startDevHttps(options).then(
    (handle) => {
      onCleanup(() => handle.close());
      return null;
    },
    (e: unknown) => e,
  );
}

export const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

/** 64 MiB in 64 KiB chunks that differ from each other, produced lazily. */
export function* bigPayload(total = 64 * MiB): Generator<Buffer> {
  for (let i = 0; i < total / CHUNK; i++) {
    const chunk = Buffer.alloc(CHUNK, i % 251);
    chunk.writeUInt32BE(i, 0);
    yield chunk;
  }
}

export function payloadSha256(): string {
  const hash = createHash('sha256');
  for (const chunk of bigPayload()) hash.update(chunk);
  return hash.digest('hex');
}

/** An app that answers an upload with its size, sha256 and transfer-encoding, and GET with bigPayload. */
export function bigBodyHandler(): http.RequestListener {
  return (req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      Readable.from(bigPayload()).pipe(res);
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      const body = JSON.stringify({ bytes, sha256: hash.digest('hex'), te: req.headers['transfer-encoding'] ?? null });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  };
}

/** POSTs bigPayload (chunked) and returns the reply. */
export function uploadBig(url: string, ca: string): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    Readable.from(bigPayload()).pipe(req);
  });
}

/** GETs `url` and returns the status, size and sha256 of the body. */
export function downloadSha256(url: string, ca: string): Promise<{ status: number; bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        hash.update(c);
      });
      res.on('end', () => resolve({ status: res.statusCode!, bytes, sha256: hash.digest('hex') }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The executable `name` on the test's PATH (or in `extra`), or null. */
export function onPath(name: string, extra: string[] = []): string | null {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const file of [...dirs.map((d) => path.join(d, name)), ...extra]) {
    try {
      accessSync(file, fsConstants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return null;
}

export const KEYTOOL = onPath('keytool', ['/usr/bin/keytool']);

/** A JAVA_HOME with a copy of the real cacerts and bin/keytool linked to the real one (needs KEYTOOL). */
export async function tempJavaHome(): Promise<{ JAVA_HOME: string; cacerts: string; keytool: string }> {
  const keytool = await fs.realpath(KEYTOOL!);
  const candidates = [path.resolve(path.dirname(keytool), '../lib/security/cacerts'), '/etc/ssl/certs/java/cacerts'];
  const source = (
    await Promise.all(
      candidates.map((f) =>
        fs.access(f).then(
          () => f,
          () => null,
        ),
      ),
    )
  ).find((f) => f !== null)!;
  const JAVA_HOME = await tempDir();
  await fs.mkdir(path.join(JAVA_HOME, 'lib/security'), { recursive: true });
  await fs.mkdir(path.join(JAVA_HOME, 'bin'));
  const cacerts = path.join(JAVA_HOME, 'lib/security/cacerts');
  await fs.copyFile(source, cacerts);
  await fs.chmod(cacerts, 0o644);
  await fs.symlink(keytool, path.join(JAVA_HOME, 'bin/keytool'));
  return { JAVA_HOME, cacerts, keytool };
}

/**
 * Headless Chromium's arguments in every browser test: no sandbox (CI runs as root), and nothing
 * that reaches out to the network, which this machine refuses (many connections at every start).
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** True when the process has exited (a zombie has too: only its parent has not reaped it yet). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
    throw err;
  }
  try {
    return /^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Kills, after the test, processes the code under test should have stopped, if it left them running. */
export function reapAfter(...pids: number[]): void {
  onCleanup(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
  });
}
