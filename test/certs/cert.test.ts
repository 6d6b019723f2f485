import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import {
  CERT_FILE,
  KEY_FILE,
  RENEW_WITHIN_DAYS,
  VALIDITY_DAYS,
  checkCertificate,
  createCertificate,
  ensureCertificate,
} from '../../src/certs/cert.js';
import { readCA } from '../../src/certs/ca.js';
import { DevHttpsError } from '../../src/errors.js';
import { captureLogger, floorSecond, request, runCleanups, serveTls, tempDir, tlsGet, withUmask } from '../helpers.js';

afterEach(runCleanups);

const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
const NAMES = ['localhost', '127.0.0.1', '::1'];
/** The run's CA (test/global-setup.ts): it signs every leaf here. */
const CA = (await readCA(process.env.DEV_HTTPS_CAROOT!))!;

async function mode(file: string): Promise<number> {
  return (await fs.stat(file)).mode & 0o777;
}

async function writePair(dir: string, pair: { cert: string; key: string }): Promise<void> {
  await fs.writeFile(path.join(dir, CERT_FILE), pair.cert, { mode: 0o644 });
  await fs.writeFile(path.join(dir, KEY_FILE), pair.key, { mode: 0o600 });
}

function opensslText(cert: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-text'], { input: cert, encoding: 'utf8' });
}

/** The value of one extension as openssl prints it, e.g. a key identifier "0B:F0:...". */
function opensslExtension(cert: string, name: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-ext', name], { input: cert, encoding: 'utf8' }).split('\n')[1]!.trim();
}

describe('constants', () => {
  test('file names, a year of validity, renewal a month ahead', () => {
    expect(CERT_FILE).toBe('cert.pem');
    expect(KEY_FILE).toBe('key.pem');
    expect(VALIDITY_DAYS).toBe(365);
    expect(RENEW_WITHIN_DAYS).toBe(30);
  });

  test('a generated leaf is valid for 365 days from an hour ago (clock slack), under the 825 days browsers accept', async () => {
    const before = Date.now();
    const files = await ensureCertificate(await tempDir(), NAMES, captureLogger(), CA);
    const after = Date.now();
    const x509 = new X509Certificate(files.cert);
    const notBefore = Date.parse(x509.validFrom);
    const notAfter = Date.parse(x509.validTo);
    // X.509 times have whole seconds: notBefore is now less an hour, floored to its second.
    expect(notBefore).toBeGreaterThanOrEqual(floorSecond(before - HOUR_MS));
    expect(notBefore).toBeLessThanOrEqual(after - HOUR_MS);
    expect(notAfter - notBefore).toBe(365 * DAY_MS);
    expect(notAfter - notBefore).toBeLessThan(825 * DAY_MS);
    expect(files.validTo.getTime()).toBe(notAfter);
  });
});

