// What the framework suite shares: which frameworks are installed, a real headless Chromium that
// trusts exactly one certificate, dev-https started in-process with it, and framework servers run
// as child processes (each in its own process group: `next dev` and runserver fork workers).
import { X509Certificate, createHash } from 'node:crypto';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { readCA } from '../../src/certs/ca.js';
import { CERT_FILE, KEY_FILE, createCertificate } from '../../src/certs/cert.js';
import { DEFAULT_CERT_NAMES, type DevHttpsOptions } from '../../src/options.js';
import { type DevHttpsHandle, startDevHttps } from '../../src/server/server.js';
import { CHROMIUM_ARGS, type CapturingLogger, captureLogger, sleep } from '../helpers.js';

export const PYTHON = '/usr/bin/python3';
export const CHROMIUM = '/usr/bin/chromium';
export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
export const REPO = path.resolve(import.meta.dirname, '../..');
// CI (.ci/run) installs every framework: there a missing one is a failure, not a skip.
const inCi = process.env.CI === 'true';

function pythonImports(module: string): boolean {
  try {
    execFileSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore' });
    return true;
  } catch {
    return inCi;
  }
}

function resolvable(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return inCi;
  }
}

export const chromiumAvailable = existsSync(CHROMIUM) || inCi;
export const flaskAvailable = pythonImports('flask');
export const nextAvailable = resolvable('next') && resolvable('react') && resolvable('react-dom');

/** A temp dir removed by the returned function (for beforeAll/afterAll scopes, where onCleanup would run too early). */
export async function scopedTempDir(prefix = 'dev-https-fw-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

function spkiHash(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

export interface Pinned {
  browser: Browser;
  /** dev-https on port 0 serving the pinned certificate, with a capturing logger. */
  startDevHttps(options: DevHttpsOptions): Promise<{ handle: DevHttpsHandle; logger: CapturingLogger; ca: string; origin: string }>;
  close(): Promise<void>;
}

/**
 * Chromium that accepts exactly one certificate (signed by the run's CA, so dev-https reuses it
 * from each cert dir as it is), and the dev-https instances that serve it. Everything it started
 * is closed by close(), in afterAll.
 */
export async function launchPinned(): Promise<Pinned> {
  const ca = (await readCA(process.env.DEV_HTTPS_CAROOT!))!;
  const pair = await createCertificate(DEFAULT_CERT_NAMES, { ca });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, `--ignore-certificate-errors-spki-list=${spkiHash(pair.cert)}`],
  });
  const closers: Array<() => Promise<void>> = [];
  return {
    browser,
    async startDevHttps(options) {
      const { dir, remove } = await scopedTempDir('dev-https-fw-cert-');
      await fs.chmod(dir, 0o700);
      await fs.writeFile(path.join(dir, KEY_FILE), pair.key, { mode: 0o600 });
      await fs.writeFile(path.join(dir, CERT_FILE), pair.cert, { mode: 0o644 });
      const logger = captureLogger();
      const handle = await startDevHttps({ port: 0, certDir: dir, logger, ...options });
      closers.push(async () => {
        await handle.close();
        await remove();
      });
      if (handle.certificate.cert !== pair.cert) throw new Error('dev-https did not reuse the pinned certificate');
      return { handle, logger, ca: handle.certificate.ca!.cert, origin: handle.urls.https.slice(0, -1) };
    },
    async close() {
      while (closers.length) await closers.pop()!();
      await browser.close();
    },
  };
}

/** dev-https on port 0 with its own cert dir (no browser), closed by the returned handle. */
export async function startPlain(
  options: DevHttpsOptions,
): Promise<{ handle: DevHttpsHandle; logger: CapturingLogger; ca: string; origin: string; close: () => Promise<void> }> {
  const { dir, remove } = await scopedTempDir('dev-https-fw-cert-');
  const logger = captureLogger();
  const handle = await startDevHttps({ port: 0, certDir: dir, logger, ...options });
  return {
    handle,
    logger,
    ca: handle.certificate.ca!.cert,
    origin: handle.urls.https.slice(0, -1),
    close: async () => {
      await handle.close();
      await remove();
    },
  };
}

