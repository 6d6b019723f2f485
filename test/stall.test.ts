// Apps that stall on reused connections (Python's development servers: the status line and the
// headers in separate sends without TCP_NODELAY, so the second waits ~40 ms for our delayed ACK)
// get a new connection per request once dev-https has seen it twice; others keep the pool.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { djangoAvailable, freePort, onCleanup, poll, runCleanups, start, startUpstream, tempDir } from './helpers.js';

afterEach(runCleanups);

const SWITCHED = (origin: string) =>
  `info: The app at ${origin} sends its response head in pieces and waits about 40 ms for TCP acknowledgements on reused connections (Python's development servers do): dev-https now opens a new connection for each request to it, which it answers at once`;

/** One client connection, requests one after another, as a browser tab or a test suite sends them. */
async function sequential(port: number, ca: string, paths: string[]): Promise<string[]> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  onCleanup(() => agent.destroy());
  const bodies: string[] = [];
  for (const p of paths) {
    bodies.push(
      await new Promise<string>((resolve, reject) =>
        https
          .get(`https://localhost:${port}${p}`, { ca, agent }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (body += c));
            res.on('end', () => resolve(`${res.statusCode} ${body}`));
          })
          .on('error', reject),
      ),
    );
  }
  return bodies;
}

/**
 * An app that sends its status line, then the rest 50 ms later (`split: 'head'`, as runserver does),
 * or its whole head, then the body 50 ms later (`'body'`, as http.server does), naming the connection.
 */
