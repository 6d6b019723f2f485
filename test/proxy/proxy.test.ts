// The proxy end to end: real apps on ephemeral ports, real TLS with the generated certificate
// trusted through `ca`, real client sockets. What the app receives, what the client gets back.
import fs from 'node:fs/promises';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import { DevHttpsError } from '../../src/index.js';
import {
  bigBodyHandler,
  captureLogger,
  deferred,
  downloadSha256,
  echoHandler,
  MiB,
  payloadSha256,
  uploadBig,
  freePort,
  h2get,
  onCleanup,
  readResponse,
  request,
  runCleanups,
  start,
  startError,
  startUpstream,
  tempDir,
  type Reply,
} from '../helpers.js';

afterEach(runCleanups);

// ---------------------------------------------------------------------------------------------
// Local tools

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** An app that records every request (with its body) and answers with it as JSON. */
function recordingApp(): { seen: Seen[]; handler: http.RequestListener } {
  const seen: Seen[] = [];
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(entry);
      const body = JSON.stringify(entry);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  };
  return { seen, handler };
}

function parse(reply: Reply): Seen {
  expect(reply.status).toBe(200);
  return JSON.parse(reply.body) as Seen;
}

/** Header names as they arrived on the wire, lowercased, once per header line. */
function rawNames(seen: Seen): string[] {
  return seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
}

/**
 * Writes `text` on a fresh TCP (or TLS, with `ca`) connection and resolves with the response
 * head and its Content-Length body, without waiting for the connection to close.
 */
function rawExchange(port: number, text: string, ca?: string): Promise<{ head: string; body: string }> {
  const socket = ca ? tls.connect({ host: '127.0.0.1', port, ca }) : net.connect({ host: '127.0.0.1', port });
  onCleanup(() => void socket.destroy());
  socket.on(ca ? 'secureConnect' : 'connect', () => socket.write(text));
  return readResponse(socket);
}

/** Reads from `socket` until `n` bytes have arrived. */
function readBytes(socket: net.Socket, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length >= n) {
        socket.off('data', onData);
        resolve(got.toString('utf8'));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** What connecting to host:port gives: 'connected' or the error code. */
function connectResult(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
  });
}

