import { describe, expect, test } from 'vitest';
import { cookiesSet, parseCookieHeader, parseSetCookie, setCookieHeaders } from '../src/cookies.js';

describe('parseSetCookie', () => {
  test.each([
    ['sessionid=abc; Path=/; Secure; HttpOnly; SameSite=Lax', { name: 'sessionid', secure: true, httpOnly: true, sameSite: 'Lax' }],
    ['csrftoken=x', { name: 'csrftoken', secure: false, httpOnly: false, sameSite: null }],
    [' sid = 1 ;secure;HTTPONLY;samesite=strict', { name: 'sid', secure: true, httpOnly: true, sameSite: 'strict' }],
    ['a=b=c; Path=/secure', { name: 'a', secure: false, httpOnly: false, sameSite: null }],
    ['token=1; Secure=yes', { name: 'token', secure: true, httpOnly: false, sameSite: null }],
  ])('%s', (header, expected) => {
    expect(parseSetCookie(header)).toEqual(expected);
  });
});

test('setCookieHeaders and cookiesSet take one header or several, and none', () => {
  expect(setCookieHeaders({})).toEqual([]);
  expect(setCookieHeaders({ 'set-cookie': ['a=1', 'b=2; Secure'] })).toEqual(['a=1', 'b=2; Secure']);
  expect(cookiesSet({ 'set-cookie': ['a=1', 'b=2; Secure'] }).map((c) => [c.name, c.secure])).toEqual([
    ['a', false],
    ['b', true],
  ]);
});

test.each([
  [undefined, {}],
  ['', {}],
  ['a=1; b = two ;c=x=y', { a: '1', b: 'two', c: 'x=y' }],
  ['=nameless; novalue; d=', { d: '' }],
])('parseCookieHeader(%j)', (header, expected) => {
  expect(parseCookieHeader(header)).toEqual(expected);
});
