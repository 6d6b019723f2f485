// The HTTP listener's --redirect-http mode: every request goes to the same path over HTTPS.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { escapeHtml } from './pages.js';

/**
 * Where `req` lands on the HTTPS listener: same host name (from the Host header), the HTTPS
 * port, same path and query.
 */
export function httpsLocation(req: IncomingMessage, httpsPort: number, fallbackHost: string): string {
  const hostname = hostnameOf(req.headers.host) ?? fallbackHost;
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

function hostnameOf(host: string | undefined): string | undefined {
  if (!host) return undefined;
  try {
    const { hostname } = new URL(`http://${host}`);
    return hostname || undefined;
  } catch {
    return undefined;
  }
}

function safeUrl(raw: string): string | undefined {
  try {
    const url = new URL(raw);
    return url.pathname + url.search;
  } catch {
    return undefined;
  }
}
