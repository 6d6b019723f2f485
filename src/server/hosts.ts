// Which Host (and WebSocket Origin) values dev-https answers: its own names only, so a web page
// cannot reach the app through DNS rebinding or a cross-site WebSocket.
import net from 'node:net';
import { hostnameOf, isLoopbackName, machineAddresses } from '../options.js';

export interface HostCheck {
  /** True when a request with this Host header may reach the app. */
  allowsHost(host: string | undefined): boolean;
  /** True when a WebSocket with this Origin header may reach the app (absent: not a browser). */
  allowsOrigin(origin: string | undefined): boolean;
  /**
   * The host name of a Host header by its strict grammar (parseHost), lowercased, without port,
   * brackets and a trailing dot; null when not a valid Host. options.ts' hostnameOf parses URLs
   * the WHATWG way instead, which accepts what no Host header should be.
   */
  hostnameOfHostHeader(host: string): string | null;
}

/**
 * Allowed: localhost and *.localhost, loopback addresses, the certificate's names (--name, with
 * wildcards), the addresses dev-https listens on (every address of the machine when it listens on
 * all of them) and --allow-host values; `any` turns the check off.
 */
export function createHostCheck(certNames: string[], listenAddresses: string[], allowHosts: string[]): HostCheck {
  const any = allowHosts.includes('any');
  const exact = new Set<string>([...certNames, ...allowHosts].filter((n) => !n.startsWith('*.')));
  const wildcards = [...certNames, ...allowHosts].filter((n) => n.startsWith('*.')).map((n) => n.slice(1));
  for (const address of listenAddresses) {
    if (address === '0.0.0.0' || address === '::') {
      for (const machineAddress of machineAddresses()) exact.add(machineAddress);
    } else {
      exact.add(address);
    }
  }
  const allowsName = (name: string | null) =>
    name !== null && (isLoopbackName(name) || exact.has(name) || wildcards.some((suffix) => name.endsWith(suffix)));

  const verdicts = new Map<string, boolean>();
  // A trailing dot (`localhost.`) names the same host.
  const normalized = (host: string) => parseHost(host)?.hostname.replace(/\.$/, '') || null;
  return {
    hostnameOfHostHeader: normalized,
    // No Host at all is an HTTP/1.0 client, not a browser page: there is nothing to rebind.
    allowsHost: (host) => {
      if (any || host === undefined) return true;
      // Every request asks, with the same few values: parse each one once (bounded, so a client
      // sending endless different Hosts cannot grow it).
      let allowed = verdicts.get(host);
      if (allowed === undefined) {
        allowed = allowsName(normalized(host));
        if (verdicts.size >= 256) verdicts.clear();
        verdicts.set(host, allowed);
      }
      return allowed;
    },
    allowsOrigin: (origin) => {
      // An Origin is a URL (scheme://host[:port]), so WHATWG parsing is the right one here.
      if (any || origin === undefined) return true;
      try {
        const name = hostnameOf(new URL(origin).host);
        return allowsName(name?.replace(/\.$/, '') || null);
      } catch {
        return false;
      }
    },
  };
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
    if (hostname.includes('%') || !net.isIPv6(hostname)) return null;
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
