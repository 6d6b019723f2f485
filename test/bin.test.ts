// The real bin as a user runs it: a child process, real signals, real exit codes.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { helpText } from '../src/cli/help.js';
import { BIN, echoHandler, onCleanup, request, run, runCleanups, startUpstream, tempDir, waitFor, type Run, testCa } from './helpers.js';

const VERSION = JSON.parse(await fs.readFile(path.resolve(import.meta.dirname, '../package.json'), 'utf8')).version;

afterEach(runCleanups);

test('with no --target it serves the demo app over HTTPS, caches the certificate in ./certs, and exits 0 on SIGTERM', async () => {
  const cwd = await tempDir();
  const r = run(['--port', '0'], { cwd });
  const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)  →  the built-in demo app/);
  const certDir = path.join(cwd, 'certs');
  const cert = await testCa();

  const reply = await request(url + 'json', { ca: cert });
  expect(reply.status).toBe(200);
  expect(JSON.parse(reply.body).scheme).toBe('https');

  const leaf = await fs.readFile(path.join(certDir, 'cert.pem'), 'utf8');
  // Leaves are signed by the CA's intermediate (signerCA.pem), which cert.pem carries after the leaf.
  const signer = await fs.readFile(path.join(process.env.DEV_HTTPS_CAROOT!, 'signerCA.pem'), 'utf8');
  expect(new X509Certificate(leaf).checkIssued(new X509Certificate(signer))).toBe(true);
  expect(leaf.endsWith(signer)).toBe(true);
  expect(r.stdout()).toContain(`SHA-256 ${new X509Certificate(leaf).fingerprint256}\n`);
  expect(r.stdout()).toContain(`Cert:    ${path.join(certDir, 'cert.pem')} (new, signed by the dev-https CA, expires `);
  expect(r.stdout()).toContain(`CA:      ${path.join(process.env.DEV_HTTPS_CAROOT!, 'rootCA.pem')}\n`);
  expect((await fs.stat(certDir)).mode & 0o777).toBe(0o700);
  expect((await fs.stat(path.join(certDir, 'key.pem'))).mode & 0o777).toBe(0o600);
  expect(await fs.readFile(path.join(certDir, '.gitignore'), 'utf8')).toBe('*\n');
  expect(r.stdout()).not.toContain('PRIVATE KEY');

  r.child.kill('SIGTERM');
  expect(await r.exited).toEqual({ code: 0, signal: null });
  expect(r.stderr()).toBe('');
});

test('proxies --target with X-Forwarded-Proto on HTTPS and HTTP, reuses the cached certificate, and exits 0 on SIGINT', async () => {
  const cwd = await tempDir();
  const app = await startUpstream(echoHandler());
  const first = run(['--target', String(app.port), '--port', '0'], { cwd });
  await waitFor(first, /➜  Local:   https:/);
  first.child.kill('SIGINT');
  expect(await first.exited).toEqual({ code: 0, signal: null });

  const r = run(['-t', `localhost:${app.port}`, '-p', '0', '--http-port', '0'], { cwd });
  const [, httpsUrl] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)  →  http:\/\/localhost:\d+\n/);
  const [, httpUrl] = await waitFor(r, /➜  HTTP:    (http:\/\/localhost:\d+\/)  →  http:\/\/localhost:\d+\n/);
  expect(r.stdout()).toContain('(cached, signed by the dev-https CA, expires ');
  const cert = await testCa();

  const overHttps = JSON.parse((await request(httpsUrl + 'p?q=1', { ca: cert })).body);
  expect(overHttps.url).toBe('/p?q=1');
  expect(overHttps.headers['x-forwarded-proto']).toBe('https');
  const overHttp = JSON.parse((await request(httpUrl!, { headers: { 'x-forwarded-proto': 'https' } })).body);
  expect(overHttp.headers['x-forwarded-proto']).toBe('http');

  r.child.kill('SIGINT');
  expect(await r.exited).toEqual({ code: 0, signal: null });
});

