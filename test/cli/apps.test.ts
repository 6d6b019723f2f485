// Which app commands start (the trust rule: a config's commands only with --run), in which order,
// what each waits for and which PORT it gets; and how their output lines are written.
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { planApps } from '../../src/cli/apps.js';
import { resolveSettings, type Settings } from '../../src/cli/config.js';
import { DevHttpsError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { runCleanups, tempDir } from '../helpers.js';

afterEach(runCleanups);

const VITE_DJANGO = {
  target: 5173,
  run: 'npx vite',
  routes: { '/api': { target: 8000, run: 'python manage.py runserver 8000' }, 'admin.localhost': 8001 },
};

/** planApps for a project with this config (in `file`), these flags, environment and command after `--`. */
async function plan(
  config: unknown,
  flags: Settings = {},
  dash: string[] = [],
  env: NodeJS.ProcessEnv = {},
  file = 'dev-https.config.json',
) {
  const cwd = await tempDir();
  if (config !== undefined)
    await fs.writeFile(path.join(cwd, file), JSON.stringify(file === 'package.json' ? { name: 'x', 'dev-https': config } : config));
  return planApps(resolveSettings(flags, { cwd, env }), dash);
}

function errorOf(fn: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  return fn().then(
    () => {
      throw new Error('expected a DevHttpsError, got a result');
    },
    (err: unknown) => {
      if (!(err instanceof DevHttpsError)) throw err;
      return { code: err.code, message: err.message };
    },
  );
}

describe('without --run nothing of the config file starts: one warning says what and how', () => {
  test.each<[string, unknown, string[], string, string | null]>([
    [
      'a --target app and a route',
      VITE_DJANGO,
      [],
      'dev-https.config.json',
      'dev-https.config.json names app commands for /api and the --target app: start them with dev-https --run, or start them yourself',
    ],
    [
      'one route',
      { routes: { '/api': { target: 8000, run: 'x' } } },
      [],
      'dev-https.config.json',
      'dev-https.config.json names an app command for /api: start it with dev-https --run, or start it yourself',
    ],
    [
      'three, in package.json',
      { target: 5173, run: 'npx vite', routes: { '/api': { target: 8000, run: 'a' }, '/auth': { target: 8002, run: ['b'] } } },
      [],
      'package.json',
      'package.json "dev-https" names app commands for /api, /auth and the --target app: start them with dev-https --run, or start them yourself',
    ],
    [
      'the --target app, replaced by the command after --: the rest',
      VITE_DJANGO,
      ['npx', 'vite', '--port', '5173'],
      'dev-https.config.json',
      'dev-https.config.json names an app command for /api: start it with dev-https --run, or start it yourself',
    ],
    [
      'only the --target app, replaced by the command after --: nothing to say',
      { target: 5173, run: 'npx vite' },
      ['vite'],
      'dev-https.config.json',
      null,
    ],
    ['no commands: nothing to say', { target: 5173 }, [], 'dev-https.config.json', null],
  ])('%s', async (_name, config, dash, file, warning) => {
    const result = await plan(config, {}, dash, {}, file);
    expect(result.warning).toBe(warning);
    expect(result.apps.map((a) => [a.name, a.command, a.fromConfig])).toEqual(dash.length ? [['the --target app', dash, false]] : []);
  });

  test('--no-run over DEV_HTTPS_RUN=1: the same warning, nothing starts', async () => {
    const result = await plan(VITE_DJANGO, { run: false }, [], { DEV_HTTPS_RUN: '1' });
    expect(result.apps).toEqual([]);
    expect(result.warning).toMatch(/^dev-https.config.json names app commands for \/api and the --target app: /);
  });
});

describe('with --run (or DEV_HTTPS_RUN=1)', () => {
  test.each<[string, Settings, NodeJS.ProcessEnv]>([
    ['--run', { run: true }, {}],
    ['DEV_HTTPS_RUN=1', {}, { DEV_HTTPS_RUN: '1' }],
  ])('%s: routes first, each waiting for its own target, PORT from a bare port', async (_name, flags, env) => {
    expect(await plan(VITE_DJANGO, flags, [], env)).toEqual({
      warning: null,
      apps: [
        {
          route: '/api',
          name: '/api',
          command: 'python manage.py runserver 8000',
          fromConfig: true,
          waitFor: ['http://localhost:8000'],
          port: '8000',
        },
        { route: null, name: 'the --target app', command: 'npx vite', fromConfig: true, waitFor: ['http://localhost:5173'], port: '5173' },
      ],
    });
  });

  test('the command after -- replaces the top-level "run"; --target given on the command line is the one waited for', async () => {
    const { apps } = await plan(VITE_DJANGO, { run: true, target: '127.0.0.1:5174' }, ['npx', 'vite', '--port', '5174']);
    expect(apps.map((a) => [a.name, a.command, a.fromConfig, a.waitFor, a.port])).toEqual([
      ['/api', 'python manage.py runserver 8000', true, ['http://localhost:8000'], '8000'],
      ['the --target app', ['npx', 'vite', '--port', '5174'], false, ['http://127.0.0.1:5174'], null],
    ]);
  });

  test('a route app with a host:port target gets no PORT', async () => {
    const { apps } = await plan({ routes: { '/api': { target: 'http://127.0.0.1:8000', run: ['node', 'api.js'] } } }, { run: true });
    expect(apps.map((a) => [a.waitFor, a.port])).toEqual([[['http://127.0.0.1:8000'], null]]);
  });

  test('with "proxies": each proxy\'s --target app is named by its index; the first waits for the proxies with no command of their own', async () => {
    const config = {
      proxies: [
        { port: 8443, target: 5173, run: 'npx vite' },
        { port: 8444, target: 3000 },
        { port: 8445, target: 4000, run: ['node', 'b.js'] },
      ],
    };
    const { apps } = await plan(config, { run: true });
    expect(apps.map((a) => [a.name, a.waitFor])).toEqual([
      ['the --target app of "proxies"[0]', ['http://localhost:5173', 'http://localhost:3000']],
      ['the --target app of "proxies"[2]', ['http://localhost:4000']],
    ]);
  });

  test.each<[string, unknown, string]>([
    [
      'a config file without commands',
      { target: 5173 },
      'Invalid --run: dev-https.config.json names no app commands ("run" next to "target" or in a route); add one, or give the command after --',
    ],
    [
      'no config file',
      undefined,
      'Invalid --run: there is no dev-https.config.json (or "dev-https" in package.json) with app commands to start ("run"); add one, or give the command after --',
    ],
  ])('--run with nothing to start, %s: one line', async (_name, config, message) => {
    expect(await errorOf(() => plan(config, { run: true }))).toEqual({ code: 'E_BAD_OPTION', message });
  });

  test('--run with only the command after --: that command; DEV_HTTPS_RUN=1 with nothing to start: nothing, no error', async () => {
    expect((await plan({ target: 5173 }, { run: true }, ['npx', 'vite'])).apps.map((a) => a.command)).toEqual([['npx', 'vite']]);
    expect(await plan({ target: 5173 }, {}, [], { DEV_HTTPS_RUN: '1' })).toEqual({ apps: [], warning: null });
    expect(await plan(undefined, {}, [], { DEV_HTTPS_RUN: 'true' })).toEqual({ apps: [], warning: null });
  });
});

describe("the apps' output lines", () => {
  function sinks() {
    const out: string[] = [];
    const err: string[] = [];
    const stream = (into: string[]) => ({ write: (c: string) => (into.push(c), true) }) as unknown as NodeJS.WritableStream;
    return { out, err, stdout: stream(out), stderr: stream(err) };
  }

  test('text: prefixed by the route ([app] for the --target app), stderr lines to stderr, dim when colored, control characters escaped', () => {
    const s = sinks();
    const logger = createLogger({ env: {}, color: false, stdout: s.stdout, stderr: s.stderr });
    logger.app!('api up', 'stdout', '/api');
    logger.app!('api warning', 'stderr', '/api');
    logger.app!('front up', 'stdout');
    logger.app!('x', 'stdout', '/a\u001b[2J');
    expect([s.out.join(''), s.err.join('')]).toEqual(['[/api] api up\n[app] front up\n[/a\\x1b[2J] x\n', '[/api] api warning\n']);
    const c = sinks();
    createLogger({ env: {}, color: true, stdout: c.stdout, stderr: c.stderr }).app!('api up', 'stdout', '/api');
    expect(c.out).toEqual(['\u001b[2m[/api]\u001b[0m api up\n']);
  });

  test("json: the line carries the route; the --target app's none, as before", () => {
    const s = sinks();
    const logger = createLogger({ env: {}, format: 'json', stdout: s.stdout, stderr: s.stderr });
    logger.app!('api up', 'stdout', '/api');
    logger.app!('api warning', 'stderr', '/api');
    logger.app!('front up', 'stdout');
    const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).map(({ time: _time, ...rest }) => rest);
    expect(parse(s.out)).toEqual([
      { level: 'app', message: 'api up', route: '/api' },
      { level: 'app', message: 'front up' },
    ]);
    expect(parse(s.err)).toEqual([{ level: 'app', message: 'api warning', route: '/api' }]);
  });
});
