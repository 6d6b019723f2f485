// The inspector page in a real headless Chromium, under the CSP dev-https serves it with, against
// a fake server that speaks the contract of src/inspector/types.ts with hostile values in it.
import { existsSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import vm from 'node:vm';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { annotateSetCookie } from '../../src/inspector/cookies.js';
import { INSPECTOR_CSS, INSPECTOR_JS, inspectorHtml } from '../../src/inspector/page.js';
import type { HeaderRow, InspectedDetail, InspectedRequest } from '../../src/inspector/types.js';
import { CHROMIUM_ARGS, onCleanup, runCleanups } from '../helpers.js';
import { inspectedRequest } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const runBrowser = existsSync(CHROMIUM) || process.env.CI === 'true';
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const TOKEN = 'tok-3f9a"<&>';
const HOSTILE = '<img src=x onerror=alert(1)>';
const SECRET = 'Bearer hunter2-SECRET';

describe('the page source', () => {
  test('the token is HTML-escaped into its meta tag', () => {
    expect(inspectorHtml(TOKEN)).toContain('<meta name="dev-https-token" content="tok-3f9a&#34;&#60;&#38;&#62;">');
  });

  test('no inline script, inline style or style attribute: the CSP would block them', () => {
    const html = inspectorHtml('t');
    expect(html.match(/<script\b[^>]*>/g)).toEqual(['<script src="/inspector.js" defer>']);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=|javascript:/i);
  });

  test('the script parses, and never builds markup from strings nor evaluates them', () => {
    expect(() => new vm.Script(INSPECTOR_JS)).not.toThrow();
    expect(INSPECTOR_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|console\./);
  });
});

// Oldest first, as /events sends them; 2 → 3 and 5 → 6 → 7 are redirect chains, 7 closes a loop.

const LOOP_FIX = 'Django: set SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")\nthen restart runserver.';
const FIRST: InspectedRequest[] = [
  inspectedRequest(1, {}),
  inspectedRequest(2, { path: '/login?next=…', status: 302, durationMs: 4.25, flags: ['location-rewritten'] }),
  inspectedRequest(3, { path: '/dashboard?tab=…', redirectFrom: 2, flags: ['cookie', 'hsts-removed'] }),
  inspectedRequest(4, { method: 'POST', path: `/${HOSTILE}`, status: 404, durationMs: 150.6 }),
  inspectedRequest(5, { path: '/a', status: 302, listener: 'http', protocol: 'http/1.1' }),
  inspectedRequest(6, { path: '/b', status: 302, redirectFrom: 5, listener: 'http', protocol: 'http/1.1' }),
  inspectedRequest(7, {
    path: '/a',
    status: 508,
    redirectFrom: 6,
    answeredBy: 'dev-https',
    listener: 'http',
    protocol: 'http/1.1',
    loop: { urls: ['http://localhost:8080/a', 'http://localhost:8080/b'], fix: LOOP_FIX },
    flags: ['loop'],
  }),
];
const SECOND: InspectedRequest[] = [
  inspectedRequest(8, { path: '/socket', status: 101, ws: true, route: '/api', protocol: 'http/1.1' }),
  inspectedRequest(9, { path: '/slow', status: 0, durationMs: 2.04, flags: ['error'] }),
];

const row = (name: string, value: string, mark: HeaderRow['mark'], extra: Partial<HeaderRow> = {}): HeaderRow => ({
  name,
  value,
  mark,
  ...extra,
});
const WHY_XFF = 'the client sent its own X-Forwarded-For: dev-https dropped it so the app cannot be lied to';
const WHY_PROTO = 'tells the app the client used HTTPS';
const WHY_HSTS = 'HSTS from a dev server would pin HTTPS on localhost for months';

