// Forwards requests to the app over a keep-alive pool, and WebSocket upgrades through http-proxy-3,
// and answers 502 while the app is unreachable.
import dns from 'node:dns';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyServer } from 'http-proxy-3';
import { errnoCode } from '../errors.js';
import { HOP_BY_HOP, setForwardedHeaders } from './forwarded.js';
import { logPath, protocolOf, type Logger } from '../logger.js';
import { isLocalhostName, LOOPBACK_ADDRESSES, type ResolvedTarget } from '../options.js';
import { createDiagnostics } from './diagnose.js';
import { closeConnection, describeUpstreamError, sendBadGateway, sendRedirectLoopPage, sendUnpassableResponse, wantsHtml } from '../pages/pages.js';
import { rewriteAppUrl, rewriteLocation, rewriteRefresh } from './redirect.js';
import { collectWhileStreaming } from '../cli/memory.js';

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
  framing: Framing;
  /** The whole body, once read (bodies of unknown length up to BUFFER_LIMIT): a retry resends it. */
  body: Buffer | null;
  /** What was read of a body too large to hold, sent ahead of the rest. */
  readAhead: Buffer[] | null;
  /** Whether the last upstream request went out on a reused pooled socket. */
  reusedSocket: boolean;
  retried: boolean;
}

/**
 * How a request's body reaches the app, decided by dev-https and never by a client header:
 * none, a declared Content-Length streamed as it is, or a body of unknown length (HTTP/1.1
 * chunked, HTTP/2 DATA frames without content-length) that is read up to BUFFER_LIMIT and sent
 * with a Content-Length, or chunked past that.
 */
type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'unknown' };

/**
 * Bodies of unknown length up to this size reach the app with a Content-Length, as nginx sends
 * them: Python's development servers (runserver, http.server) ignore chunked request bodies and
 * would read the chunks as the next request on the pooled connection.
 */
const BUFFER_LIMIT = 64 * 1024;

// Kept on the request itself: a WeakMap keyed by requests costs the garbage collector about
// 25 µs per proxied request (measured in bench/, 15% of all CPU).
const STATE = Symbol('dev-https.state');
type ProxiedRequest = http.IncomingMessage & { [STATE]?: RequestState };
const stateOf = (req: http.IncomingMessage): RequestState | undefined => (req as ProxiedRequest)[STATE];

/** Idle pooled sockets are closed before common app servers' own keep-alive timeouts (Node: 5 s). */
const POOL_IDLE_MS = 4000;

/**
 * A reused connection whose response head arrives in pieces this far apart is held by the app's
 * Nagle algorithm waiting for our delayed ACK (Python's development servers send the status line
 * and the headers separately, CPython #108736).
 */
const STALL_MS = 30;
/** Stalls seen before dev-https stops reusing connections to the app. */
const STALLS_TO_SWITCH = 2;

export interface ProxyOptions {
  /** Pass the app's Strict-Transport-Security through on localhost names. */
  keepHsts: boolean;
}

/**
 * The framing of a request as it arrived, or the reason it cannot be passed on. Node's HTTP/1
 * parser already refused what it cannot frame (both Content-Length and Transfer-Encoding, a bad
 * length, a transfer coding that does not end in chunked).
 */
export function requestFraming(req: http.IncomingMessage): Framing | { kind: 'refuse'; status: number; reason: string } {
  const length = req.headers['content-length'];
  if (req.httpVersionMajor >= 2) {
    if (length !== undefined) return /^\d{1,15}$/.test(length) ? { kind: 'length', length: Number(length) } : { kind: 'refuse', status: 400, reason: `invalid content-length "${length}"` };
    // END_STREAM on the HEADERS frame: no body at all. Otherwise DATA frames of unknown length follow.
    return (req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders ? { kind: 'none' } : { kind: 'unknown' };
  }
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined) {
    // nginx answers 501 to any transfer coding but chunked: gzip and friends on a request body are
    // not something an app behind a proxy can be relied on to decode.
    if (coding.trim().toLowerCase() !== 'chunked') return { kind: 'refuse', status: 501, reason: `unsupported Transfer-Encoding "${coding}"` };
    return { kind: 'unknown' };
  }
  if (length !== undefined) return { kind: 'length', length: Number(length) };
  return { kind: 'none' };
}

