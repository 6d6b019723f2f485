// Latency by response shape (issue 13): one request at a time over a reused connection, with an
// HTTP/1.1 client (node:https, keep-alive agent, 1 socket) and an HTTP/2 client (one node:http2
// session), straight to the app and through dev-https, Caddy and local-ssl-proxy (when the shared
// setup installed them). Shapes: Content-Length in one write, chunked in several writes, two
// flushes 20 ms apart, a ~2 KB JSON POST echoed, a WebSocket echo, and Python dev servers
// (`python3 -m http.server`, Django's runserver, Flask's), which send status line and headers in separate
// writes without TCP_NODELAY, so a reused connection waits for the receiver's delayed ACK.
// Rounds are interleaved (every cell gets a batch per round, the order rotates) so machine noise
// hits all cells alike. Each batch starts with one unmeasured request, which reopens a connection
// a server closed while the batch waited. Prints a markdown table: median / p90 ms per cell, and
// what each proxy adds to the direct median.
// Run: `npm run build && node bench/latency.mjs [--n 200] [--n-slow 50] [--n-python 100] [--rounds 5]
//   [--shapes cl,chunked,...] [--proxies direct,dev-https,caddy,local-ssl-proxy] [--devhttps-bin PATH]
//   [--quiet] [--json FILE]`. About 2 minutes with the defaults.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import {
  DEFAULT_BIN,
  LSP_BIN,
  argsOf,
  caddyAvailable,
  median,
  percentile,
  startCaddy,
  startChild,
  startDevHttpsBin,
  startLocalSslProxy,
  stopAll,
  waitPort,
  freePort,
  sleep,
  printSaid,
} from './procs.mjs';

const SHAPE_NAMES = ['cl', 'chunked', 'flush20', 'post', 'ws', 'python-static', 'django-css', 'django-login', 'flask'];
const PROXY_NAMES = ['direct', 'dev-https', 'caddy', 'local-ssl-proxy'];
const a = argsOf(process.argv.slice(2));
const N = a.int('n', 200, 1);
const N_SLOW = a.int('n-slow', 50, 1);
const N_PYTHON = a.int('n-python', 100, 1);
const ROUNDS = a.int('rounds', 5, 1);
const WANT_SHAPES = a.list('shapes', SHAPE_NAMES, SHAPE_NAMES);
const WANT_PROXIES = a.list('proxies', PROXY_NAMES, PROXY_NAMES);
const BIN = path.resolve(a.str('devhttps-bin', DEFAULT_BIN));
const QUIET = a.has('quiet');
const JSON_OUT = a.str('json', '');
const PYTHON = '/usr/bin/python3';
const REQUEST_TIMEOUT_MS = 10_000;
// The whole run stops by itself, whatever hangs.
const RUN_LIMIT_MS = 15 * 60_000;
const watchdog = setTimeout(() => {
  console.error(`latency benchmark: still running after ${RUN_LIMIT_MS / 60_000} min, stopping`);
  stopAll().finally(() => process.exit(1));
}, RUN_LIMIT_MS);
watchdog.unref();

const CL_BODY = Buffer.from('x'.repeat(1023) + '\n');
const CHUNK = 'c'.repeat(255) + '\n';
const CHUNKS = 4;
const JSON_BODY = JSON.stringify({ items: Array.from({ length: 40 }, (_, i) => ({ id: i, name: `item-${i}`, done: i % 2 === 0 })) });
const WS_MESSAGE = Buffer.from(JSON.stringify({ type: 'update', updates: [{ path: '/src/App.tsx', timestamp: 1 }] }).padEnd(120, ' '));
const CSS = 'body { margin: 0; }\n'.repeat(200);
const FLASK_BODY = 'hello from flask';

// ---------------------------------------------------------------- the app (Node, no-delay, as Node servers are)
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const wsAccept = (key) =>
  createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');

