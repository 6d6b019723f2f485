// The diagnostics as pure functions: stack detection, the order of the fixes, mixed content, and
// createDiagnostics fed request/response pairs (loops, HSTS on shared dev names, cookie warnings).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { describe, expect, test } from 'vitest';
import { findMixedContent } from '../../src/check/check.js';
import { createDiagnostics, describeLoop, type Exchange } from '../../src/proxy/diagnose.js';
import { detectStack, fixesFor, PROXY_HEADER_FIXES, type Stack } from '../../src/stacks.js';
import { captureLogger } from '../helpers.js';

const ALL_STACKS: Stack[] = ['django', 'express', 'rails', 'flask', 'laravel', 'spring'];

describe('detectStack', () => {
  test.each<[string, IncomingHttpHeaders, Stack | null]>([
    ['Server: WSGIServer/0.2 (Django runserver)', { server: 'WSGIServer/0.2 CPython/3.11.2' }, 'django'],
    ['a csrftoken cookie', { 'set-cookie': ['csrftoken=abc; Path=/'] }, 'django'],
    ['a sessionid cookie', { server: 'nginx', 'set-cookie': ['sessionid=abc; HttpOnly'] }, 'django'],
    ['Server: Werkzeug', { server: 'Werkzeug/3.0.1 Python/3.11.2' }, 'flask'],
    ['X-Powered-By: Express', { 'x-powered-by': 'Express' }, 'express'],
    ['a connect.sid cookie', { 'set-cookie': ['connect.sid=s%3Aabc.def; Path=/; HttpOnly'] }, 'express'],
    ['a laravel_session cookie', { 'set-cookie': ['XSRF-TOKEN=x; path=/', 'laravel_session=abc; path=/; httponly'] }, 'laravel'],
    ['X-Powered-By: PHP', { 'x-powered-by': 'PHP/8.3.1' }, 'laravel'],
    ['X-Runtime', { 'x-runtime': '0.012345' }, 'rails'],
    ['a _myapp_session cookie', { 'set-cookie': ['_myapp_session=abc; path=/; HttpOnly'] }, 'rails'],
    ['Server: Puma', { server: 'Puma 6.4.2' }, 'rails'],
    ['a JSESSIONID cookie', { 'set-cookie': ['JSESSIONID=ABC123; Path=/; HttpOnly'] }, 'spring'],
    ['Server: Apache Tomcat', { server: 'Apache-Coyote/1.1 Tomcat' }, 'spring'],
    ['nothing telling', { server: 'nginx/1.25.3', 'content-type': 'text/html', 'set-cookie': ['theme=dark'] }, null],
    ['no headers at all', {}, null],
  ])('%s → %s', (_what, headers, expected) => {
    expect(detectStack(headers)).toBe(expected);
  });
});

describe('fixesFor', () => {
  test('PROXY_HEADER_FIXES lists every stack once, in this order', () => {
    expect(PROXY_HEADER_FIXES.map((f) => f.stack)).toEqual(ALL_STACKS);
  });

  test.each<[Stack | null, Stack[]]>([
    ['django', ['django', 'express', 'rails', 'flask', 'laravel', 'spring']],
    ['express', ['express', 'django', 'rails', 'flask', 'laravel', 'spring']],
    ['rails', ['rails', 'django', 'express', 'flask', 'laravel', 'spring']],
    ['flask', ['flask', 'django', 'express', 'rails', 'laravel', 'spring']],
    ['laravel', ['laravel', 'django', 'express', 'rails', 'flask', 'spring']],
    ['spring', ['spring', 'django', 'express', 'rails', 'flask', 'laravel']],
    [null, ['django', 'express', 'rails', 'flask', 'laravel', 'spring']],
  ])('%s: detected first, the rest in PROXY_HEADER_FIXES order', (stack, expected) => {
    expect(fixesFor(stack).map((f) => f.stack)).toEqual(expected);
  });

  test('does not reorder PROXY_HEADER_FIXES itself', () => {
    fixesFor('spring');
    expect(PROXY_HEADER_FIXES.map((f) => f.stack)).toEqual(ALL_STACKS);
  });
});

