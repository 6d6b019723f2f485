// Production security settings run locally, against real frameworks: a real Django (the fixture's
// prod, noproxy and dev profiles) and a real Express 5 behind dev-https; the redirect-loop
// diagnosis and page, HSTS removal, cookie warnings, and `dev-https check` (API and bin).
import { spawn } from 'node:child_process';
import path from 'node:path';
import express from 'express';
import { afterEach, describe, expect, test } from 'vitest';
import { formatCheckReport, runCheck, type CheckReport } from '../src/check/check.js';
import { startDevHttps } from '../src/server/server.js';
import {
  captureLogger,
  type CapturingLogger,
  djangoAvailable,
  freePort,
  onCleanup,
  request,
  runCleanups,
  startDjango,
  startUpstream,
  tempDir,
} from './helpers.js';

const BIN = path.resolve(import.meta.dirname, '../bin/dev-https.js');

afterEach(runCleanups);

async function startProxy(target: number, logger: CapturingLogger, keepHsts = false) {
  const handle = await startDevHttps({ target, port: 0, httpPort: 0, certDir: await tempDir(), logger, keepHsts });
  onCleanup(() => handle.close());
  return {
    handle,
    ca: handle.certificate.ca!.cert,
    httpsOrigin: handle.urls.https.slice(0, -1),
    httpOrigin: handle.urls.http!.slice(0, -1),
  };
}

const warnings = (logger: CapturingLogger) => logger.lines.filter((l) => l.startsWith('warn: '));
const summary = (report: CheckReport) => report.items.map((i) => [i.path, i.id, i.status]);

const DJANGO_FIX = 'settings.py: SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")';
const EXPRESS_FIX = "app.set('trust proxy', 'loopback')";

