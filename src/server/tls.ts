// The TLS server behind the HTTPS port: the TLS policy, HTTP/2 through ALPN with its limits, idle
// HTTP/2 sessions closed, and renewed certificates applied to new handshakes.
import crypto from 'node:crypto';
import type http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { SecureContext } from 'node:tls';
import type { CurrentCertificate } from '../certs/current-cert.js';
import type { ResolvedOptions } from '../options.js';
import { MAX_HEADER_BYTES } from './guard.js';

/**
 * TLS 1.3, and TLS 1.2 with ECDHE and AEAD ciphers only (AES-GCM, ChaCha20-Poly1305): no CBC,
 * no CCM, no static RSA key exchange, no client-initiated renegotiation. Every browser, curl,
 * Python and Java of the last ten years negotiates one of these (Mozilla's "intermediate" list).
 */
export const TLS_POLICY = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: false,
  secureOptions: crypto.constants.SSL_OP_NO_RENEGOTIATION,
} as const;

/**
 * HTTP/2 limits: streams per connection as Caddy (nginx: 128), so one connection cannot pin
 * thousands of app connections; header fields enough for a browser's 150 cookies, which it sends
 * as a field each (Node's default of 128 reset such requests).
 */
const HTTP2_SETTINGS = { maxConcurrentStreams: 250 };
const HTTP2_MAX_HEADER_PAIRS = 2000;

/** The timeouts and header limit every HTTP/1 server of dev-https takes. */
export interface ServerTimeouts {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
  maxHeaderSize: number;
}

type TlsOptions = Pick<ResolvedOptions, 'http2' | 'headersTimeout' | 'idleTimeout'>;

/**
 * HTTP/2 through ALPN (browsers open at most 6 HTTP/1.1 connections per host: a page of 300
 * modules queues), HTTP/1.1 for everything else, WebSocket upgrades included.
 */
export function createTlsServer(certificate: CurrentCertificate, opts: TlsOptions, timeouts: ServerTimeouts): http.Server {
  const tls = {
    ...certificate.tlsOptions(),
    ...TLS_POLICY,
    handshakeTimeout: opts.headersTimeout,
    SNICallback: (servername: string, done: (err: Error | null, context?: SecureContext) => void) => {
      const pending = certificate.sniContext(servername);
      if (!pending) return done(null);
      pending.then(
        (context) => done(null, context ?? undefined),
        () => done(null),
      );
    },
  };
  if (!opts.http2) return https.createServer({ ...tls, ...timeouts, keepAliveTimeout: opts.idleTimeout });
  // Its HTTP/1.1 connections take the timeouts from these properties (no constructor options).
  const server = Object.assign(
    http2.createSecureServer({
      ...tls,
      allowHTTP1: true,
      settings: HTTP2_SETTINGS,
      maxHeaderListPairs: HTTP2_MAX_HEADER_PAIRS,
    }) as unknown as http.Server,
    { ...timeouts, keepAliveTimeout: opts.idleTimeout, requireHostHeader: true, maxHeaderSize: MAX_HEADER_BYTES },
  );
  server.on('session', (session: http2.ServerHttp2Session) => closeWhenIdle(session, opts.headersTimeout, opts.idleTimeout));
  return server;
}

/** Renewed or reloaded certificates go to new handshakes; open connections keep theirs. */
export function applyCertificateUpdates(server: http.Server, certificate: CurrentCertificate): Promise<void> {
  return certificate.applyUpdates((secure) =>
    (server as unknown as { setSecureContext(o: object): void }).setSecureContext({ ...secure, ...TLS_POLICY }),
  );
}

/**
 * An HTTP/2 session must open its first stream within the header timeout (Node's covers HTTP/1
 * only), and one without open streams for idleTimeout is closed with GOAWAY, as idle HTTP/1.1
 * connections are: idle sessions cannot pile up. A long stream (SSE) is not idle.
 */
function closeWhenIdle(session: http2.ServerHttp2Session, headersTimeout: number, idleTimeout: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | null = setTimeout(() => session.destroy(), headersTimeout);
  const stop = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  session.on('stream', (stream: http2.ServerHttp2Stream) => {
    stop();
    open++;
    stream.once('close', () => {
      if (--open > 0 || session.closed || session.destroyed) return;
      timer = setTimeout(() => session.close(), idleTimeout);
      timer.unref();
    });
  });
  session.once('close', stop);
}
