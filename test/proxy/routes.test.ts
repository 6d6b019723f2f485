// One origin, several apps: --route by path prefix and by host, each route a whole proxy.
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import { DevHttpsError } from '../../src/errors.js';
import { formatRequest, type RequestLogEntry } from '../../src/logger.js';
import { resolveRoutes, resolveTarget, type ResolvedRoute } from '../../src/options.js';
import { pickRoute } from '../../src/proxy/routes.js';
import { freePort, request, runCleanups, start, startUpstream } from '../helpers.js';

afterEach(runCleanups);

const route = (kind: ResolvedRoute['kind'], match: string, port: number): ResolvedRoute => ({ kind, match, target: resolveTarget(port) });

describe('resolveRoutes', () => {
  test('flags and objects give the same routes, host routes first, then the longest prefix first', () => {
    const expected = [route('host', 'admin.localhost', 8001), route('prefix', '/api/admin', 8002), route('prefix', '/api', 8000)];
    expect(resolveRoutes(['/api=8000', 'admin.localhost=8001', '/api/admin/=8002'], [], [8443, null])).toEqual(expected);
    expect(resolveRoutes({ '/api': 8000, 'Admin.Localhost.': '8001', '/api/admin': 8002 }, [], [8443, null])).toEqual(expected);
    expect(resolveRoutes(['myapp.test=http://127.0.0.1:9000'], ['myapp.test'], [8443, null])).toEqual([
      { kind: 'host', match: 'myapp.test', target: resolveTarget('http://127.0.0.1:9000') },
    ]);
  });

  test.each<[string[], string]>([
    [['api=8000'], 'Invalid --route "api=8000": a prefix starts with / (e.g. /api=8000); a host route is a *.localhost name or a --name'],
    [['/api'], 'Invalid --route "/api": expected <prefix or host>=<target>, e.g. /api=8000 or admin.localhost=8001'],
    [['/=8000'], 'Invalid --route "/=8000": the prefix / is everything: that is --target'],
    [['/api?x=8000'], 'Invalid --route "/api?x=8000": a prefix is a path, without a query, fragment or spaces'],
    [['/api=8000', '/api/=8001'], 'Invalid --route "/api/=8001": two routes for /api'],
    [['/api=foo'], 'Invalid --route "/api=foo": the target is a port, host:port or http://host:port'],
    [['/api=8443'], 'Invalid --route "/api=8443": the target is dev-https\'s own port'],
    [
      ['localhost=8000'],
      'Invalid --route "localhost=8000": a prefix starts with / (e.g. /localhost=8000); a host route is a *.localhost name or a --name',
    ],
    [
      ['example.com=8000'],
      'Invalid --route "example.com=8000": a prefix starts with / (e.g. /example.com=8000); a host route is a *.localhost name or a --name',
    ],
  ])('%j is one error naming the flag and the value', (value, message) => {
    let error: unknown;
    try {
      resolveRoutes(value, [], [8443, null]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DevHttpsError);
    expect((error as DevHttpsError).message).toBe(message);
  });
});

describe('pickRoute', () => {
  const routes = resolveRoutes(['/api=8000', '/api/admin=8002', 'admin.localhost=8001'], [], [8443, null]);
  test.each<[string | undefined, string, string | null]>([
    ['localhost:8443', '/api', '/api'],
    ['localhost:8443', '/api/users?x=1', '/api'],
    ['localhost:8443', '/api?x=1', '/api'],
    ['localhost:8443', '/apiary', null],
    ['localhost:8443', '/', null],
    ['localhost:8443', '/api/admin/x', '/api/admin'],
    ['localhost:8443', '/api/administrator', '/api'],
    ['ADMIN.localhost.:8443', '/api/users', 'admin.localhost'],
    ['localhost:8443', 'https://localhost:8443/api/x', '/api'],
    [undefined, '/api/x', '/api'],
  ])('Host %s, %s -> %s', (host, url, expected) => {
    expect(pickRoute(routes, host, url)?.match ?? null).toBe(expected);
  });
});

/** An app answering with its name, the path and the Host and X-Forwarded-Host it got. */
async function app(name: string, extra?: http.RequestListener) {
  return startUpstream((req, res) => {
    if (extra && req.url?.endsWith('/special')) return extra(req, res);
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        app: name,
        url: req.url,
        host: req.headers.host,
        xfh: req.headers['x-forwarded-host'],
        xfp: req.headers['x-forwarded-proto'],
      }),
    );
  });
}