describe.skipIf(!djangoAvailable)('real Django', () => {
  test('noproxy (the redirect loop): clients get the 301, browsers the 508 page, the terminal one warning with Django first', async () => {
    const logger = captureLogger();
    const { ca, httpsOrigin, handle } = await startProxy(await startDjango('noproxy'), logger);

    const plain = await request(handle.urls.https, { ca });
    expect(plain.status).toBe(301);
    expect(plain.headers.location).toBe(`${httpsOrigin}/`);

    const browser = await request(handle.urls.https, { ca, headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(browser.status).toBe(508);
    expect(browser.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(browser.headers['cache-control']).toBe('no-store');
    expect(browser.headers.location).toBeUndefined();
    expect(browser.body).toContain(`dev-https stopped a redirect loop: ${httpsOrigin}/ → ${httpsOrigin}/.`);
    expect(browser.body).toContain('SECURE_PROXY_SSL_HEADER');
    expect(browser.body).toContain(
      '<tr><th>Django <em>(detected)</em></th><td><code>settings.py: SECURE_PROXY_SSL_HEADER = (&#34;HTTP_X_FORWARDED_PROTO&#34;, &#34;https&#34;)</code></td></tr>',
    );
    expect(browser.body.match(/\(detected\)/g)).toHaveLength(1);
    expect(browser.body.indexOf('<th>Django')).toBeLessThan(browser.body.indexOf('<th>Express'));

    // A third request, still one warning.
    expect((await request(handle.urls.https, { ca })).status).toBe(301);
    const warned = warnings(logger);
    expect(warned).toHaveLength(1);
    const lines = warned[0]!.split('\n');
    expect(lines[0]!.startsWith(`warn: redirect loop: the app answered ${httpsOrigin}/ with a redirect to that same URL.`)).toBe(true);
    expect(lines[1]).toBe(`    Django (detected): ${DJANGO_FIX}`);
  });

  test("prod: the app's HSTS is removed on localhost, with one warning", async () => {
    const logger = captureLogger();
    const { ca, handle } = await startProxy(await startDjango('prod'), logger);
    for (let i = 0; i < 2; i++) {
      const page = await request(handle.urls.https, { ca });
      expect(page.status).toBe(200);
      expect(JSON.parse(page.body).is_secure).toBe(true);
      expect(page.headers['strict-transport-security']).toBeUndefined();
      // The other security headers pass untouched.
      expect(page.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(warnings(logger)).toEqual([
      "warn: removed the app's Strict-Transport-Security header for localhost: browsers apply HSTS to a host name on every port, so it would force HTTPS on every other app you open on localhost. Pass --keep-hsts to test it anyway.",
    ]);
  });

  test("prod with keepHsts: the app's HSTS passes through, no warning", async () => {
    const logger = captureLogger();
    const { ca, handle } = await startProxy(await startDjango('prod'), logger, true);
    const page = await request(handle.urls.https, { ca });
    expect(page.status).toBe(200);
    expect(page.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(warnings(logger)).toEqual([]);
  });

  test('dev over the HTTP listener: cookies that are not Secure warn about nothing', async () => {
    const logger = captureLogger();
    const { handle } = await startProxy(await startDjango('dev'), logger);
    const page = await request(handle.urls.http!);
    expect(page.status).toBe(200);
    expect(JSON.parse(page.body).scheme).toBe('http');
    const names = page.headers['set-cookie']!.map((c) => c.split('=')[0]).sort();
    expect(names).toEqual(['csrftoken', 'sessionid']);
    expect(page.headers['set-cookie']!.some((c) => /;\s*secure/i.test(c))).toBe(false);
    expect(warnings(logger)).toEqual([]);
  });

  test('runCheck of prod: everything passes, score 100', async () => {
    const report = await runCheck({ target: await startDjango('prod'), paths: ['/', '/page'], certDir: await tempDir() });
    expect(report.stack).toBe('django');
    expect(summary(report)).toEqual([
      ['/', 'redirect', 'pass'],
      ['/', 'loop', 'pass'],
      ['/', 'hsts', 'pass'],
      ['/', 'cookies-secure', 'pass'],
      ['/', 'cookies-httponly', 'pass'],
      ['/', 'cookies-samesite', 'pass'],
      ['/', 'nosniff', 'pass'],
      ['/', 'clickjacking', 'pass'],
      ['/', 'referrer-policy', 'pass'],
      ['/', 'mixed-content', 'info'],
      ['/', 'version-headers', 'info'],
      ['/page', 'redirect', 'pass'],
      ['/page', 'loop', 'pass'],
      ['/page', 'hsts', 'pass'],
      ['/page', 'cookies-secure', 'pass'],
      ['/page', 'cookies-httponly', 'pass'],
      ['/page', 'cookies-samesite', 'pass'],
      ['/page', 'nosniff', 'pass'],
      ['/page', 'clickjacking', 'pass'],
      ['/page', 'referrer-policy', 'pass'],
      ['/page', 'mixed-content', 'pass'],
      ['/page', 'version-headers', 'info'],
    ]);
    expect(report.score).toBe(100);
    expect(report.ok).toBe(true);
    expect(report.items.every((i) => i.fix === '')).toBe(true);
    const httpsRedirect = report.items.find((i) => i.path === '/page' && i.id === 'redirect')!;
    expect(httpsRedirect.detail).toMatch(/^301 to https:\/\/localhost:\d+\/page$/);
    expect(report.items.find((i) => i.path === '/' && i.id === 'hsts')!.detail).toBe('max-age=31536000; includeSubDomains');
  });

  test('runCheck of noproxy (the loop): the loop fails with the Django fix; the 301s are not rated as pages, and the report says so', async () => {
    const report = await runCheck({ target: await startDjango('noproxy'), paths: ['/', '/page'], certDir: await tempDir() });
    expect(report.stack).toBe('django');
    expect(report.ok).toBe(false);
    expect(summary(report)).toEqual([
      ['/', 'redirect', 'pass'],
      ['/', 'loop', 'fail'],
      ['/', 'hsts', 'info'],
      ['/', 'cookies-secure', 'info'],
      ['/', 'page', 'info'],
      ['/page', 'redirect', 'pass'],
      ['/page', 'loop', 'fail'],
      ['/page', 'hsts', 'info'],
      ['/page', 'cookies-secure', 'info'],
      ['/page', 'page', 'info'],
    ]);
    // Rated: two redirects that pass, two loops that fail.
    expect(report.score).toBe(50);
    const loops = report.items.filter((i) => i.id === 'loop');
    expect(loops.map((i) => [i.path, i.status, i.essential, i.fix])).toEqual([
      ['/', 'fail', true, `Django: ${DJANGO_FIX}`],
      ['/page', 'fail', true, `Django: ${DJANGO_FIX}`],
    ]);
    expect(loops[1]!.detail).toMatch(/^redirect loop: (https:\/\/localhost:\d+\/page) → \1; the app does not trust X-Forwarded-Proto$/);
    const details = (path: string) =>
      Object.fromEntries(report.items.filter((i) => i.path === path && i.status === 'info').map((i) => [i.id, i.detail]));
    expect(details('/page')).toEqual({
      hsts: 'not rated: in the redirect loop the app takes HTTPS requests for plain HTTP, and most frameworks send HSTS only over HTTPS; fix the loop and check again',
      'cookies-secure': 'no cookies set by the redirects, and no page reached to set any',
      page: 'not rated: no page reached over HTTPS (the redirects loop). X-Content-Type-Options, clickjacking protection, Referrer-Policy, mixed content and version headers are rated on a page, not on a redirect: fix the loop and check again',
    });
    // Its HTTP → HTTPS redirect itself is right.
    expect(report.items.filter((i) => i.id === 'redirect').map((i) => i.status)).toEqual(['pass', 'pass']);
    // The 301 lacks X-Frame-Options only because SecurityMiddleware answers before
    // XFrameOptionsMiddleware runs: no advice to add what the fixture already has.
    expect(formatCheckReport(report)).not.toContain('XFrameOptionsMiddleware');
    expect(formatCheckReport(report)).toContain('\n    INFO  Page headers: not rated: no page reached over HTTPS (the redirects loop).');
  });

  test('runCheck of prod on a page that sets no cookies: the hint names the Django admin login', async () => {
    const report = await runCheck({ target: await startDjango('prod'), paths: ['/form', '/admin/login/'], certDir: await tempDir() });
    expect(report.stack).toBe('django');
    const cookies = report.items.filter((i) => i.id === 'cookies-secure').map((i) => [i.path, i.status, i.detail]);
    expect(cookies).toEqual([
      ['/form', 'info', "no cookies set on /form; try the Django admin's login with --path /admin/login/"],
      // Already there (a 404 in the fixture): no hint pointing at itself.
      ['/admin/login/', 'info', 'no cookies set on /admin/login/'],
    ]);
    expect(report.items.filter((i) => i.path === '/form').map((i) => [i.id, i.status])).toEqual([
      ['redirect', 'pass'],
      ['loop', 'pass'],
      ['hsts', 'pass'],
      ['cookies-secure', 'info'],
      ['nosniff', 'pass'],
      ['clickjacking', 'pass'],
      ['referrer-policy', 'pass'],
      ['mixed-content', 'pass'],
      ['version-headers', 'info'],
    ]);
  });

  test('runCheck of dev (Django defaults): no redirect, no HSTS, cookies not Secure', async () => {
    const report = await runCheck({ target: await startDjango('dev'), paths: ['/'], certDir: await tempDir() });
    expect(report.stack).toBe('django');
    expect(report.ok).toBe(false);
    expect(summary(report)).toEqual([
      ['/', 'redirect', 'fail'],
      ['/', 'loop', 'pass'],
      ['/', 'hsts', 'fail'],
      ['/', 'cookies-secure', 'fail'],
      ['/', 'cookies-httponly', 'pass'],
      ['/', 'cookies-samesite', 'pass'],
      ['/', 'nosniff', 'pass'],
      ['/', 'clickjacking', 'pass'],
      ['/', 'referrer-policy', 'pass'],
      ['/', 'mixed-content', 'info'],
      ['/', 'version-headers', 'info'],
    ]);
    const secure = report.items.find((i) => i.id === 'cookies-secure')!;
    expect(secure.detail).toBe('not Secure: csrftoken, sessionid');
    expect(secure.fix).toBe('SESSION_COOKIE_SECURE = True and CSRF_COOKIE_SECURE = True (HttpOnly and SameSite=Lax are the defaults)');
    expect(report.items.find((i) => i.id === 'redirect')!.fix).toBe('SECURE_SSL_REDIRECT = True (with SECURE_PROXY_SSL_HEADER set)');
  });
});

/** Express with the usual production redirect to HTTPS and a Secure session cookie. */
function redirectingExpressApp(trustProxy: boolean): express.Express {
  const app = express();
  if (trustProxy) app.set('trust proxy', 'loopback');
  app.use((req, res, next) => {
    if (!req.secure) return res.redirect(301, 'https://' + req.headers.host + req.originalUrl);
    next();
  });
  app.use((_req, res, next) => {
    res.cookie('connect.sid', 'express-session-secret', { secure: true, httpOnly: true, sameSite: 'lax' });
    next();
  });
  app.get('/', (req, res) => {
    res.send(`secure=${req.secure} protocol=${req.protocol}`);
  });
  app.get('/host-cookie', (_req, res) => {
    res.cookie('__Host-id', 'express-host-secret', { secure: true, path: '/' });
    res.send('host cookie set');
  });
  return app;
}

describe('real Express 5', () => {
  test('without trust proxy: the loop is diagnosed with Express first, on the page, in the terminal and by runCheck', async () => {
    const app = await startUpstream(redirectingExpressApp(false));
    const logger = captureLogger();
    const { ca, httpsOrigin, handle } = await startProxy(app.port, logger);

    const plain = await request(handle.urls.https, { ca });
    expect(plain.status).toBe(301);
    expect(plain.headers.location).toBe(`${httpsOrigin}/`);
    expect(plain.headers['x-powered-by']).toBe('Express');

    const browser = await request(`${httpsOrigin}/host-cookie`, { ca, headers: { accept: 'text/html' } });
    expect(browser.status).toBe(508);
    expect(browser.body).toContain(`dev-https stopped a redirect loop: ${httpsOrigin}/host-cookie → ${httpsOrigin}/host-cookie.`);
    expect(browser.body).toContain(
      '<table><tr><th>Express <em>(detected)</em></th><td><code>app.set(&#39;trust proxy&#39;, &#39;loopback&#39;)</code></td></tr>',
    );

    const warned = warnings(logger);
    expect(warned).toHaveLength(1);
    const lines = warned[0]!.split('\n');
    expect(lines[0]!.startsWith(`warn: redirect loop: the app answered ${httpsOrigin}/ with a redirect to that same URL.`)).toBe(true);
    expect(lines[1]).toBe(`    Express (detected): ${EXPRESS_FIX}`);
    expect(lines[2]).toBe(`    Django: ${DJANGO_FIX}`);

    const report = await runCheck({ target: app.port, certDir: await tempDir() });
    expect(report.stack).toBe('express');
    expect(report.ok).toBe(false);
    const loop = report.items.find((i) => i.id === 'loop')!;
    expect([loop.status, loop.fix]).toEqual(['fail', `Express: ${EXPRESS_FIX}`]);
    expect(report.items.find((i) => i.id === 'redirect')!.status).toBe('pass');
  });

  test("with app.set('trust proxy', 'loopback'): HTTPS serves, the HTTP listener's redirect lands on the HTTPS port, runCheck passes redirect and loop", async () => {
    const app = await startUpstream(redirectingExpressApp(true));
    const logger = captureLogger();
    const { ca, httpsOrigin, handle } = await startProxy(app.port, logger);

    const page = await request(handle.urls.https, { ca, headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.body).toBe('secure=true protocol=https');
    expect(page.headers['set-cookie']).toEqual(['connect.sid=express-session-secret; Path=/; HttpOnly; Secure; SameSite=Lax']);

    const hostCookie = await request(`${httpsOrigin}/host-cookie`, { ca });
    expect(hostCookie.status).toBe(200);
    expect(hostCookie.headers['set-cookie']).toContain('__Host-id=express-host-secret; Path=/; Secure');

    const overHttp = await request(`${handle.urls.http}host-cookie?x=1`);
    expect(overHttp.status).toBe(301);
    expect(overHttp.headers.location).toBe(`${httpsOrigin}/host-cookie?x=1`);
    expect(warnings(logger)).toEqual([]);

    const report = await runCheck({ target: app.port, certDir: await tempDir() });
    expect(report.stack).toBe('express');
    expect(summary(report)).toEqual([
      ['/', 'redirect', 'pass'],
      ['/', 'loop', 'pass'],
      ['/', 'hsts', 'fail'],
      ['/', 'cookies-secure', 'pass'],
      ['/', 'cookies-httponly', 'pass'],
      ['/', 'cookies-samesite', 'pass'],
      ['/', 'nosniff', 'warn'],
      ['/', 'clickjacking', 'warn'],
      ['/', 'referrer-policy', 'warn'],
      ['/', 'mixed-content', 'pass'],
      ['/', 'version-headers', 'warn'],
    ]);
    expect(report.items.find((i) => i.id === 'version-headers')!.fix).toBe("app.disable('x-powered-by')");
  });

  test('a Secure cookie and a __Host- cookie set over the HTTP listener: one exact warning each, names only', async () => {
    const app = express();
    app.get('/', (_req, res) => {
      res.cookie('connect.sid', 'plain-http-session-secret', { secure: true, httpOnly: true, sameSite: 'lax' });
      res.cookie('__Host-id', 'plain-http-host-secret', { secure: true, path: '/' });
      res.send('ok');
    });
    const upstream = await startUpstream(app);
    const logger = captureLogger();
    const { httpOrigin, handle } = await startProxy(upstream.port, logger);
    for (let i = 0; i < 3; i++) {
      const reply = await request(handle.urls.http!);
      expect(reply.status).toBe(200);
      // Warned about, still passed through untouched.
      expect(reply.headers['set-cookie']).toEqual([
        'connect.sid=plain-http-session-secret; Path=/; HttpOnly; Secure; SameSite=Lax',
        '__Host-id=plain-http-host-secret; Path=/; Secure',
      ]);
    }
    const host = new URL(httpOrigin).host;
    expect(warnings(logger)).toEqual([
      `warn: the app set the Secure cookie connect.sid over plain HTTP (http://${host}): Chrome and Firefox accept that from localhost, other browsers drop it (no session, CSRF failures). Use the HTTPS URL.`,
      `warn: the app set the cookie __Host-id over plain HTTP (http://${host}): browsers reject __Host- and __Secure- cookies that do not come over HTTPS. Use the HTTPS URL.`,
    ]);
    expect(logger.text()).not.toContain('plain-http-session-secret');
    expect(logger.text()).not.toContain('plain-http-host-secret');
  });
});

describe('runCheck where no page is reached, or no stack is detected', () => {
  test('a redirect to another origin: HSTS rated on the redirect, page headers not rated and the report says why; no stack: the generic login hint', async () => {
    const app = await startUpstream((req, res) => {
      if (req.url === '/') {
        res.writeHead(302, {
          location: 'https://sso.example.test/login',
          'strict-transport-security': 'max-age=31536000; includeSubDomains',
          'content-type': 'text/html',
        });
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'x-content-type-options': 'nosniff' });
      res.end('plain');
    });
    const report = await runCheck({ target: app.port, paths: ['/', '/plain'], certDir: await tempDir() });
    expect(report.stack).toBe(null);
    expect(summary(report)).toEqual([
      ['/', 'redirect', 'fail'],
      ['/', 'loop', 'pass'],
      ['/', 'hsts', 'pass'],
      ['/', 'cookies-secure', 'info'],
      ['/', 'page', 'info'],
      ['/plain', 'redirect', 'fail'],
      ['/plain', 'loop', 'pass'],
      ['/plain', 'hsts', 'fail'],
      ['/plain', 'cookies-secure', 'info'],
      ['/plain', 'nosniff', 'pass'],
      ['/plain', 'clickjacking', 'warn'],
      ['/plain', 'referrer-policy', 'warn'],
      ['/plain', 'mixed-content', 'info'],
      ['/plain', 'version-headers', 'pass'],
    ]);
    const detail = (path: string, id: string) => report.items.find((i) => i.path === path && i.id === id)!.detail;
    expect(detail('/', 'redirect')).toMatch(/^302 to https:\/\/sso\.example\.test\/login, not to https:\/\/localhost:\d+\/$/);
    expect(detail('/', 'page')).toMatch(
      /^not rated: no page reached over HTTPS \(https:\/\/localhost:\d+\/ redirects to https:\/\/sso\.example\.test\/login, another origin, not followed\)\. X-Content-Type-Options, clickjacking protection, Referrer-Policy, mixed content and version headers are rated on a page, not on a redirect: give --path a page of this app that does not redirect$/,
    );
    expect(detail('/', 'cookies-secure')).toBe('no cookies set by the redirects, and no page reached to set any');
    expect(detail('/plain', 'cookies-secure')).toBe('no cookies set on /plain; try your login page, e.g. --path /login');
  });
});

describe('runCheck: redirects that never end on a page', () => {
  test('more than 10 redirects fail the loop; a redirect without Location is no page either', async () => {
    const app = await startUpstream((req, res) => {
      const n = /^\/hop\/(\d+)$/.exec(req.url ?? '');
      if (n) res.writeHead(302, { location: `/hop/${Number(n[1]) + 1}` });
      else res.writeHead(302, { 'content-type': 'text/html' });
      res.end();
    });
    const report = await runCheck({ target: app.port, paths: ['/hop/0', '/nowhere'], certDir: await tempDir() });
    const get = (path: string, id: string) => report.items.find((i) => i.path === path && i.id === id)!;
    expect(report.items.filter((i) => i.path === '/hop/0').map((i) => [i.id, i.status])).toEqual([
      ['redirect', 'fail'],
      ['loop', 'fail'],
      ['hsts', 'info'],
      ['cookies-secure', 'info'],
      ['page', 'info'],
    ]);
    expect(get('/hop/0', 'loop').detail).toMatch(
      /^redirect loop: https:\/\/localhost:\d+\/hop\/0 → (https:\/\/localhost:\d+\/hop\/\d+ → ){9}https:\/\/localhost:\d+\/hop\/10; the app does not trust X-Forwarded-Proto$/,
    );
    expect(get('/hop/0', 'page').detail).toContain('not rated: no page reached over HTTPS (more than 10 redirects). ');
    expect(report.items.filter((i) => i.path === '/nowhere').map((i) => [i.id, i.status])).toEqual([
      ['redirect', 'fail'],
      ['loop', 'pass'],
      ['hsts', 'fail'],
      ['cookies-secure', 'info'],
      ['page', 'info'],
    ]);
    expect(get('/nowhere', 'page').detail).toMatch(
      /^not rated: no page reached over HTTPS \(https:\/\/localhost:\d+\/nowhere answers 302 without a Location header\)\. .*: give --path a page of this app that does not redirect$/,
    );
  });
});

interface BinResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real bin to completion, as a user would. */
function runBin(args: string[], cwd: string): Promise<BinResult> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const done = new Promise<BinResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
  });
  return done;
}

describe('the bin: dev-https check', () => {
  test.skipIf(!djangoAvailable)('--json on the prod Django: exit 0, score 100', async () => {
    const port = await startDjango('prod');
    const r = await runBin(['check', '--target', String(port), '--json'], await tempDir());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as CheckReport;
    expect(report).toMatchObject({ target: `http://localhost:${port}`, stack: 'django', score: 100, ok: true });
    expect(report.items.map((i) => i.id)).toContain('hsts');
  });

  test.skipIf(!djangoAvailable)('on the dev Django: exit 1, the report names the failing essentials', async () => {
    const port = await startDjango('dev');
    const r = await runBin(['check', '--target', String(port)], await tempDir());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`dev-https check of http://localhost:${port} (looks like Django)\n`);
    expect(r.stdout).toContain(
      '\nEssential items failing: HTTP redirects to HTTPS (/); HSTS (/); Session and CSRF cookies are Secure (/)\n',
    );
  });

  test.skipIf(!djangoAvailable)(
    'on the noproxy Django (the loop): exit 1, the loop and its fix, and the plain word that no page was rated',
    async () => {
      const port = await startDjango('noproxy');
      const r = await runBin(['check', '--target', String(port)], await tempDir());
      expect(r.stderr).toBe('');
      expect(r.code).toBe(1);
      const lines = r.stdout.split('\n');
      expect(lines.slice(0, 3)).toEqual([`dev-https check of http://localhost:${port} (looks like Django)`, '', '  /']);
      expect(lines.slice(3).map((l) => l.replace(/localhost:\d+/g, 'localhost:PORT'))).toEqual([
        '    PASS  HTTP redirects to HTTPS (essential): 301 to https://localhost:PORT/',
        '    FAIL  No redirect loop over HTTPS (essential): redirect loop: https://localhost:PORT/ → https://localhost:PORT/; the app does not trust X-Forwarded-Proto',
        `          fix: Django: ${DJANGO_FIX}`,
        '    INFO  HSTS (essential): not rated: in the redirect loop the app takes HTTPS requests for plain HTTP, and most frameworks send HSTS only over HTTPS; fix the loop and check again',
        '    INFO  Session and CSRF cookies are Secure (essential): no cookies set by the redirects, and no page reached to set any',
        '    INFO  Page headers: not rated: no page reached over HTTPS (the redirects loop). X-Content-Type-Options, clickjacking protection, Referrer-Policy, mixed content and version headers are rated on a page, not on a redirect: fix the loop and check again',
        '',
        'Score: 50% (1 pass, 0 warn, 1 fail, 3 info)',
        'Essential items failing: No redirect loop over HTTPS (/)',
        '',
      ]);
    },
  );

  test('without --target: exit 1 and what is missing', async () => {
    const r = await runBin(['check'], await tempDir());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('error: dev-https check needs --target <port>: the running app to audit\n');
  });

  test('nothing listening on --target: exit 1 with one line', async () => {
    const port = await freePort();
    const r = await runBin(['check', '--target', String(port)], await tempDir());
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`error: Cannot check --target "${port}": the app at http://localhost:${port} is not answering; start it first\n`);
  });
});
