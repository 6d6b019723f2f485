// trust, untrust, doctor and cert through the real bin, against real stores in temp places: NSS
// databases under a temp HOME (certutil), Debian's update-ca-certificates under
// DEV_HTTPS_SYSTEM_STORE_ROOT, and a copied Java cacerts (keytool). The state is read back with
// the stores' own tools, never through dev-https. The machine's own stores are never touched.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { ensureCA } from '../../src/certs/ca.js';
import { createCACertificate, createCertificate } from '../../src/certs/cert.js';
import { DEFAULT_PERMITTED, describePermitted } from '../../src/certs/constraints.js';
import { resolveStores } from '../../src/options.js';
import { runTrustCommand } from '../../src/trust/trust-commands.js';
import { KEYTOOL, onPath, request, run, runCleanups, tempDir, tempJavaHome, testCa, waitFor } from '../helpers.js';

afterEach(runCleanups);

const CERTUTIL = onPath('certutil');
const UPDATE_CA = onPath('update-ca-certificates', ['/usr/sbin/update-ca-certificates']);
const MOZILLA_CERTS = '/usr/share/ca-certificates/mozilla';
const systemStoreTestable = process.platform === 'linux' && UPDATE_CA !== null && fs.existsSync(MOZILLA_CERTS);

const CA_ROOT = process.env.DEV_HTTPS_CAROOT!;
const CA_PATH = path.join(CA_ROOT, 'rootCA.pem');
const CA_PEM = await testCa();
const CA = new X509Certificate(CA_PEM);
const CA_NAME = /^CN=(.*)$/m.exec(CA.subject)![1]!;
/** The first 16 hex digits of the CA's SHA-256: what names its entries in every store. */
const SHORT = createHash('sha256').update(CA.raw).digest('hex').slice(0, 16);
const NICKNAME = `${CA_NAME} ${SHORT}`;
const ALIAS = `dev-https-${SHORT}`;
const SIGNS = `  signs only ${describePermitted(DEFAULT_PERMITTED)}`;
const HEADER = [`dev-https CA: ${CA_NAME}`, `  ${CA_PATH} (SHA-256 ${CA.fingerprint256})`, SIGNS];
/** Where dev-https finds a tool: the system's directories, never PATH. */
const systemTool = (name: string) =>
  ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((d) => path.join(d, name)).find((f) => fs.existsSync(f))!;
// Only after a browser's store (nss, macos, windows) was trusted.
const RESTART = 'Restart your browser if it was open: browsers read their trust stores at start.';
const STAYS = `The CA itself stays in ${CA_ROOT}; delete that directory to remove it for good (projects then get a new CA).`;

const OS_RELEASE = fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '';
const debianLike = /^ID(_LIKE)?="?[^\n]*\b(debian|ubuntu)\b/m.test(OS_RELEASE);

// What must stay as it was: the user's real CA root, and the machine's own stores.
const REAL_CA_ROOT = path.join(os.homedir(), '.local', 'share', 'dev-https');
const realCaRootExisted = fs.existsSync(REAL_CA_ROOT);

