// `dev-https --run` through the real bin: the apps a dev-https.config.json names ("run" next to
// "target" and in each route) started together, each reached through its route, their output
// prefixed, Ctrl-C or one app's exit stopping them all; without --run, none of them starts.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { formatShellCommand } from '../../src/cli/shell-quote.js';
import { freePort, poll, processGone, reapAfter, request, run, runCleanups, sleep, tempDir, testCa, waitFor } from '../helpers.js';

const NODE = process.execPath;

afterEach(runCleanups);

/**
 * Node code of an app named `name` on `port`: it answers `<name> <url>`, prints its pid once it
 * listens and a line on stderr, and exits with code 3 when asked for `/<...>/exit`. One line: a
 * config's commands have no control characters.
 */
function appScript(name: string, port: number): string {
  return [
    `require('http').createServer((req, res) => {`,
    `  if (req.url.endsWith('/exit')) { res.end('bye'); setTimeout(() => process.exit(3), 50); return; }`,
    `  res.end(${JSON.stringify(name)} + ' ' + req.url);`,
    `}).listen(${port}, '127.0.0.1', () => { console.log('pid ' + process.pid); console.error(${JSON.stringify(`${name} on stderr`)}); });`,
  ].join(' ');
}

interface Project {
  cwd: string;
  ports: { front: number; api: number; auth: number };
  commands: { front: string; api: string[]; auth: string };
}

/**
 * A Vite + Django stand-in: the --target app's "run" is a command line for the shell (it prints
 * `shell 3`, which only a shell computes), /api's a list run without one, /auth's a command line.
 */
async function project(): Promise<Project> {
  const cwd = await tempDir();
  const ports = { front: await freePort(), api: await freePort(), auth: await freePort() };
  const commands = {
    front: `echo "shell $((1 + 2))" && ${formatShellCommand([NODE, '-e', appScript('front', ports.front)])}`,
    api: [NODE, '-e', appScript('api', ports.api)],
    auth: formatShellCommand([NODE, '-e', appScript('auth', ports.auth)]),
  };
  const config = {
    target: ports.front,
    run: commands.front,
    routes: {
      '/api': { target: ports.api, run: commands.api },
      '/auth': { target: `127.0.0.1:${ports.auth}`, run: commands.auth },
    },
  };
  await fs.writeFile(path.join(cwd, 'dev-https.config.json'), JSON.stringify(config, null, 2));
  return { cwd, ports, commands };
}

const GENERATED = /^Generating a new certificate: no certificate in .* yet\n/;
const LOCAL = /➜  Local:   (https:\/\/localhost:\d+\/)  →  (\S+)\n/;

