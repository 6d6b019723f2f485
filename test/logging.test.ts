// The logger: request lines (text with colors, or JSON), quiet mode, color detection; and the
// request log of the real bin with --log json and --quiet.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { BATCH_MS, colorEnabled, createLogger, formatRequest, logPath, painter, type RequestLogEntry } from '../src/logger.js';
import { freePort, onCleanup, poll, request, run, runCleanups, startUpstream, tempDir, type Run, testCa } from './helpers.js';

afterEach(runCleanups);

// Local time, as the text lines show it.
const TIME = new Date(2024, 0, 2, 3, 4, 5, 678);

function entry(fields: Partial<RequestLogEntry> = {}): RequestLogEntry {
  return {
    time: TIME,
    method: 'GET',
    path: '/',
    status: 200,
    durationMs: 12.4,
    ws: false,
    scheme: 'https',
    protocol: 'http/1.1',
    ...fields,
  };
}

const ESC = '\x1b[';

describe('formatRequest', () => {
  test.each<[string, Partial<RequestLogEntry>, string]>([
    ['a 200', {}, '03:04:05 https    GET / 200 12 ms'],
    ['over HTTP/2', { protocol: 'h2' }, '03:04:05 https h2 GET / 200 12 ms'],
    ['on the HTTP listener', { scheme: 'http', status: 301 }, '03:04:05 http     GET / 301 12 ms'],
    [
      'a POST with a query mark',
      { method: 'POST', path: '/api/login?…', status: 302, durationMs: 0.4 },
      '03:04:05 https    POST /api/login?… 302 0 ms',
    ],
    ['rounding up', { path: '/slow', status: 504, durationMs: 1499.5 }, '03:04:05 https    GET /slow 504 1500 ms'],
    ['a WebSocket', { path: '/socket', status: 101, durationMs: 0, ws: true }, '03:04:05 https    GET /socket 101 ws'],
    [
      'a refused WebSocket',
      { path: '/socket', status: 403, durationMs: 0, ws: true, scheme: 'http' },
      '03:04:05 http     GET /socket 403 ws',
    ],
  ])('without colors: %s', (_name, fields, line) => {
    expect(formatRequest(entry(fields))).toBe(line);
    expect(formatRequest(entry(fields), painter(false))).toBe(line);
  });

  test.each<[number, string]>([
    [200, '32'],
    [204, '32'],
    [301, '36'],
    [304, '36'],
    [404, '33'],
    [403, '33'],
    [500, '31'],
    [502, '31'],
  ])('with colors: status %i is painted %s, time and duration dim', (status, color) => {
    expect(formatRequest(entry({ status }), painter(true))).toBe(
      `${ESC}2m03:04:05${ESC}0m ${ESC}2mhttps   ${ESC}0m GET / ${ESC}${color}m${status}${ESC}0m ${ESC}2m12 ms${ESC}0m`,
    );
  });

  test('with colors: a WebSocket shows a magenta ws instead of a duration', () => {
    expect(formatRequest(entry({ path: '/socket', status: 101, durationMs: 0, ws: true }), painter(true))).toBe(
      `${ESC}2m03:04:05${ESC}0m ${ESC}2mhttps   ${ESC}0m GET /socket ${ESC}36m101${ESC}0m ${ESC}2m${ESC}35mws${ESC}0m${ESC}0m`,
    );
  });
});

describe('logPath', () => {
  test.each<[string | undefined, string]>([
    [undefined, '/'],
    ['/', '/'],
    ['/a', '/a'],
    ['/a?token=x', '/a?…'],
    ['/a?token=x&b=2', '/a?…'],
    ['/?', '/?…'],
    ['/a?b=1?c=2', '/a?…'],
    ['/p%3Ftoken=x', '/p%3Ftoken=x'],
    ['/a/b.js', '/a/b.js'],
  ])('%j is logged as %j', (url, logged) => {
    expect(logPath(url)).toBe(logged);
  });
});

describe('colorEnabled', () => {
  test.each<[string, boolean | undefined, NodeJS.ProcessEnv, boolean]>([
    ['a terminal', true, {}, true],
    ['a pipe', false, {}, false],
    ['a stream without isTTY', undefined, {}, false],
    ['NO_COLOR on a terminal', true, { NO_COLOR: '1' }, false],
    ['an empty NO_COLOR is unset', true, { NO_COLOR: '' }, true],
    ['FORCE_COLOR=1 on a pipe', false, { FORCE_COLOR: '1' }, true],
    ['FORCE_COLOR=3 on a pipe', false, { FORCE_COLOR: '3' }, true],
    ['FORCE_COLOR=0 on a terminal', true, { FORCE_COLOR: '0' }, false],
    ['FORCE_COLOR=false on a terminal', true, { FORCE_COLOR: 'false' }, false],
    ['NO_COLOR wins over FORCE_COLOR', true, { NO_COLOR: '1', FORCE_COLOR: '1' }, false],
  ])('%s', (_name, isTTY, env, enabled) => {
    const stream = sink(isTTY);
    expect(colorEnabled(stream, env)).toBe(enabled);
  });
});

