// What the proxy keeps about a request while it is proxied, and the listener that took it.
import type http from 'node:http';
import type { RedirectLoop } from './diagnose.js';
import type { Framing } from './framing.js';

/** The dev-https listener that took a request. */
export interface EntryListener {
  proto: 'http' | 'https';
  port: number;
  /** The HTTPS listener's port, where redirects to HTTPS must land. */
  httpsPort: number;
}

export interface RequestState {
  listener: EntryListener;
  clientClose: boolean;
  framing: Framing;
  /** The whole body, once read (bodies of unknown length up to BUFFER_LIMIT): a retry resends it. */
  body: Buffer | null;
  /** What was read of a body too large to hold, sent ahead of the rest. */
  readAhead: Buffer[] | null;
  /** Whether the last upstream request went out on a reused pooled socket. */
  reusedSocket: boolean;
  retried: boolean;
  /** The app's origin. The fields below are what the inspector shows, references the proxy has anyway. */
  target: string;
  /** The request head as written to the app (`_header` of the last attempt), once sent. */
  appHead: string | null;
  appStatus: number | null;
  appStatusMessage: string;
  /** The app's response headers as it sent them (the passes rewrite `headers`, never these). */
  appRawHeaders: string[] | null;
  /** The app's body size, counted when it gave no Content-Length. */
  appBodyBytes: number | null;
  /** True once the app's head went on to the client (false: dev-https answered instead). */
  relayed: boolean;
  loop: RedirectLoop | null;
}

/** A new request's state: what the proxy knows when the request arrives. */
export function newState(listener: EntryListener, clientClose: boolean, framing: Framing, target: string): RequestState {
  return {
    listener,
    clientClose,
    framing,
    body: null,
    readAhead: null,
    reusedSocket: false,
    retried: false,
    target,
    appHead: null,
    appStatus: null,
    appStatusMessage: '',
    appRawHeaders: null,
    appBodyBytes: null,
    relayed: false,
    loop: null,
  };
}

// Kept on the request itself: a WeakMap keyed by requests made the garbage collector work on every
// proxied request (README "Performance" has the measurement).
const STATE = Symbol('dev-https.state');
type ProxiedRequest = http.IncomingMessage & { [STATE]?: RequestState };

export const stateOf = (req: http.IncomingMessage): RequestState | undefined => (req as ProxiedRequest)[STATE];

const ROUTE = Symbol('dev-https.route');
type RoutedRequest = http.IncomingMessage & { [ROUTE]?: string };

/** The route a request was sent to (`/api`, `admin.localhost`), for its request line; undefined: the default target. */
export const routeOf = (req: http.IncomingMessage): string | undefined => (req as RoutedRequest)[ROUTE];

export function setRoute(req: http.IncomingMessage, route: string): void {
  (req as RoutedRequest)[ROUTE] = route;
}

export function setState(req: http.IncomingMessage, state: RequestState): void {
  (req as ProxiedRequest)[STATE] = state;
}

const INTERNAL = Symbol('dev-https.internal');
type InternalRequest = http.IncomingMessage & { [INTERNAL]?: true };

/** Marks a request dev-https serves itself (the inspector's): not logged, not recorded. */
export function markInternal(req: http.IncomingMessage): void {
  (req as InternalRequest)[INTERNAL] = true;
}

export const isInternal = (req: http.IncomingMessage): boolean => (req as InternalRequest)[INTERNAL] === true;
