// Windows and macOS paths on any machine, with the platform injected: how the app command after
// `--` is started and stopped (fake spawn and taskkill recording exact argv; cross-spawn's own
// Windows translation with the platform faked in a child Node), and the file-mode checks that
// mean nothing on Windows (it reports 0666 for any writable file; NTFS ACLs decide).
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, test } from 'vitest';
import { ensureCA, readCA } from '../src/certs/ca.js';
import { ensureCertificate, writeFileAtomic } from '../src/certs/cert.js';
import { startApp, type StartAppOptions } from '../src/cli/child.js';
import { loadCurrentCertificate } from '../src/certs/current-cert.js';
import { captureLogger, runCleanups, tempDir, withUmask } from './helpers.js';

afterEach(runCleanups);

const PID = 4242;
const TASKKILL = 'D:\\Win\\System32\\taskkill.exe';

interface Call {
  file: string;
  args: string[];
  options: SpawnOptions;
}

/** A child process that exits when `exit` is called, with the streams startApp reads. */
function fakeChild(): ChildProcess & { exitWith(code: number | null, signal?: NodeJS.Signals | null): void } {
  const child = Object.assign(new EventEmitter(), {
    pid: PID,
    stdout: new PassThrough(),
    stderr: new PassThrough(),
    exitWith(code: number | null, signal: NodeJS.Signals | null = null) {
      child.emit('exit', code, signal);
    },
  });
  return child as unknown as ChildProcess & { exitWith(code: number | null, signal?: NodeJS.Signals | null): void };
}

/**
 * startApp with everything recorded: the app's spawn, taskkill's spawn, process-group signals.
 * `onTaskkill` / `onSignal` decide what the fake app does when asked to stop.
 */
function startRecorded(
  platform: NodeJS.Platform,
  command: string[],
  env: NodeJS.ProcessEnv,
  react: { onTaskkill?: (args: string[]) => void; onSignal?: (signal: NodeJS.Signals) => void } = {},
) {
  const app = fakeChild();
  const spawns: Call[] = [];
  const tools: Call[] = [];
  const signals: Array<[number, NodeJS.Signals]> = [];
  const logger = captureLogger();
  const options: StartAppOptions = {
    platform,
    spawn: (file, args, options) => {
      spawns.push({ file, args, options });
      return app;
    },
    spawnTool: (file, args, options) => {
      tools.push({ file, args, options });
      queueMicrotask(() => react.onTaskkill?.(args));
      return new EventEmitter() as ChildProcess;
    },
    kill: (pid, signal) => {
      signals.push([pid, signal]);
      queueMicrotask(() => react.onSignal?.(signal));
    },
  };
  const handle = startApp(command, env, logger, options);
  return { app, handle, spawns, tools, signals, logger };
}

const ENV = {
  PATH: 'C:\\node;C:\\Windows',
  SystemRoot: 'D:\\Win',
  PORT: '8000',
  DEV_HTTPS_PASSPHRASE: 'secret',
  DEV_HTTPS_JAVA_STOREPASS: 'secret',
  DEV_HTTPS_LOG: 'text',
};
const APP_ENV = { PATH: 'C:\\node;C:\\Windows', SystemRoot: 'D:\\Win', PORT: '8000', DEV_HTTPS_LOG: 'text' };
const taskkill = (...args: string[]): Call => ({
  file: TASKKILL,
  args: ['/pid', String(PID), ...args],
  options: { stdio: 'ignore', windowsHide: true },
});

