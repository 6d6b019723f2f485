// An older CA that can sign for any site keeps working, says so once (trust, doctor, the banner)
// and is replaced by one command; names outside the constraints are one clear error with a way
// out (trust --permit), and a project's config cannot name them at all. Real NSS databases
// (certutil) under a temp HOME; the machine's stores are never consulted.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { CA_CERT_FILE, CA_KEY_FILE, caCommonName, readCA, SIGNER_CERT_FILE, SIGNER_KEY_FILE, unconstrainedWarning } from '../../src/certs/ca.js';
import { createCACertificate } from '../../src/certs/cert.js';
import { formatBanner, parseCli } from '../../src/cli/cli.js';
import { DEFAULT_PERMITTED, describePermitted } from '../../src/certs/constraints.js';
import { resolveStores } from '../../src/options.js';
import { startDevHttps } from '../../src/server/server.js';
import { runTrustCommand } from '../../src/trust/trust-commands.js';
import type { TrustContext } from '../../src/trust/tools.js';
import { captureLogger, onCleanup, onPath, run, runCleanups, startError, startUpstream, tempDir } from '../helpers.js';

afterEach(runCleanups);

const CERTUTIL = onPath('certutil', ['/usr/bin/certutil']);
const DAY_MS = 24 * 60 * 60 * 1000;
const CHROME = 'NSS database ~/.pki/nssdb (Chrome, Chromium)';
const RESTART = 'Restart your browser if it was open: browsers read their trust stores at start.';
const REISSUED = 'Each project gets a leaf from the new CA on its next start (restart a dev-https that is running).';
const today = () => new Date().toISOString().slice(0, 10);

/** A CA as dev-https made them before name constraints: a root whose key is on disk and signs leaves itself. */
async function legacyCA(root: string): Promise<void> {
  const pair = await createCACertificate(caCommonName(), { notAfter: new Date(Date.now() + 5 * 365 * DAY_MS) });
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(root, CA_CERT_FILE), pair.cert, { mode: 0o644 });
  await fs.writeFile(path.join(root, CA_KEY_FILE), pair.key, { mode: 0o600 });
}

interface World {
  home: string;
  caRoot: string;
  db: string;
  context: TrustContext;
  trust(action: 'trust' | 'untrust' | 'check', extra?: { permit?: string[]; replace?: boolean }): Promise<{ ok: boolean; lines: string[]; logged: string[] }>;
  /** Nickname → trust flags in the NSS database. */
  entries(): Record<string, string>;
}

async function world(): Promise<World> {
  const home = await tempDir();
  const caRoot = path.join(await tempDir(), 'ca');
  const db = path.join(home, '.pki', 'nssdb');
  await fs.mkdir(db, { recursive: true });
  execFileSync(CERTUTIL!, ['-N', '-d', `sql:${db}`, '--empty-password']);
  // An empty system layout and no JAVA_HOME: only the NSS database is a store here.
  const context: TrustContext = { env: { HOME: home, PATH: process.env.PATH, DEV_HTTPS_SYSTEM_STORE_ROOT: await tempDir() }, platform: 'linux', home, isRoot: true, wsl: false };
  return {
    home,
    caRoot,
    db,
    context,
    trust: async (action, extra = {}) => {
      const lines: string[] = [];
      const logger = captureLogger();
      const ok = await runTrustCommand({ action, stores: resolveStores('nss'), print: (l) => lines.push(l), logger, caRoot, context, ...extra });
      return { ok, lines, logged: logger.lines };
    },
    entries: () => {
      const out = execFileSync(CERTUTIL!, ['-L', '-d', `sql:${db}`], { encoding: 'utf8' });
      return Object.fromEntries(out.split('\n').slice(4).filter((l) => l.trim()).map((l) => { const m = /^(.*?)\s+(\S*,\S*,\S*)\s*$/.exec(l)!; return [m[1]!, m[2]!]; }));
    },
  };
}

const nickname = (ca: { commonName: string; cert: string }) => `${ca.commonName} ${new X509Certificate(ca.cert).fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase()}`;

