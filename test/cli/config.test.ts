// Settings from dev-https.config.json, package.json "dev-https" and DEV_HTTPS_* variables, merged
// with the flags; several proxies from one config file through the real bin; shell completion.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import { resolveSettings, type Settings } from '../../src/cli/config.js';
import { DevHttpsError } from '../../src/errors.js';
import { BIN, request, run, runCleanups, startUpstream, tempDir, waitFor, testCa } from '../helpers.js';

afterEach(runCleanups);

interface Files {
  config?: unknown;
  pkg?: unknown;
}

/** A temp project directory with the given dev-https.config.json and package.json (JSON values or raw text). */
async function project(files: Files = {}): Promise<string> {
  const cwd = await tempDir();
  const write = (name: string, content: unknown) =>
    fs.writeFile(path.join(cwd, name), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  if (files.config !== undefined) await write('dev-https.config.json', files.config);
  if (files.pkg !== undefined) await write('package.json', files.pkg);
  return cwd;
}

/** The DevHttpsError thrown by fn, as { code, message }; fails the test if it returns. */
function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof DevHttpsError)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error('expected a DevHttpsError, got a result');
}

/**
 * resolveSettings in a project of `files`; each proxy's `origins` and the app commands (both tested
 * on their own below) left out: they are checked to be none here.
 */
async function settingsIn(files: Files, flags: Settings = {}, env: NodeJS.ProcessEnv = {}) {
  const { run: runApps, runFrom, apps, ...settings } = resolveSettings(flags, { cwd: await project(files), env });
  expect({ runApps, runFrom, apps }).toEqual({ runApps: false, runFrom: null, apps: [] });
  return { ...settings, proxies: settings.proxies.map(({ origins: _origins, ...options }) => options) };
}

describe('where each setting came from (origins): messages name the file and key or the variable, never a flag not typed', () => {
  test('config file keys, package.json keys, variables; flags leave none', async () => {
    const config = { name: ['app.test'], host: '0.0.0.0', 'allow-host': 'any', port: 9443 };
    const fromConfig = resolveSettings({ port: '9444' }, { cwd: await project({ config }), env: { DEV_HTTPS_TARGET: '8000' } });
    expect(fromConfig.proxies.map((p) => p.origins)).toEqual([
      {
        names: { label: '"name" in dev-https.config.json', fromConfig: true },
        host: { label: '"host" in dev-https.config.json', fromConfig: true },
        allowHosts: { label: '"allow-host" in dev-https.config.json', fromConfig: true },
        target: { label: 'DEV_HTTPS_TARGET', fromConfig: false },
      },
    ]);
    const fromPackage = resolveSettings({}, { cwd: await project({ pkg: { 'dev-https': { name: 'x.test' } } }), env: {} });
    expect(fromPackage.proxies[0]!.origins).toEqual({ names: { label: '"name" in package.json "dev-https"', fromConfig: true } });
    const proxies = resolveSettings(
      {},
      { cwd: await project({ config: { host: '0.0.0.0', proxies: [{ target: 8000 }, { target: 8001, port: 9444 }] } }), env: {} },
    );
    expect(proxies.proxies.map((p) => p.origins)).toEqual([
      {
        host: { label: '"host" in dev-https.config.json', fromConfig: true },
        target: { label: '"target" in "proxies"[0] of dev-https.config.json', fromConfig: true },
      },
      {
        host: { label: '"host" in dev-https.config.json', fromConfig: true },
        target: { label: '"target" in "proxies"[1] of dev-https.config.json', fromConfig: true },
        port: { label: '"port" in "proxies"[1] of dev-https.config.json', fromConfig: true },
      },
    ]);
    expect(resolveSettings({ name: ['a.test'] }, { cwd: await project({}), env: {} }).proxies[0]!.origins).toBeUndefined();
  });

  test.each(['/home/someone/.docker', '../elsewhere', 'certs/../../x', 'C:\\Users\\x'])(
    'a config "cert-dir" outside the project (%s) is refused: only --cert-dir may point elsewhere',
    async (dir) => {
      const cwd = await project({ config: { 'cert-dir': dir } });
      expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({
        code: 'E_BAD_OPTION',
        message: `Invalid "cert-dir" in dev-https.config.json: expected a directory inside the project (e.g. "./certs"); pass --cert-dir yourself for one elsewhere, got ${JSON.stringify(dir)}`,
      });
      expect(resolveSettings({ 'cert-dir': dir }, { cwd: await project({}), env: {} }).proxies[0]!.certDir).toBe(dir);
    },
  );
});