interface Sink extends NodeJS.WritableStream {
  text(): string;
}

/** A stream that records what is written to it, synchronously. */
function sink(isTTY?: boolean): Sink {
  const chunks: string[] = [];
  return {
    ...(isTTY === undefined ? {} : { isTTY }),
    write: (chunk: string | Uint8Array) => {
      chunks.push(String(chunk));
      return true;
    },
    text: () => chunks.join(''),
  } as unknown as Sink;
}

function logTo(options: Parameters<typeof createLogger>[0] = {}) {
  const stdout = sink(false);
  const stderr = sink(false);
  const logger = createLogger({ env: {}, ...options, stdout, stderr });
  const everything = () => {
    logger.info('hello');
    logger.warn('careful');
    logger.error('broken');
    logger.request?.(entry({ path: '/a?…' }));
    logger.app!('app out', 'stdout');
    logger.app!('app err', 'stderr');
  };
  return { logger, stdout, stderr, everything };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('createLogger', () => {
  test('batch: stdout lines within BATCH_MS go out in one write, in order; a warning first writes what is batched', () => {
    vi.useFakeTimers();
    try {
      const order: string[] = [];
      const stdout = { write: (c: string) => (order.push(`out:${c}`), true) } as unknown as NodeJS.WritableStream;
      const stderr = { write: (c: string) => (order.push(`err:${c}`), true) } as unknown as NodeJS.WritableStream;
      const logger = createLogger({ env: {}, stdout, stderr, batch: true });
      logger.info('hello');
      logger.request!(entry({ path: '/1' }));
      vi.advanceTimersByTime(BATCH_MS - 1);
      logger.request!(entry({ path: '/2' }));
      logger.app!('app out', 'stdout');
      expect(order).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(order).toEqual(['out:hello\n03:04:05 https    GET /1 200 12 ms\n03:04:05 https    GET /2 200 12 ms\n[app] app out\n']);
      // A warning after a request line shows below it, as it happened.
      logger.request!(entry({ path: '/3' }));
      logger.warn('careful');
      logger.app!('app err', 'stderr');
      expect(order.slice(1)).toEqual(['out:03:04:05 https    GET /3 200 12 ms\n', 'err:warning: careful\n', 'err:[app] app err\n']);
      logger.request!(entry({ path: '/4' }));
      logger.flush!();
      expect(order.slice(4)).toEqual(['out:03:04:05 https    GET /4 200 12 ms\n']);
      // Nothing is left to write, and the flushed batch's timer is gone.
      vi.advanceTimersByTime(BATCH_MS);
      expect(order).toHaveLength(5);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  test('text: info, request and app stdout lines to stdout; warnings, errors and app stderr lines to stderr', () => {
    const { stdout, stderr, everything } = logTo();
    everything();
    expect(stdout.text()).toBe('hello\n03:04:05 https    GET /a?… 200 12 ms\n[app] app out\n');
    expect(stderr.text()).toBe('warning: careful\nerror: broken\n[app] app err\n');
  });

  test('text with colors', () => {
    const { stdout, stderr, everything } = logTo({ color: true });
    everything();
    expect(stdout.text()).toBe(
      `hello\n${ESC}2m03:04:05${ESC}0m ${ESC}2mhttps   ${ESC}0m GET /a?… ${ESC}32m200${ESC}0m ${ESC}2m12 ms${ESC}0m\n${ESC}2m[app]${ESC}0m app out\n`,
    );
    expect(stderr.text()).toBe(`${ESC}33;1mwarning:${ESC}0m careful\n${ESC}31;1merror:${ESC}0m broken\n${ESC}2m[app]${ESC}0m app err\n`);
  });

  test('colors by default follow each stream: a terminal stdout is painted, a piped stderr is not', () => {
    const stdout = sink(true);
    const stderr = sink(false);
    const logger = createLogger({ stdout, stderr, env: {} });
    logger.request!(entry({ status: 404 }));
    logger.warn('careful');
    expect(stdout.text()).toBe(`${ESC}2m03:04:05${ESC}0m ${ESC}2mhttps   ${ESC}0m GET / ${ESC}33m404${ESC}0m ${ESC}2m12 ms${ESC}0m\n`);
    expect(stderr.text()).toBe('warning: careful\n');
  });

  test('NO_COLOR turns the default colors off on a terminal', () => {
    const stdout = sink(true);
    const stderr = sink(true);
    const logger = createLogger({ stdout, stderr, env: { NO_COLOR: '1' } });
    logger.request!(entry());
    logger.error('broken');
    expect(stdout.text()).toBe('03:04:05 https    GET / 200 12 ms\n');
    expect(stderr.text()).toBe('error: broken\n');
  });

  test('quiet hides info and request lines, not warnings, errors or the app output', () => {
    const { logger, stdout, stderr, everything } = logTo({ quiet: true });
    // No request method at all: the server then measures nothing per request.
    expect(logger.request).toBeUndefined();
    everything();
    expect(stdout.text()).toBe('[app] app out\n');
    expect(stderr.text()).toBe('warning: careful\nerror: broken\n[app] app err\n');
  });

  test('json: one JSON object per line, each with its time and level', () => {
    const { stdout, stderr, everything } = logTo({ format: 'json', color: true });
    const before = Date.now();
    everything();
    const after = Date.now();
    const parse = (text: string) => {
      expect(text.endsWith('\n')).toBe(true);
      return text
        .slice(0, -1)
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    };
    const out = parse(stdout.text());
    const err = parse(stderr.text());
    for (const line of [...out, ...err].filter((l) => l.level !== 'request')) {
      expect(line.time).toMatch(ISO);
      const t = Date.parse(line.time as string);
      expect(t >= before && t <= after).toBe(true);
    }
    const withoutTime = (lines: Record<string, unknown>[]) => lines.map(({ time: _t, ...rest }) => rest);
    expect(withoutTime(out)).toEqual([
      { level: 'info', message: 'hello' },
      { method: 'GET', path: '/a?…', status: 200, durationMs: 12.4, ws: false, scheme: 'https', protocol: 'http/1.1', level: 'request' },
      { level: 'app', message: 'app out' },
    ]);
    expect(withoutTime(err)).toEqual([
      { level: 'warn', message: 'careful' },
      { level: 'error', message: 'broken' },
      { level: 'app', message: 'app err' },
    ]);
    // The request line is the entry itself, with its own time; no colors in JSON.
    expect(stdout.text().split('\n')[1]).toBe(
      `{"time":"${TIME.toISOString()}","method":"GET","path":"/a?…","status":200,"durationMs":12.4,"ws":false,"scheme":"https","protocol":"http/1.1","level":"request"}`,
    );
    expect(stdout.text() + stderr.text()).not.toContain('\x1b');
  });

  test('json keeps a multi-line message on one line', () => {
    const { logger, stdout } = logTo({ format: 'json' });
    logger.info('line one\nline two');
    expect(stdout.text().split('\n')).toHaveLength(2);
    expect(JSON.parse(stdout.text()).message).toBe('line one\nline two');
  });

  test('json and quiet: only warnings and errors (and the app output)', () => {
    const { stdout, stderr, everything } = logTo({ format: 'json', quiet: true });
    everything();
    expect(
      stdout
        .text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).level),
    ).toEqual(['app']);
    expect(
      stderr
        .text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).level),
    ).toEqual(['warn', 'error', 'app']);
  });
});