const DETAILS: Record<number, InspectedDetail> = {
  3: {
    ...FIRST[2]!,
    request: {
      client: {
        line: 'GET /dashboard?tab=… HTTP/2',
        headers: [
          row(':authority', 'localhost:8443', 'kept'),
          row('authorization', '…', 'kept', { secret: 'sec-auth' }),
          row('x-forwarded-for', '6.6.6.6', 'dropped', { why: WHY_XFF }),
          row('x-evil', HOSTILE, 'kept'),
        ],
      },
      app: {
        line: 'GET /dashboard?tab=… HTTP/1.1',
        headers: [
          row('Host', 'localhost:8443', 'kept'),
          row('authorization', '…', 'kept', { secret: 'sec-auth' }),
          row('X-Forwarded-Proto', 'https', 'set', { why: WHY_PROTO }),
          row('x-evil', HOSTILE, 'kept'),
        ],
      },
      body: { size: 0, type: null },
    },
    response: {
      app: {
        line: 'HTTP/1.1 200 OK',
        headers: [
          row('Content-Type', 'text/html', 'kept'),
          row('Strict-Transport-Security', 'max-age=31536000', 'dropped', { why: WHY_HSTS }),
          row('Set-Cookie', '…', 'kept', { secret: 'sec-cookie' }),
        ],
      },
      client: {
        line: ':status 200',
        headers: [row('content-type', 'text/html', 'kept'), row('set-cookie', '…', 'kept', { secret: 'sec-cookie' })],
      },
      body: { size: 2560, type: 'text/html' },
    },
    changes: ['dropped the client’s X-Forwarded-For', 'set X-Forwarded-Proto: https', 'removed Strict-Transport-Security'],
    cookies: [annotateSetCookie('sessionid=abc123; Path=/', { listener: 'https', host: 'localhost:8443' })],
    target: 'http://127.0.0.1:8000',
  },
  7: {
    ...FIRST[6]!,
    request: {
      client: { line: 'GET /a HTTP/1.1', headers: [row('Host', 'localhost:8080', 'kept')] },
      app: null,
      body: { size: 0, type: null },
    },
    response: {
      app: null,
      client: { line: 'HTTP/1.1 508 Loop Detected', headers: [row('Content-Type', 'text/html', 'set')] },
      body: { size: 900, type: 'text/html' },
    },
    changes: [],
    cookies: [],
    target: 'http://127.0.0.1:8000',
  },
};
const REVEALS: Record<string, string> = { 'sec-auth': SECRET, 'sec-cookie': 'sessionid=abc123; Path=/' };

interface Fake {
  url: string;
  /** Sends a batch to every page connected to /events. */
  send(batch: InspectedRequest[]): void;
  connections(): number;
  checks: unknown[];
  /** Ends every /events stream and answers the next ones 503, until restore(). */
  drop(): void;
  restore(): void;
  /** Lets the pending /api/check answer. */
  finishCheck(): void;
  /** The process id the next /events streams say hello with (a dev-https restarted on the port). */
  setInstance(id: string): void;
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(undefined);
      }
    });
  });
}

