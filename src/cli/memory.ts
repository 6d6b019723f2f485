// Keeps dev-https' resident memory small: a heap that grows little, and the read buffers of
// large bodies collected as they pass instead of piling up until V8 notices them.
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Readable } from 'node:stream';

/**
 * V8 collects young read buffers only once 32 MiB of them exist, so a large body leaves that
 * much garbage behind in malloc's heap, which keeps it. A young collection is cheap next to that.
 */
const COLLECT_EVERY_BYTES = 1024 * 1024;

/** A body this large, or of undeclared length, is collected as it passes. */
const LARGE_BODY_BYTES = 1024 * 1024;

type Collect = (options: { type: 'minor' }) => void;

let collect: Collect | undefined;
let bytesSinceCollection = 0;

/**
 * Caps the heap for this whole process, so only the CLI calls it: the young generation keeps its
 * initial size and the old one grows by 10% over what survives, not up to 4x, and large bodies
 * are collected every MiB. bench/ measures the peak RSS it saves at the same requests/s (README
 * "Performance" has the numbers).
 */
export function limitHeapGrowth(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  v8.setFlagsFromString('--heap-growing-percent=10');
  // The gc function without --expose-gc on the command line: a context made while the flag is on
  // gets one; the flag goes back off so no other context does.
  const exposed = typeof globalThis.gc === 'function';
  if (!exposed) v8.setFlagsFromString('--expose-gc');
  collect = vm.runInNewContext('gc') as Collect;
  if (!exposed) v8.setFlagsFromString('--no-expose-gc');
}

/**
 * Counts a body's bytes toward the next young collection (after limitHeapGrowth), when it is
 * 1 MiB or more or its length is not declared.
 */
export function collectWhileStreaming(body: Readable, contentLength: string | undefined): void {
  if (!collect || (contentLength !== undefined && Number(contentLength) < LARGE_BODY_BYTES)) return;
  const run = collect;
  body.on('data', (chunk: Buffer) => {
    bytesSinceCollection += chunk.length;
    if (bytesSinceCollection < COLLECT_EVERY_BYTES) return;
    bytesSinceCollection = 0;
    run({ type: 'minor' });
  });
}
