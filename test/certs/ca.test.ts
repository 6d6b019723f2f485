import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { CA_CERT_FILE, CA_KEY_FILE, SIGNER_CERT_FILE, SIGNER_KEY_FILE, caCommonName, ensureCA, readCA, resolveCaRoot } from '../../src/certs/ca.js';
import { DEFAULT_PERMITTED, describePermitted, permits } from '../../src/certs/constraints.js';
import { CERT_FILE, KEY_FILE, RENEW_WITHIN_DAYS, checkCertificate, createCACertificate, createCertificate, ensureCertificate, type Signer } from '../../src/certs/cert.js';
import { DevHttpsError } from '../../src/errors.js';
import { startDevHttps } from '../../src/server/server.js';
import { captureLogger, floorSecond, h2get, onCleanup, poll, request, runCleanups, serveTls, sleep, startUpstream, tempDir, tlsGet, withUmask } from '../helpers.js';

afterEach(runCleanups);

const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
const NAMES = ['localhost', '127.0.0.1', '::1'];

async function mode(file: string): Promise<number> {
  return (await fs.stat(file)).mode & 0o777;
}

function opensslText(cert: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-text'], { input: cert, encoding: 'utf8' });
}

const isoDay = (date: Date | string) => new Date(date).toISOString().slice(0, 10);

/** The line a new CA is announced with (made on a start, not by dev-https trust). */
const created = (certPath: string) => `info: Created the dev-https CA ${certPath} (${caCommonName()}), limited to ${describePermitted(DEFAULT_PERMITTED)}; run dev-https trust once so browsers trust it`;
/** The files of a CA dev-https makes: the root's certificate, the signer's certificate and key (the root's key is never written). */
const NEW_CA_FILES = [CA_CERT_FILE, SIGNER_KEY_FILE, SIGNER_CERT_FILE].sort();

/** A CA made in memory, for leaf tests that need no CA root. */
function makeSigner(commonName = 'dev-https test CA', days = 5 * 365): Promise<Signer> {
  return createCACertificate(commonName, { notAfter: new Date(Date.now() + days * DAY_MS) });
}

/** A CA made by openssl (as mkcert or a company would make one), with `keyOptions` for its key. */
function opensslCA(root: string, keyOptions: string[], extra: string[] = []): { cert: string; key: string } {
  const keyPath = path.join(os.tmpdir(), `dev-https-openssl-${path.basename(root)}-key.pem`);
  const cert = execFileSync('openssl', ['req', '-x509', ...keyOptions, '-nodes', '-keyout', keyPath, '-subj', '/CN=openssl test CA/O=elsewhere', '-days', '3650',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return { cert, key: execFileSync('cat', [keyPath], { encoding: 'utf8' }) };
}

async function writeCA(root: string, pair: { cert: string; key: string }): Promise<void> {
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(root, CA_CERT_FILE), pair.cert, { mode: 0o644 });
  await fs.writeFile(path.join(root, CA_KEY_FILE), pair.key, { mode: 0o600 });
}

async function writeLeaf(dir: string, pair: { cert: string; key: string }): Promise<void> {
  await fs.writeFile(path.join(dir, CERT_FILE), pair.cert, { mode: 0o644 });
  await fs.writeFile(path.join(dir, KEY_FILE), pair.key, { mode: 0o600 });
}

/** Every file of `dir` with its bytes: to prove nothing was touched. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of (await fs.readdir(dir)).sort()) {
    const file = path.join(dir, name);
    files[name] = (await fs.stat(file)).isDirectory() ? `dir ${(await fs.readdir(file)).join(',')}` : (await fs.readFile(file)).toString('base64');
  }
  return files;
}

/** The PEM body of a key, the part that must never be printed. */
function keyBody(pem: string): string {
  return pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, '');
}

/** A new TLS connection (no session to resume): the certificate it was served and the ALPN protocol. */
function handshake(port: number, ca: string, alpn?: string[]): Promise<{ fingerprint256: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ...(alpn ? { ALPNProtocols: alpn } : {}) }, () => {
      const result = { fingerprint256: socket.getPeerX509Certificate()!.fingerprint256, alpn: socket.alpnProtocol };
      socket.destroy();
      resolve(result);
    });
    socket.on('error', reject);
  });
}

describe('resolveCaRoot', () => {
  const home = '/home/alice';
  const cwd = process.cwd();
  test.each<[string, NodeJS.ProcessEnv, NodeJS.Platform, string]>([
    ['DEV_HTTPS_CAROOT wins on Linux', { DEV_HTTPS_CAROOT: '/srv/ca', XDG_DATA_HOME: '/xdg' }, 'linux', '/srv/ca'],
    ['DEV_HTTPS_CAROOT wins on macOS', { DEV_HTTPS_CAROOT: '/srv/ca' }, 'darwin', '/srv/ca'],
    ['DEV_HTTPS_CAROOT wins on Windows', { DEV_HTTPS_CAROOT: '/srv/ca', LOCALAPPDATA: '/appdata' }, 'win32', '/srv/ca'],
    ['a relative DEV_HTTPS_CAROOT is made absolute', { DEV_HTTPS_CAROOT: 'my-ca' }, 'linux', path.join(cwd, 'my-ca')],
    ['a DEV_HTTPS_CAROOT with .. is normalized', { DEV_HTTPS_CAROOT: '/srv/x/../ca/' }, 'linux', '/srv/ca'],
    ['an empty DEV_HTTPS_CAROOT is ignored', { DEV_HTTPS_CAROOT: '' }, 'linux', '/home/alice/.local/share/dev-https'],
    ['macOS: Application Support', {}, 'darwin', '/home/alice/Library/Application Support/dev-https'],
    ['macOS ignores XDG_DATA_HOME', { XDG_DATA_HOME: '/xdg' }, 'darwin', '/home/alice/Library/Application Support/dev-https'],
    // The host's path module joins (POSIX here): what matters is which directory is chosen.
    ['Windows: %LOCALAPPDATA%', { LOCALAPPDATA: 'C:\\Users\\alice\\AppData\\Local' }, 'win32', path.join('C:\\Users\\alice\\AppData\\Local', 'dev-https')],
    ['Windows without LOCALAPPDATA: ~/AppData/Local', {}, 'win32', '/home/alice/AppData/Local/dev-https'],
    ['Windows with an empty LOCALAPPDATA: ~/AppData/Local', { LOCALAPPDATA: '' }, 'win32', '/home/alice/AppData/Local/dev-https'],
    ['Windows ignores XDG_DATA_HOME', { XDG_DATA_HOME: '/xdg' }, 'win32', '/home/alice/AppData/Local/dev-https'],
    ['Linux: an absolute XDG_DATA_HOME', { XDG_DATA_HOME: '/xdg/data' }, 'linux', '/xdg/data/dev-https'],
    ['Linux: a relative XDG_DATA_HOME is ignored (XDG spec)', { XDG_DATA_HOME: 'data' }, 'linux', '/home/alice/.local/share/dev-https'],
    ['Linux: an empty XDG_DATA_HOME is ignored', { XDG_DATA_HOME: '' }, 'linux', '/home/alice/.local/share/dev-https'],
    ['Linux: ~/.local/share', {}, 'linux', '/home/alice/.local/share/dev-https'],
    ['other Unixes as Linux', { XDG_DATA_HOME: '/xdg' }, 'freebsd', '/xdg/dev-https'],
  ])('%s', (_label, env, platform, expected) => {
    expect(resolveCaRoot(env, platform, home)).toBe(expected);
  });

  test('caCommonName says what it is and whose', () => {
    const user = os.userInfo().username;
    const host = os.hostname();
    const name = caCommonName();
    expect(name).toMatch(/^dev-https development CA [\w.@-]+@[\w.-]+$/);
    if (/^[\w.@-]+$/.test(user) && /^[\w.-]+$/.test(host)) expect(name).toBe(`dev-https development CA ${user}@${host}`);
  });
});

