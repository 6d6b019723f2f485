// `dev-https --target <port> -- <app command>` through the real bin: the app's output, waiting for
// it, its environment, its process group on Ctrl-C, its exit code; and --open once the app answers.
// How a command line (a config's "run") is started, on Windows too, with the platform injected.
import { execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, test } from 'vitest';
import { startApp } from '../../src/cli/child.js';
import { formatShellCommand } from '../../src/cli/shell-quote.js';
import {
  captureLogger,
  freePort,
  poll,
  processGone,
  reapAfter,
  request,
  run,
  runCleanups,
  sleep,
  startUpstream,
  tempDir,
  waitFor,
  testCa,
} from '../helpers.js';

const NODE = process.execPath;

afterEach(runCleanups);

/** Reads a pid a process wrote to `file`, once it is complete. */
async function pidIn(file: string): Promise<number> {
  const text = await poll(() =>
    fs.readFile(file, 'utf8').then(
      (t) => (/^\d+\n$/.test(t) ? t : null),
      () => null,
    ),
  );
  if (!text) throw new Error(`no pid in ${file}`);
  const pid = Number(text);
  reapAfter(pid);
  return pid;
}

/** Node code of a plain-HTTP app answering `body` on the port `port` evaluates to (PORT by default). */
const appScript = (body: string, port = 'process.env.PORT') =>
  `require('http').createServer((req, res) => res.end(${JSON.stringify(body)})).listen(Number(${port}), '127.0.0.1', () => console.log('listening'));`;

const GENERATED = /^Generating a new certificate: no certificate in .* yet\n/;