/** The pids the three apps printed, as `{ '[/api]': 123, ... }`, once all three have. */
async function pidsOf(r: ReturnType<typeof run>): Promise<Record<string, number>> {
  const found = await poll(() => {
    const pids = Object.fromEntries([...r.stdout().matchAll(/^(\[\S+\]) pid (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
    return Object.keys(pids).length === 3 ? pids : null;
  });
  if (!found) throw new Error(`no pids in ${r.stdout()}`);
  reapAfter(...Object.values(found));
  return found;
}

describe('dev-https --run', () => {
  test('starts every app, each reached by its route, output prefixed by it; SIGINT stops them all and exits 0', async () => {
    const p = await project();
    const r = run(['--run', '--port', '0'], { cwd: p.cwd });
    const [, url, target] = await waitFor(r, LOCAL);
    expect(target).toBe(`http://localhost:${p.ports.front}`);
    const pids = await pidsOf(r);
    expect(Object.keys(pids).sort()).toEqual(['[/api]', '[/auth]', '[app]']);

    const ca = await testCa();
    expect((await request(`${url}api/users?x=1`, { ca })).body).toBe('api /api/users?x=1');
    expect((await request(`${url}auth`, { ca })).body).toBe('auth /auth');
    expect((await request(`${url}apiary`, { ca })).body).toBe('front /apiary');

    // Each command is shown before it starts, routes first; then each target is waited for.
    const head = r.stdout().replace(GENERATED, '').split('\n').slice(0, 3);
    expect(head).toEqual([
      `starting /api: ${formatShellCommand(p.commands.api)}`,
      `starting /auth: ${p.commands.auth}`,
      `starting the --target app: ${p.commands.front}`,
    ]);
    const out = r.stdout().split('\n');
    for (const line of [
      `waiting for http://localhost:${p.ports.api}…`,
      `waiting for http://127.0.0.1:${p.ports.auth}…`,
      `waiting for http://localhost:${p.ports.front}…`,
      '[app] shell 3',
    ])
      expect(out).toContain(line);
    expect(out.filter((l) => l.startsWith('['))).toHaveLength(4);
    expect(r.stderr().split('\n').sort()).toEqual(['', '[/api] api on stderr', '[/auth] auth on stderr', '[app] front on stderr']);

    r.child.kill('SIGINT');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    // dev-https waited for each command; what a shell started dies with its process group.
    expect(await poll(() => Object.values(pids).every(processGone), 100)).toBe(true);
    expect(r.stdout()).not.toContain('the app command');
  });

  test('one app exits with code 3: dev-https names it, stops the others and exits 3', async () => {
    const p = await project();
    const r = run(['--run', '--port', '0'], { cwd: p.cwd });
    const [, url] = await waitFor(r, LOCAL);
    const pids = await pidsOf(r);
    expect((await request(`${url}auth/exit`, { ca: await testCa() })).body).toBe('bye');
    expect(await r.exited).toEqual({ code: 3, signal: null });
    expect(
      r
        .stderr()
        .split('\n')
        .filter((l) => l.startsWith('error:')),
    ).toEqual([`error: the app command for /auth (${p.commands.auth}) exited with code 3: stopping the other apps and dev-https`]);
    expect(await poll(() => processGone(pids['[/api]']!) && processGone(pids['[app]']!), 100)).toBe(true);
  });

  test('--log json: each app line carries its route', async () => {
    const p = await project();
    const r = run(['--run', '--port', '0', '--log', 'json'], { cwd: p.cwd });
    await waitFor(r, /"message":"  dev-https /);
    const appLines = () =>
      r
        .stdout()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: string; message: string; route?: string })
        .filter((l) => l.level === 'app')
        .map(({ message, route }) => [route ?? null, message.replace(/\d+/, 'N')]);
    expect(await poll(() => appLines().length === 4)).toBe(true);
    expect(appLines().sort()).toEqual(
      [
        ['/api', 'pid N'],
        ['/auth', 'pid N'],
        [null, 'pid N'],
        [null, 'shell N'],
      ].sort(),
    );
    reapAfter(
      ...r
        .stdout()
        .match(/pid \d+/g)!
        .map((m) => Number(m.slice(4))),
    );
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });

  test('the command after -- replaces the top-level "run"', async () => {
    const p = await project();
    const script = `console.log('from the command line'); ${appScript('cli front', p.ports.front)}`;
    const r = run(['--run', '--port', '0', '--', NODE, '-e', script], { cwd: p.cwd });
    const [, url] = await waitFor(r, LOCAL);
    await waitFor(r, /\[app\] pid \d+\n/);
    expect((await request(url!, { ca: await testCa() })).body).toBe('cli front /');
    expect(r.stdout()).toContain(`starting the --target app: ${formatShellCommand([NODE, '-e', script])}\n`);
    expect(r.stdout()).toContain('[app] from the command line\n');
    expect(r.stdout()).not.toContain('shell 3');
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });

  test('an app that exits 0 before its target accepts connections: an error saying so, exit 1', async () => {
    const cwd = await tempDir();
    const port = await freePort();
    await fs.writeFile(path.join(cwd, 'dev-https.config.json'), JSON.stringify({ routes: { '/api': { target: port, run: 'true' } } }));
    const r = run(['--run', '--port', '0', '-q'], { cwd });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe(
      `error: the app command (true) exited with code 0 before http://localhost:${port} accepted connections: stopping dev-https (a "run" command must keep running while its app serves)\n`,
    );
    expect(r.stdout()).toBe('');
  });

  test("the apps get dev-https' environment but its secrets", async () => {
    const cwd = await tempDir();
    const port = await freePort();
    const script = `console.log('env ' + JSON.stringify(Object.keys(process.env).filter((n) => n.startsWith('DEV_HTTPS_')).sort())); ${appScript('api', port)}`;
    await fs.writeFile(
      path.join(cwd, 'dev-https.config.json'),
      JSON.stringify({ routes: { '/api': { target: port, run: [NODE, '-e', script] } } }),
    );
    const r = run(['--port', '0'], { cwd, env: { DEV_HTTPS_RUN: '1', DEV_HTTPS_JAVA_STOREPASS: 'store-5e2b' } });
    const [, json] = await waitFor(r, /\[\/api\] env (.*)\n/);
    expect(JSON.parse(json!)).toEqual(['DEV_HTTPS_CAROOT', 'DEV_HTTPS_RUN']);
    await waitFor(r, /➜  Local:   /);
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
  });
});

describe('without --run', () => {
  test('one warning naming the routes and the flag; no command runs', async () => {
    const cwd = await tempDir();
    const [front, api] = [await freePort(), await freePort()];
    const marker = (name: string) => path.join(cwd, `${name}.ran`);
    // Each would leave a marker file, then serve (so that with --run, below, dev-https keeps running).
    const touch = (name: string, port: number) => [
      NODE,
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(marker(name))}, ''); require('http').createServer((q, s) => s.end()).listen(${port}, '127.0.0.1');`,
    ];
    const config = {
      target: front,
      run: formatShellCommand(touch('front', front)),
      routes: { '/api': { target: api, run: touch('api', api) } },
    };
    await fs.writeFile(path.join(cwd, 'dev-https.config.json'), JSON.stringify(config));
    const r = run(['--port', '0'], { cwd });
    await waitFor(r, LOCAL);
    // Started apps would have been started before the banner; a moment more changes nothing.
    await sleep(300);
    expect(r.stderr()).toBe(
      'warning: dev-https.config.json names app commands for /api and the --target app: start them with dev-https --run, or start them yourself\n',
    );
    expect(r.stdout()).not.toMatch(/starting|waiting for/);
    await expect(fs.access(marker('front'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.access(marker('api'))).rejects.toMatchObject({ code: 'ENOENT' });
    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    // The markers work: the same config with --run leaves both.
    const again = run(['--port', '0', '--run'], { cwd });
    await waitFor(again, LOCAL);
    expect((await fs.readdir(cwd)).filter((f) => f.endsWith('.ran')).sort()).toEqual(['api.ran', 'front.ran']);
    again.child.kill('SIGTERM');
    expect(await again.exited).toEqual({ code: 0, signal: null });
  });
});

describe('bad app commands: one line, exit 1, nothing starts', () => {
  test.each<[string, unknown, string[], string]>([
    [
      'an empty route command',
      { routes: { '/api': { target: 8000, run: '' } } },
      ['--run'],
      'error: Invalid "routes"."/api".run in dev-https.config.json: expected a command: a string the shell runs, or a list of the program and its arguments, got ""\n',
    ],
    [
      'a top-level "run" of the wrong type',
      { target: 5173, run: { cmd: 'vite' } },
      [],
      'error: Invalid "run" in dev-https.config.json: expected a command: a string the shell runs, or a list of the program and its arguments, got {"cmd":"vite"}\n',
    ],
    [
      'a route command with a bad target: the proxy names the key, before anything starts',
      { routes: { '/api': { target: 'foo', run: 'touch ran' } } },
      ['--run'],
      'error: Invalid "route" in dev-https.config.json "/api=foo": the target is a port, host:port or http://host:port\n',
    ],
    [
      '--run with no command anywhere',
      { target: 5173 },
      ['--run'],
      'error: Invalid --run: dev-https.config.json names no app commands ("run" next to "target" or in a route); add one, or give the command after --\n',
    ],
  ])('%s', async (_name, config, args, stderr) => {
    const cwd = await tempDir();
    await fs.writeFile(path.join(cwd, 'dev-https.config.json'), JSON.stringify(config));
    const r = run([...args, '--port', '0'], { cwd });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe(stderr);
    expect(r.stdout()).toBe('');
    expect(await fs.readdir(cwd)).toEqual(['dev-https.config.json']);
  });
});
