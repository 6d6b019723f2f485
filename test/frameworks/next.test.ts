// Next.js (app router; the next, react and react-dom devDependencies) under `next dev` behind
// dev-https, in a real Chromium: a page streamed with Suspense, a route handler's redirect, and
// Fast Refresh over the HMR WebSocket. One Next server for the file: its first compiles are slow.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { deferred, freePort, request } from '../helpers.js';
import {
  type App,
  FIXTURES,
  type Pinned,
  REPO,
  chromiumAvailable,
  copyFixture,
  launchPinned,
  nextAvailable,
  openStream,
  spawnApp,
} from './support.js';

const COMPILE_MS = 120_000;

describe.skipIf(!chromiumAvailable || !nextAvailable)('Next.js behind dev-https in Chromium', () => {
  let pinned: Pinned;
  let app: App;
  let appDir: { dir: string; remove: () => Promise<void> };
  let context: BrowserContext;
  let proxy: Awaited<ReturnType<Pinned['startDevHttps']>>;

  beforeAll(async () => {
    // A copy, since next dev writes .next/ into the app; node_modules is the repository's.
    appDir = await copyFixture('next-app');
    await fs.symlink(path.join(REPO, 'node_modules'), path.join(appDir.dir, 'node_modules'));
    const port = await freePort();
    app = await spawnApp(
      process.execPath,
      [path.join(REPO, 'node_modules/next/dist/bin/next'), 'dev', '--port', String(port), '--hostname', '127.0.0.1'],
      {
        cwd: appDir.dir,
        port,
        env: {
          NEXT_TELEMETRY_DISABLED: '1',
          NODE_OPTIONS: `--require "${path.join(FIXTURES, 'next-offline.cjs')}"`,
          NODE_ENV: 'development',
          PORT: String(port),
        },
        waitMs: COMPILE_MS,
      },
    );
    // Compiled once up front, straight from Next, so the tests do not each wait for it.
    const direct = `http://127.0.0.1:${port}`;
    expect((await request(`${direct}/release?name=warm`, { method: 'POST' })).body).toBe('released');
    for (const p of ['/', '/stream?name=warm', '/go']) await request(direct + p);
    pinned = await launchPinned();
    proxy = await pinned.startDevHttps({ target: port });
  }, COMPILE_MS * 2);

  afterAll(async () => {
    await pinned?.close();
    await app?.stop();
    await appDir?.remove();
  });

  beforeEach(async () => {
    await context?.close();
    context = await pinned.browser.newContext();
  });

  test(
    'a page streamed with Suspense: the shell with the fallback shows first, the slow part replaces it later',
    async () => {
      const page = await context.newPage();
      const response = await page.goto(`${proxy.origin}/stream?name=browser`, { waitUntil: 'commit' });
      expect(response!.status()).toBe(200);
      // The first chunk is on screen while Next still waits to render the rest.
      await page.waitForSelector('#fallback');
      expect(await page.textContent('#fast')).toBe('fast part');
      expect(await page.locator('#slow').count()).toBe(0);
      expect((await request(`${proxy.origin}/release?name=browser`, { ca: proxy.ca, method: 'POST' })).body).toBe('released');
      await page.waitForSelector('#slow');
      expect(await page.textContent('#slow')).toBe('slow part');
      expect(await page.locator('#fallback').count()).toBe(0);
      expect(page.url()).toBe(`${proxy.origin}/stream?name=browser`);
    },
    COMPILE_MS,
  );

  test.each(['http/1.1', 'h2'] as const)(
    'the same page read over %s: the shell arrives, the slow part only after it is released',
    async (protocol) => {
      const name = protocol === 'h2' ? 'h2' : 'h1';
      const stream = openStream(`${proxy.origin}/stream?name=${name}`, { ca: proxy.ca, protocol });
      try {
        const head = await stream.head;
        expect(head.status).toBe(200);
        expect(head.headers['content-type']).toBe('text/html; charset=utf-8');
        const shell = await stream.until('<p id="fallback">loading</p>');
        expect(shell).toContain('<p id="fast">fast part</p>');
        expect(shell).not.toContain('slow part');
        expect((await request(`${proxy.origin}/release?name=${name}`, { ca: proxy.ca, method: 'POST' })).body).toBe('released');
        expect(await stream.done).toContain('<p id="slow">slow part</p>');
      } finally {
        stream.close();
      }
    },
    COMPILE_MS,
  );

  test(
    "a route handler's NextResponse.redirect(new URL('/next', request.url)) arrives as a Location on dev-https' origin",
    async () => {
      const reply = await request(`${proxy.origin}/go`, { ca: proxy.ca });
      expect(reply.status).toBe(307);
      // Next builds https://localhost:<its own port>/next: dev-https must point it at itself.
      expect(reply.headers.location).toBe(`${proxy.origin}/next`);
      // Chromium follows it to Next's 404 page on dev-https (not ERR_SSL_PROTOCOL_ERROR on Next's port).
      const page = await context.newPage();
      const response = await page.goto(`${proxy.origin}/go`);
      expect(page.url()).toBe(`${proxy.origin}/next`);
      expect(response!.status()).toBe(404);
    },
    COMPILE_MS,
  );

  test(
    'Fast Refresh: an edited client component updates over the HMR WebSocket, keeping its state, without a reload',
    async () => {
      const page = await context.newPage();
      const sockets: string[] = [];
      // Next sends `sync` once the client has subscribed to its chunks' updates: edits before it are lost.
      const synced = deferred();
      page.on('websocket', (ws) => {
        sockets.push(ws.url());
        ws.on('framereceived', (f) => String(f.payload).includes('"type":"sync"') && synced.resolve());
      });
      const loads: string[] = [];
      page.on('load', () => loads.push(page.url()));
      const response = await page.goto(proxy.origin + '/');
      expect(response!.status()).toBe(200);
      expect(await page.title()).toBe('next app');
      await synced.promise;
      expect(sockets.map((u) => new URL(u)).map((u) => `${u.origin}${u.pathname}`)).toEqual([
        `${proxy.origin.replace(/^https:/, 'wss:')}/_next/hmr`,
      ]);
      await page.click('button');
      await page.waitForFunction(() => document.querySelector('button')!.textContent === 'clicks: 1');
      await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'kept'));

      const file = path.join(appDir.dir, 'app/label.jsx');
      await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('version 1', 'version 2'));
      await page.waitForFunction(() => document.getElementById('label')!.textContent === 'version 2', undefined, {
        timeout: COMPILE_MS / 2,
      });
      // Fast Refresh, not a reload: the component's state and the window survive.
      expect(await page.textContent('button')).toBe('clicks: 1');
      expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('kept');
      expect(loads).toEqual([proxy.origin + '/']);
      expect(sockets).toHaveLength(1);
    },
    COMPILE_MS,
  );
});