/** Methods whose empty body is sent without a Content-Length (others get `Content-Length: 0`). */
const BODYLESS_METHODS = new Set(['GET', 'HEAD']);

export function createProxy(target: ResolvedTarget, logger: Logger, options: ProxyOptions): Proxy {
  // Each address gets 2 s, not Node's 250 ms: under a burst of hundreds of connections, a loopback
  // connect can wait for the 1 s SYN retransmit, and giving up on it made the page's request a 502.
  const connection = { autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 2000, lookup: lookupLoopbackAware, noDelay: true };
  const agent = new http.Agent({
    keepAlive: true,
    timeout: POOL_IDLE_MS,
    scheduling: 'lifo',
    // Try every address of the target (happy eyeballs) so `localhost` reaches an app that
    // listens on 127.0.0.1 only as well as one on ::1 only, whatever /etc/hosts says.
    ...connection,
  } as http.AgentOptions);
  // A connection per request: for apps that stall on reused connections, and for WebSocket
  // upgrades, whose connection is never the pool's (an upgrade the app answers as a plain request
  // leaves it in a state nobody knows).
  const freshAgent = new http.Agent({ keepAlive: false, ...connection } as http.AgentOptions);
  let stalls = 0;
  // Probing stops after this many reused connections without a stall: the app is not one of them.
  let probesLeft = 200;
  let agentFor = (): http.Agent => agent;
  const noteStall = () => {
    if (++stalls !== STALLS_TO_SWITCH) return;
    agentFor = () => freshAgent;
    agent.destroy();
    logger.info(
      `The app at ${target.origin} sends its response head in pieces and waits about 40 ms for TCP acknowledgements on reused connections (Python's development servers do): dev-https now opens a new connection for each request to it, which it answers at once`,
    );
  };
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
    // passed on, and announcing them makes Node refuse a head that is not chunked. The app's
    // hop-by-hop headers describe its connection to us, not ours to the client.
    const listed = String(headers.connection ?? '').toLowerCase().split(',').map((t) => t.trim());
    for (const name of listed) if (name && name !== 'content-length') delete headers[name];
    for (const name of HOP_BY_HOP) delete headers[name];
    // HTTP/2 has no connection-specific headers at all (Node throws on them).
    if (req.httpVersionMajor < 2) headers.connection = context.clientClose ? 'close' : 'keep-alive';
    else delete headers['http2-settings'];
    if (headers.location || headers['content-location'] || headers.refresh) {
      const where = { proto: context.listener.proto, host: req.headers.host, listenerPort: context.listener.port, httpsPort: context.listener.httpsPort, target };
      if (headers.location) headers.location = rewriteLocation(proxyRes.statusCode ?? 0, headers.location, where);
      if (headers['content-location']) headers['content-location'] = rewriteAppUrl(headers['content-location'], where);
      if (typeof headers.refresh === 'string') headers.refresh = rewriteRefresh(headers.refresh, where);
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
    const { framing } = state;
    if (framing.kind === 'unknown' && state.body === null && state.readAhead === null) {
      readBody(req, res, state);
      return;
    }
    const headers: http.OutgoingHttpHeaders = { ...req.headers };
    // The framing is ours to set; Expect was answered by dev-https' own server (100 Continue).
    delete headers['content-length'];
    delete headers['transfer-encoding'];
    delete headers.expect;
    const body = state.body;
    if (framing.kind === 'length') headers['content-length'] = framing.length;
    else if (body !== null && body.length > 0) headers['content-length'] = body.length;
    // Some servers wait for the body of a DELETE or OPTIONS that declares none.
    else if (framing.kind === 'none' || body !== null) {
      if (!BODYLESS_METHODS.has(req.method ?? 'GET')) headers['content-length'] = 0;
    } else headers['transfer-encoding'] = 'chunked';
    if (req.httpVersionMajor > 1) for (const name of Object.keys(headers)) if (name.startsWith(':')) delete headers[name];
    const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: originForm(req.url), headers, agent: agentFor() });
    // Set by the response: once the app has answered, what goes wrong later is no one's business.
    let answered = false;
    let stallProbe: (() => void) | null = null;
    upstream.on('socket', (socket) => {
      state.reusedSocket = upstream.reusedSocket;
      if (upstream.reusedSocket && stalls < STALLS_TO_SWITCH && (stalls > 0 || probesLeft-- > 0)) stallProbe = probeStall(socket, noteStall);
    });
    // A client gone before the response ended cancels the app's request. An HTTP/2 stream the
    // client resets leaves its response looking finished: only 'aborted' tells.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    if (req.httpVersionMajor >= 2) req.once('aborted', () => upstream.destroy());
    const onError = (err: Error) => {
      if (answered) return;
      if (req.socket.destroyed && errnoCode(err) === 'ECONNRESET') upstream.destroy();
      else failed(err, req, res);
    };
    // Once per client request: a retry must not answer its errors twice.
    if (!state.retried) req.on('error', onError);
    upstream.on('error', onError);
    if (body !== null) upstream.end(body);
    else if (framing.kind === 'none') upstream.end();
    else {
      for (const chunk of state.readAhead ?? []) upstream.write(chunk);
      req.pipe(upstream);
    }
    upstream.on('response', (proxyRes) => {
      answered = true;
      if (stallProbe) {
        stallProbe();
        probeBodyStall(proxyRes, noteStall);
      }
      // An answer before the whole body went out: the app did not read it all, and its
      // connection may hold the rest. It is closed once the answer is in, never pooled, and the
      // client's remaining body is read and dropped (as nginx does), so its connection stays usable.
      if (!upstream.writableFinished) {
        upstream.shouldKeepAlive = false;
        proxyRes.once('end', () => {
          req.unpipe(upstream);
          upstream.destroy();
          req.resume();
        });
      }
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
  /** Reads a body of unknown length up to BUFFER_LIMIT, then forwards it with a Content-Length or, past that, chunked. */
  const readBody = (req: http.IncomingMessage, res: http.ServerResponse, state: RequestState): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size <= BUFFER_LIMIT) return;
      // Too large to hold: chunked from here on, what was read first.
      req.off('data', onData).off('end', onEnd).pause();
      state.readAhead = chunks;
      forward(req, res);
    };
    const onEnd = () => {
      req.off('data', onData);
      state.body = Buffer.concat(chunks, size);
      forward(req, res);
    };
    req.on('data', onData).once('end', onEnd);
  };
  const failed = (err: Error, req: http.IncomingMessage, res: http.ServerResponse | Duplex): void => {
    const code = errnoCode(err);
    // The app closed a pooled connection just as we reused it (its keep-alive timeout): nothing
    // reached it, so a request whose body dev-https holds (or has none) is sent once more on a
    // fresh connection.
    const state = stateOf(req);
    if (isResponse(res) && !res.headersSent && state && !state.retried && state.reusedSocket && isRetryable(req, state, code)) {
      state.retried = true;
      forward(req, res);
      return;
    }
    // Only a connection that could not be made says the app is down; one the app closed on this
    // request (a header it refused, a crash in its handler) says nothing about the next.
    const unreachable = code !== undefined && UNREACHABLE_CODES.has(code);
    if (isResponse(res)) {
      // Nothing was sent yet: the app did not answer. Otherwise the app broke mid-response.
      if (!res.headersSent) {
        if (unreachable) markDown(code);
        sendBadGateway(req, res, target.origin, code);
      } else {
        res.destroy();
      }
      return;
    }
    const socket = res as Duplex;
    if (!socket.destroyed && socket.writable && !switched.has(socket)) {
      if (unreachable) markDown(code);
      socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
    socket.destroy();
  };
  // WebSocket upgrades go through http-proxy-3, loaded on the first one: a start without any
  // does not pay its 28 ms.
  let wsProxy: Promise<ProxyServer> | null = null;
  const loadWsProxy = () =>
    (wsProxy ??= import('http-proxy-3').then(({ createProxyServer }) => {
      const proxy = createProxyServer({ target: target.origin, agent: freshAgent, xfwd: false, ws: true });
      proxy.on('open', markUp);
      proxy.on('econnreset', () => undefined);
      proxy.on('proxyReqWs', (proxyReq, req, socket) => {
        const log = (status: number) =>
          logger.request?.({ time: new Date(), method: req.method ?? 'GET', path: logPath(req.url), status, durationMs: 0, ws: true, scheme: stateOf(req)?.listener.proto ?? 'https', protocol: protocolOf(req) });
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
      const framing = requestFraming(req);
      if (framing.kind === 'refuse') {
        sendUnframeable(req, res, framing.status, framing.reason);
        return;
      }
      const clientClose = /\bclose\b/i.test(String(req.headers.connection ?? '')) || (req.httpVersion === '1.0' && !/\bkeep-alive\b/i.test(String(req.headers.connection ?? '')));
      (req as ProxiedRequest)[STATE] = { listener, clientClose, framing, body: null, readAhead: null, reusedSocket: false, retried: false };
      setForwardedHeaders(req.headers, { proto: listener.proto, port: listener.port, clientAddress: req.socket.remoteAddress });
      if (framing.kind !== 'none') collectWhileStreaming(req, framing.kind === 'length' ? String(framing.length) : undefined);
      forward(req, res);
    },
    ws(req, socket, head, listener) {
      socket.on('error', () => socket.destroy());
      // A WebSocket handshake has no body: one that claims one could be read by the app as a
      // plain request whose body is whatever comes next.
      if (requestFraming(req).kind !== 'none') {
        const body = '400 Bad Request: a WebSocket upgrade request cannot carry a body\n';
        socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        return;
      }
      (req as ProxiedRequest)[STATE] = { listener, clientClose: false, framing: { kind: 'none' }, body: null, readAhead: null, reusedSocket: false, retried: false };
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
      freshAgent.destroy();
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

/** A request whose body dev-https holds whole (or that has none) can be sent again. */
function isRetryable(req: http.IncomingMessage, state: RequestState, code: string | undefined): boolean {
  const held = state.framing.kind === 'none' || state.body !== null;
  return ['GET', 'HEAD', 'OPTIONS', 'DELETE', 'PUT'].includes(req.method ?? '') && held && (code === 'ECONNRESET' || code === 'EPIPE');
}

/** Errors that mean no connection to the app could be made at all. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * Watches a reused socket until the response head is parsed (call the returned function then):
 * a head parsed STALL_MS or more after its first bytes arrived came in pieces that far apart (a
 * head that comes whole is parsed in the same 'data' event, which Node's parser sees first).
 */
function probeStall(socket: Duplex, onStall: () => void): () => void {
  let first = 0;
  const onData = () => {
    if (first === 0) first = performance.now();
  };
  socket.on('data', onData);
  return () => {
    socket.off('data', onData);
    if (first > 0 && performance.now() - first >= STALL_MS) onStall();
  };
}

/**
 * The other shape of the same stall (`python -m http.server` sends the whole head, then the body
 * in a second send): a Content-Length body whose first bytes come STALL_MS or more after the head.
 * Bodies of unknown length (SSE, streamed pages) may well pause there; they are not looked at.
 */
function probeBodyStall(proxyRes: http.IncomingMessage, onStall: () => void): void {
  if (proxyRes.headers['content-length'] === undefined || proxyRes.headers['content-length'] === '0') return;
  const head = performance.now();
  // A body that came with the head is read on this same turn, before any timer.
  proxyRes.once('data', () => {
    if (performance.now() - head >= STALL_MS) onStall();
  });
}

/** 400 or 501 for a body dev-https cannot pass on safely; nothing reaches the app. */
function sendUnframeable(req: http.IncomingMessage, res: http.ServerResponse, status: number, reason: string): void {
  const body = `${status} ${http.STATUS_CODES[status]}: dev-https cannot pass this request on: ${reason}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...closeConnection(req) });
  res.end(body);
  // Node reads what is left of an HTTP/1 body before the next request on the connection; a
  // connection that asked to close ends here.
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
