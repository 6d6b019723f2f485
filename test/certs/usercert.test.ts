// --cert/--key and --pfx: certificates made elsewhere (mkcert, openssl, a company CA) served
// instead of the CA-signed one. Real files from openssl and mkcert, real TLS and HTTP/2 clients:
// what is served, start errors and warnings, hot reload, close(), and the bin.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import type tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import { createCertificate } from '../../src/certs/cert.js';
import { DevHttpsError } from '../../src/errors.js';
import type { DevHttpsOptions } from '../../src/options.js';
import { startDevHttps } from '../../src/server/server.js';
import { captureLogger, freePort, h2get, onCleanup, poll, request, run, runCleanups, startError, startUpstream, tempDir, testCa, waitFor } from '../helpers.js';

afterEach(runCleanups);

const NODE = process.execPath;
const DAY_MS = 24 * 60 * 60 * 1000;
const LOCAL_SANS = 'DNS:localhost,IP:127.0.0.1,IP:::1';
const PASSPHRASE = 'correct-horse-7f3a';

interface Pair {
  cert: string;
  key: string;
  /** The certificate file's text. */
  pem: string;
  keyPem: string;
  fingerprint256: string;
  validTo: Date;
}

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

async function pairOf(cert: string, key: string): Promise<Pair> {
  const pem = await fs.readFile(cert, 'utf8');
  const x509 = new X509Certificate(pem);
  return { cert, key, pem, keyPem: await fs.readFile(key, 'utf8'), fingerprint256: x509.fingerprint256, validTo: new Date(x509.validTo) };
}

/** A self-signed P-256 pair made by openssl: <dir>/<name>.pem and <dir>/<name>-key.pem. */
async function selfSigned(dir: string, name: string, { sans = LOCAL_SANS, days = 90 } = {}): Promise<Pair> {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', String(days), '-subj', `/CN=${name}`, '-addext', `subjectAltName=${sans}`]);
  return pairOf(cert, key);
}

/** A pair with dates openssl req cannot make (in the past, in the future), from the project's generator. */
async function withDates(dir: string, name: string, notBefore: Date, notAfter: Date): Promise<Pair> {
  const { cert, key } = await createCertificate(['localhost', '127.0.0.1', '::1'], { notBefore, notAfter });
  await fs.writeFile(path.join(dir, `${name}.pem`), cert);
  await fs.writeFile(path.join(dir, `${name}-key.pem`), key);
  return pairOf(path.join(dir, `${name}.pem`), path.join(dir, `${name}-key.pem`));
}

/** <dir>/<name>.pfx holding `pair`, encrypted with `passphrase`. */
function pkcs12(dir: string, name: string, pair: Pair, passphrase: string): string {
  const file = path.join(dir, `${name}.pfx`);
  openssl(dir, ['pkcs12', '-export', '-in', pair.cert, '-inkey', pair.key, '-out', file, '-passout', `pass:${passphrase}`]);
  return file;
}

const day = (date: Date) => date.toISOString().slice(0, 10);

/** The app behind dev-https: answers "app" to everything. */
async function app(): Promise<number> {
  return (await startUpstream((_req, res) => res.end('app'))).port;
}

async function serve(options: DevHttpsOptions) {
  const logger = captureLogger();
  const handle = await startDevHttps({ port: 0, logger, ...options });
  onCleanup(() => handle.close());
  return { handle, logger, url: handle.urls.https, port: Number(new URL(handle.urls.https).port) };
}

interface Seen {
  status: number;
  body: string;
  /** Of the certificate the server presented on this connection. */
  fingerprint256: string;
  socket: tls.TLSSocket;
}

