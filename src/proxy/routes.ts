// One origin, several apps: each request goes to the app of its host route, else of the longest
// path prefix it falls under, else to the default target. Each route is a whole proxy of its own
// (pool, Location rewriting, 502 page, WebSockets, the stall watch), as a load balancer's backends.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import type { ResolvedRoute, ResolvedTarget } from '../options.js';
import { createProxy, type EntryListener, type Proxy, type ProxyOptions } from './proxy.js';
import { hostnameOfHost } from '../net.js';
import { setRoute } from './request-state.js';
import { absoluteFormPath } from './request-target.js';

/** The route a request takes: the first host route for its Host, else the longest prefix of its path. */
export function pickRoute(routes: readonly ResolvedRoute[], host: string | undefined, url: string | undefined): ResolvedRoute | null {
  // The guard has found the Host valid already; a trailing dot names the same host.
  const hostname = (host === undefined ? null : hostnameOfHost(host)) ?? '';
  const raw = url ?? '/';
  const path = (raw.startsWith('/') ? raw : (absoluteFormPath(raw) ?? '/')).replace(/[?#].*$/, '');
  for (const route of routes) {
    if (route.kind === 'host' ? hostname === route.match : path === route.match || path.startsWith(`${route.match}/`)) return route;
  }
  return null;
}

/** The default target's proxy, and one per route, behind one Proxy. */
export function createRoutedProxy(target: ResolvedTarget, routes: readonly ResolvedRoute[], logger: Logger, options: ProxyOptions): Proxy {
  const fallback = createProxy(target, logger, options);
  if (routes.length === 0) return fallback;
  const proxies = new Map(routes.map((route) => [route, createProxy(route.target, logger, options)]));
  const pick = (req: http.IncomingMessage): Proxy => {
    const route = pickRoute(routes, req.headers.host, req.url);
    if (!route) return fallback;
    setRoute(req, route.match);
    return proxies.get(route)!;
  };
  return {
    web: (req: http.IncomingMessage, res: http.ServerResponse, listener: EntryListener) => pick(req).web(req, res, listener),
    ws: (req: http.IncomingMessage, socket: Duplex, head: Buffer, listener: EntryListener) => pick(req).ws(req, socket, head, listener),
    close() {
      fallback.close();
      for (const proxy of proxies.values()) proxy.close();
    },
  };
}
