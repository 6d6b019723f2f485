// Forwards requests to the app over a keep-alive pool, and WebSocket upgrades through http-proxy-3,
// and answers 502 while the app is unreachable.
import dns from 'node:dns';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyServer } from 'http-proxy-3';
import { errnoCode } from './errors.js';
import { setForwardedHeaders } from './forwarded.js';
import { logPath, type Logger } from './logger.js';
import { isLocalhostName, LOOPBACK_ADDRESSES, type ResolvedTarget } from './options.js';
import { createDiagnostics } from './diagnose.js';
import { describeUpstreamError, sendBadGateway, sendRedirectLoopPage, sendUnpassableResponse, wantsHtml } from './pages.js';
import { rewriteLocation } from './redirect.js';
import { collectWhileStreaming } from './memory.js';

/** The dev-https listener that took a request. */
export interface Listener {
  proto: 'http' | 'https';
  port: number;
  /** The HTTPS listener's port, where redirects to HTTPS must land. */
  httpsPort: number;
}

export interface Proxy {
  web(req: http.IncomingMessage, res: http.ServerResponse, listener: Listener): void;
  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, listener: Listener): void;
  /** Destroys pooled and upgraded connections. */
  close(): void;
}

/** What the proxy keeps about a request while it is proxied. */
interface RequestState {
  listener: Listener;
  clientClose: boolean;
  /** Whether the last upstream request went out on a reused pooled socket. */
  reusedSocket: boolean;
  retried: boolean;
}

// Kept on the request itself: a WeakMap keyed by requests costs the garbage collector about
// 25 µs per proxied request (measured in bench/, 15% of all CPU).
const STATE = Symbol('dev-https.state');
type ProxiedRequest = http.IncomingMessage & { [STATE]?: RequestState };
const stateOf = (req: http.IncomingMessage): RequestState | undefined => (req as ProxiedRequest)[STATE];

/** Idle pooled sockets are closed before common app servers' own keep-alive timeouts (Node: 5 s). */
const POOL_IDLE_MS = 4000;

export interface ProxyOptions {
  /** Pass the app's Strict-Transport-Security through on localhost names. */
  keepHsts: boolean;
}