afterAll(() => {
  expect(fs.existsSync(REAL_CA_ROOT)).toBe(realCaRootExisted);
  expect(fs.existsSync(`/usr/local/share/ca-certificates/dev-https-${SHORT}.crt`)).toBe(false);
  if (fs.existsSync('/etc/ssl/certs/ca-certificates.crt'))
    expect(fingerprints(fs.readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8'))).not.toContain(CA.fingerprint256);
  const realNssDb = path.join(os.homedir(), '.pki', 'nssdb');
  if (CERTUTIL && fs.existsSync(path.join(realNssDb, 'cert9.db'))) expect(Object.keys(nssEntries(realNssDb))).not.toContain(NICKNAME);
});

const text = (...lines: string[]) => lines.join('\n') + '\n';

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The bin to completion. HOME is always a temp dir, JAVA_HOME is unset and the system store is
 * moved under HOME unless the test says otherwise, so a command can never reach the machine's stores.
 */
async function dev(args: string[], env: { HOME: string } & NodeJS.ProcessEnv, cwd = env.HOME): Promise<Done> {
  const r = run(args, { cwd, env: { JAVA_HOME: '', DEV_HTTPS_SYSTEM_STORE_ROOT: path.join(env.HOME, 'no-system-store'), ...env } });
  const { code } = await r.exited;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

/** The ✔ or ✘ line a command printed for `label`. */
function resultLine(done: Done, label: string): string | undefined {
  return done.stdout.split('\n').find((l) => l.startsWith(`✔ ${label}: `) || l.startsWith(`✘ ${label}: `));
}

function fingerprints(pemBundle: string): string[] {
  return (pemBundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (pem) => new X509Certificate(pem).fingerprint256,
  );
}

// ---------------------------------------------------------------------------------------------
// NSS

function certutil(args: string[]): string {
  return execFileSync(CERTUTIL!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function newNssDb(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  certutil(['-N', '-d', `sql:${dir}`, '--empty-password']);
  return dir;
}

/** Nickname → trust flags ("C,,"), as `certutil -L` lists them. */
function nssEntries(dir: string): Record<string, string> {
  const lines = certutil(['-L', '-d', `sql:${dir}`])
    .split('\n')
    .slice(4);
  return Object.fromEntries(
    lines
      .map((l) => /^(.+?)\s+(\S*,\S*,\S*)\s*$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => [m[1], m[2]]),
  );
}

/** The SHA-256 of the certificate stored under `nickname`. */
function nssFingerprint(dir: string, nickname: string): string {
  return new X509Certificate(certutil(['-L', '-d', `sql:${dir}`, '-n', nickname, '-a'])).fingerprint256;
}

/** What NSS itself says of `nickname` as an SSL server's issuer (certutil -V -u L). */
function nssVerify(dir: string, nickname: string): string {
  const r = spawnSync(CERTUTIL!, ['-V', '-d', `sql:${dir}`, '-u', 'L', '-n', nickname], { encoding: 'utf8' });
  return (r.stdout + r.stderr).trim();
}

/** Adds a certificate made here under `nickname`; returns its fingerprint. */
async function addOther(dir: string, nickname: string, commonName: string): Promise<string> {
  const { cert } = await createCACertificate(commonName, { notAfter: new Date(Date.now() + 365 * 24 * 3600 * 1000) });
  const file = path.join(await tempDir(), 'other.pem');
  fs.writeFileSync(file, cert);
  certutil(['-A', '-d', `sql:${dir}`, '-t', 'C,,', '-n', nickname, '-i', file]);
  return new X509Certificate(cert).fingerprint256;
}

describe.skipIf(!CERTUTIL)('nss', () => {
  const CHROME = 'NSS database ~/.pki/nssdb (Chrome, Chromium)';
  const FIREFOX = 'NSS database ~/.mozilla/firefox/abcd1234.default-release (Firefox profile abcd1234.default-release)';
  /** The plan's line for an NSS database: the exact command. */
  const adds = (dir: string) =>
    `adds the CA as "${NICKNAME}" with ${systemTool('certutil')} -A -d sql:${dir} -t C,, -n "${NICKNAME}" -i ${CA_PATH}`;

  test('trust adds the CA to ~/.pki/nssdb and a Firefox profile as "C,,", check sees it, untrust removes exactly it', async () => {
    const HOME = await tempDir();
    const chrome = newNssDb(path.join(HOME, '.pki', 'nssdb'));
    const firefox = newNssDb(path.join(HOME, '.mozilla', 'firefox', 'abcd1234.default-release'));
    // A certificate the user had before: untrust must leave it alone.
    const otherFp = await addOther(chrome, 'Unrelated Root', 'Unrelated Root');

    const trusted = await dev(['trust', '--store', 'nss'], { HOME });
    expect(trusted).toEqual({
      code: 0,
      stderr: '',
      stdout: text(
        ...HEADER,
        'Adding it to:',
        `  - ${CHROME}: ${adds(chrome)}`,
        `  - ${FIREFOX}: ${adds(firefox)}`,
        `✔ ${CHROME}: trusted`,
        `✔ ${FIREFOX}: trusted`,
        RESTART,
      ),
    });
    expect(nssEntries(chrome)).toEqual({ 'Unrelated Root': 'C,,', [NICKNAME]: 'C,,' });
    expect(nssEntries(firefox)).toEqual({ [NICKNAME]: 'C,,' });
    expect(nssFingerprint(chrome, NICKNAME)).toBe(CA.fingerprint256);
    expect(nssFingerprint(firefox, NICKNAME)).toBe(CA.fingerprint256);
    // NSS itself now accepts the CA as an SSL issuer.
    expect(nssVerify(firefox, NICKNAME)).toBe('certutil: certificate is valid');

    expect(await dev(['trust', '--check', '--store', 'nss'], { HOME })).toEqual({
      code: 0,
      stderr: '',
      stdout: text(...HEADER, `✔ ${CHROME}: trusted`, `✔ ${FIREFOX}: trusted`),
    });

    const again = await dev(['trust', '--store', 'nss'], { HOME });
    expect(again).toEqual({
      code: 0,
      stderr: '',
      stdout: text(
        ...HEADER,
        'Adding it to:',
        `  - ${CHROME}: ${adds(chrome)}`,
        `  - ${FIREFOX}: ${adds(firefox)}`,
        `✔ ${CHROME}: already trusted`,
        `✔ ${FIREFOX}: already trusted`,
        RESTART,
      ),
    });
    expect(nssEntries(firefox)).toEqual({ [NICKNAME]: 'C,,' });

    const untrusted = await dev(['untrust', '--store', 'nss'], { HOME });
    expect(untrusted).toEqual({
      code: 0,
      stderr: '',
      stdout: text(
        ...HEADER,
        'Removing it from:',
        `  - ${CHROME}`,
        `  - ${FIREFOX}`,
        `✔ ${CHROME}: removed`,
        `✔ ${FIREFOX}: removed`,
        STAYS,
      ),
    });
    expect(nssEntries(chrome)).toEqual({ 'Unrelated Root': 'C,,' });
    expect(nssFingerprint(chrome, 'Unrelated Root')).toBe(otherFp);
    expect(nssEntries(firefox)).toEqual({});

    const twice = await dev(['untrust', '--store', 'nss'], { HOME });
    expect(twice.code).toBe(0);
    expect(twice.stdout).toBe(
      text(
        ...HEADER,
        'Removing it from:',
        `  - ${CHROME}`,
        `  - ${FIREFOX}`,
        `✔ ${CHROME}: was not there`,
        `✔ ${FIREFOX}: was not there`,
        STAYS,
      ),
    );

    const doctor = await dev(['doctor', '--store', 'nss'], { HOME });
    expect(doctor).toEqual({
      code: 1,
      stderr: '',
      stdout: text(...HEADER, `✘ ${CHROME}: not trusted (run dev-https trust)`, `✘ ${FIREFOX}: not trusted (run dev-https trust)`),
    });
  });

  test('an entry whose trust flags the user cleared (",,") is not trusted: doctor says so and trust sets "C,," again', async () => {
    const HOME = await tempDir();
    const db = newNssDb(path.join(HOME, '.pki', 'nssdb'));
    expect((await dev(['trust', '--store', 'nss'], { HOME })).code).toBe(0);
    // What unticking "Trust this CA to identify websites" in Firefox or Chrome leaves.
    certutil(['-M', '-d', `sql:${db}`, '-n', NICKNAME, '-t', ',,']);
    expect(nssEntries(db)).toEqual({ [NICKNAME]: ',,' });
    expect(nssVerify(db, NICKNAME)).toBe(
      "certutil: certificate is invalid: Peer's certificate issuer has been marked as not trusted by the user.",
    );

    const doctor = await dev(['doctor', '--store', 'nss'], { HOME });
    expect.soft(doctor).toEqual({ code: 1, stderr: '', stdout: text(...HEADER, `✘ ${CHROME}: not trusted (run dev-https trust)`) });

    const trusted = await dev(['trust', '--store', 'nss'], { HOME });
    expect.soft([trusted.code, resultLine(trusted, CHROME), nssEntries(db)]).toEqual([0, `✔ ${CHROME}: trusted`, { [NICKNAME]: 'C,,' }]);
  });

  test('an older dev-https CA of the same name in the database: trust and doctor see the current one, untrust leaves the older one', async () => {
    // A renewed CA (ca.ts creates the new one under the same name) or one made again after
    // deleting the CA root: the old one is still in the browser's database.
    const HOME = await tempDir();
    const db = newNssDb(path.join(HOME, '.pki', 'nssdb'));
    const olderNickname = `${CA_NAME} 0123456789abcdef`;
    const olderFp = await addOther(db, olderNickname, CA_NAME);

    const trusted = await dev(['trust', '--store', 'nss'], { HOME });
    expect.soft([trusted.code, resultLine(trusted, CHROME)]).toEqual([0, `✔ ${CHROME}: trusted`]);
    // What NSS holds, whatever dev-https said: both CAs, each under its own nickname.
    expect(nssEntries(db)).toEqual({ [olderNickname]: 'C,,', [NICKNAME]: 'C,,' });

    const doctor = await dev(['doctor', '--store', 'nss'], { HOME });
    expect.soft(doctor).toEqual({ code: 0, stderr: '', stdout: text(...HEADER, `✔ ${CHROME}: trusted`) });

    const untrusted = await dev(['untrust', '--store', 'nss'], { HOME });
    expect(untrusted.stdout).toContain(`\n✔ ${CHROME}: removed\n`);
    expect(nssEntries(db)).toEqual({ [olderNickname]: 'C,,' });
    expect(nssFingerprint(db, olderNickname)).toBe(olderFp);
  });

  test.each([
    ['deleted', (keyPath: string) => fs.rmSync(keyPath), 'signerCA-key.pem is missing'],
    [
      'replaced by garbage',
      (keyPath: string) => fs.writeFileSync(keyPath, 'garbage\n', { mode: 0o600 }),
      'signerCA-key.pem is not a PEM private key',
    ],
  ])('a CA whose key was %s: doctor and untrust work as before (untrust removes the entry), trust is E_CA', async (_label, damage, why) => {
    const HOME = await tempDir();
    const DEV_HTTPS_CAROOT = await tempDir();
    const env = { HOME, DEV_HTTPS_CAROOT };
    const ca = await ensureCA(DEV_HTTPS_CAROOT, { info() {}, warn() {}, error() {} });
    const x509 = new X509Certificate(ca.cert);
    const nickname = `${ca.commonName} ${createHash('sha256').update(x509.raw).digest('hex').slice(0, 16)}`;
    const header = [`dev-https CA: ${ca.commonName}`, `  ${ca.certPath} (SHA-256 ${ca.fingerprint256})`, SIGNS];
    const db = newNssDb(path.join(HOME, '.pki', 'nssdb'));
    const otherFp = await addOther(db, 'Unrelated Root', 'Unrelated Root');

    // With the key: trusted in NSS, and what doctor says of it.
    const trusted = await dev(['trust', '--store', 'nss'], env);
    expect([trusted.code, trusted.stderr, resultLine(trusted, CHROME)]).toEqual([0, '', `✔ ${CHROME}: trusted`]);
    expect(nssEntries(db)).toEqual({ 'Unrelated Root': 'C,,', [nickname]: 'C,,' });
    const doctorIntact = await dev(['doctor', '--store', 'nss'], env);
    expect(doctorIntact).toEqual({ code: 0, stderr: '', stdout: text(...header, `✔ ${CHROME}: trusted`) });

    damage(ca.keyPath);
    const files = () =>
      Object.fromEntries(
        fs
          .readdirSync(DEV_HTTPS_CAROOT)
          .sort()
          .map((f) => [f, fs.readFileSync(path.join(DEV_HTTPS_CAROOT, f), 'utf8')]),
      );
    const damaged = files();

    expect(await dev(['doctor', '--store', 'nss'], env)).toEqual(doctorIntact);
    expect(await dev(['trust', '--check', '--store', 'nss'], env)).toEqual(doctorIntact);
    // trust needs the key (it is the CA a new certificate would be signed with): one line, exit 1, nothing added or written.
    expect(await dev(['trust', '--store', 'nss'], env)).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: The dev-https CA in ${DEV_HTTPS_CAROOT} is unusable: ${why}. Run dev-https untrust, then delete ${DEV_HTTPS_CAROOT} to start over with a new CA\n`,
    });
    expect(nssEntries(db)).toEqual({ 'Unrelated Root': 'C,,', [nickname]: 'C,,' });

    expect(await dev(['untrust', '--store', 'nss'], env)).toEqual({
      code: 0,
      stderr: '',
      stdout: text(
        ...header,
        'Removing it from:',
        `  - ${CHROME}`,
        `✔ ${CHROME}: removed`,
        `The CA itself stays in ${DEV_HTTPS_CAROOT}; delete that directory to remove it for good (projects then get a new CA).`,
      ),
    });
    expect(nssEntries(db)).toEqual({ 'Unrelated Root': 'C,,' });
    expect(nssFingerprint(db, 'Unrelated Root')).toBe(otherFp);
    expect(await dev(['doctor', '--store', 'nss'], env)).toEqual({
      code: 1,
      stderr: '',
      stdout: text(...header, `✘ ${CHROME}: not trusted (run dev-https trust)`),
    });
    // No command replaced or repaired the CA.
    expect(files()).toEqual(damaged);
  });

  test('with no ~/.pki/nssdb but Chromium on PATH, trust creates the database (0700) without starting the browser', async () => {
    const HOME = await tempDir();
    const bin = await tempDir();
    const ran = path.join(bin, 'chromium-ran');
    fs.writeFileSync(path.join(bin, 'chromium'), `#!/bin/sh\ntouch ${ran}\n`, { mode: 0o755 });
    fs.symlinkSync(CERTUTIL!, path.join(bin, 'certutil'));

    const trusted = await dev(['trust', '--store', 'nss'], { HOME, PATH: bin });
    expect(trusted).toEqual({
      code: 0,
      stderr: '',
      stdout: text(
        ...HEADER,
        'Adding it to:',
        `  - ${CHROME}: creates ~/.pki/nssdb and ${adds(path.join(HOME, '.pki', 'nssdb'))}`,
        `✔ ${CHROME}: trusted`,
        RESTART,
      ),
    });
    const db = path.join(HOME, '.pki', 'nssdb');
    expect(fs.existsSync(path.join(db, 'cert9.db'))).toBe(true);
    expect(fs.statSync(db).mode & 0o777).toBe(0o700);
    expect(nssEntries(db)).toEqual({ [NICKNAME]: 'C,,' });
    expect(nssFingerprint(db, NICKNAME)).toBe(CA.fingerprint256);
    expect(fs.existsSync(ran)).toBe(false);
  });

  test('with no NSS database and no browser, trust --store nss fails with the reason and creates nothing', async () => {
    const HOME = await tempDir();
    const bin = await tempDir();
    fs.symlinkSync(CERTUTIL!, path.join(bin, 'certutil'));
    const why = 'no NSS database: no Firefox profile, no ~/.pki/nssdb and no Chrome or Chromium';

    const trusted = await dev(['trust', '--store', 'nss'], { HOME, PATH: bin });
    expect(trusted).toEqual({
      code: 1,
      stderr: '',
      stdout: text(...HEADER, `✘ nss: not on this machine: ${why}`, `No trust store found (nss: ${why}).`),
    });
    expect(fs.readdirSync(HOME)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Linux system store, Debian layout moved under DEV_HTTPS_SYSTEM_STORE_ROOT

/** A root with one real Mozilla CA listed, as a Debian system has: the script needs one to write the bundle. */
async function seededSystemRoot(): Promise<{ root: string; bundle: string; anchor: string; seededFp: string }> {
  const root = await tempDir();
  const file = fs
    .readdirSync(MOZILLA_CERTS)
    .filter((f) => f.endsWith('.crt'))
    .sort()[0]!;
  fs.mkdirSync(path.join(root, 'usr/share/ca-certificates/mozilla'), { recursive: true });
  fs.copyFileSync(path.join(MOZILLA_CERTS, file), path.join(root, 'usr/share/ca-certificates/mozilla', file));
  fs.mkdirSync(path.join(root, 'etc'));
  fs.writeFileSync(path.join(root, 'etc/ca-certificates.conf'), `mozilla/${file}\n`);
  return {
    root,
    bundle: path.join(root, 'etc/ssl/certs/ca-certificates.crt'),
    anchor: path.join(root, `usr/local/share/ca-certificates/dev-https-${SHORT}.crt`),
    seededFp: new X509Certificate(fs.readFileSync(path.join(MOZILLA_CERTS, file))).fingerprint256,
  };
}

/** A real HTTPS request to a running dev-https, trusting only `ca`: the TLS error code, or 'ok'. */
async function handshake(url: string, ca: string): Promise<string> {
  try {
    const reply = await request(url, { ca });
    return reply.status === 200 ? 'ok' : `status ${reply.status}`;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

/** update-ca-certificates as the plan shows it for the layout under DEV_HTTPS_SYSTEM_STORE_ROOT. */
function updateCommand(root: string): string {
  const at = (p: string) => path.join(root, p);
  return [
    systemTool('update-ca-certificates'),
    '--certsconf',
    at('etc/ca-certificates.conf'),
    '--certsdir',
    at('usr/share/ca-certificates'),
    '--localcertsdir',
    at('usr/local/share/ca-certificates'),
    '--etccertsdir',
    at('etc/ssl/certs'),
    '--hooksdir',
    at('etc/ca-certificates/update.d'),
  ].join(' ');
}

describe.skipIf(!systemStoreTestable)('system store', () => {
  const SYSTEM = 'system store (update-ca-certificates)';

  test('trust puts the CA in the bundle beside the existing CAs, a TLS client using the bundle reaches dev-https, untrust takes it out again', async () => {
    const { root, bundle, anchor, seededFp } = await seededSystemRoot();
    const HOME = await tempDir();
    const env = { HOME, DEV_HTTPS_SYSTEM_STORE_ROOT: root };

    const trusted = await dev(['trust', '--store', 'system'], env);
    expect(trusted).toEqual({
      code: 0,
      stderr: '',
      stdout: text(
        ...HEADER,
        'Adding it to:',
        `  - ${SYSTEM}: copies the CA to ${anchor} and runs ${updateCommand(root)}`,
        `✔ ${SYSTEM}: trusted`,
      ),
    });
    expect(fs.readFileSync(anchor, 'utf8')).toBe(CA_PEM);
    expect(fs.statSync(anchor).mode & 0o777).toBe(0o644);
    expect(fingerprints(fs.readFileSync(bundle, 'utf8')).sort()).toEqual([seededFp, CA.fingerprint256].sort());

    // A client that trusts exactly that bundle, as OpenSSL-based clients on the machine would.
    const cwd = await tempDir();
    const server = run(['--port', '0'], { cwd, env: { ...env, JAVA_HOME: '' } });
    const [, url] = await waitFor(server, /➜  Local:   (https:\/\/localhost:\d+\/)/);
    expect(await handshake(url!, fs.readFileSync(bundle, 'utf8'))).toBe('ok');

    expect(await dev(['trust', '--check', '--store', 'system'], env)).toEqual({
      code: 0,
      stderr: '',
      stdout: text(...HEADER, `✔ ${SYSTEM}: trusted`),
    });
    expect((await dev(['trust', '--store', 'system'], env)).stdout).toContain(`✔ ${SYSTEM}: already trusted\n`);

    const untrusted = await dev(['untrust', '--store', 'system'], env);
    expect(untrusted).toEqual({
      code: 0,
      stderr: '',
      stdout: text(...HEADER, 'Removing it from:', `  - ${SYSTEM}`, `✔ ${SYSTEM}: removed`, STAYS),
    });
    expect(fs.existsSync(anchor)).toBe(false);
    const after = fs.readFileSync(bundle, 'utf8');
    expect(fingerprints(after)).toEqual([seededFp]);
    expect(await handshake(url!, after)).toBe('UNABLE_TO_GET_ISSUER_CERT_LOCALLY');

    expect((await dev(['untrust', '--store', 'system'], env)).stdout).toContain(`✔ ${SYSTEM}: was not there\n`);
    expect(await dev(['doctor', '--store', 'system'], env)).toEqual({
      code: 1,
      stderr: '',
      stdout: text(...HEADER, `✘ ${SYSTEM}: not trusted (run dev-https trust)`),
    });

    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  test('untrust leaves no dev-https link (or dangling hash link) in etc/ssl/certs', async () => {
    const { root } = await seededSystemRoot();
    const HOME = await tempDir();
    const env = { HOME, DEV_HTTPS_SYSTEM_STORE_ROOT: root };
    const certsDir = path.join(root, 'etc/ssl/certs');
    const dangling = () =>
      fs
        .readdirSync(certsDir)
        .filter((f) => !fs.existsSync(path.join(certsDir, f)))
        .sort();

    expect((await dev(['trust', '--store', 'system'], env)).code).toBe(0);
    expect(fs.readdirSync(certsDir)).toContain(`dev-https-${SHORT}.pem`);
    expect(dangling()).toEqual([]);

    expect((await dev(['untrust', '--store', 'system'], env)).code).toBe(0);
    expect(fs.readdirSync(certsDir).filter((f) => f.startsWith('dev-https-'))).toEqual([]);
    expect(dangling()).toEqual([]);
  });

  test('untrust tells the update.d hooks the CA is gone ("-<pem>"), as trust told them it came: Debian\'s Java keystore hook drops it then', async () => {
    const { root } = await seededSystemRoot();
    const HOME = await tempDir();
    const env = { HOME, DEV_HTTPS_SYSTEM_STORE_ROOT: root };
    // A hook as ca-certificates-java's jks-keystore is one: it reads "+<pem>" and "-<pem>" lines on stdin.
    const log = path.join(root, 'hook.log');
    fs.mkdirSync(path.join(root, 'etc/ca-certificates/update.d'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/ca-certificates/update.d/record'), `#!/bin/sh\ncat >> '${log}'\n`, { mode: 0o755 });
    const pem = path.join(root, `etc/ssl/certs/dev-https-${SHORT}.pem`);

    expect((await dev(['trust', '--store', 'system'], env)).code).toBe(0);
    expect(fs.readFileSync(log, 'utf8').split('\n')).toContain(`+${pem}`);
    fs.writeFileSync(log, '');

    expect((await dev(['untrust', '--store', 'system'], env)).code).toBe(0);
    const told = fs.readFileSync(log, 'utf8').split('\n');
    expect(told).toContain(`-${pem}`);
    expect(told).not.toContain(`+${pem}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Missing certutil: one store failing does not stop the others

describe.skipIf(!systemStoreTestable)('without certutil', () => {
  /** A PATH dir with every command of the system's bin dirs but `without`: the system script still finds sed, find, openssl... */
  async function pathWithout(without: string[]): Promise<string> {
    const bin = await tempDir();
    const seen = new Set(without);
    for (const dir of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
      let entries: string[] = [];
      try {
        entries = fs.readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of entries) {
        if (seen.has(name)) continue;
        seen.add(name);
        fs.symlinkSync(path.join(dir, name), path.join(bin, name));
      }
    }
    return bin;
  }

  test.skipIf(!CERTUTIL)(
    'the NSS line names the package to install, exit 1, and the system store in the same command is still trusted',
    async () => {
      const HOME = await tempDir();
      const db = newNssDb(path.join(HOME, '.pki', 'nssdb'));
      const { root, bundle, anchor, seededFp } = await seededSystemRoot();
      // Tools are looked for in the system's directories, not on PATH: the context narrows them to a copy without certutil.
      const toolDir = await pathWithout(['certutil']);
      const context = {
        env: { HOME, PATH: toolDir, DEV_HTTPS_SYSTEM_STORE_ROOT: root },
        platform: 'linux' as const,
        home: HOME,
        isRoot: true,
        toolDirs: [toolDir],
      };
      const CHROME = 'NSS database ~/.pki/nssdb (Chrome, Chromium)';
      const command = async (action: 'trust' | 'check', stores: string) => {
        const lines: string[] = [];
        const ok = await runTrustCommand({
          action,
          stores: resolveStores(stores),
          print: (l) => lines.push(l),
          logger: { info() {}, warn() {}, error() {} },
          caRoot: CA_ROOT,
          context,
        });
        return { code: ok ? 0 : 1, stderr: '', stdout: text(...lines) };
      };

      const trusted = await command('trust', 'nss,system');
      expect(trusted.code).toBe(1);
      expect(trusted.stderr).toBe('');
      const lines = trusted.stdout.split('\n');
      const missing = lines.find((l) => l.startsWith(`✘ ${CHROME}: `))!.slice(`✘ ${CHROME}: `.length);
      if (debianLike) expect(missing).toBe('certutil not found: install it with sudo apt install libnss3-tools');
      else expect(missing).toMatch(/^certutil not found: install it with /);
      expect(trusted.stdout).toBe(
        text(
          ...HEADER,
          'Adding it to:',
          `  - ${CHROME}: skipped, ${missing}`,
          `  - system store (update-ca-certificates): copies the CA to ${anchor} and runs ${updateCommand(root).replace(systemTool('update-ca-certificates'), path.join(toolDir, 'update-ca-certificates'))}`,
          `✘ ${CHROME}: ${missing}`,
          '✔ system store (update-ca-certificates): trusted',
        ),
      );
      expect(fingerprints(fs.readFileSync(bundle, 'utf8')).sort()).toEqual([seededFp, CA.fingerprint256].sort());
      expect(nssEntries(db)).toEqual({});

      const doctor = await command('check', 'nss');
      expect(doctor).toEqual({ code: 1, stderr: '', stdout: text(...HEADER, `✘ ${CHROME}: cannot tell: ${missing}`) });
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Java cacerts

/** `keytool -list` of the store (or one alias): exit code and output. */
function keytoolList(cacerts: string, storepass: string, alias?: string): { code: number; stdout: string } {
  try {
    const stdout = execFileSync(KEYTOOL!, ['-list', '-keystore', cacerts, '-storepass', storepass, ...(alias ? ['-alias', alias] : [])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { code: e.status, stdout: e.stdout };
  }
}

const aliases = (listing: string) =>
  listing
    .split('\n')
    .filter((l) => l.includes('trustedCertEntry'))
    .map((l) => l.split(',')[0])
    .sort();

describe.skipIf(!KEYTOOL)('java', () => {
  test('trust imports the CA into $JAVA_HOME cacerts as dev-https-<fingerprint>, check sees it, untrust deletes only it', async () => {
    const { JAVA_HOME, cacerts } = await tempJavaHome();
    const HOME = await tempDir();
    const env = { HOME, JAVA_HOME };
    const JAVA = `Java cacerts (${cacerts})`;
    const before = aliases(keytoolList(cacerts, 'changeit').stdout);
    expect(before.length).toBeGreaterThan(0);
    expect(before).not.toContain(ALIAS);

    const trusted = await dev(['trust', '--store', 'java'], env);
    expect(trusted).toEqual({
      code: 0,
      stderr: '',
      stdout: text(
        ...HEADER,
        'Adding it to:',
        `  - ${JAVA}: imports the CA into ${cacerts} as "${ALIAS}" with ${path.join(JAVA_HOME, 'bin', 'keytool')} -importcert -noprompt -trustcacerts -file ${CA_PATH} -keystore ${cacerts} -alias ${ALIAS}`,
        `✔ ${JAVA}: trusted`,
      ),
    });
    const listed = keytoolList(cacerts, 'changeit', ALIAS);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${ALIAS}, .*, trustedCertEntry, \\n`));
    expect(listed.stdout).toContain(`Certificate fingerprint (SHA-256): ${CA.fingerprint256}\n`);

    expect(await dev(['trust', '--check', '--store', 'java'], env)).toEqual({
      code: 0,
      stderr: '',
      stdout: text(...HEADER, `✔ ${JAVA}: trusted`),
    });
    expect((await dev(['trust', '--store', 'java'], env)).stdout).toContain(`✔ ${JAVA}: already trusted\n`);

    const untrusted = await dev(['untrust', '--store', 'java'], env);
    expect(untrusted).toEqual({
      code: 0,
      stderr: '',
      stdout: text(...HEADER, 'Removing it from:', `  - ${JAVA}`, `✔ ${JAVA}: removed`, STAYS),
    });
    const gone = keytoolList(cacerts, 'changeit', ALIAS);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toContain(`Alias <${ALIAS}> does not exist`);
    expect(aliases(keytoolList(cacerts, 'changeit').stdout)).toEqual(before);

    expect((await dev(['untrust', '--store', 'java'], env)).stdout).toContain(`✔ ${JAVA}: was not there\n`);
    expect(await dev(['doctor', '--store', 'java'], env)).toEqual({
      code: 1,
      stderr: '',
      stdout: text(...HEADER, `✘ ${JAVA}: not trusted (run dev-https trust)`),
    });
  });

  test('DEV_HTTPS_JAVA_STOREPASS opens a cacerts with another password; a wrong password is an error, not "was not there"', async () => {
    const { JAVA_HOME, cacerts } = await tempJavaHome();
    execFileSync(KEYTOOL!, ['-storepasswd', '-keystore', cacerts, '-storepass', 'changeit', '-new', 's3cret-pass'], { stdio: 'ignore' });
    const HOME = await tempDir();
    const JAVA = `Java cacerts (${cacerts})`;

    const trusted = await dev(['trust', '--store', 'java'], { HOME, JAVA_HOME, DEV_HTTPS_JAVA_STOREPASS: 's3cret-pass' });
    expect(trusted.code).toBe(0);
    expect(trusted.stdout).toContain(`✔ ${JAVA}: trusted\n`);
    expect(keytoolList(cacerts, 's3cret-pass', ALIAS).stdout).toContain(`Certificate fingerprint (SHA-256): ${CA.fingerprint256}\n`);

    // Without the password (keytool is given "changeit"): the entry is there but cannot be read.
    const doctor = await dev(['doctor', '--store', 'java'], { HOME, JAVA_HOME });
    expect
      .soft([doctor.code, resultLine(doctor, JAVA)])
      .toEqual([1, expect.stringMatching(/^✘ .*: cannot tell: .*password was incorrect$/)]);
    const untrusted = await dev(['untrust', '--store', 'java'], { HOME, JAVA_HOME });
    expect.soft([untrusted.code, resultLine(untrusted, JAVA)]).toEqual([1, expect.stringMatching(/^✘ .*: .*password was incorrect$/)]);
    // Either way the entry is still there.
    expect(keytoolList(cacerts, 's3cret-pass', ALIAS).code).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Stores that are not here, bad input, no CA yet

describe('without a store or a CA', () => {
  test.skipIf(process.platform !== 'linux').each([
    [
      ['trust', '--store', 'macos'],
      ['✘ macos: not on this machine: only on macOS', 'No trust store found (macos: only on macOS).'],
    ],
    [
      ['untrust', '--store', 'windows'],
      ['✘ windows: not on this machine: only on Windows and in WSL', 'No trust store found (windows: only on Windows and in WSL).'],
    ],
    [['doctor', '--store', 'macos'], ['✘ macos: not on this machine: only on macOS']],
  ])('%j on Linux: the store asked for is not here, exit 1', async (args, lines) => {
    const HOME = await tempDir();
    expect(await dev(args, { HOME })).toEqual({ code: 1, stderr: '', stdout: text(...HEADER, ...lines) });
  });

  test.each([
    [
      ['trust', '--store', 'bogus'],
      'error: Invalid --store "bogus": expected a comma-separated list of system, nss, macos, windows, java\n',
    ],
    [
      ['untrust', '--store', 'nss,chrome'],
      'error: Invalid --store "nss,chrome": expected a comma-separated list of system, nss, macos, windows, java\n',
    ],
    [['doctor', '--store', ','], 'error: Invalid --store ",": expected a comma-separated list of system, nss, macos, windows, java\n'],
    [['doctor', '--check'], 'error: Invalid --check: it belongs to dev-https trust (dev-https doctor always checks)\n'],
    [['untrust', '--check'], 'error: Invalid --check: it belongs to dev-https trust (dev-https untrust removes)\n'],
  ])('%j: one error line, exit 1, nothing printed on stdout', async (args, message) => {
    const HOME = await tempDir();
    expect(await dev(args, { HOME })).toEqual({ code: 1, stdout: '', stderr: message });
  });

  test('untrust with no CA yet has nothing to remove (exit 0); doctor says to run trust (exit 1); neither creates a CA', async () => {
    const HOME = await tempDir();
    const DEV_HTTPS_CAROOT = await tempDir();
    expect(await dev(['untrust', '--store', 'nss'], { HOME, DEV_HTTPS_CAROOT })).toEqual({
      code: 0,
      stderr: '',
      stdout: `There is no dev-https CA in ${DEV_HTTPS_CAROOT} yet: nothing to remove.\n`,
    });
    expect(await dev(['doctor'], { HOME, DEV_HTTPS_CAROOT })).toEqual({
      code: 1,
      stderr: '',
      stdout: `There is no dev-https CA in ${DEV_HTTPS_CAROOT} yet: run dev-https trust to create and trust it.\n`,
    });
    const missing = path.join(DEV_HTTPS_CAROOT, 'not-yet');
    expect((await dev(['doctor'], { HOME, DEV_HTTPS_CAROOT: missing })).code).toBe(1);
    expect(fs.readdirSync(DEV_HTTPS_CAROOT)).toEqual([]);
    expect(fs.readdirSync(HOME)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// dev-https cert

describe('cert', () => {
  const CHROME = 'NSS database ~/.pki/nssdb (Chrome, Chromium)';
  const SYSTEM = 'system store (update-ca-certificates)';
  const day = (d: string) => new Date(d).toISOString().slice(0, 10);
  const clients = (file: string) => ({
    node: `NODE_EXTRA_CA_CERTS=${file}`,
    curl: `curl --cacert ${file} https://localhost:8443/`,
    python: `REQUESTS_CA_BUNDLE=${file} (requests) · SSL_CERT_FILE=${file} (urllib, httpx, aiohttp)`,
  });
  const clientLines = (file: string) => [
    'Clients:',
    `  Node:    ${clients(file).node}`,
    `  curl:    ${clients(file).curl}`,
    `  Python:  ${clients(file).python}`,
  ];
  /** No key material in what a command printed. */
  const expectNoKey = (done: Done, ...keys: string[]) => {
    for (const out of [done.stdout, done.stderr]) {
      expect(out).not.toContain('PRIVATE KEY');
      for (const key of keys) expect(out).not.toContain(key.split('\n')[1]);
    }
  };

  test.skipIf(!CERTUTIL)(
    'shows the certificate in ./certs, its CA, where the CA is trusted and how clients trust it; --json says the same',
    async () => {
      const cwd = await tempDir();
      const HOME = await tempDir();
      const db = newNssDb(path.join(HOME, '.pki', 'nssdb'));
      const certPath = path.join(cwd, 'certs', 'cert.pem');
      const keyPath = path.join(cwd, 'certs', 'key.pem');
      const caKey = fs.readFileSync(path.join(CA_ROOT, 'signerCA-key.pem'), 'utf8');

      const shown = await dev(['cert'], { HOME }, cwd);
      const leaf = new X509Certificate(fs.readFileSync(certPath));
      const key = fs.readFileSync(keyPath, 'utf8');
      expect(leaf.checkIssued(new X509Certificate(fs.readFileSync(path.join(CA_ROOT, 'signerCA.pem'))))).toBe(true);
      expect(shown).toEqual({
        code: 0,
        stderr: '',
        stdout: text(
          `Generating a new certificate: no certificate in ${path.join(cwd, 'certs')} yet`,
          `CA:        ${CA_PATH}`,
          `           ${CA_NAME}, expires ${day(CA.validTo)}`,
          `           signs only ${describePermitted(DEFAULT_PERMITTED)}`,
          `           key ${path.join(CA_ROOT, 'signerCA-key.pem')} (private: keep it to yourself)`,
          `Cert:      ${certPath}`,
          `Key:       ${keyPath}`,
          'Names:     localhost, 127.0.0.1, ::1',
          `Expires:   ${day(leaf.validTo)}`,
          `SHA-256:   ${leaf.fingerprint256}`,
          'Trusted:   nowhere yet: run dev-https trust',
          ...clientLines(CA_PATH),
        ),
      });
      expectNoKey(shown, key, caKey);

      const json = await dev(['cert', '--json'], { HOME }, cwd);
      expect(json.code).toBe(0);
      expect(json.stderr).toBe('');
      expectNoKey(json, key, caKey);
      const report = {
        certificate: {
          certPath,
          keyPath,
          fingerprint256: leaf.fingerprint256,
          validTo: new Date(leaf.validTo).toISOString(),
          names: ['localhost', '127.0.0.1', '::1'],
          generated: false,
          source: 'ca',
          trustPath: CA_PATH,
        },
        ca: {
          certPath: CA_PATH,
          commonName: CA_NAME,
          fingerprint256: CA.fingerprint256,
          validTo: new Date(CA.validTo).toISOString(),
          keyPath: path.join(CA_ROOT, 'signerCA-key.pem'),
          signs: describePermitted(DEFAULT_PERMITTED),
        },
        trust: [
          { store: 'system', label: SYSTEM, trusted: false, note: null },
          { store: 'nss', label: CHROME, trusted: false, note: null },
        ],
        clients: clients(CA_PATH),
      };
      expect(JSON.parse(json.stdout)).toEqual(report);

      // Trusted in the NSS database (added here with certutil, as trust would): the report says so.
      certutil(['-A', '-d', `sql:${db}`, '-t', 'C,,', '-n', NICKNAME, '-i', CA_PATH]);
      const trustedJson = await dev(['cert', '--json'], { HOME }, cwd);
      expect(JSON.parse(trustedJson.stdout).trust).toEqual([
        { store: 'system', label: SYSTEM, trusted: false, note: null },
        { store: 'nss', label: CHROME, trusted: true, note: null },
      ]);
      const trustedText = await dev(['cert'], { HOME }, cwd);
      expect(trustedText.stdout.split('\n').filter((l) => /^(Trusted|Not yet):/.test(l))).toEqual([
        `Trusted:   ${CHROME}`,
        `Not yet:   ${SYSTEM}`,
      ]);
      // The cached certificate was served, not a new one.
      expect(new X509Certificate(fs.readFileSync(certPath)).fingerprint256).toBe(leaf.fingerprint256);
    },
  );

  test('--name adds the name to the certificate and the report', async () => {
    const cwd = await tempDir();
    const HOME = await tempDir();
    const done = await dev(['cert', '--json', '--name', 'myapp.test'], { HOME }, cwd);
    expect(done.code).toBe(0);
    const report = JSON.parse(done.stdout);
    const leaf = new X509Certificate(fs.readFileSync(path.join(cwd, 'certs', 'cert.pem')));
    expect(report.certificate.names).toEqual(['localhost', '127.0.0.1', '::1', 'myapp.test']);
    expect(report.certificate.fingerprint256).toBe(leaf.fingerprint256);
    expect(leaf.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:myapp.test');
    expect(leaf.checkHost('myapp.test')).toBe('myapp.test');
  });

  test('--cert/--key: the user pair, no CA, no trust entries, and no CA created', async () => {
    const cwd = await tempDir();
    const HOME = await tempDir();
    const DEV_HTTPS_CAROOT = await tempDir();
    const { cert, key } = await createCertificate(['localhost', '127.0.0.1', '::1']);
    fs.writeFileSync(path.join(cwd, 'a.pem'), cert);
    fs.writeFileSync(path.join(cwd, 'a-key.pem'), key, { mode: 0o600 });
    const x509 = new X509Certificate(cert);
    const certPath = path.join(cwd, 'a.pem');
    const keyPath = path.join(cwd, 'a-key.pem');

    const json = await dev(['cert', '--cert', 'a.pem', '--key', 'a-key.pem', '--json'], { HOME, DEV_HTTPS_CAROOT }, cwd);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      certificate: {
        certPath,
        keyPath,
        fingerprint256: x509.fingerprint256,
        validTo: new Date(x509.validTo).toISOString(),
        names: ['localhost', '127.0.0.1', '::1'],
        generated: false,
        source: 'user',
        trustPath: certPath,
      },
      ca: null,
      trust: [],
      clients: clients(certPath),
    });
    expectNoKey(json, key);

    const shown = await dev(['cert', '--cert', 'a.pem', '--key', 'a-key.pem'], { HOME, DEV_HTTPS_CAROOT }, cwd);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toBe(
      text(
        'CA:        none (your own certificate: --cert/--key or --pfx)',
        `Cert:      ${certPath}`,
        `Key:       ${keyPath}`,
        'Names:     localhost, 127.0.0.1, ::1',
        `Expires:   ${day(x509.validTo)}`,
        `SHA-256:   ${x509.fingerprint256}`,
        ...clientLines(certPath),
      ),
    );
    expectNoKey(shown, key);
    expect(fs.readdirSync(DEV_HTTPS_CAROOT)).toEqual([]);
    expect(fs.readdirSync(cwd).sort()).toEqual(['a-key.pem', 'a.pem']);
  });
});

// ---------------------------------------------------------------------------------------------
// resolveStores

test.each([
  [undefined, null],
  ['nss', ['nss']],
  ['system,nss,macos,windows,java', ['system', 'nss', 'macos', 'windows', 'java']],
  ['java,system', ['java', 'system']],
  [' NSS , Java ', ['nss', 'java']],
  ['nss,nss,system', ['nss', 'system']],
  ['system,,nss,', ['system', 'nss']],
])('resolveStores(%j) is %j', (value, stores) => {
  expect(resolveStores(value)).toEqual(stores);
});

test.each(['', ',', ' , ', 'bogus', 'nss,chrome', 'nss;java', 'all'])(
  'resolveStores(%j) throws E_BAD_OPTION naming the value and the stores',
  (value) => {
    expect(() => resolveStores(value)).toThrow(
      expect.objectContaining({
        code: 'E_BAD_OPTION',
        message: `Invalid --store "${value}": expected a comma-separated list of system, nss, macos, windows, java`,
      }),
    );
  },
);