function closed(emitter: { once(event: 'close', fn: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => emitter.once('close', () => resolve()));
}

type UpgradeOutcome =
  | { kind: 'upgrade'; status: number; headers: http.IncomingHttpHeaders; socket: net.Socket; head: Buffer }
  | { kind: 'response'; status: number; headers: http.IncomingHttpHeaders; body: string };

/** A WebSocket-style upgrade request (no frames, just the handshake) over HTTP or HTTPS. */
function upgradeRequest(url: string, ca?: string): Promise<UpgradeOutcome> {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { headers: { Connection: 'Upgrade', Upgrade: 'websocket' }, ca, agent: false });
    req.on('upgrade', (res, socket, head) => {
      onCleanup(() => void socket.destroy());
      resolve({ kind: 'upgrade', status: res.statusCode!, headers: res.headers, socket, head });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ kind: 'response', status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** An app that accepts upgrades and echoes every byte back, recording the upgrade requests. */
async function startEchoUpgradeApp(): Promise<{ port: number; upgrades: http.IncomingHttpHeaders[]; connections: () => number }> {
  const upgrades: http.IncomingHttpHeaders[] = [];
  const app = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  app.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    upgrades.push(req.headers);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    if (head.length) socket.write(head);
    socket.pipe(socket);
  });
  return { port: app.port, upgrades, connections: app.connections };
}

// ---------------------------------------------------------------------------------------------

describe('what the app receives', () => {
  test('an HTTPS request arrives with forwarded headers set, Host, method, path, query and body unchanged', async () => {
    const app = recordingApp();
    const upstream = await startUpstream(app.handler);
    const { port, ca } = await start({ target: upstream.port });

    const reply = await request(`https://localhost:${port}/some/path?x=1&y=%20two`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain', 'x-custom': 'kept' },
      body: 'the request body',
      ca,
    });

    const seen = parse(reply);
    expect(seen.method).toBe('PUT');
    expect(seen.url).toBe('/some/path?x=1&y=%20two');
    expect(seen.body).toBe('the request body');
    expect(seen.headers.host).toBe(`localhost:${port}`);
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-host']).toBe(`localhost:${port}`);
    expect(seen.headers['x-forwarded-port']).toBe(String(port));
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers.forwarded).toBe(`for=127.0.0.1;host="localhost:${port}";proto=https`);
    expect(seen.headers['content-type']).toBe('text/plain');
    expect(seen.headers['x-custom']).toBe('kept');
    expect(app.seen).toHaveLength(1);
  });

  test("the head the app receives, byte for byte: the client's headers in order, ours after them, the framing last", async () => {
    // A raw app: what arrives on the wire, not what a parser makes of it.
    const heads: string[] = [];
    const app = net.createServer((socket) => {
      let got = '';
      socket.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/\r\ncontent-length: (\d+)/.exec(got)?.[1] ?? 0);
        if (got.length < end + 4 + length) return;
        heads.push(got.slice(0, end + 4 + length));
        got = '';
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => app.close(() => resolve())));
    const { port, ca } = await start({ target: (app.address() as net.AddressInfo).port });
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca });
    onCleanup(() => void socket.destroy());
    socket.write(
      `POST /p?q=1 HTTP/1.1\r\nHost: localhost:${port}\r\nAccept: a\r\nX-Forwarded-Proto: http\r\nAccept: b\r\n` +
        `Transfer-Encoding: chunked\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    );
    await readResponse(socket);
    const session = http2.connect(`https://localhost:${port}`, { ca });
    onCleanup(() => void session.destroy());
    expect((await h2get(session)).status).toBe(200);
    const ours = (p: number) =>
      `x-forwarded-proto: https\r\nx-forwarded-host: localhost:${p}\r\nx-forwarded-port: ${p}\r\nx-forwarded-for: 127.0.0.1\r\n` +
      `forwarded: for=127.0.0.1;host="localhost:${p}";proto=https\r\n`;
    expect(heads).toEqual([
      `POST /p?q=1 HTTP/1.1\r\nhost: localhost:${port}\r\naccept: a, b\r\ncookie: a=1; b=2\r\n${ours(port)}content-length: 3\r\nConnection: keep-alive\r\n\r\nabc`,
      `GET / HTTP/1.1\r\nhost: localhost:${port}\r\n${ours(port)}Connection: keep-alive\r\n\r\n`,
    ]);
  });

  test.each([
    ['dot segments and escapes pass byte for byte', 'GET /a/../b/./c//d?x=1&y=%2F&z=%zz', '/a/../b/./c//d?x=1&y=%2F&z=%zz'],
    ['a path starting with //', 'GET //double/slash', '//double/slash'],
    ['the absolute-form a proxy client sends becomes a path', 'GET https://localhost:PORT/p?q=1', '/p?q=1'],
    ['OPTIONS * stays *', 'OPTIONS *', '*'],
  ])('the request target: %s', async (_name, requestLine, url) => {
    const upstream = await startUpstream(echoHandler());
    const { port, ca } = await start({ target: upstream.port });
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca });
    onCleanup(() => void socket.destroy());
    socket.write(`${requestLine.replace('PORT', String(port))} HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`);
    const { head, body } = await readResponse(socket);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(JSON.parse(body).url).toBe(url);
  });

  test('a DELETE or OPTIONS without a body tells the app Content-Length: 0; one with a body keeps it', async () => {
    const upstream = await startUpstream(echoHandler());
    const { port, ca } = await start({ target: upstream.port });
    const seen = async (method: string, body?: string) => {
      const options = body === undefined ? { method, ca } : { method, ca, body, headers: { 'content-length': String(body.length) } };
      const { headers } = JSON.parse((await request(`https://localhost:${port}/x`, options)).body);
      return [headers['content-length'] ?? null, headers['transfer-encoding'] ?? null];
    };
    expect(await seen('DELETE')).toEqual(['0', null]);
    expect(await seen('OPTIONS')).toEqual(['0', null]);
    expect(await seen('DELETE', 'abc')).toEqual(['3', null]);
    expect(await seen('GET')).toEqual([null, null]);
  });

  test.each([
    ['an HTTP/1.0 client, chunked answer', 'HTTP/1.0', 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n'],
    ['an HTTP/1.1 client, answer with Content-Length', 'HTTP/1.1', 'Content-Length: 5\r\n\r\nhello'],
  ])('an app announcing trailers still reaches %s (the Trailer header is not passed on)', async (_name, version, rest) => {
    // A raw app: Node's own server refuses Trailer with Content-Length.
    const app = net.createServer((socket) =>
      socket.once('data', () => socket.end(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: X-Checksum\r\n${rest}`)),
    );
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => app.close(() => resolve())));
    const { port, ca } = await start({ target: (app.address() as net.AddressInfo).port });
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca });
    onCleanup(() => void socket.destroy());
    socket.write(`GET / ${version}\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`);
    const raw = await new Promise<string>((resolve, reject) => {
      let got = '';
      socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
      socket.on('end', () => resolve(got));
      socket.on('error', reject);
    });
    expect(raw.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(raw.toLowerCase()).not.toContain('\r\ntrailer:');
    expect(raw.endsWith('\r\n\r\nhello')).toBe(true);
  });

  test("the app's status code, reason phrase and headers reach an HTTP/1.1 client unchanged", async () => {
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(299, 'Custom Reason', { 'content-type': 'text/plain', 'content-length': '2', 'x-app': 'yes' });
      res.end('ok');
    });
    const { port, ca } = await start({ target: upstream.port });
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca });
    onCleanup(() => void socket.destroy());
    socket.write(`GET / HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n\r\n`);
    const { head, body } = await readResponse(socket);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 299 Custom Reason');
    expect(head).toMatch(/\r\nx-app: yes(\r\n|$)/);
    expect(body).toBe('ok');
  });

  test('client-sent forwarding headers are replaced on the HTTP listener, never passed or appended', async () => {
    const app = recordingApp();
    const upstream = await startUpstream(app.handler);
    const { httpPort } = await start({ target: upstream.port, httpPort: 0 });

    const reply = await request(`http://localhost:${httpPort}/spoof`, {
      headers: {
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-For': '6.6.6.6',
        'X-Forwarded-Host': 'evil.test',
        'X-Forwarded-Port': '443',
        'X-Forwarded-Ssl': 'on',
        Forwarded: 'for=6.6.6.6;proto=https',
        'X-Real-IP': '6.6.6.6',
      },
    });

    const seen = parse(reply);
    expect(seen.headers.host).toBe(`localhost:${httpPort}`);
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-host']).toBe(`localhost:${httpPort}`);
    expect(seen.headers['x-forwarded-port']).toBe(String(httpPort));
    expect(seen.headers.forwarded).toBe(`for=127.0.0.1;host="localhost:${httpPort}";proto=http`);
    expect(seen.headers).not.toHaveProperty('x-forwarded-ssl');
    expect(seen.headers).not.toHaveProperty('x-real-ip');
    // One line each on the wire: ours replaced theirs rather than being added next to them.
    const names = rawNames(seen);
    for (const name of ['x-forwarded-proto', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'forwarded']) {
      expect(
        names.filter((n) => n === name),
        name,
      ).toHaveLength(1);
    }
  });

  test('duplicate X-Forwarded-For header lines are replaced by one', async () => {
    const app = recordingApp();
    const upstream = await startUpstream(app.handler);
    const { httpPort } = await start({ target: upstream.port, httpPort: 0 });

    const response = await rawExchange(
      httpPort,
      `GET /dup HTTP/1.1\r\nHost: localhost:${httpPort}\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\n` +
        `X-Forwarded-Proto: https\r\nX-Forwarded-Proto: https\r\n\r\n`,
    );

    expect(response.head.startsWith('HTTP/1.1 200 ')).toBe(true);
    const seen = JSON.parse(response.body) as Seen;
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    const names = rawNames(seen);
    expect(names.filter((n) => n === 'x-forwarded-for')).toEqual(['x-forwarded-for']);
    expect(names.filter((n) => n === 'x-forwarded-proto')).toEqual(['x-forwarded-proto']);
    expect(seen.rawHeaders).not.toContain('6.6.6.6');
    expect(seen.rawHeaders).not.toContain('7.7.7.7');
  });

  test('a custom name from --name passes as Host unchanged', async () => {
    const app = recordingApp();
    const upstream = await startUpstream(app.handler);
    const { port, ca } = await start({ target: upstream.port, names: ['myapp.test'] });

    // Certificate verification against myapp.test stays on; only the address is pinned.
    const seen = parse(await request(`https://myapp.test:${port}/`, { ca, lookupAddress: '127.0.0.1' }));
    expect(seen.headers.host).toBe(`myapp.test:${port}`);
    expect(seen.headers['x-forwarded-host']).toBe(`myapp.test:${port}`);
    expect(seen.headers.forwarded).toBe(`for=127.0.0.1;host="myapp.test:${port}";proto=https`);
  });
});