export function createProxy(target: ResolvedTarget, logger: Logger, options: ProxyOptions): Proxy {
  const agent = new http.Agent({
    keepAlive: true,
    timeout: POOL_IDLE_MS,
    scheduling: 'lifo',
    // Try every address of the target (happy eyeballs) so `localhost` reaches an app that
    // listens on 127.0.0.1 only as well as one on ::1 only, whatever /etc/hosts says.
    autoSelectFamily: true,
    lookup: lookupLoopbackAware,
  } as http.AgentOptions);
  const upgradeSockets = new Set<Duplex>();
  // The app's side of upgraded connections: they leave the agent's pool, so close() ends them here.
  const appSockets = new Set<Duplex>();
  // Client sockets whose upgrade the app accepted: from then on they carry WebSocket frames.
  const switched = new WeakSet<Duplex>();
  let down = false;

  const markUp = () => {
    if (!down) return;
    down = false;
    logger.info(`The app at ${target.origin} is answering again`);
  };
  const markDown = (code: string | undefined) => {
    if (down) return;
    down = true;
    logger.warn(`cannot reach the app at ${target.origin}: ${describeUpstreamError(code)}; answering 502 until it is back`);
  };

  const diagnostics = createDiagnostics(logger, options.keepHsts);
  /** The app's response head, rewritten for the client; true when dev-https answered instead. */
  const onResponse = (proxyRes: http.IncomingMessage, req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    markUp();
    // The app cut its response short: cut the client's too, never pass a truncated body off as whole.
    proxyRes.on('close', () => {
      if (!proxyRes.complete) res.destroy();
    });
    collectWhileStreaming(proxyRes, proxyRes.headers['content-length']);
    const context = stateOf(req)!;
    const headers = proxyRes.headers;
    // The client's framing is Node's to choose (chunked, or none over HTTP/2); trailers are not
    // passed on, and announcing them makes Node refuse a head that is not chunked.
    delete headers['transfer-encoding'];
    delete headers.trailer;
    // The app's hop-by-hop headers describe its connection to us, not ours to the client.
    const listed = String(headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
    for (const name of [...listed, 'keep-alive', 'proxy-connection']) if (name) delete headers[name];
    // HTTP/2 has no connection-specific headers at all (Node throws on them).
    if (req.httpVersionMajor < 2) headers.connection = context.clientClose ? 'close' : 'keep-alive';
    else for (const name of ['connection', 'upgrade', 'http2-settings', 'te']) delete headers[name];
    if (headers.location) {
      headers.location = rewriteLocation(proxyRes.statusCode ?? 0, headers.location, {
        proto: context.listener.proto,
        host: req.headers.host,
        listenerPort: context.listener.port,
        httpsPort: context.listener.httpsPort,
        target,
      });
    }
    const loop = diagnostics.inspect({ req, proto: context.listener.proto, statusCode: proxyRes.statusCode ?? 0, headers });
    if (loop && wantsHtml(req)) {
      // The app's body is drained so its connection goes back to the pool.
      sendRedirectLoopPage(req, res, loop);
      proxyRes.resume();
      return true;
    }
    return false;
  };

  /**
   * Sends one request to the app over the pool and its response back (WebSockets go through
   * http-proxy-3, whose web pass cost 30 µs of CPU per request: bench/, README "Performance").
   */
  const forward = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const state = stateOf(req)!;
    const headers: http.OutgoingHttpHeaders = { ...req.headers };
    // Some servers wait for a body of a DELETE or OPTIONS that declares none.
    if ((req.method === 'DELETE' || req.method === 'OPTIONS') && !headers['content-length']) {
      headers['content-length'] = '0';
      delete headers['transfer-encoding'];
    }
    delete headers.trailer;
    if (req.httpVersionMajor > 1) for (const name of Object.keys(headers)) if (name.startsWith(':')) delete headers[name];
    const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: originForm(req.url), headers, agent });
    upstream.on('socket', () => (state.reusedSocket = upstream.reusedSocket));
    // A client gone before the response ended cancels the app's request. An HTTP/2 stream the
    // client resets leaves its response looking finished: only 'aborted' tells.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    if (req.httpVersionMajor >= 2) req.once('aborted', () => upstream.destroy());
    const onError = (err: Error) => {
      if (req.socket.destroyed && errnoCode(err) === 'ECONNRESET') upstream.destroy();
      else failed(err, req, res);
    };
    // Once per client request: a retry must not answer its errors twice.
    if (!state.retried) req.on('error', onError);
    upstream.on('error', onError);
    req.pipe(upstream);
    upstream.on('response', (proxyRes) => {
      if (onResponse(proxyRes, req, res) || res.headersSent) {
        proxyRes.resume();
        return;
      }
      const status = proxyRes.statusCode ?? 502;
      try {
        if (req.httpVersionMajor < 2 && proxyRes.statusMessage) res.writeHead(status, proxyRes.statusMessage, proxyRes.headers);
        else res.writeHead(status, proxyRes.headers);
      } catch (err) {
        // A head Node refuses to pass on (status 600 to an HTTP/2 client, say): a 502 saying so,
        // not a hung client. HTTP/2's writeHead sets the headers before it checks the status.
        proxyRes.resume();
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        res.statusMessage = '';
        const reason = err instanceof Error ? err.message : String(err);
        logger.warn(`the app's answer to ${req.method ?? 'GET'} ${logPath(req.url)} cannot be passed on (${reason}): answering 502`);
        sendUnpassableResponse(req, res, reason);
        return;
      }
      proxyRes.pipe(res);
    });
  };
  const failed = (err: Error, req: http.IncomingMessage, res: http.ServerResponse | Duplex): void => {
    const code = errnoCode(err);
    // The app closed a pooled connection just as we reused it (its keep-alive timeout): nothing
    // reached it, so a request without a body is sent once more on a fresh connection.
    const state = stateOf(req);
    if (isResponse(res) && !res.headersSent && state && !state.retried && state.reusedSocket && isRetryable(req, code)) {
      state.retried = true;
      forward(req, res);
      return;
    }
    if (isResponse(res)) {
      // Nothing was sent yet: the app was not reached. Otherwise the app broke mid-response.
      if (!res.headersSent) {
        markDown(code);
        sendBadGateway(req, res, target.origin, code);
      } else {
        res.destroy();
      }
      return;
    }
    const socket = res as Duplex;
    if (!socket.destroyed && socket.writable && !switched.has(socket)) {
      markDown(code);
      socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
    socket.destroy();
  };
  // WebSocket upgrades go through http-proxy-3, loaded on the first one: a start without any
  // does not pay its 28 ms.
  let wsProxy: Promise<ProxyServer> | null = null;
  const loadWsProxy = () =>
    (wsProxy ??= import('http-proxy-3').then(({ createProxyServer }) => {
      const proxy = createProxyServer({ target: target.origin, agent, xfwd: false, ws: true });
      proxy.on('open', markUp);
      proxy.on('econnreset', () => undefined);
      proxy.on('proxyReqWs', (proxyReq, req, socket) => {
        const log = (status: number) =>
          logger.request?.({ time: new Date(), method: req.method ?? 'GET', path: logPath(req.url), status, durationMs: 0, ws: true, scheme: stateOf(req)?.listener.proto ?? 'https' });
        proxyReq.once('upgrade', (_res, appSocket: Duplex) => {
          switched.add(socket);
          appSockets.add(appSocket);
          appSocket.once('close', () => appSockets.delete(appSocket));
          log(101);
        });
        proxyReq.once('response', (res) => log(res.statusCode ?? 0));
      });
      proxy.on('error', failed);
      return proxy;
    }));

  return {
    web(req, res, listener) {
      const clientClose = /\bclose\b/i.test(String(req.headers.connection ?? '')) || (req.httpVersion === '1.0' && !/\bkeep-alive\b/i.test(String(req.headers.connection ?? '')));
      (req as ProxiedRequest)[STATE] = { listener, clientClose, reusedSocket: false, retried: false };
      setForwardedHeaders(req.headers, { proto: listener.proto, port: listener.port, clientAddress: req.socket.remoteAddress });
      if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) collectWhileStreaming(req, req.headers['content-length']);
      forward(req, res);
    },
    ws(req, socket, head, listener) {
      (req as ProxiedRequest)[STATE] = { listener, clientClose: false, reusedSocket: false, retried: false };
      socket.on('error', () => socket.destroy());
      upgradeSockets.add(socket);
      socket.on('close', () => upgradeSockets.delete(socket));
      setForwardedHeaders(req.headers, { proto: listener.proto, port: listener.port, clientAddress: req.socket.remoteAddress });
      loadWsProxy().then(
        (proxy) => {
          if (!socket.destroyed) proxy.ws(req, socket, head);
        },
        (err: Error) => failed(err, req, socket),
      );
    },
    close() {
      for (const socket of upgradeSockets) socket.destroy();
      for (const socket of appSockets) socket.destroy();
      agent.destroy();
    },
  };
}