describe('a new CA', () => {
  test('is an EC P-256 root (pathlen 1) and signer (pathlen 0), valid 10 years, files 0700/0600/0644 even with umask 000; the root key is not written', async () => {
    const root = path.join(await tempDir(), 'a', 'dev-https');
    const logger = captureLogger();
    const before = Date.now();
    const ca = await withUmask(0o000, () => ensureCA(root, logger));
    const after = Date.now();
    const certPath = path.join(root, 'rootCA.pem');
    const keyPath = path.join(root, 'signerCA-key.pem');
    const cn = caCommonName();

    expect(logger.lines).toEqual([created(certPath)]);
    expect(ca.generated).toBe(true);
    expect(ca.root).toBe(root);
    expect(ca.certPath).toBe(certPath);
    expect(ca.keyPath).toBe(keyPath);
    expect(ca.commonName).toBe(cn);

    const x509 = new X509Certificate(ca.cert);
    expect(ca.fingerprint256).toBe(x509.fingerprint256);
    expect(ca.validTo.getTime()).toBe(Date.parse(x509.validTo));
    expect(x509.ca).toBe(true);
    expect(x509.subject).toBe(`CN=${cn}\nO=dev-https development CA`);
    expect(x509.issuer).toBe(x509.subject);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.publicKey.asymmetricKeyType).toBe('ec');
    expect(x509.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    expect(x509.checkPrivateKey(createPrivateKey(ca.key))).toBe(false);
    const signer = new X509Certificate(ca.signer.cert);
    expect(signer.checkPrivateKey(createPrivateKey(ca.key))).toBe(true);
    expect(signer.checkIssued(x509) && signer.verify(x509.publicKey)).toBe(true);
    expect(signer.subject).toBe(`CN=${cn} signer\nO=dev-https development CA`);
    expect(signer.validTo).toBe(x509.validTo);
    expect(ca.signer.chain).toBe(ca.signer.cert);
    expect(ca.permitted).toEqual([...DEFAULT_PERMITTED]);

    const text = opensslText(ca.cert);
    expect(text.match(/Signature Algorithm: (.*)/g)).toEqual(['Signature Algorithm: ecdsa-with-SHA256', 'Signature Algorithm: ecdsa-with-SHA256']);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:1\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    expect(text).not.toContain('Extended Key Usage');
    expect(opensslText(ca.signer.cert)).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n/);

    // Ten calendar years from notBefore, which is an hour before now.
    const from = Date.parse(x509.validFrom);
    const to = new Date(from);
    to.setUTCFullYear(to.getUTCFullYear() + 10);
    expect(Date.parse(x509.validTo)).toBe(to.getTime());
    expect(from).toBeGreaterThanOrEqual(floorSecond(before - HOUR_MS));
    expect(from).toBeLessThanOrEqual(after - HOUR_MS);

    expect((await fs.readdir(root)).sort()).toEqual(NEW_CA_FILES);
    expect(await mode(path.dirname(root))).toBe(0o700);
    expect(await mode(root)).toBe(0o700);
    expect(await mode(keyPath)).toBe(0o600);
    expect(await mode(certPath)).toBe(0o644);
    expect(await mode(path.join(root, SIGNER_CERT_FILE))).toBe(0o644);
    expect(await fs.readFile(certPath, 'utf8')).toBe(ca.cert);
    expect(await fs.readFile(keyPath, 'utf8')).toBe(ca.key);
    expect(await fs.readFile(path.join(root, SIGNER_CERT_FILE), 'utf8')).toBe(ca.signer.cert);

    // The next start reuses it, silently.
    const again = captureLogger();
    const second = await ensureCA(root, again);
    expect(again.lines).toEqual([]);
    expect(second).toEqual({ ...ca, generated: false });
    expect(await readCA(root)).toEqual({ ...ca, generated: false });
  });

  test('with umask 077 the certificate is still 0644; an existing 0755 root keeps its mode (dev-https did not create it)', async () => {
    const root = await tempDir();
    await fs.chmod(root, 0o755);
    const ca = await withUmask(0o077, () => ensureCA(root, captureLogger()));
    expect(await mode(root)).toBe(0o755);
    expect(await mode(ca.keyPath)).toBe(0o600);
    expect(await mode(ca.certPath)).toBe(0o644);
  });

  test("an existing 0755 root holding a user's file keeps its mode and the file; the key is still 0600", async () => {
    const root = await tempDir();
    const notes = path.join(root, 'notes.txt');
    await fs.writeFile(notes, 'mine\n');
    await fs.chmod(notes, 0o644);
    await fs.chmod(root, 0o755);
    const before = await fs.stat(notes);
    const ca = await ensureCA(root, captureLogger());
    expect(ca.generated).toBe(true);
    expect(await mode(root)).toBe(0o755);
    expect(await mode(ca.keyPath)).toBe(0o600);
    expect(await mode(ca.certPath)).toBe(0o644);
    expect(await fs.readFile(notes, 'utf8')).toBe('mine\n');
    const after = await fs.stat(notes);
    expect({ mode: after.mode & 0o777, mtimeMs: after.mtimeMs, ino: after.ino }).toEqual({ mode: 0o644, mtimeMs: before.mtimeMs, ino: before.ino });
    expect((await fs.readdir(root)).sort()).toEqual(['notes.txt', ...NEW_CA_FILES]);

    // Reusing it leaves the directory alone too.
    expect((await ensureCA(root, captureLogger())).fingerprint256).toBe(ca.fingerprint256);
    expect(await mode(root)).toBe(0o755);
  });

  test('readCA of an empty or missing root is null and creates nothing', async () => {
    const root = await tempDir();
    expect(await readCA(root)).toBeNull();
    expect(await readCA(path.join(root, 'nope'))).toBeNull();
    expect(await fs.readdir(root)).toEqual([]);
  });

  test('a root that cannot be created is E_CA naming DEV_HTTPS_CAROOT', async () => {
    await expect(ensureCA('/proc/dev-https-nope', captureLogger())).rejects.toMatchObject({
      name: 'DevHttpsError',
      code: 'E_CA',
      message: 'Cannot create the dev-https CA in /proc/dev-https-nope (ENOENT): set DEV_HTTPS_CAROOT to a directory you can write to',
    });
  });

  test('a root under a file is E_CA "cannot create", not a damaged CA to delete', async () => {
    const file = path.join(await tempDir(), 'in-the-way');
    await fs.writeFile(file, 'data\n');
    const root = path.join(file, 'ca');
    await expect(ensureCA(root, captureLogger())).rejects.toMatchObject({
      name: 'DevHttpsError',
      code: 'E_CA',
      message: `Cannot create the dev-https CA in ${root} (ENOTDIR): set DEV_HTTPS_CAROOT to a directory you can write to`,
    });
    expect(await fs.readFile(file, 'utf8')).toBe('data\n');
  });
});