describe('the app command after --', () => {
  test('its output is prefixed [app] on the same stream; the banner waits until it accepts connections', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const go = path.join(cwd, 'go');
    const script = `
      const fs = require('fs');
      console.log('hello from stdout');
      console.error('hello from stderr');
      const timer = setInterval(() => {
        if (!fs.existsSync(${JSON.stringify(go)})) return;
        clearInterval(timer);
        ${appScript('the app')}
      }, 20);`;
    const r = run(['--target', String(port), '--port', '0', '--', NODE, '-e', script], { cwd });
    await waitFor(r, /\[app\] hello from stdout\n/);
    await waitFor(r, new RegExp(`waiting for http://localhost:${port}…\n`));
    // The app does not listen yet: no banner, however many times dev-https has polled it.
    await sleep(600);
    expect(r.stdout()).not.toContain('Local:');

    await fs.writeFile(go, '');
    const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)  →  (\S+)\n/);
    expect(r.stdout().indexOf('waiting for')).toBeLessThan(r.stdout().indexOf('Local:'));
    const cert = await testCa();
    expect(await request(url!, { ca: cert })).toMatchObject({ status: 200, body: 'the app' });

    await waitFor(r, /\[app\] listening\n/);
    const lines = r.stdout().split('\n');
    expect(lines.filter((l) => l.includes('[app]'))).toEqual(['[app] hello from stdout', '[app] listening']);
    expect(r.stderr()).toBe('[app] hello from stderr\n');

    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stdout()).not.toContain('the app command');
    expect(r.stderr()).toBe('[app] hello from stderr\n');
  });

  test.each<[string, (port: number) => string, NodeJS.ProcessEnv, (port: number) => string | null]>([
    ['a bare port sets PORT to it', (p) => String(p), {}, (p) => String(p)],
    ['a bare port keeps a PORT already set', (p) => String(p), { PORT: '1234' }, () => '1234'],
    ['host:port does not set PORT', (p) => `localhost:${p}`, {}, () => null],
    ['http://host:port does not set PORT', (p) => `http://127.0.0.1:${p}`, {}, () => null],
  ])('environment: NODE_EXTRA_CA_CERTS is the CA; %s', async (_name, target, env, expectedPort) => {
    const cwd = await tempDir();
    const port = await freePort();
    const script = `console.log('env ' + JSON.stringify({ PORT: process.env.PORT ?? null, CA: process.env.NODE_EXTRA_CA_CERTS ?? null })); ${appScript('ok', 'process.argv[1]')}`;
    const r = run(['--target', target(port), '--port', '0', '--', NODE, '-e', script, String(port)], { cwd, env });
    await waitFor(r, /➜  Local:   /);
    const [, json] = await waitFor(r, /\[app\] env (.*)\n/);
    expect(JSON.parse(json!)).toEqual({ PORT: expectedPort(port), CA: path.join(process.env.DEV_HTTPS_CAROOT!, 'rootCA.pem') });
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });

  test("NODE_EXTRA_CA_CERTS lets a Node client in the app trust dev-https's certificate", async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const httpsPort = await freePort();
    // Retries only while dev-https is not listening; a TLS failure is printed, not retried.
    const script = `
      ${appScript('through dev-https')}
      const https = require('https');
      const attempt = () => https.get('https://localhost:${httpsPort}/', (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => console.log('[ok ' + res.statusCode + ' ' + body + ']'));
      }).on('error', (err) => (err.code === 'ECONNREFUSED' ? setTimeout(attempt, 50) : console.log('[fail ' + (err.code || err.message) + ']')));
      attempt();`;
    const r = run(['--target', String(port), '--port', String(httpsPort), '--', NODE, '-e', script], { cwd });
    const [line] = await waitFor(r, /\[app\] \[(ok|fail) .*\]\n/);
    expect(line).toBe('[app] [ok 200 through dev-https]\n');
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });

  test.each(['SIGTERM', 'SIGINT'] as const)(
    '%s stops the whole process group of the app command, then dev-https exits 0',
    async (signal) => {
      const cwd = await tempDir();
      const port = await freePort();
      const pids = { sh: path.join(cwd, 'sh.pid'), app: path.join(cwd, 'app.pid'), sleeper: path.join(cwd, 'sleeper.pid') };
      const appJs = path.join(cwd, 'app.cjs');
      const sleeperJs = path.join(cwd, 'sleeper.cjs');
      await fs.writeFile(
        appJs,
        `require('fs').writeFileSync(${JSON.stringify(pids.app)}, process.pid + '\\n'); ${appScript('grandchild app')}`,
      );
      await fs.writeFile(
        sleeperJs,
        `require('fs').writeFileSync(${JSON.stringify(pids.sleeper)}, process.pid + '\\n'); setInterval(() => {}, 60000);`,
      );
      const sh = `echo $$ > "${pids.sh}"; "$0" "${appJs}" & "$0" "${sleeperJs}"; wait`;
      const r = run(['--target', String(port), '--port', '0', '--', 'sh', '-c', sh, NODE], { cwd });
      const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)/);
      const shPid = await pidIn(pids.sh);
      const appPid = await pidIn(pids.app);
      const sleeperPid = await pidIn(pids.sleeper);
      const cert = await testCa();
      expect((await request(url!, { ca: cert })).body).toBe('grandchild app');
      expect([processGone(shPid), processGone(appPid), processGone(sleeperPid)]).toEqual([false, false, false]);

      r.child.kill(signal);
      expect(await r.exited).toEqual({ code: 0, signal: null });
      expect(await poll(() => processGone(shPid) && processGone(appPid) && processGone(sleeperPid), 100)).toBe(true);
      expect(r.stderr()).toBe('');
    },
  );

  test('SIGTERM while waiting for the app: the app is stopped, no banner, exit 0', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const pidFile = path.join(cwd, 'app.pid');
    const script = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, process.pid + '\\n'); setInterval(() => {}, 60000);`;
    const r = run(['--target', String(port), '--port', '0', '--', NODE, '-e', script], { cwd });
    await waitFor(r, /waiting for /);
    const pid = await pidIn(pidFile);
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(await poll(() => processGone(pid), 100)).toBe(true);
    expect(r.stdout().replace(GENERATED, '')).toBe(`waiting for http://localhost:${port}…\n`);
    expect(r.stderr()).toBe('');
  });

  test('an app that ignores SIGTERM is killed after the grace period; dev-https still exits 0', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const pidFile = path.join(cwd, 'app.pid');
    const script = `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); require('fs').writeFileSync(${JSON.stringify(pidFile)}, process.pid + '\\n'); ${appScript('stubborn')}`;
    const r = run(['--target', String(port), '--port', '0', '--', NODE, '-e', script], { cwd });
    await waitFor(r, /➜  Local:   /);
    const pid = await pidIn(pidFile);
    r.child.kill('SIGTERM');
    await waitFor(r, /\[app\] ignoring SIGTERM\n/);
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(await poll(() => processGone(pid), 100)).toBe(true);
  });

  // A second Ctrl-C exits at once (130) and must not leave the app running: it is in its own
  // process group, so the terminal's SIGINT never reaches it; dev-https kills the group.
  test('a second SIGINT exits 130 at once and does not leave the app running', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const pidFile = path.join(cwd, 'app.pid');
    const script = `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); require('fs').writeFileSync(${JSON.stringify(pidFile)}, process.pid + '\\n'); ${appScript('stubborn')}`;
    const r = run(['--target', String(port), '--port', '0', '--', NODE, '-e', script], { cwd });
    await waitFor(r, /➜  Local:   /);
    const pid = await pidIn(pidFile);
    r.child.kill('SIGINT');
    await waitFor(r, /\[app\] ignoring SIGTERM\n/);
    r.child.kill('SIGINT');
    expect(await r.exited).toEqual({ code: 130, signal: null });
    expect(await poll(() => processGone(pid), 100)).toBe(true);
  });

  // When the app command exits by itself, what it started in the background must not keep
  // running and hold the port: the group is signalled even when its leader has exited.
  test('when the app command exits by itself, what it started in the background is stopped too', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const pidFile = path.join(cwd, 'bg.pid');
    const bgJs = path.join(cwd, 'bg.cjs');
    // Prints nothing: once dev-https is gone, a write to its closed pipe would end it (EPIPE).
    await fs.writeFile(bgJs, `require('fs').writeFileSync(${JSON.stringify(pidFile)}, process.pid + '\\n'); setInterval(() => {}, 60000);`);
    const sh = `"$0" "${bgJs}" & while [ ! -s "${pidFile}" ]; do sleep 0.05; done; exit 3`;
    const r = run(['--target', String(port), '--port', '0', '--', 'sh', '-c', sh, NODE], { cwd });
    expect(await r.exited).toEqual({ code: 3, signal: null });
    const pid = await pidIn(pidFile);
    expect(await poll(() => processGone(pid), 100)).toBe(true);
  });

  test.each([3, 1, 42])('the app exits by itself with code %i: an error line, dev-https exits with that code', async (code) => {
    const cwd = await tempDir();
    const port = await freePort();
    const r = run(['--target', String(port), '--port', '0', '--', NODE, '-e', `process.exit(${code})`], { cwd });
    expect(await r.exited).toEqual({ code, signal: null });
    expect(r.stderr()).toBe(
      `error: the app command (${NODE} -e 'process.exit(${code})') exited with code ${code} before http://localhost:${port} accepted connections: stopping dev-https\n`,
    );
    expect(r.stdout()).toMatch(GENERATED);
    expect(r.stdout().replace(GENERATED, '')).toBe(`waiting for http://localhost:${port}…\n`);
  });

  test('the app exits by itself with code 0 after the banner: an info line, exit 0', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const stop = path.join(cwd, 'stop');
    // Serves until the test creates the stop file, then exits 0.
    const script = `require('http').createServer((req, res) => res.end('bye')).listen(${port}, '127.0.0.1'); setInterval(() => require('fs').existsSync(${JSON.stringify(stop)}) && process.exit(0), 20);`;
    const r = run(['--target', String(port), '--port', '0', '--', NODE, '-e', script], { cwd });
    const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)/);
    const cert = await testCa();
    expect((await request(url!, { ca: cert })).body).toBe('bye');
    await fs.writeFile(stop, '');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(
      r.stdout().endsWith(`\nthe app command (${formatShellCommand([NODE, '-e', script])}) exited with code 0: stopping dev-https\n`),
    ).toBe(true);
    expect(r.stderr()).toBe('');
  });

  test('the app is ended by a signal: an error line naming it, exit 1', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const r = run(['--target', String(port), '--port', '0', '--', NODE, '-e', `process.kill(process.pid, 'SIGKILL')`], { cwd });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe(
      `error: the app command (${NODE} -e 'process.kill(process.pid, '\\''SIGKILL'\\'')') was ended by SIGKILL before http://localhost:${port} accepted connections: stopping dev-https\n`,
    );
  });

  test('a command that does not exist: "command not found", then the exit line, exit 127', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const r = run(['--target', String(port), '--port', '0', '--', 'dev-https-no-such-command', '--flag'], { cwd });
    expect(await r.exited).toEqual({ code: 127, signal: null });
    expect(r.stderr()).toBe(
      'error: cannot run dev-https-no-such-command: command not found\n' +
        'error: the app command (dev-https-no-such-command --flag) could not be started: stopping dev-https\n',
    );
    expect(r.stdout().replace(GENERATED, '')).toBe(`waiting for http://localhost:${port}…\n`);
  });

  test('with -q, an app command that exits 0 before its target accepts connections: one error line that says so, exit 1', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const r = run(['-q', '--target', String(port), '--port', '0', '--', NODE, '-e', 'process.exit(0)'], { cwd });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stdout()).toBe('');
    expect(r.stderr()).toBe(
      `error: the app command (${NODE} -e 'process.exit(0)') exited with code 0 before http://localhost:${port} accepted connections: stopping dev-https (the command after -- must keep running while the app serves)\n`,
    );
  });

  test('DEV_HTTPS_PASSPHRASE and DEV_HTTPS_JAVA_STOREPASS do not reach the app command; the other DEV_HTTPS_* do', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    // An encrypted key, so that DEV_HTTPS_PASSPHRASE is the one dev-https itself needs.
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-keyout',
        'a-key.pem',
        '-passout',
        'pass:pass-7d1f',
        '-out',
        'a.pem',
        '-days',
        '30',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { cwd, stdio: 'ignore' },
    );
    const script = `
      const own = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('DEV_HTTPS_')));
      const all = JSON.stringify(process.env);
      console.log('env ' + JSON.stringify({ own, secrets: all.includes('pass-7d1f') || all.includes('store-5e2b') }));
      ${appScript('ok')}`;
    const env = { DEV_HTTPS_PASSPHRASE: 'pass-7d1f', DEV_HTTPS_JAVA_STOREPASS: 'store-5e2b', DEV_HTTPS_LOG: 'text' };
    const r = run(['--cert', 'a.pem', '--key', 'a-key.pem', '--target', String(port), '--port', '0', '--', NODE, '-e', script], {
      cwd,
      env,
    });
    const [, json] = await waitFor(r, /\[app\] env (.*)\n/);
    expect(JSON.parse(json!)).toEqual({ own: { DEV_HTTPS_CAROOT: process.env.DEV_HTTPS_CAROOT, DEV_HTTPS_LOG: 'text' }, secrets: false });
    const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)/);
    expect((await request(url!, { ca: await fs.readFile(path.join(cwd, 'a.pem'), 'utf8') })).body).toBe('ok');
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });

  test('-- with no command: one line, exit 1', async () => {
    const r = run(['--target', '8000', '--'], { cwd: await tempDir() });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe(
      'error: Invalid --: it must be followed by the command that starts your app, e.g. -- python manage.py runserver 8000\n',
    );
    expect(r.stdout()).toBe('');
  });
});

