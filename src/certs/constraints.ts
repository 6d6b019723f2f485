// The names the local CA may sign for (its X.509 Name Constraints): local names and private
// addresses only, so its key, readable by every process of the user, cannot impersonate a website.
import net from 'node:net';
import { ipBytes, parseCidr } from './der.js';
import { DevHttpsError } from '../errors.js';

/**
 * What every new CA permits. DNS entries permit the name and every name under it (RFC 5280):
 * `localhost` (RFC 6761), `test` (RFC 6761, for development), `internal` (ICANN's private-use
 * name), `home.arpa` (RFC 8375, home networks) and `local` (mDNS, RFC 6762: the names devices on
 * the LAN answer to, which no public site can have). Addresses: loopback, then the ranges no public
 * site has, so a phone on the LAN can be served: RFC 1918, link-local (169.254/16, fe80::/10),
 * shared address space (100.64/10: carrier-grade NAT, Tailscale) and unique-local IPv6.
 */
export const DEFAULT_PERMITTED = [
  'localhost',
  'test',
  'internal',
  'home.arpa',
  'local',
  '127.0.0.0/8',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '169.254.0.0/16',
  '100.64.0.0/10',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
] as const;

/** Whether a CA constrained to `permitted` may sign for `name` (a host name or an IP address). */
export function permits(permitted: readonly string[], name: string): boolean {
  const host = name.toLowerCase().replace(/^\*\./, '');
  if (net.isIP(host)) {
    const bytes = ipBytes(host);
    return permitted.some((entry) => {
      const cidr = parseCidr(entry);
      return cidr !== null && cidr.address.length === bytes.length && bytes.every((b, i) => (b & cidr.mask[i]!) === cidr.address[i]);
    });
  }
  return permitted.some((entry) => !parseCidr(entry) && (host === entry.toLowerCase() || host.endsWith(`.${entry.toLowerCase()}`)));
}

/** The permitted names as a person reads them: `*.test`, `10.0.0.0/8`. */
export function describePermitted(permitted: readonly string[]): string {
  return permitted.map((entry) => (parseCidr(entry) ? entry : entry === 'localhost' ? 'localhost, *.localhost' : `*.${entry}`)).join(', ');
}

/**
 * Parses `--permit`: DNS suffixes (`.company.dev` or `company.dev`) the user adds on purpose. A
 * top-level name alone (`.com`, `.dev`) is refused: it would let the CA sign for a whole
 * public registry.
 */
export function resolvePermit(values: string[]): string[] {
  return [
    ...new Set(
      values.flatMap((value) =>
        value.split(',').map((raw) => {
          const text = raw.trim().toLowerCase().replace(/^\*?\./, '');
          const label = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
          if (!new RegExp(`^${label}(?:\\.${label})*$`).test(text) || text.length > 253) {
            throw new DevHttpsError('E_BAD_OPTION', `Invalid --permit "${raw.trim()}": expected a DNS suffix such as .company.dev`);
          }
          if (!text.includes('.') && !(DEFAULT_PERMITTED as readonly string[]).includes(text)) {
            throw new DevHttpsError('E_BAD_OPTION', `Invalid --permit "${raw.trim()}": a top-level name would let the CA sign for every site under it; name your own domain, e.g. .company.dev`);
          }
          return text;
        }),
      ),
    ),
  ];
}