describe('connection pool to the app', () => {
  test('sequential requests on separate client connections share one upstream connection', async () => {
    const upstream = await startUpstream(recordingApp().handler);
    const { port, ca } = await start({ target: upstream.port });

    for (let i = 0; i < 20; i++) {
      const seen = parse(await request(`https://localhost:${port}/n/${i}`, { ca, agent: false }));
      expect(seen.url).toBe(`/n/${i}`);
    }
    expect(upstream.connections()).toBe(1);
  });

  test('a client sending Connection: close does not close the pooled upstream connection', async () => {
    const app = recordingApp();
    const upstream = await startUpstream(app.handler);
    const { port, ca } = await start({ target: upstream.port });

    for (let i = 0; i < 5; i++) {
      const seen = parse(await request(`https://localhost:${port}/close/${i}`, { ca, headers: { Connection: 'close' } }));
      // The client's hop-by-hop header is not forwarded: the upstream connection is ours.
      expect(seen.headers.connection).toBe('keep-alive');
    }
    expect(app.seen).toHaveLength(5);
    expect(upstream.connections()).toBe(1);
  });

  // The app's Connection / Keep-Alive describe the pooled connection; passed on, they would keep
  // open a client connection the client asked to close.
  test("a client sending Connection: close is answered with Connection: close, not the app's keep-alive", async () => {
    const upstream = await startUpstream((_req, res) => res.end('app'));
    const { port, ca } = await start({ target: upstream.port });

    const reply = await request(`https://localhost:${port}/`, { ca, headers: { Connection: 'close' } });
    expect(reply.status).toBe(200);
    expect(reply.headers.connection).toBe('close');
    expect(reply.headers).not.toHaveProperty('keep-alive');
  });

  test('headers the app lists in its Connection header stay between the app and dev-https', async () => {
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'x-end-to-end': 'kept', 'content-length': 3 });
      res.end('app');
    });
    const { port, ca } = await start({ target: upstream.port });

    const reply = await request(`https://localhost:${port}/`, { ca });
    expect(reply).toMatchObject({ status: 200, body: 'app' });
    expect(reply.headers).not.toHaveProperty('x-hop');
    expect(reply.headers).not.toHaveProperty('keep-alive');
    expect(reply.headers['x-end-to-end']).toBe('kept');
    // agent:false sends Connection: close, so that is what the client is answered.
    expect(reply.headers.connection).toBe('close');
  });
});

