// Edge cases found in review: each test fails without its fix.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, expect, test } from 'vitest';
import { resolveSettings } from '../src/cli/config.js';
import { createHostCheck } from '../src/server/hosts.js';
import { resolveOptions } from '../src/options.js';
import { startDevHttps } from '../src/server/server.js';
import { captureLogger, echoHandler, onCleanup, runCleanups, startUpstream, tempDir } from './helpers.js';

afterEach(runCleanups);

async function start(target: number, extra: Parameters<typeof startDevHttps>[0] = {}) {
  const handle = await startDevHttps({ target, port: 0, httpPort: 0, certDir: await tempDir(), logger: captureLogger(), ...extra });
  onCleanup(() => handle.close());
  return {
    handle,
    port: Number(new URL(handle.urls.https).port),
    httpPort: Number(new URL(handle.urls.http!).port),
    ca: handle.certificate.ca!.cert,
  };
}

/** One raw HTTP/1.1 exchange on a plain socket; resolves with everything the server sent. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.on('data', (c) => (data += c));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
}

test(
  'an app response with an Upgrade header reaches an HTTP/2 client (connection headers are dropped, not thrown on)',
  { timeout: 10_000 },
  async () => {
    const app = await startUpstream((_req, res) => {
      res.setHeader('Upgrade', 'h2c');
      res.end('fine');
    });
    const { port, ca } = await start(app.port);
    const session = http2.connect(`https://localhost:${port}`, { ca });
    onCleanup(() => void session.close());
    const { status, body, upgrade } = await new Promise<{ status: number; body: string; upgrade: unknown }>((resolve, reject) => {
      const stream = session.request({ ':path': '/' });
      let body = '';
      let head: http2.IncomingHttpHeaders = {};
      stream.on('response', (h) => (head = h));
      stream.on('data', (c) => (body += c));
      stream.on('end', () => resolve({ status: Number(head[':status']), body, upgrade: head.upgrade }));
      stream.on('error', reject);
    });
    expect({ status, body, upgrade }).toEqual({ status: 200, body: 'fine', upgrade: undefined });
  },
);

test('a non-WebSocket Upgrade request (h2c, as curl --http2 sends) is answered as a plain request', async () => {
  const app = await startUpstream(echoHandler());
  const { httpPort } = await start(app.port);
  const reply = await raw(
    httpPort,
    `GET /plain HTTP/1.1\r\nHost: localhost:${httpPort}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
  );
  expect(reply.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  const seen = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));
  expect(seen.url).toBe('/plain');
  expect(seen.headers.upgrade).toBeUndefined();
  expect(seen.headers['x-forwarded-proto']).toBe('http');
});

test('--no-http2 is a shared setting: allowed with "proxies" in the config file', async () => {
  const cwd = await tempDir();
  const fs = await import('node:fs/promises');
  await fs.writeFile(`${cwd}/dev-https.config.json`, JSON.stringify({ proxies: [{ target: 8000 }, { target: 8001, port: 8444 }] }));
  const settings = resolveSettings({ http2: false }, { cwd, env: {} });
  expect(settings.proxies.map((p) => p.http2)).toEqual([false, false]);
});

test('client headers written with underscores (X_Forwarded_Proto) never reach the app', async () => {
  const app = await startUpstream(echoHandler());
  const { httpPort } = await start(app.port);
  const reply = await raw(
    httpPort,
    `GET / HTTP/1.1\r\nHost: localhost:${httpPort}\r\nX_Forwarded_Proto: https\r\nX_Forwarded_Ssl: on\r\nConnection: close\r\n\r\n`,
  );
  const seen = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));
  expect(Object.keys(seen.headers).filter((h) => h.includes('_'))).toEqual([]);
  expect(seen.headers['x-forwarded-proto']).toBe('http');
});

test('an HTTP/2 session that opens no stream is closed after headersTimeout', { timeout: 10_000 }, async () => {
  const app = await startUpstream(echoHandler());
  const { port, ca } = await start(app.port, { headersTimeout: 300 });
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca, ALPNProtocols: ['h2'] });
  socket.on('error', () => undefined);
  socket.resume(); // read the server's SETTINGS, so 'close' can follow its end
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
  expect(socket.alpnProtocol).toBe('h2');
  socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  // Closed by the server: the test's own timeout turns a missing close into a failure.
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  expect(socket.destroyed).toBe(true);
});

test('close() also ends the connection to the app of an upgraded WebSocket the app keeps half-open', { timeout: 10_000 }, async () => {
  const appSide: net.Socket[] = [];
  const app = http.createServer();
  app.on('upgrade', (_req, socket: net.Socket) => {
    socket.allowHalfOpen = true;
    appSide.push(socket);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.on('end', () => undefined); // never ends its own side
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', () => resolve()));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const s of appSide) s.destroy();
        app.close(() => resolve());
      }),
  );
  const { handle, httpPort } = await start((app.address() as net.AddressInfo).port);
  const client = net.connect(httpPort, '127.0.0.1', () =>
    client.write(`GET /ws HTTP/1.1\r\nHost: localhost:${httpPort}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`),
  );
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('data', () => resolve()));
  expect(appSide).toHaveLength(1);
  const app1 = appSide[0]!;
  app1.on('error', () => undefined);
  await handle.close();
  // dev-https' side must be gone, not half-open: the app's writes then fail (RST), in a bounded number of tries.
  let failed = false;
  app1.once('error', () => (failed = true));
  app1.once('close', () => (failed = true));
  for (let i = 0; i < 50 && !failed; i++) {
    app1.write('x');
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(failed).toBe(true);
});

test("a headersTimeout above Node's default requestTimeout is accepted", async () => {
  const app = await startUpstream(echoHandler());
  const { handle } = await start(app.port, { headersTimeout: 400_000 });
  expect(handle.urls.https).toMatch(/^https:\/\/localhost:\d+\/$/);
});

test('IPv6 addresses in any spelling: --name and --allow-host match the Host, --host ::1 spelled out is loopback', () => {
  const opts = resolveOptions({ names: ['2001:DB8:0:0::1'], allowHosts: ['fd00:0::5'], host: '0:0:0:0:0:0:0:1', cwd: '/tmp' });
  expect(opts.listenAddresses).toEqual(['::1']);
  expect(opts.exposed).toBe(false);
  const hosts = createHostCheck(opts.certNames, opts.listenAddresses, opts.allowHosts);
  expect([hosts.allowsHost('[2001:db8::1]:8443'), hosts.allowsHost('[fd00::5]:8443')]).toEqual([true, true]);
});
