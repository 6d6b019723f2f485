// How a request's body reaches the app: its framing decided by dev-https, never by a client
// header, and bodies of unknown length read ahead so they can go with a Content-Length.
import http from 'node:http';
import { closeConnection } from '../pages/pages.js';

/**
 * How a request's body reaches the app: none, a declared Content-Length streamed as it is, or a
 * body of unknown length (HTTP/1.1 chunked, HTTP/2 DATA frames without content-length) that is
 * read up to BUFFER_LIMIT and sent with a Content-Length, or chunked past that.
 */
export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'unknown' };

/** What is held of a request's body (see RequestState). */
export interface HeldBody {
  framing: Framing;
  body: Buffer | null;
  readAhead: Buffer[] | null;
}

/**
 * Bodies of unknown length up to this size reach the app with a Content-Length, as nginx sends
 * them: Python's development servers (runserver, http.server) ignore chunked request bodies and
 * would read the chunks as the next request on the pooled connection.
 */
export const BUFFER_LIMIT = 64 * 1024;

/** Methods whose empty body is sent without a Content-Length (others get `Content-Length: 0`). */
export const BODYLESS_METHODS = new Set(['GET', 'HEAD']);

/**
 * The framing of a request as it arrived, or the reason it cannot be passed on. Node's HTTP/1
 * parser already refused what it cannot frame (both Content-Length and Transfer-Encoding, a bad
 * length, a transfer coding that does not end in chunked).
 */
export function requestFraming(req: http.IncomingMessage): Framing | { kind: 'refuse'; status: number; reason: string } {
  const length = req.headers['content-length'];
  if (req.httpVersionMajor >= 2) {
    if (length !== undefined)
      return /^\d{1,15}$/.test(length)
        ? { kind: 'length', length: Number(length) }
        : { kind: 'refuse', status: 400, reason: `invalid content-length "${length}"` };
    // END_STREAM on the HEADERS frame: no body at all. Otherwise DATA frames of unknown length follow.
    return (req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders ? { kind: 'none' } : { kind: 'unknown' };
  }
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined) {
    // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing (nginx answers 400).
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0)
      return { kind: 'refuse', status: 400, reason: 'Transfer-Encoding in an HTTP/1.0 request' };
    // nginx answers 501 to any transfer coding but chunked: gzip and friends on a request body are
    // not something an app behind a proxy can be relied on to decode.
    if (coding.trim().toLowerCase() !== 'chunked')
      return { kind: 'refuse', status: 501, reason: `unsupported Transfer-Encoding "${coding}"` };
    return { kind: 'unknown' };
  }
  if (length !== undefined) return { kind: 'length', length: Number(length) };
  return { kind: 'none' };
}

/** A body of unknown length not read yet: readBody comes before it is forwarded. */
export function mustReadFirst(held: HeldBody): boolean {
  return held.framing.kind === 'unknown' && held.body === null && held.readAhead === null;
}

/** Reads a body of unknown length up to BUFFER_LIMIT into `held`, then calls `then` (to forward it with a Content-Length or, past that, chunked). */
export function readBody(req: http.IncomingMessage, held: HeldBody, then: () => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    if (size <= BUFFER_LIMIT) return;
    // Too large to hold: chunked from here on, what was read first.
    req.off('data', onData).off('end', onEnd).pause();
    held.readAhead = chunks;
    then();
  };
  const onEnd = () => {
    req.off('data', onData);
    held.body = Buffer.concat(chunks, size);
    then();
  };
  req.on('data', onData).once('end', onEnd);
}

/** Headers whose framing dev-https sets itself; Expect was answered by dev-https' own server (100 Continue). */
const REFRAMED = new Set(['content-length', 'transfer-encoding', 'expect']);

/**
 * The request's headers as the app gets them, with the framing dev-https chose, as a flat
 * `[name, value, ...]` list in the order they came (the framing header last). Node's ClientRequest
 * writes such a list as it is: an object went through setHeader one header at a time, which cost
 * a quarter of the client's CPU per request (README "Performance").
 */
export function upstreamHeaders(req: http.IncomingMessage, held: HeldBody, appOrigin: string): string[] {
  const list: string[] = [];
  const headers = req.headers;
  for (const name in headers) {
    const value = headers[name];
    // HTTP/2 pseudo-headers are the request line; the guard copied :authority to Host.
    if (value === undefined || REFRAMED.has(name) || name.charCodeAt(0) === 58 /* : */) continue;
    // A header repeated as a list (Set-Cookie) goes as one line each, as setHeader wrote it.
    if (typeof value === 'string') list.push(name, value);
    else for (const each of value) list.push(name, each);
  }
  const { framing, body } = held;
  if (framing.kind === 'length') list.push('content-length', String(framing.length));
  else if (body !== null && body.length > 0) list.push('content-length', String(body.length));
  // Some servers wait for the body of a DELETE or OPTIONS that declares none.
  else if (framing.kind === 'none' || body !== null) {
    if (!BODYLESS_METHODS.has(req.method ?? 'GET')) list.push('content-length', '0');
  } else list.push('transfer-encoding', 'chunked');
  // An HTTP/1.0 request may come without a Host; an HTTP/1.1 one to the app may not (RFC 9112
  // 3.2). It gets the app's own host and port, last, as Node's client writes it when given none.
  if (headers.host === undefined) list.push('host', new URL(appOrigin).host);
  return list;
}

/** Sends the body: the one held, none, or what was read ahead and then the rest as it comes. */
export function sendBody(req: http.IncomingMessage, upstream: http.ClientRequest, held: HeldBody): void {
  if (held.body !== null) upstream.end(held.body);
  else if (held.framing.kind === 'none') upstream.end();
  else {
    for (const chunk of held.readAhead ?? []) upstream.write(chunk);
    req.pipe(upstream);
  }
}

/**
 * An answer before the whole body went out: the app did not read it all, and its connection may
 * hold the rest. It is closed once the answer is in, never pooled, and the client's remaining
 * body is read and dropped (as nginx does), so its connection stays usable.
 */
export function dropUnsentBody(req: http.IncomingMessage, upstream: http.ClientRequest, proxyRes: http.IncomingMessage): void {
  upstream.shouldKeepAlive = false;
  proxyRes.once('end', () => {
    req.unpipe(upstream);
    upstream.destroy();
    req.resume();
  });
}

/** A request whose body dev-https holds whole (or that has none) can be sent again. */
export function isRetryable(req: http.IncomingMessage, held: HeldBody, code: string | undefined): boolean {
  const whole = held.framing.kind === 'none' || held.body !== null;
  return ['GET', 'HEAD', 'OPTIONS', 'DELETE', 'PUT'].includes(req.method ?? '') && whole && (code === 'ECONNRESET' || code === 'EPIPE');
}

/** 400 or 501 for a body dev-https cannot pass on safely; nothing reaches the app. */
export function sendUnframeable(req: http.IncomingMessage, res: http.ServerResponse, status: number, reason: string): void {
  const body = `${status} ${http.STATUS_CODES[status]}: dev-https cannot pass this request on: ${reason}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...closeConnection(req),
  });
  res.end(body);
  // Node reads what is left of an HTTP/1 body before the next request on the connection; a
  // connection that asked to close ends here.
}
