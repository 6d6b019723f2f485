// The inspector's memory: a ring of the last requests, each kept as the references the proxy had
// anyway (the client's raw headers, the head sent to the app, the app's raw headers, the head sent
// to the client), so recording costs an object per request. What the page shows is built from
// them only when someone looks (detail.ts).
import type http from 'node:http';
import type { RedirectLoop } from '../proxy/diagnose.js';
import { stateOf, routeOf } from '../proxy/request-state.js';
import { protocolOf } from '../logger.js';
import { buildDetail, summaryOf } from './detail.js';
import type { InspectedDetail, InspectedRequest } from './types.js';

/** One request as recorded. */
export interface Recorded {
  id: number;
  /** When it arrived (ms since the epoch). */
  time: number;
  durationMs: number;
  method: string;
  url: string;
  protocol: InspectedRequest['protocol'];
  /** The client's header names and values, as sent (HTTP/2 pseudo-headers included). */
  rawHeaders: string[];
  listener: 'http' | 'https';
  client: string;
  route: string | null;
  ws: boolean;
  /** The status the client got; 0: nothing was sent. */
  status: number;
  /** HTTP/1: the head as written to the client; HTTP/2: the headers sent on the stream. */
  clientHead: string | http.OutgoingHttpHeaders | null;
  /** The app's part, when the request went to the app. */
  app: {
    target: string;
    /** The request head exactly as sent to the app, null when it was not sent. */
    head: string | null;
    status: number | null;
    statusMessage: string;
    rawHeaders: string[] | null;
    /** Its body's size when counted (no Content-Length). */
    bodyBytes: number | null;
    relayed: boolean;
    loop: RedirectLoop | null;
  } | null;
  /** The request body held by dev-https (its size), when it was read whole. */
  requestBodyBytes: number | null;
  redirectFrom: number | null;
  /** Built on first use. */
  summary?: InspectedRequest;
}

export interface RecorderOptions {
  /** @default 500 */
  size?: number;
  /**
   * Kept until someone looks (the page is served, recent() or subscribe() is called): a ring of
   * 500 entries outlives a young generation of V8's heap, so while nobody looks fewer are kept.
   * @default 100
   */
  sizeUnseen?: number;
  /** A subscriber threw. */
  onSubscriberError?: (err: unknown) => void;
  /** How often subscribers get the new requests, in ms. @default 100 */
  batchMs?: number;
}

export type Subscriber = (batch: InspectedRequest[]) => void;

export interface Recorder {
  /** Notes a request whose response has closed. */
  record(req: http.IncomingMessage, res: http.ServerResponse, startedAt: number, listener: 'http' | 'https'): void;
  /** Notes a WebSocket upgrade the app answered (101, or its refusal), passed on to the client as it was. */
  recordUpgrade(req: http.IncomingMessage, status: number): void;
  /** The requests in the ring, oldest first. */
  recent(): InspectedRequest[];
  /** One request in full, secrets masked; null once it left the ring. */
  detail(id: number): InspectedDetail | null;
  /** A masked value of a request (a `secret` of its detail), null when there is none. */
  reveal(id: number, secret: string): string | null;
  /** New requests in batches; returns the unsubscribe function. */
  subscribe(subscriber: Subscriber): () => void;
  /** Someone looks (the page was served): keep the whole ring from now on. */
  seen(): void;
  close(): void;
}

const REDIRECT_WINDOW_MS = 10_000;
const MAX_PENDING_REDIRECTS = 64;

export function createRecorder(options: RecorderOptions = {}): Recorder {
  const fullSize = options.size ?? 500;
  let size = Math.min(options.sizeUnseen ?? 100, fullSize);
  const batchMs = options.batchMs ?? 100;
  let ring: Array<Recorded | undefined> = new Array(size);
  // Someone looks: from now on the whole ring is kept (what was kept so far moves in).
  const seen = () => {
    if (size === fullSize) return;
    const kept = ring;
    size = fullSize;
    ring = new Array(size);
    for (const entry of kept) if (entry) ring[entry.id % size] = entry;
  };
  let nextId = 1;
  const subscribers = new Set<Subscriber>();
  let pending: Recorded[] = [];
  let timer: NodeJS.Timeout | null = null;
  const redirects = createRedirectMemory();

  const flush = () => {
    timer = null;
    const batch = pending.slice(-size).map(summaryOf);
    pending = [];
    for (const subscriber of subscribers) {
      // A tool's subscriber that throws must not stop dev-https, nor the others' batches.
      try {
        subscriber(batch);
      } catch (err) {
        options.onSubscriberError?.(err);
      }
    }
  };
  const add = (entry: Recorded) => {
    ring[entry.id % size] = entry;
    if (subscribers.size === 0) return;
    pending.push(entry);
    timer ??= setTimeout(flush, batchMs);
  };
  const get = (id: number): Recorded | null => {
    const entry = ring[id % size];
    return entry && entry.id === id ? entry : null;
  };

  return {
    record(req, res, startedAt, listener) {
      const entry = recordOf(req, res, startedAt, listener, nextId++);
      entry.redirectFrom = redirects.cameFrom(entry);
      redirects.note(entry);
      add(entry);
    },
    recordUpgrade(req, status) {
      add(upgradeOf(req, status, nextId++));
    },
    recent() {
      seen();
      const entries: Recorded[] = [];
      for (let id = Math.max(1, nextId - size); id < nextId; id++) {
        const entry = get(id);
        if (entry) entries.push(entry);
      }
      return entries.map(summaryOf);
    },
    detail(id) {
      const entry = get(id);
      return entry ? buildDetail(entry).detail : null;
    },
    reveal(id, secret) {
      const entry = get(id);
      return entry ? (buildDetail(entry).secrets.get(secret) ?? null) : null;
    },
    seen,
    subscribe(subscriber) {
      seen();
      subscribers.add(subscriber);
      return () => subscribers.delete(subscriber);
    },
    close() {
      if (timer) clearTimeout(timer);
      timer = null;
      subscribers.clear();
    },
  };
}

