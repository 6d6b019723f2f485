// startDevHttps: certificate, HTTPS listener (and optional HTTP listener) in front of the app
// or the built-in demo, and a handle that closes it all.
import http from 'node:http';
import crypto from 'node:crypto';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import { openBrowser } from '../cli/browser.js';
import { loadCurrentCertificate, type CertificateInfo, type CurrentCertificate } from '../certs/current-cert.js';
import { createDemoApp } from '../pages/demo.js';
import { createHostCheck, parseHost, type HostCheck } from './hosts.js';
import { listenAll } from './listen.js';
import { escapeControl, logPath, protocolOf, type Logger } from '../logger.js';
import { isLoopbackName, machineAddresses, networkAddresses, resolveOptions, settingText, type DevHttpsOptions, type ResolvedTarget } from '../options.js';
import { closeConnection, sendForbiddenHost } from '../pages/pages.js';
import { createProxy, type EntryListener, type Proxy } from '../proxy/proxy.js';
import { waitUntilAccepting } from '../cli/reachable.js';
import { redirectToHttps } from '../proxy/redirect.js';

export interface DevHttpsHandle {
  urls: {
    /** e.g. `https://localhost:8443/` */
    https: string;
    /** The HTTP listener's URL, or null without --http-port. */
    http: string | null;
  };
  /** Origin of the app requests go to (the demo app's when `demo` is true). */
  target: string;
  /** True when no target was given and the built-in demo app is served. */
  demo: boolean;
  /** True when the HTTP listener redirects to HTTPS instead of proxying. */
  redirectHttp: boolean;
  /** Addresses the listeners are bound to. */
  addresses: string[];
  /** Addresses other machines can use (with --host 0.0.0.0: the machine's external ones). */
  networkAddresses: string[];
  /**
   * The certificate served now (it changes on renewal or when --cert files change), with the CA
   * that signed it: trust `certificate.ca.cert` (or `trustPath`) in a client. Never the key.
   */
  readonly certificate: CertificateInfo;
  /** Stops listening, destroys open client, upgraded and pooled connections. Safe to call twice. */
  close(): Promise<void>;
}

// TLS records start with this byte (handshake); anything else on the HTTPS port is plain HTTP.
const TLS_HANDSHAKE = 0x16;

/**
 * TLS 1.3, and TLS 1.2 with ECDHE and AEAD ciphers only (AES-GCM, ChaCha20-Poly1305): no CBC,
 * no CCM, no static RSA key exchange, no client-initiated renegotiation. Every browser, curl,
 * Python and Java of the last ten years negotiates one of these (Mozilla's "intermediate" list).
 */
export const TLS_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: false,
  secureOptions: crypto.constants.SSL_OP_NO_RENEGOTIATION,
} as const;

/**
 * Request headers larger than this get 431 on both protocols (nginx's default is 4 buffers of
 * 8 KiB). Node's HTTP/2 refuses a header block over 64 KiB itself, before dev-https sees it.
 */
export const MAX_HEADER_BYTES = 32 * 1024;

/**
 * HTTP/2 limits: streams per connection as Caddy (nginx: 128), so one connection cannot pin
 * thousands of app connections; header fields enough for a browser's 150 cookies, which it sends
 * as a field each (Node's default of 128 reset such requests).
 */
const HTTP2_SETTINGS = { maxConcurrentStreams: 250 };
const HTTP2_MAX_HEADER_PAIRS = 2000;

