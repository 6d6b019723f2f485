// `dev-https check`: the security audit of a running app, from the outside. It starts its own
// temporary dev-https on free ports, requests each path over HTTP and HTTPS, and rates what a
// production deployment must get right (redirect, no loop, HSTS, Secure cookies, headers).
import http from 'node:http';
import https from 'node:https';
import { cookiesSet } from '../cookies.js';
import { DevHttpsError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { UNREACHABLE_HEADER } from '../pages/pages.js';
import { isRedirectStatus } from '../proxy/redirect.js';
import { startDevHttps } from '../server/server.js';
import { detectStack, fixFor, fixesFor, LOGIN_PAGES, stackName, type Concern, type Stack } from '../stacks.js';

export interface CheckOptions {
  /** The app, as for dev-https --target. */
  target: string | number;
  /**
   * Paths to request (a login page is a good second).
   * @default ['/']
   */
  paths?: string[];
  /**
   * Routes to other apps, as for dev-https --route: a `--path` under one is rated on that app.
   * @default []
   */
  routes?: string[];
  /**
   * Where the certificate of the temporary listeners is cached.
   * @default './certs'
   */
  certDir?: string;
  /** @default process.cwd() */
  cwd?: string;
  /** @default a silent logger */
  logger?: Logger;
}

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'info';

export interface CheckItem {
  path: string;
  id:
    | 'redirect'
    | 'loop'
    | 'hsts'
    | 'cookies-secure'
    | 'cookies-httponly'
    | 'cookies-samesite'
    | 'nosniff'
    | 'clickjacking'
    | 'referrer-policy'
    | 'mixed-content'
    | 'version-headers'
    | 'page';
  title: string;
  status: CheckStatus;
  /** What was seen. */
  detail: string;
  /** How to fix it, for the detected stack when known; empty when it passes. */
  fix: string;
  /** A failing essential item makes the check fail (non-zero exit code). */
  essential: boolean;
}

export interface CheckReport {
  target: string;
  stack: Stack | null;
  items: CheckItem[];
  /** Percentage: pass counts 1, warn 0.5, fail 0; info items are not rated. */
  score: number;
  /** False when an essential item failed. */
  ok: boolean;
}

/** One answer as the rules see it (exported for their tests). */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  url: string;
}

const MAX_REDIRECTS = 10;
const REQUEST_TIMEOUT_MS = 30_000;
/** What production must get right: a failure of one of these fails the check. */
const ESSENTIAL = new Set<CheckItem['id']>(['redirect', 'loop', 'hsts', 'cookies-secure']);
const MAX_BODY = 2 * 1024 * 1024;
const ONE_YEAR = 31_536_000;

export async function runCheck(options: CheckOptions): Promise<CheckReport> {
  const paths = options.paths?.length ? options.paths : ['/'];
  for (const p of paths) {
    if (!p.startsWith('/'))
      throw new DevHttpsError('E_BAD_OPTION', `Invalid --path "${p}": expected a path starting with /, e.g. --path /login`);
  }
  // Free ports, never the defaults: it runs beside a dev-https already serving the app.
  const handle = await startDevHttps({
    target: options.target,
    ...(options.routes?.length ? { routes: options.routes } : {}),
    port: 0,
    httpPort: 0,
    certDir: options.certDir,
    cwd: options.cwd,
    keepHsts: true,
    inspect: false,
    logger: options.logger ?? silentLogger,
  });
  try {
    const ca = handle.certificate.ca?.cert ?? handle.certificate.cert;
    const httpsOrigin = handle.urls.https.slice(0, -1);
    const httpOrigin = handle.urls.http!.slice(0, -1);
    const items: CheckItem[] = [];
    let stack: Stack | null = null;
    for (const path of paths) {
      const overHttp = await get(httpOrigin + path, ca);
      const chain = await follow(httpsOrigin + path, ca);
      for (const reply of [overHttp, ...chain]) {
        if (reply.headers[UNREACHABLE_HEADER]) {
          throw new DevHttpsError(
            'E_BAD_TARGET',
            `Cannot check --target "${options.target}": the app at ${handle.target} is not answering; start it first`,
          );
        }
      }
      stack ??= detectStack(chain[0]!.headers) ?? detectStack(overHttp.headers);
      items.push(...ratePath(path, overHttp, chain, httpsOrigin, stack));
    }
    const rated = items.filter((i) => i.status !== 'info');
    const points = rated.reduce((sum, i) => sum + (i.status === 'pass' ? 1 : i.status === 'warn' ? 0.5 : 0), 0);
    return {
      target: handle.target,
      stack,
      items,
      score: rated.length ? Math.round((points / rated.length) * 100) : 100,
      ok: !items.some((i) => i.essential && i.status === 'fail'),
    };
  } finally {
    await handle.close();
  }
}