describe('findMixedContent', () => {
  test.each<[string, string, Array<{ tag: string; url: string; active: boolean }>]>([
    [
      'script',
      '<script src="http://cdn.example.com/app.js"></script>',
      [{ tag: 'script', url: 'http://cdn.example.com/app.js', active: true }],
    ],
    [
      'iframe',
      "<iframe width=300 src='http://example.com/embed'></iframe>",
      [{ tag: 'iframe', url: 'http://example.com/embed', active: true }],
    ],
    [
      'stylesheet link',
      '<link rel="stylesheet" href="http://example.com/s.css">',
      [{ tag: 'link', url: 'http://example.com/s.css', active: true }],
    ],
    ['form', '<form method="post" action="http://example.com/login">', [{ tag: 'form', url: 'http://example.com/login', active: true }]],
    [
      'upper-case tag',
      '<SCRIPT SRC="http://example.com/a.js"></SCRIPT>',
      [{ tag: 'script', url: 'http://example.com/a.js', active: true }],
    ],
    [
      'img (passive)',
      '<img alt="logo" src="http://example.com/logo.png">',
      [{ tag: 'img', url: 'http://example.com/logo.png', active: false }],
    ],
    ['https script', '<script src="https://cdn.example.com/app.js"></script>', []],
    ['relative script and img', '<script src="/static/app.js"></script><img src="logo.png">', []],
    ['protocol-relative script', '<script src="//cdn.example.com/app.js"></script>', []],
    ['a plain link', '<a href="http://example.com/">elsewhere</a>', []],
    ['https stylesheet link', '<link rel="stylesheet" href="https://example.com/s.css">', []],
    [
      'several, in document order',
      '<img src="http://a.test/i.png"><a href="http://a.test/">x</a><script src="http://a.test/s.js"></script>',
      [
        { tag: 'img', url: 'http://a.test/i.png', active: false },
        { tag: 'script', url: 'http://a.test/s.js', active: true },
      ],
    ],
  ])('%s', (_what, html, expected) => {
    expect(findMixedContent(html)).toEqual(expected);
  });
});

// Only links the page loads are subresources: rel=canonical, alternate, preconnect... are not.
test.each([
  ['canonical', '<link rel="canonical" href="http://example.com/page">'],
  ['alternate', '<link rel="alternate" hreflang="de" href="http://example.com/de/">'],
])('findMixedContent: <link rel="%s" href="http://..."> is not mixed content', (_rel, html) => {
  expect(findMixedContent(html)).toEqual([]);
});

/** Just what createDiagnostics reads of a request. */
function fakeReq(method: string, url: string, host = 'localhost:8443', remoteAddress = '127.0.0.1'): IncomingMessage {
  return { method, url, headers: { host }, socket: { remoteAddress } } as unknown as IncomingMessage;
}

function redirect(
  req: IncomingMessage,
  location: string,
  proto: Exchange['proto'] = 'https',
  statusCode = 302,
  extra: IncomingHttpHeaders = {},
): Exchange {
  return { req, proto, statusCode, headers: { location, ...extra } };
}

const warnings = (logger: ReturnType<typeof captureLogger>) => logger.lines.filter((l) => l.startsWith('warn: '));

