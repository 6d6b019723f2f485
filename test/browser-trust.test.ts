// A real headless Chromium trusts dev-https only through `dev-https trust`: started with a
// temporary HOME, it refuses the page before, loads it without certificate errors after, and
// refuses it again after `untrust`. Nothing is pinned or ignored here.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterEach, expect, test } from 'vitest';
import { startDevHttps } from '../src/server.js';
import { captureLogger, onCleanup, run, runCleanups, startUpstream, tempDir } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
// CI installs Chromium and certutil: there, missing ones are a failure, not a skip.
const runBrowser = (existsSync(CHROMIUM) && existsSync('/usr/bin/certutil')) || process.env.CI === 'true';

afterEach(runCleanups);

/** Loads `url` in a new Chromium that reads its NSS database from `home`; the error text or 'loaded <status> <issuer>'. */
async function load(url: string, home: string): Promise<string> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    env: { ...process.env, HOME: home },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
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

test.skipIf(!runBrowser)('Chromium refuses the page before dev-https trust, loads it after, and refuses it again after untrust', async () => {
  const home = await tempDir();
  const caRoot = await tempDir();
  const app = await startUpstream((_req, res) => res.end('trusted app'));
  const handle = await startDevHttps({ target: app.port, port: 0, certDir: await tempDir(), caRoot, logger: captureLogger() });
  onCleanup(() => handle.close());
  const issuer = handle.certificate.ca!.commonName;

  expect(await load(handle.urls.https, home)).toBe('net::ERR_CERT_AUTHORITY_INVALID');

  // The real bin, as a user runs it; Chromium has not created ~/.pki/nssdb yet, so trust creates it.
  const env = { HOME: home, DEV_HTTPS_CAROOT: caRoot };
  const trust = run(['trust', '--store', 'nss'], { cwd: home, env });
  expect(await trust.exited).toEqual({ code: 0, signal: null });
  expect(trust.stdout()).toContain(`✔ NSS database ~/.pki/nssdb (Chrome, Chromium): trusted\n`);
  expect(execFileSync('certutil', ['-L', '-d', `sql:${path.join(home, '.pki', 'nssdb')}`], { encoding: 'utf8' })).toMatch(new RegExp(`^${issuer} [0-9a-f]{16} +C,,\\s*$`, 'm'));

  expect(await load(handle.urls.https, home)).toBe(`loaded 200 ${issuer} trusted app`);
  // Every project's leaf is signed by the same CA: a second dev-https is trusted too.
  const other = await startDevHttps({ target: app.port, port: 0, certDir: await tempDir(), caRoot, names: ['app.localhost'], logger: captureLogger() });
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
});
