// What the proxy keeps about a request while it is proxied, and the listener that took it.
import type http from 'node:http';
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