describe('createDiagnostics: redirect loops', () => {
  test('a redirect to the same URL is a loop on the first response', () => {
    const logger = captureLogger();
    const d = createDiagnostics(logger, false);
    const loop = d.inspect(
      redirect(fakeReq('GET', '/'), 'https://localhost:8443/', 'https', 301, { server: 'WSGIServer/0.2 CPython/3.11.2' }),
    );
    expect(loop).toEqual({ urls: ['https://localhost:8443/', 'https://localhost:8443/'], stack: 'django' });
    expect(warnings(logger)).toEqual([`warn: ${describeLoop(loop!)}`]);
  });

  test('a relative Location to the same path is a loop too', () => {
    const d = createDiagnostics(captureLogger(), false);
    expect(d.inspect(redirect(fakeReq('GET', '/x?a=1'), '/x?a=1'))).toEqual({
      urls: ['https://localhost:8443/x?a=1', 'https://localhost:8443/x?a=1'],
      stack: null,
    });
  });

  test('a two-step GET cycle A → B, B → A is detected on the second redirect', () => {
    const logger = captureLogger();
    const d = createDiagnostics(logger, false);
    expect(d.inspect(redirect(fakeReq('GET', '/a'), 'https://localhost:8443/b'))).toBeNull();
    expect(warnings(logger)).toEqual([]);
    expect(d.inspect(redirect(fakeReq('GET', '/b'), '/a'))).toEqual({
      urls: ['https://localhost:8443/b', 'https://localhost:8443/a', 'https://localhost:8443/b'],
      stack: null,
    });
    expect(warnings(logger)).toEqual([
      `warn: ${describeLoop({ urls: ['https://localhost:8443/b', 'https://localhost:8443/a', 'https://localhost:8443/b'], stack: null })}`,
    ]);
    expect(warnings(logger)[0]).toContain(
      'the app keeps redirecting: https://localhost:8443/b → https://localhost:8443/a → https://localhost:8443/b.',
    );
  });

  test('each client has its own redirects: A → B from one address and B → A from another is no loop', () => {
    const d = createDiagnostics(captureLogger(), false);
    expect(d.inspect(redirect(fakeReq('GET', '/a', 'localhost:8443', '127.0.0.1'), '/b'))).toBeNull();
    expect(d.inspect(redirect(fakeReq('GET', '/b', 'localhost:8443', '::1'), '/a'))).toBeNull();
  });

  test('POST → 303 and then a GET redirecting back to the form is a login flow, not a loop', () => {
    const logger = captureLogger();
    const d = createDiagnostics(logger, false);
    expect(d.inspect(redirect(fakeReq('POST', '/login'), '/home', 'https', 303))).toBeNull();
    expect(d.inspect(redirect(fakeReq('GET', '/home'), '/login', 'https', 302))).toBeNull();
    expect(d.inspect({ req: fakeReq('GET', '/login'), proto: 'https', statusCode: 200, headers: {} })).toBeNull();
    expect(warnings(logger)).toEqual([]);
  });

  // A served page clears the client's earlier redirects away from it: an ordinary login flow
  // (Laravel's auth/guest middleware, Devise: the intended URL kept in the session) is no loop.
  test('GET /home → /login (signed out), /login served, POST /login → /home, /home served, GET /login → /home (signed in) is no loop', () => {
    const logger = captureLogger();
    const d = createDiagnostics(logger, false);
    expect(d.inspect(redirect(fakeReq('GET', '/home'), '/login'))).toBeNull();
    expect(d.inspect({ req: fakeReq('GET', '/login'), proto: 'https', statusCode: 200, headers: {} })).toBeNull();
    expect(d.inspect(redirect(fakeReq('POST', '/login'), '/home', 'https', 302))).toBeNull();
    expect(d.inspect({ req: fakeReq('GET', '/home'), proto: 'https', statusCode: 200, headers: {} })).toBeNull();
    expect(d.inspect(redirect(fakeReq('GET', '/login'), '/home'))).toBeNull();
    expect(warnings(logger)).toEqual([]);
  });

  test('redirects on the HTTP listener are never loops (the app redirects http:// on purpose)', () => {
    const logger = captureLogger();
    const d = createDiagnostics(logger, false);
    for (let i = 0; i < 3; i++) {
      expect(d.inspect(redirect(fakeReq('GET', '/', 'localhost:8080'), 'http://localhost:8080/', 'http', 301))).toBeNull();
      expect(d.inspect(redirect(fakeReq('GET', '/', 'localhost:8080'), 'https://localhost:8443/', 'http', 301))).toBeNull();
      // Not rewritten (yet) to the HTTPS port: the same URL but for the scheme.
      expect(d.inspect(redirect(fakeReq('GET', '/', 'localhost:8080'), 'https://localhost:8080/', 'http', 301))).toBeNull();
      expect(d.inspect(redirect(fakeReq('GET', '/', 'localhost:8080'), '/', 'http', 302))).toBeNull();
    }
    expect(warnings(logger)).toEqual([]);
  });

  test('a non-redirect status with a Location is no loop', () => {
    const d = createDiagnostics(captureLogger(), false);
    expect(d.inspect(redirect(fakeReq('GET', '/'), 'https://localhost:8443/', 'https', 201))).toBeNull();
  });

  test('the warning is logged once however often the loop comes back', () => {
    const logger = captureLogger();
    const d = createDiagnostics(logger, false);
    for (let i = 0; i < 5; i++) {
      expect(d.inspect(redirect(fakeReq('GET', '/'), 'https://localhost:8443/', 'https', 301))).toEqual({
        urls: ['https://localhost:8443/', 'https://localhost:8443/'],
        stack: null,
      });
    }
    expect(d.inspect(redirect(fakeReq('GET', '/other'), '/other'))).not.toBeNull();
    expect(warnings(logger)).toHaveLength(1);
    expect(logger.lines).toHaveLength(1);
  });

  test('describeLoop for a Django loop: what happened, why, and every fix with Django first', () => {
    expect(describeLoop({ urls: ['https://localhost:8443/', 'https://localhost:8443/'], stack: 'django' })).toBe(
      'redirect loop: the app answered https://localhost:8443/ with a redirect to that same URL. ' +
        'It does not believe the request came over HTTPS, because it does not trust the X-Forwarded-Proto: https header that dev-https sets. ' +
        'Tell it to trust dev-https (only ever set this behind a proxy that sets the header itself, as dev-https does):\n' +
        '    Django (detected): settings.py: SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")\n' +
        "    Express: app.set('trust proxy', 'loopback')\n" +
        '    Rails: config/environments/development.rb: config.assume_ssl = true  (Rails 7.1+)\n' +
        '    Flask/Werkzeug: app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)  (from werkzeug.middleware.proxy_fix import ProxyFix)\n' +
        "    Laravel: bootstrap/app.php: $middleware->trustProxies(at: '127.0.0.1');  (Laravel 10 and older: $proxies in App\\Http\\Middleware\\TrustProxies)\n" +
        '    Spring Boot: application.properties: server.forward-headers-strategy=native',
    );
  });

  test('describeLoop without a detected stack marks none as detected', () => {
    const text = describeLoop({ urls: ['https://localhost:8443/a', 'https://localhost:8443/b', 'https://localhost:8443/a'], stack: null });
    expect(
      text.startsWith(
        'redirect loop: the app keeps redirecting: https://localhost:8443/a → https://localhost:8443/b → https://localhost:8443/a. It does not believe',
      ),
    ).toBe(true);
    expect(text).not.toContain('(detected)');
    expect(
      text
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(':')[0]),
    ).toEqual(['Django', 'Express', 'Rails', 'Flask/Werkzeug', 'Laravel', 'Spring Boot']);
  });
});

