// The HTTP listener's --redirect-http mode: every request goes to the same path over HTTPS.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostnameOf, isLoopbackName } from '../options.js';
import { escapeHtml } from '../pages/html.js';
import { absoluteFormPath } from './request-target.js';

/**
 * Where `req` lands on the HTTPS listener: same host name (from the Host header), the HTTPS
 * port, same path and query.
 */
export function httpsLocation(req: IncomingMessage, httpsPort: number, fallbackHost: string): string {
  const name = req.headers.host ? hostnameOf(req.headers.host) : null;
  const hostname = name ? (name.includes(':') ? `[${name}]` : name) : fallbackHost;
  const raw = req.url ?? '/';
  // Absolute-form request targets (`GET http://host/path`) keep only their path and query.
  const pathAndQuery = raw.startsWith('/') ? raw : (absoluteFormPath(raw) ?? '/');
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
 * The Location a client should follow:
 * - to the app's own address, under either scheme (http://127.0.0.1:8000/x; Next.js builds
 *   https://localhost:3000/x from X-Forwarded-Proto and its own port): the same path on the
 *   listener that carried the request, whatever the status (a 201 points at the created resource);
 * - for a redirect on the HTTP listener, to https://<host>:<http-port>/x (Django's
 *   SECURE_SSL_REDIRECT, Rails' force_ssl build it from the Host header): the same path on the
 *   HTTPS port.
 * Relative locations and other hosts are left alone; paths and queries are kept byte for byte.
 */
export function rewriteLocation(status: number, location: string, ctx: LocationContext): string {
  const url = absoluteUrl(location);
  if (!url) return location;
  if (isAppAuthority(url, ctx) && ctx.host) return `${ctx.proto}://${ctx.host}${url.pathAndQuery}`;
  if (!isRedirectStatus(status)) return location;
  const requestHostname = ctx.host ? hostnameOf(ctx.host) : undefined;
  if (
    ctx.proto === 'http' &&
    url.scheme === 'https' &&
    url.port === ctx.listenerPort &&
    (url.hostname === requestHostname || isLoopbackName(url.hostname))
  ) {
    const port = ctx.httpsPort === 443 ? '' : `:${ctx.httpsPort}`;
    return `https://${url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname}${port}${url.pathAndQuery}`;
  }
  return location;
}

/** A URL to the app's own address (Content-Location), rewritten to the listener's; others unchanged. */
export function rewriteAppUrl(value: string, ctx: LocationContext): string {
  const url = absoluteUrl(value);
  return url && ctx.host && isAppAuthority(url, ctx) ? `${ctx.proto}://${ctx.host}${url.pathAndQuery}` : value;
}

/** `Refresh: 0; url=http://localhost:8000/x`: its URL as rewriteAppUrl rewrites it. */
export function rewriteRefresh(value: string, ctx: LocationContext): string {
  const match = /^(\s*\d+(?:\.\d*)?\s*[;,]\s*url\s*=\s*)(['"]?)(.*?)\2(\s*)$/i.exec(value);
  if (!match) return value;
  const [, lead, quote, target, trail] = match;
  return `${lead}${quote}${rewriteAppUrl(target!, ctx)}${quote}${trail}`;
}

interface AbsoluteUrl {
  scheme: 'http' | 'https';
  hostname: string;
  port: number;
  /** From the first `/`, `?` or `#` on, byte for byte (URL would re-encode it). */
  pathAndQuery: string;
}

function absoluteUrl(value: string): AbsoluteUrl | null {
  if (!/^https?:\/\//i.test(value)) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const afterAuthority = value.slice(value.indexOf('//') + 2);
  const cut = afterAuthority.search(/[/?#]/);
  const tail = cut < 0 ? '' : afterAuthority.slice(cut);
  return {
    scheme,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase(),
    port: Number(url.port || (scheme === 'https' ? 443 : 80)),
    pathAndQuery: tail.startsWith('/') ? tail : `/${tail}`,
  };
}

function isAppAuthority(url: AbsoluteUrl, ctx: LocationContext): boolean {
  return url.port === ctx.target.port && (url.hostname === ctx.target.hostname.toLowerCase() || isLoopbackName(url.hostname));
}
