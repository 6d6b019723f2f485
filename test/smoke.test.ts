import { afterEach, expect, test } from 'vitest';
import { startDevHttps } from '../src/index.js';
import { captureLogger, echoHandler, request, runCleanups, startUpstream, tempDir } from './helpers.js';

afterEach(runCleanups);

test('smoke', async () => {
  const app = await startUpstream(echoHandler());
  const handle = await startDevHttps({ target: app.port, port: 0, certDir: await tempDir(), logger: captureLogger() });
  const r = await request(handle.urls.https + 'x', { ca: handle.certificate.cert });
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body).headers['x-forwarded-proto']).toBe('https');
  await handle.close();
});
