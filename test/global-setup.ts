// One temporary CA root for the whole run: tests never touch the user's real dev-https CA.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export default async function setup(): Promise<() => void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-https-test-caroot-'));
  // Workers (and the bins they start) inherit it.
  process.env.DEV_HTTPS_CAROOT = root;
  const { ensureCA } = await import('../src/certs/ca.js');
  await ensureCA(root, { info: () => undefined, warn: () => undefined, error: () => undefined });
  return () => fs.rmSync(root, { recursive: true, force: true });
}
