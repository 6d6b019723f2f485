// The package as npm publishes it: packed, installed into an empty project from the tarball,
// then used the two ways a user does (the bin, and `import { startDevHttps } from 'dev-https'`).
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { onCleanup, request, run as runBin, runCleanups, tempDir, testCa, waitFor } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const VERSION: string = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')).version;
const run = promisify(execFile);

// Under `npm test`, npm exports the running project's location and lifecycle; the npm run here
// must act on the temp project alone, and the bin must see no DEV_HTTPS_* settings of the shell
// (but the run's CA root: test/global-setup.ts).
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !/^(npm_config_(local_)?prefix|npm_package_|npm_lifecycle_|npm_command$|INIT_CWD$|DEV_HTTPS_(?!CAROOT$))/.test(k),
  ),
);
const npm = (args: string[], cwd: string) => run('npm', args, { cwd, env, maxBuffer: 16 * 1024 * 1024 });

let work: string;
let tarball: string;
let project: string;
/** src/*.ts module names when the package was built. */
let modules: string[];

afterEach(runCleanups);

beforeAll(async () => {
  // Not tempDir(): it is removed after each test, and these outlive them.
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'dev-https-package-'));
  const packDir = path.join(work, 'pack');
  project = path.join(work, 'project');
  await fs.mkdir(packDir);
  await fs.mkdir(project);
  // dist/ as `npm test` built it a moment ago: npm's prepack would build it again, removing dist/
  // under the suites that run the bin at the same time (they run in parallel).
  await npm(['pack', '--ignore-scripts', '--pack-destination', packDir], ROOT);
  modules = (await fs.readdir(path.join(ROOT, 'src'), { recursive: true }))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3).split(path.sep).join('/'))
    .sort();
  const packed = await fs.readdir(packDir);
  expect(packed).toEqual([`dev-https-${VERSION}.tgz`]);
  tarball = path.join(packDir, packed[0]!);
  await npm(['init', '-y'], project);
  await npm(['install', '--no-audit', '--no-fund', tarball], project);
}, 180_000);

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

test('the tarball holds the bin, the built code and the README; no sources, tests or certificates', async () => {
  const { stdout } = await run('tar', ['-tzf', tarball]);
  const files = stdout.trim().split('\n').sort();
  expect(files).toContain('package/bin/dev-https.js');
  expect(files).toContain('package/dist/index.js');
  expect(files).toContain('package/dist/index.d.ts');
  expect(files).toContain('package/dist/bin.js');
  expect(files).toContain('package/package.json');
  expect(files).toContain('package/README.md');
  expect(
    files.filter((f) => !/^package\/(bin\/dev-https\.js|dist\/([\w-]+\/)?[\w-]+\.(js|d\.ts)|package\.json|README\.md|LICENSE)$/.test(f)),
  ).toEqual([]);
  expect(files.filter((f) => /\.pem$|^package\/(certs|src|test)\//.test(f))).toEqual([]);
  expect(files).not.toContain('package/dist/bin.d.ts');
  expect(files).toContain('package/LICENSE');
  // dist/ is exactly the build of today's src/: no module left over from a renamed or deleted source.
  const built = files
    .filter((f) => /^package\/dist\/([\w-]+\/)?[\w-]+\.js$/.test(f))
    .map((f) => f.slice('package/dist/'.length, -3))
    .sort();
  expect(built).toEqual(modules);
});

test('the installed bin prints the version', async () => {
  const { stdout, stderr } = await run(path.join(project, 'node_modules/.bin/dev-https'), ['--version'], { cwd: project, env });
  expect(stdout).toBe(`${VERSION}\n`);
  expect(stderr).toBe('');
});

test('the installed bin serves the demo app over HTTPS with a certificate in ./certs, and exits 0 on SIGTERM', async () => {
  // Cleanups run last first: ./certs goes once the bin is stopped.
  onCleanup(() => fs.rm(path.join(project, 'certs'), { recursive: true, force: true }));
  const bin = runBin(['--port', '0'], { cwd: project, installedBin: path.join(project, 'node_modules/.bin/dev-https') });
  // The banner's layout is for people; only the URL line and its arrow are relied on.
  const [, url] = await waitFor(bin, /➜ .*?(https:\/\/localhost:\d+\/)\s+→\s+the built-in demo app/);
  const cert = await testCa();
  const leaf = await fs.readFile(path.join(project, 'certs', 'cert.pem'), 'utf8');
  expect(bin.stdout()).toContain(`dev-https ${VERSION}`);
  expect(bin.stdout()).toContain(`SHA-256 ${new X509Certificate(leaf).fingerprint256}\n`);

  const reply = await request(url + 'json', { ca: cert });
  expect(reply.status).toBe(200);
  expect(JSON.parse(reply.body).scheme).toBe('https');

  bin.child.kill('SIGTERM');
  expect(await bin.exited).toEqual({ code: 0, signal: null });
  expect(bin.stderr()).toBe('');
});

test("a script imports startDevHttps from 'dev-https', serves, and closes so the process exits", async () => {
  const certDir = await tempDir();
  const script = path.join(project, 't.mjs');
  await fs.writeFile(
    script,
    `import https from 'node:https';
import { startDevHttps } from 'dev-https';

const silent = { info() {}, warn() {}, error() {} };
const handle = await startDevHttps({ port: 0, certDir: process.argv[2], logger: silent });
console.log(handle.urls.https);
const body = await new Promise((resolve, reject) => {
  https.get(handle.urls.https + 'json', { ca: handle.certificate.ca.cert, agent: false }, (res) => {
    let text = '';
    res.on('data', (c) => (text += c));
    res.on('end', () => resolve(text));
  }).on('error', reject);
});
console.log(JSON.parse(body).scheme);
await handle.close();
`,
  );
  onCleanup(() => fs.rm(script, { force: true }));
  // The process ends by itself only if close() released every server and socket.
  const { stdout, stderr } = await run(process.execPath, [script, certDir], { cwd: project, env, timeout: 20_000 });
  expect(stdout).toMatch(/^https:\/\/localhost:[1-9]\d*\/\nhttps\n$/);
  expect(stderr).toBe('');
  expect((await fs.readdir(certDir)).sort()).toEqual(['.gitignore', 'cert.pem', 'key.pem']);
});

test("a CommonJS script requires 'dev-https' and gets startDevHttps (require(esm): no top-level await in the index's modules)", async () => {
  const script = path.join(project, 't.cjs');
  await fs.writeFile(
    script,
    `const devHttps = require('dev-https');
console.log(typeof devHttps.startDevHttps, typeof devHttps.resolveOptions, devHttps.DevHttpsError.name);
`,
  );
  onCleanup(() => fs.rm(script, { force: true }));
  const { stdout, stderr } = await run(process.execPath, [script], { cwd: project, env, timeout: 20_000 });
  expect(stdout).toBe('function function DevHttpsError\n');
  // Node 20 still calls require(esm) experimental, once, outside node_modules; nothing else is said.
  expect(stderr.split('\n').filter((line) => line && !/ExperimentalWarning|--trace-warnings/.test(line))).toEqual([]);
});
