// HTTP/2 to the browser through ALPN, HTTP/1.1 to the app; --no-http2 turns it off.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, expect, test } from 'vitest';
import { startDevHttps } from '../src/server/server.js';
import { captureLogger, deferred, echoHandler, onCleanup, request, runCleanups, startUpstream, tempDir } from './helpers.js';

afterEach(runCleanups);

async function start(http2Enabled?: boolean) {
  const app = await startUpstream(echoHandler());
  const logger = captureLogger();
  const handle = await startDevHttps({
    target: app.port,
    port: 0,
    certDir: await tempDir(),
    logger,
    ...(http2Enabled === undefined ? {} : { http2: http2Enabled }),
  });
  onCleanup(() => handle.close());
  return { app, handle, logger, port: Number(new URL(handle.urls.https).port), ca: handle.certificate.ca!.cert };
}

/** The protocol the server picks when the client offers h2 and http/1.1. */
function negotiated(port: number, ca: string): Promise<string | false | null> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      resolve(socket.alpnProtocol);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

function h2Get(origin: string, ca: string, path: string, headers: http2.OutgoingHttpHeaders = {}) {
  return new Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const session = http2.connect(origin, { ca });
    session.on('error', reject);
    const stream = session.request({ ':path': path, ...headers });
    let body = '';
    let head: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => (head = h));
    stream.on('data', (c) => (body += c));
    stream.on('end', () => {
      session.close();
      resolve({ status: Number(head[':status']), headers: head, body });
    });
    stream.on('error', reject);
  });
}

test('ALPN picks h2 by default and http/1.1 with http2: false', async () => {
  const on = await start();
  expect(await negotiated(on.port, on.ca)).toBe('h2');
  const off = await start(false);
  expect(await negotiated(off.port, off.ca)).toBe('http/1.1');
});

test('an HTTP/2 request reaches the app over HTTP/1.1 with Host from :authority and the forwarded headers set by us', async () => {
  // Node warns (and drops the header) when a connection-specific header is set on an HTTP/2 response.
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.message);
  process.on('warning', onWarning);
  onCleanup(() => void process.off('warning', onWarning));
  const { port, ca, app } = await start();
  const reply = await h2Get(`https://localhost:${port}`, ca, '/h2/path?q=1', { 'x-forwarded-proto': 'http', 'x-forwarded-for': '6.6.6.6' });
  expect(reply.status).toBe(200);
  const seen = JSON.parse(reply.body);
  expect(seen.url).toBe('/h2/path?q=1');
  expect(seen.headers.host).toBe(`localhost:${port}`);
  expect(seen.headers['x-forwarded-proto']).toBe('https');
  expect(seen.headers['x-forwarded-host']).toBe(`localhost:${port}`);
  expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
  expect(seen.headers.forwarded).toBe(`for=127.0.0.1;host="localhost:${port}";proto=https`);
  expect(Object.keys(seen.headers).filter((h) => h.startsWith(':'))).toEqual([]);
  // No connection-specific header may reach an HTTP/2 client.
  expect(reply.headers.connection).toBeUndefined();
  expect(reply.headers['keep-alive']).toBeUndefined();
  // Many HTTP/2 requests, one pooled HTTP/1.1 connection to the app.
  for (let i = 0; i < 5; i++) await h2Get(`https://localhost:${port}`, ca, `/n${i}`);
  expect(app.connections()).toBe(1);
  expect(warnings).toEqual([]);
});

test('HTTP/2 requests for a host dev-https does not serve get 403 without reaching the app', async () => {
  const { port, ca, app, logger } = await start();
  const reply = await h2Get(`https://localhost:${port}`, ca, '/', { ':authority': `evil.test:${port}` });
  expect(reply.status).toBe(403);
  expect(reply.body).toBe(
    '403 Forbidden: dev-https does not serve the host name "evil.test". If you use it, restart dev-https with --allow-host evil.test (or --name evil.test to put it in the certificate too).\n',
  );
  expect(app.connections()).toBe(0);
  expect(logger.lines.filter((l) => l.startsWith('warn: refused'))).toHaveLength(1);
});

test('HTTP/1.1 clients are still served on the same port with HTTP/2 on', async () => {
  const { port, ca } = await start();
  const reply = await request(`https://localhost:${port}/h1`, { ca });
  expect(reply.status).toBe(200);
  expect(JSON.parse(reply.body).headers['x-forwarded-proto']).toBe('https');
});

