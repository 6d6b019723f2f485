// check's rules, each alone: ratePath over stub replies, no server.
import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, test } from 'vitest';
import { ratePath, type CheckItem, type Reply } from '../../src/check/check.js';

const HTTPS = 'https://localhost:8443';
const reply = (url: string, status: number, headers: IncomingHttpHeaders = {}, body = ''): Reply => ({ url, status, headers, body });
const redirectToHttps = reply('http://localhost:8080/', 308, { location: `${HTTPS}/` });
const GOOD_PAGE_HEADERS: IncomingHttpHeaders = {
  'content-type': 'text/html; charset=utf-8',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
};
const item = (items: CheckItem[], id: CheckItem['id']) => items.find((i) => i.id === id);

test('a page that gets everything right: every rule passes, in the report order, without fixes', () => {
  const items = ratePath('/', redirectToHttps, [reply(`${HTTPS}/`, 200, GOOD_PAGE_HEADERS, '<p>hi</p>')], HTTPS, null);
  expect(items.map((i) => [i.id, i.status])).toEqual([
    ['redirect', 'pass'],
    ['loop', 'pass'],
    ['hsts', 'pass'],
    ['cookies-secure', 'info'],
    ['nosniff', 'pass'],
    ['clickjacking', 'pass'],
    ['referrer-policy', 'pass'],
    ['mixed-content', 'pass'],
    ['version-headers', 'pass'],
  ]);
  expect(items.every((i) => i.fix === '' && i.path === '/')).toBe(true);
});

describe('redirect', () => {
  test.each([
    [reply('http://localhost:8080/', 200), 'fail', 'http:// answers 200 without redirecting to HTTPS'],
    [
      reply('http://localhost:8080/', 301, { location: 'https://localhost/' }),
      'fail',
      '301 to https://localhost/, not to https://localhost:8443/',
    ],
    [reply('http://localhost:8080/', 301, { location: `${HTTPS}/` }), 'pass', `301 to ${HTTPS}/`],
  ])('%#: %s', (overHttp, status, detail) => {
    const redirect = item(ratePath('/', overHttp, [reply(`${HTTPS}/`, 200, GOOD_PAGE_HEADERS)], HTTPS, 'django'), 'redirect')!;
    expect([redirect.status, redirect.detail, redirect.essential]).toEqual([status, detail, true]);
    expect(redirect.fix).toBe(status === 'fail' ? 'SECURE_SSL_REDIRECT = True (with SECURE_PROXY_SSL_HEADER set)' : '');
  });
});

test("a loop fails with the stack's proxy-header fix, leaves HSTS unrated and rates no page", () => {
  const chain = [reply(`${HTTPS}/`, 301, { location: `${HTTPS}/` }), reply(`${HTTPS}/`, 301, { location: `${HTTPS}/` })];
  const items = ratePath('/', redirectToHttps, chain, HTTPS, 'express');
  expect(items.map((i) => [i.id, i.status])).toEqual([
    ['redirect', 'pass'],
    ['loop', 'fail'],
    ['hsts', 'info'],
    ['cookies-secure', 'info'],
    ['page', 'info'],
  ]);
  expect(item(items, 'loop')!.fix).toBe("Express: app.set('trust proxy', 'loopback')");
  expect(item(items, 'page')!.detail).toContain('(the redirects loop)');
});

test.each([
  [undefined, 'fail'],
  ['max-age=300; includeSubDomains', 'warn'],
  ['max-age=31536000', 'warn'],
  ['max-age="63072000"; includeSubDomains; preload', 'pass'],
])('HSTS %s: %s', (hsts, status) => {
  const headers = { ...GOOD_PAGE_HEADERS, 'strict-transport-security': hsts };
  expect(item(ratePath('/', redirectToHttps, [reply(`${HTTPS}/`, 200, headers)], HTTPS, null), 'hsts')!.status).toBe(status);
});

test('cookies: names and attributes of the session and CSRF cookies, from the redirects too', () => {
  const chain = [
    reply(`${HTTPS}/`, 302, { location: `${HTTPS}/home`, 'set-cookie': ['sessionid=s; Secure; SameSite=Lax'] }),
    reply(`${HTTPS}/home`, 200, { ...GOOD_PAGE_HEADERS, 'set-cookie': ['csrftoken=c; SameSite=Lax', 'theme=dark'] }),
  ];
  const items = ratePath('/', redirectToHttps, chain, HTTPS, 'django');
  expect(item(items, 'cookies-secure')).toMatchObject({ status: 'fail', detail: 'not Secure: csrftoken', essential: true });
  expect(item(items, 'cookies-httponly')).toMatchObject({ status: 'warn', detail: 'readable by scripts: sessionid', essential: false });
  expect(item(items, 'cookies-samesite')).toMatchObject({ status: 'pass', detail: 'sessionid: Lax, csrftoken: Lax' });
});

test('no session cookie on a stack with a login page: the hint names it', () => {
  const items = ratePath('/', redirectToHttps, [reply(`${HTTPS}/`, 200, GOOD_PAGE_HEADERS)], HTTPS, 'rails');
  expect(item(items, 'cookies-secure')!.detail).toBe("no cookies set on /; try Devise's sign-in page with --path /users/sign_in");
});

test("page rules: missing headers warn, active mixed content fails, a version header warns with the stack's fix", () => {
  const page = reply(
    `${HTTPS}/`,
    200,
    { 'content-type': 'text/html', 'x-powered-by': 'Express', 'strict-transport-security': 'max-age=31536000; includeSubDomains' },
    '<script src="http://cdn.example/x.js"></script>',
  );
  const items = ratePath('/', redirectToHttps, [page], HTTPS, 'express');
  expect(
    ['nosniff', 'clickjacking', 'referrer-policy', 'mixed-content', 'version-headers'].map(
      (id) => item(items, id as CheckItem['id'])!.status,
    ),
  ).toEqual(['warn', 'warn', 'warn', 'fail', 'warn']);
  expect(item(items, 'version-headers')).toMatchObject({ detail: 'x-powered-by: Express', fix: "app.disable('x-powered-by')" });
  expect(item(items, 'mixed-content')!.detail).toBe('http:// subresources: <script> http://cdn.example/x.js');
});

test("not HTML: mixed content is info; a development server's Server header is info", () => {
  const page = reply(`${HTTPS}/`, 200, { ...GOOD_PAGE_HEADERS, 'content-type': 'application/json', server: 'WSGIServer/0.2 CPython/3.12' });
  const items = ratePath('/', redirectToHttps, [page], HTTPS, 'django');
  expect(item(items, 'mixed-content')).toMatchObject({ status: 'info', detail: 'not HTML (application/json)' });
  expect(item(items, 'version-headers')!.status).toBe('info');
});