async function startFake(first: InspectedRequest[]): Promise<Fake> {
  const streams = new Set<http.ServerResponse>();
  const checks: unknown[] = [];
  let finishCheck = () => {};
  let refusing = false;
  let instance = 'first';
  const json = (res: http.ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const send = (res: http.ServerResponse, batch: InspectedRequest[]) => res.write(`event: requests\ndata: ${JSON.stringify(batch)}\n\n`);
  const server = http.createServer(async (req, res) => {
    const headers = { 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' };
    const url = req.url ?? '';
    if (url === '/') return res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(inspectorHtml(TOKEN));
    if (url === '/inspector.js')
      return res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' }).end(INSPECTOR_JS);
    if (url === '/inspector.css') return res.writeHead(200, { ...headers, 'content-type': 'text/css; charset=utf-8' }).end(INSPECTOR_CSS);
    if (url === '/canary') {
      // Proves the violation listener works: the CSP blocks this inline script and style.
      return res
        .writeHead(200, { ...headers, 'content-type': 'text/html' })
        .end('<p style="color:red">x</p><script>document.title="ran"</script>');
    }
    if (url.split('?')[0] === '/events') {
      // EventSource sends no headers of its own: the page puts its token in the query.
      if (new URLSearchParams(url.split('?')[1] ?? '').get('token') !== TOKEN) return res.writeHead(403).end('bad token');
      if (refusing) return res.writeHead(503, { 'content-type': 'text/plain' }).end('down');
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      streams.add(res);
      req.on('close', () => streams.delete(res));
      // A short reconnect delay (dev-https says 2 s): the reconnect tests wait less.
      res.write(`retry: 100\n\nevent: hello\ndata: ${JSON.stringify({ instance })}\n\n`);
      return send(res, first);
    }
    if (req.headers['x-dev-https-token'] !== TOKEN) return json(res, 403, { error: 'bad token' });
    const detail = /^\/api\/requests\/(\d+)$/.exec(url);
    if (detail && req.method === 'GET') {
      const found = DETAILS[Number(detail[1])];
      return found ? json(res, 200, found) : json(res, 404, { error: `request ${detail[1]} has left the inspector's memory` });
    }
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/json') return json(res, 400, { error: 'POST JSON' });
    const body = (await readBody(req)) as { id?: unknown; secret?: unknown; path?: unknown } | undefined;
    if (url === '/api/reveal') {
      const value = body?.id === 3 && typeof body.secret === 'string' ? REVEALS[body.secret] : undefined;
      return value === undefined ? json(res, 404, { error: 'no such secret' }) : json(res, 200, { value });
    }
    if (url === '/api/check') {
      checks.push(body);
      await new Promise<void>((resolve) => (finishCheck = resolve));
      return json(res, 200, {
        text: `dev-https check ${String(body?.path)}\n  ok  X-Forwarded-Proto\n  bad ${HOSTILE}`,
        ok: false,
        score: 83,
      });
    }
    json(res, 404, { error: 'not found' });
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    send: (batch) => streams.forEach((res) => send(res, batch)),
    connections: () => streams.size,
    checks,
    drop: () => {
      refusing = true;
      for (const res of streams) res.destroy();
      streams.clear();
    },
    restore: () => (refusing = false),
    finishCheck: () => finishCheck(),
    setInstance: (id) => (instance = id),
  };
}

describe.skipIf(!runBrowser)('in a real Chromium', () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** Console errors, page errors, CSP violations and dialogs: each a failure of the page. */
  let problems: string[];
  let tokens: Array<string | undefined>;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    context = await browser.newContext({ timezoneId: 'UTC', colorScheme: 'light' });
    onCleanup(() => context.close());
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        const w = window as unknown as { violations?: string[] };
        (w.violations ??= []).push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    page = await context.newPage();
    problems = [];
    tokens = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/')) tokens.push(r.headers()['x-dev-https-token']);
    });
  });

  afterEach(runCleanups);

  const violations = () => page.evaluate(() => (window as unknown as { violations?: string[] }).violations ?? []);
  const rowIds = () => page.$$eval('[data-testid=request-row]', (rows) => rows.map((r) => Number(r.getAttribute('data-id'))));
  const rowCount = (n: number) => page.waitForFunction((n) => document.querySelectorAll('[data-testid=request-row]').length === n, n);

  async function open(first = FIRST): Promise<Fake> {
    const fake = await startFake(first);
    await page.goto(fake.url);
    await page.locator('[data-testid=live-state]', { hasText: 'live' }).waitFor();
    await rowCount(first.length);
    return fake;
  }

  /** No CSP violation, no error, no dialog, no image: `expected` lists the console errors the test caused. */
  async function assertClean(expected: string[] = []): Promise<void> {
    expect(await violations()).toEqual([]);
    expect(problems).toEqual(expected);
    expect(await page.locator('img').count()).toBe(0);
  }

  test('the violation listener sees what the CSP blocks (so an empty list means something)', async () => {
    const fake = await startFake([]);
    await page.goto(`${fake.url}/canary`);
    await page.waitForFunction(() => ((window as unknown as { violations?: string[] }).violations ?? []).length >= 2);
    expect((await violations()).sort()).toEqual(['script-src-elem inline', 'style-src-attr inline']);
    expect(await page.title()).toBe('');
  });

  test('rows newest first, redirect chains under their parent, the second batch without reload', async () => {
    const fake = await open();
    expect(await page.title()).toBe('dev-https inspector');
    expect(await page.locator('h1').textContent()).toBe('dev-https inspector');
    expect(await rowIds()).toEqual([5, 6, 7, 4, 2, 3, 1]);
    const cells = await page.$$eval('[data-testid=request-row]', (rows) =>
      rows.map((r) =>
        [...r.querySelectorAll('.c-time, .c-method, .c-path, .c-status, .c-proto, .c-dur, .c-flags')].map((c) => c.textContent),
      ),
    );
    expect(cells).toEqual([
      ['12:00:05', 'GET', '/a', '302', 'http http/1.1', '12 ms', ''],
      ['12:00:06', 'GET', '↳ /b', '302', 'http http/1.1', '12 ms', ''],
      ['12:00:07', 'GET', '↳ /a', '508', 'http http/1.1', '12 ms', 'redirect loopdev-https'],
      ['12:00:04', 'POST', `/${HOSTILE}`, '404', 'https h2', '151 ms', ''],
      ['12:00:02', 'GET', '/login?next=…', '302', 'https h2', '4.3 ms', 'Location rewritten'],
      ['12:00:03', 'GET', '↳ /dashboard?tab=…', '200', 'https h2', '12 ms', 'cookieHSTS removed'],
      ['12:00:01', 'GET', '/', '200', 'https h2', '12 ms', ''],
    ]);
    // The chain's depth is marked, and the loop badge is red with a tooltip.
    const depths = await page.$$eval('[data-testid=request-row]', (rows) => rows.map((r) => r.getAttribute('data-depth')));
    expect(depths).toEqual([null, '1', '2', null, null, '1', null]);
    const loopBadge = page.locator('[data-id="7"] [data-flag=loop]');
    expect(await loopBadge.getAttribute('class')).toBe('badge bad');
    expect(await loopBadge.getAttribute('title')).toMatch(/redirect loop/);
    expect(await page.locator('[data-id="3"] [data-flag=cookie]').getAttribute('title')).toMatch(/Set-Cookie/);
    expect(await page.locator('[data-id="7"] .status').getAttribute('class')).toBe('status s5');
    // No route yet, so no route column.
    expect(await page.locator('[data-id="1"] .c-route').isVisible()).toBe(false);

    fake.send(SECOND);
    await rowCount(9);
    expect(await rowIds()).toEqual([9, 8, 5, 6, 7, 4, 2, 3, 1]);
    expect(await page.locator('[data-id="9"] .c-status').textContent()).toBe('closed');
    expect(await page.locator('[data-id="9"] .c-dur').textContent()).toBe('2.0 ms');
    expect(await page.locator('[data-id="9"] .c-flags').textContent()).toBe('error');
    expect(await page.locator('[data-id="8"] .c-flags').textContent()).toBe('ws');
    expect(await page.locator('[data-id="8"] .c-route').textContent()).toBe('/api');
    expect(await page.locator('[data-id="8"] .c-route').isVisible()).toBe(true);
    // The same batch again (as after a reconnect) adds nothing.
    fake.send(SECOND);
    fake.send([inspectedRequest(10, { path: '/after' })]);
    await rowCount(10);
    expect((await rowIds()).slice(0, 3)).toEqual([10, 9, 8]);
    await assertClean();
  });

  test('the detail: four panels, marks and why, cookie notes, hostile values as text', async () => {
    await open();
    await page.locator('[data-testid=request-row][data-id="3"]').click();
    const detail = page.getByTestId('detail');
    await detail.getByTestId('panel-client-request').waitFor();
    for (const [id, title] of [
      ['panel-client-request', 'as the client sent it'],
      ['panel-app-request', 'as the app received it'],
      ['panel-app-response', 'as the app sent it'],
      ['panel-client-response', 'as the client got it'],
    ]) {
      expect(await detail.getByTestId(id!).locator('h3').textContent()).toBe(title);
    }
    const marks = (panel: string) =>
      detail
        .getByTestId(panel)
        .getByTestId('header-row')
        .evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-mark')} ${r.getAttribute('data-name')}`));
    expect(await marks('panel-client-request')).toEqual([
      'kept :authority',
      'kept authorization',
      'dropped x-forwarded-for',
      'kept x-evil',
    ]);
    expect(await marks('panel-app-request')).toEqual(['kept host', 'kept authorization', 'set x-forwarded-proto', 'kept x-evil']);
    expect(await marks('panel-app-response')).toEqual(['kept content-type', 'dropped strict-transport-security', 'kept set-cookie']);
    expect(await detail.getByTestId('panel-app-request').locator('.line').textContent()).toBe('GET /dashboard?tab=… HTTP/1.1');
    expect(await detail.getByTestId('panel-client-response').locator('.line').textContent()).toBe(':status 200');
    const proto = detail.getByTestId('panel-app-request').locator('[data-name="x-forwarded-proto"]');
    expect(await proto.locator('.mark').textContent()).toBe('+');
    expect(await proto.locator('.why').textContent()).toBe(WHY_PROTO);
    const xff = detail.getByTestId('panel-client-request').locator('[data-name="x-forwarded-for"]');
    expect(await xff.locator('.mark').textContent()).toBe('−');
    expect(await xff.locator('.why').textContent()).toBe(WHY_XFF);
    expect(await xff.locator('.hv').evaluate((e) => getComputedStyle(e).textDecorationLine)).toBe('line-through');
    expect(await detail.textContent()).toContain(WHY_HSTS);
    // The hostile header value is text, twice, and made no element.
    const evil = detail.locator('[data-name="x-evil"] .hv');
    expect(await evil.allTextContents()).toEqual([HOSTILE, HOSTILE]);
    expect(await page.locator(`[data-id="4"] .c-path`).textContent()).toBe(`/${HOSTILE}`);
    expect(await detail.locator('.changes li').allTextContents()).toEqual(DETAILS[3]!.changes);
    expect(await detail.locator('.body').allTextContents()).toEqual(['request body: no body', 'response body: 2.5 KB, text/html']);
    expect(await detail.locator('.facts').textContent()).toContain('http://127.0.0.1:8000');
    const notes = await detail
      .getByTestId('cookie-note')
      .evaluateAll((items) => items.map((n) => `${n.getAttribute('data-level')}|${n.querySelector('.lvl')!.textContent}|${n.textContent}`));
    expect(notes).toEqual(DETAILS[3]!.cookies[0]!.notes.map((n) => `${n.level}|${n.level}|${n.level}${n.text}`));
    expect(notes[0]).toMatch(/^warn\|/);
    expect(await detail.locator('.cookie-attrs').textContent()).toBe('Path=/');
    expect(await page.content()).not.toContain('abc123');
    // Keyboard: Escape closes, Enter on a focused row opens.
    await page.keyboard.press('Escape');
    expect(await detail.isHidden()).toBe(true);
    await page.locator('[data-testid=request-row][data-id="7"]').focus();
    await page.keyboard.press('Enter');
    await detail.getByTestId('loop-fix').waitFor();
    // Focus followed into the detail; Escape brings it back to the row.
    expect(await page.evaluate(() => document.activeElement?.matches('[data-testid=detail] h2'))).toBe(true);
    await page.keyboard.press('Escape');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-id'))).toBe('7');
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-id'))).toBe('4');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Enter');
    await detail.getByTestId('loop-fix').waitFor();
    expect(await detail.getByTestId('loop-fix').textContent()).toBe(LOOP_FIX);
    expect(await detail.getByTestId('loop-fix').innerText()).toBe(LOOP_FIX);
    expect(await detail.getByTestId('panel-app-request').textContent()).toBe('as the app received itnever reached the app');
    expect(await detail.getByTestId('panel-app-response').textContent()).toBe('as the app sent itthe app did not answer');
    expect(await detail.getByTestId('panel-client-response').getByTestId('header-row').getAttribute('data-mark')).toBe('set');
    expect(tokens).toEqual([TOKEN, TOKEN, TOKEN]);
    await assertClean();
  });

  test('a request that left the ring says so', async () => {
    await open();
    await page.locator('[data-testid=request-row][data-id="4"]').click();
    await page.getByTestId('detail').getByText("request 4 has left the inspector's memory").waitFor();
    expect(await page.getByTestId('detail').locator('.d-path').textContent()).toBe(`/${HOSTILE}`);
    // Chromium logs the 404 itself; the page logs nothing.
    await assertClean(['console: Failed to load resource: the server responded with a status of 404 (Not Found)']);
  });

  test('a masked value is not in the page until revealed, and gone once the detail closes', async () => {
    await open();
    await page.locator('[data-testid=request-row][data-id="3"]').click();
    const auth = page.getByTestId('panel-client-request').locator('[data-name="authorization"]');
    await auth.waitFor();
    expect(await auth.locator('.hv').textContent()).toBe('…');
    expect(await page.content()).not.toContain('hunter2');
    const reveal = auth.getByTestId('reveal');
    expect(await reveal.textContent()).toBe('reveal');
    const [request] = await Promise.all([page.waitForRequest('**/api/reveal'), reveal.click()]);
    expect(request.method()).toBe('POST');
    expect(request.headers()['content-type']).toBe('application/json');
    expect(request.postDataJSON()).toEqual({ id: 3, secret: 'sec-auth' });
    await auth.locator('.hv', { hasText: SECRET }).waitFor();
    expect(await page.content()).toContain(SECRET);
    expect(await auth.getByTestId('reveal').count()).toBe(0);
    // The other panel's copy stays masked.
    expect(await page.getByTestId('panel-app-request').locator('[data-name="authorization"] .hv').textContent()).toBe('…');

    await page.keyboard.press('Escape');
    expect(await page.content()).not.toContain('hunter2');
    await page.locator('[data-testid=request-row][data-id="3"]').click();
    await auth.waitFor();
    expect(await auth.locator('.hv').textContent()).toBe('…');
    expect(await page.content()).not.toContain('hunter2');
    expect(tokens).toEqual([TOKEN, TOKEN, TOKEN]);
    await assertClean();
  });

  test('the check: the selected path without its query, running… while it runs, the report as text', async () => {
    const fake = await open();
    await page.locator('[data-testid=request-row][data-id="3"]').click();
    await page.getByTestId('panel-client-request').waitFor();
    const button = page.getByTestId('check-button');
    const [request] = await Promise.all([page.waitForRequest('**/api/check'), button.click()]);
    expect(request.headers()['x-dev-https-token']).toBe(TOKEN);
    expect(request.postDataJSON()).toEqual({ path: '/dashboard' });
    expect(await button.isDisabled()).toBe(true);
    expect(await button.textContent()).toBe('running…');
    expect(await page.getByTestId('check-report').textContent()).toMatch(/^running…/);
    await expect.poll(() => fake.checks).toEqual([{ path: '/dashboard' }]);
    fake.finishCheck();
    await page.waitForFunction(() => !(document.querySelector('[data-testid=check-button]') as HTMLButtonElement).disabled);
    expect(await button.textContent()).toBe('Run dev-https check');
    expect(await page.getByTestId('check-report').textContent()).toBe(
      `dev-https check /dashboard\n  ok  X-Forwarded-Proto\n  bad ${HOSTILE}`,
    );
    expect(await page.locator('#check-summary').textContent()).toBe('found problems, score 83');
    // Nothing selected: the check runs on /.
    await page.keyboard.press('Escape');
    await button.click();
    await expect.poll(() => fake.checks.length).toBe(2);
    fake.finishCheck();
    await page.getByTestId('check-report').getByText('dev-https check /').first().waitFor();
    expect(fake.checks[1]).toEqual({ path: '/' });
    await assertClean();
  });

  test('filter, pause and clear', async () => {
    const fake = await open();
    await page.locator('#filter').fill('DASH');
    await rowCount(1);
    expect(await rowIds()).toEqual([3]);
    await page.locator('#filter').fill('302');
    expect(await rowIds()).toEqual([5, 6, 2]);
    await page.locator('#filter').fill('nothing-matches');
    await rowCount(0);
    expect(await page.locator('#empty').textContent()).toBe('No request matches the filter.');
    await page.locator('#filter').fill('');
    await rowCount(7);

    const pause = page.locator('#pause');
    await pause.click();
    expect(await pause.getAttribute('aria-pressed')).toBe('true');
    fake.send(SECOND);
    // Sent again, as after a reconnect: counted once.
    fake.send(SECOND);
    fake.send([inspectedRequest(10, { path: '/ten' })]);
    await page.locator('#pause', { hasText: 'Resume (3 new)' }).waitFor();
    expect(await rowIds()).toEqual([5, 6, 7, 4, 2, 3, 1]);
    await pause.click();
    await rowCount(10);
    expect((await rowIds()).slice(0, 3)).toEqual([10, 9, 8]);
    expect(await pause.textContent()).toBe('Pause');
    expect(await pause.getAttribute('aria-pressed')).toBe('false');

    await page.locator('#clear').click();
    await rowCount(0);
    expect(await page.locator('#empty').textContent()).toMatch(/^No requests yet/);
    // What was cleared stays cleared when sent again (a reconnect sends the recent ones).
    fake.send([...FIRST, ...SECOND, inspectedRequest(10, {})]);
    fake.send([inspectedRequest(11, { path: '/new' })]);
    await rowCount(1);
    expect(await rowIds()).toEqual([11]);
    await assertClean();
  });

  test('at most 500 requests, the newest', async () => {
    const many = Array.from({ length: 600 }, (_, i) => inspectedRequest(i + 1, { path: `/p${i + 1}` }));
    const fake = await open(many.slice(0, 300));
    fake.send(many.slice(300));
    await page.waitForFunction(() => document.querySelector('[data-testid=request-row]')?.getAttribute('data-id') === '600');
    const ids = await rowIds();
    expect(ids).toHaveLength(500);
    expect([ids[0], ids.at(-1)]).toEqual([600, 101]);
    await assertClean();
  });

  test('disconnected when the stream drops and is refused, live again when it is back, nothing doubled', async () => {
    const fake = await open();
    expect(fake.connections()).toBe(1);
    expect(await page.getByTestId('live-state').textContent()).toBe('live');
    fake.drop();
    await page.locator('[data-testid=live-state]', { hasText: 'disconnected' }).waitFor();
    expect(await page.getByTestId('live-state').getAttribute('class')).toBe('state off');
    fake.restore();
    await page.locator('[data-testid=live-state]', { hasText: 'live' }).waitFor({ timeout: 20_000 });
    expect(fake.connections()).toBe(1);
    fake.send(SECOND);
    await rowCount(9);
    expect(await rowIds()).toEqual([9, 8, 5, 6, 7, 4, 2, 3, 1]);
  });

  test('a reconnect to another dev-https process (a restart on the port) reloads the page; to the same one it does not', async () => {
    const fake = await open();
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    fake.drop();
    fake.restore();
    await page.locator('[data-testid=live-state]', { hasText: 'live' }).waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    const reloaded = page.waitForEvent('load');
    fake.setInstance('second');
    fake.drop();
    fake.restore();
    await reloaded;
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBeUndefined();
  });
});
