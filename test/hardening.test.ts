// What a local server must refuse and never leak: the Host and Origin allowlist on both
// listeners (DNS rebinding, cross-site WebSockets), plain HTTP on the HTTPS port, what Node's
// parser rejects before the app sees it, and secrets that must stay out of logs and error pages.
// Real servers on port 0, real TLS trusted through `ca`, real sockets.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import { createHostCheck } from '../src/server/hosts.js';
import { DEFAULT_CERT_NAMES, resolveOptions } from '../src/options.js';
import { freePort, onCleanup, readResponse, runCleanups, start, startUpstream, type Upstream } from './helpers.js';

afterEach(runCleanups);

// ---------------------------------------------------------------------------------------------
// Local tools

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface SendOptions {
  /** The Host header to send (the connection always goes to 127.0.0.1). */
  host: string;
  path?: string;
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string;
  /** With a CA: HTTPS, verified against `servername` (default localhost). Without: plain HTTP. */
  ca?: string;
  servername?: string;
}

/**
 * One request to 127.0.0.1:port with any Host header. Over HTTPS the certificate is still
 * verified, against `servername`, so a foreign Host needs no disabled verification.
 */
function send(port: number, options: SendOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const common = {
      host: '127.0.0.1',
      port,
      path: options.path ?? '/',
      method: options.method ?? 'GET',
      headers: { ...options.headers, host: options.host },
      agent: false as const,
    };
    const onResponse = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    };
    const req = options.ca
      ? https.request({ ...common, ca: options.ca, servername: options.servername ?? 'localhost' }, onResponse)
      : http.request(common, onResponse);
    req.on('error', reject);
    req.end(options.body);
  });
}

interface RawResult {
  /** Everything the server sent, latin1. */
  data: string;
  /** True when the server closed the connection before our deadline. */
  closedByServer: boolean;
}

/**
 * Writes `text` on a fresh TCP connection (TLS with `ca`, verified as localhost) and collects
 * what comes back until the server closes it or `deadlineMs` passes (a bound, not a measure).
 */
function raw(port: number, text: string | Buffer, options: { ca?: string; deadlineMs?: number } = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const socket = options.ca
      ? tls.connect({ host: '127.0.0.1', port, ca: options.ca, servername: 'localhost' })
      : net.connect({ host: '127.0.0.1', port });
    onCleanup(() => void socket.destroy());
    const chunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, options.deadlineMs ?? 5000);
    socket.on(options.ca ? 'secureConnect' : 'connect', () => socket.write(text));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closedByServer: !timedOut });
    });
  });
}

/** Splits a raw HTTP/1.1 response into its status line, lowercased headers and (de-chunked) body. */
function parseRaw(data: string): { status: string; headers: Record<string, string>; body: string } {
  const split = data.indexOf('\r\n\r\n');
  const [status, ...lines] = data.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = data.slice(split + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    let rest = body;
    body = '';
    for (;;) {
      const end = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, end), 16);
      if (!(size > 0)) break;
      body += rest.slice(end + 2, end + 2 + size);
      rest = rest.slice(end + 2 + size + 2);
    }
  }
  return { status: status!, headers, body: Buffer.from(body, 'latin1').toString('utf8') };
}

type UpgradeOutcome = { kind: 'upgrade'; status: number } | { kind: 'response'; status: number; body: string };

/** A WebSocket-style upgrade handshake with the given Host and Origin (no frames). */
function upgrade(
  port: number,
  options: { host: string; origin?: string; ca?: string; headers?: http.OutgoingHttpHeaders },
): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { ...options.headers, host: options.host, connection: 'Upgrade', upgrade: 'websocket' };
    if (options.origin !== undefined) headers.origin = options.origin;
    const common = { host: '127.0.0.1', port, path: '/socket', headers, agent: false as const };
    const req = options.ca ? https.request({ ...common, ca: options.ca, servername: 'localhost' }) : http.request(common);
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ kind: 'upgrade', status: res.statusCode! });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ kind: 'response', status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** An app that records the Host of every request and upgrade it receives; upgrades are accepted. */
async function startRecordingApp(): Promise<Upstream & { hosts: string[]; upgrades: string[] }> {
  const hosts: string[] = [];
  const upgrades: string[] = [];
  const upstream = await startUpstream((req, res) => {
    hosts.push(req.headers.host ?? '(none)');
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 6 });
    res.end('app ok');
  });
  upstream.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    upgrades.push(req.headers.host ?? '(none)');
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  return Object.assign(upstream, { hosts, upgrades });
}

