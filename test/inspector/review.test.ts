// The inspector as an attacker tries it (each case failed before its fix): a client on the
// network, secrets in places the first masking missed, an event stream whose reader never reads.
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import os from 'node:os';
import { afterEach, describe, expect, test } from 'vitest';
import type { Recorder } from '../../src/inspector/record.js';
import { maskQuery } from '../../src/inspector/detail.js';
import { createInspectorServer } from '../../src/inspector/serve.js';
import { displayUrl } from '../../src/logger.js';
import type { InspectedRequest } from '../../src/inspector/types.js';
import { request, runCleanups, start, startUpstream } from '../helpers.js';
import { inspectedRequest, inspectorRequest } from './support.js';

afterEach(runCleanups);

/** A non-loopback address of this machine: where a client on the same network connects from. */
const lanAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

describe('review: who can reach the inspector', () => {
  // With --host 0.0.0.0 (testing from a phone) anyone on the same network can connect. The walls
  // (Origin, Sec-Fetch-Site, the token in the page) only stop browsers: a script on the café's
  // Wi-Fi sends Host: dev-https.localhost, reads the token from the page and reveals the
  // developer's session cookie.
  test.skipIf(!lanAddress)('a client on the network cannot read the page, the list or a secret', async () => {
    const app = await startUpstream((_req, res) => res.end('ok'));
    const s = await start({ target: app.port, host: '0.0.0.0' });
    // The developer, on this machine.
    await request(`https://localhost:${s.port}/account`, { ca: s.ca, headers: { cookie: 'sessionid=S3SSION' } });

    // Someone else on the network.
    const page = await inspectorRequest(s, '/', { address: lanAddress! });
    const token = /<meta name="dev-https-token" content="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const detail = await inspectorRequest(s, '/api/requests/1', { address: lanAddress!, headers: { 'x-dev-https-token': token } });
    const cookieRow =
      detail.status === 200 ? JSON.parse(detail.body).request.client.headers.find((h: { name: string }) => h.name === 'cookie') : null;
    const revealed = await inspectorRequest(s, '/api/reveal', {
      address: lanAddress!,
      method: 'POST',
      headers: { 'x-dev-https-token': token, 'content-type': 'application/json', origin: `https://dev-https.localhost:${s.port}` },
      body: JSON.stringify({ id: 1, secret: cookieRow?.secret ?? 'request.client.1' }),
    });
    expect(revealed.body).not.toContain('S3SSION');
    expect([page.status, detail.status, revealed.status]).toEqual([403, 403, 403]);
  });
});

describe('review: secrets that stay visible', () => {
  // OAuth's implicit flow and response_mode=fragment put the access token in the Location's
  // fragment; an auth server run locally behind dev-https (Keycloak, a Django OAuth toolkit) sends it.
  test('an access token in a Location fragment is masked, in the heads and in the changes', async () => {
    const app = await startUpstream((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${app.port}/cb#access_token=ACC3SS&token_type=bearer` });
      res.end();
    });
    const s = await start({ target: app.port });
    await request(`https://localhost:${s.port}/authorize`, { ca: s.ca });
    expect(JSON.stringify(s.handle.inspector!.detail(1))).not.toContain('ACC3SS');
  });

  // Angular, axios and Laravel copy the XSRF-TOKEN cookie into X-XSRF-TOKEN on every request,
  // Django's docs into X-CSRFToken: the value masked in the Cookie row is shown in the next row.
  test.each(['x-xsrf-token', 'x-csrftoken'])('the cookie value copied into %s is masked too', async (name) => {
    const app = await startUpstream((_req, res) => res.end('ok'));
    const s = await start({ target: app.port });
    await request(`https://localhost:${s.port}/api/save`, {
      ca: s.ca,
      method: 'POST',
      headers: { cookie: 'XSRF-TOKEN=XSRFV4LUE; csrftoken=XSRFV4LUE', [name]: 'XSRFV4LUE' },
      body: '{}',
    });
    const detail = s.handle.inspector!.detail(1)!;
    expect(detail.request.client.headers.find((h) => h.name === 'cookie')!.value).toBe('XSRF-TOKEN=…; csrftoken=…');
    expect(JSON.stringify(detail)).not.toContain('XSRFV4LUE');
  });

  // A signed URL (S3, CloudFront, a CDN token) preloaded through Link: the query values the README
  // says are masked, in a URL header that is not in the list.
  test('query values of the URLs in a Link header are masked', async () => {
    const app = await startUpstream((_req, res) => {
      res.writeHead(200, { link: '</media/a.jpg?X-Amz-Signature=S1GNATURE&X-Amz-Credential=CR3D>; rel=preload; as=image' });
      res.end('ok');
    });
    const s = await start({ target: app.port });
    await request(`https://localhost:${s.port}/`, { ca: s.ca });
    const json = JSON.stringify(s.handle.inspector!.detail(1));
    expect(json).not.toContain('S1GNATURE');
    expect(json).not.toContain('CR3D');
  });
});