/** One HTTPS request that trusts only `ca`, on a new connection or through `agent`. */
function get(url: string, ca: string | string[], agent: https.Agent | false = false): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca, agent }, (res) => {
      const socket = res.socket as tls.TLSSocket;
      const fingerprint256 = socket.getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, fingerprint256, socket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The code a TLS client fails with when it trusts only `ca` (null when it succeeds). */
function refusal(url: string, ca: string | string[]): Promise<string | null> {
  return get(url, ca).then(
    () => null,
    (err: NodeJS.ErrnoException) => err.code ?? err.message,
  );
}

/** The errno of connecting to `port` on `host` (null when something accepts). */
function connectError(port: number, host: string): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host, () => {
      socket.destroy();
      resolve(null);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

async function h2session(url: string, ca: string): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(url, { ca });
  session.on('error', () => undefined);
  onCleanup(() => void session.destroy());
  await once(session, 'connect');
  return session;
}

/** Every file and directory under `dir`: mode, mtime and a hash of the content. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    const stat = await fs.stat(file);
    const mode = (stat.mode & 0o777).toString(8);
    out[path.relative(dir, file)] = entry.isDirectory() ? `dir ${mode}` : `${mode} ${stat.mtimeMs} ${createHash('sha256').update(await fs.readFile(file)).digest('hex')}`;
  }
  return out;
}

/** Write to a temp file next to it, then rename over it: how careful tools replace a file. */
async function replaceByRename(file: string, text: string | Buffer): Promise<void> {
  const tmp = `${file}.new`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}

const reloadedLine = (flag: '--cert' | '--pfx', file: string, pair: Pair) =>
  `info: Reloaded ${flag} ${file}: SHA-256 ${pair.fingerprint256}, expires ${day(pair.validTo)}`;
const ignoredLine = (reason: string) => `warn: Ignored the changed certificate files (${reason}); still serving the previous certificate`;

/** Waits for `line` in the logger; fails naming what was logged instead. */
async function logged(logger: { lines: string[] }, line: string): Promise<void> {
  const found = await poll(() => logger.lines.includes(line));
  expect(found ? line : logger.lines, `waiting for ${line}`).toBe(line);
}

describe('what is served', () => {
  test("a PEM pair from mkcert: clients trusting mkcert's root get exactly that certificate on every name; no dev-https CA or ./certs is made", async () => {
    const cwd = await tempDir();
    const caroot = await tempDir('dev-https-test-mkcert-');
    execFileSync('mkcert', ['-cert-file', 'localhost.pem', '-key-file', 'localhost-key.pem', 'localhost', '127.0.0.1', '::1'], {
      cwd,
      env: { ...process.env, CAROOT: caroot },
      stdio: 'ignore',
    });
    const mkcertRoot = await fs.readFile(path.join(caroot, 'rootCA.pem'), 'utf8');
    const pair = await pairOf(path.join(cwd, 'localhost.pem'), path.join(cwd, 'localhost-key.pem'));
    const before = await snapshot(cwd);

    const target = await app();
    const { handle, logger, port } = await serve({ target, cert: 'localhost.pem', key: 'localhost-key.pem', cwd, caRoot: path.join(cwd, 'dev-https-ca') });

    for (const host of ['localhost', '127.0.0.1', '[::1]']) {
      const seen = await get(`https://${host}:${port}/`, mkcertRoot);
      expect({ host, status: seen.status, body: seen.body, fingerprint256: seen.fingerprint256 }).toEqual({ host, status: 200, body: 'app', fingerprint256: pair.fingerprint256 });
    }
    // The run's dev-https CA signed nothing here.
    expect(await refusal(`https://localhost:${port}/`, await testCa())).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(handle.certificate).toEqual({
      cert: new X509Certificate(pair.pem).toString(),
      certPath: pair.cert,
      keyPath: pair.key,
      fingerprint256: pair.fingerprint256,
      validTo: pair.validTo,
      names: ['localhost', '127.0.0.1', '::1'],
      generated: false,
      source: 'user',
      ca: null,
      // A leaf issued by mkcert's CA: clients trust that CA, not the leaf.
      trustPath: null,
    });
    expect(logger.lines).toEqual([]);
    // Neither ./certs nor the CA root was created, and the pair was not touched (mode included).
    expect(await snapshot(cwd)).toEqual(before);
  });

  test('--pfx with its --passphrase: that certificate is served; handle.certificate points at the .pfx', async () => {
    const cwd = await tempDir();
    const pair = await selfSigned(cwd, 'a');
    const pfx = pkcs12(cwd, 'a', pair, PASSPHRASE);
    const { handle, logger, url } = await serve({ target: await app(), pfx: 'a.pfx', passphrase: PASSPHRASE, cwd });
    expect(await get(url, pair.pem)).toMatchObject({ status: 200, body: 'app', fingerprint256: pair.fingerprint256 });
    expect(handle.certificate).toEqual({
      cert: new X509Certificate(pair.pem).toString(),
      certPath: pfx,
      keyPath: pfx,
      fingerprint256: pair.fingerprint256,
      validTo: pair.validTo,
      names: ['localhost', '127.0.0.1', '::1'],
      generated: false,
      source: 'user',
      ca: null,
      trustPath: null,
    });
    expect(JSON.stringify(handle.certificate)).not.toContain(PASSPHRASE);
    expect(logger.lines).toEqual([]);
  });

  test('an encrypted PEM key with --passphrase is served', async () => {
    const cwd = await tempDir();
    const pair = await selfSigned(cwd, 'a');
    openssl(cwd, ['pkey', '-in', 'a-key.pem', '-aes256', '-passout', `pass:${PASSPHRASE}`, '-out', 'a-key.enc.pem']);
    const { handle, logger, url } = await serve({ target: await app(), cert: 'a.pem', key: 'a-key.enc.pem', passphrase: PASSPHRASE, cwd });
    expect(await get(url, pair.pem)).toMatchObject({ status: 200, body: 'app', fingerprint256: pair.fingerprint256 });
    expect(handle.certificate.keyPath).toBe(path.join(cwd, 'a-key.enc.pem'));
    expect(logger.lines).toEqual([]);
  });

  test('a chain after the leaf in --cert is served: clients that trust only the root verify it', async () => {
    const cwd = await tempDir();
    const chain = await companyChain(cwd);
    await fs.writeFile(path.join(cwd, 'fullchain.pem'), chain.leaf.pem + chain.intermediate);
    const { url } = await serve({ target: await app(), cert: 'fullchain.pem', key: chain.leaf.key, cwd });
    expect(await get(url, chain.root)).toMatchObject({ status: 200, body: 'app', fingerprint256: chain.leaf.fingerprint256 });
  });
});

/** root CA → intermediate CA → leaf for localhost (leaf.cert holds the leaf only), as a company CA issues them. */
async function companyChain(dir: string): Promise<{ root: string; intermediate: string; leaf: Pair }> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'root-key.pem', '-out', 'root.pem', '-days', '90', '-subj', '/CN=Example Root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await fs.writeFile(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n');
  await fs.writeFile(path.join(dir, 'leaf.ext'), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${LOCAL_SANS}\n`);
  openssl(dir, ['req', '-new', ...ec, '-keyout', 'intermediate-key.pem', '-out', 'intermediate.csr', '-subj', '/CN=Example Intermediate']);
  openssl(dir, ['x509', '-req', '-in', 'intermediate.csr', '-CA', 'root.pem', '-CAkey', 'root-key.pem', '-set_serial', '2', '-days', '90', '-extfile', 'ca.ext', '-out', 'intermediate.pem']);
  openssl(dir, ['req', '-new', ...ec, '-keyout', 'leaf-key.pem', '-out', 'leaf.csr', '-subj', '/CN=localhost']);
  openssl(dir, ['x509', '-req', '-in', 'leaf.csr', '-CA', 'intermediate.pem', '-CAkey', 'intermediate-key.pem', '-set_serial', '3', '-days', '90', '-extfile', 'leaf.ext', '-out', 'leaf.pem']);
  return {
    root: await fs.readFile(path.join(dir, 'root.pem'), 'utf8'),
    intermediate: await fs.readFile(path.join(dir, 'intermediate.pem'), 'utf8'),
    leaf: await pairOf(path.join(dir, 'leaf.pem'), path.join(dir, 'leaf-key.pem')),
  };
}

describe('bad certificates at start: E_BAD_CERT naming the flag and the file; nothing listens, nothing is written', () => {
  /** In every cwd: pairs a and b, a .pfx of a, an encrypted key of a, a text file and a directory. */
  async function fixtures(cwd: string): Promise<void> {
    const a = await selfSigned(cwd, 'a');
    await selfSigned(cwd, 'b');
    pkcs12(cwd, 'a', a, PASSPHRASE);
    openssl(cwd, ['pkey', '-in', 'a-key.pem', '-aes256', '-passout', `pass:${PASSPHRASE}`, '-out', 'a-key.enc.pem']);
    await fs.writeFile(path.join(cwd, 'notes.txt'), 'not a certificate\n');
    await fs.writeFile(path.join(cwd, 'empty.pem'), '');
    await fs.mkdir(path.join(cwd, 'tls'));
  }

  test.each<[string, DevHttpsOptions, string]>([
    ['a missing --cert file', { cert: 'missing.pem', key: 'a-key.pem' }, 'Invalid --cert "<cwd>/missing.pem": no such file'],
    ['a missing --key file', { cert: 'a.pem', key: 'missing-key.pem' }, 'Invalid --key "<cwd>/missing-key.pem": no such file'],
    ['the key of another pair', { cert: 'a.pem', key: 'b-key.pem' }, 'Invalid --key "<cwd>/b-key.pem": it does not match --cert "<cwd>/a.pem"'],
    ['a --cert that is not PEM', { cert: 'notes.txt', key: 'a-key.pem' }, 'Invalid --cert "<cwd>/notes.txt": not a PEM certificate'],
    ['an empty --cert', { cert: 'empty.pem', key: 'a-key.pem' }, 'Invalid --cert "<cwd>/empty.pem": not a PEM certificate'],
    ['a key given as --cert', { cert: 'a-key.pem', key: 'a-key.pem' }, 'Invalid --cert "<cwd>/a-key.pem": not a PEM certificate'],
    ['a certificate given as --key', { cert: 'a.pem', key: 'a.pem' }, 'Invalid --key "<cwd>/a.pem": not a PEM private key'],
    ['a directory as --cert', { cert: 'tls', key: 'a-key.pem' }, 'Invalid --cert "<cwd>/tls": it is a directory; expected a PEM file'],
    ['an encrypted --key without --passphrase', { cert: 'a.pem', key: 'a-key.enc.pem' }, 'Invalid --key "<cwd>/a-key.enc.pem": the key is encrypted: pass --passphrase (or DEV_HTTPS_PASSPHRASE)'],
    ['an encrypted --key with a wrong --passphrase', { cert: 'a.pem', key: 'a-key.enc.pem', passphrase: 'not-it' }, 'Invalid --key "<cwd>/a-key.enc.pem": wrong --passphrase'],
    ['--pfx without --passphrase', { pfx: 'a.pfx' }, 'Invalid --pfx "<cwd>/a.pfx": it is encrypted: pass --passphrase (or DEV_HTTPS_PASSPHRASE)'],
    ['--pfx with a wrong --passphrase', { pfx: 'a.pfx', passphrase: 'not-it' }, 'Invalid --pfx "<cwd>/a.pfx": wrong --passphrase'],
    ['a PEM file as --pfx', { pfx: 'a.pem' }, 'Invalid --pfx "<cwd>/a.pem": not a PKCS#12 file with a certificate and its key'],
    ['a missing --pfx file', { pfx: 'missing.pfx', passphrase: PASSPHRASE }, 'Invalid --pfx "<cwd>/missing.pfx": no such file'],
  ])('%s', async (_name, options, message) => {
    const cwd = await tempDir();
    await fixtures(cwd);
    const before = await snapshot(cwd);
    const port = await freePort();
    const logger = captureLogger();
    const err = await startError({ port, target: await app(), cwd, caRoot: path.join(cwd, 'dev-https-ca'), logger, ...options });
    expect(err).toBeInstanceOf(DevHttpsError);
    expect({ code: (err as DevHttpsError).code, message: (err as DevHttpsError).message }).toEqual({ code: 'E_BAD_CERT', message: message.replaceAll('<cwd>', cwd) });
    expect(logger.lines).toEqual([]);
    expect([await connectError(port, '127.0.0.1'), await connectError(port, '::1')]).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
    // No ./certs, no CA root, no file changed.
    expect(await snapshot(cwd)).toEqual(before);
  });

  test.each<[string, string[], NodeJS.ProcessEnv, string]>([
    ['a missing --cert', ['--cert', 'missing.pem', '--key', 'a-key.pem'], {}, 'Invalid --cert "<cwd>/missing.pem": no such file'],
    ['the key of another pair', ['--cert', 'a.pem', '--key', 'b-key.pem'], {}, 'Invalid --key "<cwd>/b-key.pem": it does not match --cert "<cwd>/a.pem"'],
    ['a wrong DEV_HTTPS_PASSPHRASE for --pfx', ['--pfx', 'a.pfx'], { DEV_HTTPS_PASSPHRASE: 'not-it-9c1e' }, 'Invalid --pfx "<cwd>/a.pfx": wrong --passphrase'],
  ])('through the bin, %s: one line on stderr, exit 1, no stack trace', async (_name, args, env, message) => {
    const cwd = await tempDir();
    await fixtures(cwd);
    const before = await snapshot(cwd);
    const r = run([...args, '--port', '0', '--target', String(await app())], { cwd, env });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe(`error: ${message.replaceAll('<cwd>', cwd)}\n`);
    expect(r.stdout()).toBe('');
    expect(await snapshot(cwd)).toEqual(before);
  });
});

describe('warnings at start', () => {
  test.each<[string, string, string[], string]>([
    ['a certificate for another name only', 'DNS:other.test', [], '--cert does not cover localhost, 127.0.0.1, ::1: browsers will refuse https:// on those names'],
    ['one --name it lacks', LOCAL_SANS, ['app.test'], '--cert does not cover app.test: browsers will refuse https:// on that name'],
    ['--name and an IP --name it lacks, with the defaults', 'DNS:other.test', ['app.test', '192.0.2.10'], '--cert does not cover localhost, 127.0.0.1, ::1, app.test, 192.0.2.10: browsers will refuse https:// on those names'],
  ])('%s: the names it lacks, in one line', async (_name, sans, names, warning) => {
    const cwd = await tempDir();
    await selfSigned(cwd, 'a', { sans });
    const { logger } = await serve({ target: await app(), cert: 'a.pem', key: 'a-key.pem', names, cwd });
    expect(logger.lines).toEqual([`warn: ${warning}`]);
  });

  test('a wildcard counts: *.dev.test covers --name api.dev.test (and a client agrees); localhost is still missing', async () => {
    const cwd = await tempDir();
    const pair = await selfSigned(cwd, 'a', { sans: 'DNS:*.dev.test' });
    const { logger, port } = await serve({ target: await app(), cert: 'a.pem', key: 'a-key.pem', names: ['api.dev.test'], cwd });
    expect(logger.lines).toEqual(['warn: --cert does not cover localhost, 127.0.0.1, ::1: browsers will refuse https:// on those names']);
    const reply = await request(`https://api.dev.test:${port}/`, { ca: pair.pem, lookupAddress: '127.0.0.1' });
    expect({ status: reply.status, body: reply.body }).toEqual({ status: 200, body: 'app' });
  });

  test('a wildcard of a top-level name (*.test) covers no name, as clients also refuse: --name app.test is listed', async () => {
    const cwd = await tempDir();
    const pair = await selfSigned(cwd, 'a', { sans: 'DNS:*.test' });
    const { logger, port } = await serve({ target: await app(), cert: 'a.pem', key: 'a-key.pem', names: ['app.test'], cwd });
    expect(logger.lines).toEqual(['warn: --cert does not cover localhost, 127.0.0.1, ::1, app.test: browsers will refuse https:// on those names']);
    const refused = await request(`https://app.test:${port}/`, { ca: pair.pem, lookupAddress: '127.0.0.1' }).then(
      () => null,
      (err: NodeJS.ErrnoException) => err.code,
    );
    expect(refused).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  test('a certificate expiring in 10 days: served, with a warning naming the day', async () => {
    const cwd = await tempDir();
    const pair = await selfSigned(cwd, 'a', { days: 10 });
    const { logger, url } = await serve({ target: await app(), cert: 'a.pem', key: 'a-key.pem', cwd });
    expect(logger.lines).toEqual([`warn: --cert expires on ${day(pair.validTo)}: make a new one soon`]);
    expect(await get(url, pair.pem)).toMatchObject({ status: 200, fingerprint256: pair.fingerprint256 });
  });

  test('an expired certificate still starts (and is served), with a warning; clients refuse it', async () => {
    const cwd = await tempDir();
    const now = Date.now();
    const pair = await withDates(cwd, 'a', new Date(now - 60 * DAY_MS), new Date(now - 3 * DAY_MS));
    const { handle, logger, url } = await serve({ target: await app(), cert: 'a.pem', key: 'a-key.pem', cwd });
    expect(logger.lines).toEqual([`warn: --cert expired on ${day(pair.validTo)}: browsers will refuse it; make a new one`]);
    expect(handle.certificate.fingerprint256).toBe(pair.fingerprint256);
    expect(await refusal(url, pair.pem)).toBe('CERT_HAS_EXPIRED');
  });

  test('a certificate not valid yet still starts, with a warning naming when it becomes valid', async () => {
    const cwd = await tempDir();
    const now = Date.now();
    const pair = await withDates(cwd, 'a', new Date(now + 2 * DAY_MS), new Date(now + 90 * DAY_MS));
    const validFrom = new Date(new X509Certificate(pair.pem).validFrom);
    const { logger, url } = await serve({ target: await app(), cert: 'a.pem', key: 'a-key.pem', cwd });
    expect(logger.lines).toEqual([`warn: --cert is not valid before ${validFrom.toISOString()}`]);
    expect(await refusal(url, pair.pem)).toBe('CERT_NOT_YET_VALID');
  });
});