/** Adds one rated item for the path being rated; `fix` is dropped when it passes or is info. */
type Add = (id: CheckItem['id'], title: string, status: CheckStatus, detail: string, fix?: string) => void;
type FixOf = (what: Concern) => string;

/** Where the HTTPS requests of a path ended: the page to rate, or why none was reached. */
interface Landing {
  /** The first response that is not a redirect, or null. */
  page: Reply | null;
  /** The redirects repeat a URL, or go on past MAX_REDIRECTS. */
  looped: boolean;
  /** Without a page: what happened instead. */
  why: string;
  /** Without a page: what would reach one. */
  next: string;
}

/** What every rule of one path sees, and how it adds its items. */
interface Visit {
  path: string;
  /** The answer to http:// + path. */
  overHttp: Reply;
  /** The answers to https:// + path and the same-origin redirects after it. */
  chain: Reply[];
  landing: Landing;
  httpsOrigin: string;
  stack: Stack | null;
  add: Add;
  fixOf: FixOf;
}

/** One rule: adds its items (none, one or several) for a path. */
type Rule = (visit: Visit) => void;
/** A rule of the page reached: a redirect is no page, so it is not rated on one. */
type PageRule = (visit: Visit, page: Reply) => void;

const onPage =
  (rule: PageRule): Rule =>
  (visit) => {
    if (visit.landing.page) rule(visit, visit.landing.page);
  };

/** Every rule, in the order of the report. */
const RULES: Rule[] = [
  rateRedirect,
  rateLoop,
  rateHsts,
  rateCookies,
  ratePageReached,
  onPage(rateNosniff),
  onPage(rateClickjacking),
  onPage(rateReferrerPolicy),
  onPage(rateMixedContent),
  onPage(rateVersionHeaders),
];

/** The items of one path: every rule over what its requests answered. */
export function ratePath(path: string, overHttp: Reply, chain: Reply[], httpsOrigin: string, stack: Stack | null): CheckItem[] {
  const items: CheckItem[] = [];
  const add: Add = (id, title, status, detail, fix = '') =>
    items.push({ path, id, title, status, detail, fix: status === 'pass' || status === 'info' ? '' : fix, essential: ESSENTIAL.has(id) });
  const fixOf: FixOf = (what) => fixFor(what, stack);
  const visit: Visit = { path, overHttp, chain, landing: landingOf(chain), httpsOrigin, stack, add, fixOf };
  for (const rule of RULES) rule(visit);
  return items;
}

function landingOf(chain: Reply[]): Landing {
  const urls = chain.map((r) => r.url);
  const last = chain[chain.length - 1]!;
  const repeated = chain.length > 1 && new Set(urls).size < urls.length;
  const looped = repeated || (isRedirectStatus(last.status) && chain.length > MAX_REDIRECTS);
  if (!isRedirectStatus(last.status)) return { page: last, looped: false, why: '', next: '' };
  const other = 'give --path a page of this app that does not redirect';
  if (looped)
    return {
      page: null,
      looped,
      why: repeated ? 'the redirects loop' : `more than ${MAX_REDIRECTS} redirects`,
      next: 'fix the loop and check again',
    };
  const location = last.headers.location;
  if (!location) return { page: null, looped, why: `${last.url} answers ${last.status} without a Location header`, next: other };
  return {
    page: null,
    looped,
    why: `${last.url} redirects to ${new URL(location, last.url).href}, another origin, not followed`,
    next: other,
  };
}