describe('review: URLs as shown', () => {
  test.each([
    ['/cb?code=C&state=S', '/cb?code=…&state=…', '/cb?…'],
    ['/cb#access_token=A&token_type=bearer', '/cb#access_token=…&token_type=…', '/cb#…'],
    ['/doc?v=1#section-2', '/doc?v=…#section-2', '/doc?…#section-2'],
    ['/a?tok#x=1', '/a?…#x=…', '/a?…#…'],
    ['/plain', '/plain', '/plain'],
  ])('%s: the inspector shows %s, the terminal %s', (url, inspector, terminal) => {
    expect(maskQuery(url)).toBe(inspector);
    expect(displayUrl(url)).toBe(terminal);
  });
});

describe('review: the event stream', () => {
  // MAX_STREAM_BACKLOG is checked before a write, not against its size: the first write is the
  // whole ring (500 requests whose paths a web page chose, 32 KiB each: no-cors fetches of
  // https://localhost:<port>/AAAA…), so a client that does not read holds ~16 MiB each, and each
  // batch adds up to as much again. Many such streams exhaust dev-https' memory.
  test('a stream whose client does not read holds at most about MAX_STREAM_BACKLOG', () => {
    const path = `/${'A'.repeat(32 * 1024 - 64)}`;
    const entry = (id: number) => inspectedRequest(id, { time: new Date(0).toISOString(), path, status: 404, durationMs: 1 });
    let subscriber: ((batch: InspectedRequest[]) => void) | null = null;
    const recorder = {
      seen: () => undefined,
      recent: () => Array.from({ length: 500 }, (_, i) => entry(i + 1)),
      subscribe: (fn: (batch: InspectedRequest[]) => void) => {
        subscriber = fn;
        return () => (subscriber = null);
      },
    } as unknown as Recorder;
    const inspector = createInspectorServer(recorder, async () => ({ text: '', ok: true, score: 0 }));
    // A response whose client never reads: everything written stays buffered.
    const res = Object.assign(new EventEmitter(), {
      writableLength: 0,
      headersSent: false,
      writeHead() {
        this.headersSent = true;
        return this;
      },
      write(chunk: string) {
        this.writableLength += Buffer.byteLength(chunk);
        return false;
      },
      destroyed: false,
      end() {},
      destroy() {
        this.destroyed = true;
      },
    });
    const listener = { proto: 'https' as const, port: 8443, httpsPort: 8443 };
    const fakeReq = (url: string) =>
      ({
        method: 'GET',
        url,
        headers: { host: 'dev-https.localhost:8443', 'sec-fetch-site': 'same-origin' },
        socket: { remoteAddress: '127.0.0.1' },
      }) as unknown as http.IncomingMessage;
    // The page, for its token.
    let html = '';
    const page = Object.assign(new EventEmitter(), {
      headersSent: false,
      writeHead: () => page,
      end: (body: string) => (html = body),
    });
    inspector.web(fakeReq('/'), page as unknown as http.ServerResponse, listener);
    const token = /<meta name="dev-https-token" content="([^"]+)"/.exec(html)![1]!;
    inspector.web(fakeReq(`/events?token=${token}`), res as unknown as http.ServerResponse, listener);
    expect(res.headersSent).toBe(true);
    for (let batch = 0; batch < 4; batch++) subscriber!(Array.from({ length: 500 }, (_, i) => entry(501 + batch * 500 + i)));
    inspector.close();
    expect(res.writableLength).toBeLessThanOrEqual(2 * 1024 * 1024);
    // Cut off, to reconnect and start over, rather than kept with a gap.
    expect(res.destroyed).toBe(true);
  });
});
