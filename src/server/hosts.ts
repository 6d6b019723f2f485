// Which Host (and WebSocket Origin) values dev-https answers: its own names only, so a web page
// cannot reach the app through DNS rebinding or a cross-site WebSocket.
import { hostnameOfHost } from '../net.js';
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
  return {
    hostnameOfHostHeader: hostnameOfHost,
    // No Host at all is an HTTP/1.0 client, not a browser page: there is nothing to rebind.
    allowsHost: (host) => {
      if (any || host === undefined) return true;
      // Every request asks, with the same few values: parse each one once (bounded, so a client
      // sending endless different Hosts cannot grow it).
      let allowed = verdicts.get(host);
      if (allowed === undefined) {
        allowed = allowsName(hostnameOfHost(host));
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
