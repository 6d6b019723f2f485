// The CLI's memory limits: a young generation that stays small, and large bodies collected as
// they stream. Each case runs in its own process, since the limits are process-wide.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, expect, test } from 'vitest';
import { bigBodyHandler, downloadSha256, MiB, payloadSha256, run, runCleanups, startUpstream, tempDir, testCa, uploadBig, waitFor } from '../helpers.js';

afterEach(runCleanups);

const PROBE = path.resolve(import.meta.dirname, '../fixtures/heap-probe.mjs');
const MEMORY = path.resolve(import.meta.dirname, '../../dist/cli/memory.js');

/** Runs `body` as an ES module after importing dist/memory.js as `m`, with the heap probe loaded. */
async function probe(body: string): Promise<{ newSpace: number; forcedMinor: number; gc: string }> {
  const source = `import * as m from ${JSON.stringify(MEMORY)};\nimport { PassThrough } from 'node:stream';\n${body}`;
  const { stderr } = await promisify(execFile)(process.execPath, ['--import', PROBE, '--input-type=module', '-e', source]);
  return JSON.parse(/^heap-probe (.*)$/m.exec(stderr)![1]!);
}

// Objects that survive scavenges make V8 grow the young generation, up to 2 x 16 MiB.
const SURVIVORS = 'let keep = []; for (let i = 0; i < 2e6; i++) { keep.push({ i }); if (keep.length > 2e5) keep = []; }';

test('limitHeapGrowth keeps the young generation at 2 MiB or less where V8 grows it to 32 MiB, and exposes no global gc', async () => {
  expect(await probe(SURVIVORS)).toEqual({ newSpace: 32 * MiB, forcedMinor: 0, gc: 'undefined' });
  // 1 or 2 MiB: V8 may shrink it again when allocation slows down.
  const limited = await probe(`m.limitHeapGrowth();\n${SURVIVORS}`);
  expect(limited).toEqual({ newSpace: expect.any(Number), forcedMinor: 0, gc: 'undefined' });
  expect(limited.newSpace).toBeLessThanOrEqual(2 * MiB);
});

/** Streams `mib` MiB in 64 KiB chunks through a PassThrough with the given declared length. */
const stream = (mib: number, contentLength: string | undefined) => `{
const body = new PassThrough();
m.collectWhileStreaming(body, ${JSON.stringify(contentLength)});
body.resume();
for (let i = 0; i < ${mib * 16}; i++) body.write(Buffer.alloc(64 * 1024));
body.end();
await new Promise((resolve) => body.on('end', resolve));
}`;

test.each([
  ['16 MiB of undeclared length', stream(16, undefined), 16],
  ['16 MiB declared', stream(16, String(16 * MiB)), 16],
  ['twice 512 KiB declared: small bodies are not counted', stream(0.5, String(MiB / 2)) + stream(0.5, String(MiB / 2)), 0],
  ['twice 1.5 MiB: the count goes on across bodies', stream(1.5, String(1.5 * MiB)) + stream(1.5, String(1.5 * MiB)), 3],
])('after limitHeapGrowth, %s gets one young collection per MiB', async (_name, body, collections) => {
  expect((await probe(`m.limitHeapGrowth();\n${body}`)).forcedMinor).toBe(collections);
});

test('without limitHeapGrowth (the API in a host process), bodies are not collected', async () => {
  expect((await probe(stream(16, undefined))).forcedMinor).toBe(0);
});

test('the bin streams 64 MiB each way intact, collecting once per MiB', { timeout: 60_000 }, async () => {
  const app = await startUpstream(bigBodyHandler());
  const r = run(['--target', String(app.port), '--port', '0'], { cwd: await tempDir(), env: { NODE_OPTIONS: `--import=${PROBE}` } });
  const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)/);
  const ca = await testCa();

  expect(await downloadSha256(`${url}download`, ca)).toEqual({ status: 200, bytes: 64 * MiB, sha256: payloadSha256() });
  const reply = await uploadBig(`${url}upload`, ca);
  expect(JSON.parse(reply.body)).toEqual({ bytes: 64 * MiB, sha256: payloadSha256(), te: 'chunked' });

  r.child.kill('SIGTERM');
  expect(await r.exited).toEqual({ code: 0, signal: null });
  // Every MiB each way was followed by a young collection, so limitHeapGrowth ran (once started).
  expect(JSON.parse(/^heap-probe (.*)$/m.exec(r.stderr())![1]!)).toMatchObject({ forcedMinor: 128, gc: 'undefined' });
});
