// What every trust store file (system, nss, macos, windows, java) gives the caller in trust.ts:
// whether it is on this machine and, per place it can trust the CA, the same four verbs.
import type { CertificateAuthority } from '../certs/ca.js';
import type { StoreName } from '../options.js';
import type { TrustContext } from './tools.js';

/** What the stores need of the CA: its public certificate, never its key. */
export type CaCertificate = Pick<CertificateAuthority, 'cert' | 'certPath' | 'commonName' | 'fingerprint256'>;

/** One place a CA can be trusted: a store, or one database of a store (NSS has several). */
export interface TrustTarget {
  store: StoreName;
  /** e.g. `NSS database ~/.pki/nssdb (Chrome, Chromium)` */
  label: string;
  /** What `add` changes, for the plan printed before acting. */
  change: string;
  /** Set when this store needs root and we are not: the commands run through sudo. */
  sudo: boolean;
  /** Set when the tool this store needs is missing: what to install. */
  missing: string | null;
  isTrusted(): Promise<boolean>;
  add(): Promise<void>;
  /** True when something was removed. */
  remove(): Promise<boolean>;
}

export interface StoreLookup {
  store: StoreName;
  /** Why the store is not on this machine (then `targets` is empty). */
  absent: string | null;
  targets: TrustTarget[];
}

/** A store's lookup: whether it is here, and its targets for `ca`. */
export type FindStore = (ca: CaCertificate, ctx: TrustContext) => StoreLookup | Promise<StoreLookup>;

/** A store that is not on this machine, and why. */
export function absent(store: StoreName, why: string): StoreLookup {
  return { store, absent: why, targets: [] };
}

/** A name for the CA's entries that no other certificate has: its common name and fingerprint. */
export function entryName(ca: CaCertificate): string {
  return `${ca.commonName} ${shortFingerprint(ca)}`;
}

export function shortFingerprint(ca: CaCertificate): string {
  return ca.fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase();
}