describe.skipIf(!CERTUTIL)('an older CA that can sign for any site', () => {
  test('keeps working; trust, doctor and the banner each say so once; trust --replace untrusts it, deletes its key, trusts a constrained one; leaves are reissued', async () => {
    const w = await world();
    await legacyCA(w.caRoot);
    const old = (await readCA(w.caRoot))!;
    expect(old.permitted).toBeNull();
    const warning = `⚠ ${unconstrainedWarning(old)}`;
    expect(warning).toBe(`⚠ The dev-https CA ${old.certPath} can sign for any site (it was made before dev-https limited its CA to local names): a program that reads its key can impersonate any website to the browsers that trust it. Replace it with: dev-https trust --replace`);
    const oldHeader = [`dev-https CA: ${old.commonName}`, `  ${old.certPath} (SHA-256 ${old.fingerprint256})`, warning];

    const trusted = await w.trust('trust');
    expect(trusted.lines).toEqual([...oldHeader, 'Adding it to:', `  - ${CHROME}: adds the CA as "${nickname(old)}" with ${CERTUTIL} -A -d sql:${w.db} -t C,, -n "${nickname(old)}" -i ${old.certPath}`, `✔ ${CHROME}: trusted`, RESTART]);
    expect((await w.trust('check')).lines).toEqual([...oldHeader, `✔ ${CHROME}: trusted`]);

    // A project started with it: served as before, and the banner says it once.
    const app = await startUpstream((_req, res) => res.end('app'));
    const certDir = await tempDir();
    const first = await startDevHttps({ port: 0, target: app.port, certDir, caRoot: w.caRoot, logger: captureLogger() });
    const banner = formatBanner([first]);
    expect(banner.split('\n').filter((l) => l.includes('can sign for any site'))).toEqual([`  ${unconstrainedWarning(old)}`]);
    const oldLeaf = first.certificate.fingerprint256;
    await first.close();

    const replaced = await w.trust('trust', { replace: true });
    const ca = (await readCA(w.caRoot))!;
    expect(replaced.ok).toBe(true);
    expect(replaced.logged).toEqual([`info: Created the dev-https CA ${ca.certPath} (${ca.commonName}), limited to ${describePermitted(DEFAULT_PERMITTED)}; adding it to the trust stores`]);
    expect(replaced.lines).toEqual([
      `Replacing the dev-https CA ${old.certPath} (${old.commonName}, SHA-256 ${old.fingerprint256}), which can sign for any site.`,
      'Removing the old CA from:',
      `  - ${CHROME}`,
      `✔ ${CHROME}: removed`,
      `dev-https CA: ${ca.commonName}`,
      `  ${ca.certPath} (SHA-256 ${ca.fingerprint256})`,
      `  signs only ${describePermitted(DEFAULT_PERMITTED)}`,
      'Adding it to:',
      `  - ${CHROME}: adds the CA as "${nickname(ca)}" with ${CERTUTIL} -A -d sql:${w.db} -t C,, -n "${nickname(ca)}" -i ${ca.certPath}`,
      `✔ ${CHROME}: trusted`,
      RESTART,
      REISSUED,
    ]);
    expect(w.entries()).toEqual({ [nickname(ca)]: 'C,,' });
    expect(ca.permitted).toEqual([...DEFAULT_PERMITTED]);
    // The key that could sign for any site is gone; its certificate is kept for reference.
    expect((await fs.readdir(w.caRoot)).sort()).toEqual([CA_CERT_FILE, `${CA_CERT_FILE}.replaced-${today()}`, SIGNER_KEY_FILE, SIGNER_CERT_FILE].sort());
    expect(await fs.readFile(path.join(w.caRoot, `${CA_CERT_FILE}.replaced-${today()}`), 'utf8')).toBe(old.cert);

    // The project's next start reissues its leaf from the new CA, and nothing warns any more.
    const logger = captureLogger();
    const next = await startDevHttps({ port: 0, target: app.port, certDir, caRoot: w.caRoot, logger });
    onCleanup(() => next.close());
    expect(logger.lines).toContain(`info: Generating a new certificate: ${path.join(certDir, 'cert.pem')} was not issued by the current dev-https CA`);
    expect(next.certificate.fingerprint256).not.toBe(oldLeaf);
    expect(formatBanner([next])).not.toContain('can sign for any site');
    expect((await w.trust('check')).lines).toEqual([`dev-https CA: ${ca.commonName}`, `  ${ca.certPath} (SHA-256 ${ca.fingerprint256})`, `  signs only ${describePermitted(DEFAULT_PERMITTED)}`, `✔ ${CHROME}: trusted`]);
  });

  test('a name outside the constraints from a flag still works with it (as before); from a project config it is refused', async () => {
    const caRoot = await tempDir();
    await legacyCA(caRoot);
    const app = await startUpstream((_req, res) => res.end('app'));
    const handle = await startDevHttps({ port: 0, target: app.port, certDir: await tempDir(), caRoot, names: ['app.company.dev'], logger: captureLogger() });
    onCleanup(() => handle.close());
    expect(handle.certificate.names).toEqual(['localhost', '127.0.0.1', '::1', 'app.company.dev']);
    const err = await startError({ port: 0, target: app.port, certDir: await tempDir(), caRoot, names: ['accounts.google.com'], origins: { names: { label: '"name" in package.json "dev-https"', fromConfig: true } }, logger: captureLogger() });
    expect(err).toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/^Refused "accounts\.google\.com" from "name" in package\.json "dev-https": /) });
  });
});