describe('streaming', () => {
  test('a 64 MiB upload streams through with the right size and sha256', async () => {
    const upstream = await startUpstream(bigBodyHandler());
    const { port, ca } = await start({ target: upstream.port });

    const reply = await uploadBig(`https://localhost:${port}/upload`, ca);

    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ bytes: 64 * MiB, sha256: payloadSha256(), te: 'chunked' });
  });

  test('a 64 MiB download streams through intact', async () => {
    const upstream = await startUpstream(bigBodyHandler());
    const { port, ca } = await start({ target: upstream.port });

    const got = await downloadSha256(`https://localhost:${port}/download`, ca);

    expect(got).toEqual({ status: 200, bytes: 64 * MiB, sha256: payloadSha256() });
  });

  test('server-sent events reach the client while the response is still open', async () => {
    const clientSawFirst = deferred();
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: one\n\n');
      // The app only goes on once the client has the first event: a buffering proxy deadlocks here.
      void clientSawFirst.promise.then(() => res.end('data: two\n\n'));
    });
    const { port, ca } = await start({ target: upstream.port });

    const result = await new Promise<{ status: number; type: string | undefined; openAtFirst: boolean; body: string }>(
      (resolve, reject) => {
        const req = https.get(`https://localhost:${port}/events`, { ca, agent: false }, (res) => {
          let body = '';
          let openAtFirst = false;
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
            if (body === 'data: one\n\n') {
              openAtFirst = !res.complete && !res.readableEnded;
              clientSawFirst.resolve();
            }
          });
          res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], openAtFirst, body }));
          res.on('error', reject);
        });
        req.on('error', reject);
      },
    );

    expect(result).toEqual({ status: 200, type: 'text/event-stream', openAtFirst: true, body: 'data: one\n\ndata: two\n\n' });
  });
});

