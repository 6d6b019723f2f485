// Hostile clients, beside request framing (smuggling.test.ts): Host values apps read differently,
// headers a client must not choose, HTTP/2 limits, the TLS policy, and what reaches the terminal.
import { execFile } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import { CLIENT_CONTROLLED_HEADERS } from '../src/proxy/forwarded.js';
import { parseHost } from '../src/net.js';
import { escapeControl, formatRequest, logPath } from '../src/logger.js';
import { deferred, onCleanup, poll, runCleanups, start, startUpstream, type Started } from './helpers.js';
import { bodyOf, rawExchange, startRawApp, status } from './raw.js';

afterEach(runCleanups);

/** Host values a WHATWG URL parser accepts, that apps read differently, and other non-hosts. */
const BAD_HOSTS = [
  'evil.example,x.localhost',
  'x;proto=https;y.localhost',
  'user@localhost',
  'localhost\\evil.example',
  'loca%6Chost',
  'localhost?.evil.example',
  'localhost#x',
  'localhost/x',
  'localhost:',
  'localhost:99999',
  'localhost:80:80',
  '[::1',
  '[fe80::1%eth0]',
  '127.1',
  '0x7f.0.0.1',
  'local host',
  '',
];

describe('the Host grammar', () => {
  test.each<[string, { hostname: string; port: number | null } | null]>([
    ['localhost', { hostname: 'localhost', port: null }],
    ['LocalHost:8443', { hostname: 'localhost', port: 8443 }],
    ['localhost.', { hostname: 'localhost.', port: null }],
    ['a-b.c_d.localhost:1', { hostname: 'a-b.c_d.localhost', port: 1 }],
    ['127.0.0.1:65535', { hostname: '127.0.0.1', port: 65535 }],
    ['[::1]:8443', { hostname: '::1', port: 8443 }],
    ['[0:0::1]', { hostname: '::1', port: null }],
    ...BAD_HOSTS.map((h) => [h, null] as [string, null]),
  ])('parseHost(%j)', (value, expected) => {
    expect(parseHost(value)).toEqual(expected);
  });

  test.each(BAD_HOSTS.filter((h) => h !== '' && !h.includes(' ')))(
    '%s gets 400 on both listeners, nothing reaches the app, and the warning escapes it',
    async (host) => {
      const app = await startRawApp();
      const started = await start({ target: `127.0.0.1:${app.port}`, httpPort: 0 });
      const line = `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
      const overTls = await rawExchange(started.port, started.ca, [line]);
      const plain = await rawExchange(started.httpPort, null, [line]);
      expect([status(overTls), bodyOf(overTls), status(plain)]).toEqual([
        'HTTP/1.1 400 Bad Request',
        '400 Bad Request: an invalid Host header\n',
        'HTTP/1.1 400 Bad Request',
      ]);
      expect(app.requests).toEqual([]);
      expect(started.logger.lines).toEqual([
        `warn: refused a malformed request (an invalid Host header "${host}"); it did not reach the app`,
      ]);
    },
  );

  test('two Host headers get 400', async () => {
    const app = await startRawApp();
    const started = await start({ target: `127.0.0.1:${app.port}` });
    const reply = await rawExchange(started.port, started.ca, [`GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n`]);
    expect(status(reply)).toBe('HTTP/1.1 400 Bad Request');
    expect(app.requests).toEqual([]);
  });

  test('over HTTP/2: an invalid :authority, or a host header that differs from it, gets 400', async () => {
    const app = await startRawApp();
    const started = await start({ target: `127.0.0.1:${app.port}` });
    const session = connect(started);
    const statusOf = (headers: http2.OutgoingHttpHeaders) =>
      new Promise<number>((resolve) => {
        const stream = session.request(headers);
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', () => resolve(-1));
        stream.resume();
      });
    expect(await statusOf({ ':path': '/', ':authority': 'evil.example,x.localhost' })).toBe(400);
    expect(await statusOf({ ':path': '/', ':authority': `localhost:${started.port}`, host: 'evil.example' })).toBe(400);
    expect(await statusOf({ ':path': '/', ':authority': `localhost:${started.port}` })).toBe(200);
    expect(app.requests.map((r) => r.headers.host)).toEqual([`localhost:${started.port}`]);
  });
});

describe('headers a client must not choose', () => {
  test('every spoofable header the README lists is removed, in any case and with underscores, and ours are set', async () => {
    const app = await startRawApp();
    const started = await start({ target: `127.0.0.1:${app.port}` });
    const names = CLIENT_CONTROLLED_HEADERS.map((n) => n.replace('*', 'anything'));
    const spellings = [(n: string) => n.toUpperCase(), (n: string) => n.replace(/-/g, '_'), (n: string) => n.replace(/-/g, '.')];
    const spoofed = names.map((n, i) => `${spellings[i % 3]!(n)}: spoofed`).join('\r\n');
    await rawExchange(started.port, started.ca, [`GET / HTTP/1.1\r\nHost: localhost\r\n${spoofed}\r\n\r\n`]);
    const received = app.requests[0]!.headers;
    expect(Object.values(received).filter((v) => v.includes('spoofed'))).toEqual([]);
    expect(received['x-forwarded-proto']).toBe('https');
    expect(received.forwarded).toBe('for=127.0.0.1;host=localhost;proto=https');
    // The ones the issue names, spelled out, so the list cannot silently lose one.
    for (const name of [
      'x-script-name',
      'x-scheme',
      'x-proto',
      'x-https',
      'https',
      'x-arr-ssl',
      'cloudfront-forwarded-proto',
      'client-ip',
      'x-cluster-client-ip',
      'cf-connecting-ip',
      'fastly-client-ip',
      'x-original-forwarded-for',
      'x-original-url',
      'x-rewrite-url',
      'x-original-host',
      'x-host',
    ]) {
      expect(
        names.some((n) => n === name || (n.endsWith('anything') && name.startsWith(n.slice(0, -'anything'.length)))),
        name,
      ).toBe(true);
    }
  });
});

function connect(started: Started, options: http2.SecureClientSessionOptions = {}): http2.ClientHttp2Session {
  const session = http2.connect(`https://localhost:${started.port}`, { ca: started.ca, ...options });
  session.on('error', () => undefined);
  onCleanup(() => void session.destroy());
  return session;
}

function h2request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
): Promise<{ status: number; body: string; rstCode: number }> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': '/', ...headers });
    let status = 0;
    let body = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (body += c));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ status, body, rstCode: stream.rstCode ?? 0 }));
  });
}