export interface App {
  child: ChildProcess;
  port: number;
  /** What it printed so far (stdout and stderr), for failure messages. */
  output: () => string;
  stop: () => Promise<void>;
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * A framework's own server as a child process in its own process group, until it accepts
 * connections on `port` (at most `waitMs`). stop() kills the whole group and waits for the exit.
 */
export async function spawnApp(
  command: string,
  args: string[],
  options: { cwd: string; port: number; env?: NodeJS.ProcessEnv; waitMs?: number },
): Promise<App> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => (output += c));
  child.stderr!.on('data', (c: string) => (output += c));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let gone = false;
  const kill = () => {
    if (gone) return;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  // A worker that dies without afterAll still takes the group (next dev's workers) with it.
  process.once('exit', kill);
  void exited.then(() => {
    gone = true;
    process.off('exit', kill);
  });
  const stop = async () => {
    kill();
    await exited;
  };
  const deadline = Date.now() + (options.waitMs ?? 30_000);
  while (!(await accepting(options.port))) {
    if (gone || Date.now() > deadline) {
      await stop();
      throw new Error(`${command} ${args.join(' ')} did not listen on ${options.port}:\n${output}`);
    }
    await sleep(100);
  }
  return { child, port: options.port, output: () => output, stop };
}

/** Copies a fixture directory to a fresh temp dir (a framework writes caches into its app dir). */
export async function copyFixture(name: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const temp = await scopedTempDir(`dev-https-fw-${name}-`);
  await fs.cp(path.join(FIXTURES, name), temp.dir, { recursive: true });
  return temp;
}

export interface StreamHead {
  status: number;
  /** Without HTTP/2's pseudo-headers. */
  headers: Record<string, string | string[] | undefined>;
}

export interface OpenStream {
  head: Promise<StreamHead>;
  /** Resolves with the body so far as soon as it contains `text`; rejects if the response ends first. */
  until(text: string): Promise<string>;
  /** The whole body, once the response ends. */
  done: Promise<string>;
  close(): void;
}

/**
 * A GET read as it arrives, over HTTP/1.1 (https.request) or HTTP/2 (http2.connect), trusting
 * `ca`. Tests read one part, act (release the next), then wait for the next part: a proxy that
 * holds the response back makes until() wait forever, so the test fails on its timeout.
 */
export function openStream(
  url: string,
  options: { ca: string; protocol: 'http/1.1' | 'h2'; headers?: Record<string, string> },
): OpenStream {
  let body = '';
  const waiters: Array<{ text: string; resolve: (b: string) => void; reject: (e: Error) => void }> = [];
  let ended = false;
  let failure: Error | null = null;
  let resolveDone!: (b: string) => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<string>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined);
  const settle = () => {
    for (const w of [...waiters]) {
      if (body.includes(w.text)) w.resolve(body);
      else if (failure || ended)
        w.reject(failure ?? new Error(`the response ended without ${JSON.stringify(w.text)}: ${JSON.stringify(body)}`));
      else continue;
      waiters.splice(waiters.indexOf(w), 1);
    }
  };
  const onData = (chunk: string) => {
    body += chunk;
    settle();
  };
  const onEnd = () => {
    ended = true;
    resolveDone(body);
    settle();
  };
  const onError = (e: Error) => {
    failure = e;
    rejectDone(e);
    settle();
  };
  let resolveHead!: (head: StreamHead) => void;
  let rejectHead!: (e: Error) => void;
  const head = new Promise<StreamHead>((resolve, reject) => {
    resolveHead = resolve;
    rejectHead = reject;
  });
  head.catch(() => undefined);
  let close: () => void;
  const u = new URL(url);
  if (options.protocol === 'h2') {
    const session = http2.connect(u.origin, { ca: options.ca });
    session.on('error', (e) => {
      rejectHead(e);
      onError(e);
    });
    const stream = session.request({ ':path': u.pathname + u.search, ...options.headers });
    stream.setEncoding('utf8');
    stream.on('response', (headers) => {
      const { ':status': status, ...rest } = headers;
      resolveHead({ status: Number(status), headers: rest as Record<string, string | string[] | undefined> });
    });
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', (e) => {
      rejectHead(e);
      onError(e);
    });
    stream.end();
    close = () => {
      stream.destroy();
      session.destroy();
    };
  } else {
    const req = https.request(u, { ca: options.ca, agent: false, headers: options.headers }, (res) => {
      resolveHead({ status: res.statusCode!, headers: res.headers });
      res.setEncoding('utf8');
      res.on('data', onData);
      res.on('end', onEnd);
      res.on('error', onError);
    });
    req.on('error', (e) => {
      rejectHead(e);
      onError(e);
    });
    req.end();
    close = () => req.destroy();
  }
  return {
    head,
    done,
    until: (text) =>
      new Promise<string>((resolve, reject) => {
        waiters.push({ text, resolve, reject });
        settle();
      }),
    close: () => close(),
  };
}
