// The user's local certificate authority: one per user, created on first need in the CA root
// ($DEV_HTTPS_CAROOT or the platform's data directory), never copied into a project. It signs the
// leaves of every project, so trusting it once (trust.ts) makes all of them trusted.
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCACertificate, DAY_MS, defaultNotBefore, makeDirs, protectKey, readText, writeFileAtomic } from './cert.js';
import { DevHttpsError, errnoCode } from './errors.js';
import type { Logger } from './logger.js';

export const CA_CERT_FILE = 'rootCA.pem';
export const CA_KEY_FILE = 'rootCA-key.pem';
export const CA_VALIDITY_YEARS = 10;
/** A CA this close to its end is replaced: leaves are cut at the CA's expiry. */
const CA_RENEW_WITHIN_DAYS = 60;

export interface CertificateAuthority {
  /** PEM certificate; the key stays in `keyPath` and is only read to sign. */
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
  root: string;
  /** Its common name, e.g. `dev-https development CA alice@laptop`. */
  commonName: string;
  /** SHA-256 fingerprint, colon-separated hex as openssl prints it. */
  fingerprint256: string;
  validTo: Date;
  /** True when this call created it. */
  generated: boolean;
}

/**
 * Where the CA lives: `$DEV_HTTPS_CAROOT`, else the platform's data directory
 * (`$XDG_DATA_HOME/dev-https` or `~/.local/share/dev-https`, `~/Library/Application Support/dev-https`,
 * `%LOCALAPPDATA%\dev-https`).
 */
export function resolveCaRoot(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home: string = os.homedir()): string {
  if (env.DEV_HTTPS_CAROOT) return path.resolve(env.DEV_HTTPS_CAROOT);
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'dev-https');
  if (platform === 'win32') return path.join(env.LOCALAPPDATA || path.join(home, 'AppData', 'Local'), 'dev-https');
  const xdg = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(home, '.local', 'share');
  return path.join(xdg, 'dev-https');
}

/** The CA's name: says what it is and whose it is, so a user who finds it in a trust store knows. */
export function caCommonName(): string {
  let user = 'user';
  try {
    user = os.userInfo().username || user;
  } catch {
    // No passwd entry (containers with a random uid): the generic name will do.
  }
  const clean = (s: string) => s.replace(/[^\w.@-]/g, '') || 'unknown';
  return `dev-https development CA ${clean(user)}@${clean(os.hostname())}`;
}

/**
 * Reads the CA in `root`; null when there is none yet. Throws E_CA when it is damaged. Without
 * `withKey` only the certificate must be sound (untrust and the trust check need nothing else,
 * and must work when the key is lost); `key` is then ''.
 */
export async function readCA(root: string, { withKey = true } = {}): Promise<CertificateAuthority | null> {
  const certPath = path.join(root, CA_CERT_FILE);
  const keyPath = path.join(root, CA_KEY_FILE);
  let [cert, key] = await Promise.all([readText(certPath), readText(keyPath)]);
  // A root under a file holds no CA: createCA reports the path as one it cannot create.
  const none = (r: { missing?: boolean; error?: string }) => r.missing || r.error === 'ENOTDIR';
  if (none(cert) && none(key)) return null;
  // Another process may be between writing the key and the certificate (see createCA).
  for (let i = 0; i < 20 && !key.missing && cert.missing; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The key again too, after the certificate: a CA replaced meanwhile comes with its own key.
    cert = await readText(certPath);
    key = await readText(keyPath);
  }
  const broken = (why: string) =>
    new DevHttpsError('E_CA', `The dev-https CA in ${root} is unusable: ${why}. Run dev-https untrust, then delete ${root} to start over with a new CA`);
  if (cert.missing) throw broken(`${CA_CERT_FILE} is missing`);
  if (cert.error) throw broken(`cannot read it (${cert.error})`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert.text!);
  } catch {
    throw broken(`${CA_CERT_FILE} is not a PEM certificate`);
  }
  if (!withKey) {
    if (!x509.ca) throw broken(`${CA_CERT_FILE} is not a CA certificate`);
    return describe(x509, cert.text!, '', root, false);
  }
  if (key.missing) throw broken(`${CA_KEY_FILE} is missing`);
  if (key.error) throw broken(`cannot read it (${key.error})`);
  let matches = false;
  let keyType: string | undefined;
  try {
    const privateKey = createPrivateKey(key.text!);
    keyType = privateKey.asymmetricKeyType;
    matches = x509.checkPrivateKey(privateKey);
  } catch {
    throw broken(`${CA_KEY_FILE} is not a PEM private key`);
  }
  if (!matches) throw broken(`${CA_KEY_FILE} does not match ${CA_CERT_FILE}`);
  // dev-https makes EC CAs; mkcert's are RSA. Other kinds cannot sign here.
  if (keyType !== 'ec' && keyType !== 'rsa') throw broken(`${CA_KEY_FILE} is an ${keyType} key; dev-https signs with EC or RSA CA keys`);
  if (!x509.ca) throw broken(`${CA_CERT_FILE} is not a CA certificate`);
  return describe(x509, cert.text!, key.text!, root, false);
}