describe('the generated certificate', () => {
  test('is an ECDSA P-256 leaf signed with SHA-256 for server authentication', async () => {
    const dir = path.join(await tempDir(), 'certs');
    const files = await ensureCertificate(dir, NAMES, captureLogger(), CA);
    const x509 = new X509Certificate(files.cert);
    expect(x509.publicKey.asymmetricKeyType).toBe('ec');
    expect(x509.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    expect(x509.ca).toBe(false);
    expect(x509.subject).toBe('CN=localhost\nO=dev-https development certificate');
    expect(x509.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(x509.checkPrivateKey(createPrivateKey(files.key))).toBe(true);
    expect(files.fingerprint256).toBe(x509.fingerprint256);
    expect(files.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(files.validTo.getTime()).toBe(Date.parse(x509.validTo));

    const text = opensslText(files.cert);
    expect(text.match(/Signature Algorithm: (.*)/g)).toEqual(['Signature Algorithm: ecdsa-with-SHA256', 'Signature Algorithm: ecdsa-with-SHA256']);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: ?\n\s+TLS Web Server Authentication\n/);
  });

  test('covers the extra names after the defaults', async () => {
    const dir = await tempDir();
    const files = await ensureCertificate(dir, [...NAMES, 'myapp.test', '*.localhost', '10.1.2.3'], captureLogger(), CA);
    expect(new X509Certificate(files.cert).subjectAltName).toBe(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:myapp.test, DNS:*.localhost, IP Address:10.1.2.3',
    );
  });

  test(`is valid for ${VALIDITY_DAYS} days starting an hour in the past`, async () => {
    const before = Date.now();
    const { cert } = await createCertificate(NAMES);
    const after = Date.now();
    const x509 = new X509Certificate(cert);
    const from = Date.parse(x509.validFrom);
    const to = Date.parse(x509.validTo);
    expect(to - from).toBe(VALIDITY_DAYS * DAY_MS);
    expect(from).toBeGreaterThanOrEqual(floorSecond(before - HOUR_MS));
    expect(from).toBeLessThanOrEqual(after - HOUR_MS);
  });

  test('createCertificate honours notBefore and notAfter', async () => {
    const notBefore = new Date('2030-01-02T03:04:05.000Z');
    const notAfter = new Date('2030-03-04T05:06:07.000Z');
    const x509 = new X509Certificate((await createCertificate(['a.test'], { notBefore, notAfter })).cert);
    expect(new Date(x509.validFrom).toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(new Date(x509.validTo).toISOString()).toBe('2030-03-04T05:06:07.000Z');
    expect(x509.subject).toBe('CN=a.test\nO=dev-https development certificate');
    expect(x509.subjectAltName).toBe('DNS:a.test');
  });

  test.each([
    ['::ffff:127.0.0.1', 'IP Address:0:0:0:0:0:FFFF:7F00:1'],
    ['fe80::1', 'IP Address:FE80:0:0:0:0:0:0:1'],
    ['2001:db8::8a2e:370:7334', 'IP Address:2001:DB8:0:0:0:8A2E:370:7334'],
    ['1:2:3:4:5:6:7:8', 'IP Address:1:2:3:4:5:6:7:8'],
    ['::', 'IP Address:0:0:0:0:0:0:0:0'],
    ['192.168.0.255', 'IP Address:192.168.0.255'],
  ])('the IP address %s is encoded as its bytes (%s)', async (address, san) => {
    const x509 = new X509Certificate((await createCertificate([address], { ca: CA })).cert);
    expect(x509.subjectAltName).toBe(san);
    expect(x509.checkIP(address)).toBe(address);
  });

  test('dates from 2050 on are GeneralizedTime, earlier ones UTCTime (RFC 5280), and the chain stays valid', async () => {
    const notBefore = new Date('2049-12-31T23:59:59.000Z');
    const notAfter = new Date('2050-01-01T00:00:00.000Z');
    const { cert } = await createCertificate(['a.test'], { notBefore, notAfter });
    expect(execFileSync('openssl', ['asn1parse'], { input: cert, encoding: 'utf8' }).match(/(UTCTIME|GENERALIZEDTIME) +:\S+/g)).toEqual(['UTCTIME           :491231235959Z', 'GENERALIZEDTIME   :20500101000000Z']);
    const x509 = new X509Certificate(cert);
    expect([new Date(x509.validFrom).toISOString(), new Date(x509.validTo).toISOString()]).toEqual([notBefore.toISOString(), notAfter.toISOString()]);
  });

  test('each certificate has its own 16-byte serial, its own key identifier and the CA\'s as authority key identifier; openssl verifies it strictly', async () => {
    const certs = await Promise.all(Array.from({ length: 20 }, () => createCertificate(['a.test'], { ca: CA })));
    const serials = certs.map(({ cert }) => new X509Certificate(cert).serialNumber);
    expect(new Set(serials).size).toBe(20);
    // A serial whose first byte has the top bit set gets a leading zero byte, so it stays positive
    // (a negative one prints with a '-').
    for (const serial of serials) expect(serial).toMatch(/^[0-9A-F]{1,32}$/);
    // Leaves are signed by the CA's intermediate (the signer), and carry it after themselves.
    const caKeyId = opensslExtension(CA.signer.cert, 'subjectKeyIdentifier');
    for (const { cert } of certs.slice(0, 3)) {
      const keyBits = new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' }).subarray(-65);
      expect(opensslExtension(cert, 'subjectKeyIdentifier')).toBe(createHash('sha1').update(keyBits).digest('hex').toUpperCase().match(/../g)!.join(':'));
      expect(opensslExtension(cert, 'authorityKeyIdentifier')).toBe(caKeyId);
      const dir = await tempDir();
      await fs.writeFile(path.join(dir, 'ca.pem'), CA.cert);
      await fs.writeFile(path.join(dir, 'leaf.pem'), cert);
      await fs.writeFile(path.join(dir, 'signer.pem'), CA.signer.cert);
      expect(cert.endsWith(CA.signer.cert)).toBe(true);
      expect(execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', path.join(dir, 'ca.pem'), '-untrusted', path.join(dir, 'signer.pem'), path.join(dir, 'leaf.pem')], { encoding: 'utf8' })).toBe(`${path.join(dir, 'leaf.pem')}: OK\n`);
    }
  });

  test('the TLS handshake succeeds for every covered name and fails for any other', async () => {
    const dir = await tempDir();
    const pair = await ensureCertificate(dir, [...NAMES, 'myapp.test'], captureLogger(), CA);
    const port4 = await serveTls(pair, '127.0.0.1');
    const port6 = await serveTls(pair, '::1');

    const ok = [
      await tlsGet('127.0.0.1', port4, 'localhost', CA.cert),
      await tlsGet('::1', port6, 'localhost', CA.cert),
      await request(`https://127.0.0.1:${port4}/`, { ca: CA.cert }).then((r) => `${r.status} ${r.body}`),
      await request(`https://[::1]:${port6}/`, { ca: CA.cert }).then((r) => `${r.status} ${r.body}`),
      await tlsGet('127.0.0.1', port4, 'myapp.test', CA.cert),
    ];
    expect(ok).toEqual(Array(5).fill('200 tls ok'));

    await expect(tlsGet('127.0.0.1', port4, 'other.test', CA.cert)).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    // Verification is really on: without trusting the CA the same request fails.
    await expect(tlsGet('127.0.0.1', port4, 'localhost', undefined)).rejects.toMatchObject({ code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' });
  });
});

describe('files and modes', () => {
  test('creates the cert dir 0700 (with its parents), key 0600, cert 0644, .gitignore "*", no temp files left', async () => {
    const root = await tempDir();
    const dir = path.join(root, 'a', 'b', 'certs');
    const logger = captureLogger();
    const files = await ensureCertificate(dir, NAMES, logger, CA);

    expect(logger.lines).toEqual([`info: Generating a new certificate: no certificate in ${dir} yet`]);
    expect(files.generated).toBe(true);
    expect(files.certPath).toBe(path.join(dir, 'cert.pem'));
    expect(files.keyPath).toBe(path.join(dir, 'key.pem'));
    expect((await fs.readdir(dir)).sort()).toEqual(['.gitignore', 'cert.pem', 'key.pem']);
    expect(await mode(path.join(root, 'a'))).toBe(0o700);
    expect(await mode(path.join(root, 'a', 'b'))).toBe(0o700);
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(files.keyPath)).toBe(0o600);
    expect(await mode(files.certPath)).toBe(0o644);
    expect(await fs.readFile(path.join(dir, '.gitignore'), 'utf8')).toBe('*\n');
    expect(await fs.readFile(files.certPath, 'utf8')).toBe(files.cert);
    expect(await fs.readFile(files.keyPath, 'utf8')).toBe(files.key);
  });

  test('with umask 000 the key is still 0600 and the dir 0700', async () => {
    const dir = path.join(await tempDir(), 'certs');
    const files = await withUmask(0o000, () => ensureCertificate(dir, NAMES, captureLogger(), CA));
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(files.keyPath)).toBe(0o600);
    expect(await mode(files.certPath)).toBe(0o644);
    expect(await mode(path.join(dir, '.gitignore'))).toBe(0o644);
  });

  test('with umask 077 the certificate is still readable by everyone (0644)', async () => {
    const dir = path.join(await tempDir(), 'certs');
    const files = await withUmask(0o077, () => ensureCertificate(dir, NAMES, captureLogger(), CA));
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(files.keyPath)).toBe(0o600);
    expect(await mode(files.certPath)).toBe(0o644);
  });

  test('an existing dir keeps its mode, even holding only our files: dev-https changes only what it created', async () => {
    const dir = await tempDir();
    await ensureCertificate(dir, NAMES, captureLogger(), CA);
    await fs.chmod(dir, 0o755);
    const files = await ensureCertificate(dir, NAMES, captureLogger(), CA);
    expect(files.generated).toBe(false);
    expect(await mode(dir)).toBe(0o755);
  });

  test("an existing dir holding a user's file keeps its mode and the file", async () => {
    const dir = await tempDir();
    const notes = path.join(dir, 'notes.txt');
    await fs.writeFile(notes, 'mine\n', { mode: 0o644 });
    await fs.chmod(notes, 0o644);
    await fs.chmod(dir, 0o755);
    await ensureCertificate(dir, NAMES, captureLogger(), CA);
    expect(await mode(dir)).toBe(0o755);
    expect(await fs.readFile(notes, 'utf8')).toBe('mine\n');
    expect(await mode(notes)).toBe(0o644);
    expect((await fs.readdir(dir)).sort()).toEqual(['.gitignore', 'cert.pem', 'key.pem', 'notes.txt']);
  });

  test('a valid key with mode 0644 is reused with a warning saying how to fix it; its mode is left alone', async () => {
    const dir = await tempDir();
    const first = await ensureCertificate(dir, NAMES, captureLogger(), CA);
    await fs.chmod(first.keyPath, 0o644);
    const logger = captureLogger();
    const second = await ensureCertificate(dir, NAMES, logger, CA);
    expect(second.generated).toBe(false);
    expect(second.fingerprint256).toBe(first.fingerprint256);
    expect(logger.lines).toEqual([
      `warn: ${first.keyPath} is readable by other users (mode 644): run chmod 600 ${first.keyPath}`,
      `info: Using the cached certificate ${first.certPath}`,
    ]);
    expect(await mode(first.keyPath)).toBe(0o644);
  });

  describe('never through a symbolic link', () => {
    /** A directory of someone else's files (~/.docker, ~/.ssh): it must come out byte for byte the same. */
    async function elsewhere(): Promise<{ dir: string; snapshot: () => Promise<Record<string, string>> }> {
      const dir = await tempDir();
      await fs.writeFile(path.join(dir, KEY_FILE), 'docker key\n', { mode: 0o600 });
      await fs.writeFile(path.join(dir, CERT_FILE), 'docker cert\n');
      const snapshot = async () => Object.fromEntries(await Promise.all((await fs.readdir(dir)).sort().map(async (n) => [n, await fs.readFile(path.join(dir, n), 'utf8')] as const)));
      return { dir, snapshot };
    }

    test('a cert dir that is a link (certs -> ~/.docker) is E_CERT_DIR; nothing there is touched', async () => {
      const other = await elsewhere();
      const before = await other.snapshot();
      const certDir = path.join(await tempDir(), 'certs');
      await fs.symlink(other.dir, certDir);
      await expect(ensureCertificate(certDir, NAMES, captureLogger(), CA)).rejects.toMatchObject({
        code: 'E_CERT_DIR',
        message: `Cannot use --cert-dir "${certDir}": ${certDir} is a symbolic link (to ${other.dir}) and dev-https never writes through one; remove the link or pass another --cert-dir`,
      });
      expect(await other.snapshot()).toEqual(before);
    });

    test.each([KEY_FILE, CERT_FILE])('%s that is a link is E_CERT_DIR; its target is untouched', async (name) => {
      const other = await elsewhere();
      const before = await other.snapshot();
      const certDir = await tempDir();
      await fs.symlink(path.join(other.dir, name), path.join(certDir, name));
      await expect(ensureCertificate(certDir, NAMES, captureLogger(), CA)).rejects.toMatchObject({
        code: 'E_CERT_DIR',
        message: `Cannot use --cert-dir "${certDir}": ${path.join(certDir, name)} is a symbolic link (to ${path.join(other.dir, name)}) and dev-https never writes through one; remove the link or pass another --cert-dir`,
      });
      expect(await other.snapshot()).toEqual(before);
      expect(await fs.readdir(certDir)).toEqual([name]);
    });

    test('a dangling .gitignore -> ~/.ssh/config is E_CERT_DIR; no ssh config holding "*" appears', async () => {
      const ssh = await tempDir();
      const certDir = await tempDir();
      await fs.symlink(path.join(ssh, 'config'), path.join(certDir, '.gitignore'));
      await expect(ensureCertificate(certDir, NAMES, captureLogger(), CA)).rejects.toMatchObject({
        code: 'E_CERT_DIR',
        message: `Cannot use --cert-dir "${certDir}": ${path.join(certDir, '.gitignore')} is a symbolic link (to ${path.join(ssh, 'config')}) and dev-https never writes through one; remove the link or pass another --cert-dir`,
      });
      expect(await fs.readdir(ssh)).toEqual([]);
    });
  });

  test('a .gitignore without a "*" line is left alone with a warning, on generation and on reuse', async () => {
    const dir = await tempDir();
    const gitignore = path.join(dir, '.gitignore');
    await fs.writeFile(gitignore, 'node_modules\n*.log\n');
    const logger = captureLogger();
    const files = await ensureCertificate(dir, NAMES, logger, CA);
    const warning = `warn: ${gitignore} does not ignore everything (no "*" line): git may commit key.pem`;
    expect(logger.lines).toEqual([`info: Generating a new certificate: no certificate in ${dir} yet`, warning]);

    const again = captureLogger();
    await ensureCertificate(dir, NAMES, again, CA);
    expect(again.lines).toEqual([warning, `info: Using the cached certificate ${files.certPath}`]);
    expect(await fs.readFile(gitignore, 'utf8')).toBe('node_modules\n*.log\n');
  });

  test('a .gitignore with a "*" line among others is accepted silently and unchanged', async () => {
    const dir = await tempDir();
    const gitignore = path.join(dir, '.gitignore');
    await fs.writeFile(gitignore, '# certificates\r\n  *  \r\n');
    const logger = captureLogger();
    await ensureCertificate(dir, NAMES, logger, CA);
    expect(logger.lines).toEqual([`info: Generating a new certificate: no certificate in ${dir} yet`]);
    expect(await fs.readFile(gitignore, 'utf8')).toBe('# certificates\r\n  *  \r\n');
  });
});

describe('reuse', () => {
  test('a second start reuses the cached pair unchanged', async () => {
    const dir = await tempDir();
    const first = await ensureCertificate(dir, [...NAMES, 'myapp.test'], captureLogger(), CA);
    const logger = captureLogger();
    const second = await ensureCertificate(dir, [...NAMES, 'myapp.test'], logger, CA);
    expect(second).toEqual({ ...first, generated: false });
    expect(logger.lines).toEqual([`info: Using the cached certificate ${path.join(dir, 'cert.pem')}`]);
  });

  test('a cached certificate naming more than asked is replaced: it names exactly what is served', async () => {
    const dir = await tempDir();
    await ensureCertificate(dir, [...NAMES, 'myapp.test'], captureLogger(), CA);
    const logger = captureLogger();
    const second = await ensureCertificate(dir, NAMES, logger, CA);
    expect(second.generated).toBe(true);
    expect(logger.lines).toEqual([`info: Generating a new certificate: ${second.certPath} also names myapp.test, which is no longer served`]);
    expect(new X509Certificate(second.cert).subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  });
});

describe('regeneration', () => {
  test('a newly requested name makes a new certificate that covers it', async () => {
    const dir = await tempDir();
    const first = await ensureCertificate(dir, NAMES, captureLogger(), CA);
    const logger = captureLogger();
    const second = await ensureCertificate(dir, [...NAMES, 'myapp.test'], logger, CA);
    expect(logger.lines).toEqual([`info: Generating a new certificate: ${first.certPath} does not cover myapp.test`]);
    expect(second.generated).toBe(true);
    expect(second.fingerprint256).not.toBe(first.fingerprint256);
    expect(new X509Certificate(await fs.readFile(second.certPath, 'utf8')).fingerprint256).toBe(second.fingerprint256);
    expect(new X509Certificate(second.cert).subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:myapp.test');
  });

  type Damage = (dir: string) => Promise<{ expected: (certPath: string, keyPath: string) => string }>;
  const info = (text: string) => `info: Generating a new certificate: ${text}`;
  const warn = (text: string) => `warn: ${text}: generating a new certificate`;
  const isoDay = (cert: string) => new Date(new X509Certificate(cert).validTo).toISOString().slice(0, 10);

  const damages: Array<[string, Damage]> = [
    [
      'expires within 30 days',
      async (dir) => {
        const pair = await createCertificate(NAMES, { notAfter: new Date(Date.now() + 10 * DAY_MS), ca: CA });
        await writePair(dir, pair);
        return { expected: (c) => info(`${c} expires on ${isoDay(pair.cert)} (renewed 30 days ahead)`) };
      },
    ],
    [
      'has expired',
      async (dir) => {
        const pair = await createCertificate(NAMES, { notBefore: new Date(Date.now() - 400 * DAY_MS), notAfter: new Date(Date.now() - 5 * DAY_MS), ca: CA });
        await writePair(dir, pair);
        return { expected: (c) => info(`${c} expired on ${isoDay(pair.cert)} (renewed 30 days ahead)`) };
      },
    ],
    [
      'is not valid yet',
      async (dir) => {
        const pair = await createCertificate(NAMES, { notBefore: new Date(Date.now() + DAY_MS), ca: CA });
        await writePair(dir, pair);
        const from = new Date(new X509Certificate(pair.cert).validFrom).toISOString();
        return { expected: (c) => info(`${c} is not valid before ${from}`) };
      },
    ],
    [
      'has a key that does not match',
      async (dir) => {
        const a = await createCertificate(NAMES);
        const b = await createCertificate(NAMES);
        await writePair(dir, { cert: a.cert, key: b.key });
        return { expected: (c, k) => warn(`${k} does not match ${c}`) };
      },
    ],
    [
      'has a corrupt certificate',
      async (dir) => {
        const pair = await createCertificate(NAMES);
        await writePair(dir, { cert: 'garbage\n', key: pair.key });
        return { expected: (c) => warn(`${c} is not a valid PEM certificate`) };
      },
    ],
    [
      'has a truncated certificate',
      async (dir) => {
        const pair = await createCertificate(NAMES);
        await writePair(dir, { cert: pair.cert.slice(0, 200), key: pair.key });
        return { expected: (c) => warn(`${c} is not a valid PEM certificate`) };
      },
    ],
    [
      'has a corrupt key',
      async (dir) => {
        const pair = await createCertificate(NAMES);
        await writePair(dir, { cert: pair.cert, key: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n' });
        return { expected: (_c, k) => warn(`${k} is not a valid PEM private key`) };
      },
    ],
    [
      'has only the certificate',
      async (dir) => {
        await fs.writeFile(path.join(dir, CERT_FILE), (await createCertificate(NAMES)).cert);
        return { expected: (_c, k) => warn(`${k} is missing`) };
      },
    ],
    [
      'has only the key',
      async (dir) => {
        await fs.writeFile(path.join(dir, KEY_FILE), (await createCertificate(NAMES)).key, { mode: 0o600 });
        return { expected: (c) => warn(`${c} is missing`) };
      },
    ],
  ];

  test.each(damages)('a cached pair that %s is replaced', async (_label, damage) => {
    const dir = await tempDir();
    const { expected } = await damage(dir);
    const before = await fs.readFile(path.join(dir, CERT_FILE), 'utf8').catch(() => null);
    const logger = captureLogger();
    const files = await ensureCertificate(dir, NAMES, logger, CA);

    expect(logger.lines).toEqual([expected(files.certPath, files.keyPath)]);
    expect(files.generated).toBe(true);
    expect(files.cert).not.toBe(before);
    expect(await fs.readFile(files.certPath, 'utf8')).toBe(files.cert);
    expect(await fs.readFile(files.keyPath, 'utf8')).toBe(files.key);
    expect((await fs.lstat(files.keyPath)).isFile()).toBe(true);
    expect(await mode(files.keyPath)).toBe(0o600);
    expect(await mode(files.certPath)).toBe(0o644);
    expect(new X509Certificate(files.cert).checkPrivateKey(createPrivateKey(files.key))).toBe(true);
    expect((await fs.readdir(dir)).sort()).toEqual(['.gitignore', 'cert.pem', 'key.pem']);

    // The replacement is sound: the next start reuses it.
    const next = await ensureCertificate(dir, NAMES, captureLogger(), CA);
    expect(next.generated).toBe(false);
    expect(next.fingerprint256).toBe(files.fingerprint256);
  });
});

describe('checkCertificate', () => {
  const certPath = '/c/cert.pem';
  const keyPath = '/c/key.pem';
  const notBefore = new Date('2030-01-01T00:00:00.000Z');
  const notAfter = new Date('2031-01-01T00:00:00.000Z');
  const pairPromise = createCertificate([...NAMES, 'myapp.test'], { notBefore, notAfter });

  test.each([
    ['a day after the start', '2030-01-02T00:00:00.000Z', NAMES, null],
    ['exactly at the start', '2030-01-01T00:00:00.000Z', NAMES, null],
    ['a second before the start', '2029-12-31T23:59:59.000Z', NAMES, { text: '/c/cert.pem is not valid before 2030-01-01T00:00:00.000Z', warn: false }],
    ['exactly 30 days before the end', '2030-12-02T00:00:00.000Z', NAMES, null],
    ['a second later', '2030-12-02T00:00:01.000Z', NAMES, { text: '/c/cert.pem expires on 2031-01-01 (renewed 30 days ahead)', warn: false }],
    ['after the end', '2031-01-01T00:00:01.000Z', NAMES, { text: '/c/cert.pem expired on 2031-01-01 (renewed 30 days ahead)', warn: false }],
    ['with the extra name', '2030-06-01T00:00:00.000Z', [...NAMES, 'myapp.test'], null],
    ['with an uncovered name and IP', '2030-06-01T00:00:00.000Z', ['localhost', 'other.test', '10.0.0.1', '::1'], { text: '/c/cert.pem does not cover other.test, 10.0.0.1', warn: false }],
    ['a wildcard is not implied', '2030-06-01T00:00:00.000Z', ['app.myapp.test'], { text: '/c/cert.pem does not cover app.myapp.test', warn: false }],
  ] as const)('%s (%s)', async (_label, now, names, expected) => {
    const { cert, key } = await pairPromise;
    expect(checkCertificate({ cert, key, x509: new X509Certificate(cert) }, [...names], certPath, keyPath, new Date(now))).toEqual(expected);
  });

  test('a key from another pair is damage, reported before anything else', async () => {
    const { cert } = await pairPromise;
    const other = await createCertificate(NAMES);
    expect(checkCertificate({ cert, key: other.key, x509: new X509Certificate(cert) }, ['x.test'], certPath, keyPath, new Date('2040-01-01'))).toEqual({
      text: '/c/key.pem does not match /c/cert.pem',
      warn: true,
    });
    expect(checkCertificate({ cert, key: 'nope', x509: new X509Certificate(cert) }, NAMES, certPath, keyPath, new Date('2030-06-01'))).toEqual({
      text: '/c/key.pem is not a valid PEM private key',
      warn: true,
    });
  });
});

describe('unusable cert dir', () => {
  const message = (dir: string, why: string) => `Cannot use --cert-dir "${dir}": ${why}; pass a directory you can write to`;

  test('a directory that cannot be created is E_CERT_DIR', async () => {
    const promise = ensureCertificate('/proc/dev-https-nope', NAMES, captureLogger(), CA);
    await expect(promise).rejects.toBeInstanceOf(DevHttpsError);
    await expect(promise).rejects.toMatchObject({
      code: 'E_CERT_DIR',
      message: message('/proc/dev-https-nope', 'it cannot be created there'),
    });
  });

  test.each([
    ['the cert dir is a file', (file: string) => file],
    ['a parent of the cert dir is a file', (file: string) => path.join(file, 'certs')],
  ])('%s: E_CERT_DIR and the file is untouched', async (_label, certDirOf) => {
    const file = path.join(await tempDir(), 'in-the-way');
    await fs.writeFile(file, 'data\n');
    const certDir = certDirOf(file);
    await expect(ensureCertificate(certDir, NAMES, captureLogger(), CA)).rejects.toMatchObject({
      name: 'DevHttpsError',
      code: 'E_CERT_DIR',
      message: message(certDir, 'a file is in the way of that directory'),
    });
    expect(await fs.readFile(file, 'utf8')).toBe('data\n');
  });

  test('a directory named cert.pem is reported, and no temp file is left behind', async () => {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, CERT_FILE));
    const logger = captureLogger();
    await expect(ensureCertificate(dir, NAMES, logger, CA)).rejects.toMatchObject({
      code: 'E_CERT_DIR',
      message: message(dir, 'a directory is in the way of the certificate files'),
    });
    expect(logger.lines).toEqual([`warn: cannot read ${path.join(dir, CERT_FILE)} (EISDIR): generating a new certificate`]);
    expect((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