describe('the app command on Windows', () => {
  test.each([
    ['npm run dev', ['npm', 'run', 'dev']],
    ['npx vite', ['npx', 'vite']],
    ['a path with spaces and & is one argument', ['node', 'C:\\Program Files\\A&B\\app.js', '--name', 'a b&c']],
  ])('%s: spawned as given, without detached (the app keeps the console, so Ctrl-C reaches it), secrets left out', (_label, command) => {
    const { spawns, tools, signals } = startRecorded('win32', command, ENV);
    expect(spawns).toEqual([{ file: command[0], args: command.slice(1), options: { env: APP_ENV, stdio: ['inherit', 'pipe', 'pipe'] } }]);
    expect(tools).toEqual([]);
    expect(signals).toEqual([]);
  });

  test('stop(): taskkill /T, then /T /F after the grace period; no POSIX signal', async () => {
    const r = startRecorded('win32', ['npm', 'run', 'dev'], ENV, { onTaskkill: (args) => args.includes('/F') && r.app.exitWith(1) });
    await r.handle.stop(20);
    expect(r.tools).toEqual([taskkill('/T'), taskkill('/T', '/F')]);
    expect(r.signals).toEqual([]);
    expect(await r.handle.exited).toEqual({ code: 1, signal: null });
  });

  test('stop(): an app that exits when asked gets no /F', async () => {
    const r = startRecorded('win32', ['npm', 'run', 'dev'], ENV, { onTaskkill: () => r.app.exitWith(0) });
    await r.handle.stop(60_000);
    expect(r.tools).toEqual([taskkill('/T')]);
  });

  test('kill(): taskkill /T /F at once', () => {
    const r = startRecorded('win32', ['npm', 'run', 'dev'], ENV);
    r.handle.kill();
    expect(r.tools).toEqual([taskkill('/T', '/F')]);
  });

  test('once the command has exited, no taskkill: Windows may have given its pid to another process', async () => {
    const r = startRecorded('win32', ['npm', 'run', 'dev'], ENV);
    r.app.exitWith(0);
    await r.handle.exited;
    await r.handle.stop(10);
    r.handle.kill();
    expect(r.tools).toEqual([]);
  });

  test('taskkill comes from C:\\Windows\\System32 when SystemRoot is not set', () => {
    const r = startRecorded('win32', ['npm', 'run', 'dev'], { PATH: 'C:\\node' });
    r.handle.kill();
    expect(r.tools.map((c) => c.file)).toEqual(['C:\\Windows\\System32\\taskkill.exe']);
  });

  test('a command cross-spawn cannot find (its ENOENT): "command not found", exit 127', async () => {
    const r = startRecorded('win32', ['dev-https-no-such-command'], ENV);
    r.app.emit('error', Object.assign(new Error('spawn dev-https-no-such-command ENOENT'), { code: 'ENOENT' }));
    expect(await r.handle.exited).toEqual({ code: 127, signal: null });
    expect(r.handle.failedToStart).toBe(true);
    expect(r.logger.lines).toEqual(['error: cannot run dev-https-no-such-command: command not found']);
  });
});

describe.each(['linux', 'darwin'] as const)('the app command on %s (unchanged)', (platform) => {
  test('detached (its own process group); stop(): SIGTERM to the group, SIGKILL after the grace period', async () => {
    const r = startRecorded(platform, ['npm', 'run', 'dev'], ENV, {
      onSignal: (signal) => signal === 'SIGKILL' && r.app.exitWith(null, 'SIGKILL'),
    });
    expect(r.spawns).toEqual([
      { file: 'npm', args: ['run', 'dev'], options: { env: APP_ENV, stdio: ['inherit', 'pipe', 'pipe'], detached: true } },
    ]);
    await r.handle.stop(20);
    expect(r.signals).toEqual([
      [-PID, 'SIGTERM'],
      [-PID, 'SIGKILL'],
    ]);
    expect(r.tools).toEqual([]);
  });

  test('the group is signalled even when the command itself has exited (what it left in the background)', async () => {
    const r = startRecorded(platform, ['sh', '-c', 'sleep 100 & exit 3'], ENV);
    r.app.exitWith(3);
    await r.handle.exited;
    await r.handle.stop(10);
    r.handle.kill();
    expect(r.signals).toEqual([
      [-PID, 'SIGTERM'],
      [-PID, 'SIGKILL'],
    ]);
  });
});

