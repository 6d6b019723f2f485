// Pages dev-https itself answers with (never the app's): the 502 page when the app is
// unreachable, the redirect-loop page.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RedirectLoop } from '../proxy/diagnose.js';
import { displayUrl } from '../logger.js';
import { fixesFor } from '../stacks.js';
import { escapeHtml } from './html.js';

/** `Connection: close` for HTTP/1 clients; HTTP/2 forbids connection headers (its streams end alone). */
export function closeConnection(req: IncomingMessage): { connection?: string } {
  return req.httpVersionMajor >= 2 ? {} : { connection: 'close' };
}

export const UNREACHABLE_HEADER = 'x-dev-https-unreachable';

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'nothing is listening there (connection refused)',
  ECONNRESET: 'the app closed the connection before answering',
  EPIPE: 'the app closed the connection before answering',
  ENOTFOUND: 'that host name does not resolve',
  EAI_AGAIN: 'that host name does not resolve',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'that host is unreachable',
  ENETUNREACH: 'that network is unreachable',
  EADDRNOTAVAIL: 'that address is not available',
};

export function describeUpstreamError(code: string | undefined): string {
  return (code && REASONS[code]) || `the connection failed (${code ?? 'unknown error'})`;
}

/** Whether the client is a browser that would rather see a page than text. */
export function wantsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/.test(String(req.headers.accept ?? ''));
}

/**
 * 502 Bad Gateway naming the target (and the route that took the request, `/api`) and what to
 * check; HTML for browsers, text otherwise.
 */
export function sendBadGateway(req: IncomingMessage, res: ServerResponse, target: string, code: string | undefined, route?: string): void {
  const reason = describeUpstreamError(code);
  const flag = route === undefined ? '--target' : `--route ${route}=`;
  const hint = `Is the app running and listening on ${target}? Start it, or point ${flag} at the port it uses. This page will work again as soon as it answers; dev-https needs no restart.`;
  const app = route === undefined ? 'the app' : `the app of the route ${route}`;
  let body: string;
  let type: string;
  if (wantsHtml(req)) {
    type = 'text/html; charset=utf-8';
    body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>502 Bad Gateway: app not reachable</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}code{background:#eee;padding:.1em .3em;border-radius:3px}</style></head>
<body><h1>502 Bad Gateway</h1>
<p>dev-https could not reach ${escapeHtml(app)} at <code>${escapeHtml(target)}</code>: ${escapeHtml(reason)}.</p>
<p>${escapeHtml(hint)}</p>
</body></html>
`;
  } else {
    type = 'text/plain; charset=utf-8';
    body = `502 Bad Gateway: dev-https could not reach ${app} at ${target}: ${reason}.\n${hint}\n`;
  }
  // The marker tells dev-https' own clients (`dev-https check`) this 502 is ours, not the app's.
  res.writeHead(502, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    [UNREACHABLE_HEADER]: '1',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** 502 for an answer the app gave that Node cannot send on to this client (plain text). */
export function sendUnpassableResponse(req: IncomingMessage, res: ServerResponse, reason: string): void {
  const body = `502 Bad Gateway: the app answered, but dev-https cannot pass its answer on to this client: ${reason}.\n`;
  res.writeHead(502, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Shown to a browser instead of ERR_TOO_MANY_REDIRECTS: what the loop is and how to fix it.
 * 508 Loop Detected, never cached: the page is gone as soon as the app is fixed.
 */
export function sendRedirectLoopPage(req: IncomingMessage, res: ServerResponse, loop: RedirectLoop): void {
  const fixes = fixesFor(loop.stack)
    .map(
      (f) =>
        `<tr><th>${escapeHtml(f.name)}${f.stack === loop.stack ? ' <em>(detected)</em>' : ''}</th><td><code>${escapeHtml(f.fix)}</code></td></tr>`,
    )
    .join('\n');
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Redirect loop: the app does not trust X-Forwarded-Proto</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:3rem auto;padding:0 1rem;color:#222}code{background:#eee;padding:.1em .3em;border-radius:3px}th,td{text-align:left;vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid #ddd}</style></head>
<body><h1>Redirect loop</h1>
<p>dev-https stopped a redirect loop: ${escapeHtml(loop.urls.map(displayUrl).join(' → '))}.</p>
<p>The app does not believe this request came over HTTPS, so it keeps redirecting to HTTPS. dev-https terminates TLS and tells the app with the header <code>X-Forwarded-Proto: https</code>, which the app does not trust yet. Tell it to (only ever behind a proxy that sets the header itself, as dev-https does):</p>
<table>${fixes}</table>
<p>Then <a href="${escapeHtml(loop.urls[0]!)}">try again</a>. Clients other than browsers get the app's own redirect.</p>
</body></html>
`;
  res.writeHead(508, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * 403 for a Host dev-https does not serve (DNS rebinding protection). It repeats only what the
 * client sent (the host name) and the flags that allow it.
 */
export function sendForbiddenHost(req: IncomingMessage, res: ServerResponse, hostname: string): void {
  const text = `403 Forbidden: dev-https does not serve the host name "${hostname}". If you use it, restart dev-https with --allow-host ${hostname} (or --name ${hostname} to put it in the certificate too).`;
  const html = wantsHtml(req);
  const body = html
    ? `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>403 Forbidden: unknown host</title></head>\n<body><h1>403 Forbidden</h1><p>${escapeHtml(text.slice('403 Forbidden: '.length))}</p></body></html>\n`
    : `${text}\n`;
  res.writeHead(403, {
    'content-type': html ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...closeConnection(req),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