test('close() ends open HTTP/2 sessions', async () => {
  const { handle, port, ca } = await start();
  const session = http2.connect(`https://localhost:${port}`, { ca });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
  session.on('error', () => undefined);
  await handle.close();
  await closed;
  expect(session.destroyed).toBe(true);
});

test('an HTTP/2 client gets the 502 page while the app is down, and the app once it is back', async () => {
  const { freePort } = await import('./helpers.js');
  const appPort = await freePort();
  const logger = captureLogger();
  const handle = await startDevHttps({ target: appPort, port: 0, certDir: await tempDir(), logger });
  onCleanup(() => handle.close());
  const origin = handle.urls.https.slice(0, -1);
  const down = await h2Get(origin, handle.certificate.ca!.cert, '/');
  expect(down.status).toBe(502);
  expect(down.headers['content-type']).toBe('text/plain; charset=utf-8');
  expect(down.body.split('\n')[0]).toBe(
    `502 Bad Gateway: dev-https could not reach the app at http://localhost:${appPort}: nothing is listening there (connection refused).`,
  );
  await startUpstream(echoHandler(), '127.0.0.1', appPort);
  const up = await h2Get(origin, handle.certificate.ca!.cert, '/back');
  expect(up.status).toBe(200);
  expect(JSON.parse(up.body).url).toBe('/back');
});

test('an HTTP/2 client gets a redirect-loop page when its browser-like request loops', async () => {
  const app = await startUpstream((req, res) => {
    res.writeHead(301, { location: `https://${req.headers.host}${req.url}`, 'content-length': 0 });
    res.end();
  });
  const handle = await startDevHttps({ target: app.port, port: 0, certDir: await tempDir(), logger: captureLogger() });
  onCleanup(() => handle.close());
  const reply = await h2Get(handle.urls.https.slice(0, -1), handle.certificate.ca!.cert, '/', { accept: 'text/html' });
  expect(reply.status).toBe(508);
  expect(reply.body).toContain('<title>Redirect loop: the app does not trust X-Forwarded-Proto</title>');
});

test("an app status HTTP/2 cannot carry (600) gives a 502 saying so, without any of the app's headers", async () => {
  // A raw app: Node's own server would refuse to send status 600.
  const app = net.createServer((socket) => {
    socket.once('data', () => socket.end('HTTP/1.1 600 Odd\r\nSet-Cookie: s=1\r\nX-App: yes\r\nContent-Length: 2\r\n\r\nok'));
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => app.close(() => resolve())));
  const logger = captureLogger();
  const handle = await startDevHttps({ target: (app.address() as net.AddressInfo).port, port: 0, certDir: await tempDir(), logger });
  onCleanup(() => handle.close());
  const port = Number(new URL(handle.urls.https).port);

  const reply = await h2Get(`https://localhost:${port}`, handle.certificate.ca!.cert, '/odd');
  expect(reply.status).toBe(502);
  expect(reply.headers['set-cookie']).toBeUndefined();
  expect(reply.headers['x-app']).toBeUndefined();
  expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
  expect(reply.body).toMatch(/^502 Bad Gateway: the app answered, but dev-https cannot pass its answer on to this client: .*600.*\.\n$/);
  expect(logger.lines.filter((l) => l.includes('cannot reach'))).toEqual([]);
  expect(logger.lines.filter((l) => l.includes("the app's answer to GET /odd cannot be passed on"))).toHaveLength(1);
});

test("an HTTP/2 request the client cancels before the answer cancels the app's request too", async () => {
  const cancelled = deferred<boolean>();
  const app = await startUpstream((_req, res) => {
    // Answers only after a while; a cancelled request closes before that.
    const timer = setTimeout(() => res.end('late'), 5000);
    res.on('close', () => {
      clearTimeout(timer);
      cancelled.resolve(!res.writableFinished);
    });
  });
  const handle = await startDevHttps({ target: app.port, port: 0, certDir: await tempDir(), logger: captureLogger() });
  onCleanup(() => handle.close());
  const session = http2.connect(handle.urls.https, { ca: handle.certificate.ca!.cert });
  onCleanup(() => void session.destroy());
  const stream = session.request({ ':path': '/slow' });
  stream.on('error', () => undefined);
  await new Promise((resolve) => setTimeout(resolve, 200));
  stream.close(http2.constants.NGHTTP2_CANCEL);
  expect(await cancelled.promise).toBe(true);
});
