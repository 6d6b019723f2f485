// The inspector's record of real requests through a real dev-https: the four heads with their
// marks, the changes, the redirect chains, the masking, the ring's bound, and what it never records.
import http2 from 'node:http2';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import type { InspectedDetail, InspectedRequest } from '../../src/inspector/types.js';
import { request, runCleanups, start, startUpstream, type Started } from '../helpers.js';
import { inspectorRequest, tokenOf } from './support.js';
import { startRawApp } from '../raw.js';

afterEach(runCleanups);

const byName = (rows: InspectedDetail['request']['client']['headers'], name: string) => rows.filter((r) => r.name.toLowerCase() === name);
const only = (s: Started) => s.handle.inspector!;

describe('what a request looks like in the inspector', () => {
  test('a spoofed X-Forwarded-Proto is dropped, ours is set, a Location is rewritten and HSTS removed, each explained', async () => {
    const app = await startUpstream((req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${app.port}/home`, 'strict-transport-security': 'max-age=60' });
      res.end();
    });
    const s = await start({ target: app.port });
    const reply = await request(`https://localhost:${s.port}/login`, { ca: s.ca, headers: { 'x-forwarded-proto': 'http' } });
    expect(reply.status).toBe(302);
    const [summary] = only(s).recent();
    expect(summary).toMatchObject({
      id: 1,
      method: 'GET',
      path: '/login',
      status: 302,
      listener: 'https',
      protocol: 'http/1.1',
      route: null,
      answeredBy: 'app',
      redirectFrom: null,
      loop: null,
      flags: ['hsts-removed', 'location-rewritten', 'spoofed-header-dropped'],
    });
    const detail = only(s).detail(1)!;
    expect(byName(detail.request.client.headers, 'x-forwarded-proto')).toEqual([
      {
        name: 'x-forwarded-proto',
        value: 'http',
        mark: 'dropped',
        why: 'a client must not choose what the app believes about the scheme, host or client address: dropped, dev-https sets X-Forwarded-* itself',
      },
    ]);
    expect(byName(detail.request.app!.headers, 'x-forwarded-proto')).toEqual([
      {
        name: 'x-forwarded-proto',
        value: 'https',
        mark: 'set',
        why: "the scheme the client used to reach dev-https (https): what the app's HTTPS settings read",
      },
    ]);
    expect(detail.request.app!.line).toBe('GET /login HTTP/1.1');
    expect(byName(detail.response.app!.headers, 'location')[0]).toMatchObject({
      value: `http://127.0.0.1:${app.port}/home`,
      mark: 'changed',
    });
    expect(byName(detail.response.client!.headers, 'location')[0]).toMatchObject({
      value: `https://localhost:${s.port}/home`,
      mark: 'changed',
    });
    expect(byName(detail.response.app!.headers, 'strict-transport-security')[0]!.mark).toBe('dropped');
    expect(byName(detail.response.client!.headers, 'strict-transport-security')).toEqual([]);
    expect(detail.changes).toEqual([
      "Dropped the client's x-forwarded-proto: a client must not choose what the app believes about the connection",
      `Set x-forwarded-proto: https, x-forwarded-host: localhost:${s.port}, x-forwarded-port: ${s.port}, x-forwarded-for: 127.0.0.1, forwarded: for=127.0.0.1;host="localhost:${s.port}";proto=https: the app sees the request as the client made it`,
      `Rewrote Location http://127.0.0.1:${app.port}/home → https://localhost:${s.port}/home: it pointed at the app's own address`,
      'Removed Strict-Transport-Security: HSTS on a localhost name would force HTTPS on every app on that name (--keep-hsts passes it)',
    ]);
    expect(detail.target).toBe(`http://localhost:${app.port}`);
  });

  test('the head the app got is the one on the wire: a chunked body arrives framed with its length', async () => {
    const app = await startRawApp();
    const s = await start({ target: app.port });
    const reply = await request(`https://localhost:${s.port}/upload`, {
      ca: s.ca,
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked', 'content-type': 'text/plain' },
      body: 'hello',
    });
    expect(reply.status).toBe(200);
    expect(app.requests).toHaveLength(1);
    const detail = only(s).detail(1)!;
    expect(byName(detail.request.client.headers, 'transfer-encoding')[0]).toMatchObject({ mark: 'dropped' });
    expect(byName(detail.request.app!.headers, 'content-length')[0]).toMatchObject({ value: '5', mark: 'set' });
    // Exactly the raw app's view of the head: the same names in the same order.
    expect(detail.request.app!.headers.map((h) => h.name.toLowerCase())).toEqual(Object.keys(app.requests[0]!.headers));
    expect(detail.request.body).toEqual({ size: 5, type: 'text/plain' });
    expect(detail.changes).toContain('Framed the body itself: the client sent Transfer-Encoding: chunked, the app got Content-Length: 5');
  });

  test('over HTTP/2: pseudo-headers become the request line and Host, the client gets the headers Node sent on the stream', async () => {
    const app = await startUpstream((_req, res) => res.end('ok'));
    const s = await start({ target: app.port });
    const session = http2.connect(`https://localhost:${s.port}`, { ca: s.ca });
    await new Promise<void>((resolve) => {
      const stream = session.request({ ':path': '/h2?token=abc' });
      stream.resume();
      stream.on('end', resolve);
    });
    session.close();
    await waitFor(() => only(s).recent().length === 1);
    const detail = only(s).detail(1)!;
    expect(detail.protocol).toBe('h2');
    expect(detail.path).toBe('/h2?token=…');
    expect(detail.request.client.line).toBe('GET /h2?token=… HTTP/2');
    expect(byName(detail.request.client.headers, ':authority')[0]).toMatchObject({
      mark: 'changed',
      why: "HTTP/2's :authority: the app gets it as Host over HTTP/1.1",
    });
    expect(byName(detail.request.app!.headers, 'host')[0]).toMatchObject({
      value: `localhost:${s.port}`,
      mark: 'set',
      why: "from HTTP/2's :authority",
    });
    expect(detail.response.client!.line).toBe('HTTP/2 200');
    expect(byName(detail.response.client!.headers, 'content-length')[0]).toMatchObject({ value: '2', mark: 'kept' });
    expect(JSON.stringify(detail)).not.toContain('abc');
  });

  test('secrets are masked everywhere and revealed one at a time', async () => {
    const app = await startUpstream((_req, res) => {
      res.setHeader('set-cookie', 'sessionid=S3SSION; Path=/; HttpOnly; Secure');
      res.writeHead(302, { location: '/next?code=C0DE' });
      res.end();
    });
    const s = await start({ target: app.port });
    await request(`https://localhost:${s.port}/callback?state=ST4TE`, {
      ca: s.ca,
      headers: { authorization: 'Bearer T0KEN', cookie: 'a=C00KIE1; b=C00KIE2', referer: `https://localhost:${s.port}/?q=R3F` },
    });
    const detail = only(s).detail(1)!;
    const json = JSON.stringify([detail, only(s).recent()]);
    for (const secret of ['S3SSION', 'C0DE', 'ST4TE', 'T0KEN', 'C00KIE1', 'C00KIE2', 'R3F']) expect(json).not.toContain(secret);
    const auth = byName(detail.request.client.headers, 'authorization')[0]!;
    expect(auth.value).toBe('Bearer …');
    expect(auth.secret).toMatch(/^request\.client\.\d+$/);
    expect(byName(detail.request.client.headers, 'cookie')[0]!.value).toBe('a=…; b=…');
    expect(byName(detail.response.app!.headers, 'set-cookie')[0]!.value).toBe('sessionid=…; Path=/; HttpOnly; Secure');
    expect(detail.request.client.line).toBe('GET /callback?state=… HTTP/1.1');
    const recorder = s.handle.inspector!;
    expect(s.handle.inspector).not.toBeNull();
    const token = await tokenOf(s);
    const reveal = (secret: string) =>
      inspectorRequest(s, '/api/reveal', {
        method: 'POST',
        headers: { 'x-dev-https-token': token, 'content-type': 'application/json', origin: `https://dev-https.localhost:${s.port}` },
        body: JSON.stringify({ id: 1, secret }),
      });
    expect(JSON.parse((await reveal(auth.secret!)).body)).toEqual({ value: 'Bearer T0KEN' });
    expect(JSON.parse((await reveal(detail.request.client.secret!)).body)).toEqual({ value: 'GET /callback?state=ST4TE HTTP/1.1' });
    expect((await reveal('request.client.99')).status).toBe(404);
    expect(recorder.recent()).toHaveLength(1);
    // Revealing is no request of the app's: nothing was logged or recorded.
    expect(s.logger.lines.filter((l) => l.includes('/api/reveal'))).toEqual([]);
  });

  test('a redirect chain is grouped, and a loop is flagged with the fix the terminal prints', async () => {
    const app = await startUpstream((req, res) => {
      if (req.url === '/a') res.writeHead(302, { location: '/b' });
      else if (req.url === '/b') res.writeHead(301, { location: `http://127.0.0.1:${app.port}/c` });
      else if (req.url === '/loop') res.writeHead(302, { location: '/loop' });
      else res.writeHead(200);
      res.end();
    });
    const s = await start({ target: app.port });
    const agent = new https.Agent({ keepAlive: true });
    for (const path of ['/a', '/b', '/c', '/loop'])
      await request(`https://localhost:${s.port}${path}`, { ca: s.ca, agent, headers: { accept: 'text/html' } });
    agent.destroy();
    const recent = only(s).recent();
    expect(recent.map((r) => [r.path, r.status, r.redirectFrom])).toEqual([
      ['/a', 302, null],
      ['/b', 301, 1],
      ['/c', 200, 2],
      ['/loop', 508, null],
    ]);
    const loop = recent[3]!;
    expect(loop.answeredBy).toBe('dev-https');
    expect(loop.flags).toContain('loop');
    expect(loop.loop!.urls).toEqual([`https://localhost:${s.port}/loop`, `https://localhost:${s.port}/loop`]);
    expect(loop.loop!.fix).toBe(s.logger.lines.find((l) => l.startsWith('warn: redirect loop'))!.slice('warn: '.length));
    const detail = only(s).detail(4)!;
    expect(detail.response.app!.line).toBe('HTTP/1.1 302 Found');
    expect(detail.response.client!.line).toMatch(/^HTTP\/1\.1 508 /);
    expect(detail.changes.at(-1)).toBe(
      "Answered 508 with its own page instead of the app's 302: the app redirects in a loop (see the fix)",
    );
  });

  test('a request that never reached the app, and one the app did not answer', async () => {
    const s = await start({ target: await closedPort() });
    await request(`https://localhost:${s.port}/`, { ca: s.ca });
    expect((await inspectorRequest(s, '/', { host: 'evil.example' })).status).toBe(403);
    const [down, refused] = only(s).recent();
    expect(down).toMatchObject({ status: 502, answeredBy: 'dev-https', flags: ['error'] });
    expect(only(s).detail(down!.id)!.request.app).toBeNull();
    expect(only(s).detail(down!.id)!.changes).toEqual([`The app at ${s.handle.target} did not answer: dev-https answered 502`]);
    expect(refused).toMatchObject({ status: 403, answeredBy: 'dev-https' });
    expect(only(s).detail(refused!.id)!.changes).toEqual(['Answered 403 itself: the request did not reach the app']);
  });

  test('the ring keeps the last 100 requests until someone looks, then the last 500', async () => {
    const app = await startUpstream((_req, res) => res.end());
    const s = await start({ target: app.port });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 4 });
    const send = (from: number, count: number) =>
      Promise.all(Array.from({ length: count }, (_, i) => request(`https://localhost:${s.port}/${from + i}`, { ca: s.ca, agent })));
    await send(1, 150);
    expect(only(s).detail(50)).toBeNull();
    expect(only(s).detail(51)!.path).toMatch(/^\/\d+$/);
    // Looking (the page, recent() or subscribe()) keeps the whole ring from then on.
    const seen = only(s).recent();
    expect(seen.map((r) => r.id)).toEqual(Array.from({ length: 100 }, (_, i) => 51 + i));
    await send(151, 510);
    agent.destroy();
    const recent = only(s).recent();
    expect(recent).toHaveLength(500);
    expect(recent[0]!.id).toBe(161);
    expect(recent.at(-1)!.id).toBe(660);
    expect(only(s).detail(160)).toBeNull();
    expect(only(s).detail(161)!.id).toBe(161);
  });

  test('a subscriber that throws is reported once; dev-https and the other subscribers go on', async () => {
    const app = await startUpstream((_req, res) => res.end());
    const s = await start({ target: app.port });
    const got: number[] = [];
    only(s).subscribe(() => {
      throw new Error('tool bug');
    });
    only(s).subscribe((batch) => got.push(...batch.map((r) => r.id)));
    await request(`https://localhost:${s.port}/1`, { ca: s.ca });
    await waitFor(() => got.length === 1);
    await request(`https://localhost:${s.port}/2`, { ca: s.ca });
    await waitFor(() => got.length === 2);
    expect(s.logger.lines.filter((l) => l.includes('subscriber'))).toEqual([
      'warn: an inspector subscriber threw (dev-https keeps running): tool bug',
    ]);
  });

  test('subscribers get the new requests in batches, the same objects as recent()', async () => {
    const app = await startUpstream((_req, res) => res.end());
    const s = await start({ target: app.port });
    const batches: InspectedRequest[][] = [];
    const unsubscribe = only(s).subscribe((batch) => batches.push(batch));
    await Promise.all([1, 2, 3].map((i) => request(`https://localhost:${s.port}/${i}`, { ca: s.ca })));
    await waitFor(() => batches.length > 0);
    expect(
      batches
        .flat()
        .map((r) => r.path)
        .sort(),
    ).toEqual(['/1', '/2', '/3']);
    expect(batches.flat().sort((a, b) => a.id - b.id)).toEqual(only(s).recent());
    unsubscribe();
    await request(`https://localhost:${s.port}/4`, { ca: s.ca });
    await new Promise((r) => setTimeout(r, 250));
    expect(batches.flat()).toHaveLength(3);
  });

  test('a WebSocket upgrade is kept with the heads of both sides', async () => {
    const app = await startUpstream((_req, res) => res.end());
    app.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n',
      );
    });
    const s = await start({ target: app.port });
    const socket = tls.connect({ host: '127.0.0.1', port: s.port, servername: 'localhost', ca: s.ca, ALPNProtocols: ['http/1.1'] });
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.write(
      `GET /hmr?token=T HTTP/1.1\r\nHost: localhost:${s.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    await waitFor(() => got.includes('\r\n\r\n'));
    socket.destroy();
    const [upgrade] = only(s).recent();
    expect(upgrade).toMatchObject({ method: 'GET', path: '/hmr?token=…', status: 101, ws: true, answeredBy: 'app' });
    const detail = only(s).detail(upgrade!.id)!;
    expect(detail.request.app!.line).toBe('GET /hmr?token=… HTTP/1.1');
    expect(byName(detail.request.app!.headers, 'upgrade')[0]).toMatchObject({ value: 'websocket' });
    expect(detail.response.app!.line).toBe('HTTP/1.1 101 Switching Protocols');
    expect(byName(detail.response.client!.headers, 'sec-websocket-accept')[0]).toMatchObject({ value: 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' });
  });

  test('with inspect: false nothing is kept and the name answers 404', async () => {
    const app = await startUpstream((_req, res) => res.end('app'));
    const s = await start({ target: app.port, inspect: false });
    expect(s.handle.inspector).toBeNull();
    const page = await inspectorRequest(s, '/');
    expect([page.status, page.body]).toEqual([404, '404 Not Found: the dev-https inspector is off (--no-inspect)\n']);
  });
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(condition()).toBe(true);
}