describe('two apps behind one origin', () => {
  test('each request reaches its app with the path unchanged and the public origin forwarded', async () => {
    const front = await app('front');
    const api = await app('api');
    const admin = await app('admin');
    const { port, ca } = await start({
      target: `127.0.0.1:${front.port}`,
      routes: { '/api': `127.0.0.1:${api.port}`, 'admin.localhost': `127.0.0.1:${admin.port}` },
    });
    const get = async (host: string, path: string) =>
      JSON.parse((await request(`https://${host}:${port}${path}`, { ca, lookupAddress: '127.0.0.1' })).body);
    expect(await get('localhost', '/api/users?id=7')).toEqual({
      app: 'api',
      url: '/api/users?id=7',
      host: `localhost:${port}`,
      xfh: `localhost:${port}`,
      xfp: 'https',
    });
    expect(await get('localhost', '/api')).toMatchObject({ app: 'api', url: '/api' });
    expect(await get('localhost', '/apiary')).toMatchObject({ app: 'front', url: '/apiary' });
    expect(await get('localhost', '/')).toMatchObject({ app: 'front', url: '/' });
    expect(await get('admin.localhost', '/api/users')).toMatchObject({ app: 'admin', url: '/api/users', host: `admin.localhost:${port}` });
  });

  test("a route's own redirect to its address lands on the public origin; its 502 names the route and its target while the others keep working; its request line names it", async () => {
    const front = await app('front');
    const api = await app('api', (_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${api.port}/api/next` });
      res.end();
    });
    const downPort = await freePort();
    const lines: string[] = [];
    const { port, ca } = await start({
      target: `127.0.0.1:${front.port}`,
      routes: [`/api=127.0.0.1:${api.port}`, `/down=127.0.0.1:${downPort}`],
      logger: { info() {}, warn() {}, error() {}, request: (e: RequestLogEntry) => lines.push(formatRequest(e).slice(9)) },
    });
    const redirect = await request(`https://localhost:${port}/api/special`, { ca });
    expect([redirect.status, redirect.headers.location]).toEqual([302, `https://localhost:${port}/api/next`]);
    const down = await request(`https://localhost:${port}/down/x`, { ca });
    expect([down.status, ...down.body.split('\n').slice(0, 2)]).toEqual([
      502,
      `502 Bad Gateway: dev-https could not reach the app of the route /down at http://127.0.0.1:${downPort}: nothing is listening there (connection refused).`,
      `Is the app running and listening on http://127.0.0.1:${downPort}? Start it, or point --route /down= at the port it uses. This page will work again as soon as it answers; dev-https needs no restart.`,
    ]);
    expect(JSON.parse((await request(`https://localhost:${port}/`, { ca })).body)).toMatchObject({ app: 'front' });
    expect(lines.map((l) => l.replace(/\d+ ms/, 'N ms'))).toEqual([
      'https    GET /api/special 302 N ms → /api',
      'https    GET /down/x 502 N ms → /down',
      'https    GET / 200 N ms',
    ]);
  });

  test("a WebSocket under a route is upgraded by that route's app", async () => {
    const front = await app('front');
    const api = await app('api');
    const upgraded: string[] = [];
    for (const [name, upstream] of [
      ['front', front],
      ['api', api],
    ] as const) {
      upstream.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
        upgraded.push(`${name} ${req.url}`);
        socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      });
    }
    const { port, ca } = await start({ target: `127.0.0.1:${front.port}`, routes: { '/api': `127.0.0.1:${api.port}` } });
    const upgrade = (path: string) =>
      new Promise<string>((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () =>
          socket.write(
            `GET ${path} HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
          ),
        );
        socket.once('data', (c: Buffer) => {
          resolve(c.toString('latin1').split('\r\n')[0]!);
          socket.destroy();
        });
        socket.on('error', () => undefined);
      });
    expect(await upgrade('/api/socket')).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await upgrade('/hmr')).toBe('HTTP/1.1 101 Switching Protocols');
    expect(upgraded).toEqual(['api /api/socket', 'front /hmr']);
  });
});
