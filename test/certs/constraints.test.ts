// The CA cannot be turned against its user: its root and the intermediate that signs leaves carry
// critical Name Constraints (local names, loopback and private addresses), and the root's key is
// never written. A thief of the key on disk (the intermediate's) signs, with openssl, a leaf for a
// public name: openssl, curl, Python, Node, NSS (vfychain) and Java refuse it, while the leaf for
// local names dev-https issues is accepted. Chromium's run is in test/browser-trust.test.ts.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { CA_CERT_FILE, SIGNER_CERT_FILE, SIGNER_KEY_FILE, ensureCA, type CertificateAuthority } from '../../src/certs/ca.js';
import { createCertificate } from '../../src/certs/cert.js';
import { DEFAULT_PERMITTED, describePermitted, permits, resolvePermit } from '../../src/certs/constraints.js';
import { nameConstraints, permittedNamesOf } from '../../src/certs/der.js';
import { captureLogger, KEYTOOL, onPath, runCleanups, tempDir } from '../helpers.js';

afterEach(runCleanups);

const LOCAL = ['localhost', 'app.test', 'api.internal', 'nas.home.arpa', 'printer.local', '127.0.0.1', '::1', '192.168.1.20', '10.1.2.3', 'fd00::5'];
const JAVA = onPath('java', ['/usr/bin/java']);
/** curl, vfychain (libnss3-tools) and python3: CI installs them, so there a missing one fails. */
const CURL = process.env.CI === 'true' || onPath('curl') !== null;
/** `java File.java` needs a JDK (jdk.compiler); CI installs one (default-jdk-headless): there, a missing one is a failure, not a skip. */
const javaRunsSource = process.env.CI === 'true' || (JAVA !== null && spawnSync(JAVA, ['--list-modules'], { encoding: 'utf8' }).stdout.includes('jdk.compiler'));

let root: string;
let ca: CertificateAuthority;
let work: string;

// Made once for the file (tempDir would be removed after the first test).
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'dev-https-constraints-'));
  root = path.join(work, 'ca');
  ca = await ensureCA(root, captureLogger());
});
afterAll(() => fs.rm(work, { recursive: true, force: true }));

/** Runs a client as a child process without blocking this process, whose servers it talks to. */
function runClient(command: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ status: code, stdout, stderr });
    });
  });
}

/** What a thief of the key file does: openssl signs a leaf for `names` with signerCA-key.pem. */
function stolenKeyLeaf(names: string[]): { cert: string; key: string } {
  const dir = path.join(work, names[0]!.replace(/[^\w.]/g, '_'));
  execFileSync('mkdir', ['-p', dir]);
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'req.pem'), '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', path.join(dir, 'req.pem'), '-CA', path.join(root, SIGNER_CERT_FILE), '-CAkey', path.join(root, SIGNER_KEY_FILE), '-CAcreateserial', '-copy_extensions', 'copyall', '-days', '30', '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const chain = execFileSync('cat', [path.join(dir, 'cert.pem'), path.join(root, SIGNER_CERT_FILE)], { encoding: 'utf8' });
  return { cert: chain, key: execFileSync('cat', [path.join(dir, 'key.pem')], { encoding: 'utf8' }) };
}

async function files(pair: { cert: string }, name: string): Promise<{ leaf: string; chain: string }> {
  const [leafPem, ...rest] = pair.cert.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
  const leaf = path.join(work, `${name}-leaf.pem`);
  const chain = path.join(work, `${name}-chain.pem`);
  await fs.writeFile(leaf, leafPem!);
  await fs.writeFile(chain, rest.join(''));
  return { leaf, chain };
}

