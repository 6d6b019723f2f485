// Requests to the inspector of a dev-https the tests started.
import type http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { InspectedRequest } from '../../src/inspector/types.js';
import type { Started } from '../helpers.js';

/**
 * A request to the inspector's own name on the HTTPS port (its certificate is issued on demand),
 * sent to `address` (a client elsewhere on the network connects to another one; the Host stays).
 */
export function inspectorRequest(
  s: Started,
  path: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string; host?: string; address?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: options.address ?? '127.0.0.1',
        port: s.port,
        servername: 'dev-https.localhost',
        path,
        method: options.method ?? 'GET',
        headers: { host: options.host ?? `dev-https.localhost:${s.port}`, ...options.headers },
        ca: s.ca,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The page's token, read from the page as its script does. */
export async function tokenOf(s: Started): Promise<string> {
  const page = await inspectorRequest(s, '/');
  return /<meta name="dev-https-token" content="([^"]+)"/.exec(page.body)![1]!;
}

/** A raw HTTP/1.1 connection over TLS to the inspector's name, for heads written by hand. */
export function inspectorSocket(s: Started): tls.TLSSocket {
  return tls.connect({ host: '127.0.0.1', port: s.port, servername: 'dev-https.localhost', ca: s.ca, ALPNProtocols: ['http/1.1'] });
}

/** A list line as the inspector sends it: a plain 200 GET over HTTP/2, `fields` changed. */
export function inspectedRequest(id: number, fields: Partial<InspectedRequest> = {}): InspectedRequest {
  return {
    id,
    time: `2026-12-01T12:00:0${id % 10}.250Z`,
    method: 'GET',
    path: '/',
    status: 200,
    durationMs: 12.34,
    listener: 'https',
    protocol: 'h2',
    route: null,
    ws: false,
    answeredBy: 'app',
    redirectFrom: null,
    loop: null,
    flags: [],
    ...fields,
  };
}
