// End to end in a real headless Chromium: pages, Secure cookies, wss:// and the redirect-loop page
// through dev-https, over TLS the browser verifies (the certificate is pinned, never ignored).
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { readCA } from '../src/certs/ca.js';
import { CERT_FILE, KEY_FILE, createCertificate } from '../src/certs/cert.js';
import { DEFAULT_CERT_NAMES } from '../src/options.js';
import { type DevHttpsHandle, startDevHttps } from '../src/server/server.js';
import { CHROMIUM_ARGS, type CapturingLogger, captureLogger, onCleanup, runCleanups, startUpstream, tempDir } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.resolve(import.meta.dirname, '../test-artifacts');
// CI installs Chromium: there, a missing browser is a failure, not a skip.
const runBrowser = existsSync(CHROMIUM) || process.env.CI === 'true';

/** The base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as --ignore-certificate-errors-spki-list wants it. */
function spkiHash(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

/**
 * The browser starts once, so the certificates it trusts are made first: one pair per test,
 * each written into that test's own cert dir, where dev-https finds and reuses it.
 */
const POOL_SIZE = 6;
const pool: Array<{ cert: string; key: string }> = [];

async function pinnedCertDir(): Promise<{ certDir: string; cert: string }> {
  const pair = pool.pop();
  if (!pair) throw new Error(`the certificate pool is used up: raise POOL_SIZE (${POOL_SIZE}) to the number of tests that need one`);
  const certDir = await tempDir();
  await fs.chmod(certDir, 0o700);
  await fs.writeFile(path.join(certDir, KEY_FILE), pair.key, { mode: 0o600 });
  await fs.writeFile(path.join(certDir, CERT_FILE), pair.cert, { mode: 0o644 });
  return { certDir, cert: pair.cert };
}

/** startDevHttps on free ports with a pinned certificate; asserts the pinned one is what it serves. */
async function start(options: { target?: number; httpPort?: number }): Promise<{ handle: DevHttpsHandle; logger: CapturingLogger }> {
  const { certDir, cert } = await pinnedCertDir();
  const logger = captureLogger();
  const handle = await startDevHttps({
    ...(options.target === undefined ? {} : { target: options.target }),
    port: 0,
    httpPort: options.httpPort,
    certDir,
    logger,
  });
  onCleanup(() => handle.close());
  expect(handle.certificate.generated).toBe(false);
  expect(handle.certificate.cert).toBe(cert);
  return { handle, logger };
}

/** The test app's page: what it received, escaped for HTML (the values are ours, but still). */
function appPage(req: http.IncomingMessage): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html><head><meta charset="utf-8"><title>test app</title></head><body>
<p id="proto">${esc(String(req.headers['x-forwarded-proto'] ?? '(none)'))}</p>
<p id="cookie">${esc(String(req.headers.cookie ?? '(none)'))}</p>
</body></html>`;
}

function sendHtml(res: http.ServerResponse, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * A minimal RFC 6455 server side: the handshake, then one unmasked text frame back for each
 * masked text frame (payloads under 126 bytes, all a browser test sends); close is answered.
 */
function acceptWebSocket(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  const accept = createHash('sha1')
    .update(String(req.headers['sec-websocket-key']) + WS_GUID)
    .digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buffered = head;
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2) {
      const fin = (buffered[0]! & 0x80) !== 0;
      const opcode = buffered[0]! & 0x0f;
      const masked = (buffered[1]! & 0x80) !== 0;
      const length = buffered[1]! & 0x7f;
      // Clients must mask; fragments and long frames are beyond this echo server.
      if (!masked || !fin || length > 125) {
        socket.destroy();
        return;
      }
      if (buffered.length < 6 + length) return;
      const mask = buffered.subarray(2, 6);
      const payload = Buffer.alloc(length);
      for (let i = 0; i < length; i++) payload[i] = buffered[6 + i]! ^ mask[i % 4]!;
      buffered = buffered.subarray(6 + length);
      if (opcode === 0x1) {
        socket.write(Buffer.concat([Buffer.from([0x81, length]), payload]));
      } else if (opcode === 0x8) {
        // The close handshake: the client's status code goes back to it.
        socket.end(Buffer.concat([Buffer.from([0x88, length]), payload]));
        return;
      }
    }
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
  if (head.length) onData(Buffer.alloc(0));
}

/** Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are) into RGB triples. */
function decodePng(png: Buffer): { width: number; height: number; rgb: (x: number, y: number) => [number, number, number] } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect({ bitDepth: data[8], interlace: data[12] }).toEqual({ bitDepth: 8, interlace: 0 });
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      expect(channels).not.toBe(0);
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    offset += 12 + length;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? pixels[y * stride + i - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i]! : 0;
      const c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      pixels[y * stride + i] = (line[i]! + predictor) & 0xff;
    }
  }
  return {
    width,
    height,
    rgb: (x, y) => {
      const i = y * stride + x * channels;
      return [pixels[i]!, pixels[i + 1]!, pixels[i + 2]!];
    },
  };
}

describe.skipIf(!runBrowser)('in a real Chromium', () => {
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    // Signed by the run's CA, as dev-https would sign them, so it reuses them as they are.
    const ca = await readCA(process.env.DEV_HTTPS_CAROOT!);
    for (let i = 0; i < POOL_SIZE; i++) pool.push(await createCertificate(DEFAULT_CERT_NAMES, { ca: ca! }));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        ...CHROMIUM_ARGS,
        // Trusts exactly these keys, as a user accepting the certificate would; every other
        // certificate error still fails (see the first test).
        `--ignore-certificate-errors-spki-list=${pool.map((p) => spkiHash(p.cert)).join(',')}`,
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    context = await browser.newContext();
    onCleanup(() => context.close());
  });

  afterEach(runCleanups);

  test('a certificate the browser was not told about is refused: the pin is what makes the other pages load', async () => {
    // Not from the pool: dev-https generates a new key pair in this empty cert dir.
    const logger = captureLogger();
    const handle = await startDevHttps({ port: 0, certDir: await tempDir(), logger });
    onCleanup(() => handle.close());
    expect(handle.certificate.generated).toBe(true);
    const page = await context.newPage();
    await expect(page.goto(handle.urls.https)).rejects.toThrow(/net::ERR_CERT_AUTHORITY_INVALID/);
  });

  test('an app behind the HTTPS listener: the page is on https: and the app saw X-Forwarded-Proto https', async () => {
    const app = await startUpstream((req, res) => sendHtml(res, appPage(req)));
    const { handle } = await start({ target: app.port });
    const page = await context.newPage();
    const response = await page.goto(handle.urls.https);
    expect(response!.status()).toBe(200);
    expect(page.url()).toBe(handle.urls.https);
    expect(await page.evaluate(() => location.protocol)).toBe('https:');
    expect(await page.textContent('#proto')).toBe('https');
    // The TLS session the browser verified is the one with dev-https' certificate.
    const x509 = new X509Certificate(handle.certificate.cert);
    expect(await response!.securityDetails()).toMatchObject({
      subjectName: 'localhost',
      issuer: /^dev-https development CA /,
      validFrom: Math.floor(new Date(x509.validFrom).getTime() / 1000),
      validTo: Math.floor(new Date(x509.validTo).getTime() / 1000),
    });
  });

  test('a Secure, HttpOnly session cookie is stored, sent back on the next navigation, and hidden from scripts', async () => {
    const app = await startUpstream((req, res) => {
      const headers: http.OutgoingHttpHeaders = req.headers.cookie
        ? {}
        : { 'set-cookie': 'sid=s3cr3t-42; Path=/; Secure; HttpOnly; SameSite=Lax' };
      sendHtml(res, appPage(req), headers);
    });
    const { handle } = await start({ target: app.port });
    const page = await context.newPage();
    await page.goto(handle.urls.https);
    expect(await page.textContent('#cookie')).toBe('(none)');
    expect(await context.cookies()).toEqual([
      { name: 'sid', value: 's3cr3t-42', domain: 'localhost', path: '/', expires: -1, httpOnly: true, secure: true, sameSite: 'Lax' },
    ]);

    await page.goto(handle.urls.https + 'next');
    expect(await page.textContent('#cookie')).toBe('sid=s3cr3t-42');
    expect(await page.textContent('#proto')).toBe('https');
    expect(await page.evaluate(() => document.cookie)).toBe('');
  });

  test('a WebSocket over wss:// reaches the app through dev-https and echoes each message', async () => {
    const upgrades: http.IncomingHttpHeaders[] = [];
    const app = await startUpstream((req, res) => sendHtml(res, appPage(req)));
    app.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      upgrades.push(req.headers);
      acceptWebSocket(req, socket, head);
    });
    const { handle } = await start({ target: app.port });
    const page = await context.newPage();
    await page.goto(handle.urls.https);
    const wsUrl = handle.urls.https.replace(/^https:/, 'wss:') + 'ws';
    const echoed = await page.evaluate(
      (url) =>
        new Promise<string[]>((resolve, reject) => {
          const received: string[] = [];
          const ws = new WebSocket(url);
          ws.onopen = () => ws.send('hello');
          ws.onmessage = (event) => {
            received.push(String(event.data));
            if (received.length === 1) ws.send('and again');
            else ws.close(1000);
          };
          ws.onclose = (event) => (event.code === 1000 ? resolve(received) : reject(new Error(`closed with ${event.code}`)));
          ws.onerror = () => reject(new Error('WebSocket error'));
        }),
      wsUrl,
    );
    expect(echoed).toEqual(['hello', 'and again']);
    expect(upgrades).toHaveLength(1);
    expect(upgrades[0]!['x-forwarded-proto']).toBe('https');
    expect(upgrades[0]!.origin).toBe(handle.urls.https.slice(0, -1));
  });

  test('the HTTP listener serves the page over http: and the app saw X-Forwarded-Proto http', async () => {
    const app = await startUpstream((req, res) => sendHtml(res, appPage(req)));
    const { handle } = await start({ target: app.port, httpPort: 0 });
    expect(handle.urls.http).toMatch(/^http:\/\/localhost:\d+\/$/);
    const page = await context.newPage();
    const response = await page.goto(handle.urls.http!);
    expect(response!.status()).toBe(200);
    expect(page.url()).toBe(handle.urls.http);
    expect(await page.evaluate(() => location.protocol)).toBe('http:');
    expect(await page.textContent('#proto')).toBe('http');
  });

  test('the demo page renders over HTTPS (screenshot in test-artifacts/demo.png)', async () => {
    const { handle } = await start({});
    expect(handle.demo).toBe(true);
    const page = await context.newPage();
    await page.setViewportSize({ width: 1000, height: 700 });
    const response = await page.goto(handle.urls.https);
    expect(response!.status()).toBe(200);
    expect(await page.title()).toBe('dev-https demo app');
    expect(await page.textContent('#scheme')).toBe('https');
    expect(await page.textContent('#host')).toBe(new URL(handle.urls.https).host);
    expect(await page.evaluate(() => document.body.innerText)).toContain('Forwarded headers');

    await fs.mkdir(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, 'demo.png');
    const png = await page.screenshot({ path: file });
    expect(await fs.readFile(file)).toEqual(png);
    expect(png.length).toBeGreaterThan(10 * 1024);
    // Not blank: the page has text on white and the green box only an HTTPS request gets.
    const image = decodePng(png);
    expect({ width: image.width, height: image.height }).toEqual({ width: 1000, height: 700 });
    const counts = new Map<string, number>();
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++) {
        const key = image.rgb(x, y).join(',');
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    expect(counts.get('255,255,255') ?? 0).toBeGreaterThan(100_000);
    expect(counts.get('227,246,232') ?? 0).toBeGreaterThan(10_000); // #e3f6e8, the .scheme box over HTTPS
    expect(counts.size).toBeGreaterThan(20); // anti-aliased text
  });

  test('an app that always redirects to its own https URL: the browser lands on the loop page (508), not ERR_TOO_MANY_REDIRECTS', async () => {
    const paths: string[] = [];
    // Ignores X-Forwarded-Proto, as an app that does not trust its proxy does.
    const app = await startUpstream((req, res) => {
      paths.push(req.url!);
      res.writeHead(301, { location: `https://${req.headers.host}${req.url}`, 'content-length': 0 });
      res.end();
    });
    const { handle, logger } = await start({ target: app.port });
    const page = await context.newPage();
    const response = await page.goto(handle.urls.https);
    expect(response!.status()).toBe(508);
    expect(page.url()).toBe(handle.urls.https);
    expect(await page.title()).toBe('Redirect loop: the app does not trust X-Forwarded-Proto');
    expect(await page.textContent('h1')).toBe('Redirect loop');
    // One request for the page (the browser may ask for /favicon.ico too, which is no page).
    expect(paths.filter((p) => p === '/')).toEqual(['/']);
    expect(logger.lines.filter((l) => l.startsWith('warn: redirect loop: '))).toHaveLength(1);
    expect(logger.text()).toContain(`warn: redirect loop: the app answered ${handle.urls.https} with a redirect to that same URL.`);
  });
});