test.each([
  [['--target', 'foo'], 'error: Invalid --target "foo": expected a port, host:port or http://host:port\n'],
  [['--port', 'abc'], 'error: Invalid --port "abc": expected a port number from 1 to 65535 (0 picks a free port)\n'],
  [['--frobnicate'], 'error: Unknown option --frobnicate: run dev-https --help to see the options\n'],
  [['--prot', '8443'], 'error: Unknown option --prot: did you mean --port? (dev-https --help lists the options)\n'],
  [['chek', '--target', '8000'], 'error: Unknown command "chek": did you mean dev-https check?\n'],
  [['--redirect-http'], 'error: Invalid --redirect-http: it needs --http-port <n>, the HTTP listener that redirects\n'],
  [
    ['--cert-dir', '/proc/dev-https-test'],
    'error: Cannot use --cert-dir "/proc/dev-https-test": it cannot be created there; pass a directory you can write to\n',
  ],
])('bad input %j: one line naming the flag and value, exit 1, no stack trace', async (args, message) => {
  const r = run(args, { cwd: await tempDir() });
  expect((await r.exited).code).toBe(1);
  expect(r.stderr()).toBe(message);
  expect(r.stdout()).toBe('');
});

test('a port in use is one line naming --port, exit 1', async () => {
  const cwd = await tempDir();
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  onCleanup(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as net.AddressInfo).port;
  const r = run(['--port', String(port), '--quiet'], { cwd });
  expect((await r.exited).code).toBe(1);
  expect(r.stderr()).toBe(
    `error: Cannot listen on --port ${port}: the port is already in use on 127.0.0.1; stop what uses it or choose another, e.g. --port ${port + 1}\n`,
  );
});

test('--version and --help', async () => {
  const cwd = await tempDir();
  const v = run(['--version'], { cwd });
  expect((await v.exited).code).toBe(0);
  expect(v.stdout()).toBe(`${VERSION}\n`);
  const h = run(['--help'], { cwd });
  expect((await h.exited).code).toBe(0);
  for (const flag of [
    '--target',
    '--port',
    '--http-port',
    '--redirect-http',
    '--host',
    '--cert-dir',
    '--name',
    '--open',
    '--quiet',
    '--help',
    '--version',
  ]) {
    expect(h.stdout()).toContain(flag);
  }
  // Into a pipe, not a terminal: wrapped to 80 columns.
  expect(h.stdout()).toBe(helpText('run', 80));
  expect(
    Math.max(
      ...h
        .stdout()
        .split('\n')
        .map((line) => line.length),
    ),
  ).toBeLessThanOrEqual(80);
});

test('--open hands the HTTPS URL to the browser; --quiet prints nothing', async () => {
  const cwd = await tempDir();
  const opened = path.join(cwd, 'opened.txt');
  const browser = path.join(cwd, 'browser.sh');
  await fs.writeFile(browser, `#!/bin/sh\necho "$@" > "${opened}"\n`, { mode: 0o755 });
  const app = await startUpstream(echoHandler());
  const r = run(['--target', String(app.port), '--port', '0', '--open', '--quiet'], { cwd, env: { BROWSER: browser } });
  const url = await new Promise<string>((resolve) => {
    const poll = setInterval(() => {
      fs.readFile(opened, 'utf8').then(
        (text) => {
          clearInterval(poll);
          resolve(text.trim());
        },
        () => undefined,
      );
    }, 50);
    onCleanup(() => clearInterval(poll));
  });
  expect(url).toMatch(/^https:\/\/localhost:\d+\/$/);
  const cert = await testCa();
  expect((await request(url, { ca: cert })).status).toBe(200);
  r.child.kill('SIGTERM');
  expect((await r.exited).code).toBe(0);
  expect(r.stdout()).toBe('');
  expect(r.stderr()).toBe('');
});

