// Each pass of the response head on its own, fed stubs (httpxy's web-outgoing tests), and the
// list's order.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, test } from 'vitest';
import type { Diagnostics, RedirectLoop } from '../../src/proxy/diagnose.js';
import {
  answerLoop,
  diagnose,
  dropConnectionListed,
  dropHopByHop,
  RESPONSE_PASSES,
  rewriteResponseHead,
  rewriteUrls,
  setConnection,
  type ResponseContext,
} from '../../src/proxy/response.js';

const LOOP: RedirectLoop = { urls: ['https://localhost:8443/', 'https://localhost:8443/'], stack: null };

interface Stubs {
  headers?: IncomingHttpHeaders;
  statusCode?: number;
  httpVersionMajor?: number;
  requestHeaders?: IncomingHttpHeaders;
  proto?: 'http' | 'https';
  clientClose?: boolean;
  loop?: RedirectLoop | null;
  inspect?: Diagnostics['inspect'];
}

/** A context of plain objects; `calls` records what the passes did to res and proxyRes. */
function context(stubs: Stubs = {}) {
  const calls: string[] = [];
  const ctx: ResponseContext = {
    req: {
      httpVersionMajor: stubs.httpVersionMajor ?? 1,
      method: 'GET',
      url: '/',
      headers: { host: 'localhost:8443', ...stubs.requestHeaders },
      socket: { remoteAddress: '127.0.0.1' },
    } as unknown as IncomingMessage,
    res: {
      writeHead: (status: number) => {
        calls.push(`writeHead ${status}`);
      },
      end: () => calls.push('end'),
    } as unknown as ServerResponse,
    proxyRes: {
      headers: stubs.headers ?? {},
      statusCode: stubs.statusCode ?? 200,
      resume: () => calls.push('resume'),
    } as unknown as IncomingMessage,
    listener: { proto: stubs.proto ?? 'https', port: 8443, httpsPort: 8443 },
    clientClose: stubs.clientClose ?? false,
    target: { origin: 'http://127.0.0.1:3000', hostname: '127.0.0.1', port: 3000 },
    diagnostics: { inspect: stubs.inspect ?? (() => null) },
    loop: stubs.loop ?? null,
  };
  return { ctx, calls };
}

describe('dropConnectionListed', () => {
  test('removes the headers the app named in Connection, keeps Content-Length', () => {
    const { ctx } = context({
      headers: {
        connection: 'X-Private, Content-Length , x-other',
        'x-private': 'a',
        'x-other': 'b',
        'content-length': '3',
        'x-kept': 'c',
      },
    });
    dropConnectionListed(ctx);
    expect(ctx.proxyRes.headers).toEqual({ connection: 'X-Private, Content-Length , x-other', 'content-length': '3', 'x-kept': 'c' });
  });

  test('without a Connection header nothing goes', () => {
    const { ctx } = context({ headers: { 'x-kept': 'c' } });
    dropConnectionListed(ctx);
    expect(ctx.proxyRes.headers).toEqual({ 'x-kept': 'c' });
  });
});

describe('dropHopByHop', () => {
  test('removes every hop-by-hop header and nothing else', () => {
    const { ctx } = context({
      headers: {
        connection: 'close',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'x',
        'proxy-authorization': 'x',
        te: 'trailers',
        trailer: 'x-t',
        upgrade: 'h2c',
        'transfer-encoding': 'chunked',
        'content-type': 'text/plain',
      },
    });
    dropHopByHop(ctx);
    expect(ctx.proxyRes.headers).toEqual({ 'content-type': 'text/plain' });
  });
});

describe('setConnection', () => {
  test.each<[string, boolean, string]>([
    ['keep-alive for a client that keeps its connection', false, 'keep-alive'],
    ['close for a client that asked to close', true, 'close'],
  ])('HTTP/1: %s', (_what, clientClose, expected) => {
    const { ctx } = context({ clientClose });
    setConnection(ctx);
    expect(ctx.proxyRes.headers.connection).toBe(expected);
  });

  test('HTTP/2: no Connection header, and HTTP2-Settings goes', () => {
    const { ctx } = context({ httpVersionMajor: 2, headers: { 'http2-settings': 'AAMAAABkAAQAAP__' } });
    setConnection(ctx);
    expect(ctx.proxyRes.headers).toEqual({});
  });
});

describe('rewriteUrls', () => {
  test('Location, Content-Location and Refresh to the app point at the listener', () => {
    const { ctx } = context({
      statusCode: 302,
      headers: {
        location: 'http://127.0.0.1:3000/next?a=1',
        'content-location': 'http://localhost:3000/doc',
        refresh: '0; url=http://127.0.0.1:3000/later',
      },
    });
    rewriteUrls(ctx);
    expect(ctx.proxyRes.headers).toEqual({
      location: 'https://localhost:8443/next?a=1',
      'content-location': 'https://localhost:8443/doc',
      refresh: '0; url=https://localhost:8443/later',
    });
  });

  test('relative and foreign URLs are left alone', () => {
    const { ctx } = context({ statusCode: 302, headers: { location: '/next', 'content-location': 'https://example.com/doc' } });
    rewriteUrls(ctx);
    expect(ctx.proxyRes.headers).toEqual({ location: '/next', 'content-location': 'https://example.com/doc' });
  });
});

describe('diagnose', () => {
  test('hands the exchange to the diagnostics and keeps the loop it reports', () => {
    const seen: unknown[] = [];
    const { ctx } = context({
      statusCode: 301,
      headers: { location: '/' },
      proto: 'https',
      inspect: (exchange) => (seen.push(exchange), LOOP),
    });
    diagnose(ctx);
    expect(seen).toEqual([{ req: ctx.req, proto: 'https', statusCode: 301, headers: ctx.proxyRes.headers }]);
    expect(ctx.loop).toBe(LOOP);
  });
});

describe('answerLoop', () => {
  test('a browser in a loop gets the 508 page and the app body is drained', () => {
    const { ctx, calls } = context({ loop: LOOP, requestHeaders: { accept: 'text/html' } });
    expect(answerLoop(ctx)).toBe(true);
    expect(calls).toEqual(['writeHead 508', 'end', 'resume']);
  });

  test.each<[string, RedirectLoop | null, string | undefined]>([
    ['a client that is not a browser', LOOP, '*/*'],
    ['a browser without a loop', null, 'text/html'],
  ])('%s gets the app response', (_what, loop, accept) => {
    const { ctx, calls } = context({ loop, requestHeaders: { accept } });
    expect(answerLoop(ctx)).toBe(false);
    expect(calls).toEqual([]);
  });
});

describe('RESPONSE_PASSES', () => {
  test('run in this order: Connection-listed headers before Connection itself goes', () => {
    expect(RESPONSE_PASSES).toEqual([dropConnectionListed, dropHopByHop, setConnection, rewriteUrls, diagnose, answerLoop]);
  });

  test('rewriteResponseHead runs them all on one head', () => {
    const { ctx } = context({
      headers: { connection: 'x-private', 'x-private': '1', 'keep-alive': 'timeout=5', location: 'http://127.0.0.1:3000/a' },
      statusCode: 201,
    });
    expect(rewriteResponseHead(ctx)).toBe(false);
    expect(ctx.proxyRes.headers).toEqual({ connection: 'keep-alive', location: 'https://localhost:8443/a' });
  });

  test('stops at the pass that answered', () => {
    const { ctx, calls } = context({ requestHeaders: { accept: 'text/html' }, inspect: () => LOOP });
    expect(rewriteResponseHead(ctx)).toBe(true);
    expect(calls).toEqual(['writeHead 508', 'end', 'resume']);
  });
});