async function startSplittingApp(
  split: 'head' | 'body' = 'head',
  options: { afterMs?: number; busyMs?: number } = {},
): Promise<{ port: number }> {
  const { afterMs = 50, busyMs = 0 } = options;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const id = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    socket.on('data', (c: Buffer) => {
      buffer += c.toString('latin1');
      while (buffer.includes('\r\n\r\n')) {
        buffer = buffer.slice(buffer.indexOf('\r\n\r\n') + 4);
        const body = `conn ${id}`;
        const head = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`;
        const cut = split === 'head' ? 'HTTP/1.1 200 OK\r\n'.length : head.length;
        const whole = head + body;
        socket.write(whole.slice(0, cut));
        setTimeout(() => {
          socket.write(whole.slice(cut));
          // This process is busy (the test's app shares dev-https' thread): the rest waits unread.
          for (const end = performance.now() + busyMs; performance.now() < end;);
        }, afterMs);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port };
}

test.each([
  ['its status line', 'head'],
  ['its whole head', 'body'],
] as const)(
  'an app that sends %s, then the rest 50 ms later, on a reused connection: after two, one info line and a new connection per request',
  async (_what, split) => {
    const app = await startSplittingApp(split);
    const { port, ca, logger } = await start({ target: `127.0.0.1:${app.port}` });
    const answers = await sequential(port, ca, ['/1', '/2', '/3', '/4', '/5', '/6']);
    // 1 opens the connection (not a stall: nothing was reused), 2 and 3 stall on it, then one each.
    expect(answers).toEqual(['200 conn 1', '200 conn 1', '200 conn 1', '200 conn 2', '200 conn 3', '200 conn 4']);
    expect(logger.lines).toEqual([SWITCHED(`http://127.0.0.1:${app.port}`)]);
  },
);

test.each([
  ['its status line', 'head'],
  ['its whole head', 'body'],
] as const)(
  'an app that sends %s, then the rest at once, while dev-https is busy for 60 ms: no stall, the pool stays',
  async (_what, split) => {
    // What a burst of requests or a garbage collection looks like: the rest is in the socket, unread.
    const app = await startSplittingApp(split, { afterMs: 2, busyMs: 60 });
    const { port, ca, logger } = await start({ target: `127.0.0.1:${app.port}` });
    const answers = await sequential(port, ca, ['/1', '/2', '/3', '/4', '/5', '/6']);
    expect(answers).toEqual(Array.from({ length: 6 }, () => '200 conn 1'));
    expect(logger.lines).toEqual([]);
  },
);

test('103 Early Hints before a head 50 ms later are no stall: the pool stays', async () => {
  const app = await startUpstream((req, res) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    setTimeout(() => res.end(`page ${req.url}`), 50);
  });
  const { port, ca, logger } = await start({ target: `127.0.0.1:${app.port}` });
  const answers = await sequential(port, ca, ['/1', '/2', '/3', '/4', '/5', '/6']);
  expect(answers).toEqual(['/1', '/2', '/3', '/4', '/5', '/6'].map((p) => `200 page ${p}`));
  expect([app.connections(), logger.lines]).toEqual([1, []]);
});

test('a body that comes 400 ms after its flushed head is the app taking its time, no stall: the pool stays', async () => {
  const app = await startUpstream((req, res) => {
    res.writeHead(200, { 'content-length': 2 });
    res.flushHeaders();
    setTimeout(() => res.end('ok'), 400);
  });
  const { port, ca, logger } = await start({ target: `127.0.0.1:${app.port}` });
  const answers = await sequential(port, ca, ['/1', '/2', '/3', '/4']);
  expect(answers).toEqual(['200 ok', '200 ok', '200 ok', '200 ok']);
  expect([app.connections(), logger.lines]).toEqual([1, []]);
});

test('an app that writes its head at once keeps the keep-alive pool', async () => {
  const app = await startUpstream((req, res) => res.end(`ok ${req.url}`));
  const { port, ca, logger } = await start({ target: `127.0.0.1:${app.port}` });
  const answers = await sequential(port, ca, ['/1', '/2', '/3', '/4', '/5', '/6']);
  expect(answers).toEqual(['/1', '/2', '/3', '/4', '/5', '/6'].map((p) => `200 ok ${p}`));
  expect(app.connections()).toBe(1);
  expect(logger.lines).toEqual([]);
});

test('python3 -m http.server --protocol HTTP/1.1 (head, then the body in its own send) is recognised', { timeout: 20_000 }, async () => {
  const dir = await tempDir('dev-https-http-server-');
  await fs.writeFile(path.join(dir, 'a.css'), 'body { color: red }\n');
  const appPort = await startPython(dir, (port) => ['-m', 'http.server', '--protocol', 'HTTP/1.1', '--bind', '127.0.0.1', String(port)]);
  const { port, ca, logger } = await start({ target: `127.0.0.1:${appPort}` });
  const answers = await sequential(
    port,
    ca,
    Array.from({ length: 6 }, () => '/a.css'),
  );
  expect(answers).toEqual(Array.from({ length: 6 }, () => '200 body { color: red }\n'));
  expect(logger.lines).toEqual([SWITCHED(`http://127.0.0.1:${appPort}`)]);
});

/** Debian's python3 with `args` (given the free port it takes) in `cwd`, until it accepts connections; killed in afterEach. */
async function startPython(cwd: string, args: (port: number) => string[]): Promise<number> {
  const port = await freePort();
  const child = spawn('/usr/bin/python3', args(port), { stdio: 'ignore', cwd });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  onCleanup(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  await waitForPort(port);
  return port;
}

async function waitForPort(port: number): Promise<void> {
  await poll(
    () =>
      new Promise<true | null>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => setTimeout(() => resolve(null), 100));
      }),
  );
}

test.skipIf(!djangoAvailable)(
  "Django's runserver (a startproject site's static CSS) is recognised and then answered on new connections",
  { timeout: 30_000 },
  async () => {
    const dir = await tempDir('dev-https-django-stall-');
    execFileSync('/usr/bin/python3', ['-m', 'django', 'startproject', 'mysite', dir], { stdio: 'pipe' });
    const appPort = await startPython(dir, (port) => [path.join(dir, 'manage.py'), 'runserver', `127.0.0.1:${port}`, '--noreload']);
    const { port, ca, logger } = await start({ target: `127.0.0.1:${appPort}` });
    const answers = await sequential(
      port,
      ca,
      Array.from({ length: 6 }, () => '/static/admin/css/base.css'),
    );
    expect(answers.map((a) => a.slice(0, 4))).toEqual(Array.from({ length: 6 }, () => '200 '));
    expect(logger.lines).toEqual([SWITCHED(`http://127.0.0.1:${appPort}`)]);
  },
);