describe('the CA key', () => {
  test('is never logged, in errors or in handle.certificate', async () => {
    const root = await tempDir();
    const logger = captureLogger();
    const ca = await ensureCA(root, logger);
    await fs.chmod(ca.keyPath, 0o644);
    const refused = await ensureCA(root, logger).catch((err: Error) => err.message);
    await fs.chmod(ca.keyPath, 0o600);
    const app = await startUpstream((_req, res) => res.end('app'));
    const certDir = await tempDir();
    const handle = await startDevHttps({ port: 0, certDir, caRoot: root, logger, target: app.port });
    onCleanup(() => handle.close());
    const certificate = JSON.stringify(handle.certificate);
    // A damaged CA's error message does not quote the key either.
    await fs.writeFile(ca.certPath, (await makeSigner()).cert);
    const error = await ensureCA(root, logger).catch((err: Error) => err.message);

    expect(logger.lines).toEqual([created(ca.certPath), `info: Generating a new certificate: no certificate in ${certDir} yet`]);
    expect(error).toBe(`The dev-https CA in ${root} is unusable: signerCA.pem was not issued by rootCA.pem. Run dev-https untrust, then delete ${root} to start over with a new CA`);
    for (const text of [logger.text(), certificate, String(error), String(refused)]) {
      expect(text).not.toContain('PRIVATE KEY');
      expect(text).not.toContain(keyBody(ca.key).slice(0, 40));
    }
    expect(Object.keys(handle.certificate).sort()).toEqual(['ca', 'cert', 'certPath', 'fingerprint256', 'generated', 'keyPath', 'names', 'source', 'trustPath', 'validTo']);
    expect(Object.keys(handle.certificate.ca!).sort()).toEqual(['cert', 'certPath', 'commonName', 'fingerprint256', 'keyPath', 'permitted', 'unconstrained', 'validTo']);
  });

  test.each([
    ['readable by others (0644)', 'key', 0o644, (root: string, key: string) => `${key} is readable or writable by other users (mode 644), so others could sign for your browsers with it; run chmod 600 ${key}`],
    ['group-writable (0620)', 'key', 0o620, (_root: string, key: string) => `${key} is readable or writable by other users (mode 620), so others could sign for your browsers with it; run chmod 600 ${key}`],
    ['a group-writable root (0770)', 'root', 0o770, (root: string) => `${root} is group- or world-writable (mode 770), so others could sign for your browsers with it; run chmod go-w ${root}`],
    ['a world-writable root (0777)', 'root', 0o777, (root: string) => `${root} is group- or world-writable (mode 777), so others could sign for your browsers with it; run chmod go-w ${root}`],
  ] as const)('a CA with %s is refused with the reason, nothing changed (as ssh refuses a loose ~/.ssh)', async (_label, what, loose, why) => {
    const root = await tempDir();
    const ca = await ensureCA(root, captureLogger());
    const target = what === 'key' ? ca.keyPath : root;
    await fs.chmod(target, loose);
    const before = await snapshot(root);
    const logger = captureLogger();
    await expect(ensureCA(root, logger)).rejects.toMatchObject({ code: 'E_CA', message: `Refusing the dev-https CA in ${root}: ${why(root, ca.keyPath)}` });
    expect(logger.lines).toEqual([]);
    expect(await mode(target)).toBe(loose);
    expect(await snapshot(root)).toEqual(before);
    // untrust and doctor need only the certificate: they still work.
    expect((await readCA(root, { withKey: false }))?.fingerprint256).toBe(ca.fingerprint256);
  });

  test('a CA root or key owned by another user is refused', async () => {
    // Needs root to give a file away; CI runs as root.
    if (process.getuid?.() !== 0) return;
    const root = await tempDir();
    const ca = await ensureCA(root, captureLogger());
    await fs.chown(ca.keyPath, 4242, 4242);
    await expect(ensureCA(root, captureLogger())).rejects.toMatchObject({
      code: 'E_CA',
      message: `Refusing the dev-https CA in ${root}: ${ca.keyPath} is owned by another user (uid 4242), so others could sign for your browsers with it; use a CA root of your own (DEV_HTTPS_CAROOT)`,
    });
    await fs.chown(ca.keyPath, 0, 0);
    await fs.chown(root, 4242, 4242);
    await expect(ensureCA(root, captureLogger())).rejects.toMatchObject({ code: 'E_CA', message: `Refusing the dev-https CA in ${root}: ${root} is owned by another user (uid 4242), so others could sign for your browsers with it; use a CA root of your own (DEV_HTTPS_CAROOT)` });
    // And no new CA is made in a directory someone else owns either.
    const empty = await tempDir();
    await fs.chown(empty, 4242, 4242);
    await expect(ensureCA(empty, captureLogger())).rejects.toMatchObject({ code: 'E_CA', message: `Refusing to create the dev-https CA in ${empty}: it is owned by another user (uid 4242): set DEV_HTTPS_CAROOT to a directory of your own` });
    expect(await fs.readdir(empty)).toEqual([]);
  });

  test('a CA root, or a file in it, that is a symbolic link is refused and nothing outside is touched', async () => {
    const outside = await tempDir();
    await fs.writeFile(path.join(outside, 'precious'), 'keep\n');
    const parent = await tempDir();
    const linked = path.join(parent, 'ca');
    await fs.symlink(outside, linked);
    await expect(ensureCA(linked, captureLogger())).rejects.toMatchObject({
      code: 'E_CA',
      message: `Cannot use the dev-https CA in ${linked}: ${linked} is a symbolic link (to ${outside}) and dev-https never writes through one; remove the link or set DEV_HTTPS_CAROOT to a directory of your own`,
    });
    // A dangling link where the signer's key would go: the key would land outside.
    const root = await tempDir();
    const target = path.join(outside, 'stolen-key.pem');
    await fs.symlink(target, path.join(root, SIGNER_KEY_FILE));
    await expect(ensureCA(root, captureLogger())).rejects.toMatchObject({ code: 'E_CA', message: `Cannot use the dev-https CA in ${root}: ${path.join(root, SIGNER_KEY_FILE)} is a symbolic link (to ${target}) and dev-https never writes through one; remove the link or set DEV_HTTPS_CAROOT to a directory of your own` });
    const fresh = await tempDir();
    await fs.symlink(path.join(outside, 'ssh-config'), path.join(fresh, CA_CERT_FILE));
    await expect(ensureCA(fresh, captureLogger())).rejects.toMatchObject({ code: 'E_CA', message: `Cannot use the dev-https CA in ${fresh}: ${path.join(fresh, CA_CERT_FILE)} is a symbolic link (to ${path.join(outside, 'ssh-config')}) and dev-https never writes through one; remove the link or set DEV_HTTPS_CAROOT to a directory of your own` });
    expect((await fs.readdir(outside)).sort()).toEqual(['precious']);
  });
});

