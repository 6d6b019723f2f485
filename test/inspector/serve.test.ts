// The inspector page's walls: its own name only, over HTTPS only, its own origin only, a token for
// every read of a detail and every action, strict headers, no CORS; and it is never proxied.
import http from 'node:http';
import tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import { DevHttpsError } from '../../src/errors.js';
import { resolveOptions } from '../../src/options.js';
import { request, runCleanups, start, startUpstream, type Started } from '../helpers.js';
import { startRawApp } from '../raw.js';
import { inspectorRequest, inspectorSocket, tokenOf } from './support.js';

afterEach(runCleanups);

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const OWN_PAGE_ONLY = '403 Forbidden: the dev-https inspector answers its own page only\n';

async function withRequest(s: Started): Promise<void> {
  await request(`https://localhost:${s.port}/seen?x=1`, { ca: s.ca });
}

describe('the inspector page', () => {
  test('is served with a strict CSP, no framing, no CORS, and never reaches the app', async () => {
    const app = await startRawApp();
    const s = await start({ target: app.port });
    const page = await inspectorRequest(s, '/');
    expect(page.status).toBe(200);
    expect(page.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': CSP,
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
    });
    expect(Object.keys(page.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    expect(page.body).toMatch(/<meta name="dev-https-token" content="[A-Za-z0-9_-]{43}">/);
    for (const [path, type] of [
      ['/inspector.js', 'text/javascript; charset=utf-8'],
      ['/inspector.css', 'text/css; charset=utf-8'],
    ]) {
      const asset = await inspectorRequest(s, path!);
      expect([asset.status, asset.headers['content-type'], asset.headers['content-security-policy']]).toEqual([200, type, CSP]);
    }
    expect((await inspectorRequest(s, '/other')).status).toBe(404);
    expect(app.requests).toEqual([]);
    // Its own requests are neither logged nor kept.
    expect(s.handle.inspector!.recent()).toEqual([]);
  });

  test.each<[string, http.OutgoingHttpHeaders, number, string]>([
    ['/', { origin: 'https://evil.example' }, 403, OWN_PAGE_ONLY],
    ['/events', { origin: 'https://localhost:1' }, 403, OWN_PAGE_ONLY],
    ['/events', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' }, 403, OWN_PAGE_ONLY],
    ['/api/requests/1', { 'sec-fetch-site': 'same-site', 'sec-fetch-mode': 'cors' }, 403, OWN_PAGE_ONLY],
    // A link from another site opens the page: the page alone shows nothing.
    ['/', { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' }, 200, ''],
    ['/', { 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate' }, 200, ''],
  ])('GET %s with %j: %i', async (path, headers, status, body) => {
    const s = await start({ target: (await startUpstream((_q, r) => r.end())).port });
    const reply = await inspectorRequest(s, path, { headers });
    expect(reply.status).toBe(status);
    if (body) expect(reply.body).toBe(body);
  });

  test('another port in the Host, the HTTP listener and plain HTTP on the HTTPS port do not get it', async () => {
    const s = await start({ target: (await startUpstream((_q, r) => r.end())).port, httpPort: 0 });
    const wrongPort = await inspectorRequest(s, '/', { host: 'dev-https.localhost:1234' });
    expect([wrongPort.status, wrongPort.body]).toEqual([
      403,
      `403 Forbidden: the dev-https inspector of this dev-https is https://dev-https.localhost:${s.port}/\n`,
    ]);
    const overHttp = await request(`http://127.0.0.1:${s.httpPort}/`, { headers: { host: `dev-https.localhost:${s.httpPort}` } });
    expect([overHttp.status, overHttp.body]).toEqual([
      403,
      `403 Forbidden: the dev-https inspector is served over HTTPS only: https://dev-https.localhost:${s.port}/\n`,
    ]);
    const plainOnTlsPort = await request(`http://127.0.0.1:${s.port}/`, { headers: { host: `dev-https.localhost:${s.port}` } });
    expect([plainOnTlsPort.status, plainOnTlsPort.headers.location]).toEqual([307, `https://dev-https.localhost:${s.port}/`]);
  });

  test('details, reveals and checks need the token; actions need a same-origin POST of JSON', async () => {
    const s = await start({ target: (await startUpstream((_q, r) => r.end())).port });
    await withRequest(s);
    const token = await tokenOf(s);
    const origin = `https://dev-https.localhost:${s.port}`;
    const noToken = await inspectorRequest(s, '/api/requests/1');
    expect([noToken.status, noToken.body]).toEqual([403, '403 Forbidden: the inspector token is missing or wrong; reload the page\n']);
    expect((await inspectorRequest(s, '/api/requests/1', { headers: { 'x-dev-https-token': token.slice(1) + 'x' } })).status).toBe(403);
    const detail = await inspectorRequest(s, '/api/requests/1', { headers: { 'x-dev-https-token': token } });
    expect([detail.status, JSON.parse(detail.body).path]).toEqual([200, '/seen?x=…']);
    expect(JSON.parse((await inspectorRequest(s, '/api/requests/9', { headers: { 'x-dev-https-token': token } })).body)).toEqual({
      error: 'that request has left the list of recent ones',
    });
    const body = JSON.stringify({ id: 1, secret: 'request.client.line' });
    const withoutOrigin = await inspectorRequest(s, '/api/reveal', {
      method: 'POST',
      headers: { 'x-dev-https-token': token, 'content-type': 'application/json' },
      body,
    });
    expect([withoutOrigin.status, withoutOrigin.body]).toEqual([403, OWN_PAGE_ONLY]);
    const asForm = await inspectorRequest(s, '/api/reveal', {
      method: 'POST',
      headers: { 'x-dev-https-token': token, 'content-type': 'application/x-www-form-urlencoded', origin },
      body,
    });
    expect(asForm.status).toBe(415);
    const preflight = await inspectorRequest(s, '/api/reveal', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    const revealed = await inspectorRequest(s, '/api/reveal', {
      method: 'POST',
      headers: { 'x-dev-https-token': token, 'content-type': 'application/json', origin },
      body,
    });
    expect(JSON.parse(revealed.body)).toEqual({ value: 'GET /seen?x=1 HTTP/1.1' });
  });

  test('the event stream sends the recent requests, then each new one without being asked', async () => {
    const s = await start({ target: (await startUpstream((_q, r) => r.end())).port });
    await withRequest(s);
    const socket = inspectorSocket(s);
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (got += c));
    const token = await tokenOf(s);
    socket.write(`GET /events?token=${token} HTTP/1.1\r\nHost: dev-https.localhost:${s.port}\r\nAccept: text/event-stream\r\n\r\n`);
    const events = () =>
      [...got.matchAll(/event: requests\ndata: (.*)\n\n/g)].map((m) => (JSON.parse(m[1]!) as Array<{ path: string }>).map((r) => r.path));
    await until(() => events().length === 1);
    expect(got).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*content-type: text\/event-stream; charset=utf-8\r\n/i);
    expect(got).toMatch(/\r\n\r\n[0-9a-f]+\r\nretry: 2000\n\nevent: hello\ndata: \{"instance":"[A-Za-z0-9_-]{12}"\}\n\n/);
    expect(events()).toEqual([['/seen?x=…']]);
    await request(`https://localhost:${s.port}/next`, { ca: s.ca });
    await until(() => events().length === 2);
    expect(events()).toEqual([['/seen?x=…'], ['/next']]);
    socket.destroy();
  });

  test('the event stream needs the token, and at most 8 pages stream at once', async () => {
    const s = await start({ target: (await startUpstream((_q, r) => r.end())).port });
    const noToken = await inspectorRequest(s, '/events');
    expect([noToken.status, noToken.body]).toEqual([403, '403 Forbidden: the inspector token is missing or wrong; reload the page\n']);
    const token = await tokenOf(s);
    const open = () =>
      new Promise<{ socket: tls.TLSSocket; head: string }>((resolve) => {
        const socket = inspectorSocket(s);
        socket.once('data', (c: Buffer) => resolve({ socket, head: c.toString('latin1').split('\r\n')[0]! }));
        socket.write(`GET /events?token=${token} HTTP/1.1\r\nHost: dev-https.localhost:${s.port}\r\n\r\n`);
      });
    const pages = [];
    for (let i = 0; i < 9; i++) pages.push(await open());
    expect(pages.map((p) => p.head)).toEqual([...Array(8).fill('HTTP/1.1 200 OK'), 'HTTP/1.1 429 Too Many Requests']);
    pages[0]!.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = await open();
    expect(again.head).toBe('HTTP/1.1 200 OK');
    for (const p of [...pages, again]) p.socket.destroy();
  });

  test('the name with a trailing dot (another origin to a browser) is sent to the canonical one', async () => {
    const s = await start({ target: (await startUpstream((_q, r) => r.end())).port });
    const reply = await inspectorRequest(s, '/?x=1', { host: `dev-https.localhost.:${s.port}` });
    expect([reply.status, reply.headers.location]).toEqual([307, `https://dev-https.localhost:${s.port}/?x=1`]);
    const post = await inspectorRequest(s, '/api/check', {
      method: 'POST',
      host: `dev-https.localhost.:${s.port}`,
      headers: { origin: `https://dev-https.localhost.:${s.port}` },
    });
    expect(post.status).toBe(403);
  });

  test('WebSocket upgrades to its name are refused', async () => {
    const app = await startRawApp();
    const s = await start({ target: app.port });
    const socket = inspectorSocket(s);
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.write(
      `GET /events HTTP/1.1\r\nHost: dev-https.localhost:${s.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    await new Promise((resolve) => socket.once('close', resolve));
    expect(got).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(got).toContain('the dev-https inspector takes no WebSocket connections');
    expect(app.requests).toEqual([]);
  });

  test('the check button runs dev-https check on the app at a path, one at a time', async () => {
    const app = await startUpstream((_req, res) => {
      res.setHeader('set-cookie', 'sessionid=x; Path=/');
      res.end('<html></html>');
    });
    const s = await start({ target: app.port });
    const token = await tokenOf(s);
    const post = (path: string) =>
      inspectorRequest(s, '/api/check', {
        method: 'POST',
        headers: { 'x-dev-https-token': token, 'content-type': 'application/json', origin: `https://dev-https.localhost:${s.port}` },
        body: JSON.stringify({ path }),
      });
    const [first, second] = await Promise.all([post('/account'), post('/account')]);
    const report = JSON.parse(first!.body) as { text: string; ok: boolean; score: number };
    expect(JSON.parse(second!.body)).toEqual({ error: 'a check is running already' });
    expect(report.ok).toBe(false);
    expect(report.text.split('\n')[0]).toBe(`dev-https check of http://localhost:${app.port} (looks like Django)`);
    expect(report.text).toContain('\n  /account\n');
    expect(report.text).toContain('FAIL  ');
    expect(report.score).toBe(Number(/Score: (\d+)%/.exec(report.text)![1]));
    expect(JSON.parse((await post('relative')).body)).toEqual({ error: 'expected a path starting with /' });
  });

  test('the name is reserved: a route for it is refused', () => {
    expect(() => resolveOptions({ routes: ['dev-https.localhost=8000'] })).toThrow(
      new DevHttpsError(
        'E_BAD_OPTION',
        'Invalid --route "dev-https.localhost=8000": dev-https.localhost is the name of the dev-https inspector; route another *.localhost name',
      ),
    );
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 150 && !condition(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(condition()).toBe(true);
}