/** Frames parsed from `buf` (RFC 6455, payloads up to 64 KiB); returns the frames and the rest. */
function parseFrames(buf) {
  const frames = [];
  let off = 0;
  while (buf.length - off >= 2) {
    const b0 = buf[off];
    const b1 = buf[off + 1];
    let len = b1 & 0x7f;
    let pos = off + 2;
    if (len === 126) {
      if (buf.length - pos < 2) break;
      len = buf.readUInt16BE(pos);
      pos += 2;
    } else if (len === 127) throw new Error('WebSocket frame too large for this benchmark');
    const masked = (b1 & 0x80) !== 0;
    const mask = masked ? buf.subarray(pos, pos + 4) : null;
    if (masked) pos += 4;
    if (buf.length - pos < len) break;
    const payload = Buffer.from(buf.subarray(pos, pos + len));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    frames.push({ opcode: b0 & 0x0f, payload });
    off = pos + len;
  }
  return { frames, rest: buf.subarray(off) };
}

function frame(opcode, payload, masked) {
  const len = payload.length;
  const head = Buffer.alloc(2 + (len >= 126 ? 2 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (masked ? 0x80 : 0) | (len >= 126 ? 126 : len);
  if (len >= 126) head.writeUInt16BE(len, 2);
  if (!masked) return Buffer.concat([head, payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

// Upgraded sockets leave the server's bookkeeping: closed here at the end.
const upgraded = new Set();
function createApp() {
  const app = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
    if (req.url === '/cl') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': CL_BODY.length });
      res.end(CL_BODY);
    } else if (req.url === '/chunked') {
      // Writes on separate turns of the event loop, as streamed SSR or res.write() in handlers do
      // (Node coalesces writes made in one tick).
      res.writeHead(200, { 'content-type': 'text/plain' });
      let i = 1;
      const next = () => (++i < CHUNKS ? (res.write(CHUNK), setImmediate(next)) : res.end(CHUNK));
      res.write(CHUNK);
      setImmediate(next);
    } else if (req.url === '/flush20') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(CHUNK);
      setTimeout(() => res.end(CHUNK), 20);
    } else if (req.url === '/echo' && req.method === 'POST') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
      });
    } else {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
    }
  });
  app.on('upgrade', (req, socket) => {
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    socket.on('error', () => undefined);
    if (req.url !== '/ws' || !req.headers['sec-websocket-key']) return socket.destroy();
    socket.setNoDelay(true);
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${wsAccept(req.headers['sec-websocket-key'])}\r\n\r\n`,
    );
    let buf = Buffer.alloc(0);
    socket.on('data', (c) => {
      const { frames, rest } = parseFrames(Buffer.concat([buf, c]));
      buf = rest;
      for (const f of frames) {
        if (f.opcode === 8) return socket.end(frame(8, Buffer.alloc(0), false));
        if (f.opcode === 1 || f.opcode === 2) socket.write(frame(f.opcode, f.payload, false));
      }
    });
  });
  return app;
}

// ---------------------------------------------------------------- clients
/** An HTTP/1.1 client with one keep-alive socket to one origin. */
function h1Client(t) {
  const mod = t.tls ? https : http;
  const agent = new mod.Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 1000 });
  const sockets = new Set();
  const request = (shape) =>
    new Promise((resolve, reject) => {
      const body = shape.body ? Buffer.from(shape.body) : null;
      const headers = { host: `localhost:${t.port}` };
      if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': body.length });
      const t0 = performance.now();
      const req = mod.request({
        host: '127.0.0.1',
        port: t.port,
        servername: 'localhost',
        method: shape.method ?? 'GET',
        path: shape.path,
        headers,
        agent,
        ca: t.ca,
        rejectUnauthorized: t.verify !== false,
        timeout: REQUEST_TIMEOUT_MS,
      });
      req.on('socket', (s) => sockets.add(s));
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ ms: performance.now() - t0, status: res.statusCode, body: Buffer.concat(chunks) }));
      });
      req.end(body);
    });
  return { request, connections: () => sockets.size, close: () => agent.destroy() };
}

/** An HTTP/2 client: one session, reopened (and counted) if the server closes it. */
function h2Client(t) {
  let session = null;
  let opened = 0;
  const connect = () =>
    new Promise((resolve, reject) => {
      const s = http2.connect(`https://localhost:${t.port}`, {
        createConnection: () => tls.connect({ host: '127.0.0.1', port: t.port, servername: 'localhost', ALPNProtocols: ['h2'], ca: t.ca }),
      });
      s.once('error', reject);
      s.once('remoteSettings', () => {
        s.removeListener('error', reject);
        s.on('error', () => undefined);
        opened++;
        resolve(s);
      });
    });
  const ensure = async () => {
    if (!session || session.closed || session.destroyed) session = await connect();
    return session;
  };
  const request = async (shape) => {
    const s = await ensure();
    return new Promise((resolve, reject) => {
      const body = shape.body ? Buffer.from(shape.body) : null;
      const headers = { ':method': shape.method ?? 'GET', ':path': shape.path };
      if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': body.length });
      const t0 = performance.now();
      const stream = s.request(headers, { endStream: !body });
      const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), REQUEST_TIMEOUT_MS);
      let status = 0;
      const chunks = [];
      stream.on('response', (h) => (status = h[':status']));
      stream.on('data', (c) => chunks.push(c));
      stream.on('error', (e) => (clearTimeout(timer), reject(e)));
      stream.on('end', () => {
        clearTimeout(timer);
        resolve({ ms: performance.now() - t0, status, body: Buffer.concat(chunks) });
      });
      stream.on('close', () => (clearTimeout(timer), status ? undefined : reject(new Error(`stream closed (${stream.rstCode})`))));
      if (body) stream.end(body);
    });
  };
  return { request, connections: () => opened, close: () => session?.destroy(), ensure };
}

