// The development certificate: a P-256 key and a certificate (der.ts) signed by the user's local CA
// (ca.ts), cached in the cert dir with safe file modes, and reused only while it is sound (parses,
// matches its key, was issued by the current CA, names exactly what is served, is not about to
// expire). Also the file helpers the CA store shares.
import { X509Certificate, createPrivateKey, generateKeyPair, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { encodeCertificate, type CertificateSpec } from './der.js';
import { DevHttpsError, errnoCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { canonicalIp } from '../net.js';

export const CERT_FILE = 'cert.pem';
export const KEY_FILE = 'key.pem';
/** Apple's platforms refuse TLS leaves valid for more than 825 days, whatever their CA; a year is plenty. */
export const VALIDITY_DAYS = 365;
export const RENEW_WITHIN_DAYS = 30;
export const DAY_MS = 24 * 60 * 60 * 1000;

export interface CertificateFiles {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
  /** SHA-256 fingerprint, colon-separated hex as openssl prints it. */
  fingerprint256: string;
  validTo: Date;
  /** True when this start generated it, false when the cached one was reused. */
  generated: boolean;
}

/** A CA that signs leaves: its PEM certificate and key. */
export interface Signer {
  cert: string;
  key: string;
  /** PEM certificates served after the leaf (the signing intermediate); none when the signer is the root. */
  chain?: string;
}

/** A Signer, or a CA (ca.ts) that holds one. */
export type SignerSource = Signer | { signer: Signer };

export interface CreateCertificateOptions {
  notBefore?: Date;
  notAfter?: Date;
  /** The CA that signs it; without one the certificate is self-signed. */
  ca?: SignerSource;
}

export function signerOf(source: SignerSource): Signer {
  return 'signer' in source ? source.signer : source;
}

/** An hour of slack for clocks that disagree slightly (VMs, containers). */
export function defaultNotBefore(): Date {
  return new Date(Date.now() - 60 * 60 * 1000);
}

/**
 * Builds a new key pair and leaf certificate for `names` (host names and IP addresses). `cert` is
 * the leaf followed by the signer's chain (what a server sends).
 */
export async function createCertificate(names: string[], options: CreateCertificateOptions = {}): Promise<{ cert: string; key: string }> {
  const notBefore = options.notBefore ?? defaultNotBefore();
  let notAfter = options.notAfter ?? new Date(notBefore.getTime() + VALIDITY_DAYS * DAY_MS);
  const ca = options.ca ? signerOf(options.ca) : undefined;
  // A leaf outliving its CA would fail verification before its own expiry.
  if (ca) {
    const caEnd = new Date(new X509Certificate(ca.cert).validTo);
    if (caEnd < notAfter) notAfter = caEnd;
  }
  const pair = await generate([['CN', names[0] ?? 'localhost'], ['O', 'dev-https development certificate']], { ca: false, names }, { notBefore, notAfter, issuer: ca });
  return { cert: pair.cert + (ca?.chain ?? ''), key: pair.key };
}

/**
 * Builds a CA certificate and key: cA=true, keyCertSign. `pathLength` CAs may follow it (0: it
 * signs leaves only); `permitted` adds a critical Name Constraints extension; `issuer` signs it
 * (an intermediate), else it signs itself.
 */
export async function createCACertificate(
  commonName: string,
  options: { notBefore?: Date; notAfter: Date; pathLength?: number; permitted?: string[]; issuer?: Signer },
): Promise<{ cert: string; key: string }> {
  const profile = { ca: true as const, pathLength: options.pathLength ?? 0, ...(options.permitted ? { permitted: options.permitted } : {}) };
  return generate([['CN', commonName], ['O', 'dev-https development CA']], profile, { notBefore: options.notBefore ?? defaultNotBefore(), notAfter: options.notAfter, issuer: options.issuer });
}

/**
 * A root and the intermediate that signs leaves, both constrained to `permitted`. The root's key
 * is returned to no one: it signs the intermediate here and is dropped, so no file holds a key
 * that can make another CA. (Java ignores a trust anchor's constraints but enforces the
 * intermediate's.)
 */
export async function createConstrainedCA(
  commonName: string,
  options: { notBefore: Date; notAfter: Date; permitted: string[] },
): Promise<{ root: string; signer: { cert: string; key: string } }> {
  const root = await createCACertificate(commonName, { ...options, pathLength: 1 });
  const signer = await createCACertificate(`${commonName} signer`, { ...options, pathLength: 0, issuer: root });
  return { root: root.cert, signer };
}

/**
 * A new EC P-256 key and its certificate, signed with ECDSA-SHA256 by `issuer` (or by itself).
 * Every certificate has a Subject Key Identifier and a signed one the Authority Key Identifier of
 * its CA: strict verifiers (Python 3.13's default context) reject a chain without them.
 */
async function generate(
  subject: CertificateSpec['subject'],
  profile: CertificateSpec['profile'],
  options: { notBefore: Date; notAfter: Date; issuer?: Signer },
): Promise<{ cert: string; key: string }> {
  const { publicKey, privateKey } = await generateEcKeyPair('ec', { namedCurve: 'P-256' });
  const cert = encodeCertificate({ subject, serialNumber: randomBytes(16), notBefore: options.notBefore, notAfter: options.notAfter, publicKey, profile, issuer: options.issuer, selfSigningKey: privateKey });
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

const generateEcKeyPair = promisify(generateKeyPair);

/**
 * Reuses the cached certificate in `certDir` when it is sound and was issued by `ca`, otherwise
 * generates one signed by `ca` and caches it.
 */
export async function ensureCertificate(certDir: string, names: string[], logger: Logger, source: SignerSource, platform: NodeJS.Platform = process.platform): Promise<CertificateFiles> {
  const ca = signerOf(source);
  const certPath = path.join(certDir, CERT_FILE);
  const keyPath = path.join(certDir, KEY_FILE);
  await ensureCertDir(certDir);
  await refuseLinks(certDir, [CERT_FILE, KEY_FILE, '.gitignore'], certDirLinks(certDir));

  const cached = await readCached(certPath, keyPath);
  let problem = 'problem' in cached ? cached.problem : checkCertificate(cached, names, certPath, keyPath, new Date(), ca);
  // A leaf served without the chain it needs (the intermediate) fails in every client.
  if (!problem && ca.chain && !(cached as Cached).cert.replace(/\s/g, '').includes(ca.chain.replace(/\s/g, ''))) {
    problem = { text: `${certPath} lacks the dev-https CA's intermediate certificate`, warn: false };
  }
  if (!problem) {
    const { cert, key, x509 } = cached as Cached;
    await protectKey(keyPath, logger, platform);
    await ensureGitignore(certDir, logger);
    logger.info(`Using the cached certificate ${certPath}`);
    return { cert, key, certPath, keyPath, fingerprint256: x509.fingerprint256, validTo: new Date(x509.validTo), generated: false };
  }
  if (problem.warn) logger.warn(`${problem.text}: generating a new certificate`);
  else logger.info(`Generating a new certificate: ${problem.text}`);

  const { cert, key } = await createCertificate(names, { ca });
  await writeCertDir(certDir, async () => {
    await ensureGitignore(certDir, logger);
    // Key first: if we die between the two renames, the next start sees a mismatch and regenerates.
    await writeFileAtomic(keyPath, key, 0o600, platform);
    await writeFileAtomic(certPath, cert, 0o644, platform);
  });
  const x509 = new X509Certificate(cert);
  return { cert, key, certPath, keyPath, fingerprint256: x509.fingerprint256, validTo: new Date(x509.validTo), generated: true };
}

export interface Cached {
  cert: string;
  key: string;
  x509: X509Certificate;
}
interface Problem {
  text: string;
  /** Damage (corrupt, unreadable, mismatched) warns; ordinary renewal is info. */
  warn: boolean;
}

async function readCached(certPath: string, keyPath: string): Promise<Cached | { problem: Problem }> {
  const [cert, key] = await Promise.all([readText(certPath), readText(keyPath)]);
  if (cert.missing && key.missing) return { problem: { text: `no certificate in ${path.dirname(certPath)} yet`, warn: false } };
  for (const [file, r] of [[certPath, cert], [keyPath, key]] as const) {
    if (r.missing) return { problem: { text: `${file} is missing`, warn: true } };
    if (r.error) return { problem: { text: `cannot read ${file} (${r.error})`, warn: true } };
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert.text!);
  } catch {
    return { problem: { text: `${certPath} is not a valid PEM certificate`, warn: true } };
  }
  return { cert: cert.text!, key: key.text!, x509 };
}

/**
 * Why the cached pair cannot be served, or null when it can. With `ca`, it must also have been
 * issued by that CA and name exactly `names` (a name no longer served is dropped). Exported for tests.
 */
export function checkCertificate(cached: Cached, names: string[], certPath: string, keyPath: string, now: Date, ca?: Signer): Problem | null {
  let privateKey;
  try {
    privateKey = createPrivateKey(cached.key);
  } catch {
    return { text: `${keyPath} is not a valid PEM private key`, warn: true };
  }
  if (!cached.x509.checkPrivateKey(privateKey)) return { text: `${keyPath} does not match ${certPath}`, warn: true };
  if (ca) {
    const caX509 = new X509Certificate(ca.cert);
    if (!cached.x509.checkIssued(caX509) || !cached.x509.verify(caX509.publicKey)) {
      return { text: `${certPath} was not issued by the current dev-https CA`, warn: false };
    }
  }
  const missing = uncoveredNames(cached.x509, names);
  if (missing.length) return { text: `${certPath} does not cover ${missing.join(', ')}`, warn: false };
  if (ca) {
    const extra = certificateNames(cached.x509).filter((n) => !names.includes(n));
    if (extra.length) return { text: `${certPath} also names ${extra.join(', ')}, which is no longer served`, warn: false };
  }
  const validFrom = new Date(cached.x509.validFrom);
  const validTo = new Date(cached.x509.validTo);
  if (validFrom > now) return { text: `${certPath} is not valid before ${validFrom.toISOString()}`, warn: false };
  if (validTo.getTime() - now.getTime() < RENEW_WITHIN_DAYS * DAY_MS) {
    const when = validTo < now ? 'expired on' : 'expires on';
    return { text: `${certPath} ${when} ${validTo.toISOString().slice(0, 10)} (renewed ${RENEW_WITHIN_DAYS} days ahead)`, warn: false };
  }
  return null;
}

/** The names of `names` that the certificate does not cover (exact names: a wildcard covers only itself). */
export function uncoveredNames(x509: X509Certificate, names: string[]): string[] {
  const dnsNames = new Set(certificateNames(x509).filter((n) => !net.isIP(n)));
  return names.filter((n) => (net.isIP(n) ? !x509.checkIP(n) : !dnsNames.has(n)));
}

/** The certificate's SAN entries: DNS names lowercased, IP addresses as URLs spell them (::1). */
export function certificateNames(x509: X509Certificate): string[] {
  return (x509.subjectAltName ?? '')
    .split(', ')
    .flatMap((entry) => {
      if (entry.startsWith('DNS:')) return [entry.slice(4).toLowerCase()];
      if (entry.startsWith('IP Address:')) {
        const ip = entry.slice(11);
        return [canonicalIp(ip)];
      }
      return [];
    });
}

export async function readText(file: string): Promise<{ text?: string; missing?: boolean; error?: string }> {
  try {
    return { text: await fs.readFile(file, 'utf8') };
  } catch (err) {
    const code = errnoCode(err);
    return code === 'ENOENT' ? { missing: true } : { error: code ?? String(err) };
  }
}

/** Creates the cert dir (0700) if needed. An existing one keeps its mode: dev-https changes only what it created. */
async function ensureCertDir(certDir: string): Promise<void> {
  await refuseLinks(path.dirname(certDir), [path.basename(certDir)], certDirLinks(certDir));
  await writeCertDir(certDir, () => makeDirs(certDir));
}

/**
 * Refuses `names` in `dir` that are symbolic links: writing through one (certs -> ~/.docker, a
 * dangling .gitignore -> ~/.ssh/config) would change a file elsewhere. The error starts with `context`.
 */
export async function refuseLinks(dir: string, names: string[], context: { code: 'E_CERT_DIR' | 'E_CA'; prefix: string; fix: string }): Promise<void> {
  for (const name of names) {
    const file = path.join(dir, name);
    const stat = await fs.lstat(file).catch(() => null);
    if (!stat?.isSymbolicLink()) continue;
    const target = await fs.readlink(file).catch(() => '?');
    throw new DevHttpsError(context.code, `${context.prefix}: ${file} is a symbolic link (to ${target}) and dev-https never writes through one; ${context.fix}`);
  }
}

const certDirLinks = (certDir: string) => ({ code: 'E_CERT_DIR' as const, prefix: `Cannot use --cert-dir "${certDir}"`, fix: 'remove the link or pass another --cert-dir' });

/**
 * mkdir -p with mode 0700, true when it created `dir`. Not `fs.mkdir({ recursive: true })`: on
 * some paths (under /proc) where mkdir fails with ENOENT although the parent exists, Node 20's
 * recursive mkdir retries forever.
 */
export async function makeDirs(dir: string): Promise<boolean> {
  try {
    await fs.mkdir(dir, { mode: 0o700 });
    return true;
  } catch (err) {
    if (errnoCode(err) === 'EEXIST' && (await fs.stat(dir)).isDirectory()) return false;
    const parent = path.dirname(dir);
    if (errnoCode(err) !== 'ENOENT' || parent === dir || (await fs.stat(parent).then(() => true, () => false))) throw err;
    await makeDirs(parent);
    await fs.mkdir(dir, { mode: 0o700 });
    return true;
  }
}

/** Runs a write into the cert dir, turning file-system errors into one clear --cert-dir error. */
async function writeCertDir<T>(certDir: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    const code = errnoCode(err);
    const why: Record<string, string> = {
      EACCES: 'permission denied',
      EPERM: 'permission denied',
      EROFS: 'the file system is read-only',
      ENOTDIR: 'a file is in the way of that directory',
      EEXIST: 'a file is in the way of that directory',
      EISDIR: 'a directory is in the way of the certificate files',
      ENOSPC: 'the disk is full',
      ENOENT: 'it cannot be created there',
    };
    throw new DevHttpsError('E_CERT_DIR', `Cannot use --cert-dir "${certDir}": ${why[code ?? ''] ?? code ?? String(err)}; pass a directory you can write to`);
  }
}

/**
 * False on Windows: it reports 0666 for any writable file and 0444 for a read-only one, whoever
 * may read it; NTFS ACLs decide that (a file in the user's profile is the user's own).
 */
export function modesMatter(platform: NodeJS.Platform): boolean {
  return platform !== 'win32';
}

export async function writeFileAtomic(file: string, data: string, mode: number, platform: NodeJS.Platform = process.platform): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // Created with its final mode: a key never exists, even for a moment, with wider permissions.
    const handle = await fs.open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      // The umask may have narrowed a public file's mode; never widen a private one.
      if (mode & 0o044 && modesMatter(platform)) await handle.chmod(mode);
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Warns about a cached key other users can read. Not changed: dev-https changes the mode only of files it created. */
export async function protectKey(keyPath: string, logger: Logger, platform: NodeJS.Platform = process.platform): Promise<void> {
  if (!modesMatter(platform)) return;
  const stat = await fs.lstat(keyPath);
  if ((stat.mode & 0o077) === 0) return;
  logger.warn(`${keyPath} is readable by other users (mode ${(stat.mode & 0o777).toString(8)}): run chmod 600 ${keyPath}`);
}

async function ensureGitignore(certDir: string, logger: Logger): Promise<void> {
  const file = path.join(certDir, '.gitignore');
  const existing = await fs.readFile(file, 'utf8').catch(() => null);
  if (existing === null) {
    // 'wx': created here or not at all (never through a link that appeared meanwhile).
    await fs.writeFile(file, '*\n', { mode: 0o644, flag: 'wx' }).catch((err) => logger.warn(`cannot write ${file} (${errnoCode(err)}): make sure git ignores ${KEY_FILE}`));
  } else if (!existing.split(/\r?\n/).some((line) => line.trim() === '*')) {
    logger.warn(`${file} does not ignore everything (no "*" line): git may commit ${KEY_FILE}`);
  }
}

/** A certificate made elsewhere (mkcert, a company CA): PEM files or a PKCS#12 bundle. */
export type UserCertificateSpec =
  | { kind: 'pem'; certPath: string; keyPath: string; passphrase: string | null }
  | { kind: 'pfx'; pfxPath: string; passphrase: string | null };

export interface UserCertificate {
  /** What tls.createSecureContext / setSecureContext take. */
  secure: { cert: string; key: string; passphrase?: string } | { pfx: Buffer; passphrase?: string };
  /** The leaf as PEM. */
  cert: string;
  x509: X509Certificate;
}

/**
 * Reads and validates a user certificate: it must parse and its key must match (checked by
 * building the TLS context, as the server will). Throws E_BAD_CERT naming the flag and the file.
 */
export async function loadUserCertificate(spec: UserCertificateSpec): Promise<UserCertificate> {
  const { createSecureContext } = await import('node:tls');
  return spec.kind === 'pfx' ? loadPfx(spec, createSecureContext) : loadPemPair(spec, createSecureContext);
}

type CreateSecureContext = typeof import('node:tls').createSecureContext;

function badCert(flag: string, file: string, why: string): DevHttpsError {
  return new DevHttpsError('E_BAD_CERT', `Invalid ${flag} "${file}": ${why}`);
}

async function readCertFile(flag: string, file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    const code = errnoCode(err);
    const why: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: `it is a directory; expected a ${flag === '--pfx' ? 'PKCS#12' : 'PEM'} file` };
    throw badCert(flag, file, why[code ?? ''] ?? `cannot read it (${code ?? String(err)})`);
  }
}