describe('upgrades', () => {
  test('an upgrade over HTTPS is proxied and bytes flow both ways', async () => {
    const app = await startEchoUpgradeApp();
    const { port, ca } = await start({ target: app.port });

    const outcome = await upgradeRequest(`https://localhost:${port}/socket`, ca);
    if (outcome.kind !== 'upgrade') throw new Error(`expected an upgrade, got ${outcome.status}: ${outcome.body}`);
    expect(outcome.status).toBe(101);
    expect(outcome.headers.upgrade).toBe('websocket');
    const echoed = readBytes(outcome.socket, 4);
    outcome.socket.write('ping');
    expect(await echoed).toBe('ping');

    expect(app.upgrades).toHaveLength(1);
    const seen = app.upgrades[0]!;
    expect(seen['x-forwarded-proto']).toBe('https');
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-port']).toBe(String(port));
    expect(seen.host).toBe(`localhost:${port}`);
    expect(seen.upgrade).toBe('websocket');
    expect(seen.connection?.toLowerCase()).toBe('upgrade');
  });

  test('an upgrade over the HTTP listener is proxied with X-Forwarded-Proto http', async () => {
    const app = await startEchoUpgradeApp();
    const { httpPort } = await start({ target: app.port, httpPort: 0 });

    const outcome = await upgradeRequest(`http://localhost:${httpPort}/socket`);
    if (outcome.kind !== 'upgrade') throw new Error(`expected an upgrade, got ${outcome.status}: ${outcome.body}`);
    expect(outcome.status).toBe(101);
    const echoed = readBytes(outcome.socket, 4);
    outcome.socket.write('pong');
    expect(await echoed).toBe('pong');

    expect(app.upgrades).toHaveLength(1);
    expect(app.upgrades[0]!['x-forwarded-proto']).toBe('http');
    expect(app.upgrades[0]!['x-forwarded-port']).toBe(String(httpPort));
    expect(app.upgrades[0]!.upgrade).toBe('websocket');
  });

  test('an app that refuses the upgrade with a normal 400 response: the client gets that 400', async () => {
    // No 'upgrade' listener: Node hands the request to the request handler like any other.
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain', 'content-length': 16 });
      res.end('no upgrade here\n');
    });
    const { port, ca } = await start({ target: upstream.port });

    const outcome = await upgradeRequest(`https://localhost:${port}/socket`, ca);
    expect(outcome.kind).toBe('response');
    if (outcome.kind !== 'response') return;
    expect(outcome.status).toBe(400);
    expect(outcome.body).toBe('no upgrade here\n');
  });
});