/** The request target as the app expects it: origin-form (`/path?query`), or `*`. */
function originForm(url: string | undefined): string {
  if (!url) return '/';
  if (url.startsWith('/') || url === '*') return url;
  // absolute-form (`GET http://host/path`), which only proxies are sent
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch {
    return `/${url}`;
  }
}

/** A web response (HTTP/1 or the HTTP/2 compatibility one), as opposed to an upgrade's socket. */
function isResponse(res: unknown): res is http.ServerResponse {
  return typeof (res as http.ServerResponse).writeHead === 'function';
}

function isRetryable(req: http.IncomingMessage, code: string | undefined): boolean {
  // HTTP/2 bodies need no Content-Length: only a declared empty one, or GET/HEAD, counts as none.
  const declaredEmpty = req.httpVersionMajor >= 2 ? req.headers['content-length'] === '0' || req.method === 'GET' || req.method === 'HEAD' : true;
  const noBody = declaredEmpty && !req.headers['transfer-encoding'] && (req.headers['content-length'] ?? '0') === '0';
  return ['GET', 'HEAD', 'OPTIONS', 'DELETE', 'PUT'].includes(req.method ?? '') && noBody && (code === 'ECONNRESET' || code === 'EPIPE');
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** `localhost` names resolve to both loopback addresses (RFC 6761); other names as usual. */
function lookupLoopbackAware(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  if (!isLocalhostName(hostname)) {
    (dns.lookup as (h: string, o: dns.LookupOptions, cb: LookupCallback) => void)(hostname, options, callback);
    return;
  }
  const all: dns.LookupAddress[] = LOOPBACK_ADDRESSES.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })).filter(
    (a) => !options.family || a.family === options.family,
  );
  if (options.all) callback(null, all);
  else callback(null, all[0]!.address, all[0]!.family);
}