// ---- Through the real bin ----

/** The complete JSON lines printed so far (every line must be one). */
function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function requestLines(r: Run, count: number): Promise<Array<Record<string, unknown>>> {
  const lines = await poll(() => {
    const found = jsonLines(r.stdout()).filter((l) => l.level === 'request');
    return found.length >= count ? found : null;
  });
  if (!lines) throw new Error(`fewer than ${count} request lines: ${r.stdout()}`);
  return lines;
}

/** Starts the bin with --log json and returns its HTTPS (and HTTP) URL from the JSON banner line. */
async function startJson(args: string[], cwd: string) {
  const r = run([...args, '--port', '0', '--log', 'json'], { cwd });
  const banner = await poll(() => jsonLines(r.stdout()).find((l) => String(l.message).includes('Local:')), 400);
  if (!banner) throw new Error(`no banner: ${r.stdout()} ${r.stderr()}`);
  expect(banner.level).toBe('info');
  const message = String(banner.message);
  const https = /Local: {3}(https:\/\/localhost:\d+\/)/.exec(message)![1]!;
  const http = /HTTP: {4}(http:\/\/localhost:\d+\/)/.exec(message)?.[1] ?? null;
  const ca = await testCa();
  return { r, https, http, ca };
}

type UpgradeOutcome = { kind: 'upgrade'; status: number } | { kind: 'response'; status: number };

