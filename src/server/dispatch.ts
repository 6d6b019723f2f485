// How connections reach the servers that never listen themselves ("fed servers"): the HTTPS
// port's first-byte dispatch between TLS and plain HTTP, Node's connection tracking started by
// hand, last answers to bad requests, and requests and upgrades handed to the guard.
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { rawReply } from '../pages/raw-reply.js';
import type { Guard, UpgradeHandler, WebHandler } from './guard.js';

// TLS records start with this byte (handshake); anything else on the HTTPS port is plain HTTP.
const TLS_HANDSHAKE = 0x16;

/**
 * Hands a new connection to the TLS server or, when its first byte is not a TLS handshake, to
 * the plain-HTTP server that redirects to https://. A connection that sends nothing is closed.
 */
export function dispatchByFirstByte(socket: net.Socket, tlsServer: net.Server, plainServer: net.Server, timeoutMs: number): void {
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
 * Readies a server that never listens itself (connections are handed to it). It still needs
 * Node's connection tracking, which starts on 'listening': it enforces headersTimeout and lets
 * closeAllConnections() find every socket.
 */
export function prepareFedServer<S extends http.Server>(server: S): S {
  server.requestTimeout = 0; // uploads and downloads take as long as they take
  server.on('error', () => undefined);
  answerClientErrors(server);
  server.emit('listening');
  return server;
}

/**
 * Node's own answer to a bad request (write, then destroy at once) is lost inside TLS on a
 * handed-over socket: end() flushes it, so the client gets its 400, 408 or 431.
 */
function answerClientErrors(server: http.Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Node's parser sees the rest of what the client sends while the answer lingers: answered once.
    if (lingering.has(socket)) return;
    if (err.code === 'ECONNRESET' || !socket.writable || (socket as { _httpMessage?: http.ServerResponse })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    endLingering(socket, rawReply(status));
  });
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

/** Requests and WebSocket upgrades of `server` go through the guard to these handlers. */
export function serve(
  server: http.Server,
  guard: Guard,
  scheme: 'http' | 'https',
  web: WebHandler,
  upgrade: UpgradeHandler,
  refuseWith400 = false,
): void {
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
    socket.end(rawReply(400));
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
export function refuseUpgrade(_req: http.IncomingMessage, socket: Duplex): void {
  socket.end(rawReply(400, 'This listener redirects to HTTPS: connect with wss:// to the HTTPS port.\n'));
}