const HSTS = 'max-age=31536000; includeSubDomains';
const hstsWarning = (hostname: string) =>
  `warn: removed the app's Strict-Transport-Security header for ${hostname}: browsers apply HSTS to a host name on every port, so it would force HTTPS on every other app you open on ${hostname}. Pass --keep-hsts to test it anyway.`;

describe('createDiagnostics: HSTS', () => {
  test.each([
    ['localhost:8443', 'localhost'],
    ['LOCALHOST:8443', 'localhost'],
    ['127.0.0.1:8443', '127.0.0.1'],
    ['[::1]:8443', '::1'],
    ['myapp.localhost:8443', 'myapp.localhost'],
    ['myapp.test:8443', 'myapp.test'],
    ['localhost', 'localhost'],
  ])('removed for Host %s, with one warning naming %s', (host, hostname) => {
    const logger = captureLogger();
    const d = createDiagnostics(logger, false);
    for (let i = 0; i < 3; i++) {
      const headers: IncomingHttpHeaders = { 'strict-transport-security': HSTS, 'content-type': 'text/html' };
      expect(d.inspect({ req: fakeReq('GET', '/', host), proto: 'https', statusCode: 200, headers })).toBeNull();
      expect(headers).toEqual({ 'content-type': 'text/html' });
    }
    expect(logger.lines).toEqual([hstsWarning(hostname)]);
  });

  test.each([['example.com:8443'], ['myapp.example.com'], ['192.168.1.10:8443'], ['testing.dev:8443']])(
    'kept for Host %s, without a warning',
    (host) => {
      const logger = captureLogger();
      const headers: IncomingHttpHeaders = { 'strict-transport-security': HSTS };
      createDiagnostics(logger, false).inspect({ req: fakeReq('GET', '/', host), proto: 'https', statusCode: 200, headers });
      expect(headers).toEqual({ 'strict-transport-security': HSTS });
      expect(logger.lines).toEqual([]);
    },
  );

  test('kept on localhost with keepHsts, without a warning', () => {
    const logger = captureLogger();
    const headers: IncomingHttpHeaders = { 'strict-transport-security': HSTS };
    createDiagnostics(logger, true).inspect({ req: fakeReq('GET', '/'), proto: 'https', statusCode: 200, headers });
    expect(headers).toEqual({ 'strict-transport-security': HSTS });
    expect(logger.lines).toEqual([]);
  });
});