describe('a repository cannot reach outside itself or the terminal', () => {
  test('a config "cert-dir" through a symbolic link in the project (h -> ../..) is refused, naming the link; the home it points to is untouched', async () => {
    const home = await tempDir();
    await fs.mkdir(path.join(home, '.docker'));
    await fs.writeFile(path.join(home, '.docker/key.pem'), 'ORIGINAL KEY');
    const cwd = path.join(home, 'src/proj');
    await fs.mkdir(cwd, { recursive: true });
    await fs.symlink('../..', path.join(cwd, 'h'));
    await fs.writeFile(path.join(cwd, 'dev-https.config.json'), JSON.stringify({ 'cert-dir': 'h/.docker' }));
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({
      code: 'E_BAD_OPTION',
      message:
        'Invalid "cert-dir" in dev-https.config.json: expected a directory inside the project reached without symbolic links ("h" is one), got "h/.docker"',
    });
    // The bin stops there too: one error line, exit 1, the key left as it was.
    const r = run([], { cwd });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe(
      'error: Invalid "cert-dir" in dev-https.config.json: expected a directory inside the project reached without symbolic links ("h" is one), got "h/.docker"\n',
    );
    expect(await fs.readFile(path.join(home, '.docker/key.pem'), 'utf8')).toBe('ORIGINAL KEY');
  });

  test('a cert-dir not made yet under a real directory is fine', async () => {
    const cwd = await project({ config: { 'cert-dir': 'tmp/certs' } });
    await fs.mkdir(path.join(cwd, 'tmp'));
    expect(resolveSettings({}, { cwd, env: {} }).proxies[0]!.certDir).toBe('tmp/certs');
  });

  test.each<[string, Record<string, unknown>, string]>([
    [
      'a config string',
      { 'cert-dir': 'c\u001b[2J\u001b[3J\u001b[H' },
      'Invalid "cert-dir" in dev-https.config.json: expected text without control characters, got "c\\u001b[2J\\u001b[3J\\u001b[H"',
    ],
    [
      'a config list entry with C1 (CSI)',
      { name: ['ok.test', 'x\u009b31m.test'] },
      'Invalid "name" in dev-https.config.json: expected text without control characters, got ["ok.test","x\\x9b31m.test"]',
    ],
  ])('control characters in %s are refused, and the message shows them escaped', async (_what, config, message) => {
    const cwd = await project({ config });
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({ code: 'E_BAD_OPTION', message });
    expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  test('a variable with control characters is refused, escaped', async () => {
    const cwd = await project({});
    expect(errorOf(() => resolveSettings({}, { cwd, env: { DEV_HTTPS_CERT_DIR: 'c\u001b]0;PWNED\u0007' } }))).toEqual({
      code: 'E_BAD_OPTION',
      message: 'Invalid DEV_HTTPS_CERT_DIR "c\\x1b]0;PWNED\\x07": control characters are not allowed',
    });
  });
});

describe('"routes" in a config file', () => {
  test('an object of prefix or host to target, a target alone or { "target": ... }, is the list of --route values', async () => {
    const cwd = await project({
      config: { target: 5173, routes: { '/api': 8000, 'admin.localhost': { target: 'http://127.0.0.1:8001' } } },
    });
    expect(resolveSettings({}, { cwd, env: {} }).proxies[0]!.routes).toEqual(['/api=8000', 'admin.localhost=http://127.0.0.1:8001']);
  });

  test('{ "target": ..., "run": ... } is the target for --route; its command is kept apart, not a setting', async () => {
    const cwd = await project({ config: { routes: { '/api': { target: 8000, run: 'python manage.py runserver 8000' } } } });
    const settings = resolveSettings({}, { cwd, env: {} });
    expect(settings.proxies[0]!.routes).toEqual(['/api=8000']);
    expect(settings.apps).toEqual([{ proxy: 0, route: '/api', target: '8000', command: 'python manage.py runserver 8000' }]);
  });
});

describe('app commands ("run") in a config file', () => {
  test('a string (for the shell) or a list (without one), for the --target app and for routes, in the order written', async () => {
    const cwd = await project({
      config: {
        target: 5173,
        run: 'npx vite',
        routes: {
          '/api': { target: 8000, run: ['python', 'manage.py', 'runserver', '8000'] },
          'admin.localhost': 'http://127.0.0.1:8001',
          '/auth': { target: '127.0.0.1:8002', run: 'node auth.js' },
        },
      },
    });
    const settings = resolveSettings({}, { cwd, env: {} });
    expect(settings.proxies[0]!.routes).toEqual(['/api=8000', 'admin.localhost=http://127.0.0.1:8001', '/auth=127.0.0.1:8002']);
    expect(settings.proxies[0]!.target).toBe('5173');
    expect(settings.apps).toEqual([
      { proxy: 0, route: '/api', target: '8000', command: ['python', 'manage.py', 'runserver', '8000'] },
      { proxy: 0, route: '/auth', target: '127.0.0.1:8002', command: 'node auth.js' },
      { proxy: 0, route: null, target: undefined, command: 'npx vite' },
    ]);
    expect([settings.run, settings.runFrom]).toEqual([false, null]);
  });

  test('the same under "dev-https" in package.json', async () => {
    const cwd = await project({ pkg: { 'dev-https': { target: 5173, run: 'npx vite' } } });
    expect(resolveSettings({}, { cwd, env: {} }).apps).toEqual([{ proxy: 0, route: null, target: undefined, command: 'npx vite' }]);
  });

  test.each<[string, Settings, NodeJS.ProcessEnv, boolean, string | null]>([
    ['--run', { run: true }, {}, true, '--run'],
    ['DEV_HTTPS_RUN=1', {}, { DEV_HTTPS_RUN: '1' }, true, 'DEV_HTTPS_RUN'],
    ['--no-run over DEV_HTTPS_RUN=1', { run: false }, { DEV_HTTPS_RUN: '1' }, false, null],
    ['--run over DEV_HTTPS_RUN=0', { run: true }, { DEV_HTTPS_RUN: '0' }, true, '--run'],
    ['neither', {}, {}, false, null],
  ])('starting them: %s', async (_name, flags, env, run, runFrom) => {
    const cwd = await project({ config: { target: 5173, run: 'npx vite' } });
    const settings = resolveSettings(flags, { cwd, env });
    expect([settings.run, settings.runFrom]).toEqual([run, runFrom]);
  });

  test('the config file cannot start them itself: its "run" is a command, so "run": true is a wrong type', async () => {
    const cwd = await project({ config: { target: 5173, run: true } });
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({
      code: 'E_BAD_OPTION',
      message:
        'Invalid "run" in dev-https.config.json: expected a command: a string the shell runs, or a list of the program and its arguments, got true',
    });
  });

  test('with "proxies": each proxy has its own, named by index in messages; a "run" next to "proxies" is refused', async () => {
    const cwd = await project({
      config: {
        proxies: [
          { port: 8443, target: 5173, run: 'npx vite' },
          { port: 8444, target: 3000, routes: { '/api': { target: 8000, run: ['node', 'api.js'] } } },
        ],
      },
    });
    expect(resolveSettings({}, { cwd, env: {} }).apps).toEqual([
      { proxy: 0, route: null, target: undefined, command: 'npx vite' },
      { proxy: 1, route: '/api', target: '8000', command: ['node', 'api.js'] },
    ]);
    const bad = await project({ config: { proxies: [{ port: 8443, target: 5173, run: '' }] } });
    expect(errorOf(() => resolveSettings({}, { cwd: bad, env: {} })).message).toBe(
      'Invalid "run" in "proxies"[0] of dev-https.config.json: expected a command: a string the shell runs, or a list of the program and its arguments, got ""',
    );
    const top = await project({ config: { run: 'npx vite', proxies: [{ target: 5173 }] } });
    expect(errorOf(() => resolveSettings({}, { cwd: top, env: {} })).message).toBe(
      'Invalid "run" in dev-https.config.json: with "proxies", set it in each proxy',
    );
  });

  const COMMAND = 'expected a command: a string the shell runs, or a list of the program and its arguments';
  test.each<[string, unknown, string]>([
    ['an empty string', { run: '' }, `Invalid "run" in dev-https.config.json: ${COMMAND}, got ""`],
    ['blanks only', { run: '   ' }, `Invalid "run" in dev-https.config.json: ${COMMAND}, got "   "`],
    ['a number', { run: 5173 }, `Invalid "run" in dev-https.config.json: ${COMMAND}, got 5173`],
    ['null', { run: null }, `Invalid "run" in dev-https.config.json: ${COMMAND}, got null`],
    ['an object', { run: { cmd: 'vite' } }, `Invalid "run" in dev-https.config.json: ${COMMAND}, got {"cmd":"vite"}`],
    ['an empty list', { run: [] }, `Invalid "run" in dev-https.config.json: ${COMMAND}, got []`],
    ['a list with an empty program', { run: ['', 'x'] }, `Invalid "run" in dev-https.config.json: ${COMMAND}, got ["","x"]`],
    ['a list with a number', { run: ['node', 3] }, `Invalid "run" in dev-https.config.json: ${COMMAND}, got ["node",3]`],
    [
      "a route's empty string",
      { routes: { '/api': { target: 8000, run: '' } } },
      `Invalid "routes"."/api".run in dev-https.config.json: ${COMMAND}, got ""`,
    ],
    [
      "a route's wrong type",
      { routes: { '/api': { target: 8000, run: false } } },
      `Invalid "routes"."/api".run in dev-https.config.json: ${COMMAND}, got false`,
    ],
    [
      "a route's control characters (shown escaped)",
      { routes: { '/api': { target: 8000, run: 'x\u001b[2J' } } },
      'Invalid "routes"."/api".run in dev-https.config.json: expected text without control characters, got "x\\u001b[2J"',
    ],
    [
      'a list entry with C1 control characters',
      { run: ['node', 'a\u009b31m'] },
      'Invalid "run" in dev-https.config.json: expected text without control characters, got ["node","a\\x9b31m"]',
    ],
    [
      'a route with a misspelt key',
      { routes: { '/api': { target: 8000, rnu: 'x' } } },
      'Unknown key "rnu" in "routes"."/api" of dev-https.config.json: expected "target" and "run"',
    ],
    [
      'a route with a command and no target',
      { routes: { '/api': { run: 'node api.js' } } },
      'Invalid "routes" in dev-https.config.json: expected a target for "/api", e.g. { "/api": 8000 }',
    ],
    [
      'a route prefix with control characters',
      { routes: { '/a\u001b[2J': 8000 } },
      'Invalid "routes" in dev-https.config.json: expected a prefix or host without control characters, got "/a\\u001b[2J"',
    ],
  ])('%s: one line naming the file, the key and the value', async (_what, config, message) => {
    const cwd = await project({ config });
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({ code: 'E_BAD_OPTION', message });
    expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});

describe('sources', () => {
  test('nothing anywhere: one proxy with no options (the defaults apply later), text log, not quiet', async () => {
    expect(await settingsIn({})).toEqual({ proxies: [{}], quiet: false, log: 'text', configFile: null });
  });

  test('a package.json without a "dev-https" key is no config file', async () => {
    expect(await settingsIn({ pkg: { name: 'app', scripts: { dev: 'vite' } } })).toEqual({
      proxies: [{}],
      quiet: false,
      log: 'text',
      configFile: null,
    });
  });

  test('every option by its long name in dev-https.config.json', async () => {
    const config = {
      target: 8000,
      port: 9443,
      'http-port': '9080',
      'redirect-http': true,
      'keep-hsts': true,
      host: '127.0.0.1',
      'cert-dir': 'my-certs',
      name: ['app.test', '192.168.1.5'],
      'allow-host': 'tunnel.example',
      open: true,
      quiet: true,
      log: 'json',
    };
    expect(await settingsIn({ config })).toEqual({
      proxies: [
        {
          target: '8000',
          port: '9443',
          httpPort: '9080',
          redirectHttp: true,
          keepHsts: true,
          host: '127.0.0.1',
          certDir: 'my-certs',
          names: ['app.test', '192.168.1.5'],
          allowHosts: ['tunnel.example'],
          open: true,
        },
      ],
      quiet: true,
      log: 'json',
      configFile: 'dev-https.config.json',
    });
  });

  test('the "dev-https" key of package.json', async () => {
    const pkg = { name: 'app', 'dev-https': { target: 'localhost:5173', 'http-port': 8080, name: 'app.test' } };
    expect(await settingsIn({ pkg })).toEqual({
      proxies: [{ target: 'localhost:5173', httpPort: '8080', names: ['app.test'] }],
      quiet: false,
      log: 'text',
      configFile: 'package.json "dev-https"',
    });
  });

  test('dev-https.config.json wins over package.json as a whole: the two are not merged', async () => {
    const settings = await settingsIn({
      config: { port: 9443 },
      pkg: { name: 'app', 'dev-https': { port: 7443, target: 5173, open: true } },
    });
    expect(settings).toEqual({ proxies: [{ port: '9443' }], quiet: false, log: 'text', configFile: 'dev-https.config.json' });
  });

  test('a broken package.json is not read when dev-https.config.json exists', async () => {
    const settings = await settingsIn({ config: { target: 8000 }, pkg: '{ not json' });
    expect(settings.proxies).toEqual([{ target: '8000' }]);
  });

  test('every option from DEV_HTTPS_* variables; lists are comma-separated', async () => {
    const env = {
      DEV_HTTPS_TARGET: 'http://127.0.0.1:8000',
      DEV_HTTPS_PORT: '9443',
      DEV_HTTPS_HTTP_PORT: '9080',
      DEV_HTTPS_REDIRECT_HTTP: 'yes',
      DEV_HTTPS_HOST: '::1',
      DEV_HTTPS_CERT_DIR: '/tmp/certs',
      DEV_HTTPS_NAME: 'a.test, b.test,,',
      DEV_HTTPS_ALLOW_HOST: 'tunnel.example',
      DEV_HTTPS_KEEP_HSTS: 'ON',
      DEV_HTTPS_OPEN: '1',
      DEV_HTTPS_QUIET: 'True',
      DEV_HTTPS_LOG: 'json',
    };
    expect(await settingsIn({}, {}, env)).toEqual({
      proxies: [
        {
          target: 'http://127.0.0.1:8000',
          port: '9443',
          httpPort: '9080',
          redirectHttp: true,
          host: '::1',
          certDir: '/tmp/certs',
          names: ['a.test', 'b.test'],
          allowHosts: ['tunnel.example'],
          keepHsts: true,
          open: true,
        },
      ],
      quiet: true,
      log: 'json',
      configFile: null,
    });
  });

  test.each([
    ['1', true],
    ['true', true],
    ['YES', true],
    ['on', true],
    ['0', false],
    ['false', false],
    ['No', false],
    ['off', false],
  ])('DEV_HTTPS_OPEN=%s is %s', async (raw, open) => {
    expect((await settingsIn({}, {}, { DEV_HTTPS_OPEN: raw })).proxies).toEqual([{ open }]);
  });

  test('an empty variable is as if unset: the config file value stays', async () => {
    expect((await settingsIn({ config: { port: 9443, open: true } }, {}, { DEV_HTTPS_PORT: '', DEV_HTTPS_OPEN: '' })).proxies).toEqual([
      { port: '9443', open: true },
    ]);
  });

  test('other variables are ignored', async () => {
    expect(await settingsIn({}, {}, { PORT: '3000', DEV_HTTPS: '1', DEV_HTTPS_PROT: '1', HOST: '0.0.0.0' })).toEqual({
      proxies: [{}],
      quiet: false,
      log: 'text',
      configFile: null,
    });
  });
});

describe('precedence: flags > environment > config file > defaults', () => {
  test.each<[string, Files, NodeJS.ProcessEnv, Settings, { proxies: object[]; quiet: boolean; log: string }]>([
    ['config only', { config: { port: 1001 } }, {}, {}, { proxies: [{ port: '1001' }], quiet: false, log: 'text' }],
    [
      'env over config',
      { config: { port: 1001 } },
      { DEV_HTTPS_PORT: '1002' },
      {},
      { proxies: [{ port: '1002' }], quiet: false, log: 'text' },
    ],
    [
      'flag over env and config',
      { config: { port: 1001 } },
      { DEV_HTTPS_PORT: '1002' },
      { port: '1003' },
      { proxies: [{ port: '1003' }], quiet: false, log: 'text' },
    ],
    ['flag over config', { config: { port: 1001 } }, {}, { port: '1003' }, { proxies: [{ port: '1003' }], quiet: false, log: 'text' }],
    [
      'package.json, env over it',
      { pkg: { 'dev-https': { target: 5173, port: 1001 } } },
      { DEV_HTTPS_TARGET: '5174' },
      {},
      { proxies: [{ target: '5174', port: '1001' }], quiet: false, log: 'text' },
    ],
    [
      'env false over config true',
      { config: { open: true, 'keep-hsts': true } },
      { DEV_HTTPS_OPEN: 'false' },
      {},
      { proxies: [{ open: false, keepHsts: true }], quiet: false, log: 'text' },
    ],
    ['flag true over env false', {}, { DEV_HTTPS_OPEN: 'no' }, { open: true }, { proxies: [{ open: true }], quiet: false, log: 'text' }],
    ['--no-quiet over env quiet', {}, { DEV_HTTPS_QUIET: '1' }, { quiet: false }, { proxies: [{}], quiet: false, log: 'text' }],
    [
      'env quiet over config',
      { config: { quiet: false, log: 'json' } },
      { DEV_HTTPS_QUIET: '1', DEV_HTTPS_LOG: 'text' },
      {},
      { proxies: [{}], quiet: true, log: 'text' },
    ],
    ['flag log over config', { config: { log: 'json' } }, {}, { log: 'text' }, { proxies: [{}], quiet: false, log: 'text' }],
    [
      'a list is replaced, not merged',
      { config: { name: ['a.test'] } },
      { DEV_HTTPS_NAME: 'b.test' },
      {},
      { proxies: [{ names: ['b.test'] }], quiet: false, log: 'text' },
    ],
    [
      'flag list over env list',
      {},
      { DEV_HTTPS_ALLOW_HOST: 'a.example' },
      { 'allow-host': ['b.example', 'c.example'] },
      { proxies: [{ allowHosts: ['b.example', 'c.example'] }], quiet: false, log: 'text' },
    ],
    [
      'each setting from its highest source',
      { config: { target: 8000, port: 1001, 'cert-dir': 'from-config', host: '127.0.0.1' } },
      { DEV_HTTPS_PORT: '1002', DEV_HTTPS_CERT_DIR: 'from-env' },
      { 'cert-dir': 'from-flag' },
      { proxies: [{ target: '8000', port: '1002', certDir: 'from-flag', host: '127.0.0.1' }], quiet: false, log: 'text' },
    ],
  ])('%s', async (_name, files, env, flags, expected) => {
    const { configFile: _file, ...settings } = await settingsIn(files, flags, env);
    expect(settings).toEqual(expected);
  });
});

describe('bad config files and variables', () => {
  test.each<[string, unknown, string]>([
    [
      'an unknown key',
      { prot: 8443 },
      'Unknown key "prot" in dev-https.config.json: did you mean "port"? (expected one of target, route, run, port, http-port, redirect-http, keep-hsts, inspect, http2, host, cert-dir, cert, key, pfx, passphrase, name, allow-host, open, quiet, log, proxies)',
    ],
    [
      'an unknown key like none of them',
      { verbose: true },
      'Unknown key "verbose" in dev-https.config.json: expected one of target, route, run, port, http-port, redirect-http, keep-hsts, inspect, http2, host, cert-dir, cert, key, pfx, passphrase, name, allow-host, open, quiet, log, proxies',
    ],
    [
      'a near miss of "proxies"',
      { proxys: [] },
      'Unknown key "proxys" in dev-https.config.json: did you mean "proxies"? (expected one of target, route, run, port, http-port, redirect-http, keep-hsts, inspect, http2, host, cert-dir, cert, key, pfx, passphrase, name, allow-host, open, quiet, log, proxies)',
    ],
    [
      'a boolean port',
      { port: true },
      'Invalid "port" in dev-https.config.json: expected a port number from 1 to 65535 (0 picks a free port), got true',
    ],
    [
      'a null http-port',
      { 'http-port': null },
      'Invalid "http-port" in dev-https.config.json: expected a port number from 1 to 65535 (0 picks a free port), got null',
    ],
    [
      'an object target',
      { target: { port: 8000 } },
      'Invalid "target" in dev-https.config.json: expected a port, host:port or http://host:port, got {"port":8000}',
    ],
    ['a string boolean', { open: 'yes' }, 'Invalid "open" in dev-https.config.json: expected true or false, got "yes"'],
    ['a number boolean', { 'redirect-http': 1 }, 'Invalid "redirect-http" in dev-https.config.json: expected true or false, got 1'],
    ['a number name', { name: 5 }, 'Invalid "name" in dev-https.config.json: expected a string or a list of strings, got 5'],
    [
      'a list with a number',
      { 'allow-host': ['a.test', 1] },
      'Invalid "allow-host" in dev-https.config.json: expected a string or a list of strings, got ["a.test",1]',
    ],
    ['an unknown log format', { log: 'xml' }, 'Invalid "log" in dev-https.config.json: expected "text" or "json", got "xml"'],
    ['a number host', { host: 127 }, 'Invalid "host" in dev-https.config.json: expected a string, got 127'],
    ['a list cert-dir', { 'cert-dir': ['a'] }, 'Invalid "cert-dir" in dev-https.config.json: expected a string, got ["a"]'],
    ['a list at the top', [{ port: 1 }], 'Invalid dev-https.config.json: expected an object of options by their long names'],
    ['a string at the top', 'port 8443', 'Invalid dev-https.config.json: expected an object of options by their long names'],
    ['null at the top', null, 'Invalid dev-https.config.json: expected an object of options by their long names'],
  ])('%s in dev-https.config.json', async (_name, config, message) => {
    const cwd = await project({ config: JSON.stringify(config) });
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({ code: 'E_BAD_OPTION', message });
  });

  test('errors in package.json name its "dev-https" key', async () => {
    const cwd = await project({ pkg: { 'dev-https': { port: true } } });
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} })).message).toBe(
      'Invalid "port" in package.json "dev-https": expected a port number from 1 to 65535 (0 picks a free port), got true',
    );
    const cwd2 = await project({ pkg: { 'dev-https': 8443 } });
    expect(errorOf(() => resolveSettings({}, { cwd: cwd2, env: {} })).message).toBe(
      'Invalid package.json "dev-https": expected an object of options by their long names',
    );
  });

  test.each([
    ['dev-https.config.json', { config: '{ "port": 8443, }' }, '{ "port": 8443, }'],
    ['dev-https.config.json', { config: '' }, ''],
    ['package.json', { pkg: '{"name": "app"' }, '{"name": "app"'],
  ])('invalid JSON in %s: its name and the parser message', async (file, files, text) => {
    let parserMessage = '';
    try {
      JSON.parse(text);
    } catch (err) {
      parserMessage = (err as Error).message;
    }
    expect(parserMessage).not.toBe('');
    const cwd = await project(files);
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({
      code: 'E_BAD_OPTION',
      message: `Invalid ${file}: not JSON (${parserMessage})`,
    });
  });

  test.each([
    ['DEV_HTTPS_OPEN', 'maybe', 'Invalid DEV_HTTPS_OPEN "maybe": expected true or false'],
    ['DEV_HTTPS_QUIET', 'y', 'Invalid DEV_HTTPS_QUIET "y": expected true or false'],
    ['DEV_HTTPS_REDIRECT_HTTP', '2', 'Invalid DEV_HTTPS_REDIRECT_HTTP "2": expected true or false'],
    ['DEV_HTTPS_KEEP_HSTS', 'enabled', 'Invalid DEV_HTTPS_KEEP_HSTS "enabled": expected true or false'],
    ['DEV_HTTPS_LOG', 'xml', 'Invalid DEV_HTTPS_LOG "xml": expected text or json'],
  ])('%s=%s', async (name, value, message) => {
    const cwd = await project();
    expect(errorOf(() => resolveSettings({}, { cwd, env: { [name]: value } }))).toEqual({ code: 'E_BAD_OPTION', message });
  });
});