async function loadPfx(spec: Extract<UserCertificateSpec, { kind: 'pfx' }>, createSecureContext: CreateSecureContext): Promise<UserCertificate> {
  const passphrase = spec.passphrase === null ? {} : { passphrase: spec.passphrase };
  const pfx = await readCertFile('--pfx', spec.pfxPath);
  let context;
  try {
    context = createSecureContext({ pfx, ...passphrase });
  } catch (err) {
    const message = String((err as Error).message);
    const why = /mac verify failure|bad decrypt|password/i.test(message)
      ? spec.passphrase === null ? 'it is encrypted: pass --passphrase (or DEV_HTTPS_PASSPHRASE)' : 'wrong --passphrase'
      : 'not a PKCS#12 file with a certificate and its key';
    throw badCert('--pfx', spec.pfxPath, why);
  }
  // Node has no public PKCS#12 parser; the context it built holds the leaf.
  const der = (context.context as { getCertificate?: () => Buffer | null }).getCertificate?.();
  if (!der) throw badCert('--pfx', spec.pfxPath, 'it holds no certificate');
  const x509 = new X509Certificate(der);
  return { secure: { pfx, ...passphrase }, cert: x509.toString(), x509 };
}

async function loadPemPair(spec: Extract<UserCertificateSpec, { kind: 'pem' }>, createSecureContext: CreateSecureContext): Promise<UserCertificate> {
  const passphrase = spec.passphrase === null ? {} : { passphrase: spec.passphrase };
  const [certPem, keyPem] = await Promise.all([readCertFile('--cert', spec.certPath), readCertFile('--key', spec.keyPath)]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch {
    throw badCert('--cert', spec.certPath, 'not a PEM certificate');
  }
  let key;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem', ...passphrase });
  } catch (err) {
    const message = String((err as Error).message);
    const encrypted = /passphrase|bad decrypt|encrypted/i.test(message) || /ENCRYPTED/.test(keyPem.toString('latin1'));
    const why = encrypted ? (spec.passphrase === null ? 'the key is encrypted: pass --passphrase (or DEV_HTTPS_PASSPHRASE)' : 'wrong --passphrase') : 'not a PEM private key';
    throw badCert('--key', spec.keyPath, why);
  }
  if (!x509.checkPrivateKey(key)) throw badCert('--key', spec.keyPath, `it does not match --cert "${spec.certPath}"`);
  // The whole file: a chain after the leaf (intermediates of a company CA) is served too.
  const certText = certPem.toString('utf8');
  try {
    createSecureContext({ cert: certText, key: keyPem.toString('utf8'), ...passphrase });
  } catch (err) {
    throw badCert('--cert', spec.certPath, `OpenSSL refuses it (${String((err as Error).message)})`);
  }
  return { secure: { cert: certText, key: keyPem.toString('utf8'), ...passphrase }, cert: x509.toString(), x509 };
}

/** What to tell the user about a certificate of theirs at start: names it lacks, an expiry near. */
export function userCertificateWarnings(x509: X509Certificate, names: string[], flag: string, now = new Date()): string[] {
  const warnings: string[] = [];
  const missing = uncoveredNames(x509, names).filter((n) => !coveredByWildcard(x509, n));
  if (missing.length) warnings.push(`${flag} does not cover ${missing.join(', ')}: browsers will refuse https:// on ${missing.length === 1 ? 'that name' : 'those names'}`);
  const validTo = new Date(x509.validTo);
  const day = validTo.toISOString().slice(0, 10);
  if (validTo < now) warnings.push(`${flag} expired on ${day}: browsers will refuse it; make a new one`);
  else if (validTo.getTime() - now.getTime() < RENEW_WITHIN_DAYS * DAY_MS) warnings.push(`${flag} expires on ${day}: make a new one soon`);
  else if (new Date(x509.validFrom) > now) warnings.push(`${flag} is not valid before ${new Date(x509.validFrom).toISOString()}`);
  return warnings;
}

function coveredByWildcard(x509: X509Certificate, name: string): boolean {
  return !net.isIP(name) && x509.checkHost(name) !== undefined;
}