export async function startDevHttps(options: DevHttpsOptions = {}): Promise<DevHttpsHandle> {
  const opts = resolveOptions(options);
  const { logger } = opts;
  const certificate: CurrentCertificate = await loadCurrentCertificate(opts);
  const hosts = createHostCheck(opts.certNames, opts.listenAddresses, opts.allowHosts);
  if (opts.allowHosts.includes('any')) {
    logger.warn(`${settingText(opts.origins, 'allowHosts', '--allow-host', 'any')}: the Host check is off, so any web page you visit can reach your app through DNS rebinding`);
  }

  const listening: net.Server[] = [];
  const inner: net.Server[] = [];
  // Every client connection: HTTP/2 sessions are not tracked by Node's closeAllConnections().
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  let demo: http.Server | null = null;
  let proxy: Proxy | null = null;
  const closeAll = async () => {
    await certificate.close();
    // Upgraded sockets first: server.close() would wait for them.
    proxy?.close();
    for (const socket of sockets) socket.destroy();
    await Promise.all([...listening, ...inner].map((s) => closeServer(s)));
    if (demo) await closeServer(demo);
  };

  try {
    let target: ResolvedTarget;
    if (opts.target) {
      target = opts.target;
    } else {
      demo = createDemoApp();
      const { port } = await listenAll({ create: () => demo!, addresses: ['127.0.0.1'], port: 0, flag: 'demo app' });
      target = { origin: `http://127.0.0.1:${port}`, hostname: '127.0.0.1', port };
    }
    const p = (proxy = createProxy(target, logger, { keepHsts: opts.keepHsts }));
    const guard = createGuard(hosts, logger);
    const timeouts = { headersTimeout: opts.headersTimeout, requestTimeout: 0, connectionsCheckingInterval: Math.min(1000, opts.headersTimeout), maxHeaderSize: MAX_HEADER_BYTES };

    // One HTTPS server and one plain-HTTP one behind the HTTPS port, fed by a listener per address
    // that looks at each connection's first byte.
    let httpsPort = 0;
    const httpsListener: EntryListener = { proto: 'https', port: 0, httpsPort: 0 };
    const tls = {
      ...certificate.tlsOptions(),
      ...TLS_POLICY,
      handshakeTimeout: opts.headersTimeout,
      SNICallback: (servername: string, done: (err: Error | null, context?: SecureContext) => void) => {
        const pending = certificate.sniContext(servername);
        if (!pending) return done(null);
        pending.then((context) => done(null, context ?? undefined), () => done(null));
      },
    };
    // HTTP/2 through ALPN (browsers open at most 6 HTTP/1.1 connections per host: a page of 300
    // modules queues), HTTP/1.1 for everything else, WebSocket upgrades included.
    const tlsServer = activate(
      opts.http2
        ? // Its HTTP/1.1 connections take the timeouts from these properties (no constructor options).
          Object.assign(
            http2.createSecureServer({ ...tls, allowHTTP1: true, settings: HTTP2_SETTINGS, maxHeaderListPairs: HTTP2_MAX_HEADER_PAIRS }) as unknown as http.Server,
            { ...timeouts, keepAliveTimeout: opts.idleTimeout, requireHostHeader: true, maxHeaderSize: MAX_HEADER_BYTES },
          )
        : https.createServer({ ...tls, ...timeouts, keepAliveTimeout: opts.idleTimeout }),
    );
    if (opts.http2) tlsServer.on('session', (session: http2.ServerHttp2Session) => closeWhenIdle(session, opts.headersTimeout, opts.idleTimeout));
    // Renewed or reloaded certificates go to new handshakes; open connections keep theirs.
    await certificate.applyUpdates((secure) => (tlsServer as unknown as { setSecureContext(o: object): void }).setSecureContext({ ...secure, ...TLS_POLICY }));
    serve(tlsServer, guard, 'https', (req, res) => p.web(req, res, httpsListener), (req, socket, head) => p.ws(req, socket, head, httpsListener));
    const plainOnTlsPort = activate(http.createServer(timeouts));
    serve(plainOnTlsPort, guard, 'http', (req, res) => redirectToHttps(req, res, httpsPort, opts.publicHost), refuseUpgrade, true);
    inner.push(tlsServer, plainOnTlsPort);

    const httpsListening = await listenAll({
      addresses: opts.listenAddresses,
      port: opts.port,
      flag: '--port',
      create: () => {
        // No Nagle: a response written in pieces (chunked, streamed, SSE) leaves at once, not 40 ms
        // later when the client's delayed ACK arrives.
        const server = net.createServer({ noDelay: true }, (socket) => {
          track(socket);
          dispatch(socket, tlsServer, plainOnTlsPort, opts.headersTimeout);
        });
        listening.push(server);
        return server.on('error', () => undefined);
      },
    });
    httpsPort = httpsListener.port = httpsListener.httpsPort = httpsListening.port;

    let httpPort: number | null = null;
    if (opts.httpPort !== null) {
      const httpListener: EntryListener = { proto: 'http', port: 0, httpsPort };
      const httpServer = activate(http.createServer(timeouts));
      if (opts.redirectHttp) serve(httpServer, guard, 'http', (req, res) => redirectToHttps(req, res, httpsPort, opts.publicHost), refuseUpgrade);
      else serve(httpServer, guard, 'http', (req, res) => p.web(req, res, httpListener), (req, socket, head) => p.ws(req, socket, head, httpListener));
      inner.push(httpServer);
      const httpListening = await listenAll({
        addresses: opts.listenAddresses,
        port: opts.httpPort,
        flag: '--http-port',
        create: () => {
          const server = net.createServer({ noDelay: true }, (socket) => {
            track(socket);
            socket.on('error', () => socket.destroy());
            httpServer.emit('connection', socket);
          });
          listening.push(server);
          return server.on('error', () => undefined);
        },
      });
      httpPort = httpListener.port = httpListening.port;
    }

    // A target elsewhere gets every request of your browser tabs on localhost, cookies included,
    // over plain HTTP: say so, naming where the setting came from (a repository's config can set it).
    if (opts.target && !isLoopbackName(opts.target.hostname) && !machineAddresses().includes(opts.target.hostname.toLowerCase())) {
      logger.warn(`${settingText(opts.origins, 'target', '--target', opts.target.origin)}: the app is not on this machine, so your requests to dev-https, cookies included, go to ${opts.target.hostname} over plain HTTP`);
    }
    if (opts.exposed) {
      logger.warn(`${settingText(opts.origins, 'host', '--host', opts.listenAddresses.join(', '))}: dev-https and your app are now reachable from the network, not only from this machine`);
    }
    const urls = {
      https: `https://${opts.publicHost}:${httpsPort}/`,
      http: httpPort === null ? null : `http://${opts.publicHost}:${httpPort}/`,
    };
    // The browser opens once the app answers (its start-up may take a while), not before.
    const opening = new AbortController();
    if (opts.open) {
      void waitUntilAccepting(target.hostname, target.port, opening.signal).then((ready) => {
        if (ready) void openBrowser(urls.https, logger);
      });
    }

    let closing: Promise<void> | null = null;
    return {
      get certificate() {
        return certificate.info();
      },
      urls,
      target: target.origin,
      demo: demo !== null,
      redirectHttp: opts.redirectHttp,
      addresses: [...new Set(listening.map((s) => (s.address() as net.AddressInfo | null)?.address).filter((a): a is string => !!a))],
      networkAddresses: opts.exposed ? networkAddresses(opts.listenAddresses) : [],
      close: () => {
        opening.abort();
        return (closing ??= closeAll());
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * Hands a new connection to the TLS server or, when its first byte is not a TLS handshake, to
 * the plain-HTTP server that redirects to https://. A connection that sends nothing is closed.
 */
function dispatch(socket: net.Socket, tlsServer: net.Server, plainServer: net.Server, timeoutMs: number): void {
  socket.on('error', () => socket.destroy());
  socket.setTimeout(timeoutMs, () => socket.destroy());
  socket.once('data', (chunk: Buffer) => {
    socket.setTimeout(0);
    socket.pause();
    socket.unshift(chunk);
    (chunk[0] === TLS_HANDSHAKE ? tlsServer : plainServer).emit('connection', socket);
    process.nextTick(() => socket.resume());
  });
}

/**
 * Servers that never listen themselves (connections are handed to them) still need Node's
 * connection tracking, which starts on 'listening': it enforces headersTimeout and lets
 * closeAllConnections() find every socket.
 */
function activate<S extends http.Server>(server: S): S {
  server.requestTimeout = 0; // uploads and downloads take as long as they take
  server.on('error', () => undefined);
  // Node's own answer to a bad request (write, then destroy at once) is lost inside TLS on a
  // handed-over socket: end() flushes it, so the client gets its 400, 408 or 431.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Node's parser sees the rest of what the client sends while the answer lingers: answered once.
    if (lingering.has(socket)) return;
    if (err.code === 'ECONNRESET' || !socket.writable || (socket as { _httpMessage?: http.ServerResponse })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    endLingering(socket, `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  server.emit('listening');
  return server;
}

/**
 * Sends a last answer and closes, reading (and dropping) what the client still sends for a while,
 * as nginx's lingering close does: closing with unread data makes the kernel send a reset, which
 * throws away the answer before the client reads it (a 431 over TLS arrived as ECONNRESET).
 */
function endLingering(socket: Duplex, answer: string): void {
  lingering.add(socket);
  socket.on('data', () => undefined);
  socket.resume();
  socket.end(answer);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', () => socket.destroy());
}
const LINGER_MS = 2000;
const lingering = new WeakSet<Duplex>();

/**
 * An HTTP/2 session must open its first stream within the header timeout (Node's covers HTTP/1
 * only), and one without open streams for idleTimeout is closed with GOAWAY, as idle HTTP/1.1
 * connections are: idle sessions cannot pile up. A long stream (SSE) is not idle.
 */
function closeWhenIdle(session: http2.ServerHttp2Session, headersTimeout: number, idleTimeout: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | null = setTimeout(() => session.destroy(), headersTimeout);
  const stop = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  session.on('stream', (stream: http2.ServerHttp2Stream) => {
    stop();
    open++;
    stream.once('close', () => {
      if (--open > 0 || session.closed || session.destroyed) return;
      timer = setTimeout(() => session.close(), idleTimeout);
      timer.unref();
    });
  });
  session.once('close', stop);
}

type WebHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

interface Guard {
  web(req: http.IncomingMessage, res: http.ServerResponse, next: WebHandler, scheme: 'http' | 'https', refuseWith400: boolean): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, next: UpgradeHandler, scheme: 'http' | 'https'): void;
}

/** The Host and Origin checks in front of everything, and a net for unexpected exceptions. */
function createGuard(hosts: HostCheck, logger: Logger): Guard {
  const refusedHosts = new Set<string>();
  // `hint` is the --allow-host value that would let it in (none for an Origin like `null`).
  const logRefusal = (value: string, what: string, hint: string | null = value) => {
    if (refusedHosts.has(`${what}:${value}`) || refusedHosts.size > 100) return;
    refusedHosts.add(`${what}:${value}`);
    logger.warn(`refused a request with ${what} "${escapeControl(value)}" (not localhost, a --name or an address dev-https listens on)${hint ? `: allow it with --allow-host ${escapeControl(hint)}` : ''}`);
  };
  // Once per kind of mistake: a client repeating it is not news.
  const malformedSeen = new Set<string>();
  // The value a client sent is logged (escaped), never echoed back in the answer.
  const logMalformed = ({ reason, value }: { reason: string; value?: string }) => {
    if (malformedSeen.has(reason) || malformedSeen.size > 100) return;
    malformedSeen.add(reason);
    logger.warn(`refused a malformed request (${reason}${value === undefined ? '' : ` "${escapeControl(value)}"`}); it did not reach the app`);
  };
  const unexpected = (err: unknown) => logger.error(`unexpected error while handling a request (dev-https keeps running): ${err instanceof Error ? err.message : String(err)}`);
  return {
    web(req, res, next, scheme, refuseWith400) {
      // HTTP/2 names the host in :authority; everything after us (and the app) reads Host.
      if (req.headers.host === undefined && req.headers[':authority'] !== undefined) req.headers.host = String(req.headers[':authority']);
      if (logger.request) {
        const started = performance.now();
        res.once('close', () =>
          logger.request!({ time: new Date(), method: req.method ?? 'GET', path: logPath(req.url), status: res.statusCode, durationMs: performance.now() - started, ws: false, scheme, protocol: protocolOf(req) }),
        );
      }
      try {
        const malformed = malformedHead(req);
        if (malformed) {
          logMalformed(malformed);
          const body = `${malformed.status} ${http.STATUS_CODES[malformed.status]}: ${malformed.reason}\n`;
          res.writeHead(malformed.status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...closeConnection(req) });
          res.end(body);
          return;
        }
        if (!hosts.allowsHost(req.headers.host)) {
          const hostname = hosts.hostnameOf(req.headers.host!) ?? 'invalid';
          logRefusal(hostname, 'Host');
          if (refuseWith400) {
            res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', ...closeConnection(req) });
            res.end('400 Bad Request: this is an HTTPS port; use https://\n');
          } else {
            sendForbiddenHost(req, res, hostname);
          }
          return;
        }
        next(req, res);
      } catch (err) {
        unexpected(err);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', ...closeConnection(req) });
        res.end('500 Internal Server Error: dev-https failed on this request; see its terminal\n');
      }
    },
    upgrade(req, socket, head, next, scheme) {
      socket.on('error', () => socket.destroy());
      try {
        const malformed = malformedHead(req);
        if (malformed) {
          logMalformed(malformed);
          logger.request?.({ time: new Date(), method: req.method ?? 'GET', path: logPath(req.url), status: malformed.status, durationMs: 0, ws: true, scheme, protocol: protocolOf(req) });
          socket.end(`HTTP/1.1 ${malformed.status} ${http.STATUS_CODES[malformed.status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
          return;
        }
        const origin = req.headers.origin;
        const refused = !hosts.allowsHost(req.headers.host)
          ? ['Host', hosts.hostnameOf(req.headers.host!) ?? 'invalid']
          : !hosts.allowsOrigin(origin)
            ? ['Origin', origin!]
            : null;
        if (refused) {
          logRefusal(refused[1]!, refused[0]!, refused[0] === 'Origin' ? originHostname(hosts, refused[1]!) : refused[1]!);
          logger.request?.({ time: new Date(), method: req.method ?? 'GET', path: logPath(req.url), status: 403, durationMs: 0, ws: true, scheme, protocol: protocolOf(req) });
          socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
          return;
        }
        next(req, socket, head);
      } catch (err) {
        unexpected(err);
        socket.destroy();
      }
    },
  };
}

/**
 * What makes a request head unfit to pass on, before any other check: a Host that is not a host
 * (400, as nginx and Caddy answer), two of them, an HTTP/2 :authority and host that differ, or
 * HTTP/2 headers over MAX_HEADER_BYTES (431; Node's HTTP/1 parser counts those itself).
 */
export function malformedHead(req: http.IncomingMessage): { status: 400 | 431; reason: string; value?: string } | null {
  const raw = req.rawHeaders;
  let hosts = 0;
  let bytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
    bytes += name.length + raw[i + 1]!.length + 4;
  }
  if (req.httpVersionMajor >= 2) {
    if (bytes > MAX_HEADER_BYTES) return { status: 431, reason: `request headers of ${bytes} bytes, over the limit of ${MAX_HEADER_BYTES}` };
    const authority = req.headers[':authority'];
    if (hosts > 0 && authority !== undefined && authority !== req.headers.host) return { status: 400, reason: 'a Host header that differs from :authority' };
    if (req.headers.host === undefined) return { status: 400, reason: 'no :authority or Host' };
  }
  if (hosts > 1) return { status: 400, reason: 'more than one Host header' };
  const host = req.headers.host;
  if (host !== undefined && parseHost(host) === null) return { status: 400, reason: 'an invalid Host header', value: host };
  return null;
}

function originHostname(hosts: HostCheck, origin: string): string | null {
  try {
    return hosts.hostnameOf(new URL(origin).host);
  } catch {
    return null;
  }
}

function serve(server: http.Server, guard: Guard, scheme: 'http' | 'https', web: WebHandler, upgrade: UpgradeHandler, refuseWith400 = false): void {
  server.on('request', (req, res) => guard.web(req, res, web, scheme, refuseWith400));
  server.on('upgrade', (req, socket, head) => {
    if (/^websocket$/i.test(String(req.headers.upgrade ?? ''))) guard.upgrade(req, socket, head, upgrade, scheme);
    else answerAsRequest(server, req, socket as net.Socket, head);
  });
}

/**
 * Node hands every `Connection: Upgrade` request to 'upgrade' listeners; only WebSockets are
 * upgrades to us. Others (h2c from curl --http2, Java's HttpClient) are answered as the plain
 * requests they also are, without the upgrade.
 */
function answerAsRequest(server: http.Server, req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
  socket.on('error', () => socket.destroy());
  const hasBody = head.length > 0 || req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  if (hasBody) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  delete req.headers.upgrade;
  delete req.headers['http2-settings'];
  req.headers.connection = 'close';
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.on('finish', () => {
    res.detachSocket(socket);
    socket.end();
  });
  server.emit('request', req, res);
}

/** WebSocket clients do not follow redirects: tell them where to go instead. */
function refuseUpgrade(_req: http.IncomingMessage, socket: Duplex): void {
  const body = 'This listener redirects to HTTPS: connect with wss:// to the HTTPS port.\n';
  socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    // A dev server stops now: open keep-alive connections and streams are cut, not waited for.
    (server as http.Server).closeAllConnections?.();
    // Also for the servers that never listened: close() stops their connection checks.
    server.close(() => resolve());
  });
}

