// The built-in demo app, served when no --target is given: a page showing what an app behind
// dev-https receives (scheme, Host, forwarded headers, cookies), also as JSON at /json.
import http from 'node:http';
import { parseCookieHeader } from '../cookies.js';
import { escapeHtml } from './html.js';

export const DEMO_COOKIE = 'dev_https_demo';

export interface DemoReport {
  method: string;
  url: string;
  /** The scheme the app should believe, from X-Forwarded-Proto. */
  scheme: string;
  host: string | null;
  forwarded: Record<string, string>;
  cookies: Record<string, string>;
  headers: Record<string, string>;
}

export function createDemoApp(): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/set-cookie') {
      // A session-like cookie as production settings make it: only ever sent back over HTTPS.
      res.writeHead(303, {
        location: '/',
        'set-cookie': `${DEMO_COOKIE}=${Date.now()}; Path=/; Secure; HttpOnly; SameSite=Lax`,
        'content-length': 0,
      });
      res.end();
      return;
    }
    const report = describeRequest(req);
    if (path === '/json') {
      send(res, 200, 'application/json', JSON.stringify(report, null, 2) + '\n');
    } else if (path === '/') {
      send(res, 200, 'text/html; charset=utf-8', renderPage(report));
    } else {
      send(res, 404, 'text/plain; charset=utf-8', 'Not found: the demo app has / and /json\n');
    }
  });
}

export function describeRequest(req: http.IncomingMessage): DemoReport {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
  const forwarded = Object.fromEntries(Object.entries(headers).filter(([name]) => name === 'forwarded' || name.startsWith('x-forwarded-')));
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    scheme: headers['x-forwarded-proto'] ?? 'http',
    host: headers.host ?? null,
    forwarded,
    cookies: parseCookieHeader(headers.cookie),
    headers,
  };
}

function renderPage(r: DemoReport): string {
  const rows = (entries: Record<string, string>, empty: string) =>
    Object.keys(entries).length
      ? Object.entries(entries)
          .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td><code>${escapeHtml(v)}</code></td></tr>`)
          .join('\n')
      : `<tr><td colspan="2"><em>${escapeHtml(empty)}</em></td></tr>`;
  const secure = r.scheme === 'https';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>dev-https demo app</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
h1{margin-bottom:.2rem}.scheme{font-size:1.4rem;padding:.6rem 1rem;border-radius:6px;background:${secure ? '#e3f6e8' : '#fdf0d8'}}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{text-align:left;vertical-align:top;padding:.3rem .5rem;border-bottom:1px solid #ddd}
th{width:14rem;font-weight:600}code{word-break:break-all}.note{color:#555}
</style></head>
<body>
<h1>dev-https demo app</h1>
<p class="note">No <code>--target</code> was given, so dev-https serves this page. It shows what your app will receive behind dev-https. Run <code>dev-https --target 8000</code> to put your own app here.</p>
<p class="scheme">The app sees this request as <strong id="scheme">${escapeHtml(r.scheme)}</strong>${secure ? ' (X-Forwarded-Proto: https)' : ' (plain HTTP)'}, Host <code id="host">${escapeHtml(r.host ?? '(none)')}</code></p>
<h2>Forwarded headers (set by dev-https, never taken from the client)</h2>
<table id="forwarded">${rows(r.forwarded, 'none')}</table>
<h2>Cookies</h2>
<table id="cookies">${rows(r.cookies, 'no cookies sent')}</table>
<p><a href="/set-cookie">Set a Secure, HttpOnly cookie</a> (a browser only sends it back over HTTPS) · <a href="/json">this request as JSON</a></p>
<h2>All request headers</h2>
<table id="headers">${rows(r.headers, 'none')}</table>
<p class="note">${escapeHtml(r.method)} ${escapeHtml(r.url)}</p>
</body></html>
`;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
