import fs from 'node:fs';
import { describe, expect, test } from 'vitest';
import { VERSION, formatBanner, parseCli, type CliCommand } from '../../src/cli/cli.js';
import { completionScript } from '../../src/cli/completion.js';
import { helpText } from '../../src/cli/help.js';
import { DevHttpsError } from '../../src/errors.js';
import type { Settings } from '../../src/cli/config.js';
import type { DevHttpsHandle } from '../../src/server/server.js';

const PACKAGE_VERSION: string = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

/** What parseCli returns: only the flags given, by their long names; resolveSettings merges the rest. */
function run(flags: Settings, command: string[] = []): CliCommand {
  return { kind: 'run', flags, command };
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
    [['-t', 'localhost:3000', '-p', '0', '-q'], run({ target: 'localhost:3000', port: '0', quiet: true })],
    [['--port', '9443'], run({ port: '9443' })],
    [['-p', '08443'], run({ port: '08443' })],
    [['--quiet'], run({ quiet: true })],
    [['-q'], run({ quiet: true })],
    [['--http-port', '8080', '--redirect-http'], run({ 'http-port': '8080', 'redirect-http': true })],
    [['--host', '0.0.0.0'], run({ host: '0.0.0.0' })],
    [['--cert-dir', '.certs'], run({ 'cert-dir': '.certs' })],
    [['--open'], run({ open: true })],
    [['--keep-hsts'], run({ 'keep-hsts': true })],
    [['--no-http2'], run({ http2: false })],
    [['--log', 'json'], run({ log: 'json' })],
    [['--allow-host', 'a.example', '--allow-host', 'b.example,any'], run({ 'allow-host': ['a.example', 'b.example', 'any'] })],
    // --no-open is given, and false: it overrides a config file's "open": true.
    [['--no-open'], run({ open: false })],
    [['--name', 'myapp.test'], run({ name: ['myapp.test'] })],
    [['--name', 'a.test,b.test'], run({ name: ['a.test', 'b.test'] })],
    [['--name', ' a.test , ,b.test,'], run({ name: ['a.test', 'b.test'] })],
    // A repeated single-value flag: the last one wins, as in most CLIs.
    [['-t', '3000', '--target', '4000'], run({ target: '4000' })],
    // Values stay strings: validating them is resolveOptions' job, with the flag in the message.
    [['--port', 'abc'], run({ port: 'abc' })],
    // After --: the app command, untouched (its own flags are not ours).
    [
      ['-t', '8000', '--', 'python', 'manage.py', 'runserver', '8000', '--noreload'],
      run({ target: '8000' }, ['python', 'manage.py', 'runserver', '8000', '--noreload']),
    ],
    [['--', 'npm', 'run', 'dev', '--', '--port', '5173'], run({}, ['npm', 'run', 'dev', '--', '--port', '5173'])],
    [
      [
        '--target',
        '8000',
        '--port',
        '9443',
        '--http-port',
        '9080',
        '--redirect-http',
        '--host',
        '127.0.0.1',
        '--cert-dir',
        '/tmp/c',
        '--name',
        'x.test',
        '--open',
        '--quiet',
      ],
      run({
        target: '8000',
        port: '9443',
        'http-port': '9080',
        'redirect-http': true,
        host: '127.0.0.1',
        'cert-dir': '/tmp/c',
        name: ['x.test'],
        open: true,
        quiet: true,
      }),
    ],
  ])('%j', (argv, expected) => {
    expect(parseCli(argv)).toEqual(expected);
  });

  test('--name repeated keeps every name', () => {
    expect(parseCli(['--name', 'a.test', '--name', 'b.test,c.test'])).toEqual(run({ name: ['a.test', 'b.test', 'c.test'] }));
  });

  test('completion prints a bash completion script that knows every flag', () => {
    // main prints it, loading the completion code only then.
    expect(parseCli(['completion'])).toEqual({ kind: 'completion' });
    const text = completionScript();
    expect(text).toContain('complete -F _dev_https_complete dev-https');
    for (const flag of [
      '--target',
      '--port',
      '--http-port',
      '--redirect-http',
      '--host',
      '--cert-dir',
      '--name',
      '--allow-host',
      '--keep-hsts',
      '--open',
      '--quiet',
      '--log',
    ])
      expect(text).toMatch(new RegExp(`[ "]${flag}[ "]`));
  });

  test.each<[string[], string]>([
    [['--foo'], 'Unknown option --foo: run dev-https --help to see the options'],
    [['--foo=bar'], 'Unknown option --foo: run dev-https --help to see the options'],
    [['--foo', '--bar'], 'Unknown option --foo: run dev-https --help to see the options'],
    [['-x'], 'Unknown option -x: run dev-https --help to see the options'],
    // A near miss gets the nearest names of the command (2 edits at most, a swap is one).
    [['--targte', '8000'], 'Unknown option --targte: did you mean --target? (dev-https --help lists the options)'],
    [['--prot', '8443'], 'Unknown option --prot: did you mean --port? (dev-https --help lists the options)'],
    [['--prot=8443'], 'Unknown option --prot: did you mean --port? (dev-https --help lists the options)'],
    [['--Port', '8443'], 'Unknown option --Port: did you mean --port? (dev-https --help lists the options)'],
    [['--no-htp2'], 'Unknown option --no-htp2: did you mean --no-http2? (dev-https --help lists the options)'],
    [['--redirect'], 'Unknown option --redirect: did you mean --redirect-http? (dev-https --help lists the options)'],
    [['--allow'], 'Unknown option --allow: did you mean --allow-host? (dev-https --help lists the options)'],
    [['check', '--target', '8000', '--jsno'], 'Unknown option --jsno: did you mean --json? (dev-https check --help lists the options)'],
    [['cert', '--nmae', 'a.test'], 'Unknown option --nmae: did you mean --name? (dev-https cert --help lists the options)'],
    [['trust', '--stores', 'nss'], 'Unknown option --stores: did you mean --store? (dev-https trust --help lists the options)'],
    // Only the command's own options: --path is check's, not dev-https'.
    [['--pth', '/'], 'Unknown option --pth: run dev-https --help to see the options'],
    [['chek'], 'Unknown command "chek": did you mean dev-https check?'],
    [['trsut'], 'Unknown command "trsut": did you mean dev-https trust?'],
    [['docter'], 'Unknown command "docter": did you mean dev-https doctor?'],
    [['cer', '--json'], 'Unknown command "cer": did you mean dev-https cert?'],
    [['compl'], 'Unknown command "compl": did you mean dev-https completion?'],
    [
      ['completion', 'bash'],
      'Unexpected argument "completion": options start with --, e.g. --target completion (an app command goes after --)',
    ],
    [['check', '8000'], 'Unexpected argument "8000": options start with --, e.g. --target 8000'],
    [['trust', 'nss'], 'Unexpected argument "nss": dev-https trust takes options only (dev-https trust --help lists them)'],
    [
      ['doctor', '--store', 'nss', 'java'],
      'Unexpected argument "java": dev-https doctor takes options only (dev-https doctor --help lists them)',
    ],
    [['cert', 'myapp.test'], 'Unexpected argument "myapp.test": dev-https cert takes options only (dev-https cert --help lists them)'],
    [['myapp'], 'Unexpected argument "myapp": options start with --, e.g. --target myapp (an app command goes after --)'],
    [['trust', '--permit'], 'Invalid --permit: it needs a value, e.g. --permit .company.dev'],
    [['trust', '--store'], 'Invalid --store: it needs a value, e.g. --store system,nss'],
    [['check', '--path'], 'Invalid --path: it needs a value, e.g. --path /login'],
    [['--allow-host'], 'Invalid --allow-host: it needs a value, e.g. --allow-host myapp.test'],
    [['-t', '8000', '--verbose'], 'Unknown option --verbose: run dev-https --help to see the options'],
    [['8000'], 'Unexpected argument "8000": options start with --, e.g. --target 8000 (an app command goes after --)'],
    [
      ['localhost:3000'],
      'Unexpected argument "localhost:3000": options start with --, e.g. --target localhost:3000 (an app command goes after --)',
    ],
    [
      ['--port', '9443', 'extra', 'more'],
      'Unexpected argument "extra": options start with --, e.g. --target extra (an app command goes after --)',
    ],
    [['--log', 'xml'], 'Invalid --log "xml": expected one of text, json'],
    [['--target'], 'Invalid --target: it needs a value, e.g. --target 8000'],
    [['-p'], 'Invalid --port: it needs a value, e.g. --port 8443'],
    [['--open=yes'], 'Invalid --open=yes: --open takes no value (--no-open turns it off)'],
    [
      ['--name', 'a.test', 'b.test'],
      'Unexpected argument "b.test": options start with --, e.g. --target b.test (an app command goes after --)',
    ],
    [['-t', '8000', '--'], 'Invalid --: it must be followed by the command that starts your app, e.g. -- python manage.py runserver 8000'],
  ])('%j is rejected', (argv, message) => {
    expect(thrown(() => parseCli(argv))).toEqual({ code: 'E_BAD_OPTION', message });
  });

  test.each([['--version'], ['--target', '8000', '--version']])('%j prints the package version', (...argv) => {
    expect(PACKAGE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
    expect(VERSION).toBe(PACKAGE_VERSION);
    expect(parseCli(argv)).toEqual({ kind: 'print', text: `${PACKAGE_VERSION}\n` });
  });

  test('--help and -h print the usage with every option, ending in one newline', () => {
    expect(parseCli(['--help'])).toEqual({ kind: 'help', page: 'run' });
    expect(parseCli(['-h'])).toEqual({ kind: 'help', page: 'run' });
    expect(parseCli(['-t', '8000', '--help'])).toEqual({ kind: 'help', page: 'run' });
    expect(parseCli(['check', '-h'])).toEqual({ kind: 'help', page: 'check' });
    expect(parseCli(['doctor', '--help'])).toEqual({ kind: 'help', page: 'trust' });
    expect(parseCli(['cert', '--help'])).toEqual({ kind: 'help', page: 'cert' });
    const text = helpText('run');
    // Off a terminal, help is wrapped to 80 columns; the synopsis breaks between its groups.
    expect(
      text.startsWith('Usage: dev-https [--target <port | host:port | http://host:port>] [options]\n                 [-- <app command>]\n'),
    ).toBe(true);
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThanOrEqual(80);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.endsWith('\n\n')).toBe(false);
    for (const option of [
      '-t, --target',
      '-p, --port',
      '--http-port',
      '--redirect-http',
      '--host',
      '--cert-dir',
      '--name',
      '--open',
      '-q, --quiet',
      '-h, --help',
      '--version',
    ]) {
      expect(text).toContain(option);
    }
    expect(text).toContain('dev-https --target 8000 --http-port 8080');
  });
});