describe('--open', () => {
  test('waits until the target accepts connections, then opens the HTTPS URL', async () => {
    const cwd = await tempDir();
    const opened = path.join(cwd, 'opened.txt');
    const browser = path.join(cwd, 'browser.sh');
    await fs.writeFile(browser, `#!/bin/sh\necho "$@" > "${opened}"\n`, { mode: 0o755 });
    const port = await freePort();
    const r = run(['--target', String(port), '--port', '0', '--open'], { cwd, env: { BROWSER: browser } });
    const [, url] = await waitFor(r, /➜  Local:   (https:\/\/localhost:\d+\/)/);
    // Several 200 ms polls of the target have failed by now: still no browser.
    await sleep(600);
    await expect(fs.access(opened)).rejects.toMatchObject({ code: 'ENOENT' });

    await startUpstream((_req, res) => res.end('up'), '127.0.0.1', port);
    const text = await poll(() => fs.readFile(opened, 'utf8').catch(() => null));
    expect(text).toBe(`${url}\n`);
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stderr()).toBe('');
  });
});

// A config's "run" string is a command line for the shell. Here the platform, spawn and taskkill
// are injected, so the Windows path is checked on any machine with the exact argv.
describe('a command line (a config\'s "run" string)', () => {
  const LINE = 'cd api && python manage.py runserver "8000"';
  const ENV = {
    PATH: 'C:\\node',
    SystemRoot: 'D:\\Win',
    ComSpec: 'D:\\Win\\System32\\cmd.exe',
    DEV_HTTPS_PASSPHRASE: 'secret',
    DEV_HTTPS_JAVA_STOREPASS: 'secret',
  };
  const APP_ENV = { PATH: 'C:\\node', SystemRoot: 'D:\\Win', ComSpec: 'D:\\Win\\System32\\cmd.exe' };

  interface Call {
    file: string;
    args: string[];
    options: SpawnOptions;
  }

  function startRecorded(platform: NodeJS.Platform, command: string | string[], env: NodeJS.ProcessEnv, route?: string) {
    const child = Object.assign(new EventEmitter(), { pid: 4242, stdout: new PassThrough(), stderr: new PassThrough() });
    const spawns: Call[] = [];
    const tools: Call[] = [];
    const lines: string[] = [];
    const logger = { ...captureLogger(), app: (line: string, stream: string, r?: string) => lines.push(`${r ?? '-'} ${stream} ${line}`) };
    const handle = startApp(command, env, logger, {
      platform,
      ...(route === undefined ? {} : { route }),
      spawn: (file, args, options) => {
        spawns.push({ file, args, options });
        return child as unknown as ChildProcess;
      },
      spawnTool: (file, args, options) => {
        tools.push({ file, args, options });
        return (file.endsWith('taskkill.exe') ? new EventEmitter() : child) as unknown as ChildProcess;
      },
      kill: () => undefined,
    });
    return { child, handle, spawns, tools, lines };
  }

  test('Windows: %ComSpec% /d /s /c "<line>", verbatim, not through cross-spawn, not detached, secrets left out', () => {
    const r = startRecorded('win32', LINE, ENV);
    expect(r.spawns).toEqual([]);
    expect(r.tools).toEqual([
      {
        file: 'D:\\Win\\System32\\cmd.exe',
        args: ['/d', '/s', '/c', `"${LINE}"`],
        options: { env: APP_ENV, stdio: ['inherit', 'pipe', 'pipe'], windowsVerbatimArguments: true },
      },
    ]);
    r.handle.kill();
    expect(r.tools[1]).toEqual({
      file: 'D:\\Win\\System32\\taskkill.exe',
      args: ['/pid', '4242', '/T', '/F'],
      options: { stdio: 'ignore', windowsHide: true },
    });
  });

  test.each<[string, NodeJS.ProcessEnv, string]>([
    ['ComSpec in another spelling', { SystemRoot: 'D:\\Win', COMSPEC: 'E:\\cmd\\cmd.exe' }, 'E:\\cmd\\cmd.exe'],
    [
      'a relative ComSpec (the project could hold it): System32',
      { SystemRoot: 'D:\\Win', ComSpec: 'cmd.exe' },
      'D:\\Win\\System32\\cmd.exe',
    ],
    ['no ComSpec, no SystemRoot', {}, 'C:\\Windows\\System32\\cmd.exe'],
  ])('Windows, %s', (_name, env, cmd) => {
    expect(startRecorded('win32', 'npx vite', env).tools.map((c) => c.file)).toEqual([cmd]);
  });

  test.each(['linux', 'darwin'] as const)('%s: /bin/sh -c "<line>" in its own process group', (platform) => {
    const r = startRecorded(platform, LINE, ENV);
    expect(r.spawns).toEqual([]);
    expect(r.tools).toEqual([
      { file: '/bin/sh', args: ['-c', LINE], options: { env: APP_ENV, stdio: ['inherit', 'pipe', 'pipe'], detached: true } },
    ]);
  });

  test('a list still goes through cross-spawn, without a shell', () => {
    const r = startRecorded('win32', ['npx', 'vite'], ENV);
    expect(r.tools).toEqual([]);
    expect(r.spawns).toEqual([{ file: 'npx', args: ['vite'], options: { env: APP_ENV, stdio: ['inherit', 'pipe', 'pipe'] } }]);
  });

  test("each output line reaches the logger with the app's route, stderr too", async () => {
    const r = startRecorded('linux', 'node api.js', ENV, '/api');
    r.child.stdout.write('one\ntwo\n');
    r.child.stderr.write('oops\n');
    await poll(() => r.lines.length === 3);
    expect(r.lines.sort()).toEqual(['/api stderr oops', '/api stdout one', '/api stdout two']);
    const app = startRecorded('linux', 'npx vite', ENV);
    app.child.stdout.write('ready\n');
    await poll(() => app.lines.length === 1);
    expect(app.lines).toEqual(['- stdout ready']);
  });
});
