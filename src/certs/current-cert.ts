// The certificate the HTTPS listener serves, kept current while it runs: the leaf signed by the
// local CA (renewed before it expires) or the user's own pair (reloaded when its files change).
// Both are applied with setSecureContext: new connections get the new one, open ones carry on.
import net from 'node:net';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { ensureCA, type CertificateAuthority } from './ca.js';
import { DEFAULT_PERMITTED, describePermitted, permits } from './constraints.js';
import { DevHttpsError } from '../errors.js';
import { certificateNames, createCertificate, DAY_MS, ensureCertificate, type CertificateFiles, loadUserCertificate, RENEW_WITHIN_DAYS, userCertificateWarnings, type UserCertificate, type UserCertificateSpec } from './cert.js';
import type { Logger } from '../logger.js';
import { isHostName, isLocalhostName, type SettingOrigins } from '../options.js';
import type { FileWatcher } from './watch.js';

/** Renewal is checked at least this often: timers stop while a laptop sleeps, the clock does not. */
const RENEWAL_CHECK_MS = 60 * 60 * 1000;
/** Certificates issued on demand for *.localhost names, kept in memory. */
const MAX_ON_DEMAND = 256;

export interface CertificateInfo {
  /** The leaf as PEM (never the key). */
  cert: string;
  certPath: string;
  /** The key file (the .pfx file for --pfx). */
  keyPath: string;
  /** SHA-256 fingerprint, colon-separated hex as openssl prints it. */
  fingerprint256: string;
  validTo: Date;
  /** Names in its subjectAltName. */
  names: string[];
  /** True when this start (or a renewal) generated it, false when a cached or user one is served. */
  generated: boolean;
  /** 'ca': generated and signed by the local CA; 'user': given with --cert/--key or --pfx. */
  source: 'ca' | 'user';
  /** The local CA that signed it (null for a user certificate). */
  ca: { cert: string; certPath: string; commonName: string; fingerprint256: string; validTo: Date; keyPath?: string; permitted?: string[] | null; unconstrained?: boolean } | null;
  /**
   * The file a client should trust: the CA for generated certificates, a self-signed PEM `--cert`
   * itself; null for a certificate issued by a CA of yours (trust that CA) or a .pfx.
   */
  trustPath: string | null;
}

export interface CurrentCertificate {
  info(): CertificateInfo;
  /** Options for the TLS server now. */
  tlsOptions(): SecureContextOptions;
  /**
   * The context for a TLS client's server name (SNI) when the served certificate does not cover
   * it: browsers refuse a `*.localhost` wildcard, so each `*.localhost` name gets its own
   * certificate from the local CA on first use. null: the default context (covered, or not ours to issue).
   */
  sniContext(servername: string): Promise<SecureContext | null> | null;
  /** Starts renewing (a signed leaf) or watching (the user's files); `apply` gets each new certificate. */
  applyUpdates(apply: (tls: SecureContextOptions) => void): Promise<void>;
  close(): Promise<void>;
}

export interface CurrentCertificateOptions {
  certDir: string;
  caRoot: string;
  certNames: string[];
  /** The names asked for (--name or a config's "name"): refused when the CA may not sign them. */
  names?: string[];
  origins?: SettingOrigins;
  userCert: UserCertificateSpec | null;
  logger: Logger;
  /** Whether file modes mean anything (not on Windows: NTFS ACLs). @default process.platform */
  platform?: NodeJS.Platform;
}

export async function loadCurrentCertificate(opts: CurrentCertificateOptions): Promise<CurrentCertificate> {
  return opts.userCert ? currentUserCertificate(opts, opts.userCert) : currentSignedCertificate(opts);
}

interface Signed {
  ca: CertificateAuthority;
  leaf: CertificateFiles;
}

/** The leaf signed by the local CA: issued or reused now, renewed before it expires. */
async function currentSignedCertificate(opts: CurrentCertificateOptions): Promise<CurrentCertificate> {
  const { logger } = opts;
  let served = opts.certNames;
  const issue = async (): Promise<Signed> => {
    const ca = await ensureCA(opts.caRoot, logger, 'serve', opts.platform);
    served = signableNames(ca, opts);
    const leaf = await ensureCertificate(opts.certDir, served, logger, ca, opts.platform);
    return { ca, leaf };
  };
  if (opts.certNames.includes('*.localhost')) {
    logger.warn('--name *.localhost: browsers refuse a wildcard right under localhost; dev-https issues a certificate for each *.localhost name on first use anyway, so it is not needed');
  }
  let signed = await issue();
  const onDemand = onDemandIssuer(new Set(served), () => signed.ca, logger);
  let apply: (tls: SecureContextOptions) => void = () => {};
  const renewal = renewalLoop(() => signed.leaf, issue, logger, (next) => {
    // Applied first: if the TLS server refuses it, the previous pair stays in force and is retried.
    apply({ cert: next.leaf.cert, key: next.leaf.key });
    signed = next;
    onDemand.clear(); // issued by a CA that may have changed, and renewed as a year goes by
    logger.info(`Renewed the certificate ${next.leaf.certPath}: expires ${next.leaf.validTo.toISOString().slice(0, 10)}, SHA-256 ${next.leaf.fingerprint256}`);
  });
  return {
    info: () => signedInfo(signed, served),
    tlsOptions: () => ({ cert: signed.leaf.cert, key: signed.leaf.key }),
    sniContext: onDemand.sniContext,
    applyUpdates: async (applyNext) => {
      apply = applyNext;
      renewal.start();
    },
    close: async () => renewal.stop(),
  };
}

