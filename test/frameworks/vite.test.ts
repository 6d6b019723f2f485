// Vite's dev server (the devDependency, run as `vite --port N --strictPort` is by the README's
// recipe) behind dev-https, in a real Chromium: the page over HTTPS, the HMR client's WebSocket
// over wss:// through dev-https, and an edit applied in place, without a reload.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deferred, freePort } from '../helpers.js';
import { type App, type Pinned, REPO, chromiumAvailable, copyFixture, launchPinned, spawnApp } from './support.js';

describe.skipIf(!chromiumAvailable)('Vite behind dev-https in Chromium', { timeout: 60_000 }, () => {
  let pinned: Pinned;
  let app: App;
  let appDir: { dir: string; remove: () => Promise<void> };
  let context: BrowserContext;

  beforeAll(async () => {
    appDir = await copyFixture('vite-app');
    const port = await freePort();
    app = await spawnApp(
      process.execPath,
      [path.join(REPO, 'node_modules/vite/bin/vite.js'), '--port', String(port), '--strictPort', '--host', '127.0.0.1'],
      { cwd: appDir.dir, port },
    );
    pinned = await launchPinned();
    context = await pinned.browser.newContext();
  });

  afterAll(async () => {
    await context?.close();
    await pinned?.close();
    await app?.stop();
    await appDir?.remove();
  });

  test('an edit of an accepted module updates the page over the HMR WebSocket, without a reload', async () => {
    const { origin, handle } = await pinned.startDevHttps({ target: app.port });
    const page = await context.newPage();
    const sockets: string[] = [];
    // Vite sends updates only to clients it has greeted: the edit waits for that greeting.
    const connected = deferred();
    page.on('websocket', (ws) => {
      sockets.push(ws.url());
      ws.on('framereceived', (f) => String(f.payload).includes('"type":"connected"') && connected.resolve());
    });
    const loads: string[] = [];
    page.on('load', () => loads.push(page.url()));

    const response = await page.goto(handle.urls.https);
    expect(response!.status()).toBe(200);
    expect(await page.title()).toBe('vite app');
    await page.waitForFunction(() => document.getElementById('label')!.textContent === 'version 1');
    // The HMR client connects to the page's own origin, i.e. through dev-https.
    await connected.promise;
    expect(sockets.map((u) => new URL(u).origin)).toEqual([origin.replace(/^https:/, 'wss:')]);
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'kept'));

    await fs.writeFile(path.join(appDir.dir, 'label.js'), "export const label = 'version 2';\n");
    await page.waitForFunction(() => document.getElementById('label')!.textContent === 'version 2', undefined, { timeout: 20_000 });
    // Same document: the marker survives and no second load happened.
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('kept');
    expect(loads).toEqual([handle.urls.https]);
    expect(sockets).toHaveLength(1);
  });
});