describe('"proxies": several proxies from one config file', () => {
  test('shared settings apply to each proxy; per-proxy settings stay in theirs', async () => {
    const config = {
      'cert-dir': 'certs',
      name: 'app.test',
      open: true,
      log: 'json',
      proxies: [
        { port: 0, target: 8001 },
        { port: '0', target: 'localhost:8002', 'http-port': 8081, 'redirect-http': true, 'keep-hsts': false },
      ],
    };
    expect(await settingsIn({ config })).toEqual({
      proxies: [
        { certDir: 'certs', names: ['app.test'], open: true, port: '0', target: '8001' },
        {
          certDir: 'certs',
          names: ['app.test'],
          open: true,
          port: '0',
          target: 'localhost:8002',
          httpPort: '8081',
          redirectHttp: true,
          keepHsts: false,
        },
      ],
      quiet: false,
      log: 'json',
      configFile: 'dev-https.config.json',
    });
  });

  test('shared flags and variables still override the config file', async () => {
    const config = { 'cert-dir': 'certs', proxies: [{ target: 8001 }, { target: 8002 }] };
    const settings = await settingsIn({ config }, { 'cert-dir': 'flag-certs' }, { DEV_HTTPS_NAME: 'x.test', DEV_HTTPS_QUIET: 'yes' });
    expect(settings.proxies).toEqual([
      { certDir: 'flag-certs', names: ['x.test'], target: '8001' },
      { certDir: 'flag-certs', names: ['x.test'], target: '8002' },
    ]);
    expect(settings.quiet).toBe(true);
  });

  test.each([
    ['target', { target: 8000, proxies: [{ port: 0 }] }],
    ['port', { port: 8443, proxies: [{ target: 8000 }] }],
    ['http-port', { 'http-port': 8080, proxies: [{ target: 8000 }] }],
    ['redirect-http', { 'redirect-http': true, proxies: [{ target: 8000 }] }],
    ['keep-hsts', { 'keep-hsts': false, proxies: [{ target: 8000 }] }],
  ])('a per-proxy key "%s" at the top level next to "proxies"', async (key, config) => {
    const cwd = await project({ config });
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({
      code: 'E_BAD_OPTION',
      message: `Invalid "${key}" in dev-https.config.json: with "proxies", set it in each proxy`,
    });
  });

  test.each([
    ['cert-dir', { target: 8000, 'cert-dir': 'x' }],
    ['open', { target: 8000, open: true }],
  ])('a key that is not per proxy, "%s", inside a proxy', async (key, proxy) => {
    const cwd = await project({ config: { proxies: [proxy] } });
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({
      code: 'E_BAD_OPTION',
      message: `Invalid "${key}" in "proxies"[0] of dev-https.config.json: it applies to every proxy; set it next to "proxies"`,
    });
  });

  test.each([
    ['proxies', { target: 8000, proxies: [] }, ''],
    ['prot', { prot: 8443 }, 'did you mean "port"? '],
  ])('an unknown key, "%s", inside a proxy', async (key, proxy, suggestion) => {
    const cwd = await project({ config: { proxies: [proxy] } });
    const keys = 'target, route, run, port, http-port, redirect-http, keep-hsts, inspect';
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({
      code: 'E_BAD_OPTION',
      message: `Unknown key "${key}" in "proxies"[0] of dev-https.config.json: ${suggestion ? `${suggestion}(expected one of ${keys})` : `expected one of ${keys}`}`,
    });
  });

  test('a bad value inside the second proxy names its index', async () => {
    const cwd = await project({ config: { proxies: [{ target: 8000 }, { target: 8001, port: true }] } });
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} })).message).toBe(
      'Invalid "port" in "proxies"[1] of dev-https.config.json: expected a port number from 1 to 65535 (0 picks a free port), got true',
    );
  });

  test('the same in package.json', async () => {
    const cwd = await project({ pkg: { 'dev-https': { proxies: [{ target: 8000, host: '::1' }] } } });
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} })).message).toBe(
      'Invalid "host" in "proxies"[0] of package.json "dev-https": it applies to every proxy; set it next to "proxies"',
    );
  });

  test.each([
    ['an object', {}],
    ['an empty list', []],
    ['a list of numbers', [8000, 8001]],
    ['a list with null', [{ target: 8000 }, null]],
    ['a string', '8000'],
  ])('"proxies" as %s', async (_name, proxies) => {
    const cwd = await project({ config: { proxies } });
    expect(errorOf(() => resolveSettings({}, { cwd, env: {} }))).toEqual({
      code: 'E_BAD_OPTION',
      message: 'Invalid "proxies" in dev-https.config.json: expected a list of objects, e.g. [{ "port": 8443, "target": 5173 }]',
    });
  });

  test.each<[string, Settings, NodeJS.ProcessEnv, string]>([
    [
      '--target',
      { target: '8000' },
      {},
      'Invalid --target: dev-https.config.json lists "proxies", so set "target" in each of them instead',
    ],
    [
      '--http-port',
      { 'http-port': '8080' },
      {},
      'Invalid --http-port: dev-https.config.json lists "proxies", so set "http-port" in each of them instead',
    ],
    [
      '--redirect-http',
      { 'redirect-http': true },
      {},
      'Invalid --redirect-http: dev-https.config.json lists "proxies", so set "redirect-http" in each of them instead',
    ],
    [
      'DEV_HTTPS_PORT',
      {},
      { DEV_HTTPS_PORT: '9443' },
      'Invalid DEV_HTTPS_PORT: dev-https.config.json lists "proxies", so set "port" in each of them instead',
    ],
    [
      'DEV_HTTPS_KEEP_HSTS',
      {},
      { DEV_HTTPS_KEEP_HSTS: 'true' },
      'Invalid DEV_HTTPS_KEEP_HSTS: dev-https.config.json lists "proxies", so set "keep-hsts" in each of them instead',
    ],
  ])('%s with "proxies" in the config file', async (_name, flags, env, message) => {
    const cwd = await project({ config: { proxies: [{ target: 8001 }, { target: 8002 }] } });
    expect(errorOf(() => resolveSettings(flags, { cwd, env }))).toEqual({ code: 'E_BAD_OPTION', message });
  });
});