describe('formatBanner', () => {
  const FP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';

  const CA = {
    cert: '-----BEGIN CERTIFICATE-----\n',
    certPath: '/home/dev/.local/share/dev-https/rootCA.pem',
    commonName: 'dev-https development CA dev@laptop',
    fingerprint256: FP,
    validTo: new Date('2036-11-28T15:30:45.000Z'),
  };

  function handle(overrides: Partial<DevHttpsHandle>, generated = false): DevHttpsHandle {
    return {
      urls: { https: 'https://localhost:8443/', http: null },
      target: 'http://localhost:8000',
      demo: false,
      redirectHttp: false,
      routes: [],
      addresses: ['127.0.0.1', '::1'],
      networkAddresses: [],
      inspector: null,
      certificate: {
        certPath: '/srv/app/certs/cert.pem',
        keyPath: '/srv/app/certs/key.pem',
        fingerprint256: FP,
        validTo: new Date('2027-11-28T15:30:45.000Z'),
        generated,
        cert: '-----BEGIN CERTIFICATE-----\n',
        names: ['localhost', '127.0.0.1', '::1'],
        source: 'ca',
        ca: CA,
        trustPath: CA.certPath,
      },
      close: async () => undefined,
      ...overrides,
    };
  }

  const certLines = (state: 'new' | 'cached') => [
    `  ➜  Cert:    /srv/app/certs/cert.pem (${state}, signed by the dev-https CA, expires 2027-11-28)`,
    `              SHA-256 ${FP}`,
    '  ➜  CA:      /home/dev/.local/share/dev-https/rootCA.pem',
    '  Clients: curl --cacert /home/dev/.local/share/dev-https/rootCA.pem · NODE_EXTRA_CA_CERTS=/home/dev/.local/share/dev-https/rootCA.pem · dev-https cert shows more',
  ];
  const head = [`  dev-https ${PACKAGE_VERSION}  ready in 123 ms`, ''];

  test.each<[string, DevHttpsHandle[], string[]]>([
    [
      'a target, HTTPS only, cached certificate',
      [handle({})],
      [
        ...head,
        '  ➜  Local:   https://localhost:8443/  →  http://localhost:8000',
        ...certLines('cached'),
        '  Add --http-port 8080 to test plain HTTP (and your redirect to HTTPS) too.',
      ],
    ],
    [
      'a target over HTTPS and proxied HTTP, new certificate',
      [handle({ urls: { https: 'https://localhost:8443/', http: 'http://localhost:8080/' } }, true)],
      [
        ...head,
        '  ➜  Local:   https://localhost:8443/  →  http://localhost:8000',
        '  ➜  HTTP:    http://localhost:8080/  →  http://localhost:8000',
        ...certLines('new'),
      ],
    ],
    [
      'an HTTP listener that redirects, on the network',
      [
        handle({
          urls: { https: 'https://localhost:9443/', http: 'http://localhost:9080/' },
          redirectHttp: true,
          networkAddresses: ['192.168.1.20', 'fd00::5'],
        }),
      ],
      [
        ...head,
        '  ➜  Local:   https://localhost:9443/  →  http://localhost:8000',
        '  ➜  HTTP:    http://localhost:9080/  →  redirects to https://localhost:9443/',
        '  ➜  Network: https://192.168.1.20:9443/',
        '  ➜  Network: https://[fd00::5]:9443/',
        ...certLines('cached'),
      ],
    ],
    [
      'routes to other apps, in the order they are tried',
      [
        handle({
          routes: [
            { match: 'admin.localhost', target: 'http://127.0.0.1:8001' },
            { match: '/api', target: 'http://localhost:9000' },
          ],
        }),
      ],
      [
        ...head,
        '  ➜  Local:   https://localhost:8443/  →  http://localhost:8000',
        '  ➜  Route:   admin.localhost  →  http://127.0.0.1:8001',
        '  ➜  Route:   /api  →  http://localhost:9000',
        ...certLines('cached'),
        '  Add --http-port 8080 to test plain HTTP (and your redirect to HTTPS) too.',
      ],
    ],
    [
      'the inspector, after the routes',
      [
        handle({
          routes: [{ match: '/api', target: 'http://localhost:9000' }],
          inspector: { url: 'https://dev-https.localhost:8443/', recent: () => [], detail: () => null, subscribe: () => () => undefined },
        }),
      ],
      [
        ...head,
        '  ➜  Local:   https://localhost:8443/  →  http://localhost:8000',
        '  ➜  Route:   /api  →  http://localhost:9000',
        '  ➜  Inspect: https://dev-https.localhost:8443/',
        ...certLines('cached'),
        '  Add --http-port 8080 to test plain HTTP (and your redirect to HTTPS) too.',
      ],
    ],
    [
      'the demo app',
      [handle({ demo: true, target: 'http://127.0.0.1:41234' }, true)],
      [
        ...head,
        '  ➜  Local:   https://localhost:8443/  →  the built-in demo app (no --target given)',
        ...certLines('new'),
        '  Run dev-https --target <port> to put your own app behind it.',
      ],
    ],
    [
      'two proxies from the config file, one certificate',
      [handle({}), handle({ urls: { https: 'https://localhost:8444/', http: null }, target: 'http://localhost:5173' })],
      [
        ...head,
        '  ➜  Local:   https://localhost:8443/  →  http://localhost:8000',
        '  ➜  Local:   https://localhost:8444/  →  http://localhost:5173',
        ...certLines('cached'),
        '  Add --http-port 8080 to test plain HTTP (and your redirect to HTTPS) too.',
      ],
    ],
    [
      'a certificate of the user (--cert/--key): no CA line, clients trust the certificate itself',
      [
        handle({
          certificate: {
            certPath: '/srv/app/localhost.pem',
            keyPath: '/srv/app/localhost-key.pem',
            fingerprint256: FP,
            validTo: new Date('2028-02-28T10:00:00.000Z'),
            generated: false,
            cert: '-----BEGIN CERTIFICATE-----\n',
            names: ['localhost'],
            source: 'user',
            ca: null,
            trustPath: '/srv/app/localhost.pem',
          },
        }),
      ],
      [
        ...head,
        '  ➜  Local:   https://localhost:8443/  →  http://localhost:8000',
        '  ➜  Cert:    /srv/app/localhost.pem (yours, expires 2028-02-28)',
        `              SHA-256 ${FP}`,
        '  Clients: curl --cacert /srv/app/localhost.pem · NODE_EXTRA_CA_CERTS=/srv/app/localhost.pem · dev-https cert shows more',
        '  Add --http-port 8080 to test plain HTTP (and your redirect to HTTPS) too.',
      ],
    ],
  ])('%s', (_label, handles, lines) => {
    expect(formatBanner(handles, { readyMs: 123 })).toBe(lines.join('\n') + '\n');
  });

  test('colors only when asked: the same text inside ANSI codes', () => {
    const colored = formatBanner([handle({})], { readyMs: 123, color: true });
    expect(colored).toContain('\x1b[36mhttps://localhost:8443/\x1b[0m');
    expect(colored.replace(/\x1b\[[\d;]*m/g, '')).toBe(formatBanner([handle({})], { readyMs: 123 }));
  });
});
