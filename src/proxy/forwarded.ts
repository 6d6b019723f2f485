// What the app is told about the original request: X-Forwarded-* and RFC 7239 Forwarded, set by
// us and never taken from the client, plus removal of hop-by-hop headers meant for us alone.
import type { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { unmappedAddress } from '../net.js';

export interface ForwardedInfo {
  /** Scheme the client used to reach dev-https. */
  proto: 'http' | 'https';
  /** Port of the dev-https listener that took the request. */
  port: number;
  /** The client's address as the socket reports it. */
  clientAddress: string | undefined;
}

// Headers some framework trusts to learn the original scheme, host, path or client address. A
// client could send any of them to make a plain-HTTP request look secure or come from elsewhere,
// so every one of them is dropped before ours are set: Rails reads X-Forwarded-Ssl and Client-IP,
// Werkzeug X-Forwarded-Prefix, Tornado (so Jupyter) X-Scheme before X-Forwarded-Proto, IIS and
// Symfony X-Original-URL and X-Rewrite-URL, CDNs' own (CloudFront-Forwarded-Proto,
// CF-Connecting-IP, CF-Visitor, Fastly-Client-IP), and the rest of the usual suspects.
export const CLIENT_CONTROLLED_HEADERS: readonly string[] = [
  'forwarded',
  'x-forwarded-*',
  'x-original-*',
  'x-rewrite-url',
  'x-real-ip',
  'x-client-ip',
  'client-ip',
  'true-client-ip',
  'x-cluster-client-ip',
  'cf-connecting-ip',
  'cf-visitor',
  'fastly-client-ip',
  'cloudfront-forwarded-proto',
  'front-end-https',
  'x-url-scheme',
  'x-scheme',
  'x-proto',
  'x-https',
  'https',
  'x-arr-ssl',
  'x-host',
  'x-proxyuser-ip',
  'proxy-client-ip',
  'wl-proxy-client-ip',
  // The path prefix the app is mounted at (Flask's ReverseProxied recipe reads X-Script-Name).
  'x-script-name',
  'script-name',
];
const CLIENT_CONTROLLED = new RegExp(`^(${CLIENT_CONTROLLED_HEADERS.map((h) => h.replace('*', '.*')).join('|')})$`);
/** Whether a client's header (lower case) is one dev-https drops as spoofable; `_` and `.` count as `-`. */
export const isClientControlled = (name: string): boolean => CLIENT_CONTROLLED.test(name.replace(/[_.]/g, '-'));
/** Headers about one connection, never passed on, in either direction (the proxy frames bodies itself). */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
  'transfer-encoding',
]);
/**
 * What a `Connection` header may never remove: Content-Length (a client naming it there sent its
 * body unframed; the proxy sets the framing itself, see requestFraming) and Host, which the app
 * routes by.
 */
const NEVER_LISTED = new Set(['content-length', 'host']);

/** Rewrites `headers` in place into what the app receives. */
export function setForwardedHeaders(headers: IncomingHttpHeaders, info: ForwardedInfo): void {
  const connection = String(headers.connection ?? '').toLowerCase();
  const listed = connection
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const upgrade = listed.includes('upgrade') && headers.upgrade !== undefined ? headers.upgrade : undefined;
  for (const name of Object.keys(headers)) {
    // X_Forwarded_Proto and X.Forwarded.Proto too: some app servers map `_`, `.` and `-` to the same variable (CVE-2024-45614).
    if (isClientControlled(name) || HOP_BY_HOP.has(name) || (listed.includes(name) && !NEVER_LISTED.has(name))) delete headers[name];
  }
  // The pooled connection to the app is ours to keep alive; only a protocol upgrade passes through.
  if (upgrade !== undefined) {
    headers.connection = 'upgrade';
    headers.upgrade = upgrade;
  }
  const client = unmappedAddress(info.clientAddress);
  const host = headers.host;
  headers['x-forwarded-proto'] = info.proto;
  if (host) headers['x-forwarded-host'] = host;
  headers['x-forwarded-port'] = String(info.port);
  if (client) headers['x-forwarded-for'] = client;
  const forwarded = [];
  if (client) forwarded.push(`for=${net.isIPv6(client) ? `"[${client}]"` : client}`);
  if (host) forwarded.push(`host=${quote(host)}`);
  forwarded.push(`proto=${info.proto}`);
  headers.forwarded = forwarded.join(';');
}

/** RFC 7239 values that are not a plain token (a host with a port has a colon) are quoted. */
function quote(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}