describe('a CA made elsewhere', () => {
  test.each([
    ['RSA (as mkcert makes them)', ['-newkey', 'rsa:2048'], 'sha256WithRSAEncryption'],
    ['EC P-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], 'ecdsa-with-SHA256'],
  ])('%s signs leaves that openssl verifies strictly, with its own Subject Key Identifier as their authority key identifier, reused on the next start', async (_label, keyOptions, algorithm) => {
    const root = await tempDir();
    // A Subject Key Identifier that is not SHA-1 of the key: the leaf must carry this one.
    // (Its own Authority Key Identifier left out: openssl would compute one that does not match.)
    await writeCA(root, opensslCA(root, keyOptions, ['-addext', 'subjectKeyIdentifier=0102030405060708', '-addext', 'authorityKeyIdentifier=none']));
    const ca = (await readCA(root))!;
    const dir = await tempDir();
    const leaf = await ensureCertificate(dir, NAMES, captureLogger(), ca);
    expect(leaf.generated).toBe(true);
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: leaf.cert, encoding: 'utf8' });
    expect(text).toContain(`Signature Algorithm: ${algorithm}`);
    expect(text).toMatch(/X509v3 Authority Key Identifier: ?\n\s+01:02:03:04:05:06:07:08\n/);
    await fs.writeFile(path.join(dir, 'ca.pem'), ca.cert);
    expect(execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', path.join(dir, 'ca.pem'), path.join(dir, CERT_FILE)], { encoding: 'utf8' })).toBe(`${path.join(dir, CERT_FILE)}: OK\n`);
    expect(new X509Certificate(leaf.cert).checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect((await ensureCertificate(dir, NAMES, captureLogger(), ca)).generated).toBe(false);
  });
});

describe('a damaged CA', () => {
  const message = (root: string, why: string) =>
    `The dev-https CA in ${root} is unusable: ${why}. Run dev-https untrust, then delete ${root} to start over with a new CA`;

  const damages: Array<[string, (root: string) => Promise<void>, string]> = [
    ['the key is missing', async (root) => fs.writeFile(path.join(root, CA_CERT_FILE), (await makeSigner()).cert), 'rootCA-key.pem is missing'],
    // readCA waits (up to ~2 s) for a certificate another process may be writing: both calls run at once.
    ['the certificate is missing', async (root) => fs.writeFile(path.join(root, CA_KEY_FILE), (await makeSigner()).key, { mode: 0o600 }), 'rootCA.pem is missing'],
    ['the certificate is corrupt', async (root) => writeCA(root, { cert: 'garbage\n', key: (await makeSigner()).key }), 'rootCA.pem is not a PEM certificate'],
    ['the certificate is truncated', async (root) => {
      const pair = await makeSigner();
      await writeCA(root, { cert: pair.cert.slice(0, 200), key: pair.key });
    }, 'rootCA.pem is not a PEM certificate'],
    ['the key is corrupt', async (root) => writeCA(root, { cert: (await makeSigner()).cert, key: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n' }), 'rootCA-key.pem is not a PEM private key'],
    ['the key is of another CA', async (root) => writeCA(root, { cert: (await makeSigner()).cert, key: (await makeSigner()).key }), 'rootCA-key.pem does not match rootCA.pem'],
    ['the pair is not a CA (a leaf)', async (root) => writeCA(root, await createCertificate(NAMES)), 'rootCA.pem is not a CA certificate'],
    ['the key is Ed25519, which cannot sign here', async (root) => writeCA(root, opensslCA(root, ['-newkey', 'ed25519'])), 'rootCA-key.pem is an ed25519 key; dev-https signs with EC or RSA CA keys'],
    ['the certificate is a directory', async (root) => {
      await fs.mkdir(path.join(root, CA_CERT_FILE));
      await fs.writeFile(path.join(root, CA_KEY_FILE), (await makeSigner()).key, { mode: 0o600 });
    }, 'cannot read it (EISDIR)'],
  ];

  test.each(damages)('%s: E_CA with one line, and nothing is overwritten', async (_label, damage, why) => {
    const root = await tempDir();
    await damage(root);
    const before = await snapshot(root);
    const logger = captureLogger();
    const expected = { name: 'DevHttpsError', code: 'E_CA', message: message(root, why) };
    const [ensured, read] = await Promise.allSettled([ensureCA(root, logger), readCA(root)]);
    for (const result of [ensured, read]) {
      expect(result.status).toBe('rejected');
      const err = (result as PromiseRejectedResult).reason as DevHttpsError;
      expect(err).toBeInstanceOf(DevHttpsError);
      expect(err).toMatchObject(expected);
      expect(err.message).not.toContain('\n');
    }
    expect(logger.lines).toEqual([]);
    expect(await snapshot(root)).toEqual(before);
  });

  test.each([
    ['its signer certificate is corrupt', SIGNER_CERT_FILE, 'garbage\n', 'signerCA.pem is not a PEM certificate'],
    ['its signer key is garbage', SIGNER_KEY_FILE, 'garbage\n', 'signerCA-key.pem is not a PEM private key'],
  ])('a CA dev-https made whose %s: E_CA, nothing overwritten; untrust and doctor still read the root', async (_label, file, text, why) => {
    const root = await tempDir();
    const ca = await ensureCA(root, captureLogger());
    await fs.writeFile(path.join(root, file), text, { mode: 0o600 });
    const before = await snapshot(root);
    await expect(ensureCA(root, captureLogger())).rejects.toMatchObject({ code: 'E_CA', message: message(root, why) });
    expect(await snapshot(root)).toEqual(before);
    expect((await readCA(root, { withKey: false }))?.fingerprint256).toBe(ca.fingerprint256);
  });

  test('a CA dev-https made whose signer key was deleted: E_CA "signerCA-key.pem is missing"', async () => {
    const root = await tempDir();
    const ca = await ensureCA(root, captureLogger());
    await fs.rm(ca.keyPath);
    await expect(readCA(root)).rejects.toMatchObject({ code: 'E_CA', message: message(root, 'signerCA-key.pem is missing') });
  });

  test('a CA replaced while readCA waits for its certificate is read whole (the key is read again too)', async () => {
    // Another process between retiring the old CA (certificate renamed first) and writing the new one.
    const root = await tempDir();
    const old = await makeSigner();
    await fs.writeFile(path.join(root, CA_KEY_FILE), old.key, { mode: 0o600 });
    const reading = readCA(root);
    await sleep(300);
    // Written as createCA does: each file renamed into place, the key first.
    const next = await makeSigner();
    for (const [file, text] of [[CA_KEY_FILE, next.key], [CA_CERT_FILE, next.cert]] as const) {
      await fs.writeFile(path.join(root, `${file}.tmp`), text, { mode: 0o600 });
      await fs.rename(path.join(root, `${file}.tmp`), path.join(root, file));
    }
    const ca = await reading;
    expect(ca?.fingerprint256).toBe(new X509Certificate(next.cert).fingerprint256);
    expect(ca?.key).toBe(next.key);
  });
});

describe('a CA near its end', () => {
  test.each([
    ['expires within 60 days', 30, 'expires'],
    ['has expired', -3, 'expired'],
  ] as const)('a CA that %s is retired beside the new one, with a warning', async (_label, days, verb) => {
    const root = await tempDir();
    const notAfter = new Date(Date.now() + days * DAY_MS);
    const old = await createCACertificate(caCommonName(), { notBefore: new Date(Date.now() - 3650 * DAY_MS), notAfter });
    await writeCA(root, old);
    const oldX509 = new X509Certificate(old.cert);
    const day = isoDay(oldX509.validTo);
    const certPath = path.join(root, CA_CERT_FILE);

    const logger = captureLogger();
    const ca = await ensureCA(root, logger);
    expect(logger.lines).toEqual([`warn: The dev-https CA ${certPath} ${verb} on ${day}: creating a new one; run dev-https trust again`, created(certPath)]);
    expect(ca.generated).toBe(true);
    expect(ca.fingerprint256).not.toBe(oldX509.fingerprint256);
    expect(new X509Certificate(ca.signer.cert).checkPrivateKey(createPrivateKey(ca.key))).toBe(true);
    // The old one could sign for any site; its successor is constrained.
    expect(ca.permitted).toEqual([...DEFAULT_PERMITTED]);
    expect(ca.validTo.getTime()).toBeGreaterThan(Date.now() + 9 * 365 * DAY_MS);
    expect((await fs.readdir(root)).sort()).toEqual([`rootCA-key.pem.expired-${day}`, 'rootCA.pem', `rootCA.pem.expired-${day}`, 'signerCA-key.pem', 'signerCA.pem']);
    expect(await fs.readFile(path.join(root, `rootCA.pem.expired-${day}`), 'utf8')).toBe(old.cert);
    expect(await fs.readFile(path.join(root, `rootCA-key.pem.expired-${day}`), 'utf8')).toBe(old.key);
    expect(await mode(path.join(root, `rootCA-key.pem.expired-${day}`))).toBe(0o600);
    expect(await fs.readFile(certPath, 'utf8')).toBe(ca.cert);

    // The new one is then reused.
    const again = captureLogger();
    expect((await ensureCA(root, again)).fingerprint256).toBe(ca.fingerprint256);
    expect(again.lines).toEqual([]);
  });

  test('a CA with 61 days left is kept', async () => {
    const root = await tempDir();
    const old = await createCACertificate(caCommonName(), { notAfter: new Date(Date.now() + 61 * DAY_MS) });
    await writeCA(root, old);
    const logger = captureLogger();
    const ca = await ensureCA(root, logger);
    expect(logger.lines).toEqual([]);
    expect(ca.generated).toBe(false);
    expect(ca.cert).toBe(old.cert);
  });

  test('two at once replacing the same expiring CA end with one new CA and one retired pair', async () => {
    const root = await tempDir();
    const old = await createCACertificate(caCommonName(), { notAfter: new Date(Date.now() + 10 * DAY_MS) });
    await writeCA(root, old);
    const day = isoDay(new X509Certificate(old.cert).validTo);
    const [a, b] = await Promise.all([ensureCA(root, captureLogger()), ensureCA(root, captureLogger())]);
    expect(a.fingerprint256).toBe(b.fingerprint256);
    expect((await fs.readdir(root)).sort()).toEqual([`rootCA-key.pem.expired-${day}`, 'rootCA.pem', `rootCA.pem.expired-${day}`, 'signerCA-key.pem', 'signerCA.pem']);
    expect(await fs.readFile(path.join(root, `rootCA.pem.expired-${day}`), 'utf8')).toBe(old.cert);
    expect(new X509Certificate(await fs.readFile(path.join(root, CA_CERT_FILE), 'utf8')).fingerprint256).toBe(a.fingerprint256);
  });
});

describe('two creating the CA at once', () => {
  test('in one process: one CA, one of them created it, no temp files', async () => {
    const root = path.join(await tempDir(), 'ca');
    const loggers = [captureLogger(), captureLogger(), captureLogger()];
    const cas = await Promise.all(loggers.map((l) => ensureCA(root, l)));
    const fingerprint = new X509Certificate(await fs.readFile(path.join(root, CA_CERT_FILE), 'utf8')).fingerprint256;
    expect(cas.map((c) => c.fingerprint256)).toEqual([fingerprint, fingerprint, fingerprint]);
    expect(cas.filter((c) => c.generated)).toHaveLength(1);
    expect(loggers.flatMap((l) => l.lines)).toEqual([created(path.join(root, CA_CERT_FILE))]);
    expect((await fs.readdir(root)).sort()).toEqual(NEW_CA_FILES);
    expect(await fs.readFile(path.join(root, SIGNER_KEY_FILE), 'utf8')).toBe(cas.find((c) => c.generated)!.key);
  });

  test('in separate node processes (the built dist): they all report the same CA', async () => {
    const root = path.join(await tempDir(), 'ca');
    const caModule = pathToFileURL(path.resolve(import.meta.dirname, '../../dist/certs/ca.js')).href;
    await fs.access(new URL(caModule)).catch(() => {
      throw new Error('dist/certs/ca.js is missing: run npm run build first');
    });
    // Each loads the module, then all start at the same moment.
    const script = `
      const { ensureCA } = await import(${JSON.stringify(caModule)});
      const silent = { info() {}, warn() {}, error() {} };
      await new Promise((r) => setTimeout(r, Math.max(0, Number(process.env.START_AT) - Date.now())));
      const ca = await ensureCA(process.env.CA_ROOT, silent);
      process.stdout.write(JSON.stringify({ fingerprint256: ca.fingerprint256, generated: ca.generated }));
    `;
    const startAt = Date.now() + 1500;
    const runs = await Promise.all(
      Array.from({ length: 4 }, () => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          env: { ...process.env, CA_ROOT: root, START_AT: String(startAt) },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c) => (stdout += c));
        child.stderr.on('data', (c) => (stderr += c));
        return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
      }),
    );
    expect(runs.map((r) => [r.code, r.stderr])).toEqual(Array(4).fill([0, '']));
    const reports = runs.map((r) => JSON.parse(r.stdout) as { fingerprint256: string; generated: boolean });
    const fingerprint = new X509Certificate(await fs.readFile(path.join(root, CA_CERT_FILE), 'utf8')).fingerprint256;
    expect(reports.map((r) => r.fingerprint256)).toEqual(Array(4).fill(fingerprint));
    expect(reports.filter((r) => r.generated)).toHaveLength(1);
    expect((await fs.readdir(root)).sort()).toEqual(NEW_CA_FILES);
    const ca = await readCA(root);
    expect(ca?.fingerprint256).toBe(fingerprint);
  });
});

describe('leaves signed by the CA', () => {
  test('are issued by the CA and verified through it for localhost, 127.0.0.1 and ::1; without it the standard error', async () => {
    const ca = await makeSigner();
    const caX509 = new X509Certificate(ca.cert);
    const dir = await tempDir();
    const logger = captureLogger();
    const leaf = await ensureCertificate(dir, NAMES, logger, ca);
    expect(logger.lines).toEqual([`info: Generating a new certificate: no certificate in ${dir} yet`]);
    const x509 = new X509Certificate(leaf.cert);
    expect(x509.checkIssued(caX509)).toBe(true);
    expect(x509.verify(caX509.publicKey)).toBe(true);
    expect(x509.verify(x509.publicKey)).toBe(false);
    expect(x509.issuer).toBe(caX509.subject);
    expect(x509.subject).toBe('CN=localhost\nO=dev-https development certificate');
    expect(x509.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(x509.ca).toBe(false);

    const caFile = path.join(dir, 'ca.pem');
    await fs.writeFile(caFile, ca.cert);
    expect(execFileSync('openssl', ['verify', '-CAfile', caFile, leaf.certPath], { encoding: 'utf8' })).toBe(`${leaf.certPath}: OK\n`);

    // Handshakes by every name trusting this CA are in cert.test.ts; here: the leaf alone is no anchor.
    const port = await serveTls(leaf, '127.0.0.1');
    expect(await tlsGet('127.0.0.1', port, 'localhost', ca.cert)).toBe('200 tls ok');
    await expect(tlsGet('127.0.0.1', port, 'localhost', leaf.cert)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  test('pass strict X.509 verification (Python 3.13 default): CA with a Subject Key Identifier, leaf with an Authority Key Identifier', async () => {
    const dir = await tempDir();
    const ca = await makeSigner();
    const leaf = await ensureCertificate(dir, NAMES, captureLogger(), ca);
    const caFile = path.join(dir, 'ca.pem');
    await fs.writeFile(caFile, ca.cert);
    const verify = () => {
      try {
        return execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', caFile, leaf.certPath], { encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        return String((err as { stdout?: string }).stdout) + String((err as { stderr?: string }).stderr);
      }
    };
    expect(verify()).toBe(`${leaf.certPath}: OK\n`);
  });

  test('a cached leaf with exactly the names, from this CA, is reused', async () => {
    const ca = await makeSigner();
    const dir = await tempDir();
    const first = await ensureCertificate(dir, NAMES, captureLogger(), ca);
    const logger = captureLogger();
    const second = await ensureCertificate(dir, ['::1', 'localhost', '127.0.0.1'], logger, ca);
    expect(logger.lines).toEqual([`info: Using the cached certificate ${first.certPath}`]);
    expect(second).toEqual({ ...first, generated: false });
  });

  type Cached = (dir: string, ca: Signer) => Promise<(certPath: string) => string>;
  const replaced: Array<[string, Cached]> = [
    [
      'was issued by another CA',
      async (dir) => {
        await ensureCertificate(dir, NAMES, captureLogger(), await makeSigner('another CA'));
        return (c) => `${c} was not issued by the current dev-https CA`;
      },
    ],
    [
      'was issued by another CA of the same name (a replaced CA)',
      async (dir) => {
        // Same subject as the current CA, another key: only the signature tells them apart.
        await ensureCertificate(dir, NAMES, captureLogger(), await makeSigner());
        return (c) => `${c} was not issued by the current dev-https CA`;
      },
    ],
    [
      'is self-signed (from before the CA)',
      async (dir) => {
        await writeLeaf(dir, await createCertificate(NAMES));
        return (c) => `${c} was not issued by the current dev-https CA`;
      },
    ],
    [
      'has expired',
      async (dir, ca) => {
        const pair = await createCertificate(NAMES, { ca, notBefore: new Date(Date.now() - 400 * DAY_MS), notAfter: new Date(Date.now() - 5 * DAY_MS) });
        await writeLeaf(dir, pair);
        return (c) => `${c} expired on ${isoDay(new X509Certificate(pair.cert).validTo)} (renewed 30 days ahead)`;
      },
    ],
    [
      'expires within 30 days',
      async (dir, ca) => {
        const pair = await createCertificate(NAMES, { ca, notAfter: new Date(Date.now() + 29 * DAY_MS) });
        await writeLeaf(dir, pair);
        return (c) => `${c} expires on ${isoDay(new X509Certificate(pair.cert).validTo)} (renewed 30 days ahead)`;
      },
    ],
    [
      'lacks a name',
      async (dir, ca) => {
        await writeLeaf(dir, await createCertificate(['localhost', '127.0.0.1'], { ca }));
        return (c) => `${c} does not cover ::1`;
      },
    ],
    [
      'has other names',
      async (dir, ca) => {
        await writeLeaf(dir, await createCertificate(['app.test', '10.0.0.1'], { ca }));
        return (c) => `${c} does not cover localhost, 127.0.0.1, ::1`;
      },
    ],
    [
      'names one no longer served',
      async (dir, ca) => {
        await writeLeaf(dir, await createCertificate([...NAMES, 'old.test', '10.9.8.7'], { ca }));
        return (c) => `${c} also names old.test, 10.9.8.7, which is no longer served`;
      },
    ],
  ];

  test.each(replaced)('a cached leaf that %s is replaced', async (_label, cached) => {
    const ca = await makeSigner();
    const dir = await tempDir();
    const expected = await cached(dir, ca);
    const before = await fs.readFile(path.join(dir, CERT_FILE), 'utf8');
    const logger = captureLogger();
    const leaf = await ensureCertificate(dir, NAMES, logger, ca);
    expect(logger.lines).toEqual([`info: Generating a new certificate: ${expected(leaf.certPath)}`]);
    expect(leaf.generated).toBe(true);
    expect(leaf.cert).not.toBe(before);
    const x509 = new X509Certificate(leaf.cert);
    expect(x509.checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(x509.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(x509.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(await fs.readFile(leaf.certPath, 'utf8')).toBe(leaf.cert);
    expect(await fs.readFile(leaf.keyPath, 'utf8')).toBe(leaf.key);
    expect(await mode(leaf.keyPath)).toBe(0o600);
    expect((await fs.readdir(dir)).sort()).toEqual(['.gitignore', 'cert.pem', 'key.pem']);
    // The replacement is sound: the next start reuses it.
    const next = await ensureCertificate(dir, NAMES, captureLogger(), ca);
    expect(next.generated).toBe(false);
    expect(next.fingerprint256).toBe(leaf.fingerprint256);
  });

  test('a leaf ends no later than its CA', async () => {
    const ca = await makeSigner('short CA', 100);
    const caEnd = Date.parse(new X509Certificate(ca.cert).validTo);
    const leaf = await ensureCertificate(await tempDir(), NAMES, captureLogger(), ca);
    expect(leaf.validTo.getTime()).toBe(caEnd);
    expect(Date.parse(new X509Certificate(leaf.cert).validTo)).toBe(caEnd);
    const asked = await createCertificate(NAMES, { ca, notAfter: new Date(Date.now() + 300 * DAY_MS) });
    expect(Date.parse(new X509Certificate(asked.cert).validTo)).toBe(caEnd);
    // A CA that outlives the year does not shorten it.
    const long = new X509Certificate((await createCertificate(NAMES, { ca: await makeSigner() })).cert);
    expect(Date.parse(long.validTo) - Date.parse(long.validFrom)).toBe(365 * DAY_MS);
  });

  describe('checkCertificate with a CA', () => {
    const certPath = '/c/cert.pem';
    const keyPath = '/c/key.pem';
    const now = new Date('2030-06-01T00:00:00.000Z');
    const setup = (async () => {
      const ca = await createCACertificate('check CA', { notBefore: new Date('2029-01-01T00:00:00Z'), notAfter: new Date('2039-01-01T00:00:00Z') });
      const other = await createCACertificate('check CA', { notBefore: new Date('2029-01-01T00:00:00Z'), notAfter: new Date('2039-01-01T00:00:00Z') });
      const leaf = await createCertificate([...NAMES, 'myapp.test'], { ca, notBefore: new Date('2030-01-01T00:00:00Z'), notAfter: new Date('2031-01-01T00:00:00Z') });
      return { ca, other, leaf };
    })();

    test.each([
      ['the same names', [...NAMES, 'myapp.test'], 'ca', null],
      ['the same names in another order', ['myapp.test', '::1', '127.0.0.1', 'localhost'], 'ca', null],
      ['a name no longer served', NAMES, 'ca', { text: '/c/cert.pem also names myapp.test, which is no longer served', warn: false }],
      ['a new name', [...NAMES, 'myapp.test', 'new.test'], 'ca', { text: '/c/cert.pem does not cover new.test', warn: false }],
      ['another CA of the same name', [...NAMES, 'myapp.test'], 'other', { text: '/c/cert.pem was not issued by the current dev-https CA', warn: false }],
      ['no CA: extra names are fine', NAMES, 'none', null],
    ] as const)('%s', async (_label, names, which, expected) => {
      const { ca, other, leaf } = await setup;
      const signer = which === 'ca' ? ca : which === 'other' ? other : undefined;
      expect(checkCertificate({ ...leaf, x509: new X509Certificate(leaf.cert) }, [...names], certPath, keyPath, now, signer)).toEqual(expected);
    });
  });
});

describe('renewal while running', () => {
  test('a leaf due for renewal is replaced in place: new connections get it, an open one keeps the old, HTTP/2 still negotiated', async () => {
    const caRoot = await tempDir();
    const ca = await ensureCA(caRoot, captureLogger());
    const certDir = await tempDir();
    const certPath = path.join(certDir, CERT_FILE);
    const keyPath = path.join(certDir, KEY_FILE);
    // Reused at start (more than 30 days left), due for renewal about 4 s later.
    const notAfter = new Date(Math.ceil(Date.now() / 1000) * 1000 + RENEW_WITHIN_DAYS * DAY_MS + 4000);
    const old = await createCertificate(NAMES, { ca, notAfter });
    await writeLeaf(certDir, old);
    const oldX509 = new X509Certificate(old.cert);

    const app = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
      res.end('app');
    });
    const logger = captureLogger();
    const handle = await startDevHttps({ port: 0, certDir, caRoot, logger, target: app.port });
    onCleanup(() => handle.close());
    const port = Number(new URL(handle.urls.https).port);
    expect(logger.lines).toEqual([`info: Using the cached certificate ${certPath}`]);
    expect(handle.certificate).toMatchObject({ fingerprint256: oldX509.fingerprint256, generated: false, source: 'ca', certPath, keyPath, trustPath: ca.certPath });

    // One keep-alive connection, used until (and after) the renewal. The certificate is recorded at
    // its handshake: Node no longer reports the peer certificate of a socket the agent reuses.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.cert });
    onCleanup(() => agent.destroy());
    const served = new WeakMap<object, string>();
    const get = () =>
      new Promise<{ status: number; body: string; reused: boolean; fingerprint256: string | undefined }>((resolve, reject) => {
        const req = https.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          const fingerprint256 = served.get(res.socket);
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body, reused: req.reusedSocket, fingerprint256 }));
          res.on('error', reject);
        });
        req.on('socket', (socket: tls.TLSSocket) => {
          if (!served.has(socket)) socket.once('secureConnect', () => served.set(socket, socket.getPeerX509Certificate()!.fingerprint256));
        });
        req.on('error', reject);
      });
    const old1 = await get();
    expect(old1).toEqual({ status: 200, body: 'app', reused: false, fingerprint256: oldX509.fingerprint256 });

    const renewed = (l: string) => l.startsWith('info: Renewed the certificate');
    const seen = await poll(async () => {
      // Requests keep the connection from idling out while we wait.
      const r = await get();
      expect(r).toEqual({ status: 200, body: 'app', reused: true, fingerprint256: oldX509.fingerprint256 });
      await sleep(150);
      return logger.lines.some(renewed);
    }, 100);
    expect(seen).toBe(true);

    const current = handle.certificate;
    const newX509 = new X509Certificate(current.cert);
    expect(current.fingerprint256).toBe(newX509.fingerprint256);
    expect(current.fingerprint256).not.toBe(oldX509.fingerprint256);
    expect(current.generated).toBe(true);
    expect(current.validTo.getTime()).toBe(Date.parse(newX509.validTo));
    expect(Date.parse(newX509.validTo) - Date.parse(newX509.validFrom)).toBe(365 * DAY_MS);
    expect(Date.parse(newX509.validFrom)).toBeLessThanOrEqual(Date.now() - HOUR_MS);
    expect(newX509.checkIssued(new X509Certificate(ca.signer.cert))).toBe(true);
    expect(newX509.verify(new X509Certificate(ca.signer.cert).publicKey)).toBe(true);
    expect(logger.lines).toEqual([
      `info: Using the cached certificate ${certPath}`,
      `info: Generating a new certificate: ${certPath} expires on ${isoDay(oldX509.validTo)} (renewed 30 days ahead)`,
      `info: Renewed the certificate ${certPath}: expires ${isoDay(newX509.validTo)}, SHA-256 ${newX509.fingerprint256}`,
    ]);

    // New connections get the new certificate...
    expect(await handshake(port, ca.cert)).toEqual({ fingerprint256: newX509.fingerprint256, alpn: false });
    expect(await request(`https://127.0.0.1:${port}/`, { ca: ca.cert }).then((r) => `${r.status} ${r.body}`)).toBe('200 app');
    // ...the open one carries on with the old.
    expect(await get()).toEqual({ status: 200, body: 'app', reused: true, fingerprint256: oldX509.fingerprint256 });

    // ALPN survives setSecureContext: HTTP/2 clients still get h2.
    expect(await handshake(port, ca.cert, ['h2', 'http/1.1'])).toEqual({ fingerprint256: newX509.fingerprint256, alpn: 'h2' });
    const session = http2.connect(`https://localhost:${port}`, { ca: ca.cert });
    // A failing session fails its stream too: h2get rejects with the error.
    session.on('error', () => undefined);
    onCleanup(() => void session.destroy());
    const { status, body } = await h2get(session);
    const h2 = `${session.alpnProtocol} ${status} ${body} ${(session.socket as tls.TLSSocket).getPeerX509Certificate()!.fingerprint256}`;
    expect(h2).toBe(`h2 200 app ${newX509.fingerprint256}`);

    // The files on disk are the new pair.
    expect(await fs.readFile(certPath, 'utf8')).toBe(current.cert);
    expect(newX509.checkPrivateKey(createPrivateKey(await fs.readFile(keyPath, 'utf8')))).toBe(true);
    expect(await mode(keyPath)).toBe(0o600);
    expect(await mode(certPath)).toBe(0o644);
    expect((await fs.readdir(certDir)).sort()).toEqual(['.gitignore', 'cert.pem', 'key.pem']);
  });
});

describe('certificates on demand for *.localhost names', () => {
  const DEFAULT_SAN = 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1';

  /** startDevHttps with a CA of the test's own; the lines it logged at start are checked here. */
  async function startOwn(names: string[] = []) {
    const caRoot = await tempDir();
    const certDir = await tempDir();
    const app = await startUpstream((_req, res) => res.end('app'));
    const logger = captureLogger();
    const handle = await startDevHttps({ port: 0, target: app.port, certDir, caRoot, logger, names });
    onCleanup(() => handle.close());
    const startLines = [created(path.join(caRoot, CA_CERT_FILE)), `info: Generating a new certificate: no certificate in ${certDir} yet`];
    // Leaves are signed by the CA's intermediate; clients trust the root.
    const signer = await fs.readFile(path.join(caRoot, SIGNER_CERT_FILE), 'utf8');
    return { handle, logger, startLines, port: Number(new URL(handle.urls.https).port), ca: handle.certificate.ca!.cert, signer, defaultFp: handle.certificate.fingerprint256 };
  }

  /**
   * A new TLS connection to 127.0.0.1 sending `servername`, trusting only `ca`: the certificate it
   * was served. `anyName` skips the name check (the chain is still verified): to see what a name
   * the certificate does not cover gets.
   */
  function served(port: number, servername: string, ca: string, anyName = false): Promise<X509Certificate> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername, ca, ...(anyName ? { checkServerIdentity: () => undefined } : {}) }, () => {
        const cert = socket.getPeerX509Certificate()!;
        socket.destroy();
        resolve(cert);
      });
      socket.on('error', reject);
    });
  }

  test('shop.localhost gets its own certificate from the CA, once: the same one on the next connection, one log line', async () => {
    const { logger, startLines, port, ca, signer, defaultFp } = await startOwn();
    expect(logger.lines).toEqual(startLines);
    const caX509 = new X509Certificate(signer);

    const first = await served(port, 'shop.localhost', ca);
    expect(first.subjectAltName).toBe('DNS:shop.localhost');
    expect(first.checkIssued(caX509)).toBe(true);
    expect(first.verify(caX509.publicKey)).toBe(true);
    expect(first.issuer).toBe(caX509.subject);
    expect(first.ca).toBe(false);
    expect(first.fingerprint256).not.toBe(defaultFp);

    const second = await served(port, 'shop.localhost', ca);
    // SNI is case-insensitive: the same name, the same certificate.
    const upper = await served(port, 'SHOP.localhost', ca);
    expect([second.fingerprint256, upper.fingerprint256]).toEqual([first.fingerprint256, first.fingerprint256]);
    expect(logger.lines).toEqual([...startLines, 'info: Issued a certificate for shop.localhost (from the dev-https CA, kept in memory)']);

    // An HTTPS client that trusts the CA reaches the app by that name.
    const reply = await request(`https://shop.localhost:${port}/`, { ca, lookupAddress: '127.0.0.1' });
    expect(`${reply.status} ${reply.body}`).toBe('200 app');
    expect(logger.lines).toHaveLength(startLines.length + 1);
  });

  test('localhost and a name not under localhost get the default certificate; nothing is issued or logged', async () => {
    const { logger, startLines, port, ca, defaultFp } = await startOwn();
    const local = await served(port, 'localhost', ca);
    const other = await served(port, 'evil.test', ca, true);
    expect([local.subjectAltName, local.fingerprint256]).toEqual([DEFAULT_SAN, defaultFp]);
    expect([other.subjectAltName, other.fingerprint256]).toEqual([DEFAULT_SAN, defaultFp]);
    expect(logger.lines).toEqual(startLines);
  });

  // All of these reach the server as they are (checked with a plain tls server's SNICallback on
  // Node 20); a NUL is cut off by OpenSSL on the client and over 255 bytes it refuses to send.
  test.each([
    ['a space', 'a b.localhost'],
    ['a wildcard', '*.localhost'],
    ['an escape sequence', 'x\u001b[2J.localhost'],
    ['a newline (a forged log line)', 'ex\nwarn.localhost'],
    ['non-ASCII', '\u00e9.localhost'],
    ['an underscore', 'a_b.localhost'],
    ['an empty label', 'a..localhost'],
    ['a leading hyphen', '-a.localhost'],
  ])('a malformed name sent as SNI (%s) gets the default certificate; nothing is issued or logged', async (_label, servername) => {
    const { logger, startLines, port, ca, defaultFp } = await startOwn();
    const cert = await served(port, servername, ca, true);
    expect([cert.subjectAltName, cert.fingerprint256]).toEqual([DEFAULT_SAN, defaultFp]);
    expect(logger.lines).toEqual(startLines);
  });

  test('a name a --name wildcard covers (*.app.localhost) is served the default certificate, which has it', async () => {
    const { logger, startLines, port, ca, defaultFp } = await startOwn(['*.app.localhost']);
    const cert = await served(port, 'x.app.localhost', ca);
    expect([cert.subjectAltName, cert.fingerprint256]).toEqual([`${DEFAULT_SAN}, DNS:*.app.localhost`, defaultFp]);
    expect(logger.lines).toEqual(startLines);
  });

  test('--name *.localhost warns (browsers refuse that wildcard), and *.localhost names still get their own certificate', async () => {
    const { logger, startLines, port, ca, defaultFp } = await startOwn(['*.localhost']);
    const warning =
      'warn: --name *.localhost: browsers refuse a wildcard right under localhost; dev-https issues a certificate for each *.localhost name on first use anyway, so it is not needed';
    expect(logger.lines).toEqual([warning, ...startLines]);
    const cert = await served(port, 'shop.localhost', ca);
    expect(cert.subjectAltName).toBe('DNS:shop.localhost');
    expect(cert.fingerprint256).not.toBe(defaultFp);
    expect(logger.lines).toEqual([warning, ...startLines, 'info: Issued a certificate for shop.localhost (from the dev-https CA, kept in memory)']);
  });
});