describe('names outside the constraints', () => {
  test('--name app.company.dev is one error naming the flag, the name and the way out; nothing is written', async () => {
    const caRoot = await tempDir();
    const certDir = await tempDir();
    expect(await startError({ port: 0, certDir, caRoot, names: ['app.company.dev'], logger: captureLogger() })).toMatchObject({
      code: 'E_BAD_OPTION',
      message: `Invalid --name "app.company.dev": the dev-https CA signs only ${describePermitted(DEFAULT_PERMITTED)}; to serve it, run dev-https trust --permit .company.dev (a new CA that also signs *.company.dev, trusted again in place of this one), or serve your own certificate with --cert and --key`,
    });
    expect(await fs.readdir(certDir)).toEqual([]);
    expect(await startError({ port: 0, certDir, caRoot, names: ['8.8.8.8'], logger: captureLogger() })).toMatchObject({
      code: 'E_BAD_OPTION',
      message: `Invalid --name "8.8.8.8": the dev-https CA signs only ${describePermitted(DEFAULT_PERMITTED)}; serve your own certificate with --cert and --key for it`,
    });
    expect(await startError({ port: 0, certDir, caRoot, names: ['x.example.org'], origins: { names: { label: 'DEV_HTTPS_NAME', fromConfig: false } }, logger: captureLogger() })).toMatchObject({
      message: expect.stringMatching(/^Invalid DEV_HTTPS_NAME "x\.example\.org": the dev-https CA signs only /),
    });
  });

  test.each([
    ['package.json "dev-https"', 'accounts.google.com', '.google.com'],
    ['dev-https.config.json', 'www.example.com', '.example.com'],
  ])('a name from %s outside the constraints is refused naming the file and key (%s)', async (file, name, parent) => {
    const certDir = await tempDir();
    expect(await startError({ port: 0, certDir, caRoot: await tempDir(), names: [name], origins: { names: { label: `"name" in ${file}`, fromConfig: true } }, logger: captureLogger() })).toMatchObject({
      code: 'E_BAD_OPTION',
      message: `Refused "${name}" from "name" in ${file}: a project's config may name only ${describePermitted(DEFAULT_PERMITTED)} (a certificate for any other name, trusted by your browsers, could impersonate a real site); remove it from the file, or if ${parent.slice(1)} is your own domain, run dev-https trust --permit ${parent} yourself`,
    });
    expect(await fs.readdir(certDir)).toEqual([]);
  });

  test.skipIf(!CERTUTIL)('trust --permit .company.dev replaces the CA with one that also permits it, in the stores that trusted the old one; then --name app.company.dev is served and verifies', async () => {
    const w = await world();
    expect((await w.trust('trust')).logged).toEqual([`info: Created the dev-https CA ${path.join(w.caRoot, CA_CERT_FILE)} (${caCommonName()}), limited to ${describePermitted(DEFAULT_PERMITTED)}; adding it to the trust stores`]);
    const old = (await readCA(w.caRoot))!;
    const permitted = await w.trust('trust', { permit: ['company.dev'] });
    const ca = (await readCA(w.caRoot))!;
    expect(permitted.ok).toBe(true);
    expect(permitted.lines.slice(0, 4)).toEqual([`Replacing the dev-https CA ${old.certPath} (${old.commonName}, SHA-256 ${old.fingerprint256}).`, 'Removing the old CA from:', `  - ${CHROME}`, `✔ ${CHROME}: removed`]);
    expect(permitted.lines).toContain(`  signs only ${describePermitted([...DEFAULT_PERMITTED, 'company.dev'])}`);
    expect(ca.permitted).toEqual([...DEFAULT_PERMITTED, 'company.dev']);
    expect(w.entries()).toEqual({ [nickname(ca)]: 'C,,' });
    // Asked again: already permitted, nothing replaced.
    const again = await w.trust('trust', { permit: ['company.dev'] });
    expect(again.lines).toContain(`✔ ${CHROME}: already trusted`);
    expect((await readCA(w.caRoot))!.fingerprint256).toBe(ca.fingerprint256);

    const app = await startUpstream((_req, res) => res.end('app'));
    const handle = await startDevHttps({ port: 0, target: app.port, certDir: await tempDir(), caRoot: w.caRoot, names: ['app.company.dev'], logger: captureLogger() });
    onCleanup(() => handle.close());
    const dir = await tempDir();
    const [leaf, signer] = handle.certificate.cert.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
    await fs.writeFile(path.join(dir, 'leaf.pem'), leaf!);
    await fs.writeFile(path.join(dir, 'signer.pem'), signer!);
    expect(execFileSync('openssl', ['verify', '-CAfile', ca.certPath, '-untrusted', path.join(dir, 'signer.pem'), path.join(dir, 'leaf.pem')], { encoding: 'utf8' })).toBe(`${path.join(dir, 'leaf.pem')}: OK\n`);
  });
});

