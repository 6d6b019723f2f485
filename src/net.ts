// IP address spelling: the one form URLs (and so Host checks and certificates) use, and the
// unspecified addresses that mean "every address of this machine".
import { isIPv6 } from 'node:net';

/** The one spelling of an IP address that URLs (and so Host checks) use: 0:0::1 is ::1. */
export function canonicalIp(ip: string): string {
  return isIPv6(ip) ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

/** 0.0.0.0 and ::, the listen addresses for every address of this machine (in canonical form). */
export function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}