describe('--host 0.0.0.0 and ::', () => {
  const external = (v6: boolean) =>
    Object.values(os.networkInterfaces())
      .flatMap((list) => list ?? [])
      .filter((i) => !i.internal && (i.family === 'IPv4' || (v6 && !i.address.toLowerCase().startsWith('fe80'))))
      .map((i) => i.address.toLowerCase());
  const ipv4 = external(false);

  test.skipIf(ipv4.length === 0).each([
    ['0.0.0.0', false],
    ['::', true],
  ] as const)('with --host %s the leaf names the machine\'s external addresses', async (host, v6) => {
    const addresses = external(v6);
    const app = await startUpstream((_req, res) => res.end('app'));
    const logger = captureLogger();
    const caRoot = await tempDir();
    const handle = await startDevHttps({ port: 0, host, certDir: await tempDir(), caRoot, logger, target: app.port });
    onCleanup(() => handle.close());
    const port = Number(new URL(handle.urls.https).port);
    const { cert, names, ca } = handle.certificate;

    // The CA signs only private and link-local addresses: a public one is left out, with a warning.
    const signed = addresses.filter((a) => permits(DEFAULT_PERMITTED, a));
    const left = addresses.filter((a) => !signed.includes(a));
    expect(names).toEqual([...NAMES, ...signed]);
    expect(handle.networkAddresses).toEqual(addresses);
    const san = ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', ...signed.map((a) => `IP Address:${a.includes(':') ? expandIpv6(a) : a}`)];
    expect(new X509Certificate(cert).subjectAltName).toBe(san.join(', '));
    expect(logger.lines).toContain(`warn: --host ${host}: dev-https and your app are now reachable from the network, not only from this machine`);
    const leftOut = `warn: The certificate leaves out ${left.join(', ')}: the dev-https CA signs only local names and private addresses, so browsers reaching this machine there get a warning`;
    expect(logger.lines.includes(leftOut)).toBe(left.length > 0);

    // A client on the LAN verifies the address it connected to.
    for (const address of signed) {
      const url = address.includes(':') ? `https://[${address}]:${port}/` : `https://${address}:${port}/`;
      expect(await request(url, { ca: ca!.cert }).then((r) => `${r.status} ${r.body}`)).toBe('200 app');
    }
  });
});

/** openssl and Node print IPv6 SAN entries in full, without :: compression. */
function expandIpv6(address: string): string {
  const [head = '', tail = ''] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : address.split(':');
  return groups.map((g) => g.replace(/^0+(?=.)/, '').toUpperCase()).join(':');
}
