import fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import { VERSION, formatBanner, parseCli, type CliCommand } from '../src/cli.js';
import { DevHttpsError } from '../src/errors.js';
import type { DevHttpsOptions } from '../src/options.js';
import type { DevHttpsHandle } from '../src/server.js';

const PACKAGE_VERSION: string = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** What parseCli returns when nothing is given: every option is left to resolveOptions. */
const NONE: DevHttpsOptions = { target: undefined, port: undefined, httpPort: undefined, redirectHttp: false, host: undefined, certDir: undefined, names: [], allowHosts: [], keepHsts: false, open: false };

function run(options: Partial<DevHttpsOptions>, quiet = false): CliCommand {
  return { kind: 'run', quiet, options: { ...NONE, ...options } };
}

function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DevHttpsError);
    return { code: (err as DevHttpsError).code, message: (err as DevHttpsError).message };
  }
  throw new Error('expected a DevHttpsError, nothing was thrown');
}

describe('parseCli', () => {
  test.each<[string[], CliCommand]>([
    [[], run({})],
    [['--target', '8000'], run({ target: '8000' })],
    [['-t', '8000'], run({ target: '8000' })],
    [['--target=http://localhost:3000'], run({ target: 'http://localhost:3000' })],
    [['-t', 'localhost:3000', '-p', '0', '-q'], run({ target: 'localhost:3000', port: '0' }, true)],
    [['--port', '9443'], run({ port: '9443' })],
    [['-p', '08443'], run({ port: '08443' })],
    [['--quiet'], run({}, true)],
    [['-q'], run({}, true)],
    [['--http-port', '8080', '--redirect-http'], run({ httpPort: '8080', redirectHttp: true })],
    [['--host', '0.0.0.0'], run({ host: '0.0.0.0' })],
    [['--cert-dir', '.certs'], run({ certDir: '.certs' })],
    [['--open'], run({ open: true })],
    [['--keep-hsts'], run({ keepHsts: true })],
    [['--allow-host', 'a.example', '--allow-host', 'b.example,any'], run({ allowHosts: ['a.example', 'b.example', 'any'] })],
    [['--no-open'], run({ open: false })],
    [['--name', 'myapp.test'], run({ names: ['myapp.test'] })],
    [['--name', 'a.test,b.test'], run({ names: ['a.test', 'b.test'] })],
    [['--name', ' a.test , ,b.test,'], run({ names: ['a.test', 'b.test'] })],
    [['--name', 'a.test', 'b.test'], run({ names: ['a.test', 'b.test'] })],
    // A repeated single-value flag: the last one wins, as in most CLIs.
    [['-t', '3000', '--target', '4000'], run({ target: '4000' })],
    // Values stay strings: validating them is resolveOptions' job, with the flag in the message.
    [['--port', 'abc'], run({ port: 'abc' })],
    [['--target'], run({ target: '' })],
    [
      ['--target', '8000', '--port', '9443', '--http-port', '9080', '--redirect-http', '--host', '127.0.0.1', '--cert-dir', '/tmp/c', '--name', 'x.test', '--open', '--quiet'],
      run({ target: '8000', port: '9443', httpPort: '9080', redirectHttp: true, host: '127.0.0.1', certDir: '/tmp/c', names: ['x.test'], open: true }, true),
    ],
  ])('%j', (argv, expected) => {
    expect(parseCli(argv)).toEqual(expected);
  });

  // BUG: `'duplicate-arguments-array': false` makes the last --name win although --name is
  // documented as repeatable: only b.test and c.test are kept.
  test('--name repeated keeps every name', () => {
    expect(parseCli(['--name', 'a.test', '--name', 'b.test,c.test'])).toEqual(run({ names: ['a.test', 'b.test', 'c.test'] }));
  });

  test.each<[string[], string]>([
    [['--foo'], 'Unknown option --foo: run dev-https --help to see the options'],
    [['--foo=bar'], 'Unknown option --foo: run dev-https --help to see the options'],
    [['--foo', '--bar'], 'Unknown option --foo: run dev-https --help to see the options'],
    [['-x'], 'Unknown option -x: run dev-https --help to see the options'],
    [['--targte', '8000'], 'Unknown option --targte: run dev-https --help to see the options'],
    [['-t', '8000', '--verbose'], 'Unknown option --verbose: run dev-https --help to see the options'],
    [['8000'], 'Unexpected argument "8000": options start with --, e.g. --target 8000'],
    [['localhost:3000'], 'Unexpected argument "localhost:3000": options start with --, e.g. --target localhost:3000'],
    [['--port', '9443', 'extra', 'more'], 'Unexpected argument "extra": options start with --, e.g. --target extra'],
  ])('%j is rejected', (argv, message) => {
    expect(thrown(() => parseCli(argv))).toEqual({ code: 'E_BAD_OPTION', message });
  });

  test.each([['--version'], ['--target', '8000', '--version']])('%j prints the package version', (...argv) => {
    expect(PACKAGE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
    expect(VERSION).toBe(PACKAGE_VERSION);
    expect(parseCli(argv)).toEqual({ kind: 'print', text: `${PACKAGE_VERSION}\n` });
  });

  test('--help and -h print the usage with every option, ending in one newline', () => {
    const help = parseCli(['--help']);
    expect(parseCli(['-h'])).toEqual(help);
    expect(help.kind).toBe('print');
    const text = help.kind === 'print' ? help.text : '';
    expect(text.startsWith('Usage: dev-https [--target <port | host:port | http://host:port>] [options]\n')).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.endsWith('\n\n')).toBe(false);
    for (const option of ['-t, --target', '-p, --port', '--http-port', '--redirect-http', '--host', '--cert-dir', '--name', '--open', '-q, --quiet', '-h, --help', '--version']) {
      expect(text).toContain(option);
    }
    expect(text).toContain('dev-https --target 8000 --http-port 8080');
  });
});