/** HTTP → HTTPS, to the HTTPS listener's port, same path. */
function rateRedirect({ add, fixOf, overHttp, httpsOrigin, path }: Visit): void {
  const expected = httpsOrigin + path;
  const title = 'HTTP redirects to HTTPS';
  const location = overHttp.headers.location;
  if (!isRedirectStatus(overHttp.status) || !location)
    return add('redirect', title, 'fail', `http:// answers ${overHttp.status} without redirecting to HTTPS`, fixOf('redirect'));
  const to = new URL(location, overHttp.url).href;
  if (to === new URL(expected).href) add('redirect', title, 'pass', `${overHttp.status} to ${to}`);
  else add('redirect', title, 'fail', `${overHttp.status} to ${to}, not to ${expected}`, fixOf('redirect'));
}

/** No loop over HTTPS: the app trusts X-Forwarded-Proto. */
function rateLoop({ add, chain, landing, stack }: Visit): void {
  const title = 'No redirect loop over HTTPS';
  const urls = chain.map((r) => r.url);
  const last = chain[chain.length - 1]!;
  if (landing.looped) {
    const proxyFix = fixesFor(stack)[0]!;
    add(
      'loop',
      title,
      'fail',
      `redirect loop: ${urls.join(' → ')}; the app does not trust X-Forwarded-Proto`,
      `${proxyFix.name}: ${proxyFix.fix}`,
    );
  } else {
    add('loop', title, 'pass', chain.length > 1 ? `${urls.join(' → ')} (${last.status})` : `${last.status}`);
  }
}

