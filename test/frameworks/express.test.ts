// Express 5 behind dev-https, as the README's recipe says (trust proxy loopback): Server-Sent
// Events and res.write() streaming reach HTTP/1.1 and HTTP/2 clients (and an EventSource in
// Chromium) part by part, and a client that goes away closes the app's response.
import type http from 'node:http';
import type net from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Deferred, deferred, request } from '../helpers.js';
import { type Pinned, chromiumAvailable, launchPinned, openStream, startPlain } from './support.js';

describe('Express 5 behind dev-https', () => {
  let server: http.Server;
  let proxy: Awaited<ReturnType<typeof startPlain>>;
  let pinned: Pinned | undefined;
  const gates = new Map<string, Deferred<void>>();
  const closed = new Map<string, Deferred<void>>();
  const gate = (name: string) => gates.get(name) ?? gates.set(name, deferred()).get(name)!;
  const closedOf = (name: string) => closed.get(name) ?? closed.set(name, deferred()).get(name)!;

  beforeAll(async () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    const seen = (req: express.Request) => ({ secure: req.secure, protocol: req.protocol, host: req.get('host'), ip: req.ip });
    app.get('/', (_req, res) => res.type('html').send('<!doctype html><title>express app</title>'));
    app.get('/events/:name', async (req, res) => {
      const name = req.params.name;
      res.on('close', () => closedOf(name).resolve());
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`data: ${JSON.stringify(seen(req))}\n\n`);
      await gate(name).promise;
      res.write('id: 2\ndata: two\n\n');
      // Left open, as an event stream is, until the client goes away.
    });
    app.get('/write/:name', async (req, res) => {
      const name = req.params.name;
      res.type('text/plain');
      res.write('part 1\n');
      await gate(name).promise;
      res.write('part 2\n');
      res.end('part 3\n');
    });
    app.post('/release/:name', (req, res) => {
      gate(req.params.name).resolve();
      res.send('released');
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    proxy = await startPlain({ target: (server.address() as net.AddressInfo).port });
    if (chromiumAvailable) pinned = await launchPinned();
  });

  afterAll(async () => {
    await pinned?.close();
    await proxy?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  const release = async (name: string) =>
    expect((await request(`${proxy.origin}/release/${name}`, { ca: proxy.ca, method: 'POST' })).body).toBe('released');

  test.each(['http/1.1', 'h2'] as const)(
    "Server-Sent Events over %s: each event as it is sent, and closing the stream closes the app's response",
    async (protocol) => {
      const name = `sse-${protocol === 'h2' ? 'h2' : 'h1'}`;
      const stream = openStream(`${proxy.origin}/events/${name}`, { ca: proxy.ca, protocol, headers: { accept: 'text/event-stream' } });
      try {
        const head = await stream.head;
        expect(head.status).toBe(200);
        expect(head.headers['content-type']).toBe('text/event-stream');
        expect(head.headers['cache-control']).toBe('no-cache');
        expect(head.headers['content-encoding']).toBeUndefined();
        const host = new URL(proxy.origin).host;
        expect(await stream.until('\n\n')).toBe(`data: ${JSON.stringify({ secure: true, protocol: 'https', host, ip: '127.0.0.1' })}\n\n`);
        await release(name);
        expect(await stream.until('data: two\n\n')).toBe(
          `data: ${JSON.stringify({ secure: true, protocol: 'https', host, ip: '127.0.0.1' })}\n\nid: 2\ndata: two\n\n`,
        );
      } finally {
        stream.close();
      }
      // The app learns the client left (an event stream that leaks would never close).
      await closedOf(name).promise;
    },
  );

  test.each(['http/1.1', 'h2'] as const)('res.write() parts over %s arrive one by one, then the end', async (protocol) => {
    const name = `write-${protocol === 'h2' ? 'h2' : 'h1'}`;
    const stream = openStream(`${proxy.origin}/write/${name}`, { ca: proxy.ca, protocol });
    try {
      const head = await stream.head;
      expect(head.status).toBe(200);
      expect(head.headers['content-type']).toBe('text/plain; charset=utf-8');
      if (protocol === 'http/1.1') expect(head.headers['transfer-encoding']).toBe('chunked');
      expect(await stream.until('part 1\n')).toBe('part 1\n');
      await release(name);
      expect(await stream.done).toBe('part 1\npart 2\npart 3\n');
    } finally {
      stream.close();
    }
  });

  test.skipIf(!chromiumAvailable)(
    "an EventSource in Chromium gets each event as it is sent, with its id; close() closes the app's response",
    async () => {
      const { origin, ca } = await pinned!.startDevHttps({ target: (server.address() as net.AddressInfo).port });
      const context = await pinned!.browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${origin}/`);
        expect(await page.title()).toBe('express app');
        const first = await page.evaluate(
          () =>
            new Promise<string>((resolve, reject) => {
              const source = new EventSource('/events/browser');
              (window as unknown as { source: EventSource }).source = source;
              source.onmessage = (e) => resolve(e.data);
              source.onerror = () => reject(new Error('EventSource error'));
            }),
        );
        // Chromium reaches localhost over ::1 or 127.0.0.1; either is the client address Express must see.
        expect(JSON.parse(first)).toEqual({
          secure: true,
          protocol: 'https',
          host: new URL(origin).host,
          ip: expect.stringMatching(/^(127\.0\.0\.1|::1)$/),
        });
        const second = page.evaluate(
          () =>
            new Promise<{ data: string; id: string }>((resolve) => {
              const source = (window as unknown as { source: EventSource }).source;
              source.onmessage = (e) => {
                source.close();
                resolve({ data: e.data, id: e.lastEventId });
              };
            }),
        );
        expect((await request(`${origin}/release/browser`, { ca, method: 'POST' })).body).toBe('released');
        expect(await second).toEqual({ data: 'two', id: '2' });
        await closedOf('browser').promise;
      } finally {
        await context.close();
      }
    },
  );
});