function signedInfo({ ca, leaf }: Signed, served: string[]): CertificateInfo {
  return {
    cert: leaf.cert,
    certPath: leaf.certPath,
    keyPath: leaf.keyPath,
    fingerprint256: leaf.fingerprint256,
    validTo: leaf.validTo,
    names: served,
    generated: leaf.generated,
    source: 'ca',
    ca: caInfo(ca),
    trustPath: ca.certPath,
  };
}

/**
 * Certificates for `*.localhost` names the served one does not cover, issued on first use by the
 * current CA and kept in memory (at most MAX_ON_DEMAND, oldest dropped first).
 */
function onDemandIssuer(covered: Set<string>, signer: () => CertificateAuthority, logger: Logger) {
  const contexts = new Map<string, Promise<SecureContext | null>>();
  const issue = (name: string): Promise<SecureContext | null> =>
    createCertificate([name], { ca: signer() }).then((pair) => createSecureContext(pair)).then(
      (secure) => {
        logger.info(`Issued a certificate for ${name} (from the dev-https CA, kept in memory)`);
        return secure;
      },
      (err: unknown) => {
        contexts.delete(name);
        logger.warn(`Cannot issue a certificate for ${name} (${err instanceof Error ? err.message : String(err)}): serving the default one`);
        return null;
      },
    );
  return {
    sniContext: (servername: string): Promise<SecureContext | null> | null => {
      const name = servername.toLowerCase();
      // The name comes from any TLS client: only a plain host name is signed (and logged).
      if (!isLocalhostName(name) || name === 'localhost' || !isHostName(name) || covers(covered, name)) return null;
      let context = contexts.get(name);
      if (!context) {
        if (contexts.size >= MAX_ON_DEMAND) contexts.delete(contexts.keys().next().value!);
        context = issue(name);
        contexts.set(name, context);
      }
      return context;
    },
    clear: () => contexts.clear(),
  };
}

/**
 * Renews the leaf RENEW_WITHIN_DAYS before it expires, checking at least hourly; a failed renewal
 * (or a renewed pair `renewed` throws on) is retried an hour later. Nothing runs once stopped.
 */
