// The development certificate: generated with selfsigned, cached in the cert dir with safe
// file modes, and reused only while it is sound (parses, matches its key, covers every name,
// is not about to expire).
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { DevHttpsError, errnoCode } from './errors.js';
import type { Logger } from './logger.js';

export const CERT_FILE = 'cert.pem';
export const KEY_FILE = 'key.pem';
/** Browsers reject leaf certificates valid for more than 825 days; a year is plenty. */
export const VALIDITY_DAYS = 365;
export const RENEW_WITHIN_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

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

export interface CreateCertificateOptions {
  notBefore?: Date;
  notAfter?: Date;
}

/** Builds a new key pair and certificate for `names` (host names and IP addresses). */
export async function createCertificate(names: string[], options: CreateCertificateOptions = {}): Promise<{ cert: string; key: string }> {
  // An hour of slack for clocks that disagree slightly (VMs, containers).
  const notBefore = options.notBefore ?? new Date(Date.now() - 60 * 60 * 1000);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + VALIDITY_DAYS * DAY_MS);
  // Loaded only when a certificate is made: a warm start with a cached one does not pay for it.
  const { generate } = await import('selfsigned');
  const pems = await generate(
    [
      { name: 'commonName', value: names[0] ?? 'localhost' },
      { name: 'organizationName', value: 'dev-https development certificate' },
    ],
    {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      notBeforeDate: notBefore,
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: names.map((n) => (net.isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
      ],
    },
  );
  return { cert: pems.cert, key: pems.private };
}

/** Reuses the cached certificate in `certDir` when it is sound, otherwise generates and caches a new one. */
export async function ensureCertificate(certDir: string, names: string[], logger: Logger): Promise<CertificateFiles> {
  const certPath = path.join(certDir, CERT_FILE);
  const keyPath = path.join(certDir, KEY_FILE);
  await ensureCertDir(certDir);

  const cached = await readCached(certPath, keyPath);
  const problem = 'problem' in cached ? cached.problem : checkCertificate(cached, names, certPath, keyPath, new Date());
  if (!problem) {
    const { cert, key, x509 } = cached as Cached;
    await protectKey(keyPath, logger);
    await ensureGitignore(certDir, logger);
    logger.info(`Using the cached certificate ${certPath}`);
    return { cert, key, certPath, keyPath, fingerprint256: x509.fingerprint256, validTo: new Date(x509.validTo), generated: false };
  }
  if (problem.warn) logger.warn(`${problem.text}: generating a new certificate`);
  else logger.info(`Generating a new certificate: ${problem.text}`);

  const { cert, key } = await createCertificate(names);
  await writeCertDir(certDir, async () => {
    await ensureGitignore(certDir, logger);
    // Key first: if we die between the two renames, the next start sees a mismatch and regenerates.
    await writeFileAtomic(keyPath, key, 0o600);
    await writeFileAtomic(certPath, cert, 0o644);
  });
  const x509 = new X509Certificate(cert);
  return { cert, key, certPath, keyPath, fingerprint256: x509.fingerprint256, validTo: new Date(x509.validTo), generated: true };
}

interface Cached {
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

/** Why the cached pair cannot be served, or null when it can. Exported for tests. */
export function checkCertificate(cached: Cached, names: string[], certPath: string, keyPath: string, now: Date): Problem | null {
  let privateKey;
  try {
    privateKey = createPrivateKey(cached.key);
  } catch {
    return { text: `${keyPath} is not a valid PEM private key`, warn: true };
  }
  if (!cached.x509.checkPrivateKey(privateKey)) return { text: `${keyPath} does not match ${certPath}`, warn: true };
  const dnsNames = new Set(
    (cached.x509.subjectAltName ?? '')
      .split(', ')
      .filter((entry) => entry.startsWith('DNS:'))
      .map((entry) => entry.slice(4).toLowerCase()),
  );
  const missing = names.filter((n) => (net.isIP(n) ? !cached.x509.checkIP(n) : !dnsNames.has(n)));
  if (missing.length) return { text: `${certPath} does not cover ${missing.join(', ')}`, warn: false };
  const validFrom = new Date(cached.x509.validFrom);
  const validTo = new Date(cached.x509.validTo);
  if (validFrom > now) return { text: `${certPath} is not valid before ${validFrom.toISOString()}`, warn: false };
  if (validTo.getTime() - now.getTime() < RENEW_WITHIN_DAYS * DAY_MS) {
    const when = validTo < now ? 'expired on' : 'expires on';
    return { text: `${certPath} ${when} ${validTo.toISOString().slice(0, 10)} (renewed ${RENEW_WITHIN_DAYS} days ahead)`, warn: false };
  }
  return null;
}

async function readText(file: string): Promise<{ text?: string; missing?: boolean; error?: string }> {
  try {
    return { text: await fs.readFile(file, 'utf8') };
  } catch (err) {
    const code = errnoCode(err);
    return code === 'ENOENT' ? { missing: true } : { error: code ?? String(err) };
  }
}

async function ensureCertDir(certDir: string): Promise<void> {
  const created = await writeCertDir(certDir, () => makeDirs(certDir));
  if (created) return;
  // An existing directory is only tightened when it holds nothing but our files: a user who
  // points --cert-dir at a directory of their own keeps its mode.
  const [stat, entries] = await Promise.all([fs.stat(certDir), fs.readdir(certDir)]);
  const ours = entries.every((e) => e === CERT_FILE || e === KEY_FILE || e === '.gitignore');
  if ((stat.mode & 0o077) !== 0 && ours) await fs.chmod(certDir, 0o700).catch(() => undefined);
}

/**
 * mkdir -p with mode 0700, true when it created `dir`. Not `fs.mkdir({ recursive: true })`: on
 * some paths (under /proc) where mkdir fails with ENOENT although the parent exists, Node 20's
 * recursive mkdir retries forever.
 */
async function makeDirs(dir: string): Promise<boolean> {
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

async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // Created with its final mode: a key never exists, even for a moment, with wider permissions.
    const handle = await fs.open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      // The umask may have narrowed a public file's mode; never widen a private one.
      if (mode & 0o044) await handle.chmod(mode);
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

async function protectKey(keyPath: string, logger: Logger): Promise<void> {
  const stat = await fs.stat(keyPath);
  if ((stat.mode & 0o077) === 0) return;
  try {
    await fs.chmod(keyPath, 0o600);
    logger.warn(`${keyPath} was readable by other users (mode ${(stat.mode & 0o777).toString(8)}): changed it to 600`);
  } catch (err) {
    logger.warn(`${keyPath} is readable by other users and cannot be changed (${errnoCode(err)}): run chmod 600 on it`);
  }
}

async function ensureGitignore(certDir: string, logger: Logger): Promise<void> {
  const file = path.join(certDir, '.gitignore');
  const existing = await fs.readFile(file, 'utf8').catch(() => null);
  if (existing === null) {
    await fs.writeFile(file, '*\n', { mode: 0o644 }).catch((err) => logger.warn(`cannot write ${file} (${errnoCode(err)}): make sure git ignores ${KEY_FILE}`));
  } else if (!existing.split(/\r?\n/).some((line) => line.trim() === '*')) {
    logger.warn(`${file} does not ignore everything (no "*" line): git may commit ${KEY_FILE}`);
  }
}
