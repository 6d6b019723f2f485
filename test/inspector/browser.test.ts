// The inspector in headless Chromium that trusts the local CA (an NSS database in a temp HOME, as
// `dev-https trust` makes one), so https://dev-https.localhost:<port>/ is verified like any page.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { CHROMIUM_ARGS, request, runCleanups, start, startUpstream } from '../helpers.js';
import { inspectorRequest } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');
// CI installs Chromium and certutil: there, missing ones are a failure, not a skip.
const runBrowser = (existsSync(CHROMIUM) && existsSync('/usr/bin/certutil')) || process.env.CI === 'true';

const SECRETS = { token: 'T0KEN-9f2c', cookie: 'C00KIE-77aa', session: 'S3SSION-41bd', query: 'QU3RY-0c1e' };

describe.skipIf(!runBrowser)('the inspector page in Chromium', { timeout: 60_000 }, () => {
  let browser: Browser;
  let home: string;
  beforeAll(async () => {
    // Not a per-test temp dir: the browser reads the database for the whole suite.
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'dev-https-inspector-home-'));
    const db = path.join(home, '.pki', 'nssdb');
    await fs.mkdir(db, { recursive: true });
    execFileSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password']);
    execFileSync('certutil', [
      '-A',
      '-d',
      `sql:${db}`,
      '-t',
      'C,,',
      '-n',
      'dev-https',
      '-i',
      path.join(process.env.DEV_HTTPS_CAROOT!, 'rootCA.pem'),
    ]);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, env: { ...process.env, HOME: home }, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await fs.rm(home, { recursive: true, force: true });
  });
  afterEach(runCleanups);

  test('shows a request made while it is open, its forwarded headers and the dropped spoofed one, the cookie flagged, no secret', async () => {
    const app = await startUpstream((req, res) => {
      if (req.url?.startsWith('/login')) {
        res.setHeader('set-cookie', `sessionid=${SECRETS.session}; Path=/; HttpOnly`);
        res.writeHead(302, { location: `http://127.0.0.1:${app.port}/account` });
      }
      res.end('app');
    });
    const api = await startUpstream((_req, res) => res.writeHead(201, { 'content-type': 'application/json' }).end('{"id":7}'));
    const s = await start({ target: app.port, routes: { '/api': api.port } });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const violations: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') violations.push(m.text());
    });
    const url = `https://dev-https.localhost:${s.port}/`;
    const response = await page.goto(url);
    expect(response!.status()).toBe(200);
    // Verified by the browser: issued for the name on first use, by the CA's signer.
    expect((await response!.securityDetails())?.issuer).toBe(`${s.handle.certificate.ca!.commonName} signer`);
    await page.getByTestId('live-state').filter({ hasText: /live/i }).waitFor();
    // Nothing reloads the page: a value set now is still there when the request shows.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

    await request(`https://localhost:${s.port}/`, { ca: s.ca });
    await request(`https://localhost:${s.port}/api/items`, { ca: s.ca, method: 'POST', body: '{"name":"x"}' });
    await request(`https://localhost:${s.port}/login?next=${SECRETS.query}`, {
      ca: s.ca,
      headers: { 'x-forwarded-proto': 'http', authorization: `Bearer ${SECRETS.token}`, cookie: `sessionid=${SECRETS.cookie}` },
    });
    await request(`https://localhost:${s.port}/account`, { ca: s.ca });
    const row = page.getByTestId('request-row').filter({ hasText: '/login' });
    await row.waitFor();
    expect(await page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);
    await expect.poll(() => row.textContent()).toContain('/login?next=…');

    await row.click();
    const detail = page.getByTestId('detail');
    await detail.waitFor();
    const header = (panel: string, name: string) => page.getByTestId(panel).locator(`[data-testid="header-row"][data-name="${name}"]`);
    expect(await header('panel-client-request', 'x-forwarded-proto').getAttribute('data-mark')).toBe('dropped');
    expect(await header('panel-app-request', 'x-forwarded-proto').getAttribute('data-mark')).toBe('set');
    expect(await header('panel-app-request', 'x-forwarded-proto').textContent()).toContain('https');
    for (const name of ['x-forwarded-host', 'x-forwarded-port', 'x-forwarded-for', 'forwarded'])
      expect(await header('panel-app-request', name).getAttribute('data-mark')).toBe('set');
    expect(await detail.textContent()).toContain('a client must not choose what the app believes');
    const note = page
      .getByTestId('cookie-note')
      .filter({ hasText: /Secure/ })
      .first();
    expect(await note.getAttribute('data-level')).toBe('warn');

    const html = await page.content();
    for (const secret of Object.values(SECRETS)) expect(html).not.toContain(secret);
    await fs.mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'inspector.png'), fullPage: false });

    // Revealing shows the value in the page, only there.
    await header('panel-client-request', 'authorization').getByTestId('reveal').click();
    await expect.poll(() => header('panel-client-request', 'authorization').textContent()).toContain(`Bearer ${SECRETS.token}`);
    expect(s.logger.text()).not.toContain(SECRETS.token);
    expect(violations).toEqual([]);
  });

  test('a page on another origin cannot read it: the server refuses and the browser gets no answer', async () => {
    const app = await startUpstream((_req, res) => res.end('<!doctype html><title>app</title>'));
    const s = await start({ target: app.port });
    const page = await browser.newPage();
    await page.goto(`https://localhost:${s.port}/`);
    // The network as Chromium saw it: a refused CORS answer is hidden from the page, not from CDP.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    // Events of one request may come in any order: kept by id, matched at the end.
    const ids = new Set<string>();
    const sentById = new Map<string, Record<string, string>>();
    const statusById = new Map<string, number>();
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.request.url.startsWith('https://dev-https.localhost:')) ids.add(e.requestId);
    });
    cdp.on('Network.requestWillBeSentExtraInfo', (e) => sentById.set(e.requestId, e.headers as Record<string, string>));
    cdp.on('Network.responseReceivedExtraInfo', (e) => statusById.set(e.requestId, e.statusCode));
    const answered = () => [...ids].map((id) => statusById.get(id));
    const result = await page.evaluate(async (port) => {
      try {
        const r = await fetch(`https://dev-https.localhost:${port}/events`);
        return `read ${r.status}`;
      } catch (err) {
        return `blocked ${(err as Error).name}`;
      }
    }, s.port);
    expect(result).toBe('blocked TypeError');
    await expect.poll(answered).toEqual([403]);
    const sent = [...ids].map((id) => sentById.get(id));
    expect(sent[0]).toMatchObject({ origin: `https://localhost:${s.port}`, 'sec-fetch-site': 'cross-site' });
    const replay = await inspectorRequest(s, '/events', {
      headers: Object.fromEntries(Object.entries(sent[0]!).filter(([k]) => !k.startsWith(':'))),
    });
    expect([replay.status, replay.body]).toEqual([403, '403 Forbidden: the dev-https inspector answers its own page only\n']);
  });
});