describe('HTTP/2 limits', () => {
  test('250 concurrent streams are advertised, and one connection cannot open more app connections than that', async () => {
    const app = await startRawApp({ hold: true });
    const started = await start({ target: `127.0.0.1:${app.port}` });
    const session = connect(started, { peerMaxConcurrentStreams: 1000 });
    const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
    expect(settings.maxConcurrentStreams).toBe(250);
    for (let i = 0; i < 300; i++) void h2request(session, { ':path': `/hold/${i}` });
    expect(await poll(() => (app.requests.length >= 250 ? app.requests.length : null))).toBe(250);
    // What the client queued past the limit waits for a stream: nothing more reaches the app.
    await new Promise((r) => setTimeout(r, 300));
    expect([app.requests.length, app.connections()]).toEqual([250, 250]);
  });

  test('a session without open streams is closed after idleTimeout; one with an open stream is not', async () => {
    const held = deferred<http.ServerResponse>();
    const app = await startUpstream((req, res) => {
      if (req.url === '/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: 1\n\n');
        held.resolve(res);
      } else res.end('ok');
    });
    const started = await start({ target: `127.0.0.1:${app.port}`, idleTimeout: 300 });
    const idle = connect(started);
    expect((await h2request(idle, {})).status).toBe(200);
    const busy = connect(started);
    void h2request(busy, { ':path': '/sse' });
    const res = await held.promise;
    const idleClosed = await new Promise<string>((resolve) => idle.once('goaway', () => resolve('goaway')));
    expect(idleClosed).toBe('goaway');
    await new Promise((r) => setTimeout(r, 600));
    expect(busy.closed || busy.destroyed).toBe(false);
    res.end();
  });

  test('150 cookies, each its own header field as browsers send them, reach the app as one Cookie header', async () => {
    const app = await startRawApp();
    const started = await start({ target: `127.0.0.1:${app.port}` });
    const cookies = Array.from({ length: 150 }, (_, i) => `c${i}=${'v'.repeat(40)}`);
    const reply = await h2request(connect(started), { cookie: cookies });
    expect(reply.status).toBe(200);
    expect(app.requests[0]!.headers.cookie).toBe(cookies.join('; '));
  });

  test('headers over 32 KiB get 431 over HTTP/2 and never reach the app', async () => {
    const app = await startRawApp();
    const started = await start({ target: `127.0.0.1:${app.port}` });
    const reply = await h2request(connect(started), { 'x-big': 'a'.repeat(40 * 1024) });
    expect(reply.status).toBe(431);
    expect(reply.body).toMatch(/^431 Request Header Fields Too Large: request headers of \d+ bytes, over the limit of 32768\n$/);
    expect(app.requests).toEqual([]);
  });

  test('a header the app refuses by closing its connection is a 502 for that request, and dev-https does not call the app down', async () => {
    const app = await startUpstream((req, res) => {
      if (req.headers['x-refuse'] !== undefined) req.socket.destroy();
      else res.end('ok');
    });
    const started = await start({ target: `127.0.0.1:${app.port}` });
    const session = connect(started);
    expect((await h2request(session, { 'x-refuse': '1' })).status).toBe(502);
    expect((await h2request(session, {})).status).toBe(200);
    expect(started.logger.lines.filter((l) => l.includes('cannot reach'))).toEqual([]);
  });
});