// cross-spawn decides by process.platform when it is loaded: a child Node says win32 before
// requiring it, and records what it passes to child_process.spawn. Files on the fake PATH are
// found by PATHEXT, as on Windows.
describe('cross-spawn on win32 (what reaches child_process.spawn)', () => {
  const PROBE = String.raw`
    Object.defineProperty(process, 'platform', { value: 'win32' });
    const cp = require('node:child_process');
    const { EventEmitter } = require('node:events');
    const calls = [];
    let last;
    cp.spawn = (command, args, options) => {
      calls.push({ command, args, verbatim: options.windowsVerbatimArguments === true });
      return (last = new EventEmitter());
    };
    const crossSpawn = require(process.argv[1]);
    const [file, args, PATH] = JSON.parse(process.argv[2]);
    crossSpawn(file, args, { env: { PATH }, stdio: ['inherit', 'pipe', 'pipe'] });
    let error = null;
    last.on('error', (err) => (error = err.code));
    last.emit('exit', 1, null);
    process.stdout.write(JSON.stringify({ calls, error }));`;

  async function probe(file: string, args: string[]): Promise<unknown> {
    const dir = await tempDir();
    const bin = path.join(dir, 'bin');
    const shims = path.join(dir, 'node_modules', '.bin');
    await fs.mkdir(bin);
    await fs.mkdir(shims, { recursive: true });
    for (const f of [path.join(bin, 'npm.cmd'), path.join(bin, 'npx.cmd'), path.join(bin, 'node.exe'), path.join(shims, 'vite.cmd')])
      await fs.writeFile(f, '');
    const crossSpawn = createRequire(import.meta.url).resolve('cross-spawn');
    const out = execFileSync(process.execPath, ['-e', PROBE, crossSpawn, JSON.stringify([file, args, `${shims};${bin}`])], {
      env: { PATHEXT: '.exe;.cmd', comspec: 'C:\\Windows\\system32\\cmd.exe' },
      cwd: dir,
    });
    return JSON.parse(out.toString());
  }

  const CMD = 'C:\\Windows\\system32\\cmd.exe';
  test.each<[string, string, string[], unknown]>([
    [
      'npm run dev: npm.cmd through cmd.exe, each argument quoted',
      'npm',
      ['run', 'dev'],
      { command: CMD, args: ['/d', '/s', '/c', '"npm ^"run^" ^"dev^""'], verbatim: true },
    ],
    [
      'npx vite with a path with spaces and &: one argument, its metacharacters escaped',
      'npx',
      ['vite', 'C:\\My Apps\\a&b'],
      { command: CMD, args: ['/d', '/s', '/c', '"npx ^"vite^" ^"C:\\My^ Apps\\a^&b^""'], verbatim: true },
    ],
    [
      'a node_modules/.bin shim: escaped twice (the shim runs cmd.exe again)',
      'vite',
      ['--host', 'a&b'],
      { command: CMD, args: ['/d', '/s', '/c', '"vite ^^^"--host^^^" ^^^"a^^^&b^^^""'], verbatim: true },
    ],
    [
      'an .exe: no shell, argv as given',
      'node',
      ['C:\\Program Files\\A&B\\app.js'],
      { command: 'node', args: ['C:\\Program Files\\A&B\\app.js'], verbatim: false },
    ],
  ])('%s', async (_label, file, args, call) => {
    expect(await probe(file, args)).toEqual({ calls: [call], error: null });
  });

  test('a command not found: cmd.exe exits 1 and cross-spawn reports ENOENT (so: "command not found")', async () => {
    expect(await probe('dev-https-no-such-command', ['--flag'])).toEqual({
      calls: [{ command: CMD, args: ['/d', '/s', '/c', '"dev-https-no-such-command ^"--flag^""'], verbatim: true }],
      error: 'ENOENT',
    });
  });
});

const NAMES = ['localhost', '127.0.0.1', '::1'];

async function mode(file: string): Promise<number> {
  return (await fs.stat(file)).mode & 0o777;
}