describe('the trust flags', () => {
  test.each<[string[], object]>([
    [['trust', '--permit', '.company.dev'], { kind: 'trust', action: 'trust', stores: null, permit: ['company.dev'] }],
    [['trust', '--permit', 'a.example,.b.example', '--permit', '*.c.example', '--store', 'nss'], { kind: 'trust', action: 'trust', stores: ['nss'], permit: ['a.example', 'b.example', 'c.example'] }],
    [['trust', '--replace'], { kind: 'trust', action: 'trust', stores: null, replace: true }],
    [['trust'], { kind: 'trust', action: 'trust', stores: null }],
  ])('parseCli %j', (argv, expected) => {
    expect(parseCli(argv)).toEqual(expected);
  });

  test.each([
    [['trust', '--permit', '.com'], 'Invalid --permit ".com": a top-level name would let the CA sign for every site under it; name your own domain, e.g. .company.dev'],
    [['trust', '--permit', 'https://x.dev/'], 'Invalid --permit "https://x.dev/": expected a DNS suffix such as .company.dev'],
    [['untrust', '--permit', '.company.dev'], 'Invalid --permit: it belongs to dev-https trust (without --check)'],
    [['doctor', '--replace'], 'Invalid --replace: it belongs to dev-https trust (without --check)'],
    [['trust', '--check', '--replace'], 'Invalid --replace: it belongs to dev-https trust (without --check)'],
  ])('%j is one error line naming the flag', (argv, message) => {
    expect(() => parseCli(argv)).toThrow(message);
  });

  test('the real bin: dev-https trust --permit .com exits 1 with one line and no CA made', async () => {
    const cwd = await tempDir();
    const caRoot = path.join(await tempDir(), 'ca');
    const r = run(['trust', '--permit', '.com'], { cwd, env: { DEV_HTTPS_CAROOT: caRoot, HOME: await tempDir() } });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe('error: Invalid --permit ".com": a top-level name would let the CA sign for every site under it; name your own domain, e.g. .company.dev\n');
    expect(r.stdout()).toBe('');
    await expect(fs.access(caRoot)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