/** Reads WebSocket frames from a byte stream; `next()` resolves with the next data frame. */
function frameReader(stream) {
  let buf = Buffer.alloc(0);
  const waiting = [];
  const ready = [];
  let failed = null;
  stream.on('data', (c) => {
    const { frames, rest } = parseFrames(Buffer.concat([buf, c]));
    buf = rest;
    for (const f of frames) {
      if (waiting.length) waiting.shift().resolve(f);
      else ready.push(f);
    }
  });
  const fail = (err) => {
    failed = err;
    for (const w of waiting.splice(0)) w.reject(err);
  };
  stream.on('error', fail);
  stream.on('close', () => fail(new Error('WebSocket closed')));
  return {
    next: () =>
      ready.length
        ? Promise.resolve(ready.shift())
        : failed
          ? Promise.reject(failed)
          : new Promise((resolve, reject) => waiting.push({ resolve, reject })),
  };
}

/**
 * A WebSocket client over HTTP/1.1 (an upgraded TCP or TLS connection, no-delay as browsers set
 * it) or over HTTP/2 (RFC 8441 extended CONNECT, only if the server offers it). One connection,
 * reopened (and counted) if it closes.
 */
function wsClient(t, proto) {
  let conn = null;
  let opened = 0;
  let h2 = null;
  const open = async () => {
    if (proto === 'h2') {
      h2 ??= h2Client(t);
      const s = await h2.ensure();
      if (!s.remoteSettings.enableConnectProtocol)
        throw Object.assign(new Error('no RFC 8441 (enableConnectProtocol) in the server settings'), { unsupported: true });
      const stream = s.request({
        ':method': 'CONNECT',
        ':protocol': 'websocket',
        ':scheme': 'https',
        ':path': '/ws',
        ':authority': `localhost:${t.port}`,
        'sec-websocket-version': '13',
      });
      await new Promise((resolve, reject) => {
        stream.once('response', (h) => (h[':status'] === 200 ? resolve() : reject(new Error(`extended CONNECT answered ${h[':status']}`))));
        stream.once('error', reject);
      });
      return { stream, reader: frameReader(stream) };
    }
    const socket = t.tls
      ? tls.connect({
          host: '127.0.0.1',
          port: t.port,
          servername: 'localhost',
          ca: t.ca,
          rejectUnauthorized: t.verify !== false,
          ALPNProtocols: ['http/1.1'],
        })
      : net.connect({ host: '127.0.0.1', port: t.port });
    socket.setNoDelay(true);
    const key = randomBytes(16).toString('base64');
    await new Promise((resolve, reject) => {
      socket.once(t.tls ? 'secureConnect' : 'connect', resolve);
      socket.once('error', reject);
    });
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: localhost:${t.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const head = await new Promise((resolve, reject) => {
      let got = Buffer.alloc(0);
      const onData = (c) => {
        got = Buffer.concat([got, c]);
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.removeListener('data', onData);
        const rest = got.subarray(end + 4);
        if (rest.length) socket.unshift(rest);
        resolve(got.subarray(0, end).toString('latin1'));
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
    if (!/^HTTP\/1\.1 101 /.test(head) || !head.includes(wsAccept(key))) throw new Error(`no WebSocket upgrade: ${head.split('\r\n')[0]}`);
    return { stream: socket, reader: frameReader(socket) };
  };
  const request = async () => {
    if (!conn || conn.stream.destroyed) {
      conn = await open();
      opened++;
    }
    const t0 = performance.now();
    conn.stream.write(frame(1, WS_MESSAGE, true));
    const f = await Promise.race([conn.reader.next(), sleep(REQUEST_TIMEOUT_MS).then(() => Promise.reject(new Error('timeout')))]);
    return { ms: performance.now() - t0, status: f.opcode === 1 ? 200 : 0, body: f.payload };
  };
  return { request, connections: () => opened, close: () => (conn?.stream.destroy(), h2?.close()) };
}

// ---------------------------------------------------------------- the Python apps
async function startPythonStatic(tmp) {
  const dir = path.join(tmp, 'static');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'style.css'), CSS);
  const port = await freePort();
  // HTTP/1.1, or it closes every connection (its default is HTTP/1.0).
  startChild(PYTHON, ['-m', 'http.server', '--bind', '127.0.0.1', '--protocol', 'HTTP/1.1', '--directory', dir, String(port)], {
    log: path.join(tmp, 'python.log'),
  });
  await waitPort(port);
  return port;
}

async function startDjango(tmp) {
  const dir = path.join(tmp, 'django');
  fs.mkdirSync(dir);
  execFileSync(PYTHON, ['-m', 'django', 'startproject', 'benchsite', dir], { stdio: 'ignore' });
  // The tables the admin login page's session lookups need.
  execFileSync(PYTHON, ['manage.py', 'migrate', '--verbosity', '0'], { cwd: dir, stdio: 'ignore' });
  const port = await freePort();
  startChild(PYTHON, ['manage.py', 'runserver', `127.0.0.1:${port}`, '--noreload'], { cwd: dir, log: path.join(tmp, 'django.log') });
  await waitPort(port, 30_000);
  return {
    port,
    css: fs.readFileSync(
      path.join(
        path.dirname(execFileSync(PYTHON, ['-c', 'import django; print(django.__file__)'], { encoding: 'utf8' }).trim()),
        'contrib/admin/static/admin/css/base.css',
      ),
    ),
  };
}

/** Flask's development server (Werkzeug, threaded, so HTTP/1.1 with keep-alive). */
async function startFlask(tmp) {
  const dir = path.join(tmp, 'flask');
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'app.py'),
    `from flask import Flask\napp = Flask(__name__)\n\n@app.get('/')\ndef index():\n    return ${JSON.stringify(FLASK_BODY)}\n`,
  );
  const port = await freePort();
  startChild(PYTHON, ['-m', 'flask', '--app', 'app', 'run', '--host', '127.0.0.1', '--port', String(port)], {
    cwd: dir,
    log: path.join(tmp, 'flask.log'),
  });
  await waitPort(port, 30_000);
  return port;
}

