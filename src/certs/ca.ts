// The user's local certificate authority: one per user, created on first need in the CA root
// ($DEV_HTTPS_CAROOT or the platform's data directory), never copied into a project. It signs the
// leaves of every project, so trusting it once (trust/) makes all of them trusted.
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createConstrainedCA, DAY_MS, defaultNotBefore, makeDirs, modesMatter, readText, refuseLinks, writeFileAtomic, type Signer } from './cert.js';
import { DEFAULT_PERMITTED, describePermitted } from './constraints.js';
import { permittedNamesOf } from './der.js';
import { DevHttpsError, errnoCode } from '../errors.js';
import type { Logger } from '../logger.js';

export const CA_CERT_FILE = 'rootCA.pem';
/** The root's key: only in older CAs, made by dev-https before name constraints or by mkcert; new roots' keys are never written. */
export const CA_KEY_FILE = 'rootCA-key.pem';
/** The name-constrained intermediate that signs leaves, and its key. */
export const SIGNER_CERT_FILE = 'signerCA.pem';
export const SIGNER_KEY_FILE = 'signerCA-key.pem';
const CA_FILES = [CA_CERT_FILE, CA_KEY_FILE, SIGNER_CERT_FILE, SIGNER_KEY_FILE];
export const CA_VALIDITY_YEARS = 10;
/** A CA this close to its end is replaced: leaves are cut at the CA's expiry. */
const CA_RENEW_WITHIN_DAYS = 60;