describe('when the app is unreachable', () => {
  test('502 with an HTML or text explanation, one warning, and recovery once the app starts on that port', async () => {
    const appPort = await freePort();
    const origin = `http://localhost:${appPort}`;
    const { port, ca, logger, handle } = await start({ target: appPort });
    expect(handle.target).toBe(origin);

    const html = await request(`https://localhost:${port}/`, { ca, headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(html.status).toBe(502);
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(html.body).toContain('<h1>502 Bad Gateway</h1>');
    expect(html.body).toContain(`<code>${origin}</code>`);

    const text = await request(`https://localhost:${port}/`, { ca });
    expect(text.status).toBe(502);
    expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(text.body.split('\n')[0]).toBe(
      `502 Bad Gateway: dev-https could not reach the app at ${origin}: nothing is listening there (connection refused).`,
    );

    expect((await request(`https://localhost:${port}/`, { ca })).status).toBe(502);
    const warnings = () => logger.lines.filter((l) => l.startsWith('warn: '));
    expect(warnings()).toEqual([
      `warn: cannot reach the app at ${origin}: nothing is listening there (connection refused); answering 502 until it is back`,
    ]);

    await startUpstream((_req, res) => res.end('app is up'), '127.0.0.1', appPort);
    const ok = await request(`https://localhost:${port}/`, { ca });
    expect(ok).toMatchObject({ status: 200, body: 'app is up' });
    expect(logger.lines.filter((l) => l.startsWith('info: The app at'))).toEqual([`info: The app at ${origin} is answering again`]);
    expect(warnings()).toHaveLength(1);
  });

  test('an app that stops while pooled connections exist gives 502, then works again when restarted', async () => {
    const appPort = await freePort();
    const first = await startUpstream((_req, res) => res.end('first'), '127.0.0.1', appPort);
    const { port, ca, logger } = await start({ target: appPort });

    expect(await request(`https://localhost:${port}/`, { ca })).toMatchObject({ status: 200, body: 'first' });
    expect(first.connections()).toBe(1);

    // Stops listening and destroys its sockets, including the one pooled by dev-https.
    await first.close();
    expect((await request(`https://localhost:${port}/`, { ca })).status).toBe(502);
    expect((await request(`https://localhost:${port}/`, { ca })).status).toBe(502);

    await startUpstream((_req, res) => res.end('second'), '127.0.0.1', appPort);
    expect(await request(`https://localhost:${port}/`, { ca })).toMatchObject({ status: 200, body: 'second' });
    expect(logger.lines.filter((l) => l.startsWith('warn: '))).toHaveLength(1);
    expect(logger.lines).toContain(`info: The app at http://localhost:${appPort} is answering again`);
  });

  // http-proxy pipes the app's response into the client's and, on its own, leaves the client's
  // open forever when the app's is cut (requestTimeout is 0). The short timeout only turns such a
  // hang into a quick failure; nothing here measures time.
  test('an app that breaks mid-response: the client sees an incomplete response, the next request works', { timeout: 5000 }, async () => {
    const upstream = await startUpstream((req, res) => {
      if (req.url === '/ok') {
        res.end('fine');
        return;
      }
      // Headers and part of the body, then the connection dies.
      if (req.url === '/broken-length') res.writeHead(200, { 'content-length': 1000 });
      else res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial', () => req.socket.destroy());
    });
    const { port, ca } = await start({ target: upstream.port });

    for (const url of ['/broken-length', '/broken-chunked']) {
      const outcome = await new Promise<string>((resolve) => {
        const req = https.get(`https://localhost:${port}${url}`, { ca, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(`complete ${res.statusCode}`));
          res.on('error', () => undefined);
          res.on('close', () => resolve(res.complete ? `complete ${res.statusCode}` : `aborted ${res.statusCode}`));
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code}`));
      });
      // Never a clean, complete response: that would pass a truncated body off as the whole.
      expect(outcome, url).toMatch(/^(aborted 200|error ECONNRESET)$/);
    }

    expect(await request(`https://localhost:${port}/ok`, { ca })).toMatchObject({ status: 200, body: 'fine' });
  });
});

describe('reaching the app', () => {
  test.each([
    ['127.0.0.1', 'an IPv4-only app'],
    ['::1', 'an IPv6-only app'],
  ])('target localhost:<port> reaches an app listening on %s only (%s)', async (address) => {
    const upstream = await startUpstream((_req, res) => res.end(`hello from ${address}`), address);
    const { port, ca } = await start({ target: `localhost:${upstream.port}` });

    expect(await request(`https://localhost:${port}/`, { ca })).toMatchObject({ status: 200, body: `hello from ${address}` });
    expect(upstream.connections()).toBe(1);
  });
});

describe('the HTTP listener', () => {
  test('proxies plain HTTP with X-Forwarded-Proto http', async () => {
    const app = recordingApp();
    const upstream = await startUpstream(app.handler);
    const { httpPort, handle } = await start({ target: upstream.port, httpPort: 0 });
    expect(handle.urls.http).toBe(`http://localhost:${httpPort}/`);
    expect(handle.redirectHttp).toBe(false);

    const seen = parse(await request(`http://localhost:${httpPort}/plain?q=1`, { method: 'POST', body: 'form=1' }));
    expect(seen).toMatchObject({ method: 'POST', url: '/plain?q=1', body: 'form=1' });
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers.forwarded).toBe(`for=127.0.0.1;host="localhost:${httpPort}";proto=http`);
  });

  test('with redirectHttp answers 307 to the same host, path and query over HTTPS, and the app gets nothing', async () => {
    const upstream = await startUpstream(recordingApp().handler);
    const { port, httpPort, handle } = await start({ target: upstream.port, httpPort: 0, redirectHttp: true });
    expect(handle.redirectHttp).toBe(true);

    const byName = await request(`http://localhost:${httpPort}/a/b?x=1&y=2`);
    expect(byName.status).toBe(307);
    expect(byName.headers.location).toBe(`https://localhost:${port}/a/b?x=1&y=2`);

    const byAddress = await request(`http://127.0.0.1:${httpPort}/a/b?x=1&y=2`);
    expect(byAddress.status).toBe(307);
    expect(byAddress.headers.location).toBe(`https://127.0.0.1:${port}/a/b?x=1&y=2`);

    const post = await request(`http://localhost:${httpPort}/form`, { method: 'POST', body: 'a=1' });
    expect(post.status).toBe(307);
    expect(post.headers.location).toBe(`https://localhost:${port}/form`);

    // The redirect target really is the HTTPS listener.
    expect((await request(byName.headers.location!, { ca: handle.certificate.ca!.cert })).status).toBe(200);
    expect(upstream.connections()).toBe(1);
  });

  test('with redirectHttp the app receives no connection at all', async () => {
    const upstream = await startUpstream(recordingApp().handler);
    const { httpPort } = await start({ target: upstream.port, httpPort: 0, redirectHttp: true });

    expect((await request(`http://localhost:${httpPort}/`)).status).toBe(307);
    expect((await request(`http://localhost:${httpPort}/x`, { method: 'POST', body: 'b' })).status).toBe(307);
    expect(upstream.connections()).toBe(0);
  });
});

describe('the demo app', () => {
  test('without a target the demo app answers over HTTPS and shows what it received', async () => {
    const { handle, port, ca } = await start({});
    expect(handle.demo).toBe(true);
    expect(handle.target).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const json = await request(`https://localhost:${port}/json`, { ca });
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toBe('application/json');
    const report = JSON.parse(json.body) as {
      scheme: string;
      host: string;
      forwarded: Record<string, string>;
      cookies: Record<string, string>;
    };
    expect(report.scheme).toBe('https');
    expect(report.host).toBe(`localhost:${port}`);
    expect(report.forwarded).toEqual({
      'x-forwarded-proto': 'https',
      'x-forwarded-host': `localhost:${port}`,
      'x-forwarded-port': String(port),
      'x-forwarded-for': '127.0.0.1',
      forwarded: `for=127.0.0.1;host="localhost:${port}";proto=https`,
    });
    expect(report.cookies).toEqual({});

    const page = await request(`https://localhost:${port}/`, { ca });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('dev-https demo app');
    expect(page.body).toContain('id="scheme">https<');

    const set = await request(`https://localhost:${port}/set-cookie`, { ca });
    expect(set.status).toBe(303);
    expect(set.headers.location).toBe('/');
    const cookies = set.headers['set-cookie'] ?? [];
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toContain('Secure; HttpOnly');
    const pair = cookies[0]!.split(';')[0]!;
    const [name, value] = pair.split('=') as [string, string];
    expect(name).toBe('dev_https_demo');

    const back = JSON.parse((await request(`https://localhost:${port}/json`, { ca, headers: { cookie: pair } })).body) as {
      cookies: Record<string, string>;
    };
    expect(back.cookies).toEqual({ dev_https_demo: value });
  });
});

describe('listening', () => {
  test('listens on both loopback addresses with one port by default', async () => {
    const app = recordingApp();
    const upstream = await startUpstream(app.handler);
    const { handle, port, ca } = await start({ target: upstream.port });
    expect(handle.addresses).toEqual(['127.0.0.1', '::1']);

    const v4 = parse(await request(`https://127.0.0.1:${port}/v4`, { ca }));
    expect(v4.headers['x-forwarded-for']).toBe('127.0.0.1');

    const v6 = parse(await request(`https://[::1]:${port}/v6`, { ca }));
    expect(v6.headers.host).toBe(`[::1]:${port}`);
    expect(v6.headers['x-forwarded-for']).toBe('::1');
    expect(v6.headers.forwarded).toBe(`for="[::1]";host="[::1]:${port}";proto=https`);
  });

  test('a port in use is a DevHttpsError naming the flag, the port and the address', async () => {
    const occupier = await startUpstream(() => undefined, '127.0.0.1');
    const certDir = await tempDir();
    const p = occupier.port;

    const err = await startError({ target: 1, port: p, certDir, logger: captureLogger() });
    expect(err).toBeInstanceOf(DevHttpsError);
    expect(err).toMatchObject({
      code: 'E_PORT_IN_USE',
      message: `Cannot listen on --port ${p}: the port is already in use on 127.0.0.1; stop what uses it or choose another, e.g. --port ${p + 1}`,
    });
    // The certificate was made before binding and stays for the next start.
    await expect(fs.stat(path.join(certDir, 'cert.pem'))).resolves.toBeTruthy();
    // Nothing was bound on ::1 either.
    expect(await connectResult('::1', p)).toBe('ECONNREFUSED');
  });

  test('a port taken on ::1 only: rejected, and the 127.0.0.1 listener it had opened is closed again', async () => {
    const p = await freePort();
    await startUpstream(() => undefined, '::1', p);

    const err = await startError({ target: 1, port: p, certDir: await tempDir(), logger: captureLogger() });
    expect(err).toMatchObject({
      code: 'E_PORT_IN_USE',
      message: `Cannot listen on --port ${p}: the port is already in use on ::1; stop what uses it or choose another, e.g. --port ${p + 1}`,
    });
    expect(await connectResult('127.0.0.1', p)).toBe('ECONNREFUSED');
  });

  test('an --http-port in use: rejected, and the HTTPS listener already opened is closed again', async () => {
    const occupier = await startUpstream(() => undefined, '127.0.0.1');
    const httpsPort = await freePort();
    const upstream = await startUpstream((_req, res) => res.end('app'));

    const err = await startError({
      target: upstream.port,
      port: httpsPort,
      httpPort: occupier.port,
      certDir: await tempDir(),
      logger: captureLogger(),
    });
    expect(err).toBeInstanceOf(DevHttpsError);
    expect(err).toMatchObject({
      code: 'E_PORT_IN_USE',
      message: `Cannot listen on --http-port ${occupier.port}: the port is already in use on 127.0.0.1; stop what uses it or choose another, e.g. --http-port ${occupier.port + 1}`,
    });
    expect(await connectResult('127.0.0.1', httpsPort)).toBe('ECONNREFUSED');
    expect(await connectResult('::1', httpsPort)).toBe('ECONNREFUSED');

    // Both ports can be had once the occupier is gone: dev-https left nothing behind.
    await occupier.close();
    const again = await start({ target: upstream.port, port: httpsPort, httpPort: occupier.port });
    expect(await request(`https://localhost:${httpsPort}/`, { ca: again.ca })).toMatchObject({ status: 200, body: 'app' });
    expect(await request(`http://localhost:${occupier.port}/`)).toMatchObject({ status: 200, body: 'app' });
  });
});

describe('close()', () => {
  test('resolves, is safe to call twice, and frees the port on both addresses', async () => {
    const upstream = await startUpstream((_req, res) => res.end('app'));
    const { handle, port, ca } = await start({ target: upstream.port });
    expect((await request(`https://localhost:${port}/`, { ca })).status).toBe(200);

    await expect(handle.close()).resolves.toBeUndefined();
    await expect(handle.close()).resolves.toBeUndefined();
    expect(await connectResult('127.0.0.1', port)).toBe('ECONNREFUSED');
    expect(await connectResult('::1', port)).toBe('ECONNREFUSED');
  });

  // server.close() waits for upgraded sockets, which closeAllConnections() does not cut: unless
  // dev-https destroys them first, close() never resolves while a WebSocket is open. The short
  // timeout only turns such a hang into a quick failure; nothing here measures time.
  test('closes an idle keep-alive client connection and an upgraded connection', { timeout: 5000 }, async () => {
    const app = await startEchoUpgradeApp();
    const { handle, port, ca } = await start({ target: app.port });

    const agent = new https.Agent({ keepAlive: true, ca });
    onCleanup(() => agent.destroy());
    const keepAliveSocket = await new Promise<net.Socket>((resolve, reject) => {
      const req = https.get(`https://localhost:${port}/`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(req.socket!));
      });
      req.on('error', reject);
    });
    expect(keepAliveSocket.destroyed).toBe(false);
    const keepAliveClosed = closed(keepAliveSocket);

    const outcome = await upgradeRequest(`https://localhost:${port}/socket`, ca);
    if (outcome.kind !== 'upgrade') throw new Error(`expected an upgrade, got ${outcome.status}`);
    const echoed = readBytes(outcome.socket, 4);
    outcome.socket.write('ping');
    expect(await echoed).toBe('ping');
    const upgradedClosed = closed(outcome.socket);

    await handle.close();
    await keepAliveClosed;
    await upgradedClosed;
    expect(keepAliveSocket.destroyed).toBe(true);
    expect(outcome.socket.destroyed).toBe(true);
  });
});
