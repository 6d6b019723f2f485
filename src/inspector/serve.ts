// The inspector page at https://dev-https.localhost:<port>/, served by dev-https itself: the name
// is reserved (never proxied), the page is served over HTTPS only, to its own origin only, with a
// strict Content-Security-Policy and no CORS. Reading a request's detail, revealing a secret and
// running a check need the page's per-process token, which only a same-origin script can read.
import crypto from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { rawReply } from '../pages/raw-reply.js';
import { hostnameOfHost, parseHost, unmappedAddress } from '../net.js';
import { isLoopbackName } from '../options.js';
import { markInternal, type EntryListener } from '../proxy/request-state.js';
import { INSPECTOR_CSS, INSPECTOR_JS, inspectorHtml } from './page.js';
import type { Recorder } from './record.js';

/** The name the inspector is served on; requests for it never reach an app. */
export const INSPECTOR_HOST = 'dev-https.localhost';

/** What the "Run dev-https check" button does: the report of `dev-https check --path <path>`. */
export type CheckRunner = (path: string) => Promise<{ text: string; ok: boolean; score: number }>;

export interface InspectorServer {
  /** Whether a request is for the inspector's name. */
  claims(req: http.IncomingMessage): boolean;
  web(req: http.IncomingMessage, res: http.ServerResponse, listener: EntryListener): void;
  /** WebSocket upgrades to the inspector's name are refused. */
  upgrade(req: http.IncomingMessage, socket: Duplex): void;
  /** Ends the open event streams. */
  close(): void;
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

const MAX_JSON_BYTES = 8 * 1024;
/**
 * A page that does not read what it was sent is cut off once this much waits for it (it
 * reconnects, and gets the recent requests again): a stream never holds more.
 */
const MAX_STREAM_BACKLOG = 2 * 1024 * 1024;
/** Inspector pages open at once. */
const MAX_STREAMS = 8;
const HEARTBEAT_MS = 15_000;

export function createInspectorServer(recorder: Recorder | null, check: CheckRunner): InspectorServer {
  const token = crypto.randomBytes(32).toString('base64url');
  const api = createApi(token, check);
  const streams = createEventStreams(token);
  // Every request asks, nearly always with the Host of the one before: the last answer is kept.
  let lastHost: string | undefined;
  let lastClaim = false;
  return {
    claims(req) {
      if (req.headers.host !== lastHost || lastHost === undefined) {
        lastHost = req.headers.host;
        lastClaim = hostnameOf(req) === INSPECTOR_HOST;
      }
      return lastClaim;
    },
    web(req, res, listener) {
      markInternal(req);
      const refusal = refusalOf(req, listener);
      if (refusal) return sendText(res, 403, `403 Forbidden: ${refusal}\n`);
      // `dev-https.localhost.` is another origin to a browser: one origin only, the canonical one.
      if (/\.(:\d+)?$/.test(req.headers.host ?? '')) return redirectToCanonical(req, res, listener);
      if (!recorder) return sendText(res, 404, '404 Not Found: the dev-https inspector is off (--no-inspect)\n');
      const path = (req.url ?? '/').replace(/\?.*$/, '');
      if (path.startsWith('/api/')) return api(req, res, recorder, path);
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, '405 Method Not Allowed\n');
      if (path === '/') {
        recorder.seen();
        return send(res, 200, 'text/html; charset=utf-8', inspectorHtml(token));
      }
      if (path === '/inspector.js') return send(res, 200, 'text/javascript; charset=utf-8', INSPECTOR_JS);
      if (path === '/inspector.css') return send(res, 200, 'text/css; charset=utf-8', INSPECTOR_CSS);
      if (path === '/events') return streams.open(req, res, recorder);
      sendText(res, 404, '404 Not Found\n');
    },
    upgrade(req, socket) {
      markInternal(req);
      socket.end(rawReply(403, '403 Forbidden: the dev-https inspector takes no WebSocket connections\n'));
    },
    close: () => streams.close(),
  };
}

const BAD_TOKEN = '403 Forbidden: the inspector token is missing or wrong; reload the page\n';

/** The page's JSON endpoints: a request's detail, revealing one of its values, running a check. */
function createApi(token: string, check: CheckRunner) {
  let checking = false;
  const runCheck = (res: http.ServerResponse, body: Record<string, unknown>) => {
    const target = typeof body.path === 'string' ? body.path : '/';
    if (!/^\/[\x21-\x7e]{0,2047}$/.test(target)) return sendJson(res, 400, { error: 'expected a path starting with /' });
    if (checking) return sendJson(res, 409, { error: 'a check is running already' });
    checking = true;
    check(target)
      .then(
        (report) => sendJson(res, 200, report),
        (err: unknown) => sendJson(res, 200, { error: err instanceof Error ? err.message : String(err) }),
      )
      .finally(() => (checking = false));
  };
  return (req: http.IncomingMessage, res: http.ServerResponse, recorder: Recorder, path: string): void => {
    if (!hasToken(req, token)) return sendText(res, 403, BAD_TOKEN);
    const detail = /^\/api\/requests\/(\d{1,15})$/.exec(path);
    if (detail && req.method === 'GET') {
      const found = recorder.detail(Number(detail[1]));
      return found ? sendJson(res, 200, found) : sendJson(res, 404, { error: 'that request has left the list of recent ones' });
    }
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
    if (path === '/api/reveal') {
      return readJson(req, res, (body) => {
        const value = typeof body.id === 'number' && typeof body.secret === 'string' ? recorder.reveal(body.id, body.secret) : null;
        if (value === null) sendJson(res, 404, { error: 'no such value (the request may have left the list)' });
        else sendJson(res, 200, { value });
      });
    }
    if (path === '/api/check') return readJson(req, res, (body) => runCheck(res, body));
    sendJson(res, 404, { error: 'no such endpoint' });
  };
}