// ---- Through the real bin ----

/** The SHA-256 fingerprint of the certificate a TLS server presents, verified against `ca`. */
function peerFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

describe('the bin', () => {
  test('two proxies from dev-https.config.json: two Local: lines, each serves its app, with the same certificate', async () => {
    const appA = await startUpstream((_req, res) => res.end('app A'));
    const appB = await startUpstream((_req, res) => res.end('app B'));
    const cwd = await project({
      config: {
        'cert-dir': 'certs',
        proxies: [
          { port: 0, target: appA.port },
          { port: 0, target: appB.port },
        ],
      },
    });
    const r = run([], { cwd });
    await waitFor(r, /SHA-256 /);
    const locals = [...r.stdout().matchAll(/➜  Local:   (https:\/\/localhost:(\d+)\/)  →  (\S+)\n/g)];
    expect(locals.map((m) => m[3])).toEqual([`http://localhost:${appA.port}`, `http://localhost:${appB.port}`]);
    const [urlA, urlB] = locals.map((m) => m[1]!);
    expect(urlA).not.toBe(urlB);

    const cert = await testCa();
    const a = await request(urlA!, { ca: cert });
    const b = await request(urlB!, { ca: cert });
    expect([a.status, a.body, b.status, b.body]).toEqual([200, 'app A', 200, 'app B']);

    const fingerprint = new X509Certificate(await fs.readFile(path.join(cwd, 'certs', 'cert.pem'), 'utf8')).fingerprint256;
    expect(await peerFingerprint(Number(locals[0]![2]), cert)).toBe(fingerprint);
    expect(await peerFingerprint(Number(locals[1]![2]), cert)).toBe(fingerprint);
    expect(r.stdout().split(`SHA-256 ${fingerprint}`)).toHaveLength(2); // one Cert: line for both

    r.child.kill('SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stderr()).toBe('');
  });

  test('a bad config file: one line, exit 1, nothing listens', async () => {
    const cwd = await project({ config: { prot: 8443 } });
    const r = run([], { cwd });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe(
      'error: Unknown key "prot" in dev-https.config.json: did you mean "port"? (expected one of target, route, run, port, http-port, redirect-http, keep-hsts, inspect, http2, host, cert-dir, cert, key, pfx, passphrase, name, allow-host, open, quiet, log, proxies)\n',
    );
    expect(r.stdout()).toBe('');
  });

  test('--target with "proxies" in the config file: one line, exit 1', async () => {
    const cwd = await project({ config: { proxies: [{ port: 0, target: 8001 }] } });
    const r = run(['--target', '8000'], { cwd });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe('error: Invalid --target: dev-https.config.json lists "proxies", so set "target" in each of them instead\n');
  });

  // A bad port from the environment or a config file is reported as a bad --port: the user
  // gave no --port. Fix: validate port and target values in config.ts with the source's label.
  test('a bad port from DEV_HTTPS_PORT names the variable, not --port', async () => {
    const r = run([], { cwd: await project(), env: { DEV_HTTPS_PORT: 'abc' } });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe('error: Invalid DEV_HTTPS_PORT "abc": expected a port number from 1 to 65535 (0 picks a free port)\n');
  });

  test('a repository cannot widen trust: package.json "dev-https" naming accounts.google.com makes dev-https cert refuse, naming the file and key; nothing is written', async () => {
    const cwd = await project({ pkg: { name: 'app', 'dev-https': { name: ['accounts.google.com'] } } });
    const r = run(['cert'], { cwd });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toMatch(
      /^error: Refused "accounts\.google\.com" from "name" in package\.json "dev-https": a project's config may name only localhost, \*\.localhost, \*\.test, [^\n]+; remove it from the file, or if google\.com is your own domain, run dev-https trust --permit \.google\.com yourself\n$/,
    );
    expect(r.stdout()).toBe('');
    expect((await fs.readdir(cwd)).sort()).toEqual(['package.json']);
  });

  test('settings that expose the app, from the config file, are allowed; the warnings name the file and key, not a flag', async () => {
    const app = await startUpstream((_req, res) => res.end('app'));
    const cwd = await project({ config: { host: '0.0.0.0', 'allow-host': 'any', port: 0, target: app.port } });
    const r = run([], { cwd });
    await waitFor(r, /Local:/);
    expect(r.stderr()).toContain(
      'warning: "allow-host": "any" in dev-https.config.json: the Host check is off, so any web page you visit can reach your app through DNS rebinding\n',
    );
    expect(r.stderr()).toContain(
      'warning: "host": "0.0.0.0" in dev-https.config.json: dev-https and your app are now reachable from the network, not only from this machine\n',
    );
    expect(r.stderr()).not.toContain('--host');
    expect(r.stderr()).not.toContain('--allow-host any');
  });

  test('a bad port in dev-https.config.json names the file, not --port', async () => {
    const r = run([], { cwd: await project({ config: { port: 'abc' } }) });
    expect(await r.exited).toEqual({ code: 1, signal: null });
    expect(r.stderr()).toBe(
      'error: Invalid "port" in dev-https.config.json: expected a port number from 1 to 65535 (0 picks a free port), got "abc"\n',
    );
  });
});

const hasBash = spawnSync('bash', ['-c', 'true']).status === 0;

describe.skipIf(!hasBash)('completion', () => {
  /** Runs the printed completion script in bash with the given words; returns COMPREPLY. */
  function complete(words: string[]): string {
    const script = `source <("${process.execPath}" "${BIN}" completion); COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _dev_https_complete; echo "\${COMPREPLY[@]}"`;
    const result = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return result.stdout;
  }

  test('dev-https completion prints a bash script that registers _dev_https_complete', async () => {
    const r = run(['completion'], { cwd: await tempDir() });
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(r.stdout()).toMatch(/^# dev-https completion for bash/);
    expect(r.stdout().endsWith('complete -F _dev_https_complete dev-https\n')).toBe(true);
    expect(r.stderr()).toBe('');
  });

  test.each([
    [['dev-https', '--ht'], '--http-port --http2\n'],
    [['dev-https', '--http-'], '--http-port\n'],
    [['dev-https', '--re'], '--redirect-http\n'],
    [['dev-https', '--log', ''], 'text json\n'],
    [['dev-https', '--log', 'j'], 'json\n'],
    [['dev-https', 'che'], 'check\n'],
    [['dev-https', 'check', '--p'], '--path\n'],
    [['dev-https', '--target', ''], '\n'],
    [['dev-https', '--zzz'], '\n'],
  ])('%j completes to %j', (words, expected) => {
    expect(complete(words)).toBe(expected);
  });
});