const forbiddenText = (name: string) =>
  `403 Forbidden: dev-https does not serve the host name "${name}". If you use it, restart dev-https with --allow-host ${name} (or --name ${name} to put it in the certificate too).`;

const refusedLine = (what: 'Host' | 'Origin', value: string, hint = value) =>
  `warn: refused a request with ${what} "${value}" (not localhost, a --name or an address dev-https listens on): allow it with --allow-host ${hint}`;

const FORBIDDEN_UPGRADE = 'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/** A non-loopback address of this machine, if it has one (never connected to: only sent as Host). */
function machineAddress(family: 'IPv4' | 'IPv6'): string | undefined {
  return Object.values(os.networkInterfaces())
    .flatMap((list) => list ?? [])
    .find((i) => i.family === family && !i.internal && !i.address.startsWith('fe80:'))?.address;
}

// ---------------------------------------------------------------------------------------------

describe('the Host allowlist', () => {
  test('localhost, *.localhost, trailing dots, loopback addresses, --name (with wildcards) and --allow-host reach the app with Host unchanged', async () => {
    const app = await startRecordingApp();
    const { port, ca, logger } = await start({
      target: `127.0.0.1:${app.port}`,
      names: ['myapp.test', '*.wild.test'],
      allowHosts: ['extra.example'],
    });

    const allowed = [
      `localhost:${port}`,
      'localhost',
      'LocalHost',
      'localhost.',
      `localhost.:${port}`,
      'myapp.localhost',
      `a.b.localhost:${port}`,
      '127.0.0.1',
      `127.9.8.7:${port}`,
      `[::1]:${port}`,
      '[::1]',
      `myapp.test:${port}`,
      'MYAPP.TEST.',
      `a.wild.test:${port}`,
      'deep.a.wild.test',
      'extra.example',
      `Extra.Example:${port}`,
    ];
    for (const host of allowed) {
      const reply = await send(port, { host, ca });
      expect({ host, status: reply.status, body: reply.body }).toEqual({ host, status: 200, body: 'app ok' });
    }
    expect(app.hosts).toEqual(allowed);
    expect(logger.lines).toEqual([]);
  });

  test('the certificate covers the --name names the allowlist lets in (verified, not bypassed)', async () => {
    const app = await startRecordingApp();
    const { port, ca } = await start({ target: `127.0.0.1:${app.port}`, names: ['myapp.test', '*.wild.test'] });

    for (const name of ['myapp.test', 'a.wild.test']) {
      const reply = await send(port, { host: `${name}:${port}`, ca, servername: name });
      expect(reply.status, name).toBe(200);
    }
    expect(app.hosts).toEqual([`myapp.test:${port}`, `a.wild.test:${port}`]);
  });

  test('any other Host gets the exact 403 text, the app never sees it, and one warning per host name', async () => {
    const app = await startRecordingApp();
    const { port, ca, logger } = await start({ target: `127.0.0.1:${app.port}`, names: ['myapp.test', '*.wild.test'] });
    const external = machineAddress('IPv4');

    // [Host sent, host name reported]
    const refused: Array<[string, string]> = [
      ['evil.test', 'evil.test'],
      [`EVIL.test:${port}`, 'evil.test'],
      ['evil.test.', 'evil.test'],
      ['localhost.evil.test', 'localhost.evil.test'],
      ['evillocalhost', 'evillocalhost'],
      ['127.0.0.1.nip.io', '127.0.0.1.nip.io'],
      ['myapp.test.evil.test', 'myapp.test.evil.test'],
      ['evilwild.test', 'evilwild.test'],
      ['wild.test.evil', 'wild.test.evil'],
      // The "0.0.0.0 day": browsers sent pages' requests for 0.0.0.0 to local services.
      [`0.0.0.0:${port}`, '0.0.0.0'],
      ['10.0.0.1', '10.0.0.1'],
      [`[::2]:${port}`, '::2'],
      // An address of this machine that dev-https does not listen on (it listens on loopback).
      ...(external ? [[external, external] as [string, string]] : []),
    ];
    for (const [host, name] of refused) {
      for (let i = 0; i < 2; i++) {
        const reply = await send(port, { host, ca });
        expect({
          host,
          status: reply.status,
          type: reply.headers['content-type'],
          cache: reply.headers['cache-control'],
          body: reply.body,
        }).toEqual({
          host,
          status: 403,
          type: 'text/plain; charset=utf-8',
          cache: 'no-store',
          body: `${forbiddenText(name)}\n`,
        });
      }
    }
    expect(app.connections()).toBe(0);
    expect(logger.lines).toEqual([...new Set(refused.map(([, name]) => name))].map((name) => refusedLine('Host', name)));
  });

  test('browsers get the 403 as an HTML page with the host name escaped; HEAD gets no body', async () => {
    const app = await startRecordingApp();
    const { port, ca } = await start({ target: `127.0.0.1:${app.port}` });

    const page = await send(port, { host: 'evil.test', ca, headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(page.status).toBe(403);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toBe(
      '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>403 Forbidden: unknown host</title></head>\n' +
        '<body><h1>403 Forbidden</h1><p>dev-https does not serve the host name &#34;evil.test&#34;. If you use it, restart dev-https with --allow-host evil.test (or --name evil.test to put it in the certificate too).</p></body></html>\n',
    );

    // Quotes and ampersands are no host name: 400 in plain text that does not repeat them.
    const odd = await send(port, { host: `x"'&.test`, ca, headers: { accept: 'text/html' } });
    expect({ status: odd.status, type: odd.headers['content-type'], body: odd.body }).toEqual({
      status: 400,
      type: 'text/plain; charset=utf-8',
      body: '400 Bad Request: an invalid Host header\n',
    });

    const head = await send(port, { host: 'evil.test', ca, method: 'HEAD' });
    expect(head.status).toBe(403);
    expect(head.body).toBe('');
    expect(app.connections()).toBe(0);
  });

  test('the HTTP listener checks Host the same way, proxying and redirecting', async () => {
    const app = await startRecordingApp();
    const proxying = await start({ target: `127.0.0.1:${app.port}`, httpPort: 0 });
    const redirecting = await start({ target: `127.0.0.1:${app.port}`, httpPort: 0, redirectHttp: true });

    for (const { httpPort, logger } of [proxying, redirecting]) {
      const refused = await send(httpPort, { host: `evil.test:${httpPort}` });
      expect(refused.status).toBe(403);
      expect(refused.body).toBe(`${forbiddenText('evil.test')}\n`);
      expect(logger.lines).toEqual([refusedLine('Host', 'evil.test')]);
    }
    expect(app.connections()).toBe(0);

    expect((await send(proxying.httpPort, { host: `localhost:${proxying.httpPort}` })).status).toBe(200);
    const redirect = await send(redirecting.httpPort, { host: `myapp.localhost:${redirecting.httpPort}`, path: '/p?q=1' });
    expect(redirect.status).toBe(307);
    expect(redirect.headers.location).toBe(`https://myapp.localhost:${redirecting.port}/p?q=1`);
  });

  test('a request without any Host header (HTTP/1.0) is not a browser page: it is served', async () => {
    const app = await startRecordingApp();
    const { port, ca } = await start({ target: `127.0.0.1:${app.port}` });

    const result = await raw(port, 'GET /old HTTP/1.0\r\n\r\n', { ca });
    expect(result.closedByServer).toBe(true);
    expect(result.data.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(result.data.endsWith('\r\n\r\napp ok')).toBe(true);
    // An HTTP/1.1 request needs a Host: the app's own address, as Node's client writes it.
    expect(app.hosts).toEqual([`127.0.0.1:${app.port}`]);
  });

  test('allowHosts any turns the check off, with a warning, for requests and WebSocket origins', async () => {
    const app = await startRecordingApp();
    const { port, ca, logger } = await start({ target: `127.0.0.1:${app.port}`, allowHosts: ['any'] });

    expect(logger.lines).toEqual([
      'warn: --allow-host any: the Host check is off, so any web page you visit can reach your app through DNS rebinding',
    ]);
    expect(await send(port, { host: 'evil.test', ca })).toMatchObject({ status: 200, body: 'app ok' });
    expect(await upgrade(port, { host: 'evil.test', origin: 'https://evil.test', ca })).toEqual({ kind: 'upgrade', status: 101 });
    expect(app.hosts).toEqual(['evil.test']);
    expect(app.upgrades).toEqual(['evil.test']);
    expect(logger.lines).toHaveLength(1);
  });

  test('the addresses dev-https binds to are allowed; bound to 0.0.0.0 or ::, every address of the machine', () => {
    // A pure check: binding to a non-loopback address would expose the test to the network.
    const v4 = machineAddress('IPv4');
    const v6 = machineAddress('IPv6');
    const loopbackOnly = createHostCheck(DEFAULT_CERT_NAMES, ['127.0.0.1', '::1'], []);
    const everywhere = createHostCheck(DEFAULT_CERT_NAMES, ['0.0.0.0'], []);
    const everywhere6 = createHostCheck(DEFAULT_CERT_NAMES, ['::'], []);
    const one = createHostCheck(DEFAULT_CERT_NAMES, ['192.0.2.77'], []);

    expect(one.allowsHost('192.0.2.77:8443')).toBe(true);
    expect(one.allowsHost('192.0.2.78:8443')).toBe(false);
    expect(everywhere.allowsHost('0.0.0.0:8443')).toBe(false);
    if (v4) {
      expect(loopbackOnly.allowsHost(`${v4}:8443`)).toBe(false);
      expect(everywhere.allowsHost(`${v4}:8443`)).toBe(true);
      expect(everywhere6.allowsHost(`${v4}:8443`)).toBe(true);
    }
    if (v6) {
      expect(loopbackOnly.allowsHost(`[${v6}]:8443`)).toBe(false);
      expect(everywhere.allowsHost(`[${v6}]:8443`)).toBe(true);
      expect(everywhere.allowsOrigin(`https://[${v6}]:8443`)).toBe(true);
    }
    expect(everywhere.allowsHost('evil.test')).toBe(false);
  });
});

describe('WebSocket upgrades', () => {
  test('allowed Host and Origin (any scheme or port of an allowed name), or no Origin: the upgrade reaches the app', async () => {
    const app = await startRecordingApp();
    const { port, ca, logger } = await start({ target: `127.0.0.1:${app.port}`, names: ['myapp.test'] });

    const origins = [
      undefined,
      'http://localhost:3000',
      `https://localhost:${port}`,
      'https://myapp.localhost',
      'http://127.0.0.1:5173',
      'https://[::1]:8443',
      'https://myapp.test',
    ];
    for (const origin of origins) {
      expect({ origin, outcome: await upgrade(port, { host: `localhost:${port}`, origin, ca }) }).toEqual({
        origin,
        outcome: { kind: 'upgrade', status: 101 },
      });
    }
    expect(app.upgrades).toHaveLength(origins.length);
    expect(logger.lines).toEqual([]);
  });

  test('a foreign Origin or Host: a raw 403, no connection to the app, one warning each', async () => {
    const app = await startRecordingApp();
    const { port, ca, logger } = await start({ target: `127.0.0.1:${app.port}` });

    const upgradeText = (host: string, origin?: string) =>
      `GET /socket HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${origin === undefined ? '' : `Origin: ${origin}\r\n`}\r\n`;
    const cases: Array<[string, string | undefined]> = [
      [`localhost:${port}`, 'https://evil.test'],
      [`localhost:${port}`, 'https://evil.test'],
      [`localhost:${port}`, 'null'],
      [`localhost:${port}`, 'http://localhost.evil.test:3000'],
      [`localhost:${port}`, 'not a url'],
      ['evil.test', undefined],
      ['evil.test', `https://localhost:${port}`],
    ];
    for (const [host, origin] of cases) {
      const result = await raw(port, upgradeText(host, origin), { ca });
      expect({ host, origin, ...result }).toEqual({ host, origin, data: FORBIDDEN_UPGRADE, closedByServer: true });
    }
    expect(app.connections()).toBe(0);
    // The hint of an Origin line is checked in its own test below.
    expect(logger.lines.map((l) => l.replace(/: allow it with --allow-host .*$/, ''))).toEqual([
      'warn: refused a request with Origin "https://evil.test" (not localhost, a --name or an address dev-https listens on)',
      'warn: refused a request with Origin "null" (not localhost, a --name or an address dev-https listens on)',
      'warn: refused a request with Origin "http://localhost.evil.test:3000" (not localhost, a --name or an address dev-https listens on)',
      'warn: refused a request with Origin "not a url" (not localhost, a --name or an address dev-https listens on)',
      'warn: refused a request with Host "evil.test" (not localhost, a --name or an address dev-https listens on)',
    ]);
  });

  test('the HTTP listener refuses a foreign Origin too', async () => {
    const app = await startRecordingApp();
    const { httpPort } = await start({ target: `127.0.0.1:${app.port}`, httpPort: 0 });

    expect(await upgrade(httpPort, { host: `localhost:${httpPort}`, origin: 'https://evil.test' })).toEqual({
      kind: 'response',
      status: 403,
      body: '',
    });
    expect(await upgrade(httpPort, { host: `localhost:${httpPort}`, origin: `http://localhost:${httpPort}` })).toEqual({
      kind: 'upgrade',
      status: 101,
    });
    expect(app.upgrades).toEqual([`localhost:${httpPort}`]);
  });

  // The hint must be a value --allow-host accepts: the Origin's host name, not the Origin.
  test('the warning for a refused Origin suggests an --allow-host value that is accepted and lets that Origin in', async () => {
    const app = await startRecordingApp();
    const first = await start({ target: `127.0.0.1:${app.port}` });
    expect(await upgrade(first.port, { host: `localhost:${first.port}`, origin: 'https://evil.test:8443', ca: first.ca })).toEqual({
      kind: 'response',
      status: 403,
      body: '',
    });
    const line = first.logger.lines[0] ?? '';
    expect(line).toBe(refusedLine('Origin', 'https://evil.test:8443', 'evil.test'));

    const hint = /--allow-host (\S+)$/.exec(line)![1]!;
    expect(() => resolveOptions({ allowHosts: [hint] })).not.toThrow();
    const second = await start({ target: `127.0.0.1:${app.port}`, allowHosts: [hint] });
    expect(await upgrade(second.port, { host: `localhost:${second.port}`, origin: 'https://evil.test:8443', ca: second.ca })).toEqual({
      kind: 'upgrade',
      status: 101,
    });
  });

  // Host `localhost.` is allowed (trailing dot stripped), so Origin `https://localhost.:PORT` must be
  // too: a page opened at https://localhost.:PORT/ opens its own WebSocket.
  test('an Origin with a trailing dot is the same host, as for Host', async () => {
    const app = await startRecordingApp();
    const { port, ca } = await start({ target: `127.0.0.1:${app.port}`, names: ['myapp.test'] });
    for (const origin of [`https://localhost.:${port}`, 'https://myapp.test.']) {
      expect({ origin, outcome: await upgrade(port, { host: `localhost.:${port}`, origin, ca }) }).toEqual({
        origin,
        outcome: { kind: 'upgrade', status: 101 },
      });
    }
  });
});

describe('plain HTTP sent to the HTTPS port', () => {
  test('an allowed host is redirected with 307 to the same URL over https://, which then works', async () => {
    const app = await startRecordingApp();
    const { port, ca } = await start({ target: `127.0.0.1:${app.port}` });

    for (const host of [`localhost:${port}`, `[::1]:${port}`]) {
      const socket = net.connect({ host: '127.0.0.1', port });
      onCleanup(() => void socket.destroy());
      socket.write(`GET /x?y=1 HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      const { head } = await readResponse(socket);
      expect(head.split('\r\n')[0]).toBe('HTTP/1.1 307 Temporary Redirect');
      expect(head).toContain(`\r\nlocation: https://${host}/x?y=1\r\n`);
    }
    expect(app.connections()).toBe(0);

    expect(await send(port, { host: `localhost:${port}`, path: '/x?y=1', ca })).toMatchObject({ status: 200, body: 'app ok' });
  });

  test('a foreign host gets the exact 400 and one warning; the app sees nothing', async () => {
    const app = await startRecordingApp();
    const { port, logger } = await start({ target: `127.0.0.1:${app.port}` });

    const result = await raw(port, `GET /x?y=1 HTTP/1.1\r\nHost: evil.test:${port}\r\n\r\n`);
    expect(result.closedByServer).toBe(true);
    const response = parseRaw(result.data);
    expect(response.status).toBe('HTTP/1.1 400 Bad Request');
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.body).toBe('400 Bad Request: this is an HTTPS port; use https://\n');
    expect(logger.lines).toEqual([refusedLine('Host', 'evil.test')]);
    expect(app.connections()).toBe(0);
  });
});

describe("what Node's parser refuses never reaches the app", () => {
  const BAD_REQUEST = 'HTTP/1.1 400 Bad Request';
  // [case, request for a Host, status line of the answer]
  const cases: Array<[string, (host: string) => string, string]> = [
    ['a malformed request line', (h) => `GET /x HTTP/1.1 extra\r\nHost: ${h}\r\n\r\n`, BAD_REQUEST],
    ['a request line that is not HTTP', () => 'HELLO\r\n\r\n', BAD_REQUEST],
    [
      'Content-Length with Transfer-Encoding: chunked',
      (h) => `POST /smuggle HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      BAD_REQUEST,
    ],
    [
      'two different Content-Lengths',
      (h) => `POST /smuggle HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`,
      BAD_REQUEST,
    ],
    [
      'Transfer-Encoding that does not end in chunked',
      (h) => `POST /smuggle HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
      BAD_REQUEST,
    ],
    ['a space before the colon', (h) => `GET / HTTP/1.1\r\nHost : ${h}\r\n\r\n`, BAD_REQUEST],
    ['a NUL in a header value', (h) => `GET / HTTP/1.1\r\nHost: ${h}\r\nX-A: a\0b\r\n\r\n`, BAD_REQUEST],
    ['HTTP/1.1 without Host', () => 'GET / HTTP/1.1\r\n\r\n', BAD_REQUEST],
    [
      'headers over 32 KiB',
      (h) => `GET / HTTP/1.1\r\nHost: ${h}\r\nX-Big: ${'a'.repeat(33 * 1024)}\r\n\r\n`,
      'HTTP/1.1 431 Request Header Fields Too Large',
    ],
  ];

  test.each(cases)('%s: refused on the HTTP listener', async (_name, build, statusLine) => {
    const app = await startRecordingApp();
    const { httpPort } = await start({ target: `127.0.0.1:${app.port}`, httpPort: 0 });

    const result = await raw(httpPort, build(`localhost:${httpPort}`));
    expect({ status: parseRaw(result.data).status, closedByServer: result.closedByServer }).toEqual({
      status: statusLine,
      closedByServer: true,
    });
    expect(app.connections()).toBe(0);
    expect((await send(httpPort, { host: `localhost:${httpPort}` })).status).toBe(200);
  });

  // The whole request fits in the first TLS record: Node's answer gets through.
  test.each(cases.filter(([name]) => name !== 'headers over 32 KiB'))('%s: refused over TLS', async (_name, build, statusLine) => {
    const app = await startRecordingApp();
    const { port, ca } = await start({ target: `127.0.0.1:${app.port}` });

    const result = await raw(port, build(`localhost:${port}`), { ca });
    expect({ status: parseRaw(result.data).status, closedByServer: result.closedByServer }).toEqual({
      status: statusLine,
      closedByServer: true,
    });
    expect(app.connections()).toBe(0);
    expect((await send(port, { host: `localhost:${port}`, ca })).status).toBe(200);
  });

  test('a request over 32 KiB of headers over TLS gets its 431, read before the close, without reaching the app', async () => {
    const app = await startRecordingApp();
    const { port, ca } = await start({ target: `127.0.0.1:${app.port}` });

    const result = await raw(port, `GET / HTTP/1.1\r\nHost: localhost:${port}\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`, { ca });
    expect({ status: parseRaw(result.data).status, closedByServer: result.closedByServer }).toEqual({
      status: 'HTTP/1.1 431 Request Header Fields Too Large',
      closedByServer: true,
    });
    expect(app.connections()).toBe(0);
    expect((await send(port, { host: `localhost:${port}`, ca })).status).toBe(200);
  });

  // An error found in a later TLS record (past the first 16 KiB) still gets its status on the
  // sockets dispatch() hands over after peeking at their first byte.
  test('an error found past the first TLS record still gets its status: 431 for headers over 32 KiB, 400 for a bad header after 31 KB', async () => {
    const app = await startRecordingApp();
    const { port, ca } = await start({ target: `127.0.0.1:${app.port}` });

    const big = await raw(port, `GET / HTTP/1.1\r\nHost: localhost:${port}\r\nX-Big: ${'a'.repeat(33 * 1024)}\r\n\r\n`, { ca });
    const late = await raw(port, `GET / HTTP/1.1\r\nHost: localhost:${port}\r\nX-Big: ${'a'.repeat(31_000)}\r\nBad Header\r\n\r\n`, { ca });
    expect([parseRaw(big.data).status, parseRaw(late.data).status]).toEqual(['HTTP/1.1 431 Request Header Fields Too Large', BAD_REQUEST]);
  });
});

describe('secrets never leak into logs or error pages', () => {
  const SECRETS = {
    authorization: 'Bearer authz-secret-5d1f0c',
    cookie: 'session=cookie-secret-77a3e1; csrftoken=cookie-secret-2b9c40',
    'proxy-authorization': 'Basic cHJveHktc2VjcmV0LWU0YTk=',
  };
  const secretValues = [
    ...Object.values(SECRETS),
    'authz-secret-5d1f0c',
    'cookie-secret-77a3e1',
    'cookie-secret-2b9c40',
    'cHJveHktc2VjcmV0LWU0YTk=',
  ];

  function expectNoSecrets(where: string, text: string): void {
    for (const secret of secretValues) expect(text.includes(secret), `${where} contains ${secret}`).toBe(false);
  }
  const dump = (reply: Reply | UpgradeOutcome | RawResult) => JSON.stringify(reply);

  test('a down app: the exact 502 text names only the target, the HTML page and the log hold no header values', async () => {
    const appPort = await freePort();
    const origin = `http://127.0.0.1:${appPort}`;
    const { port, httpPort, ca, logger } = await start({ target: `127.0.0.1:${appPort}`, httpPort: 0 });

    const text = await send(port, { host: `localhost:${port}`, path: '/account?tab=1', ca, headers: SECRETS });
    expect(text.status).toBe(502);
    expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(text.body).toBe(
      `502 Bad Gateway: dev-https could not reach the app at ${origin}: nothing is listening there (connection refused).\n` +
        `Is the app running and listening on ${origin}? Start it, or point --target at the port it uses. This page will work again as soon as it answers; dev-https needs no restart.\n`,
    );
    const html = await send(port, { host: `localhost:${port}`, ca, headers: { ...SECRETS, accept: 'text/html' } });
    expect(html.status).toBe(502);
    expect(html.body).toContain(`<code>${origin}</code>`);
    const plain = await send(httpPort, { host: `localhost:${httpPort}`, headers: SECRETS, method: 'POST', body: 'x=1' });
    expect(plain.status).toBe(502);
    const ws = await upgrade(port, { host: `localhost:${port}`, ca, headers: SECRETS });
    expect(ws).toEqual({ kind: 'response', status: 502, body: '' });

    for (const [where, reply] of Object.entries({ text, html, plain, ws })) expectNoSecrets(where, dump(reply));
    expect(logger.lines).toEqual([
      `warn: cannot reach the app at ${origin}: nothing is listening there (connection refused); answering 502 until it is back`,
    ]);
    expectNoSecrets('log', logger.text());
  });

  test('refused hosts and origins: 403 pages, the raw 403, the 400 on the HTTPS port and their warnings hold no header values', async () => {
    const app = await startRecordingApp();
    const { port, httpPort, ca, logger } = await start({ target: `127.0.0.1:${app.port}`, httpPort: 0 });

    const replies = {
      text: await send(port, { host: 'evil.test', ca, headers: SECRETS }),
      html: await send(port, { host: 'evil2.test', ca, headers: { ...SECRETS, accept: 'text/html' } }),
      http: await send(httpPort, { host: 'evil3.test', headers: SECRETS }),
      wsOrigin: await upgrade(port, { host: `localhost:${port}`, origin: 'https://evil4.test', ca, headers: SECRETS }),
      wsHost: await upgrade(port, { host: 'evil5.test', ca, headers: SECRETS }),
      plainOnTls: await raw(
        port,
        `GET / HTTP/1.1\r\nHost: evil6.test\r\n${Object.entries(SECRETS)
          .map(([k, v]) => `${k}: ${v}\r\n`)
          .join('')}\r\n`,
      ),
    };
    expect(replies.text.body).toBe(`${forbiddenText('evil.test')}\n`);
    expect(replies.html.status).toBe(403);
    expect(replies.http.body).toBe(`${forbiddenText('evil3.test')}\n`);
    expect(replies.wsOrigin).toEqual({ kind: 'response', status: 403, body: '' });
    expect(replies.wsHost).toEqual({ kind: 'response', status: 403, body: '' });
    expect(parseRaw(replies.plainOnTls.data).body).toBe('400 Bad Request: this is an HTTPS port; use https://\n');
    for (const [where, reply] of Object.entries(replies)) expectNoSecrets(where, dump(reply));
    expect(logger.lines).toHaveLength(6);
    expectNoSecrets('log', logger.text());
    expect(app.connections()).toBe(0);
  });

  test('the redirect-loop page and its warning hold no header values', async () => {
    let loopTo = '';
    const app = await startUpstream((_req, res) => {
      res.writeHead(301, { location: loopTo, 'content-length': 0 });
      res.end();
    });
    const { port, ca, logger } = await start({ target: `127.0.0.1:${app.port}` });
    loopTo = `https://localhost:${port}/`;

    const page = await send(port, { host: `localhost:${port}`, ca, headers: { ...SECRETS, accept: 'text/html' } });
    expect(page.status).toBe(508);
    expect(page.body).toContain('<h1>Redirect loop</h1>');
    expectNoSecrets('loop page', dump(page));
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]!.startsWith('warn: redirect loop: ')).toBe(true);
    expectNoSecrets('log', logger.text());
  });

  test('a Secure cookie over the HTTP listener: the warning names the cookie, never its value', async () => {
    const app = await startUpstream((_req, res) => {
      res.setHeader('set-cookie', ['sid=set-cookie-secret-a41f; Path=/; Secure; HttpOnly', 'theme=dark']);
      res.end('ok');
    });
    const { httpPort, logger } = await start({ target: `127.0.0.1:${app.port}`, httpPort: 0 });

    const reply = await send(httpPort, { host: `localhost:${httpPort}`, headers: SECRETS });
    expect(reply.status).toBe(200);
    // Passed through to the client untouched: it is the client's own cookie.
    expect(reply.headers['set-cookie']).toEqual(['sid=set-cookie-secret-a41f; Path=/; Secure; HttpOnly', 'theme=dark']);
    expect(logger.lines).toEqual([
      `warn: the app set the Secure cookie sid over plain HTTP (http://localhost:${httpPort}): Chrome and Firefox accept that from localhost, other browsers drop it (no session, CSRF failures). Use the HTTPS URL.`,
    ]);
    expect(logger.text()).not.toContain('set-cookie-secret-a41f');
    expectNoSecrets('log', logger.text());
  });
});