/** The open pages' event streams: one subscription for all of them, each batch serialized once. */
function createEventStreams(token: string) {
  const instance = crypto.randomBytes(9).toString('base64url');
  const streams = new Set<http.ServerResponse>();
  let unsubscribe: (() => void) | null = null;
  const broadcast = (batch: unknown[]) => {
    if (batch.length === 0) return;
    const chunk = requestsEvent(batch);
    for (const res of streams) write(res, chunk);
  };
  return {
    open(req: http.IncomingMessage, res: http.ServerResponse, recorder: Recorder): void {
      // EventSource sends no headers of its own: the token comes in the query (never logged).
      if (!sameToken(new URLSearchParams((req.url ?? '').split('?')[1] ?? '').get('token') ?? '', token))
        return sendText(res, 403, BAD_TOKEN);
      if (streams.size >= MAX_STREAMS) return sendText(res, 429, `429 Too Many Requests: at most ${MAX_STREAMS} inspector pages at once\n`);
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8' });
      streams.add(res);
      const recent = recorder.recent();
      const first = recent.length ? requestsEvent(recent) : '';
      write(res, `retry: 2000\n\nevent: hello\ndata: ${JSON.stringify({ instance })}\n\n${first}`);
      unsubscribe ??= recorder.subscribe(broadcast);
      const heartbeat = setInterval(() => write(res, ': still here\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      res.once('close', () => {
        clearInterval(heartbeat);
        streams.delete(res);
        if (streams.size === 0) {
          unsubscribe?.();
          unsubscribe = null;
        }
      });
    },
    close(): void {
      for (const res of streams) res.destroy();
    },
  };
}

/** An `event: requests` of the stream (see InspectorEvent). */
const requestsEvent = (batch: unknown[]): string => `event: requests\ndata: ${JSON.stringify(batch)}\n\n`;

/** Writes to an event stream, or ends it when its reader has fallen this far behind. */
function write(res: http.ServerResponse, chunk: string): void {
  if (res.writableLength + Buffer.byteLength(chunk) > MAX_STREAM_BACKLOG) res.destroy();
  else res.write(chunk);
}

function redirectToCanonical(req: http.IncomingMessage, res: http.ServerResponse, listener: EntryListener): void {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return sendText(res, 403, '403 Forbidden: the dev-https inspector answers its own page only\n');
  const port = listener.httpsPort === 443 ? '' : `:${listener.httpsPort}`;
  const url = (req.url ?? '/').startsWith('/') ? req.url! : '/';
  res.writeHead(307, { ...SECURITY_HEADERS, location: `https://${INSPECTOR_HOST}${port}${url}`, 'content-length': 0 });
  res.end();
}

function hostnameOf(req: http.IncomingMessage): string | null {
  const host = req.headers.host;
  return host === undefined ? null : hostnameOfHost(host);
}

/**
 * Why a request may not see the inspector, or null. Over HTTPS only; for the listener's own
 * origin only (a Host with another port is someone else's); data only to its own scripts: an
 * Origin or Sec-Fetch-Site from elsewhere is refused. A navigation (a link, the typed URL) may
 * come from anywhere: the page alone shows nothing.
 */
function refusalOf(req: http.IncomingMessage, listener: EntryListener): string | null {
  const origin = `https://${INSPECTOR_HOST}:${listener.httpsPort}`;
  // With --host 0.0.0.0 others on the network reach the listener, and every wall below only
  // stops browsers: the inspector shows your own requests, cookies included, to this machine only.
  if (!isLoopbackName(unmappedAddress(req.socket?.remoteAddress) ?? '')) return 'the dev-https inspector answers this machine only';
  if (listener.proto !== 'https') return `the dev-https inspector is served over HTTPS only: ${origin}/`;
  const port = parseHost(req.headers.host ?? '')?.port ?? 443;
  if (port !== listener.port) return `the dev-https inspector of this dev-https is ${origin}/`;
  const from = req.headers.origin;
  if (from !== undefined && from.toLowerCase() !== origin && !(listener.port === 443 && from.toLowerCase() === `https://${INSPECTOR_HOST}`))
    return 'the dev-https inspector answers its own page only';
  const site = req.headers['sec-fetch-site'];
  const navigation = req.method === 'GET' && (req.url === '/' || req.url === '') && req.headers['sec-fetch-mode'] === 'navigate';
  if (site !== undefined && site !== 'same-origin' && site !== 'none' && !navigation)
    return 'the dev-https inspector answers its own page only';
  if (req.method === 'POST' && from === undefined) return 'the dev-https inspector answers its own page only';
  return null;
}

function hasToken(req: http.IncomingMessage, token: string): boolean {
  const given = req.headers['x-dev-https-token'];
  return typeof given === 'string' && sameToken(given, token);
}

/** Compared in constant time. */
function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function readJson(req: http.IncomingMessage, res: http.ServerResponse, then: (body: Record<string, unknown>) => void): void {
  if (!/^application\/json\b/i.test(String(req.headers['content-type'] ?? ''))) {
    sendJson(res, 415, { error: 'expected application/json' });
    req.resume();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_JSON_BYTES) chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_JSON_BYTES) return sendJson(res, 413, { error: 'too large' });
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return sendJson(res, 400, { error: 'not JSON' });
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return sendJson(res, 400, { error: 'expected an object' });
    then(body as Record<string, unknown>);
  });
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

const sendText = (res: http.ServerResponse, status: number, text: string) => send(res, status, 'text/plain; charset=utf-8', text);
const sendJson = (res: http.ServerResponse, status: number, value: unknown) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