describe('hot reload', () => {
  test.each<[string, 'rename' | 'overwrite', boolean]>([
    ['replaced by rename, HTTP/2 on', 'rename', true],
    ['overwritten in place (cert, then key), HTTP/2 on', 'overwrite', true],
    ['replaced by rename, http2: false', 'rename', false],
  ])('a new pair %s: new connections get it, an open keep-alive connection keeps the old one; a half-written pair is ignored until complete', async (_name, how, useHttp2) => {
    const fixtures = await tempDir();
    const [a, b, c] = [await selfSigned(fixtures, 'a'), await selfSigned(fixtures, 'b'), await selfSigned(fixtures, 'c')];
    const cwd = await tempDir();
    const certFile = path.join(cwd, 'cert.pem');
    const keyFile = path.join(cwd, 'key.pem');
    await fs.writeFile(certFile, a.pem);
    await fs.writeFile(keyFile, a.keyPem);
    const write = how === 'rename' ? replaceByRename : (file: string, text: string) => fs.writeFile(file, text);

    const { handle, logger, url } = await serve({ target: await app(), cert: 'cert.pem', key: 'key.pem', http2: useHttp2, cwd });
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    onCleanup(() => keepAlive.destroy());
    const first = await get(url, a.pem, keepAlive);
    expect({ status: first.status, body: first.body, fingerprint256: first.fingerprint256 }).toEqual({ status: 200, body: 'app', fingerprint256: a.fingerprint256 });

    await write(certFile, b.pem);
    await write(keyFile, b.keyPem);
    // The open connection answers all along (which also keeps it from idling out), with A.
    const reloadedB = reloadedLine('--cert', certFile, b);
    const sawB = await poll(async () => {
      const again = await get(url, a.pem, keepAlive);
      expect(again.socket).toBe(first.socket);
      expect({ status: again.status, body: again.body, fingerprint256: again.fingerprint256 }).toEqual({ status: 200, body: 'app', fingerprint256: a.fingerprint256 });
      return logger.lines.includes(reloadedB);
    });
    expect(sawB ? reloadedB : logger.lines).toBe(reloadedB);
    expect(handle.certificate).toMatchObject({ fingerprint256: b.fingerprint256, validTo: b.validTo, certPath: certFile, keyPath: keyFile, source: 'user' });
    expect(await get(url, b.pem)).toMatchObject({ status: 200, body: 'app', fingerprint256: b.fingerprint256 });
    expect(await refusal(url, a.pem)).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    const old = await get(url, a.pem, keepAlive);
    expect(old.socket).toBe(first.socket);
    expect(old).toMatchObject({ status: 200, body: 'app', fingerprint256: a.fingerprint256 });

    // Half a pair (C's certificate, B's key): ignored, B stays.
    await write(certFile, c.pem);
    await logged(logger, ignoredLine(`Invalid --key "${keyFile}": it does not match --cert "${certFile}"`));
    expect(handle.certificate.fingerprint256).toBe(b.fingerprint256);
    expect(await get(url, [b.pem, c.pem])).toMatchObject({ status: 200, fingerprint256: b.fingerprint256 });

    // The other half: C.
    await write(keyFile, c.keyPem);
    await logged(logger, reloadedLine('--cert', certFile, c));
    expect(handle.certificate.fingerprint256).toBe(c.fingerprint256);
    expect(await get(url, [b.pem, c.pem])).toMatchObject({ status: 200, body: 'app', fingerprint256: c.fingerprint256 });
    expect(logger.lines.filter((l) => l.startsWith('info:'))).toEqual([reloadedB, reloadedLine('--cert', certFile, c)]);
    expect(logger.lines.filter((l) => !l.startsWith('info:') && !l.startsWith('warn: Ignored the changed certificate files (Invalid --key'))).toEqual([]);
  });

  test('after a reload, HTTP/2 clients still negotiate h2 and get the new certificate; an open HTTP/2 session keeps working', async () => {
    const fixtures = await tempDir();
    const [a, b] = [await selfSigned(fixtures, 'a'), await selfSigned(fixtures, 'b')];
    const cwd = await tempDir();
    const certFile = path.join(cwd, 'cert.pem');
    await fs.writeFile(certFile, a.pem);
    await fs.writeFile(path.join(cwd, 'key.pem'), a.keyPem);
    const { logger, url } = await serve({ target: await app(), cert: 'cert.pem', key: 'key.pem', cwd });
    const before = await h2session(url, a.pem);
    expect(before.alpnProtocol).toBe('h2');
    expect(await h2get(before)).toEqual({ status: 200, body: 'app' });

    await replaceByRename(certFile, b.pem);
    await replaceByRename(path.join(cwd, 'key.pem'), b.keyPem);
    await logged(logger, reloadedLine('--cert', certFile, b));

    const after = await h2session(url, b.pem);
    expect(after.alpnProtocol).toBe('h2');
    expect((after.socket as tls.TLSSocket).getPeerCertificate().fingerprint256).toBe(b.fingerprint256);
    expect(await h2get(after)).toEqual({ status: 200, body: 'app' });
    expect((before.socket as tls.TLSSocket).getPeerCertificate().fingerprint256).toBe(a.fingerprint256);
    expect(await h2get(before)).toEqual({ status: 200, body: 'app' });
  });

  test('--pfx: a replaced .pfx is reloaded; one with another passphrase is ignored', async () => {
    const fixtures = await tempDir();
    const [a, b, c] = [await selfSigned(fixtures, 'a'), await selfSigned(fixtures, 'b'), await selfSigned(fixtures, 'c')];
    const cwd = await tempDir();
    const pfx = path.join(cwd, 'dev.pfx');
    await fs.copyFile(pkcs12(fixtures, 'a', a, PASSPHRASE), pfx);
    const { handle, logger, url } = await serve({ target: await app(), pfx: 'dev.pfx', passphrase: PASSPHRASE, cwd });
    expect(await get(url, a.pem)).toMatchObject({ status: 200, fingerprint256: a.fingerprint256 });

    await fs.writeFile(pfx, await fs.readFile(pkcs12(fixtures, 'b', b, PASSPHRASE)));
    await logged(logger, reloadedLine('--pfx', pfx, b));
    expect(handle.certificate).toMatchObject({ fingerprint256: b.fingerprint256, certPath: pfx, keyPath: pfx, trustPath: null });
    expect(await get(url, b.pem)).toMatchObject({ status: 200, body: 'app', fingerprint256: b.fingerprint256 });

    await replaceByRename(pfx, await fs.readFile(pkcs12(fixtures, 'c', c, 'another-passphrase')));
    await logged(logger, ignoredLine(`Invalid --pfx "${pfx}": wrong --passphrase`));
    expect(handle.certificate.fingerprint256).toBe(b.fingerprint256);
    expect(await get(url, [b.pem, c.pem])).toMatchObject({ status: 200, fingerprint256: b.fingerprint256 });
    expect(logger.lines).toEqual([reloadedLine('--pfx', pfx, b), ignoredLine(`Invalid --pfx "${pfx}": wrong --passphrase`)]);
  });

  test('an encrypted key is reloaded with the same --passphrase', async () => {
    const fixtures = await tempDir();
    const [a, b] = [await selfSigned(fixtures, 'a'), await selfSigned(fixtures, 'b')];
    const cwd = await tempDir();
    const certFile = path.join(cwd, 'cert.pem');
    await fs.writeFile(certFile, a.pem);
    openssl(cwd, ['pkey', '-in', a.key, '-aes256', '-passout', `pass:${PASSPHRASE}`, '-out', 'key.pem']);
    const { logger, url } = await serve({ target: await app(), cert: 'cert.pem', key: 'key.pem', passphrase: PASSPHRASE, cwd });
    openssl(cwd, ['pkey', '-in', b.key, '-aes256', '-passout', `pass:${PASSPHRASE}`, '-out', 'key.new.pem']);
    await replaceByRename(certFile, b.pem);
    await fs.rename(path.join(cwd, 'key.new.pem'), path.join(cwd, 'key.pem'));
    await logged(logger, reloadedLine('--cert', certFile, b));
    expect(await get(url, b.pem)).toMatchObject({ status: 200, body: 'app', fingerprint256: b.fingerprint256 });
  });

  // A watch on the files themselves (chokidar) loses the second of two files of one directory that
  // are deleted and written again: from then on, a key written after its certificate goes unnoticed.
  test('a pair deleted and written again is still watched afterwards: a later cert-then-key change is reloaded', async () => {
    const fixtures = await tempDir();
    const [a, b, c] = [await selfSigned(fixtures, 'a'), await selfSigned(fixtures, 'b'), await selfSigned(fixtures, 'c')];
    const cwd = await tempDir();
    const certFile = path.join(cwd, 'cert.pem');
    const keyFile = path.join(cwd, 'key.pem');
    await fs.writeFile(certFile, a.pem);
    await fs.writeFile(keyFile, a.keyPem);
    const { handle, logger, url } = await serve({ target: await app(), cert: 'cert.pem', key: 'key.pem', cwd });

    // `rm *.pem && mkcert ...`: both files go, then come back as a new pair.
    await fs.rm(certFile);
    await fs.rm(keyFile);
    expect(await poll(() => logger.lines.some((l) => l.startsWith('warn: Ignored the changed certificate files (Invalid --') && l.includes('": no such file)')))).toBe(true);
    await fs.writeFile(certFile, b.pem);
    await fs.writeFile(keyFile, b.keyPem);
    await logged(logger, reloadedLine('--cert', certFile, b));

    // Then a tool that writes the certificate first and the key a moment later.
    await fs.writeFile(certFile, c.pem);
    await logged(logger, ignoredLine(`Invalid --key "${keyFile}": it does not match --cert "${certFile}"`));
    await fs.writeFile(keyFile, c.keyPem);
    await logged(logger, reloadedLine('--cert', certFile, c));
    expect(handle.certificate.fingerprint256).toBe(c.fingerprint256);
    expect(await get(url, c.pem)).toMatchObject({ status: 200, fingerprint256: c.fingerprint256 });
  });

  // The same leaf with a chain after it is a change: what is served is the whole file.
  test('appending the missing intermediate to --cert is reloaded: clients that trust only the root then verify', async () => {
    const cwd = await tempDir();
    const chain = await companyChain(cwd);
    const certFile = path.join(cwd, 'cert.pem');
    await fs.writeFile(certFile, chain.leaf.pem);
    const { logger, url } = await serve({ target: await app(), cert: 'cert.pem', key: chain.leaf.key, cwd });
    expect(await refusal(url, chain.root)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');

    await fs.appendFile(certFile, chain.intermediate);
    await logged(logger, reloadedLine('--cert', certFile, chain.leaf));
    expect(await get(url, chain.root)).toMatchObject({ status: 200, body: 'app', fingerprint256: chain.leaf.fingerprint256 });
  });
});

describe('close()', () => {
  test('stops the watcher: a Node process that started with --cert/--key, reloaded once and closed exits by itself', async () => {
    const fixtures = await tempDir();
    const [a, b] = [await selfSigned(fixtures, 'a'), await selfSigned(fixtures, 'b')];
    const cwd = await tempDir();
    await fs.writeFile(path.join(cwd, 'cert.pem'), a.pem);
    await fs.writeFile(path.join(cwd, 'key.pem'), a.keyPem);
    const dist = new URL('../../dist/index.js', import.meta.url).href;
    const script = `
      import fs from 'node:fs/promises';
      import { startDevHttps } from ${JSON.stringify(dist)};
      let reloaded;
      const done = new Promise((resolve) => (reloaded = resolve));
      const logger = { info: (m) => m.startsWith('Reloaded') && reloaded(m), warn: (m) => console.log('warn', m), error: (m) => console.log('error', m) };
      const handle = await startDevHttps({ port: 0, target: 1, cert: 'cert.pem', key: 'key.pem', logger });
      for (const [file, text] of [['cert.pem', ${JSON.stringify(b.pem)}], ['key.pem', ${JSON.stringify(b.keyPem)}]]) {
        await fs.writeFile(file + '.new', text);
        await fs.rename(file + '.new', file);
      }
      console.log(await done);
      await handle.close();
      console.log('closed');`;
    const child = spawn(NODE, ['--input-type=module', '-e', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    onCleanup(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    // Bounded well inside the test timeout: a watcher left open keeps the process alive forever.
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const result = await exited;
    clearTimeout(timer);
    expect({ ...result, output }).toEqual({
      code: 0,
      signal: null,
      output: `Reloaded --cert ${path.join(cwd, 'cert.pem')}: SHA-256 ${b.fingerprint256}, expires ${day(b.validTo)}\nclosed\n`,
    });
  });
});

describe('the bin', () => {
  const BANNER_END = /(?:Add --http-port 8080|Run dev-https --target <port>)[^\n]*\n/;

  test('--cert/--key: the banner names the cert file as yours with its expiry and no CA; SIGTERM exits 0', async () => {
    const cwd = await tempDir();
    const pair = await selfSigned(cwd, 'a');
    const target = await app();
    const r = run(['--cert', 'a.pem', '--key', 'a-key.pem', '--port', '0', '--target', String(target)], { cwd });
    await waitFor(r, BANNER_END);
    const [, url] = /Local: {3}(https:\/\/localhost:\d+\/)/.exec(r.stdout())!;
    const certPath = path.join(cwd, 'a.pem');
    // All of it but the version and start-up time: no CA line, no hint to trust the dev-https CA.
    expect(r.stdout().replace(/^ {2}dev-https \S+ {2}ready in \d+ ms\n/, '')).toBe(
      '\n' +
        `  ➜  Local:   ${url}  →  http://localhost:${target}\n` +
        `  ➜  Inspect: ${url!.replace('localhost', 'dev-https.localhost')}\n` +
        `  ➜  Cert:    ${certPath} (yours, expires ${day(pair.validTo)})\n` +
        `              SHA-256 ${pair.fingerprint256}\n` +
        `  Clients: curl --cacert ${certPath} · NODE_EXTRA_CA_CERTS=${certPath} · dev-https cert shows more\n` +
        '  Add --http-port 8080 to test plain HTTP (and your redirect to HTTPS) too.\n',
    );
    expect(await get(url!, pair.pem)).toMatchObject({ status: 200, body: 'app', fingerprint256: pair.fingerprint256 });
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stderr()).toBe('');
    // The user's pair is all it needs: no ./certs.
    expect((await fs.readdir(cwd)).sort()).toEqual(['a-key.pem', 'a.pem']);
  });

  test('the app command after -- gets NODE_EXTRA_CA_CERTS = the --cert file, and its Node client trusts dev-https through it', async () => {
    const cwd = await tempDir();
    await selfSigned(cwd, 'a');
    const port = await freePort();
    const httpsPort = await freePort();
    const script = `
      require('http').createServer((req, res) => res.end('through dev-https')).listen(${port}, '127.0.0.1');
      console.log('[ca ' + process.env.NODE_EXTRA_CA_CERTS + ']');
      const attempt = () => require('https').get('https://localhost:${httpsPort}/', (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => console.log('[ok ' + res.statusCode + ' ' + body + ']'));
      }).on('error', (err) => (err.code === 'ECONNREFUSED' ? setTimeout(attempt, 50) : console.log('[fail ' + (err.code || err.message) + ']')));
      attempt();`;
    const r = run(['--cert', 'a.pem', '--key', 'a-key.pem', '--target', String(port), '--port', String(httpsPort), '--', NODE, '-e', script], { cwd });
    const [caLine] = await waitFor(r, /\[app\] \[ca .*\]\n/);
    expect(caLine).toBe(`[app] [ca ${path.join(cwd, 'a.pem')}]\n`);
    const [line] = await waitFor(r, /\[app\] \[(ok|fail) .*\]\n/);
    expect(line).toBe('[app] [ok 200 through dev-https]\n');
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });

  test.each([
    ['none in the environment: the app gets none', false],
    ["the user's own in the environment: the app gets it unchanged", true],
  ])("an mkcert pair (a CA-issued leaf, no trust anchor for Node): NODE_EXTRA_CA_CERTS is not set for the app command; the banner says to trust the issuing CA; %s", async (_label, own) => {
    const cwd = await tempDir();
    const caroot = await tempDir('dev-https-test-mkcert-');
    execFileSync('mkcert', ['-cert-file', 'localhost.pem', '-key-file', 'localhost-key.pem', 'localhost', '127.0.0.1', '::1'], {
      cwd,
      env: { ...process.env, CAROOT: caroot },
      stdio: 'ignore',
    });
    const mkcertRootPath = path.join(caroot, 'rootCA.pem');
    const mkcertRoot = await fs.readFile(mkcertRootPath, 'utf8');
    const pair = await pairOf(path.join(cwd, 'localhost.pem'), path.join(cwd, 'localhost-key.pem'));
    const port = await freePort();
    const httpsPort = await freePort();
    // The app reports its NODE_EXTRA_CA_CERTS, then reaches dev-https with Node's own trust.
    const script = `
      require('http').createServer((req, res) => res.end('through dev-https')).listen(${port}, '127.0.0.1');
      console.log('[ca ' + (process.env.NODE_EXTRA_CA_CERTS ?? 'none') + ']');
      const attempt = () => require('https').get('https://localhost:${httpsPort}/', (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => console.log('[ok ' + res.statusCode + ' ' + body + ']'));
      }).on('error', (err) => (err.code === 'ECONNREFUSED' ? setTimeout(attempt, 50) : console.log('[fail ' + (err.code || err.message) + ']')));
      attempt();`;
    // The test's own environment never lends one (run() starts from process.env).
    const env = { NODE_EXTRA_CA_CERTS: own ? mkcertRootPath : undefined };
    const r = run(['--cert', 'localhost.pem', '--key', 'localhost-key.pem', '--target', String(port), '--port', String(httpsPort), '--', NODE, '-e', script], { cwd, env });
    const [caLine] = await waitFor(r, /\[app\] \[ca .*\]\n/);
    expect(caLine).toBe(`[app] [ca ${own ? mkcertRootPath : 'none'}]\n`);
    // Without the mkcert root the app's Node client cannot verify the leaf (Node 20 takes no leaf as an anchor either).
    const [result] = await waitFor(r, /\[app\] \[(ok|fail) .*\]\n/);
    expect(result).toBe(own ? '[app] [ok 200 through dev-https]\n' : '[app] [fail UNABLE_TO_VERIFY_LEAF_SIGNATURE]\n');

    const [banner] = await waitFor(r, / {2}➜ {2}Local:[^]*?(?:Add --http-port 8080|Run dev-https --target <port>)[^\n]*\n/);
    const url = `https://localhost:${httpsPort}/`;
    expect(banner).toBe(
      `  ➜  Local:   ${url}  →  http://localhost:${port}\n` +
        `  ➜  Inspect: https://dev-https.localhost:${httpsPort}/\n` +
        `  ➜  Cert:    ${pair.cert} (yours, expires ${day(pair.validTo)})\n` +
        `              SHA-256 ${pair.fingerprint256}\n` +
        '  Clients: trust the CA that issued your certificate · dev-https cert shows more\n' +
        '  Add --http-port 8080 to test plain HTTP (and your redirect to HTTPS) too.\n',
    );
    expect(await get(url, mkcertRoot)).toMatchObject({ status: 200, body: 'through dev-https', fingerprint256: pair.fingerprint256 });
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stderr()).toBe('');
  });

  test.each<[string, (cwd: string, target: number) => Promise<{ args: string[]; env: NodeJS.ProcessEnv }>]>([
    ['DEV_HTTPS_PASSPHRASE', async (_cwd, target) => ({ args: ['--pfx', 'a.pfx', '--target', String(target)], env: { DEV_HTTPS_PASSPHRASE: PASSPHRASE } })],
    ['--passphrase', async (_cwd, target) => ({ args: ['--pfx', 'a.pfx', '--passphrase', PASSPHRASE, '--target', String(target)], env: {} })],
    [
      'pfx and passphrase in dev-https.config.json',
      async (cwd, target) => {
        await fs.writeFile(path.join(cwd, 'dev-https.config.json'), JSON.stringify({ pfx: 'a.pfx', passphrase: PASSPHRASE, target }));
        return { args: [], env: {} };
      },
    ],
  ])('--pfx with its passphrase from %s: served; the passphrase is never printed', async (_name, setup) => {
    const cwd = await tempDir();
    const pair = await selfSigned(cwd, 'a');
    pkcs12(cwd, 'a', pair, PASSPHRASE);
    const { args, env } = await setup(cwd, await app());
    const r = run([...args, '--port', '0'], { cwd, env });
    await waitFor(r, BANNER_END);
    const pfx = path.join(cwd, 'a.pfx');
    expect(r.stdout()).toContain(`  ➜  Cert:    ${pfx} (yours, expires ${day(pair.validTo)})\n`);
    const [, url] = /Local: {3}(https:\/\/localhost:\d+\/)/.exec(r.stdout())!;
    expect(await get(url!, pair.pem)).toMatchObject({ status: 200, body: 'app', fingerprint256: pair.fingerprint256 });
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stderr()).toBe('');
    expect(r.stdout()).not.toContain(PASSPHRASE);
  });
});
