// A real headless Chromium trusts dev-https only through `dev-https trust`: started with a
// temporary HOME, it refuses the page before, loads it without certificate errors after, and
// refuses it again after `untrust`. Nothing is pinned or ignored here.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterEach, expect, test } from 'vitest';
import { ensureCA, SIGNER_CERT_FILE, SIGNER_KEY_FILE } from '../src/certs/ca.js';
import { createCertificate } from '../src/certs/cert.js';
import { startDevHttps } from '../src/server/server.js';
import { CHROMIUM_ARGS, captureLogger, onCleanup, run, runCleanups, serveTls, startUpstream, tempDir } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
// CI installs Chromium and certutil: there, missing ones are a failure, not a skip.
const runBrowser = (existsSync(CHROMIUM) && existsSync('/usr/bin/certutil')) || process.env.CI === 'true';

afterEach(runCleanups);

/** Loads `url` in a new Chromium that reads its NSS database from `home`; the error text or 'loaded <status> <issuer>'. `args`: more flags. */
async function load(url: string, home: string, args: string[] = []): Promise<string> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    env: { ...process.env, HOME: home },
    args: [...CHROMIUM_ARGS, ...args],
  });
  try {
    const page = await browser.newPage();
    try {
      const response = await page.goto(url);
      const details = await response!.securityDetails();
      return `loaded ${response!.status()} ${details?.issuer} ${await page.textContent('body')}`;
    } catch (err) {
      return /net::ERR_[A-Z_]+/.exec(String(err))?.[0] ?? String(err);
    }
  } finally {
    await browser.close();
  }
}

test.skipIf(!runBrowser)(
  'Chromium refuses the page before dev-https trust, loads it after, and refuses it again after untrust',
  async () => {
    const home = await tempDir();
    const caRoot = await tempDir();
    const app = await startUpstream((_req, res) => res.end('trusted app'));
    const handle = await startDevHttps({ target: app.port, port: 0, certDir: await tempDir(), caRoot, logger: captureLogger() });
    onCleanup(() => handle.close());
    // Leaves are signed by the CA's intermediate ("... signer"); the stores hold the root.
    const root = handle.certificate.ca!.commonName;
    const issuer = `${root} signer`;

    expect(await load(handle.urls.https, home)).toBe('net::ERR_CERT_AUTHORITY_INVALID');

    // The real bin, as a user runs it; Chromium has not created ~/.pki/nssdb yet, so trust creates it.
    const env = { HOME: home, DEV_HTTPS_CAROOT: caRoot };
    const trust = run(['trust', '--store', 'nss'], { cwd: home, env });
    expect(await trust.exited).toEqual({ code: 0, signal: null });
    expect(trust.stdout()).toContain(`✔ NSS database ~/.pki/nssdb (Chrome, Chromium): trusted\n`);
    expect(execFileSync('certutil', ['-L', '-d', `sql:${path.join(home, '.pki', 'nssdb')}`], { encoding: 'utf8' })).toMatch(
      new RegExp(`^${root} [0-9a-f]{16} +C,,\\s*$`, 'm'),
    );

    expect(await load(handle.urls.https, home)).toBe(`loaded 200 ${issuer} trusted app`);
    // Every project's leaf is signed by the same CA: a second dev-https is trusted too.
    const other = await startDevHttps({
      target: app.port,
      port: 0,
      certDir: await tempDir(),
      caRoot,
      names: ['app.localhost'],
      logger: captureLogger(),
    });
    onCleanup(() => other.close());
    expect(await load(other.urls.https.replace('localhost', 'app.localhost'), home)).toBe(`loaded 200 ${issuer} trusted app`);
    // A *.localhost name no certificate names yet: Chromium refuses a *.localhost wildcard, so
    // dev-https issues one for that name on the TLS handshake.
    expect(await load(handle.urls.https.replace('localhost', 'shop.localhost'), home)).toBe(`loaded 200 ${issuer} trusted app`);

    const untrust = run(['untrust', '--store', 'nss'], { cwd: home, env });
    expect(await untrust.exited).toEqual({ code: 0, signal: null });
    expect(untrust.stdout()).toContain(`✔ NSS database ~/.pki/nssdb (Chrome, Chromium): removed\n`);
    expect(await load(handle.urls.https, home)).toBe('net::ERR_CERT_AUTHORITY_INVALID');
    await fs.rm(path.join(home, '.pki'), { recursive: true, force: true });
  },
);

test.skipIf(!runBrowser)(
  'Chromium, trusting the CA, refuses a leaf for a public name signed with the key on disk, and loads a local name',
  async () => {
    const home = await tempDir();
    const caRoot = await tempDir();
    const ca = await ensureCA(caRoot, captureLogger());
    const db = path.join(home, '.pki', 'nssdb');
    await fs.mkdir(db, { recursive: true });
    execFileSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password']);
    execFileSync('certutil', ['-A', '-d', `sql:${db}`, '-t', 'C,,', '-n', 'dev-https', '-i', ca.certPath]);
    const app = await startUpstream((_req, res) => res.end('trusted app'));
    const handle = await startDevHttps({
      target: app.port,
      port: 0,
      certDir: await tempDir(),
      caRoot,
      names: ['app.test'],
      logger: captureLogger(),
    });
    onCleanup(() => handle.close());
    // What a program that read the key file can do: sign a leaf for any name with it.
    const signer = {
      cert: await fs.readFile(path.join(caRoot, SIGNER_CERT_FILE), 'utf8'),
      key: await fs.readFile(path.join(caRoot, SIGNER_KEY_FILE), 'utf8'),
    };
    const stolen = await createCertificate(['www.example.com', 'accounts.google.com'], { ca: { ...signer, chain: signer.cert } });
    const port = await serveTls(stolen, '127.0.0.1');
    const map = ['--host-resolver-rules=MAP app.test 127.0.0.1, MAP www.example.com 127.0.0.1, MAP accounts.google.com 127.0.0.1'];

    const local = new URL(handle.urls.https);
    expect(await load(`https://app.test:${local.port}/`, home, map)).toBe(`loaded 200 ${ca.commonName} signer trusted app`);
    expect(await load(`https://www.example.com:${port}/`, home, map)).toBe('net::ERR_CERT_INVALID');
    expect(await load(`https://accounts.google.com:${port}/`, home, map)).toBe('net::ERR_CERT_INVALID');
  },
);