/** A WebSocket-style upgrade request (the handshake only). */
function upgradeRequest(url: string, ca: string, headers: http.OutgoingHttpHeaders = {}): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { headers: { Connection: 'Upgrade', Upgrade: 'websocket', ...headers }, ca, agent: false });
    req.on('upgrade', (res, socket) => {
      onCleanup(() => void socket.destroy());
      resolve({ kind: 'upgrade', status: res.statusCode! });
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ kind: 'response', status: res.statusCode! }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('request lines from the bin', () => {
  test('--log json: one JSON line per request with its listener, the query value left out', async () => {
    const cwd = await tempDir();
    const app = await startUpstream((req, res) => {
      res.writeHead(req.url === '/missing' ? 404 : 200);
      res.end('ok');
    });
    const { r, https, http, ca } = await startJson(['--target', String(app.port), '--http-port', '0'], cwd);
    expect((await request(`${https}x?token=secret`, { ca })).status).toBe(200);
    const [first] = await requestLines(r, 1);
    expect(first).toEqual({
      time: expect.stringMatching(ISO),
      method: 'GET',
      path: '/x?…',
      status: 200,
      durationMs: expect.any(Number),
      ws: false,
      scheme: 'https',
      protocol: 'http/1.1',
      level: 'request',
    });
    expect(first!.durationMs as number).toBeGreaterThanOrEqual(0);

    expect((await request(`${http!}missing`, { method: 'POST', body: 'x' })).status).toBe(404);
    const [, second] = await requestLines(r, 2);
    expect(second).toMatchObject({ method: 'POST', path: '/missing', status: 404, ws: false, scheme: 'http', level: 'request' });

    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stdout()).not.toContain('secret');
    // Every line, the certificate and banner lines too, is one JSON object.
    expect(jsonLines(r.stdout()).map((l) => l.level)).toEqual(['info', 'info', 'request', 'request']);
    expect(r.stderr()).toBe('');
  });

  test('--log json: a WebSocket upgrade is one line with ws true and status 101; a refused one, 403', async () => {
    const cwd = await tempDir();
    const app = await startUpstream((_req, res) => res.end('ok'));
    app.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);
    });
    const { r, https, ca } = await startJson(['--target', String(app.port)], cwd);
    expect(await upgradeRequest(`${https}socket?session=abc`, ca)).toEqual({ kind: 'upgrade', status: 101 });
    const [upgraded] = await requestLines(r, 1);
    expect(upgraded).toEqual({
      time: expect.stringMatching(ISO),
      method: 'GET',
      path: '/socket?…',
      status: 101,
      durationMs: 0,
      ws: true,
      scheme: 'https',
      protocol: 'http/1.1',
      level: 'request',
    });

    expect(await upgradeRequest(`${https}socket`, ca, { Origin: 'https://evil.example' })).toEqual({ kind: 'response', status: 403 });
    const [, refused] = await requestLines(r, 2);
    expect(refused).toEqual({
      time: expect.stringMatching(ISO),
      method: 'GET',
      path: '/socket',
      status: 403,
      durationMs: 0,
      ws: true,
      scheme: 'https',
      protocol: 'http/1.1',
      level: 'request',
    });

    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(jsonLines(r.stdout()).filter((l) => l.level === 'request')).toHaveLength(2);
    expect(jsonLines(r.stderr()).map(({ time: _t, ...rest }) => rest)).toEqual([
      {
        level: 'warn',
        message:
          'refused a request with Origin "https://evil.example" (not localhost, a --name or an address dev-https listens on): allow it with --allow-host evil.example',
      },
    ]);
  });

  test('text: one line per request after the banner', async () => {
    const cwd = await tempDir();
    const app = await startUpstream((_req, res) => res.end('ok'));
    const r = run(['--target', String(app.port), '--port', '0'], { cwd });
    const url = await poll(() => /➜  Local:   (https:\/\/localhost:\d+\/)/.exec(r.stdout())?.[1]);
    const ca = await testCa();
    expect((await request(`${url!}page?id=7`, { ca })).status).toBe(200);
    const line = await poll(() => /^.*GET \/page.*$/m.exec(r.stdout())?.[0]);
    expect(line).toMatch(/^\d\d:\d\d:\d\d https {4}GET \/page\?… 200 \d+ ms$/);
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });

  test('--quiet: no request line (and nothing else) on stdout', async () => {
    const cwd = await tempDir();
    const app = await startUpstream((_req, res) => res.end('quiet app'));
    const port = await freePort();
    const r = run(['--target', String(app.port), '--port', String(port), '--quiet'], { cwd });
    const reply = await poll(async () => {
      const ca = await testCa().catch(() => null);
      return ca ? request(`https://localhost:${port}/x`, { ca }).catch(() => null) : null;
    });
    expect(reply).toMatchObject({ status: 200, body: 'quiet app' });
    r.child.kill('SIGTERM');
    // Exited: everything it would have printed has been printed.
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stdout()).toBe('');
    expect(r.stderr()).toBe('');
  });
});