export interface CertificateAuthority {
  /** The root's PEM certificate: what trust stores and clients trust. */
  cert: string;
  /** The signing key (the intermediate's; an older CA's root key); '' when read without it. */
  key: string;
  certPath: string;
  /** The signing key's file. */
  keyPath: string;
  /** What signs leaves: the intermediate (with itself as the chain), or an older CA's root. */
  signer: Signer;
  root: string;
  /** Its common name, e.g. `dev-https development CA alice@laptop`. */
  commonName: string;
  /** SHA-256 fingerprint, colon-separated hex as openssl prints it. */
  fingerprint256: string;
  validTo: Date;
  /** The names it may sign for (constraints.ts); null: an older CA that can sign for any site. */
  permitted: string[] | null;
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
 * Reads the CA in `root`; null when there is none yet. Throws E_CA when it is damaged, or (with
 * `withKey`) when others could know its key. Without `withKey` only the root certificate must be
 * sound (untrust and the trust check need nothing else, and must work when the key is lost); `key`
 * is then ''. `platform` says whether file modes and owners mean anything (not on Windows).
 */
export async function readCA(root: string, { withKey = true, platform = process.platform }: { withKey?: boolean; platform?: NodeJS.Platform } = {}): Promise<CertificateAuthority | null> {
  const file = (name: string) => path.join(root, name);
  const readAll = () => Promise.all(CA_FILES.map((name) => readText(file(name))));
  let [cert, rootKey, signerCert, signerKey] = await readAll();
  // A root under a file holds no CA: createCA reports the path as one it cannot create.
  const none = (r: { missing?: boolean; error?: string }) => r.missing || r.error === 'ENOTDIR';
  if (none(cert!) && none(rootKey!) && none(signerKey!)) return null;
  // Another process may be between writing the key and the certificates (see createCA); a CA
  // replaced meanwhile comes with its own key, so every file is read again.
  const partial = () => (!signerKey!.missing && (cert!.missing || signerCert!.missing)) || (!rootKey!.missing && cert!.missing);
  for (let i = 0; i < 20 && partial(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    [cert, rootKey, signerCert, signerKey] = await readAll();
  }
  const broken = (why: string) =>
    new DevHttpsError('E_CA', `The dev-https CA in ${root} is unusable: ${why}. Run dev-https untrust, then delete ${root} to start over with a new CA`);
  if (cert!.missing) throw broken(`${CA_CERT_FILE} is missing`);
  if (cert!.error) throw broken(`cannot read it (${cert!.error})`);
  const x509 = parseCertificate(cert!.text!, () => broken(`${CA_CERT_FILE} is not a PEM certificate`));
  if (!x509.ca) throw broken(`${CA_CERT_FILE} is not a CA certificate`);
  // The intermediate's constraints are the ones every client enforces (Java ignores a root's).
  const layered = !signerKey!.missing || !signerCert!.missing;
  // Without the key (untrust, doctor), a damaged intermediate does not matter: the root is what stores hold.
  const signerX509 = layered && signerCert!.text ? (withKey ? parseCertificate(signerCert!.text, () => broken(`${SIGNER_CERT_FILE} is not a PEM certificate`)) : tryParse(signerCert!.text)) : null;
  const permitted = signerX509 ? permittedNamesOf(signerX509) : permittedNamesOf(x509);
  const signer = { cert: signerX509 ? signerCert!.text! : cert!.text!, key: '', ...(signerX509 ? { chain: signerCert!.text! } : {}) };
  const keyName = layered ? SIGNER_KEY_FILE : CA_KEY_FILE;
  if (!withKey) return describe(x509, cert!.text!, signer, permitted, root, keyName, false);
  if (layered) {
    if (signerCert!.missing) throw broken(`${SIGNER_CERT_FILE} is missing`);
    if (signerCert!.error) throw broken(`cannot read ${SIGNER_CERT_FILE} (${signerCert!.error})`);
    if (!signerX509!.ca || !signerX509!.checkIssued(x509) || !signerX509!.verify(x509.publicKey)) throw broken(`${SIGNER_CERT_FILE} was not issued by ${CA_CERT_FILE}`);
  }
  const key = layered ? signerKey! : rootKey!;
  if (key.missing) throw broken(`${keyName} is missing`);
  if (key.error) throw broken(`cannot read ${keyName} (${key.error})`);
  await refuseLooseCa(root, file(keyName), platform);
  let matches = false;
  let keyType: string | undefined;
  try {
    const privateKey = createPrivateKey(key.text!);
    keyType = privateKey.asymmetricKeyType;
    matches = (signerX509 ?? x509).checkPrivateKey(privateKey);
  } catch {
    throw broken(`${keyName} is not a PEM private key`);
  }
  if (!matches) throw broken(`${keyName} does not match ${layered ? SIGNER_CERT_FILE : CA_CERT_FILE}`);
  // dev-https makes EC CAs; mkcert's are RSA. Other kinds cannot sign here.
  if (keyType !== 'ec' && keyType !== 'rsa') throw broken(`${keyName} is an ${keyType} key; dev-https signs with EC or RSA CA keys`);
  return describe(x509, cert!.text!, { ...signer, key: key.text! }, permitted, root, keyName, false);
}

function tryParse(text: string): X509Certificate | null {
  try {
    return new X509Certificate(text);
  } catch {
    return null;
  }
}

function parseCertificate(text: string, fail: () => Error): X509Certificate {
  try {
    return new X509Certificate(text);
  } catch {
    throw fail();
  }
}

/**
 * Refuses to sign with a key others may know or replace, as ssh refuses a loose ~/.ssh: the CA
 * root group- or world-writable, the key readable or writable by others, either owned by another
 * user. Nothing is changed: the user fixes it with the command given.
 */
async function refuseLooseCa(root: string, keyPath: string, platform: NodeJS.Platform): Promise<void> {
  const uid = process.getuid?.();
  if (!modesMatter(platform) || uid === undefined) return;
  const refuse = (why: string, fix: string) => new DevHttpsError('E_CA', `Refusing the dev-https CA in ${root}: ${why}, so others could sign for your browsers with it; ${fix}`);
  for (const [target, loose, what] of [[root, 0o022, 'group- or world-writable'], [keyPath, 0o077, 'readable or writable by other users']] as const) {
    const stat = await fs.stat(target);
    if (stat.uid !== uid && stat.uid !== 0) throw refuse(`${target} is owned by another user (uid ${stat.uid})`, `use a CA root of your own (DEV_HTTPS_CAROOT)`);
    if (stat.mode & loose) throw refuse(`${target} is ${what} (mode ${(stat.mode & 0o777).toString(8)})`, `run chmod ${target === root ? 'go-w' : '600'} ${target}`);
  }
}

/** Why a new CA is made: the message after it differs. */
export type CaReason = 'serve' | 'trust';

/** The CA in `root`, created there (directory 0700, key 0600) when there is none or it is about to expire. */
export async function ensureCA(root: string, logger: Logger, reason: CaReason = 'serve', platform: NodeJS.Platform = process.platform): Promise<CertificateAuthority> {
  const existing = await readCA(root, { platform });
  if (existing) {
    const left = existing.validTo.getTime() - Date.now();
    if (left > CA_RENEW_WITHIN_DAYS * DAY_MS) return existing;
    // Another dev-https may have replaced it meanwhile: its new CA is the one to use.
    const current = await readCA(root, { platform });
    if (current && current.fingerprint256 !== existing.fingerprint256) return current;
    logger.warn(`The dev-https CA ${existing.certPath} ${left > 0 ? 'expires' : 'expired'} on ${existing.validTo.toISOString().slice(0, 10)}: creating a new one; run dev-https trust again`);
    await retire(root, `expired-${existing.validTo.toISOString().slice(0, 10)}`);
    return createCA(root, logger, { permitted: existing.permitted ?? [...DEFAULT_PERMITTED], reason, platform });
  }
  return createCA(root, logger, { permitted: [...DEFAULT_PERMITTED], reason, platform });
}

/**
 * Replaces the CA in `root` with a new one constrained to `permitted`: the old keys are deleted
 * (a key that signed for any site is not kept), its certificates kept as `*.replaced-<date>`.
 * The caller untrusts the old one first and trusts the new one after.
 */
export async function replaceCA(root: string, logger: Logger, permitted: string[], platform: NodeJS.Platform = process.platform): Promise<CertificateAuthority> {
  await refuseLinks(root, CA_FILES, caLinks(root));
  await Promise.all([CA_KEY_FILE, SIGNER_KEY_FILE].map((name) => fs.rm(path.join(root, name), { force: true })));
  await retire(root, `replaced-${new Date().toISOString().slice(0, 10)}`);
  return createCA(root, logger, { permitted, reason: 'trust', platform });
}

/** The message for a CA without name constraints: said once by doctor, trust and the banner. */
export function unconstrainedWarning(ca: Pick<CertificateAuthority, 'certPath'>): string {
  return `The dev-https CA ${ca.certPath} can sign for any site (it was made before dev-https limited its CA to local names): a program that reads its key can impersonate any website to the browsers that trust it. Replace it with: dev-https trust --replace`;
}

const caLinks = (root: string) => ({ code: 'E_CA' as const, prefix: `Cannot use the dev-https CA in ${root}`, fix: 'remove the link or set DEV_HTTPS_CAROOT to a directory of your own' });

async function createCA(root: string, logger: Logger, { permitted, reason, platform }: { permitted: string[]; reason: CaReason; platform: NodeJS.Platform }): Promise<CertificateAuthority> {
  await refuseLinks(path.dirname(root), [path.basename(root)], caLinks(root));
  let created: boolean;
  try {
    created = await makeDirs(root);
  } catch (err) {
    throw new DevHttpsError('E_CA', `Cannot create the dev-https CA in ${root} (${errnoCode(err) ?? String(err)}): set DEV_HTTPS_CAROOT to a directory you can write to`);
  }
  // An existing root keeps its mode (dev-https changes only what it created), but one others can write to is refused.
  if (!created && modesMatter(platform)) {
    const uid = process.getuid?.();
    const stat = await fs.stat(root);
    if (uid !== undefined && ((stat.uid !== uid && stat.uid !== 0) || stat.mode & 0o022)) {
      const why = stat.mode & 0o022 ? `it is group- or world-writable (mode ${(stat.mode & 0o777).toString(8)}): run chmod go-w ${root}` : `it is owned by another user (uid ${stat.uid}): set DEV_HTTPS_CAROOT to a directory of your own`;
      throw new DevHttpsError('E_CA', `Refusing to create the dev-https CA in ${root}: ${why}`);
    }
  }
  await refuseLinks(root, CA_FILES, caLinks(root));
  const notBefore = defaultNotBefore();
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  const commonName = caCommonName();
  const { root: cert, signer } = await createConstrainedCA(commonName, { notBefore, notAfter, permitted });
  const certPath = path.join(root, CA_CERT_FILE);
  const keyPath = path.join(root, SIGNER_KEY_FILE);
  // Two dev-https starting at once must end up with one CA: the key is linked into place, which
  // fails when it exists, and the loser reads the winner's CA instead.
  const tmpKey = `${keyPath}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFileAtomic(tmpKey, signer.key, 0o600, platform);
    try {
      await fs.link(tmpKey, keyPath);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      const winner = await readCA(root, { platform });
      if (winner) return winner;
      throw err;
    }
    await writeFileAtomic(path.join(root, SIGNER_CERT_FILE), signer.cert, 0o644, platform);
    await writeFileAtomic(certPath, cert, 0o644, platform);
  } catch (err) {
    if (err instanceof DevHttpsError) throw err;
    throw new DevHttpsError('E_CA', `Cannot write the dev-https CA in ${root} (${errnoCode(err) ?? String(err)}): set DEV_HTTPS_CAROOT to a directory you can write to`);
  } finally {
    await fs.rm(tmpKey, { force: true });
  }
  const next = reason === 'trust' ? 'adding it to the trust stores' : 'run dev-https trust once so browsers trust it';
  logger.info(`Created the dev-https CA ${certPath} (${commonName}), limited to ${describePermitted(permitted)}; ${next}`);
  return describe(new X509Certificate(cert), cert, { ...signer, chain: signer.cert }, permitted, root, SIGNER_KEY_FILE, true);
}

/** Moves a CA's files aside (`<file>.<suffix>`), so a new one can be made; stores that trusted it are told to remove it by hand. */
async function retire(root: string, suffix: string): Promise<void> {
  for (const name of CA_FILES) await fs.rename(path.join(root, name), path.join(root, `${name}.${suffix}`)).catch(() => undefined);
}

function describe(x509: X509Certificate, cert: string, signer: Signer, permitted: string[] | null, root: string, keyName: string, generated: boolean): CertificateAuthority {
  const commonName = /^CN=(.*)$/m.exec(x509.subject)?.[1] ?? x509.subject;
  return {
    cert,
    key: signer.key,
    certPath: path.join(root, CA_CERT_FILE),
    keyPath: path.join(root, keyName),
    signer,
    root,
    commonName,
    fingerprint256: x509.fingerprint256,
    validTo: new Date(x509.validTo),
    permitted,
    generated,
  };
}
