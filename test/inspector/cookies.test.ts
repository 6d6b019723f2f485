import { existsSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { annotateSetCookie, type CookieContext } from '../../src/inspector/cookies.js';
import { CHROMIUM_ARGS } from '../helpers.js';

const NOW = Date.UTC(2026, 0, 1);
const HTTPS: CookieContext = { listener: 'https', host: 'localhost:8443', now: NOW };
const HTTP: CookieContext = { listener: 'http', host: 'localhost:8080', now: NOW };
const ctx = (listener: 'http' | 'https', host: string): CookieContext => ({ listener, host, now: NOW });

/** The notes of one header, as `level: text` lines. */
function notes(setCookie: string, context: CookieContext = HTTPS): string[] {
  return annotateSetCookie(setCookie, context).notes.map((n) => `${n.level}: ${n.text}`);
}

const GOOD = 'Path=/; Secure; HttpOnly; SameSite=Lax';

test('a well-set session cookie over HTTPS: only good news and its lifetime', () => {
  expect(annotateSetCookie(`sessionid=s3cr3t; ${GOOD}; Max-Age=1209600`, HTTPS)).toEqual({
    name: 'sessionid',
    attributes: `${GOOD}; Max-Age=1209600`,
    secure: true,
    httpOnly: true,
    sameSite: 'Lax',
    notes: [
      { level: 'info', text: 'kept for 14 days (Max-Age=1209600), across browser restarts' },
      { level: 'ok', text: 'SameSite=Lax: sent cross-site only on top-level navigations' },
      { level: 'ok', text: 'Secure: sent over HTTPS only' },
      { level: 'ok', text: 'HttpOnly: page scripts cannot read it' },
    ],
  });
});

test('a bare cookie over HTTPS: worst first', () => {
  expect(notes('sessionid=abc')).toEqual([
    'warn: no Secure: the browser sends it over plain HTTP too; production over HTTPS should set Secure',
    'warn: no HttpOnly on what looks like a session cookie: page scripts can read it, and so can an injected script; set HttpOnly',
    'info: no SameSite: Chromium treats it as Lax, Firefox and Safari send it on cross-site requests too',
    'info: session cookie: gone when the browser closes',
  ]);
});

describe('cookie prefixes', () => {
  test.each([
    ['__Host-id=1; Path=/; SameSite=Lax; HttpOnly', HTTPS, 'bad: __Host- prefix: the browser rejects the cookie without Secure'],
    [
      '__Host-id=1; Secure; Path=/; Domain=localhost; SameSite=Lax; HttpOnly',
      HTTPS,
      'bad: __Host- prefix: the browser rejects the cookie with a Domain attribute (a __Host- cookie is for its host only)',
    ],
    ['__Host-id=1; Secure; SameSite=Lax; HttpOnly', HTTPS, 'bad: __Host- prefix: the browser rejects the cookie without Path=/'],
    ['__Host-id=1; Secure; Path=/app; SameSite=Lax; HttpOnly', HTTPS, 'bad: __Host- prefix: the browser rejects the cookie without Path=/'],
    ['__host-id=1; Path=/; SameSite=Lax; HttpOnly', HTTPS, 'bad: __Host- prefix: the browser rejects the cookie without Secure'],
    ['__Secure-id=1; Path=/; SameSite=Lax; HttpOnly', HTTPS, 'bad: __Secure- prefix: the browser rejects the cookie without Secure'],
    [
      '__Secure-id=1; Secure; SameSite=Lax; HttpOnly',
      ctx('http', 'app.test:8080'),
      'bad: __Secure- cookie over plain HTTP from app.test: the browser drops it (only localhost counts as secure without HTTPS) — use the HTTPS URL',
    ],
    [
      '__Host-id=1; Secure; Path=/; SameSite=Lax; HttpOnly',
      HTTP,
      'warn: __Host- cookie over plain HTTP: Chrome and Firefox accept it from localhost (they treat http://localhost as secure), Safari drops it — use the HTTPS URL',
    ],
  ])('%s (%j)', (header, context, first) => {
    expect(notes(header, context)[0]).toBe(first);
  });

  test('each broken __Host- rule is named, once', () => {
    expect(notes('__Host-id=1; Domain=localhost; SameSite=Lax; HttpOnly').filter((n) => n.startsWith('bad'))).toEqual([
      'bad: __Host- prefix: the browser rejects the cookie without Secure',
      'bad: __Host- prefix: the browser rejects the cookie with a Domain attribute (a __Host- cookie is for its host only)',
      'bad: __Host- prefix: the browser rejects the cookie without Path=/',
    ]);
  });

  test('a valid __Host- cookie has no bad note; an empty Domain is no Domain', () => {
    expect(notes('__Host-id=1; Secure; Path=/; Domain=; SameSite=Lax; HttpOnly').filter((n) => !n.startsWith('ok'))).toEqual([
      'info: session cookie: gone when the browser closes',
    ]);
  });
});

describe('SameSite', () => {
  test.each([
    ['a=1; Secure; HttpOnly', 'info: no SameSite: Chromium treats it as Lax, Firefox and Safari send it on cross-site requests too'],
    ['a=1; Secure; HttpOnly; SameSite=None', 'info: SameSite=None: sent on cross-site requests too'],
    ['a=1; HttpOnly; SameSite=None', 'bad: SameSite=None without Secure: Chromium rejects the cookie'],
    ['a=1; HttpOnly; samesite=none', 'bad: SameSite=None without Secure: Chromium rejects the cookie'],
    ['a=1; Secure; HttpOnly; SameSite=strict', 'ok: SameSite=Strict: never sent on cross-site requests'],
    ['a=1; Secure; HttpOnly; SameSite=LAX', 'ok: SameSite=Lax: sent cross-site only on top-level navigations'],
    [
      'a=1; Secure; HttpOnly; SameSite=Bogus',
      'warn: SameSite=Bogus is not Strict, Lax or None: browsers ignore it, so Chromium treats the cookie as Lax and Firefox and Safari send it cross-site',
    ],
    [
      'a=1; Secure; HttpOnly; SameSite',
      'warn: SameSite= is not Strict, Lax or None: browsers ignore it, so Chromium treats the cookie as Lax and Firefox and Safari send it cross-site',
    ],
  ])('%s', (header, expected) => {
    expect(notes(header)).toContain(expected);
    expect(notes(header).filter((n) => /SameSite/.test(n))).toHaveLength(1);
  });
});

describe('Secure', () => {
  const LOCAL_HTTP =
    'warn: Secure cookie over plain HTTP: Chrome and Firefox accept it from localhost (they treat http://localhost as secure), Safari drops it — use the HTTPS URL';
  test.each([
    ['a=1; Secure', HTTPS, ['ok: Secure: sent over HTTPS only']],
    ['a=1', HTTPS, ['warn: no Secure: the browser sends it over plain HTTP too; production over HTTPS should set Secure']],
    ['a=1; Secure', HTTP, [LOCAL_HTTP]],
    ['a=1; Secure', ctx('http', 'app.localhost:8080'), [LOCAL_HTTP]],
    ['a=1; Secure', ctx('http', '127.0.0.2:8080'), [LOCAL_HTTP]],
    ['a=1; Secure', ctx('http', '[::1]:8080'), [LOCAL_HTTP]],
    [
      'a=1; Secure',
      ctx('http', '192.168.1.20:8080'),
      [
        'bad: Secure cookie over plain HTTP from 192.168.1.20: the browser drops it (only localhost counts as secure without HTTPS) — use the HTTPS URL',
      ],
    ],
    ['a=1', HTTP, []],
  ])('%s (%j)', (header, context, expected) => {
    expect(notes(header, context).filter((n) => /Secure\b/.test(n) && !/SameSite/.test(n))).toEqual(expected);
  });
});

describe('HttpOnly', () => {
  test.each([
    [
      'sessionid',
      'warn: no HttpOnly on what looks like a session cookie: page scripts can read it, and so can an injected script; set HttpOnly',
    ],
    [
      'connect.sid',
      'warn: no HttpOnly on what looks like a session cookie: page scripts can read it, and so can an injected script; set HttpOnly',
    ],
    [
      '_session_id',
      'warn: no HttpOnly on what looks like a session cookie: page scripts can read it, and so can an injected script; set HttpOnly',
    ],
    [
      'laravel_session',
      'warn: no HttpOnly on what looks like a session cookie: page scripts can read it, and so can an injected script; set HttpOnly',
    ],
    [
      'AuthToken',
      'warn: no HttpOnly on what looks like a session cookie: page scripts can read it, and so can an injected script; set HttpOnly',
    ],
    [
      'csrftoken',
      'info: no HttpOnly: page scripts can read it, which a CSRF token cookie like this one needs (scripts copy it into a header)',
    ],
    [
      'XSRF-TOKEN',
      'info: no HttpOnly: page scripts can read it, which a CSRF token cookie like this one needs (scripts copy it into a header)',
    ],
    ['theme', 'info: no HttpOnly: page scripts can read it (document.cookie)'],
  ])('%s without HttpOnly', (name, expected) => {
    expect(notes(`${name}=v; Secure; SameSite=Lax`).filter((n) => /HttpOnly/.test(n))).toEqual([expected]);
  });

  test('HttpOnly (any case)', () => {
    expect(notes('a=1; httponly')).toContain('ok: HttpOnly: page scripts cannot read it');
  });
});

describe('Domain', () => {
  test.each([
    ['Domain=localhost', 'localhost:8443', 'info: Domain=localhost: sent to localhost and all its subdomains'],
    ['Domain=.App.Localhost', 'app.localhost', 'info: Domain=.App.Localhost: sent to app.localhost and all its subdomains'],
    ['Domain=app.localhost', 'api.app.localhost:8443', 'info: Domain=app.localhost: sent to app.localhost and all its subdomains'],
    ['Domain=example.com', 'localhost:8443', 'bad: Domain=example.com does not match the host localhost: the browser rejects the cookie'],
    [
      'Domain=pp.localhost',
      'app.localhost',
      'bad: Domain=pp.localhost does not match the host app.localhost: the browser rejects the cookie',
    ],
    [
      'Domain=localhost',
      'app.localhost:8443',
      'bad: Domain=localhost from app.localhost: the browser rejects the cookie (localhost counts as a top-level domain)',
    ],
    ['Domain=127.0.0.1', '127.0.0.1:8443', 'info: Domain=127.0.0.1 on an IP address: kept for this address only, as without Domain'],
    [
      'Domain=0.1',
      '127.0.0.1:8443',
      'bad: Domain=0.1 on the IP address 127.0.0.1: the browser rejects the cookie (an address has no subdomains)',
    ],
    [
      'Domain=localhost',
      '[::1]:8443',
      'bad: Domain=localhost on the IP address ::1: the browser rejects the cookie (an address has no subdomains)',
    ],
  ])('%s from %s', (domain, host, expected) => {
    expect(notes(`a=1; Secure; HttpOnly; SameSite=Lax; ${domain}`, ctx('https', host)).filter((n) => /Domain/.test(n))).toEqual([expected]);
  });
});

describe('lifetime', () => {
  test.each([
    ['Max-Age=0', 'info: Max-Age=0: deletes the cookie'],
    ['Max-Age=-1', 'info: Max-Age=-1: deletes the cookie'],
    ['Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'info: Expires in the past (1970-01-01 00:00:00 UTC): deletes the cookie'],
    ['Max-Age=1', 'info: kept for 1 second (Max-Age=1), across browser restarts'],
    ['Max-Age=3600', 'info: kept for 1 hour (Max-Age=3600), across browser restarts'],
    ['Max-Age=600', 'info: kept for 10 minutes (Max-Age=600), across browser restarts'],
    ['Max-Age=31536000', 'info: kept for 365 days (Max-Age=31536000), across browser restarts'],
    ['Max-Age=63072000', 'info: kept for 730 days (Max-Age=63072000), across browser restarts; Chromium caps it at 400 days'],
    ['Expires=Wed, 01 Jul 2026 12:00:00 GMT', 'info: kept until 2026-07-01 12:00:00 UTC (Expires), across browser restarts'],
    // Max-Age wins over Expires; a Max-Age that is not a number is ignored.
    ['Expires=Wed, 01 Jul 2026 12:00:00 GMT; Max-Age=0', 'info: Max-Age=0: deletes the cookie'],
    ['Max-Age=soon; Expires=Wed, 01 Jul 2026 12:00:00 GMT', 'info: kept until 2026-07-01 12:00:00 UTC (Expires), across browser restarts'],
    ['', 'info: session cookie: gone when the browser closes'],
    ['Expires=tomorrow', 'info: session cookie: gone when the browser closes (Expires=tomorrow is not a date: ignored)'],
  ])('%j', (attribute, expected) => {
    expect(notes(`a=1; Secure; HttpOnly; SameSite=Lax; ${attribute}`).filter((n) => n.startsWith('info'))).toEqual([expected]);
  });
});

test('a pair without = is a value with an empty name: no name is made up from it', () => {
  const result = annotateSetCookie('justavalue; Secure; HttpOnly; SameSite=Lax', HTTPS);
  expect(result.name).toBe('');
  expect(result.notes[0]).toEqual({
    level: 'warn',
    text: 'no name= before the value: the browser stores it as a cookie with an empty name',
  });
  expect(JSON.stringify(result)).not.toContain('justavalue');
});

test.each([
  ['sessionid=TOPSECRETVALUE; Path=/; Secure; HttpOnly; SameSite=Lax', HTTPS],
  ['__Host-x=TOPSECRETVALUE; Domain=evil.example; SameSite=weird; Expires=never', HTTP],
  ['csrftoken="TOPSECRETVALUE"; Max-Age=31449600; Path=/', ctx('http', '10.0.0.5')],
  ['a=TOPSECRETVALUE=with=equals', ctx('https', 'bad host!')],
])('the value never appears in the result: %s', (header, context) => {
  const result = annotateSetCookie(header, context);
  expect(JSON.stringify(result)).not.toContain('TOPSECRETVALUE');
});

// The notes name what browsers do; Chromium, at least, is here to ask. Every cookie gets a `bad`
// note exactly when Chromium refuses to store it, over plain HTTP from localhost names, an IP
// address and a name that is not localhost (mapped to 127.0.0.1).
const CHROMIUM = '/usr/bin/chromium';
describe.skipIf(!existsSync(CHROMIUM) && process.env.CI !== 'true')('a bad note is exactly a cookie Chromium rejects', () => {
  const HEADERS = [
    'plain=1',
    'secure=1; Secure',
    'none=1; SameSite=None',
    'noneSecure=1; SameSite=None; Secure',
    'bogus=1; SameSite=Bogus',
    '__Secure-ok=1; Secure',
    '__Secure-insecure=1',
    '__Host-ok=1; Secure; Path=/',
    '__host-lower=1; Path=/',
    '__Host-path=1; Secure; Path=/x',
    '__Host-domain=1; Secure; Path=/; Domain=localhost',
    'domLocalhost=1; Domain=localhost',
    'domApp=1; Domain=app.localhost',
    'domOther=1; Domain=example.com',
    'domIp=1; Domain=127.0.0.1',
    'domEmpty=1; Domain=',
  ];

  let browser: Browser;
  let server: http.Server;
  let port: number;

  beforeAll(async () => {
    server = http.createServer((_req, res) => res.writeHead(200, { 'set-cookie': HEADERS, 'content-type': 'text/html' }).end('<p>set'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP app.test 127.0.0.1'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test.each(['localhost', 'app.localhost', '127.0.0.1', 'app.test'])('from http://%s', async (hostname) => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`http://${hostname}:${port}/`);
      const stored = new Set((await context.cookies()).map((c) => c.name));
      const actual = HEADERS.map((h) => h.split('=')[0]!).map((name) => `${name}: ${stored.has(name) ? 'stored' : 'rejected'}`);
      const predicted = HEADERS.map((h) => {
        const { name, notes } = annotateSetCookie(h, ctx('http', `${hostname}:${port}`));
        return `${name}: ${notes.some((n) => n.level === 'bad') ? 'rejected' : 'stored'}`;
      });
      expect(actual).toEqual(predicted);
    } finally {
      await context.close();
    }
  });
});