const pythonModuleVersion = (name) => {
  try {
    return execFileSync(PYTHON, ['-c', `import importlib.metadata as m; print(m.version(${JSON.stringify(name)}))`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
};

const djangoVersion = () => {
  try {
    return execFileSync(PYTHON, ['-c', 'import django; print(django.get_version())'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
};

// ---------------------------------------------------------------- main
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-https-latency-'));
const certDir = path.join(tmp, 'certs');
const caRoot = path.join(tmp, 'ca');
const app = createApp();
const clients = [];
let exitCode = 0;
try {
  await new Promise((resolve, reject) => app.once('error', reject).listen(0, '127.0.0.1', resolve));
  const apps = { node: app.address().port };
  const notes = [];
  const want = (s) => WANT_SHAPES.includes(s);
  if (want('python-static')) {
    if (fs.existsSync(PYTHON)) apps.python = await startPythonStatic(tmp);
    else notes.push(`python-static skipped: no ${PYTHON}`);
  }
  let djangoCss = null;
  const django = want('django-css') || want('django-login') ? djangoVersion() : null;
  if (django) {
    const d = await startDjango(tmp);
    apps.django = d.port;
    djangoCss = d.css;
  } else if (want('django-css') || want('django-login')) notes.push('django shapes skipped: `import django` failed');
  const flask = want('flask') ? pythonModuleVersion('flask') : null;
  if (flask) apps.flask = await startFlask(tmp);
  else if (want('flask')) notes.push('flask skipped: Flask is not installed for /usr/bin/python3');

  const SHAPES = {
    cl: { app: 'node', path: '/cl', n: N, check: (r) => r.body.equals(CL_BODY), what: 'Content-Length, one write (1 KiB)' },
    chunked: {
      app: 'node',
      path: '/chunked',
      n: N,
      check: (r) => r.body.toString() === CHUNK.repeat(CHUNKS),
      what: `chunked, ${CHUNKS} writes on separate ticks`,
    },
    flush20: {
      app: 'node',
      path: '/flush20',
      n: N_SLOW,
      check: (r) => r.body.toString() === CHUNK.repeat(2),
      what: 'two flushes 20 ms apart',
    },
    post: {
      app: 'node',
      method: 'POST',
      path: '/echo',
      body: JSON_BODY,
      n: N,
      check: (r) => r.body.toString() === JSON_BODY,
      what: `POST ${JSON_BODY.length} B JSON, echoed`,
    },
    ws: {
      app: 'node',
      ws: true,
      n: N,
      check: (r) => r.body.equals(WS_MESSAGE),
      what: `WebSocket echo (${WS_MESSAGE.length} B text frame)`,
    },
    'python-static': {
      app: 'python',
      stalls: true,
      path: '/style.css',
      n: N_PYTHON,
      check: (r) => r.body.toString() === CSS,
      what: 'python3 -m http.server --protocol HTTP/1.1, 4 KB CSS',
    },
    'django-css': {
      app: 'django',
      stalls: true,
      path: '/static/admin/css/base.css',
      n: N_PYTHON,
      check: (r) => r.body.equals(djangoCss),
      what: `Django ${django} runserver, admin base.css`,
    },
    'django-login': {
      app: 'django',
      stalls: true,
      path: '/admin/login/',
      n: N_PYTHON,
      check: (r) => r.body.includes('csrfmiddlewaretoken'),
      what: `Django ${django} runserver, /admin/login/`,
    },
    flask: {
      app: 'flask',
      path: '/',
      n: N_PYTHON,
      check: (r) => r.body.toString() === FLASK_BODY,
      what: `Flask ${flask} development server (Werkzeug ${pythonModuleVersion('werkzeug')}), a string view; it closes the connection after each response, so nothing is reused and nothing stalls`,
    },
  };
  const shapes = WANT_SHAPES.filter((s) => apps[SHAPES[s].app] !== undefined);
  const appNames = [...new Set(shapes.map((s) => SHAPES[s].app))];

  // One proxy instance per app and proxy kind.
  const targets = []; // { proxy, app, port, tls, ca, verify, h2 }
  if (WANT_PROXIES.includes('direct'))
    for (const name of appNames) targets.push({ proxy: 'direct', app: name, port: apps[name], tls: false, h2: false });
  if (WANT_PROXIES.includes('dev-https')) {
    for (const name of appNames) {
      // Sequential starts: the first makes the certificate, the others reuse it.
      const d = await startDevHttpsBin({
        bin: BIN,
        appPort: apps[name],
        certDir,
        caRoot,
        extra: QUIET ? ['--quiet'] : [],
        sink: 'pipe',
        cwd: tmp,
      });
      targets.push({ proxy: 'dev-https', app: name, port: d.port, tls: true, ca: d.ca, h2: true, handle: d });
    }
  }
  let caddyVersion = null;
  if (WANT_PROXIES.includes('caddy')) {
    if (caddyAvailable()) {
      const c = await startCaddy(
        appNames.map((n) => apps[n]),
        tmp,
      );
      caddyVersion = c.version;
      appNames.forEach((name, i) => targets.push({ proxy: 'caddy', app: name, port: c.ports[i], tls: true, ca: c.ca, h2: true }));
    } else notes.push('Caddy not installed (bash ../shared/bench/setup.sh): no Caddy column');
  }
  if (WANT_PROXIES.includes('local-ssl-proxy')) {
    if (fs.existsSync(LSP_BIN)) {
      for (const name of appNames) {
        const l = await startLocalSslProxy(apps[name], tmp);
        // Its bundled certificate expired in 2025: not verified.
        targets.push({ proxy: 'local-ssl-proxy', app: name, port: l.port, tls: true, verify: false, h2: false });
      }
    } else notes.push('local-ssl-proxy not installed (bash ../shared/bench/setup.sh): no column');
  }

  // Cells: shape x proxy x client protocol. HTTP clients share one connection per target and protocol.
  const cells = [];
  const httpClients = new Map();
  for (const shape of shapes) {
    for (const t of targets.filter((x) => x.app === SHAPES[shape].app)) {
      for (const proto of t.h2 ? ['h1', 'h2'] : ['h1']) {
        let client;
        if (SHAPES[shape].ws) client = wsClient(t, proto);
        else {
          const key = `${t.proxy}/${t.app}/${proto}`;
          if (!httpClients.has(key)) httpClients.set(key, proto === 'h2' ? h2Client(t) : h1Client(t));
          client = httpClients.get(key);
        }
        clients.push(client);
        client.label ??= `${t.proxy} ${proto} to the ${t.app} app${SHAPES[shape].ws ? ' (WebSocket)' : ''}`;
        cells.push({ shape, proxy: t.proxy, proto, client, samples: [], errors: 0, lastError: '', unsupported: null });
      }
    }
  }

  const once = async (cell) => {
    const r = await cell.client.request(SHAPES[cell.shape]);
    if (r.status !== 200 || !SHAPES[cell.shape].check(r)) throw new Error(`status ${r.status}, ${r.body.length} B body not the app's`);
    return r.ms;
  };
  /** One unmeasured request (retried once: a pooled socket may have been closed just then). */
  const warm = async (cell) => {
    for (let i = 0; i < 2; i++) {
      try {
        await once(cell);
        return true;
      } catch (err) {
        if (err.unsupported) {
          cell.unsupported = err.message;
          return false;
        }
        cell.lastError = err.message;
      }
    }
    return false;
  };

  const started = performance.now();
  for (const cell of cells) for (let i = 0; i < 3; i++) if (!(await warm(cell)) && cell.unsupported) break;
  const live = cells.filter((c) => !c.unsupported);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < live.length; k++) {
      const cell = live[(k + round * Math.ceil(live.length / ROUNDS)) % live.length];
      const n = SHAPES[cell.shape].n;
      const batch = Math.floor(n / ROUNDS) + (round < n % ROUNDS ? 1 : 0);
      await warm(cell);
      for (let i = 0; i < batch; i++) {
        try {
          cell.samples.push(await once(cell));
        } catch (err) {
          cell.errors++;
          cell.lastError = err.message;
        }
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;

  // ---------------------------------------------------------------- report
  const cell = (shape, proxy, proto) => cells.find((c) => c.shape === shape && c.proxy === proxy && c.proto === proto);
  const med = (c) => (c && c.samples.length ? median(c.samples) : NaN);
  const fmt = (x) => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2)) : '–');
  const signed = (x) => (Number.isFinite(x) ? (x >= 0 ? '+' : '') + fmt(x) : '–');
  const proxies = PROXY_NAMES.filter((p) => targets.some((t) => t.proxy === p));
  const label = {
    direct: 'direct (h1, plain)',
    'dev-https': 'dev-https',
    caddy: `Caddy ${caddyVersion ?? ''}`.trim(),
    'local-ssl-proxy': 'local-ssl-proxy',
  };
  console.log(
    `\nLatency by response shape, one request at a time over a reused connection: median / p90 ms, ${ROUNDS} interleaved rounds, ` +
      `n = ${N} per cell (flush20 ${N_SLOW}, Python ${N_PYTHON}); node ${process.version}, ${os.cpus().length} cores shared by client, proxies and apps; ` +
      `dev-https ${BIN}${QUIET ? ' --quiet' : ' (request log on, stdout to a pipe this script drains)'}; ${seconds.toFixed(0)} s.`,
  );
  console.log(
    '"+X" = the proxy\'s median minus the direct median (HTTP/1.1 to the app, no TLS). h1 = node:https keep-alive agent, 1 socket; h2 = one node:http2 session.\n',
  );
  const added = proxies.filter((p) => p !== 'direct');
  console.log(`| shape | client | ${proxies.map((p) => label[p]).join(' | ')} | ${added.map((p) => `+${label[p]}`).join(' | ')} |`);
  console.log(`| --- | --- | ${proxies.map(() => '---:').join(' | ')} | ${added.map(() => '---:').join(' | ')} |`);
  const footnotes = [];
  const verdicts = [];
  for (const shape of shapes) {
    const direct = med(cell(shape, 'direct', 'h1'));
    for (const proto of ['h1', 'h2']) {
      if (!cells.some((c) => c.shape === shape && c.proto === proto)) continue;
      const cols = proxies.map((p) => {
        const c = cell(shape, p, proto);
        if (!c) return '–';
        if (c.unsupported) return 'n/a';
        if (!c.samples.length) return 'failed';
        return `${fmt(median(c.samples))} / ${fmt(percentile(c.samples, 90))}`;
      });
      const adds = added.map((p) => signed(med(cell(shape, p, proto)) - direct));
      console.log(`| ${shape} | ${proto} | ${cols.join(' | ')} | ${adds.join(' | ')} |`);
      for (const p of proxies) {
        const c = cell(shape, p, proto);
        if (!c) continue;
        if (c.unsupported) footnotes.push(`${shape} ${proto} ${p}: n/a, ${c.unsupported}`);
        if (c.errors) footnotes.push(`${shape} ${proto} ${p}: ${c.errors} failed requests (last: ${c.lastError})`);
        if (c.errors) exitCode = 1;
      }
      const dh = med(cell(shape, 'dev-https', proto));
      const cd = med(cell(shape, 'caddy', proto));
      if (Number.isFinite(dh) && Number.isFinite(cd)) {
        const over = dh - cd;
        verdicts.push(
          `${shape} ${proto}: dev-https ${signed(dh - direct)} ms, Caddy ${signed(cd - direct)} ms -> ${over <= 1 ? 'within' : 'MISSES'} Caddy + 1 ms (${signed(over)})`,
        );
      }
    }
    if (SHAPES[shape].stalls) {
      for (const proto of ['h1', 'h2']) {
        const dh = med(cell(shape, 'dev-https', proto));
        if (Number.isFinite(dh) && Number.isFinite(direct))
          verdicts.push(`${shape} ${proto}: direct / dev-https = ${(direct / dh).toFixed(1)}x (target: several times faster than direct)`);
      }
    }
  }
  // Connections reopened: the server closed an idle one between batches (each batch's first,
  // unmeasured request reopens it), or closes after every response.
  const perRequest = Math.ceil(N_PYTHON / 2);
  for (const client of new Set(cells.map((c) => c.client))) {
    const n = client.connections();
    if (n > 1)
      footnotes.push(
        `${client.label}: connection opened ${n} times${n > perRequest ? ' (the server closes it after each response)' : ' (closed while idle between batches)'}`,
      );
  }
  console.log('\nShapes:');
  for (const s of shapes) console.log(`- ${s}: ${SHAPES[s].what}`);
  if (footnotes.length) console.log('\nNotes:\n' + footnotes.map((f) => `- ${f}`).join('\n'));
  if (notes.length) console.log(notes.map((f) => `- ${f}`).join('\n'));
  if (verdicts.length) console.log('\nTargets (issue 13):\n' + verdicts.map((v) => `- ${v}`).join('\n'));
  const said = targets.filter((t) => t.handle).flatMap((t) => t.handle.lines.map((l) => `${t.app}: ${l.trim()}`));
  printSaid(said);
  if (JSON_OUT) {
    fs.writeFileSync(
      JSON_OUT,
      JSON.stringify(
        {
          node: process.version,
          rounds: ROUNDS,
          cells: cells.map((c) => ({
            shape: c.shape,
            proxy: c.proxy,
            proto: c.proto,
            n: c.samples.length,
            median: med(c),
            p90: percentile(c.samples, 90),
            errors: c.errors,
            unsupported: c.unsupported,
          })),
        },
        null,
        2,
      ),
    );
  }
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  for (const c of clients) c.close();
  await stopAll();
  for (const s of upgraded) s.destroy();
  app.closeAllConnections?.();
  await new Promise((resolve) => app.close(() => resolve()));
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exitCode = exitCode;
