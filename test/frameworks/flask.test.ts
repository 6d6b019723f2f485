// Flask (Debian's python3-flask, installed by .ci/run) behind ProxyFix, as the README's recipe
// says: Flask sees https and dev-https' Host, and a generator's parts arrive as Flask yields them,
// over HTTP/1.1 and HTTP/2.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, request } from '../helpers.js';
import { type App, FIXTURES, PYTHON, flaskAvailable, openStream, spawnApp, startPlain } from './support.js';

describe.skipIf(!flaskAvailable)('Flask with ProxyFix behind dev-https', () => {
  let app: App;
  let proxy: Awaited<ReturnType<typeof startPlain>>;

  beforeAll(async () => {
    const port = await freePort();
    app = await spawnApp(PYTHON, [path.join(FIXTURES, 'flask_app.py'), String(port)], {
      cwd: FIXTURES,
      port,
      env: { PYTHONDONTWRITEBYTECODE: '1' },
    });
    proxy = await startPlain({ target: port });
  });

  afterAll(async () => {
    await proxy?.close();
    await app?.stop();
  });

  test("request.is_secure, the https scheme and the HTTPS listener's host are what Flask sees", async () => {
    const reply = await request(`${proxy.origin}/?q=1`, { ca: proxy.ca });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({
      is_secure: true,
      scheme: 'https',
      host: new URL(proxy.origin).host,
      url: `${proxy.origin}/?q=1`,
      remote_addr: '127.0.0.1',
    });
  });

  test.each(['http/1.1', 'h2'] as const)(
    'a streamed response over %s: each part arrives while the generator waits for the next',
    async (protocol) => {
      const name = protocol === 'h2' ? 'h2' : 'h1';
      const stream = openStream(`${proxy.origin}/stream/${name}`, { ca: proxy.ca, protocol });
      try {
        const head = await stream.head;
        expect(head.status).toBe(200);
        expect(head.headers['content-type']).toBe('text/plain; charset=utf-8');
        // Werkzeug streams without Content-Length; over HTTP/1.1 dev-https passes it on chunked.
        expect(head.headers['content-length']).toBeUndefined();
        if (protocol === 'http/1.1') expect(head.headers['transfer-encoding']).toBe('chunked');
        const first = await stream.until('\n');
        expect(first.endsWith('\n')).toBe(true);
        expect(JSON.parse(first)).toEqual({
          is_secure: true,
          scheme: 'https',
          host: new URL(proxy.origin).host,
          url: `${proxy.origin}/stream/${name}`,
          remote_addr: '127.0.0.1',
        });
        // Only now does Flask produce the rest.
        expect((await request(`${proxy.origin}/release/${name}`, { ca: proxy.ca, method: 'POST' })).body).toBe('released');
        expect((await stream.done).slice(first.length)).toBe('second part\nthird part\n');
      } finally {
        stream.close();
      }
    },
  );
});