test('--open without any browser only warns and keeps serving', async () => {
  const cwd = await tempDir();
  const r = run(['--port', '0', '--open'], { cwd, env: { BROWSER: path.join(cwd, 'no-such-browser'), DISPLAY: '', WAYLAND_DISPLAY: '' } });
  const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)/);
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (r.stderr().includes('could not open a browser')) {
        clearInterval(poll);
        resolve();
      }
    }, 50);
  });
  expect(r.stderr()).toMatch(new RegExp(`^warning: could not open a browser \\(.+\\): open ${url!.replace(/[/.]/g, '\\$&')} yourself\n$`));
  const cert = await testCa();
  expect((await request(url + 'json', { ca: cert })).status).toBe(200);
  r.child.kill('SIGTERM');
  expect((await r.exited).code).toBe(0);
});

test('--host 0.0.0.0 warns that the app is reachable from the network', async () => {
  const cwd = await tempDir();
  const r = run(['--port', '0', '--host', '0.0.0.0'], { cwd });
  const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)/);
  // A public address of this machine (192.0.2.2 here) is left out of the leaf with its own warning: the CA signs only local and private ones.
  expect(r.stderr().replace(/^warning: The certificate leaves out .*\n/m, '')).toBe(
    'warning: --host 0.0.0.0: dev-https and your app are now reachable from the network, not only from this machine\n',
  );
  const cert = await testCa();
  expect((await request(url + 'json', { ca: cert })).status).toBe(200);
  r.child.kill('SIGTERM');
  expect((await r.exited).code).toBe(0);
});

// As root (CI) these run the bin as `nobody`, as a developer's shell would; otherwise as the user.
const AS_NOBODY = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : undefined;
// `nobody` cannot read the run's CA root: it gets one of its own, as a second user of the machine would.
const runUnprivileged = (args: string[], cwd: string): Run =>
  run(args, { cwd, wrapper: AS_NOBODY, env: { DEV_HTTPS_CAROOT: path.join(cwd, 'caroot') } });

// `nobody` must be able to read the checkout (not so under a 0700 home directory).
const canRunUnprivileged =
  !AS_NOBODY || spawnSync(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), process.execPath, BIN, '--version'], { stdio: 'ignore' }).status === 0;

test.skipIf(!canRunUnprivileged)('a port below 1024 without privileges: one line naming --port and a port that works, exit 1', async () => {
  const cwd = await tempDir();
  await fs.chmod(cwd, 0o777);
  const r = runUnprivileged(['--port', '443', '--quiet'], cwd);
  expect((await r.exited).code).toBe(1);
  expect(r.stderr()).toBe(
    'error: Cannot listen on --port 443: permission denied (ports below 1024 need root); use a port from 1024 up, e.g. --port 8443\n',
  );
});

test.skipIf(!canRunUnprivileged)(
  'an unwritable --cert-dir: one line naming the flag and the directory, exit 1, nothing created',
  async () => {
    const cwd = await tempDir();
    await fs.chmod(cwd, 0o777);
    const locked = path.join(cwd, 'locked');
    await fs.mkdir(locked, { mode: 0o755 });
    const r = runUnprivileged(['--port', '0', '--cert-dir', path.join(locked, 'certs')], cwd);
    expect((await r.exited).code).toBe(1);
    expect(r.stderr()).toBe(
      `error: Cannot use --cert-dir "${path.join(locked, 'certs')}": permission denied; pass a directory you can write to\n`,
    );
    expect(await fs.readdir(locked)).toEqual([]);
  },
);

test('when whoever reads its output goes away (a closed pipe), it stops with exit 0 instead of spinning', async () => {
  const r = run(['--port', '0'], { cwd: await tempDir() });
  const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)/);
  r.child.stdout!.destroy();
  r.child.stderr!.destroy();
  // The request line it logs cannot be written any more.
  await request(url!, { ca: await testCa() }).catch(() => undefined);
  expect(await r.exited).toEqual({ code: 0, signal: null });
});