describe('formatBanner', () => {
  const FP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';

  function handle(overrides: Partial<DevHttpsHandle>, generated = false): DevHttpsHandle {
    return {
      urls: { https: 'https://localhost:8443/', http: null },
      target: 'http://localhost:8000',
      demo: false,
      redirectHttp: false,
      addresses: ['127.0.0.1', '::1'],
      certificate: {
        certPath: '/srv/app/certs/cert.pem',
        keyPath: '/srv/app/certs/key.pem',
        fingerprint256: FP,
        validTo: new Date('2027-11-28T15:30:45.000Z'),
        generated,
        cert: '-----BEGIN CERTIFICATE-----\n',
      },
      close: async () => undefined,
      ...overrides,
    };
  }

  const certLines = (state: 'new' | 'cached') => [
    `  certificate /srv/app/certs/cert.pem (${state}, valid until 2027-11-28)`,
    `  SHA-256 ${FP}`,
    '  It is self-signed: accept it once in the browser; curl --cacert /srv/app/certs/cert.pem; Node NODE_EXTRA_CA_CERTS=/srv/app/certs/cert.pem',
  ];

  test.each<[string, DevHttpsHandle, string[]]>([
    [
      'a target, HTTPS only, cached certificate',
      handle({}),
      [`dev-https ${PACKAGE_VERSION}`, '  ➜ https://localhost:8443/  →  http://localhost:8000', ...certLines('cached')],
    ],
    [
      'a target over HTTPS and proxied HTTP, new certificate',
      handle({ urls: { https: 'https://localhost:8443/', http: 'http://localhost:8080/' } }, true),
      [
        `dev-https ${PACKAGE_VERSION}`,
        '  ➜ https://localhost:8443/  →  http://localhost:8000',
        '  ➜ http://localhost:8080/  →  http://localhost:8000',
        ...certLines('new'),
      ],
    ],
    [
      'an HTTP listener that redirects',
      handle({ urls: { https: 'https://[::1]:9443/', http: 'http://[::1]:9080/' }, redirectHttp: true }),
      [
        `dev-https ${PACKAGE_VERSION}`,
        '  ➜ https://[::1]:9443/  →  http://localhost:8000',
        '  ➜ http://[::1]:9080/  →  redirects to https://[::1]:9443/',
        ...certLines('cached'),
      ],
    ],
    [
      'the demo app',
      handle({ demo: true, target: 'http://127.0.0.1:41234' }, true),
      [
        `dev-https ${PACKAGE_VERSION}`,
        '  ➜ https://localhost:8443/  →  the built-in demo app (no --target given)',
        ...certLines('new'),
        '  Run dev-https --target <port> to put your own app behind it.',
      ],
    ],
  ])('%s', (_label, h, lines) => {
    expect(formatBanner(h)).toBe(lines.join('\n'));
  });
});
