// Reads the app's responses for the traps of production security settings on localhost: the
// HTTPS redirect loop, HSTS that would pin every localhost app to HTTPS, and cookies that
// browsers drop over plain HTTP. Each is explained once in the terminal.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { cookiesSet } from '../cookies.js';
import { displayUrl, type Logger } from '../logger.js';
import { hostnameOf, isLoopbackName } from '../options.js';
import { isRedirectStatus } from './redirect.js';
import { detectStack, fixesFor, type Stack } from '../stacks.js';

export interface Exchange {
  req: IncomingMessage;
  proto: 'http' | 'https';
  statusCode: number;
  /** The response headers, after Location rewriting; HSTS may be removed from them. */
  headers: IncomingHttpHeaders;
}

export interface RedirectLoop {
  /** The URLs of the loop, the first one repeated at the end. */
  urls: string[];
  stack: Stack | null;
}

export interface Diagnostics {
  /** Inspects (and may strip HSTS from) one response; returns the loop it closes, if any. */
  inspect(exchange: Exchange): RedirectLoop | null;
}

// Browsers give up after about 20 redirects; a loop shows long before. Old edges are forgotten.
const LOOP_WINDOW_MS = 10_000;
const MAX_EDGES_PER_CLIENT = 32;

export function createDiagnostics(logger: Logger, keepHsts: boolean): Diagnostics {
  const warned = new Set<string>();
  const once = (key: string, message: () => string) => {
    if (warned.has(key)) return;
    warned.add(key);
    logger.warn(message());
  };
  const edges: Edges = new Map();

  return {
    inspect({ req, proto, statusCode, headers }) {
      // This runs for every response: nothing is parsed unless a header asks for it.
      const host = req.headers.host ?? '';
      if (headers['strict-transport-security'] !== undefined && !keepHsts) stripSharedHsts(headers, host, once);
      if (proto === 'http' && headers['set-cookie'] !== undefined) warnAboutCookies(headers, host, once);

      // Only GETs: a browser follows a loop with GETs, while POST → redirect → GET → redirect back
      // to the form is an ordinary login flow.
      if (proto !== 'https' || (req.method !== 'GET' && req.method !== 'HEAD')) return null;
      const client = req.socket.remoteAddress ?? '';
      const location = headers.location;
      const redirect = isRedirectStatus(statusCode) && typeof location === 'string';
      const list = edges.get(client);
      if (!redirect && !list?.length) return null;
      let here: string;
      try {
        here = new URL(`https://${host}${req.url ?? '/'}`).href;
        if (!redirect) {
          // The page was served: the client's earlier redirects away from it were no loop.
          const now = Date.now();
          const kept = list!.filter((e) => e.from !== here && now - e.at < LOOP_WINDOW_MS);
          if (kept.length) edges.set(client, kept);
          else edges.delete(client);
          return null;
        }
        const urls = findLoop(edges, client, here, new URL(location!, here).href);
        if (!urls) return null;
        const loop = { urls, stack: detectStack(headers) };
        once('loop', () => describeLoop(loop));
        return loop;
      } catch {
        return null;
      }
    },
  };
}

export function describeLoop(loop: RedirectLoop): string {
  const urls = loop.urls.map(displayUrl);
  const what =
    urls.length === 2 ? `the app answered ${urls[0]} with a redirect to that same URL` : `the app keeps redirecting: ${urls.join(' → ')}`;
  const fixes = fixesFor(loop.stack)
    .map((f) => `    ${f.name}${f.stack === loop.stack ? ' (detected)' : ''}: ${f.fix}`)
    .join('\n');
  return `redirect loop: ${what}. It does not believe the request came over HTTPS, because it does not trust the X-Forwarded-Proto: https header that dev-https sets. Tell it to trust dev-https (only ever set this behind a proxy that sets the header itself, as dev-https does):\n${fixes}`;
}

/** The redirects each client followed lately. */
type Edges = Map<string, Array<{ from: string; to: string; at: number }>>;

/** Notes the redirect `from` → `to`; the URLs of the loop it closes, if any. */
function findLoop(edges: Edges, client: string, from: string, to: string): string[] | null {
  if (from === to) return [from, to];
  const now = Date.now();
  const recent = (edges.get(client) ?? []).filter((e) => now - e.at < LOOP_WINDOW_MS);
  recent.push({ from, to, at: now });
  edges.set(client, recent.slice(-MAX_EDGES_PER_CLIENT));
  // Follow the client's recent redirects from `to`: reaching `from` again closes a loop.
  const next = new Map(recent.map((e) => [e.from, e.to]));
  const path = [from, to];
  for (let url = to; next.has(url) && path.length <= MAX_EDGES_PER_CLIENT;) {
    url = next.get(url)!;
    path.push(url);
    if (url === from) return path;
  }
  return null;
}

/** HSTS on a name browsers share across every local app is removed (see isSharedDevName). */
function stripSharedHsts(headers: IncomingHttpHeaders, host: string, once: (key: string, message: () => string) => void): void {
  const hostname = hostnameOf(host);
  if (!hostname || !isSharedDevName(hostname)) return;
  delete headers['strict-transport-security'];
  once(
    'hsts',
    () =>
      `removed the app's Strict-Transport-Security header for ${hostname}: browsers apply HSTS to a host name on every port, so it would force HTTPS on every other app you open on ${hostname}. Pass --keep-hsts to test it anyway.`,
  );
}

function warnAboutCookies(headers: IncomingHttpHeaders, host: string, once: (key: string, message: () => string) => void): void {
  // Only the name is ever logged: cookie values are secrets.
  for (const { name, secure } of cookiesSet(headers)) {
    if (/^__(Host|Secure)-/.test(name)) {
      once(
        `prefix:${name}`,
        () =>
          `the app set the cookie ${name} over plain HTTP (http://${host}): browsers reject __Host- and __Secure- cookies that do not come over HTTPS. Use the HTTPS URL.`,
      );
    } else if (secure) {
      once(
        'secure-over-http',
        () =>
          `the app set the Secure cookie ${name} over plain HTTP (http://${host}): Chrome and Firefox accept that from localhost, other browsers drop it (no session, CSRF failures). Use the HTTPS URL.`,
      );
    }
  }
}

/** Names browsers share HSTS across: loopback, *.localhost and *.test development names. */
function isSharedDevName(hostname: string): boolean {
  return isLoopbackName(hostname) || hostname === 'test' || hostname.endsWith('.test');
}