function renewalLoop(leaf: () => CertificateFiles, issue: () => Promise<Signed>, logger: Logger, renewed: (next: Signed) => void) {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const renewAt = () => leaf().validTo.getTime() - RENEW_WITHIN_DAYS * DAY_MS;
  const later = (ms: number) => {
    timer = setTimeout(check, ms);
    timer.unref();
  };
  const schedule = () => {
    if (!stopped) later(Math.max(0, Math.min(renewAt() - Date.now(), RENEWAL_CHECK_MS)));
  };
  const check = () => {
    if (Date.now() < renewAt()) return schedule();
    issue()
      .then((next) => {
        if (stopped) return;
        renewed(next);
        schedule();
      })
      .catch((err: unknown) => {
        logger.warn(`Cannot renew the certificate (${err instanceof Error ? err.message : String(err)}): trying again in an hour`);
        if (!stopped) later(RENEWAL_CHECK_MS);
      });
  };
  return {
    start: schedule,
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** The user's --cert/--key or --pfx: reloaded when its files change. */
async function currentUserCertificate(opts: CurrentCertificateOptions, spec: UserCertificateSpec): Promise<CurrentCertificate> {
  const { logger } = opts;
  const flag = spec.kind === 'pfx' ? '--pfx' : '--cert';
  let current = await loadUserCertificate(spec);
  for (const warning of userCertificateWarnings(current.x509, opts.certNames, flag)) logger.warn(warning);
  let watcher: FileWatcher | null = null;
  const files = spec.kind === 'pfx' ? [spec.pfxPath] : [spec.certPath, spec.keyPath];
  return {
    info: () => userInfo(spec, current),
    tlsOptions: () => current.secure,
    // Your certificate is what is served, whatever the name.
    sniContext: () => null,
    applyUpdates: async (apply) => {
      let loading = Promise.resolve();
      const reload = () => {
        // One reload at a time, in order: the last change wins.
        loading = loading.then(async () => {
          try {
            const next = await loadUserCertificate(spec);
            // What is served, not only the leaf: a chain added after the same leaf is a change.
            if (sameFiles(next.secure, current.secure)) return;
            apply(next.secure);
            current = next;
            logger.info(`Reloaded ${flag} ${files[0]}: SHA-256 ${next.x509.fingerprint256}, expires ${new Date(next.x509.validTo).toISOString().slice(0, 10)}`);
            for (const warning of userCertificateWarnings(next.x509, opts.certNames, flag)) logger.warn(warning);
          } catch (err) {
            logger.warn(`Ignored the changed certificate files (${err instanceof Error ? err.message : String(err)}); still serving the previous certificate`);
          }
        });
      };
      // chokidar is loaded only for a certificate of the user's: a plain start does not pay for it.
      const { watchFiles } = await import('./watch.js');
      watcher = watchFiles(files, reload, (err) =>
        logger.warn(`Cannot watch ${files.join(' and ')} (${err.message}): changes to them are not applied until you restart dev-https`),
      );
      await watcher.ready;
    },
    close: async () => {
      await watcher?.close();
    },
  };
}

function userInfo(spec: UserCertificateSpec, current: UserCertificate): CertificateInfo {
  return {
    cert: current.cert,
    certPath: spec.kind === 'pfx' ? spec.pfxPath : spec.certPath,
    keyPath: spec.kind === 'pfx' ? spec.pfxPath : spec.keyPath,
    fingerprint256: current.x509.fingerprint256,
    validTo: new Date(current.x509.validTo),
    names: certificateNames(current.x509),
    generated: false,
    source: 'user',
    ca: null,
    // Node 20 (and Python before 3.13) refuse a CA-signed leaf as a trust anchor, and no client reads a .pfx as one.
    trustPath: spec.kind === 'pem' && current.x509.subject === current.x509.issuer && current.x509.verify(current.x509.publicKey) ? spec.certPath : null,
  };
}

function sameFiles(a: UserCertificate['secure'], b: UserCertificate['secure']): boolean {
  if ('pfx' in a) return 'pfx' in b && a.pfx.equals(b.pfx);
  return 'cert' in b && a.cert === b.cert && a.key === b.key;
}

/** Whether `names` (wildcards as browsers read them: one label, never right under localhost) cover `name`. */
function covers(names: Set<string>, name: string): boolean {
  if (names.has(name)) return true;
  const dot = name.indexOf('.');
  const parent = name.slice(dot + 1);
  return dot > 0 && parent !== 'localhost' && names.has(`*.${parent}`);
}

function caInfo(ca: CertificateAuthority): CertificateInfo['ca'] {
  return { cert: ca.cert, certPath: ca.certPath, commonName: ca.commonName, fingerprint256: ca.fingerprint256, validTo: ca.validTo, keyPath: ca.keyPath, permitted: ca.permitted, unconstrained: ca.permitted === null };
}

/**
 * The names the leaf can have: `certNames` less this machine's addresses the CA may not sign (a
 * public address of a --host 0.0.0.0 start, left out with a warning). A name asked for that the
 * CA may not sign is an error naming where it came from. A project's config may ask only for
 * local names, whatever the CA: it is code from whoever wrote the repository.
 */
export function signableNames(ca: Pick<CertificateAuthority, 'permitted'>, opts: Pick<CurrentCertificateOptions, 'certNames' | 'names' | 'origins' | 'logger'>): string[] {
  const asked = new Set(opts.names ?? []);
  const origin = opts.origins?.names;
  const permitted = ca.permitted ?? (origin?.fromConfig ? [...DEFAULT_PERMITTED] : null);
  for (const name of asked) {
    if (permitted === null || permits(permitted, name)) continue;
    const parent = !net.isIP(name) && name.includes('.') && !name.startsWith('*.') ? name.slice(name.indexOf('.')) : null;
    if (origin?.fromConfig) {
      throw new DevHttpsError(
        'E_BAD_OPTION',
        `Refused "${name}" from ${origin.label}: a project's config may name only ${describePermitted(permitted)} (a certificate for any other name, trusted by your browsers, could impersonate a real site); remove it from the file${parent ? `, or if ${parent.slice(1)} is your own domain, run dev-https trust --permit ${parent} yourself` : ''}`,
      );
    }
    const label = origin?.label ?? '--name';
    const way = parent
      ? `to serve it, run dev-https trust --permit ${parent} (a new CA that also signs *${parent}, trusted again in place of this one), or serve your own certificate with --cert and --key`
      : 'serve your own certificate with --cert and --key for it';
    throw new DevHttpsError('E_BAD_OPTION', `Invalid ${label} "${name}": the dev-https CA signs only ${describePermitted(permitted)}; ${way}`);
  }
  if (ca.permitted === null) return opts.certNames;
  const left = opts.certNames.filter((n) => !asked.has(n) && !permits(ca.permitted!, n));
  if (left.length) opts.logger.warn(`The certificate leaves out ${left.join(', ')}: the dev-https CA signs only local names and private addresses, so browsers reaching this machine there get a warning`);
  return opts.certNames.filter((n) => !left.includes(n));
}
