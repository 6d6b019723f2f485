// Redirects: the HTTP listener's --redirect-http mode and the rewriting of the app's own redirects.
import net from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { rewriteLocation, type LocationContext } from '../../src/proxy/redirect.js';
import { startDevHttps } from '../../src/server/server.js';
import { captureLogger, onCleanup, request, runCleanups, startUpstream, tempDir } from '../helpers.js';

afterEach(runCleanups);

const onHttps: LocationContext = {
  proto: 'https',
  host: 'localhost:8443',
  listenerPort: 8443,
  httpsPort: 8443,
  target: { hostname: 'localhost', port: 8000 },
};
const onHttp: LocationContext = { ...onHttps, proto: 'http', host: 'localhost:8080', listenerPort: 8080 };

test.each([
  // The app's own address → the listener that carried the request.
  [302, 'http://127.0.0.1:8000/x?a=1', onHttps, 'https://localhost:8443/x?a=1'],
  [301, 'http://localhost:8000/x', onHttps, 'https://localhost:8443/x'],
  [303, 'http://[::1]:8000/a/b', onHttps, 'https://localhost:8443/a/b'],
  [307, 'http://localhost:8000', onHttps, 'https://localhost:8443/'],
  [308, 'http://localhost:8000/x', onHttp, 'http://localhost:8080/x'],
  // SECURE_SSL_REDIRECT on the HTTP listener: https://<host>:<http-port> → the HTTPS port.
  [301, 'https://localhost:8080/login?next=/a%20b', onHttp, 'https://localhost:8443/login?next=/a%20b'],
  [302, 'https://127.0.0.1:8080/', { ...onHttp, host: '127.0.0.1:8080' }, 'https://127.0.0.1:8443/'],
  [302, 'https://myapp.test:8080/x', { ...onHttp, host: 'myapp.test:8080' }, 'https://myapp.test:8443/x'],
  [302, 'https://localhost:8080/x', { ...onHttp, httpsPort: 443 }, 'https://localhost/x'],
  // Left alone: relative, other hosts, other ports, not a redirect, already right.
  [302, '/relative?x=1', onHttps, '/relative?x=1'],
  [302, 'https://example.com/x', onHttp, 'https://example.com/x'],
  [302, 'http://localhost:9000/x', onHttps, 'http://localhost:9000/x'],
  [302, 'https://other.test:8080/x', onHttp, 'https://other.test:8080/x'],
  // The app's own address under https:// too (Next.js builds it from X-Forwarded-Proto), whatever the status.
  [307, 'https://localhost:8000/next', onHttps, 'https://localhost:8443/next'],
  [302, 'https://127.0.0.1:8000/next?a=1', onHttp, 'http://localhost:8080/next?a=1'],
  [201, 'http://localhost:8000/created', onHttps, 'https://localhost:8443/created'],
  [200, 'https://localhost:8000/', onHttps, 'https://localhost:8443/'],
  [302, 'https://localhost:8443/x', onHttps, 'https://localhost:8443/x'],
  [302, 'https://localhost:8080/x', onHttps, 'https://localhost:8080/x'],
])('rewriteLocation(%i, %s) → %s', (status, location, ctx, expected) => {
  expect(rewriteLocation(status, location, ctx as LocationContext)).toBe(expected);
});

test('an app with SECURE_SSL_REDIRECT-style redirects: http://localhost:<http-port> lands on the HTTPS listener, which serves', async () => {
  // Like Django's SecurityMiddleware: not secure per X-Forwarded-Proto → 301 to https://<Host><path>.
  const app = await startUpstream((req, res) => {
    if (req.headers['x-forwarded-proto'] !== 'https') {
      res.writeHead(301, { location: `https://${req.headers.host}${req.url}`, 'content-length': 0 });
      res.end();
      return;
    }
    res.end(`secure ${req.url}`);
  });
  const handle = await startDevHttps({ target: app.port, port: 0, httpPort: 0, certDir: await tempDir(), logger: captureLogger() });
  onCleanup(() => handle.close());
  const httpsPort = new URL(handle.urls.https).port;
  const first = await request(`${handle.urls.http}account/?next=%2Fa`);
  expect(first.status).toBe(301);
  expect(first.headers.location).toBe(`https://localhost:${httpsPort}/account/?next=%2Fa`);
  const second = await request(first.headers.location!, { ca: handle.certificate.ca!.cert });
  expect(second.status).toBe(200);
  expect(second.body).toBe('secure /account/?next=%2Fa');
});

test("an app redirecting to its own address is sent to the listener's public URL", async () => {
  const app = await startUpstream((req, res) => {
    res.writeHead(302, { location: `http://127.0.0.1:${(req.socket.address() as net.AddressInfo).port}/done?x=1`, 'content-length': 0 });
    res.end();
  });
  const handle = await startDevHttps({ target: app.port, port: 0, certDir: await tempDir(), logger: captureLogger() });
  onCleanup(() => handle.close());
  const reply = await request(`${handle.urls.https}start`, { ca: handle.certificate.ca!.cert });
  expect(reply.status).toBe(302);
  expect(reply.headers.location).toBe(`${handle.urls.https}done?x=1`);
});

test('--redirect-http: 307 to the same path and query on HTTPS, POST included, and the app sees nothing', async () => {
  const app = await startUpstream((_req, res) => res.end('app'));
  const handle = await startDevHttps({
    target: app.port,
    port: 0,
    httpPort: 0,
    redirectHttp: true,
    certDir: await tempDir(),
    logger: captureLogger(),
  });
  onCleanup(() => handle.close());
  const httpsPort = new URL(handle.urls.https).port;
  const httpPort = new URL(handle.urls.http!).port;
  const get = await request(`${handle.urls.http}a/b?x=1&y=2`);
  expect(get.status).toBe(307);
  expect(get.headers.location).toBe(`https://localhost:${httpsPort}/a/b?x=1&y=2`);
  expect(get.headers['cache-control']).toBe('no-store');
  const post = await request(`http://127.0.0.1:${httpPort}/form`, { method: 'POST', body: 'a=1' });
  expect(post.status).toBe(307);
  expect(post.headers.location).toBe(`https://127.0.0.1:${httpsPort}/form`);
  expect(app.connections()).toBe(0);
});

test('--redirect-http: a WebSocket upgrade on the HTTP listener gets 400 naming wss://, not a silent hang-up', async () => {
  const app = await startUpstream((_req, res) => res.end('app'));
  const handle = await startDevHttps({
    target: app.port,
    port: 0,
    httpPort: 0,
    redirectHttp: true,
    certDir: await tempDir(),
    logger: captureLogger(),
  });
  onCleanup(() => handle.close());
  const socket = net.connect(Number(new URL(handle.urls.http!).port), '127.0.0.1');
  socket.write('GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  const text = await new Promise<string>((resolve) => {
    let data = '';
    socket.on('data', (c) => (data += c));
    socket.on('close', () => resolve(data));
  });
  expect(text.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
  expect(text).toContain('connect with wss:// to the HTTPS port');
  expect(app.connections()).toBe(0);
});
