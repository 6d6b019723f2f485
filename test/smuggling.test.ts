// Hostile clients: one request in, exactly one request out. The app is a raw TCP server that parses
// what it receives itself (node:http would normalise away the bugs that matter), answers each
// request it parsed with its own sequence number, and keeps its connections alive.
import http2 from 'node:http2';
import { afterEach, describe, expect, test } from 'vitest';
import { onCleanup, runCleanups, start, type Started } from './helpers.js';
import { bodyOf, rawExchange, startRawApp, status } from './raw.js';

afterEach(runCleanups);

/** What the smuggled request looks like: a whole second request, for another host. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Proto: https\r\n\r\n';
const chunked = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n0\r\n\r\n`;

type Listener = 'https' | 'http';

async function setUp(appOptions: Parameters<typeof startRawApp>[0] = {}) {
  const app = await startRawApp(appOptions);
  const started: Started = await start({ target: `127.0.0.1:${app.port}`, httpPort: 0 });
  const on = (listener: Listener, parts: Array<string | Buffer>, options?: { gapMs?: number }) =>
    rawExchange(listener === 'https' ? started.port : started.httpPort, listener === 'https' ? started.ca : null, parts, options);
  const hostOf = (listener: Listener) => `localhost:${listener === 'https' ? started.port : started.httpPort}`;
  return { app, started, on, hostOf };
}

describe.each<Listener>(['https', 'http'])('request framing on the %s listener', (listener) => {
  const cases: Array<[string, (host: string) => string, { method: string; body: string; headers: Record<string, string | undefined> }]> = [
    [
      'DELETE with a chunked body',
      (h) => `DELETE /a HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`,
      { method: 'DELETE', body: SMUGGLED, headers: { 'content-length': String(SMUGGLED.length), 'transfer-encoding': undefined } },
    ],
    [
      'OPTIONS with a chunked body',
      (h) => `OPTIONS /a HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`,
      { method: 'OPTIONS', body: SMUGGLED, headers: { 'content-length': String(SMUGGLED.length), 'transfer-encoding': undefined } },
    ],
    [
      'GET with a body and Connection: content-length',
      (h) => `GET /a HTTP/1.1\r\nHost: ${h}\r\nConnection: content-length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
      { method: 'GET', body: SMUGGLED, headers: { 'content-length': String(SMUGGLED.length) } },
    ],
    [
      'GET chunked with Connection: transfer-encoding',
      (h) => `GET /a HTTP/1.1\r\nHost: ${h}\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`,
      { method: 'GET', body: SMUGGLED, headers: { 'content-length': String(SMUGGLED.length), 'transfer-encoding': undefined } },
    ],
    [
      'POST chunked in several chunks',
      (h) => `POST /a HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n`,
      { method: 'POST', body: 'abcdefg', headers: { 'content-length': '7' } },
    ],
    [
      'DELETE without a body',
      (h) => `DELETE /a HTTP/1.1\r\nHost: ${h}\r\n\r\n`,
      { method: 'DELETE', body: '', headers: { 'content-length': '0' } },
    ],
    [
      'GET without a body',
      (h) => `GET /a HTTP/1.1\r\nHost: ${h}\r\n\r\n`,
      { method: 'GET', body: '', headers: { 'content-length': undefined, 'transfer-encoding': undefined } },
    ],
  ];

  // A Python development server reads Content-Length only: a chunked body would be its next request.
  test.each(cases)(
    '%s: the app (reading Content-Length only, as Python servers do) parses one request with exactly that body, and the next client gets its own answer',
    async (_name, build, expected) => {
      const { app, on, hostOf } = await setUp({ python: true });
      const first = await on(listener, [build(hostOf(listener))]);
      expect(status(first)).toBe('HTTP/1.1 200 OK');
      const victim = await on(listener, [`GET /victim HTTP/1.1\r\nHost: ${hostOf(listener)}\r\n\r\n`]);
      expect(bodyOf(victim)).toBe('GET /victim #2');
      expect(app.requests.map((r) => `${r.method} ${r.target}`)).toEqual([`${expected.method} /a`, 'GET /victim']);
      const [request] = app.requests;
      expect(request!.body).toBe(expected.body);
      for (const [name, value] of Object.entries(expected.headers)) expect([name, request!.headers[name]]).toEqual([name, value]);
      // Both went over the one pooled connection: nothing was left on it.
      expect(app.connections()).toBe(1);
    },
  );

  test('a chunked body over 64 KiB is streamed chunked, and an app that reads chunked gets all of it', async () => {
    const { app, on, hostOf } = await setUp();
    const big = 'x'.repeat(100 * 1024);
    const response = await on(listener, [
      `PUT /big HTTP/1.1\r\nHost: ${hostOf(listener)}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      chunked(big),
    ]);
    expect(status(response)).toBe('HTTP/1.1 200 OK');
    expect(app.requests.map((r) => [r.method, r.headers['transfer-encoding'], r.headers['content-length'], r.body.length])).toEqual([
      ['PUT', 'chunked', undefined, big.length],
    ]);
  });

  test.each([
    [
      'a transfer coding other than chunked',
      (h: string) => `POST /a HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${chunked('abc')}`,
      'HTTP/1.1 501 Not Implemented',
      '501 Not Implemented: dev-https cannot pass this request on: unsupported Transfer-Encoding "gzip, chunked"\n',
    ],
    [
      'Transfer-Encoding in an HTTP/1.0 request',
      (h: string) => `POST /a HTTP/1.0\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\n\r\n${chunked('abc')}`,
      'HTTP/1.1 400 Bad Request',
      '400 Bad Request: dev-https cannot pass this request on: Transfer-Encoding in an HTTP/1.0 request\n',
    ],
    [
      'Content-Length and Transfer-Encoding together',
      (h: string) => `POST /a HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n${chunked('abc')}`,
      'HTTP/1.1 400 Bad Request',
      '',
    ],
    [
      'a WebSocket upgrade with a body',
      (h: string) =>
        `GET /ws HTTP/1.1\r\nHost: ${h}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
      'HTTP/1.1 400 Bad Request',
      '400 Bad Request: a WebSocket upgrade request cannot carry a body\n',
    ],
  ])('%s is refused before anything reaches the app', async (_name, build, statusLine, body) => {
    const { app, on, hostOf } = await setUp();
    const response = await on(listener, [build(hostOf(listener))]);
    expect(status(response)).toBe(statusLine);
    if (body) expect(bodyOf(response)).toBe(body);
    expect(app.requests).toEqual([]);
  });

  test('a WebSocket handshake the app answers as a plain request leaves no connection for the next client', async () => {
    const { app, on, hostOf } = await setUp();
    const upgrade = await on(listener, [
      `GET /ws HTTP/1.1\r\nHost: ${hostOf(listener)}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    ]);
    expect(status(upgrade)).toBe('HTTP/1.1 200 OK');
    const victim = await on(listener, [`GET /victim HTTP/1.1\r\nHost: ${hostOf(listener)}\r\n\r\n`]);
    expect(bodyOf(victim)).toBe('GET /victim #2');
    expect(app.requests.map((r) => [r.connection, `${r.method} ${r.target}`])).toEqual([
      [1, 'GET /ws'],
      [2, 'GET /victim'],
    ]);
  });

  test('an app that answers before reading the body: its connection is closed, never pooled, and the next client gets its own answer', async () => {
    const { app, on, hostOf } = await setUp({ answerEarly: ['/early'] });
    // The body's first byte goes with the head (Node's client sends the head with it), the rest later.
    const early = await on(
      listener,
      [`POST /early HTTP/1.1\r\nHost: ${hostOf(listener)}\r\nContent-Length: ${SMUGGLED.length + 1}\r\n\r\n-`, SMUGGLED],
      { gapMs: 200 },
    );
    expect(bodyOf(early)).toBe('POST /early #1');
    const victim = await on(listener, [`GET /victim HTTP/1.1\r\nHost: ${hostOf(listener)}\r\n\r\n`]);
    expect(bodyOf(victim)).toBe('GET /victim #2');
    // The rest of the body never reached the app, where it would have been a request of its own.
    expect(app.requests.map((r) => `${r.method} ${r.target}`)).toEqual(['POST /early', 'GET /victim']);
    expect(app.requests.find((r) => r.target === '/victim')!.connection).toBe(2);
  });
});

describe('request framing over HTTP/2', () => {
  async function h2(started: Started) {
    const session = http2.connect(`https://localhost:${started.port}`, { ca: started.ca });
    onCleanup(() => void session.destroy());
    session.on('error', () => undefined);
    return session;
  }
  function send(
    session: http2.ClientHttp2Session,
    headers: http2.OutgoingHttpHeaders,
    body: string | null,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const stream = session.request(headers, { endStream: body === null });
      let text = '';
      let status = 0;
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (text += c));
      stream.on('end', () => resolve({ status, body: text }));
      stream.on('error', reject);
      if (body !== null) stream.end(body);
    });
  }

  test.each(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST'])(
    '%s with DATA frames and no content-length reaches the app (reading Content-Length only) as one request with that body',
    async (method) => {
      const { app, started } = await setUp({ python: true });
      const session = await h2(started);
      const reply = await send(session, { ':method': method, ':path': '/a' }, SMUGGLED);
      expect(reply.status).toBe(200);
      const victim = await send(session, { ':method': 'GET', ':path': '/victim' }, null);
      expect(victim.body).toBe('GET /victim #2');
      expect(app.requests.map((r) => [r.method, r.target, r.headers['content-length'], r.headers['transfer-encoding'], r.body])).toEqual([
        [method, '/a', String(SMUGGLED.length), undefined, SMUGGLED],
        ['GET', '/victim', undefined, undefined, ''],
      ]);
    },
  );

  test('an empty DATA frame after the headers is no body: a GET arrives without Content-Length, a POST with Content-Length: 0', async () => {
    const { app, started } = await setUp({ python: true });
    const session = await h2(started);
    await send(session, { ':method': 'GET', ':path': '/g' }, '');
    await send(session, { ':method': 'POST', ':path': '/p' }, '');
    expect(app.requests.map((r) => [r.method, r.headers['content-length'], r.headers['transfer-encoding']])).toEqual([
      ['GET', undefined, undefined],
      ['POST', '0', undefined],
    ]);
  });

  test('a body over 64 KiB without content-length is streamed chunked and arrives whole', async () => {
    const { app, started } = await setUp();
    const session = await h2(started);
    const big = 'y'.repeat(200 * 1024);
    expect((await send(session, { ':method': 'POST', ':path': '/big' }, big)).status).toBe(200);
    expect(app.requests.map((r) => [r.headers['transfer-encoding'], r.body.length])).toEqual([['chunked', big.length]]);
  });
});