/** The CA in `root`, created there (directory 0700, key 0600) when there is none or it is about to expire. */
export async function ensureCA(root: string, logger: Logger): Promise<CertificateAuthority> {
  const existing = await readCA(root);
  if (existing) {
    const left = existing.validTo.getTime() - Date.now();
    if (left > CA_RENEW_WITHIN_DAYS * DAY_MS) {
      await protectKey(existing.keyPath, logger);
      return existing;
    }
    // Another dev-https may have replaced it meanwhile: its new CA is the one to use.
    const current = await readCA(root);
    if (current && current.fingerprint256 !== existing.fingerprint256) return current;
    logger.warn(`The dev-https CA ${existing.certPath} ${left > 0 ? 'expires' : 'expired'} on ${existing.validTo.toISOString().slice(0, 10)}: creating a new one; run dev-https trust again`);
    await retire(existing);
  }
  return createCA(root, logger);
}

async function createCA(root: string, logger: Logger): Promise<CertificateAuthority> {
  let created: boolean;
  try {
    created = await makeDirs(root);
  } catch (err) {
    throw new DevHttpsError('E_CA', `Cannot create the dev-https CA in ${root} (${errnoCode(err) ?? String(err)}): set DEV_HTTPS_CAROOT to a directory you can write to`);
  }
  // Like the cert dir: a directory that also holds files of the user's keeps its mode (the key is 0600 regardless).
  const [stat, entries] = await Promise.all([fs.stat(root), fs.readdir(root)]);
  const ours = created || entries.every((e) => e.startsWith(CA_CERT_FILE) || e.startsWith(CA_KEY_FILE));
  if ((stat.mode & 0o077) !== 0 && ours) await fs.chmod(root, 0o700).catch(() => undefined);
  const notBefore = defaultNotBefore();
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  const commonName = caCommonName();
  const { cert, key } = await createCACertificate(commonName, { notBefore, notAfter });
  const certPath = path.join(root, CA_CERT_FILE);
  const keyPath = path.join(root, CA_KEY_FILE);
  // Two dev-https starting at once must end up with one CA: the key is linked into place, which
  // fails when it exists, and the loser reads the winner's CA instead.
  const tmpKey = `${keyPath}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFileAtomic(tmpKey, key, 0o600);
    try {
      await fs.link(tmpKey, keyPath);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      const winner = await readCA(root);
      if (winner) return winner;
      throw err;
    }
    await writeFileAtomic(certPath, cert, 0o644);
  } catch (err) {
    if (err instanceof DevHttpsError) throw err;
    throw new DevHttpsError('E_CA', `Cannot write the dev-https CA in ${root} (${errnoCode(err) ?? String(err)}): set DEV_HTTPS_CAROOT to a directory you can write to`);
  } finally {
    await fs.rm(tmpKey, { force: true });
  }
  logger.info(`Created the dev-https CA ${certPath} (${commonName}); run dev-https trust once so browsers trust it`);
  return describe(new X509Certificate(cert), cert, key, root, true);
}

/** Keeps an expiring CA's files beside the new one (renamed `*.expired-<date>`): stores that trusted it are told to remove it by hand. */
async function retire(ca: CertificateAuthority): Promise<void> {
  const stamp = ca.validTo.toISOString().slice(0, 10);
  await fs.rename(ca.certPath, `${ca.certPath}.expired-${stamp}`).catch(() => undefined);
  await fs.rename(ca.keyPath, `${ca.keyPath}.expired-${stamp}`).catch(() => undefined);
}

function describe(x509: X509Certificate, cert: string, key: string, root: string, generated: boolean): CertificateAuthority {
  const commonName = /^CN=(.*)$/m.exec(x509.subject)?.[1] ?? x509.subject;
  return {
    cert,
    key,
    certPath: path.join(root, CA_CERT_FILE),
    keyPath: path.join(root, CA_KEY_FILE),
    root,
    commonName,
    fingerprint256: x509.fingerprint256,
    validTo: new Date(x509.validTo),
    generated,
  };
}