describe('the certificates', () => {
  test('root (pathlen 1) and signer (pathlen 0) both carry the same critical Name Constraints; the root key is on no disk', async () => {
    expect((await fs.readdir(root)).sort()).toEqual([CA_CERT_FILE, SIGNER_KEY_FILE, SIGNER_CERT_FILE].sort());
    const permittedText = [
      'DNS:localhost', 'DNS:test', 'DNS:internal', 'DNS:home.arpa', 'DNS:local',
      'IP:127.0.0.0/255.0.0.0', 'IP:10.0.0.0/255.0.0.0', 'IP:172.16.0.0/255.240.0.0', 'IP:192.168.0.0/255.255.0.0', 'IP:169.254.0.0/255.255.0.0', 'IP:100.64.0.0/255.192.0.0',
      'IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF', 'IP:FC00:0:0:0:0:0:0:0/FE00:0:0:0:0:0:0:0', 'IP:FE80:0:0:0:0:0:0:0/FFC0:0:0:0:0:0:0:0',
    ];
    for (const [file, pathlen] of [[CA_CERT_FILE, 1], [SIGNER_CERT_FILE, 0]] as const) {
      const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', path.join(root, file)], { encoding: 'utf8' });
      expect(text).toContain(`X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:${pathlen}\n`);
      expect(text).toContain(`X509v3 Name Constraints: critical\n                Permitted:\n${permittedText.map((l) => `                  ${l}\n`).join('')}`);
      expect(permittedNamesOf(new X509Certificate(await fs.readFile(path.join(root, file))))).toEqual([...DEFAULT_PERMITTED]);
    }
    const signer = new X509Certificate(await fs.readFile(path.join(root, SIGNER_CERT_FILE)));
    expect(signer.checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(signer.subject).toBe(`CN=${ca.commonName} signer\nO=dev-https development CA`);
    expect(ca.permitted).toEqual([...DEFAULT_PERMITTED]);
    expect(ca.keyPath).toBe(path.join(root, SIGNER_KEY_FILE));
  });

  test('nameConstraints encodes a dNSName and an address with its mask', () => {
    expect(nameConstraints(['test', '10.0.0.0/8']).toString('hex')).toBe('3016a014' + '3006' + '820474657374' + '300a' + '87080a000000ff000000');
  });

  test.each<[string, boolean]>([
    ['localhost', true], ['shop.localhost', true], ['app.test', true], ['a.b.internal', true], ['router.home.arpa', true], ['mac.local', true],
    ['*.app.test', true], ['127.9.9.9', true], ['::1', true], ['10.255.0.1', true], ['172.31.255.255', true], ['172.32.0.1', false],
    ['192.168.0.1', true], ['169.254.10.1', true], ['100.100.1.1', true], ['100.128.0.1', false], ['192.0.2.2', false], ['fd12::1', true], ['fe80::1', true], ['8.8.8.8', false], ['2001:db8::1', false],
    ['www.example.com', false], ['localhost.com', false], ['evil-test', false], ['testing', false], ['test.com', false], ['notlocal', false],
  ])('permits %s: %s', (name, expected) => {
    expect(permits(DEFAULT_PERMITTED, name)).toBe(expected);
  });

  test('resolvePermit takes suffixes with or without the dot, refuses a top-level name and junk', () => {
    expect(resolvePermit(['.company.dev', 'Corp.Example,.company.dev'])).toEqual(['company.dev', 'corp.example']);
    expect(() => resolvePermit(['.com'])).toThrow('Invalid --permit ".com": a top-level name would let the CA sign for every site under it; name your own domain, e.g. .company.dev');
    expect(() => resolvePermit(['http://x.dev'])).toThrow('Invalid --permit "http://x.dev": expected a DNS suffix such as .company.dev');
    expect(describePermitted(['localhost', 'test', '10.0.0.0/8'])).toBe('localhost, *.localhost, *.test, 10.0.0.0/8');
  });
});

/** An HTTPS server of `pair` on 127.0.0.1 answering "tls ok" (closed in afterAll: the servers serve the whole block). */
async function serve(pair: { cert: string; key: string }): Promise<{ port: number; close: () => Promise<void> }> {
  const server = https.createServer({ cert: pair.cert, key: pair.key }, (_req, res) => res.end('tls ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

interface Served {
  port: number;
  leaf: string;
  chain: string;
}

describe('real clients, trusting only the root', () => {
  let good: Served;
  let bad: Served;
  let badIp: Served;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    const start = async (pair: { cert: string; key: string }, name: string): Promise<Served> => {
      const server = await serve(pair);
      closers.push(server.close);
      return { port: server.port, ...(await files(pair, name)) };
    };
    good = await start(await createCertificate(LOCAL, { ca }), 'good');
    bad = await start(stolenKeyLeaf(['www.example.com', 'accounts.google.com']), 'bad');
    badIp = await start(stolenKeyLeaf(['8.8.8.8']), 'bad-ip');
  });
  afterAll(async () => {
    await Promise.all(closers.map((close) => close()));
  });

  test('openssl verify', () => {
    const verify = (f: Served) => spawnSync('openssl', ['verify', '-x509_strict', '-CAfile', ca.certPath, '-untrusted', f.chain, f.leaf], { encoding: 'utf8' });
    expect(verify(good).stdout).toBe(`${good.leaf}: OK\n`);
    for (const f of [bad, badIp]) {
      const r = verify(f);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^error 47 at 0 depth lookup: permitted subtree violation$/m);
    }
  });

  test.skipIf(!CURL)('curl', async () => {
    const curl = async (f: Served, host: string) => {
      const url = host.includes(':') ? `https://[${host}]:${f.port}/` : `https://${host}:${f.port}/`;
      const resolve = host === '127.0.0.1' || host === '::1' || host === '8.8.8.8' ? [] : ['--resolve', `${host}:${f.port}:127.0.0.1`];
      const connect = host === '8.8.8.8' ? ['--connect-to', `8.8.8.8:${f.port}:127.0.0.1:${f.port}`] : [];
      const r = await runClient('curl', ['-sS', '--cacert', ca.certPath, ...resolve, ...connect, url]);
      return `${r.status} ${r.stdout || r.stderr.trim()}`;
    };
    for (const host of ['localhost', 'app.test', 'printer.local', '127.0.0.1']) expect(await curl(good, host)).toBe('0 tls ok');
    // The first line of curl's message; the advice after it varies between curl versions.
    const refused = '60 curl: (60) SSL certificate problem: permitted subtree violation';
    expect((await curl(bad, 'www.example.com')).split('\n')[0]).toBe(refused);
    expect((await curl(bad, 'accounts.google.com')).split('\n')[0]).toBe(refused);
    expect((await curl(badIp, '8.8.8.8')).split('\n')[0]).toBe(refused);
  });

  test("Python's ssl (default context)", async () => {
    const script = `
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
for arg in sys.argv[2:]:
    port, name = arg.split('@')
    try:
        with socket.create_connection(('127.0.0.1', int(port))) as raw:
            with ctx.wrap_socket(raw, server_hostname=name):
                print(name, 'accepted')
    except ssl.SSLCertVerificationError as e:
        print(name, 'refused:', e.verify_message)
`;
    const args = [...['localhost', 'app.test', '192.168.1.20'].map((n) => `${good.port}@${n}`), `${bad.port}@www.example.com`, `${bad.port}@accounts.google.com`, `${badIp.port}@8.8.8.8`];
    expect((await runClient('python3', ['-c', script, ca.certPath, ...args])).stdout).toBe(
      ['localhost accepted', 'app.test accepted', '192.168.1.20 accepted', 'www.example.com refused: permitted subtree violation', 'accounts.google.com refused: permitted subtree violation', '8.8.8.8 refused: permitted subtree violation', ''].join('\n'),
    );
  });

  test("Node's tls", async () => {
    const connect = (f: Served, servername: string) =>
      new Promise<string>((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port: f.port, servername: net.isIP(servername) ? undefined : servername, ca: ca.cert, checkServerIdentity: (_host, cert) => tls.checkServerIdentity(servername, cert) }, () => {
          socket.destroy();
          resolve('accepted');
        });
        socket.on('error', (err: NodeJS.ErrnoException) => resolve(`refused: ${err.message}`));
      });
    expect(await connect(good, 'localhost')).toBe('accepted');
    expect(await connect(good, 'nas.home.arpa')).toBe('accepted');
    expect(await connect(good, '::1')).toBe('accepted');
    expect(await connect(bad, 'www.example.com')).toBe('refused: permitted subtree violation');
    expect(await connect(badIp, '8.8.8.8')).toBe('refused: permitted subtree violation');
  });

  test('NSS (vfychain, with the root trusted in an NSS database)', async () => {
    const db = await tempDir();
    execFileSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password']);
    execFileSync('certutil', ['-A', '-d', `sql:${db}`, '-t', 'C,,', '-n', 'dev-https root', '-i', ca.certPath]);
    const vfychain = (f: Served) => spawnSync('vfychain', ['-d', `sql:${db}`, '-a', '-u', '1', f.leaf, f.chain], { encoding: 'utf8' });
    expect(vfychain(good).stderr).toBe('Chain is good!\n');
    for (const f of [bad, badIp]) {
      const r = vfychain(f);
      expect(r.stderr).toMatch(/^Chain is bad!$/m);
      expect(r.stderr).toContain('ERROR -8080: The Certifying Authority for this certificate is not permitted to issue a certificate with this name.');
    }
  });

  test.skipIf(!javaRunsSource || !KEYTOOL)('Java (a keytool truststore holding the root): refused by the intermediate\'s constraints', async () => {
    const dir = await tempDir();
    const store = path.join(dir, 'truststore.p12');
    execFileSync(KEYTOOL!, ['-importcert', '-noprompt', '-keystore', store, '-storetype', 'PKCS12', '-storepass', 'changeit', '-alias', 'dev-https', '-file', ca.certPath], { stdio: 'ignore' });
    const program = path.join(import.meta.dirname, '..', 'fixtures', 'TlsCheck.java');
    const java = async (f: Served, name: string) => (await runClient(JAVA!, [`-Djavax.net.ssl.trustStore=${store}`, '-Djavax.net.ssl.trustStorePassword=changeit', program, String(f.port), name])).stdout.trim();
    expect(await java(good, 'localhost')).toBe('accepted');
    expect(await java(good, 'app.test')).toBe('accepted');
    expect(await java(bad, 'www.example.com')).toBe('refused: name constraints check failed');
  });

  test('the stolen key cannot make a CA either: the signer is pathlen 0', async () => {
    const dir = path.join(work, 'subca');
    await fs.mkdir(dir);
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'req.pem'), '-subj', '/CN=evil CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', path.join(dir, 'req.pem'), '-CA', path.join(root, SIGNER_CERT_FILE), '-CAkey', path.join(root, SIGNER_KEY_FILE), '-CAcreateserial', '-copy_extensions', 'copyall', '-days', '30', '-out', path.join(dir, 'ca.pem')], { stdio: 'ignore' });
    const evilLeaf = await createCertificate(['www.example.com'], { ca: { cert: await fs.readFile(path.join(dir, 'ca.pem'), 'utf8'), key: await fs.readFile(path.join(dir, 'key.pem'), 'utf8') } });
    await fs.writeFile(path.join(dir, 'leaf.pem'), evilLeaf.cert);
    const chain = path.join(dir, 'chain.pem');
    await fs.writeFile(chain, (await fs.readFile(path.join(dir, 'ca.pem'), 'utf8')) + (await fs.readFile(path.join(root, SIGNER_CERT_FILE), 'utf8')));
    const r = spawnSync('openssl', ['verify', '-CAfile', ca.certPath, '-untrusted', chain, path.join(dir, 'leaf.pem')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    // Depth 2 is the signer, whose pathlen 0 allows no CA under it.
    expect(r.stderr).toMatch(/^CN = dev-https development CA \S+ signer, O = dev-https development CA\nerror 25 at 2 depth lookup: path length constraint exceeded$/m);
  });
});