/** The references a finished request leaves, taken without copying. */
function recordOf(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  startedAt: number,
  listener: 'http' | 'https',
  id: number,
): Recorded {
  const durationMs = performance.now() - startedAt;
  const state = stateOf(req);
  const stream = (res as unknown as { stream?: { sentHeaders?: http.OutgoingHttpHeaders } }).stream;
  const head = (res as unknown as { _header?: string | null })._header;
  const sent = req.httpVersionMajor >= 2 ? (stream?.sentHeaders ?? null) : (head ?? null);
  return {
    id,
    time: Date.now() - durationMs,
    durationMs,
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    protocol: protocolOf(req),
    rawHeaders: req.rawHeaders,
    listener,
    client: req.socket?.remoteAddress ?? '',
    route: routeOf(req) ?? null,
    ws: false,
    status: sent === null ? 0 : res.statusCode,
    clientHead: sent,
    app: state
      ? {
          target: state.target,
          head: state.appHead,
          status: state.appStatus,
          statusMessage: state.appStatusMessage,
          rawHeaders: state.appRawHeaders,
          bodyBytes: state.appBodyBytes,
          relayed: state.relayed,
          loop: state.loop,
        }
      : null,
    requestBodyBytes: state?.body?.length ?? null,
    redirectFrom: null,
  };
}

/** An upgrade: the app's answer went to the client as it was (http-proxy-3 writes the app's head). */
function upgradeOf(req: http.IncomingMessage, status: number, id: number): Recorded {
  const state = stateOf(req)!;
  const raw = state.appRawHeaders ?? [];
  let head = `HTTP/1.1 ${status} ${state.appStatusMessage}\r\n`;
  for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return {
    id,
    time: Date.now(),
    durationMs: 0,
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    protocol: protocolOf(req),
    rawHeaders: req.rawHeaders,
    listener: state.listener.proto,
    client: req.socket?.remoteAddress ?? '',
    route: routeOf(req) ?? null,
    ws: true,
    status,
    clientHead: `${head}\r\n`,
    app: {
      target: state.target,
      head: state.appHead,
      status,
      statusMessage: state.appStatusMessage,
      rawHeaders: state.appRawHeaders,
      bodyBytes: null,
      relayed: true,
      loop: null,
    },
    requestBodyBytes: null,
    redirectFrom: null,
  };
}

/**
 * Redirects the clients got lately, by the URL they point to: the request that follows one from
 * the same client is grouped under it. Only 3xx answers are parsed; a request is one Map lookup.
 */
function createRedirectMemory() {
  const waiting = new Map<string, { id: number; at: number }>();
  const keyOf = (client: string, url: string) => `${client} ${url}`;
  return {
    cameFrom(entry: Recorded): number | null {
      if (waiting.size === 0) return null;
      const host = hostOf(entry.rawHeaders);
      if (host === null) return null;
      const key = keyOf(entry.client, `${entry.listener}://${host.toLowerCase()}${entry.url}`);
      const from = waiting.get(key);
      if (!from) return null;
      waiting.delete(key);
      return entry.time - from.at < REDIRECT_WINDOW_MS ? from.id : null;
    },
    note(entry: Recorded): void {
      if (entry.status < 300 || entry.status > 399) return;
      const location = locationOf(entry.clientHead);
      const host = hostOf(entry.rawHeaders);
      if (location === null || host === null) return;
      let to: URL;
      try {
        to = new URL(location, `${entry.listener}://${host}${entry.url}`);
      } catch {
        return;
      }
      if (waiting.size >= MAX_PENDING_REDIRECTS) waiting.delete(waiting.keys().next().value!);
      waiting.set(keyOf(entry.client, `${to.protocol.slice(0, -1)}://${to.host}${to.pathname}${to.search}`), {
        id: entry.id,
        at: entry.time + entry.durationMs,
      });
    },
  };
}

/** The Host (HTTP/2: :authority) the client sent. */
export function hostOf(rawHeaders: string[]): string | null {
  let authority: string | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (name === 'host') return rawHeaders[i + 1]!;
    if (name === ':authority') authority = rawHeaders[i + 1]!;
  }
  return authority;
}

/** The Location the client got. */
function locationOf(head: Recorded['clientHead']): string | null {
  if (head === null) return null;
  if (typeof head !== 'string') {
    const value = head.location;
    return typeof value === 'string' ? value : null;
  }
  const match = /\r\nlocation:[ \t]*([^\r\n]*)/i.exec(head);
  return match ? match[1]!.trim() : null;
}
