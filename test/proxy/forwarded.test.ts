import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { describe, expect, test } from 'vitest';
import { setForwardedHeaders, type ForwardedInfo } from '../../src/proxy/forwarded.js';
import { httpsLocation } from '../../src/proxy/redirect.js';

const HTTPS: ForwardedInfo = { proto: 'https', port: 8443, clientAddress: '127.0.0.1' };

function rewrite(headers: IncomingHttpHeaders, info: ForwardedInfo = HTTPS): IncomingHttpHeaders {
  const copy = { ...headers };
  setForwardedHeaders(copy, info);
  return copy;
}

describe('setForwardedHeaders', () => {
  test.each<[string, IncomingHttpHeaders, ForwardedInfo, IncomingHttpHeaders]>([
    [
      'a plain HTTPS request',
      { host: 'localhost:8443', accept: '*/*' },
      HTTPS,
      {
        host: 'localhost:8443',
        accept: '*/*',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'localhost:8443',
        'x-forwarded-port': '8443',
        'x-forwarded-for': '127.0.0.1',
        forwarded: 'for=127.0.0.1;host="localhost:8443";proto=https',
      },
    ],
    [
      'a plain HTTP request on the HTTP listener',
      { host: 'localhost:8080' },
      { proto: 'http', port: 8080, clientAddress: '127.0.0.1' },
      {
        host: 'localhost:8080',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'localhost:8080',
        'x-forwarded-port': '8080',
        'x-forwarded-for': '127.0.0.1',
        forwarded: 'for=127.0.0.1;host="localhost:8080";proto=http',
      },
    ],
    [
      'spoofed forwarding headers from the client',
      {
        host: 'localhost:8080',
        'x-forwarded-proto': 'https',
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-host': 'bank.example',
        'x-forwarded-port': '443',
        'x-forwarded-ssl': 'on',
        'x-forwarded-prefix': '/admin',
        'x-forwarded-scheme': 'https',
        forwarded: 'for=203.0.113.7;proto=https',
        'x-real-ip': '203.0.113.7',
        'x-client-ip': '203.0.113.7',
        'true-client-ip': '203.0.113.7',
        'front-end-https': 'on',
        'x-url-scheme': 'https',
        'x-forwarded': 'kept: not a header anyone trusts',
      },
      { proto: 'http', port: 8080, clientAddress: '127.0.0.1' },
      {
        host: 'localhost:8080',
        'x-forwarded': 'kept: not a header anyone trusts',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'localhost:8080',
        'x-forwarded-port': '8080',
        'x-forwarded-for': '127.0.0.1',
        forwarded: 'for=127.0.0.1;host="localhost:8080";proto=http',
      },
    ],
    [
      'hop-by-hop headers and headers named in Connection',
      {
        host: 'localhost',
        connection: 'keep-alive, X-Secret , x-other',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        te: 'trailers',
        trailer: 'expires',
        upgrade: 'h2c',
        'x-secret': 'for the proxy only',
        'x-other': '1',
        'x-kept': '2',
      },
      HTTPS,
      {
        host: 'localhost',
        'x-kept': '2',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'localhost',
        'x-forwarded-port': '8443',
        'x-forwarded-for': '127.0.0.1',
        forwarded: 'for=127.0.0.1;host=localhost;proto=https',
      },
    ],
    [
      'Connection: close',
      { host: 'localhost', connection: 'close' },
      HTTPS,
      {
        host: 'localhost',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'localhost',
        'x-forwarded-port': '8443',
        'x-forwarded-for': '127.0.0.1',
        forwarded: 'for=127.0.0.1;host=localhost;proto=https',
      },
    ],
    [
      'a WebSocket upgrade keeps its upgrade, Connection normalized',
      { host: 'localhost:8443', connection: 'keep-alive, Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      HTTPS,
      {
        host: 'localhost:8443',
        connection: 'upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'localhost:8443',
        'x-forwarded-port': '8443',
        'x-forwarded-for': '127.0.0.1',
        forwarded: 'for=127.0.0.1;host="localhost:8443";proto=https',
      },
    ],
    [
      'an IPv6 client is quoted and bracketed in Forwarded',
      { host: '[::1]:8443' },
      { proto: 'https', port: 8443, clientAddress: '::1' },
      {
        host: '[::1]:8443',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': '[::1]:8443',
        'x-forwarded-port': '8443',
        'x-forwarded-for': '::1',
        forwarded: 'for="[::1]";host="[::1]:8443";proto=https',
      },
    ],
    [
      'an IPv4-mapped client address is reported as IPv4',
      { host: 'myapp.test' },
      { proto: 'https', port: 443, clientAddress: '::ffff:127.0.0.1' },
      {
        host: 'myapp.test',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'myapp.test',
        'x-forwarded-port': '443',
        'x-forwarded-for': '127.0.0.1',
        forwarded: 'for=127.0.0.1;host=myapp.test;proto=https',
      },
    ],
    [
      'no Host header and no client address',
      { 'x-forwarded-host': 'evil.example', accept: 'text/html' },
      { proto: 'https', port: 8443, clientAddress: undefined },
      {
        accept: 'text/html',
        'x-forwarded-proto': 'https',
        'x-forwarded-port': '8443',
        forwarded: 'proto=https',
      },
    ],
    [
      'a Host with characters to escape',
      { host: 'a"b\\c' },
      HTTPS,
      {
        host: 'a"b\\c',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'a"b\\c',
        'x-forwarded-port': '8443',
        'x-forwarded-for': '127.0.0.1',
        forwarded: 'for=127.0.0.1;host="a\\"b\\\\c";proto=https',
      },
    ],
  ])('%s', (_label, headers, info, expected) => {
    expect(rewrite(headers, info)).toStrictEqual(expected);
  });

  test('an Upgrade header without "upgrade" in Connection is dropped', () => {
    expect(rewrite({ host: 'localhost', connection: 'keep-alive', upgrade: 'websocket' })).toStrictEqual({
      host: 'localhost',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'localhost',
      'x-forwarded-port': '8443',
      'x-forwarded-for': '127.0.0.1',
      forwarded: 'for=127.0.0.1;host=localhost;proto=https',
    });
  });

  test('"upgrade" in Connection without an Upgrade header sets no connection', () => {
    expect(rewrite({ host: 'localhost', connection: 'upgrade' })).toStrictEqual({
      host: 'localhost',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'localhost',
      'x-forwarded-port': '8443',
      'x-forwarded-for': '127.0.0.1',
      forwarded: 'for=127.0.0.1;host=localhost;proto=https',
    });
  });
});

describe('httpsLocation', () => {
  const req = (host: string | undefined, url: string | undefined) =>
    ({ headers: host === undefined ? {} : { host }, url }) as IncomingMessage;

  test.each<[string | undefined, string | undefined, number, string]>([
    ['localhost:8080', '/', 8443, 'https://localhost:8443/'],
    ['localhost:8080', '/a/b?x=1&y=%20z', 8443, 'https://localhost:8443/a/b?x=1&y=%20z'],
    ['localhost', '/a', 8443, 'https://localhost:8443/a'],
    ['LocalHost:8080', '/a', 8443, 'https://localhost:8443/a'],
    ['myapp.test:8080', '/login', 443, 'https://myapp.test/login'],
    ['[::1]:8080', '/a?b', 9443, 'https://[::1]:9443/a?b'],
    ['127.0.0.1:8080', '/', 9443, 'https://127.0.0.1:9443/'],
    // Absolute-form request target: the Host header still decides the host.
    ['localhost:8080', 'http://elsewhere.test:8080/p?q=1', 8443, 'https://localhost:8443/p?q=1'],
    ['localhost:8080', '*', 8443, 'https://localhost:8443/'],
    ['localhost:8080', undefined, 8443, 'https://localhost:8443/'],
    ['localhost:8080', '//elsewhere.test/x', 8443, 'https://localhost:8443//elsewhere.test/x'],
    [undefined, '/a?b=1', 8443, 'https://fallback.test:8443/a?b=1'],
    ['', '/a', 8443, 'https://fallback.test:8443/a'],
    ['bad host', '/a', 8443, 'https://fallback.test:8443/a'],
    [undefined, '/', 443, 'https://fallback.test/'],
  ])('Host %j, url %j, HTTPS port %i → %s', (host, url, port, expected) => {
    expect(httpsLocation(req(host, url), port, 'fallback.test')).toBe(expected);
  });
});