describe('file modes: checked on linux and darwin, not on win32', () => {
  test.each(['linux', 'darwin'] as const)(
    '%s: a loose CA root, a loose CA key, a readable leaf key are refused or warned about',
    async (platform) => {
      const root = await tempDir();
      const ca = await ensureCA(root, captureLogger(), 'serve', platform);
      await fs.chmod(root, 0o777);
      await expect(readCA(root, { platform })).rejects.toMatchObject({
        code: 'E_CA',
        message: `Refusing the dev-https CA in ${root}: ${root} is group- or world-writable (mode 777), so others could sign for your browsers with it; run chmod go-w ${root}`,
      });
      await fs.chmod(root, 0o700);
      await fs.chmod(ca.keyPath, 0o666);
      await expect(ensureCA(root, captureLogger(), 'serve', platform)).rejects.toMatchObject({
        code: 'E_CA',
        message: `Refusing the dev-https CA in ${root}: ${ca.keyPath} is readable or writable by other users (mode 666), so others could sign for your browsers with it; run chmod 600 ${ca.keyPath}`,
      });
      const empty = await tempDir();
      await fs.chmod(empty, 0o777);
      await expect(ensureCA(empty, captureLogger(), 'serve', platform)).rejects.toMatchObject({
        code: 'E_CA',
        message: `Refusing to create the dev-https CA in ${empty}: it is group- or world-writable (mode 777): run chmod go-w ${empty}`,
      });

      const dir = await tempDir();
      const leaf = await ensureCertificate(dir, NAMES, captureLogger(), ca, platform);
      await fs.chmod(leaf.keyPath, 0o666);
      const logger = captureLogger();
      await ensureCertificate(dir, NAMES, logger, ca, platform);
      expect(logger.lines).toEqual([
        `warn: ${leaf.keyPath} is readable by other users (mode 666): run chmod 600 ${leaf.keyPath}`,
        `info: Using the cached certificate ${leaf.certPath}`,
      ]);
    },
  );

  test('win32: the same CA root, CA key and leaf key (modes as Windows reports them) are used without a word, modes unchanged', async () => {
    const root = await tempDir();
    const ca = await ensureCA(root, captureLogger(), 'serve', 'win32');
    await fs.chmod(root, 0o777);
    await fs.chmod(ca.keyPath, 0o666);
    expect((await readCA(root, { platform: 'win32' }))?.fingerprint256).toBe(ca.fingerprint256);
    expect((await ensureCA(root, captureLogger(), 'serve', 'win32')).fingerprint256).toBe(ca.fingerprint256);
    const empty = await tempDir();
    await fs.chmod(empty, 0o777);
    expect((await ensureCA(empty, captureLogger(), 'serve', 'win32')).generated).toBe(true);

    const dir = await tempDir();
    const leaf = await ensureCertificate(dir, NAMES, captureLogger(), ca, 'win32');
    await fs.chmod(leaf.keyPath, 0o666);
    const logger = captureLogger();
    await ensureCertificate(dir, NAMES, logger, ca, 'win32');
    expect(logger.lines).toEqual([`info: Using the cached certificate ${leaf.certPath}`]);
    expect([await mode(root), await mode(ca.keyPath), await mode(empty), await mode(leaf.keyPath)]).toEqual([0o777, 0o666, 0o777, 0o666]);
  });

  test('win32: a CA root and key owned by another user are used (uids mean nothing there); linux refuses them', async () => {
    // Needs root to give a file away; CI runs as root.
    if (process.getuid?.() !== 0) return;
    const root = await tempDir();
    const ca = await ensureCA(root, captureLogger(), 'serve', 'linux');
    await fs.chown(ca.keyPath, 4242, 4242);
    await fs.chown(root, 4242, 4242);
    expect((await readCA(root, { platform: 'win32' }))?.fingerprint256).toBe(ca.fingerprint256);
    await expect(readCA(root, { platform: 'linux' })).rejects.toMatchObject({
      code: 'E_CA',
      message: `Refusing the dev-https CA in ${root}: ${root} is owned by another user (uid 4242), so others could sign for your browsers with it; use a CA root of your own (DEV_HTTPS_CAROOT)`,
    });
  });

  test('the start path (loadCurrentCertificate) on win32: no mode warning for a key Windows reports as 0666', async () => {
    const caRoot = await tempDir();
    const certDir = await tempDir();
    const opts = { certDir, caRoot, certNames: NAMES, userCert: null } as const;
    const first = await loadCurrentCertificate({ ...opts, logger: captureLogger(), platform: 'win32' });
    await first.close();
    const keyPath = path.join(certDir, 'key.pem');
    await fs.chmod(keyPath, 0o666);
    await fs.chmod(caRoot, 0o777);
    const logger = captureLogger();
    const again = await loadCurrentCertificate({ ...opts, logger, platform: 'win32' });
    await again.close();
    expect(logger.lines).toEqual([`info: Using the cached certificate ${path.join(certDir, 'cert.pem')}`]);
    const linux = captureLogger();
    await expect(loadCurrentCertificate({ ...opts, logger: linux, platform: 'linux' })).rejects.toMatchObject({ code: 'E_CA' });
  });

  test('a public file is chmod-ed past the umask on linux; on win32 (where chmod only sets read-only) it is not', async () => {
    const dir = await tempDir();
    await withUmask(0o077, async () => {
      await writeFileAtomic(path.join(dir, 'linux.pem'), 'x', 0o644, 'linux');
      await writeFileAtomic(path.join(dir, 'win32.pem'), 'x', 0o644, 'win32');
    });
    expect([await mode(path.join(dir, 'linux.pem')), await mode(path.join(dir, 'win32.pem'))]).toEqual([0o644, 0o600]);
  });
});
