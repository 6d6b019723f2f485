// The HTTP listener's --redirect-http mode: every request goes to the same path over HTTPS.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostnameOf, isLoopbackName } from './options.js';
import { escapeHtml } from './pages.js';

/**
 * Where `req` lands on the HTTPS listener: same host name (from the Host header), the HTTPS
 * port, same path and query.
 */
export function httpsLocation(req: IncomingMessage, httpsPort: number, fallbackHost: string): string {
  const name = req.headers.host ? hostnameOf(req.headers.host) : null;
  const hostname = name ? (name.includes(':') ? `[${name}]` : name) : fallbackHost;
  const raw = req.url ?? '/';
  // Absolute-form request targets (`GET http://host/path`) keep only their path and query.
  const pathAndQuery = raw.startsWith('/') ? raw : safeUrl(raw) ?? '/';
  return `https://${hostname}${httpsPort === 443 ? '' : `:${httpsPort}`}${pathAndQuery}`;
}

/**
 * 307 keeps the method and body (a POST stays a POST) and, unlike 301, is not cached by the
 * browser: a run without --redirect-http later is not haunted by it.
 */
export function redirectToHttps(req: IncomingMessage, res: ServerResponse, httpsPort: number, fallbackHost: string): void {
  const location = httpsLocation(req, httpsPort, fallbackHost);
  const body = `<!doctype html><title>Redirecting</title><p>Redirecting to <a href="${escapeHtml(location)}">${escapeHtml(location)}</a></p>\n`;
  res.writeHead(307, {
    location,
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function safeUrl(raw: string): string | undefined {
  try {
    const url = new URL(raw);
    return url.pathname + url.search;
  } catch {
    return undefined;
  }
}

export interface LocationContext {
  /** Scheme of the listener that carried the request. */
  proto: 'http' | 'https';
  /** The request's Host header (the public host and port the client used). */
  host: string | undefined;
  /** Port of the listener that carried the request. */
  listenerPort: number;
  httpsPort: number;
  /** The app's own address. */
  target: { hostname: string; port: number };
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** 301, 302, 303, 307 and 308: the statuses whose Location a client follows. */
export function isRedirectStatus(status: number): boolean {
  return REDIRECTS.has(status);
}

/**
 * The Location a client should follow for an app's redirect:
 * - to the app's own address (http://127.0.0.1:8000/x): the same path on the listener that
 *   carried the request;
 * - on the HTTP listener, to https://<host>:<http-port>/x (Django's SECURE_SSL_REDIRECT, Rails'
 *   force_ssl build it from the Host header): the same path on the HTTPS port.
 * Relative locations and other hosts are left alone.
 */
export function rewriteLocation(status: number, location: string, ctx: LocationContext): string {
  if (!isRedirectStatus(status) || !/^https?:\/\//i.test(location)) return location;
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location;
  }
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  // The path is kept byte for byte (URL would re-encode it).
  const afterAuthority = location.slice(location.indexOf('//') + 2);
  const cut = afterAuthority.search(/[/?#]/);
  const tail = cut < 0 ? '' : afterAuthority.slice(cut);
  const pathAndQuery = tail.startsWith('/') ? tail : `/${tail}`;
  const isApp = url.protocol === 'http:' && port === ctx.target.port && (hostname === ctx.target.hostname.toLowerCase() || isLoopbackName(hostname));
  if (isApp && ctx.host) return `${ctx.proto}://${ctx.host}${pathAndQuery}`;
  const requestHostname = ctx.host ? hostnameOf(ctx.host) : undefined;
  if (ctx.proto === 'http' && url.protocol === 'https:' && port === ctx.listenerPort && (hostname === requestHostname || isLoopbackName(hostname))) {
    url.port = ctx.httpsPort === 443 ? '' : String(ctx.httpsPort);
    return `https://${url.host}${pathAndQuery}`;
  }
  return location;
}
