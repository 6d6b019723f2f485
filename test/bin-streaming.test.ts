// Large bodies through the real bin, as users run it: 64 MiB each way, intact.
import { afterEach, expect, test } from 'vitest';
import {
  bigBodyHandler,
  downloadSha256,
  MiB,
  payloadSha256,
  run,
  runCleanups,
  startUpstream,
  tempDir,
  testCa,
  uploadBig,
  waitFor,
} from './helpers.js';

afterEach(runCleanups);

test('the bin streams 64 MiB each way intact', { timeout: 60_000 }, async () => {
  const app = await startUpstream(bigBodyHandler());
  const r = run(['--target', String(app.port), '--port', '0'], { cwd: await tempDir() });
  const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)/);
  const ca = await testCa();

  expect(await downloadSha256(`${url}download`, ca)).toEqual({ status: 200, bytes: 64 * MiB, sha256: payloadSha256() });
  const reply = await uploadBig(`${url}upload`, ca);
  expect(JSON.parse(reply.body)).toEqual({ bytes: 64 * MiB, sha256: payloadSha256(), te: 'chunked' });

  r.child.kill('SIGTERM');
  expect(await r.exited).toEqual({ code: 0, signal: null });
});