/** HSTS counts on any HTTPS response, a redirect too: browsers store it from either. */
function rateHsts({ add, fixOf, chain, landing }: Visit): void {
  const { looped } = landing;
  const reply = landing.page ?? chain[looped ? 0 : chain.length - 1]!;
  const hsts = header(reply.headers, 'strict-transport-security');
  const maxAge = Number(/max-age\s*=\s*"?(\d+)/i.exec(hsts ?? '')?.[1] ?? NaN);
  // In the loop the app takes the request for plain HTTP, and frameworks send HSTS only over HTTPS.
  if (!hsts && looped)
    add(
      'hsts',
      'HSTS',
      'info',
      'not rated: in the redirect loop the app takes HTTPS requests for plain HTTP, and most frameworks send HSTS only over HTTPS; fix the loop and check again',
    );
  else if (!hsts) add('hsts', 'HSTS', 'fail', 'no Strict-Transport-Security header over HTTPS', fixOf('hsts'));
  else if (!(maxAge >= ONE_YEAR)) add('hsts', 'HSTS', 'warn', `${hsts}: max-age below one year (${ONE_YEAR})`, fixOf('hsts'));
  else if (!/includeSubDomains/i.test(hsts)) add('hsts', 'HSTS', 'warn', `${hsts}: no includeSubDomains`, fixOf('hsts'));
  else add('hsts', 'HSTS', 'pass', hsts);
}

/** Cookies set anywhere on the way (a browser stores those of redirects too): names and attributes, never values. */
function rateCookies({ add, fixOf, chain, landing, path, stack }: Visit): void {
  const cookies = chain.flatMap((r) => cookiesSet(r.headers));
  const sensitive = cookies.filter((c) => SESSION.test(c.name) || CSRF.test(c.name));
  const sessions = cookies.filter((c) => SESSION.test(c.name) && !CSRF.test(c.name));
  const title = 'Session and CSRF cookies are Secure';
  if (!sensitive.length) {
    const seen = cookies.length
      ? `cookies set (${cookies.map((c) => c.name).join(', ')}), none of them session or CSRF cookies`
      : 'no cookies set';
    if (!landing.page) return add('cookies-secure', title, 'info', `${seen} by the redirects, and no page reached to set any`);
    return add('cookies-secure', title, 'info', `${seen} on ${path}${loginHint(path, stack)}`);
  }
  const insecure = sensitive.filter((c) => !c.secure).map((c) => c.name);
  add(
    'cookies-secure',
    title,
    insecure.length ? 'fail' : 'pass',
    insecure.length ? `not Secure: ${insecure.join(', ')}` : sensitive.map((c) => c.name).join(', '),
    fixOf('cookies'),
  );
  if (sessions.length) {
    const readable = sessions.filter((c) => !c.httpOnly).map((c) => c.name);
    add(
      'cookies-httponly',
      'Session cookies are HttpOnly',
      readable.length ? 'warn' : 'pass',
      readable.length ? `readable by scripts: ${readable.join(', ')}` : sessions.map((c) => c.name).join(', '),
      fixOf('cookies'),
    );
  }
  const noSameSite = sensitive.filter((c) => !c.sameSite).map((c) => c.name);
  add(
    'cookies-samesite',
    'Session and CSRF cookies set SameSite',
    noSameSite.length ? 'warn' : 'pass',
    noSameSite.length ? `no SameSite: ${noSameSite.join(', ')}` : sensitive.map((c) => `${c.name}: ${c.sameSite}`).join(', '),
    fixOf('cookies'),
  );
}

/** Where to look for the session and CSRF cookies instead: the detected stack's usual login page. */
function loginHint(path: string, stack: Stack | null): string {
  const login = stack ? LOGIN_PAGES[stack] : undefined;
  if (!login) return '; try your login page, e.g. --path /login';
  return path === login.path ? '' : `; try ${login.what} with --path ${login.path}`;
}

/**
 * Without a page, says why the page rules are not rated: a redirect's headers and its empty body
 * say nothing of what the pages send (Django's SecurityMiddleware answers before
 * XFrameOptionsMiddleware ever runs).
 */
function ratePageReached({ add, landing }: Visit): void {
  if (landing.page) return;
  add(
    'page',
    'Page headers',
    'info',
    `not rated: no page reached over HTTPS (${landing.why}). X-Content-Type-Options, clickjacking protection, Referrer-Policy, mixed content and version headers are rated on a page, not on a redirect: ${landing.next}`,
  );
}

function rateNosniff({ add, fixOf }: Visit, page: Reply): void {
  const nosniff = header(page.headers, 'x-content-type-options');
  add(
    'nosniff',
    'X-Content-Type-Options: nosniff',
    nosniff?.toLowerCase() === 'nosniff' ? 'pass' : 'warn',
    nosniff ? `X-Content-Type-Options: ${nosniff}` : 'missing',
    fixOf('headers'),
  );
}

function rateClickjacking({ add, fixOf }: Visit, page: Reply): void {
  const frameOptions = header(page.headers, 'x-frame-options');
  const frameAncestors = /frame-ancestors[^;]*/i.exec(header(page.headers, 'content-security-policy') ?? '')?.[0];
  const framed = /^(deny|sameorigin)$/i.test(frameOptions ?? '') || frameAncestors;
  add(
    'clickjacking',
    'Clickjacking protection',
    framed ? 'pass' : 'warn',
    framed
      ? frameAncestors
        ? `CSP ${frameAncestors}`
        : `X-Frame-Options: ${frameOptions}`
      : 'neither X-Frame-Options nor CSP frame-ancestors',
    fixOf('clickjacking'),
  );
}

function rateReferrerPolicy({ add, fixOf }: Visit, page: Reply): void {
  const referrer = header(page.headers, 'referrer-policy');
  add(
    'referrer-policy',
    'Referrer-Policy',
    referrer && !/unsafe-url/i.test(referrer) ? 'pass' : 'warn',
    referrer ? `Referrer-Policy: ${referrer}` : 'missing',
    fixOf('referrer'),
  );
}

function rateMixedContent({ add }: Visit, page: Reply): void {
  const type = header(page.headers, 'content-type');
  if (!/text\/html/i.test(type ?? '')) return add('mixed-content', 'No mixed content', 'info', `not HTML (${type ?? 'no content type'})`);
  const mixed = findMixedContent(page.body);
  const active = mixed.filter((m) => m.active);
  add(
    'mixed-content',
    'No mixed content',
    active.length ? 'fail' : mixed.length ? 'warn' : 'pass',
    mixed.length
      ? `http:// subresources: ${mixed
          .slice(0, 5)
          .map((m) => `<${m.tag}> ${m.url}`)
          .join(', ')}`
      : 'no http:// subresources in the HTML',
    'load every subresource over https:// or a relative URL',
  );
}

function rateVersionHeaders({ add, fixOf }: Visit, page: Reply): void {
  const h = page.headers;
  const revealing = ['x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version']
    .filter((n) => h[n] !== undefined)
    .map((n) => `${n}: ${header(h, n)}`);
  const server = header(h, 'server');
  const devServer = server && /WSGIServer|Werkzeug|WEBrick/i.test(server);
  if (server && /\d+\.\d+|\/\d/.test(server) && !devServer) revealing.push(`server: ${server}`);
  if (revealing.length) add('version-headers', 'No version-revealing headers', 'warn', revealing.join(', '), fixOf('version'));
  else if (devServer)
    add(
      'version-headers',
      'No version-revealing headers',
      'info',
      `Server: ${server} is the development server's; check what production sends`,
    );
  else add('version-headers', 'No version-revealing headers', 'pass', server ? `Server: ${server}` : 'none');
}

const SESSION = /sess|sid\b|^sid|auth|remember|token|jwt|login/i;
const CSRF = /csrf|xsrf/i;

/** http:// subresources of an HTML page; scripts, frames, stylesheets and forms are active (blocked). */
export function findMixedContent(html: string): Array<{ tag: string; url: string; active: boolean }> {
  const found = [];
  const re =
    /<(script|iframe|link|img|source|video|audio|embed|object|form)\b[^>]*?\s(?:src|href|action|data)\s*=\s*["']?(http:\/\/[^"'\s>]+)/gi;
  for (const m of html.matchAll(re)) {
    const tag = m[1]!.toLowerCase();
    // Only some links are loaded by the page; rel=canonical, alternate, preconnect... are not.
    const whole = html.slice(m.index, html.indexOf('>', m.index) + 1 || undefined);
    if (tag === 'link' && !/\srel\s*=\s*["']?[^"'>]*\b(stylesheet|preload|modulepreload|prefetch|icon|manifest)\b/i.test(whole)) continue;
    found.push({ tag, url: m[2]!, active: ['script', 'iframe', 'link', 'form', 'embed', 'object'].includes(tag) });
  }
  return found;
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value);
}

/** Follows same-origin redirects over HTTPS until a non-redirect, a repeated URL or MAX_REDIRECTS. */
async function follow(url: string, ca: string): Promise<Reply[]> {
  const chain: Reply[] = [];
  const seen = new Set<string>();
  let next: string | null = url;
  while (next && chain.length <= MAX_REDIRECTS) {
    const reply: Reply = await get(next, ca);
    chain.push(reply);
    if (seen.has(reply.url)) break;
    seen.add(reply.url);
    const location = reply.headers.location;
    next = null;
    if (isRedirectStatus(reply.status) && location) {
      const to = new URL(location, reply.url);
      if (to.origin === new URL(url).origin) next = to.href;
    }
  }
  return chain;
}

function get(url: string, ca: string): Promise<Reply> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(u, { ca, agent: false, headers: { accept: '*/*', 'user-agent': 'dev-https-check' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_BODY) chunks.push(c);
        size += c.length;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), url: u.href }),
      );
      res.on('error', reject);
    });
    // An app that never answers must not hang the check (or the CI job running it).
    req.setTimeout(REQUEST_TIMEOUT_MS, () =>
      req.destroy(new DevHttpsError('E_BAD_TARGET', `Cannot check ${url}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)),
    );
    req.on('error', reject);
  });
}

export function formatCheckReport(report: CheckReport): string {
  const label: Record<CheckStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', info: 'INFO' };
  const lines = [`dev-https check of ${report.target}${report.stack ? ` (looks like ${stackName(report.stack)})` : ''}`];
  for (const path of [...new Set(report.items.map((i) => i.path))]) {
    lines.push('', `  ${path}`);
    for (const i of report.items.filter((x) => x.path === path)) {
      lines.push(`    ${label[i.status]}  ${i.title}${i.essential ? ' (essential)' : ''}: ${i.detail}`);
      if (i.fix) lines.push(`          fix: ${i.fix}`);
    }
  }
  const count = (s: CheckStatus) => report.items.filter((i) => i.status === s).length;
  const failing = report.items.filter((i) => i.essential && i.status === 'fail').map((i) => `${i.title} (${i.path})`);
  lines.push('', `Score: ${report.score}% (${count('pass')} pass, ${count('warn')} warn, ${count('fail')} fail, ${count('info')} info)`);
  lines.push(failing.length ? `Essential items failing: ${failing.join('; ')}` : 'Every essential item passes.');
  return lines.join('\n');
}