describe('TLS', () => {
  const handshake = (port: number, args: string[]) =>
    new Promise<string>((resolve) => {
      const child = execFile(
        'openssl',
        ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args],
        { timeout: 10_000 },
        (_err, stdout, stderr) => {
          const cipher = /Cipher is (\S+)/.exec(stdout)?.[1];
          resolve(cipher && cipher !== '(NONE)' ? cipher : 'refused');
          void stderr;
        },
      );
      child.stdin!.end();
    });

  test.each<[string, string[], string]>([
    ['TLS 1.3 AES-128-GCM', ['-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256'], 'TLS_AES_128_GCM_SHA256'],
    ['TLS 1.3 AES-256-GCM', ['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384'], 'TLS_AES_256_GCM_SHA384'],
    ['TLS 1.3 ChaCha20', ['-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256'], 'TLS_CHACHA20_POLY1305_SHA256'],
    ['TLS 1.2 ECDHE AES-GCM', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256'], 'ECDHE-ECDSA-AES128-GCM-SHA256'],
    ['TLS 1.2 ECDHE ChaCha20', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305'], 'ECDHE-ECDSA-CHACHA20-POLY1305'],
    ['TLS 1.2 CBC', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA'], 'refused'],
    ['TLS 1.2 CCM', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-CCM:ECDHE-ECDSA-AES128-CCM8'], 'refused'],
    ['TLS 1.3 CCM and CCM8', ['-tls1_3', '-ciphersuites', 'TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256'], 'refused'],
    ['TLS 1.1', ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'], 'refused'],
  ])('%s: %s', async (_name, args, expected) => {
    const started = await start({ target: 1 });
    expect(await handshake(started.port, args)).toBe(expected);
  });

  test('a *.localhost certificate issued on the handshake keeps the same policy', async () => {
    const started = await start({ target: 1 });
    const args = (cipher: string) => ['-servername', 'shop.localhost', '-tls1_2', '-cipher', cipher];
    expect(await handshake(started.port, args('ECDHE-ECDSA-AES128-SHA256'))).toBe('refused');
    expect(await handshake(started.port, args('ECDHE-ECDSA-AES128-GCM-SHA256'))).toBe('ECDHE-ECDSA-AES128-GCM-SHA256');
  });

  test('a client-initiated renegotiation is refused', async () => {
    const started = await start({ target: 1 });
    const socket = tls.connect({ host: '127.0.0.1', port: started.port, ca: started.ca, servername: 'localhost', maxVersion: 'TLSv1.2' });
    onCleanup(() => void socket.destroy());
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    const result = await new Promise<string>((resolve) => {
      const ok = socket.renegotiate({}, (err) => resolve(err ? 'refused' : 'renegotiated'));
      if (!ok) resolve('refused');
      socket.once('close', () => resolve('refused'));
    });
    expect(result).toBe('refused');
  });
});

describe('a target that is not on this machine', () => {
  test.each<[string, Parameters<typeof start>[0]['origins'], string]>([
    ['a flag', undefined, '--target http://192.0.2.7:8000'],
    [
      'a config file',
      { target: { label: '"target" in dev-https.config.json', fromConfig: true } },
      '"target": "http://192.0.2.7:8000" in dev-https.config.json',
    ],
    ['the environment', { target: { label: 'DEV_HTTPS_TARGET', fromConfig: false } }, 'DEV_HTTPS_TARGET=http://192.0.2.7:8000'],
  ])('from %s: one warning that names where it came from', async (_from, origins, named) => {
    const { logger } = await start({ target: '192.0.2.7:8000', ...(origins ? { origins } : {}) });
    expect(logger.lines).toEqual([
      `warn: ${named}: the app is not on this machine, so your requests to dev-https, cookies included, go to 192.0.2.7 over plain HTTP`,
    ]);
  });

  test.each(['localhost:8000', '127.0.0.2:8000', '[::1]:8000', 'app.localhost:8000'])('%s: no warning', async (target) => {
    const { logger } = await start({ target });
    expect(logger.lines).toEqual([]);
  });
});

describe('what reaches the terminal', () => {
  test.each<[string, string]>([
    ['/a\x1b[2J', '/a\\x1b[2J'],
    ['/\u009b31m', '/\\x9b31m'],
    ['/ok\u0085line', '/ok\\x85line'],
    ['/tab\there', '/tab\\x09here'],
    ['/caf\u00e9', '/caf\u00e9'],
  ])('logPath(%j) escapes control characters, C1 included', (path, expected) => {
    expect(logPath(path)).toBe(expected);
    expect(escapeControl(path)).toBe(expected);
  });

  test('C1 characters from a client are escaped: an HTTP/2 path in the request line, an Origin in the refusal warning', async () => {
    const app = await startRawApp();
    const lines: string[] = [];
    const warnings: string[] = [];
    const started = await start({
      target: `127.0.0.1:${app.port}`,
      logger: { info() {}, warn: (m) => warnings.push(m), error() {}, request: (e) => lines.push(formatRequest(e)) },
    });
    // Node's HTTP/1 parser refuses such bytes in a request target; HTTP/2 passes them (latin1).
    expect((await h2request(connect(started), { ':path': '/x\u009b2J' })).status).toBe(200);
    await poll(() => lines.length || null);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d https h2 GET \/x\\x9b2J 200 \d+ ms$/);
    // Header values may carry bytes 0x80-0xff (obs-text): a WebSocket Origin with CSI in it.
    const upgrade = Buffer.concat([
      Buffer.from(
        `GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://a`,
      ),
      Buffer.from([0x9b]),
      Buffer.from('31m.example\r\n\r\n'),
    ]);
    expect(status(await rawExchange(started.port, started.ca, [upgrade]))).toBe('HTTP/1.1 403 Forbidden');
    expect(warnings.filter((w) => w.includes('Origin'))).toEqual([expect.stringContaining('"http://a\\x9b31m.example"')]);
    expect(warnings.join('\n')).not.toMatch(/[\u0080-\u009f]/);
  });
});
