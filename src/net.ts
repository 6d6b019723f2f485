// Host names and IP addresses: the Host header's grammar, the one spelling of an IP address that
// URLs (and so Host checks and certificates) use, and the unspecified addresses that mean "every
// address of this machine".
import { isIPv6 } from 'node:net';

/** The one spelling of an IP address that URLs (and so Host checks) use: 0:0::1 is ::1. */
export function canonicalIp(ip: string): string {
  return isIPv6(ip) ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

/** `::ffff:127.0.0.1` (an IPv4 client on a dual-stack socket) is reported as 127.0.0.1. */
export function unmappedAddress(address: string | undefined): string | undefined {
  return address?.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

/** 0.0.0.0 and ::, the listen addresses for every address of this machine (in canonical form). */
export function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

export interface HostHeader {
  /** Lowercased, without IPv6 brackets. */
  hostname: string;
  port: number | null;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * A Host header (RFC 9110 section 7.2) held to what names and addresses can be, stricter than RFC
 * 3986's reg-name with its sub-delims and %-escapes: a DNS name, a dotted-quad IPv4 address or a
 * bracketed IPv6 address, then an optional port. null for anything else: a WHATWG URL parser accepts `a.example,b.localhost`,
 * `x;proto=https;y.localhost`, `user@localhost`, `localhost\\evil.example` or `loca%6Chost`,
 * which apps read differently (Express takes `a.example` from the first, Spring's Forwarded parser
 * `proto=https` from the second).
 */
export function parseHost(value: string): HostHeader | null {
  let hostname: string;
  let rest: string;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end < 0) return null;
    hostname = value.slice(1, end).toLowerCase();
    rest = value.slice(end + 1);
    // A zone (`%eth0`) names an interface of the client's machine, never a host.
    if (hostname.includes('%') || !isIPv6(hostname)) return null;
    hostname = new URL(`http://[${hostname}]`).hostname.slice(1, -1);
  } else {
    const colon = value.indexOf(':');
    hostname = (colon < 0 ? value : value.slice(0, colon)).toLowerCase();
    rest = colon < 0 ? '' : value.slice(colon);
    if (!isHostName(hostname)) return null;
  }
  if (rest === '') return { hostname, port: null };
  if (!/^:\d{1,5}$/.test(rest)) return null;
  const port = Number(rest.slice(1));
  return port <= 65535 ? { hostname, port } : null;
}

/** A DNS name (labels of letters, digits, `-` and `_`, an optional final dot) or a dotted-quad IPv4. */
function isHostName(name: string): boolean {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0 || bare.length > 253) return false;
  const labels = bare.split('.');
  if (!labels.every((label) => LABEL.test(label))) return false;
  // A numeric last label is an address, and only a plain dotted quad is one (not 127.1 or 0x7f.1).
  return !/^\d+$/.test(labels.at(-1)!) || DOTTED_QUAD.test(bare);
}

/** The host name of a Host header (see parseHost), a trailing dot dropped (`localhost.` names localhost); null when invalid. */
export function hostnameOfHost(value: string): string | null {
  return parseHost(value)?.hostname.replace(/\.$/, '') || null;
}