describe('createDiagnostics: cookies over the HTTP listener', () => {
  const SECRETS = ['s3cr3t-session-value', 'h0st-cookie-value', 's3cure-prefix-value', 'plain-value'];
  const setCookie = [
    `sessionid=${SECRETS[0]}; HttpOnly; Path=/; SameSite=Lax; Secure`,
    `__Host-id=${SECRETS[1]}; Path=/; Secure`,
    `__Secure-token=${SECRETS[2]}; Path=/; secure`,
    `theme=${SECRETS[3]}; Path=/`,
  ];

  test('one warning per kind, naming the cookie, never its value, however often it is set', () => {
    const logger = captureLogger();
    const d = createDiagnostics(logger, false);
    for (let i = 0; i < 3; i++) {
      d.inspect({ req: fakeReq('GET', '/', 'localhost:8080'), proto: 'http', statusCode: 200, headers: { 'set-cookie': [...setCookie] } });
    }
    expect(logger.lines).toEqual([
      'warn: the app set the Secure cookie sessionid over plain HTTP (http://localhost:8080): Chrome and Firefox accept that from localhost, other browsers drop it (no session, CSRF failures). Use the HTTPS URL.',
      'warn: the app set the cookie __Host-id over plain HTTP (http://localhost:8080): browsers reject __Host- and __Secure- cookies that do not come over HTTPS. Use the HTTPS URL.',
      'warn: the app set the cookie __Secure-token over plain HTTP (http://localhost:8080): browsers reject __Host- and __Secure- cookies that do not come over HTTPS. Use the HTTPS URL.',
    ]);
    for (const line of logger.lines) for (const secret of SECRETS) expect(line).not.toContain(secret);
  });

  test('cookies without Secure over HTTP, and any cookie over HTTPS, warn about nothing', () => {
    const logger = captureLogger();
    const d = createDiagnostics(logger, false);
    d.inspect({
      req: fakeReq('GET', '/', 'localhost:8080'),
      proto: 'http',
      statusCode: 200,
      headers: { 'set-cookie': ['sessionid=abc; HttpOnly; Path=/', 'csrftoken=def; Path=/; SameSite=Lax'] },
    });
    d.inspect({ req: fakeReq('GET', '/'), proto: 'https', statusCode: 200, headers: { 'set-cookie': [...setCookie] } });
    expect(logger.lines).toEqual([]);
  });

  test('a cookie value containing "Secure" is not the Secure attribute', () => {
    const logger = captureLogger();
    createDiagnostics(logger, false).inspect({
      req: fakeReq('GET', '/', 'localhost:8080'),
      proto: 'http',
      statusCode: 200,
      headers: { 'set-cookie': ['pref=Secure; Path=/'] },
    });
    expect(logger.lines).toEqual([]);
  });
});
