import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { DevHttpsError } from '../src/errors.js';
import { captureLogger } from './helpers.js';
import {
  DEFAULT_CERT_DIR,
  DEFAULT_CERT_NAMES,
  DEFAULT_PORT,
  isLoopbackName,
  resolveName,
  resolveOptions,
  resolvePort,
  resolveTarget,
  type DevHttpsOptions,
} from '../src/options.js';

/** The DevHttpsError `fn` throws, as plain data. */
function thrown(fn: () => unknown): { name: string; code: string; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DevHttpsError);
    const e = err as DevHttpsError;
    return { name: e.name, code: e.code, message: e.message };
  }
  throw new Error('expected a DevHttpsError, nothing was thrown');
}

describe('resolvePort', () => {
  test.each([
    ['8443', 8443],
    [' 8443 ', 8443],
    ['0', 0],
    ['1', 1],
    ['65535', 65535],
    ['08080', 8080],
    [8080, 8080],
    [0, 0],
  ] as const)('%j → %i', (value, expected) => {
    expect(resolvePort(value, '--port')).toBe(expected);
  });

  test.each([
    ['abc', '--port'],
    ['70000', '--port'],
    ['65536', '--http-port'],
    ['-1', '--port'],
    ['', '--http-port'],
    ['  ', '--port'],
    ['1.5', '--port'],
    ['1e3', '--port'],
    ['0x50', '--port'],
    ['123456', '--port'],
    [-1, '--port'],
    [8080.5, '--http-port'],
  ] as const)('%j for %s is rejected', (value, flag) => {
    expect(thrown(() => resolvePort(value, flag))).toEqual({
      name: 'DevHttpsError',
      code: 'E_BAD_OPTION',
      message: `Invalid ${flag} "${value}": expected a port number from 1 to 65535 (0 picks a free port)`,
    });
  });
});

describe('resolveTarget', () => {
  test.each([
    ['8000', 'http://localhost:8000', 'localhost', 8000],
    [8000, 'http://localhost:8000', 'localhost', 8000],
    [':8000', 'http://localhost:8000', 'localhost', 8000],
    [' 8000 ', 'http://localhost:8000', 'localhost', 8000],
    ['1', 'http://localhost:1', 'localhost', 1],
    ['65535', 'http://localhost:65535', 'localhost', 65535],
    ['localhost:3000', 'http://localhost:3000', 'localhost', 3000],
    ['127.0.0.1:3000', 'http://127.0.0.1:3000', '127.0.0.1', 3000],
    ['[::1]:3000', 'http://[::1]:3000', '::1', 3000],
    ['http://localhost:3000', 'http://localhost:3000', 'localhost', 3000],
    ['http://localhost:3000/', 'http://localhost:3000', 'localhost', 3000],
    ['http://[::1]:3000', 'http://[::1]:3000', '::1', 3000],
    ['HTTP://MyApp.Test:3000', 'http://myapp.test:3000', 'myapp.test', 3000],
    ['app.internal:8080', 'http://app.internal:8080', 'app.internal', 8080],
    ['http://localhost', 'http://localhost', 'localhost', 80],
    ['http://localhost:80', 'http://localhost', 'localhost', 80],
  ] as const)('%j → %s', (value, origin, hostname, port) => {
    expect(resolveTarget(value)).toEqual({ origin, hostname, port });
  });

  test.each([
    'foo',
    'localhost',
    '127.0.0.1',
    'https://x:1',
    'http://x:1/path',
    'http://x:1/?q=1',
    'http://x:1/#top',
    'http://user:pw@x:1',
    'ftp://a:1',
    'ws://localhost:3000',
    '0',
    ':0',
    '99999',
    '65536',
    'localhost:99999',
    '',
    'http://',
    '[::1',
    'local host:3000',
    -1,
    0,
  ])('%j is rejected', (value) => {
    expect(thrown(() => resolveTarget(value))).toEqual({
      name: 'DevHttpsError',
      code: 'E_BAD_TARGET',
      message: `Invalid --target "${value}": expected a port, host:port or http://host:port`,
    });
  });

  // A port 0 given with a host is rejected like the bare port "0": nothing can be reached on port 0.
  test.each(['localhost:0', 'http://localhost:0', '127.0.0.1:0'])('%j is rejected (port 0 with a host)', (value) => {
    expect(thrown(() => resolveTarget(value))).toEqual({
      name: 'DevHttpsError',
      code: 'E_BAD_TARGET',
      message: `Invalid --target "${value}": expected a port, host:port or http://host:port`,
    });
  });
});

describe('resolveName', () => {
  test.each([
    ['myapp.test', 'myapp.test'],
    ['MyApp.TEST', 'myapp.test'],
    ['  myapp.test  ', 'myapp.test'],
    ['*.localhost', '*.localhost'],
    ['*.MyApp.test', '*.myapp.test'],
    ['a', 'a'],
    ['a-b.c-d', 'a-b.c-d'],
    ['xn--bcher-kva.test', 'xn--bcher-kva.test'],
    ['10.0.0.1', '10.0.0.1'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['[FD00::2]', 'fd00::2'],
    [`${'a'.repeat(63)}.test`, `${'a'.repeat(63)}.test`],
  ])('%j → %j', (value, expected) => {
    expect(resolveName(value)).toBe(expected);
  });

  test.each([
    'a b',
    '',
    '-a.test',
    'a-.test',
    'a..test',
    '.test',
    'test.',
    'a_b.test',
    '*.*.test',
    'app.*.test',
    '*',
    'https://myapp.test',
    'myapp.test:8443',
    `${'a'.repeat(64)}.test`,
    `${'abcdefghi.'.repeat(25)}test`,
  ])('%j is rejected', (value) => {
    expect(thrown(() => resolveName(value))).toEqual({
      name: 'DevHttpsError',
      code: 'E_BAD_OPTION',
      message: `Invalid --name "${value}": expected a host name (myapp.test) or an IP address`,
    });
  });
});

describe('isLoopbackName', () => {
  test.each([
    ['localhost', true],
    ['LOCALHOST', true],
    ['app.localhost', true],
    ['a.b.localhost', true],
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost.example', false],
    ['notlocalhost', false],
    ['128.0.0.1', false],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.1', false],
    ['myapp.test', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackName(host)).toBe(expected);
  });
});

describe('resolveOptions', () => {
  test('defaults', () => {
    const logger = captureLogger();
    expect(resolveOptions({ cwd: '/srv/app', logger })).toEqual({
      target: null,
      routes: [],
      port: 8443,
      httpPort: null,
      redirectHttp: false,
      listenAddresses: ['127.0.0.1', '::1'],
      publicHost: 'localhost',
      exposed: false,
      certDir: '/srv/app/certs',
      caRoot: process.env.DEV_HTTPS_CAROOT,
      userCert: null,
      certNames: ['localhost', '127.0.0.1', '::1'],
      names: [],
      origins: {},
      allowHosts: [],
      headersTimeout: 10_000,
      idleTimeout: 5000,
      http2: true,
      keepHsts: false,
      inspect: true,
      open: false,
      logger,
    });
    expect(DEFAULT_PORT).toBe(8443);
    expect(DEFAULT_CERT_DIR).toBe('./certs');
    expect(DEFAULT_CERT_NAMES).toEqual(['localhost', '127.0.0.1', '::1']);
  });

  test('without cwd the cert dir is relative to process.cwd(), and a logger is made', () => {
    const resolved = resolveOptions();
    expect(resolved.certDir).toBe(path.join(process.cwd(), 'certs'));
    expect(resolveOptions({ pfx: 'dev.p12', cwd: '/srv/app' }).userCert).toEqual({
      kind: 'pfx',
      pfxPath: '/srv/app/dev.p12',
      passphrase: null,
    });
    expect(Object.keys(resolved.logger).sort()).toEqual(['app', 'error', 'flush', 'info', 'request', 'warn']);
  });

  test('every option given', () => {
    const logger = captureLogger();
    expect(
      resolveOptions({
        target: 'http://127.0.0.1:3000/',
        routes: ['/api=8000', 'api.myapp.test=9000'],
        port: '9443',
        httpPort: 9080,
        redirectHttp: true,
        host: '127.0.0.1',
        certDir: '../shared/certs',
        caRoot: '../ca',
        cert: 'tls/dev.pem',
        key: '/etc/dev/dev-key.pem',
        passphrase: 'hunter2',
        names: ['MyApp.test', 'localhost', '[::1]', 'api.myapp.test', 'myapp.test'],
        allowHosts: ['Dev.Example', 'any', 'dev.example'],
        headersTimeout: 500,
        idleTimeout: 250,
        http2: false,
        keepHsts: true,
        inspect: false,
        open: true,
        logger,
        cwd: '/srv/app',
      }),
    ).toEqual({
      target: { origin: 'http://127.0.0.1:3000', hostname: '127.0.0.1', port: 3000 },
      routes: [
        { kind: 'host', match: 'api.myapp.test', target: { origin: 'http://localhost:9000', hostname: 'localhost', port: 9000 } },
        { kind: 'prefix', match: '/api', target: { origin: 'http://localhost:8000', hostname: 'localhost', port: 8000 } },
      ],
      port: 9443,
      httpPort: 9080,
      redirectHttp: true,
      listenAddresses: ['127.0.0.1'],
      publicHost: '127.0.0.1',
      exposed: false,
      certDir: '/srv/shared/certs',
      caRoot: '/srv/ca',
      userCert: { kind: 'pem', certPath: '/srv/app/tls/dev.pem', keyPath: '/etc/dev/dev-key.pem', passphrase: 'hunter2' },
      certNames: ['localhost', '127.0.0.1', '::1', 'myapp.test', 'api.myapp.test'],
      names: ['myapp.test', 'localhost', '::1', 'api.myapp.test'],
      origins: {},
      allowHosts: ['dev.example', 'any'],
      headersTimeout: 500,
      idleTimeout: 250,
      http2: false,
      keepHsts: true,
      inspect: false,
      open: true,
      logger,
    });
  });

  test.each([
    [{ certDir: 'c' }, '/srv/app/c'],
    [{ certDir: './certs/dev' }, '/srv/app/certs/dev'],
    [{ certDir: '/etc/dev-https' }, '/etc/dev-https'],
    [{ certDir: '..' }, '/srv'],
  ] as Array<[DevHttpsOptions, string]>)('certDir %j → %s', (options, expected) => {
    expect(resolveOptions({ ...options, cwd: '/srv/app' }).certDir).toBe(expected);
  });

  /** Read here from the interfaces, independently of options.ts. */
  function lanAddresses(v6: boolean): string[] {
    return Object.values(os.networkInterfaces())
      .flatMap((list) => list ?? [])
      .filter((i) => !i.internal && (i.family === 'IPv4' || (v6 && !/^fe80:/i.test(i.address))))
      .map((i) => (i.family === 'IPv6' ? new URL(`http://[${i.address}]`).hostname.slice(1, -1) : i.address));
  }

  type HostCase = [string | undefined, string[], string, boolean, string[]];
  test.each<HostCase>([
    [undefined, ['127.0.0.1', '::1'], 'localhost', false, ['localhost', '127.0.0.1', '::1']],
    ['localhost', ['127.0.0.1', '::1'], 'localhost', false, ['localhost', '127.0.0.1', '::1']],
    [' LocalHost ', ['127.0.0.1', '::1'], 'localhost', false, ['localhost', '127.0.0.1', '::1']],
    ['127.0.0.1', ['127.0.0.1'], '127.0.0.1', false, ['localhost', '127.0.0.1', '::1']],
    ['127.0.0.2', ['127.0.0.2'], '127.0.0.2', false, ['localhost', '127.0.0.1', '::1', '127.0.0.2']],
    ['::1', ['::1'], '[::1]', false, ['localhost', '127.0.0.1', '::1']],
    ['[::1]', ['::1'], '[::1]', false, ['localhost', '127.0.0.1', '::1']],
    // With every address, the certificate also names the machine's LAN addresses (a phone opens those).
    ['0.0.0.0', ['0.0.0.0'], 'localhost', true, ['localhost', '127.0.0.1', '::1', ...lanAddresses(false)]],
    ['::', ['::'], 'localhost', true, ['localhost', '127.0.0.1', '::1', ...lanAddresses(true)]],
  ])('host %j → listen %j, public host %s, exposed %s', (host, listenAddresses, publicHost, exposed, certNames) => {
    expect(resolveOptions({ host, cwd: '/srv/app' })).toMatchObject({ listenAddresses, publicHost, exposed, certNames });
  });

  const machineAddress = Object.values(os.networkInterfaces())
    .flatMap((list) => list ?? [])
    .find((i) => i.family === 'IPv4' && !i.internal)?.address;
  test.skipIf(!machineAddress)("host set to one of this machine's addresses is exposed and covered by the certificate", () => {
    expect(resolveOptions({ host: machineAddress, cwd: '/srv/app' })).toMatchObject({
      listenAddresses: [machineAddress],
      publicHost: machineAddress,
      exposed: true,
      certNames: ['localhost', '127.0.0.1', '::1', machineAddress],
    });
  });

  test.each<[DevHttpsOptions, string, string]>([
    [{ port: 'abc' }, 'E_BAD_OPTION', 'Invalid --port "abc": expected a port number from 1 to 65535 (0 picks a free port)'],
    [{ port: '' }, 'E_BAD_OPTION', 'Invalid --port "": expected a port number from 1 to 65535 (0 picks a free port)'],
    [{ httpPort: '70000' }, 'E_BAD_OPTION', 'Invalid --http-port "70000": expected a port number from 1 to 65535 (0 picks a free port)'],
    [{ httpPort: '-1' }, 'E_BAD_OPTION', 'Invalid --http-port "-1": expected a port number from 1 to 65535 (0 picks a free port)'],
    [{ httpPort: 8443 }, 'E_BAD_OPTION', 'Invalid --http-port "8443": it is the same as --port; choose another port'],
    [{ port: '9000', httpPort: '09000' }, 'E_BAD_OPTION', 'Invalid --http-port "9000": it is the same as --port; choose another port'],
    [{ redirectHttp: true }, 'E_BAD_OPTION', 'Invalid --redirect-http: it needs --http-port <n>, the HTTP listener that redirects'],
    [{ target: 'foo' }, 'E_BAD_TARGET', 'Invalid --target "foo": expected a port, host:port or http://host:port'],
    [{ target: 8443 }, 'E_BAD_TARGET', `Invalid --target "8443": that is dev-https's own --port; point --target at your app's port`],
    [
      { target: 'localhost:9443', port: 9443 },
      'E_BAD_TARGET',
      `Invalid --target "localhost:9443": that is dev-https's own --port; point --target at your app's port`,
    ],
    [
      { target: '[::1]:8443' },
      'E_BAD_TARGET',
      `Invalid --target "[::1]:8443": that is dev-https's own --port; point --target at your app's port`,
    ],
    [
      { target: 'http://127.0.0.1:8080', httpPort: 8080 },
      'E_BAD_TARGET',
      `Invalid --target "http://127.0.0.1:8080": that is dev-https's own --http-port; point --target at your app's port`,
    ],
    [
      { target: 'app.localhost:8080', httpPort: '8080' },
      'E_BAD_TARGET',
      `Invalid --target "app.localhost:8080": that is dev-https's own --http-port; point --target at your app's port`,
    ],
    [
      { host: 'foo' },
      'E_BAD_HOST',
      'Invalid --host "foo": expected localhost or an IP address of this machine (127.0.0.1, ::1, 0.0.0.0, ::)',
    ],
    [{ host: '' }, 'E_BAD_HOST', 'Invalid --host "": expected localhost or an IP address of this machine (127.0.0.1, ::1, 0.0.0.0, ::)'],
    [
      { host: '10.9.9.9' },
      'E_BAD_HOST',
      'Invalid --host "10.9.9.9": that address does not belong to this machine; use 127.0.0.1, 0.0.0.0 or one of its addresses',
    ],
    [
      { host: '2001:db8::99' },
      'E_BAD_HOST',
      'Invalid --host "2001:db8::99": that address does not belong to this machine; use 127.0.0.1, 0.0.0.0 or one of its addresses',
    ],
    [{ names: ['ok.test', 'a b'] }, 'E_BAD_OPTION', 'Invalid --name "a b": expected a host name (myapp.test) or an IP address'],
    [{ certDir: '' }, 'E_BAD_OPTION', 'Invalid --cert-dir "": expected a directory path, e.g. --cert-dir ./certs'],
    [{ cert: 'a.pem' }, 'E_BAD_OPTION', 'Invalid --cert "a.pem": it needs --key <file>, its private key'],
    [{ key: 'a-key.pem' }, 'E_BAD_OPTION', 'Invalid --key "a-key.pem": it needs --cert <file>, its certificate'],
    [
      { pfx: 'a.p12', cert: 'a.pem', key: 'a-key.pem' },
      'E_BAD_OPTION',
      'Invalid --cert "a.pem": use either --pfx or --cert with --key, not both',
    ],
    [{ pfx: 'a.p12', key: 'a-key.pem' }, 'E_BAD_OPTION', 'Invalid --key "a-key.pem": use either --pfx or --cert with --key, not both'],
    [{ passphrase: 'x' }, 'E_BAD_OPTION', 'Invalid --passphrase: it needs --pfx <file> or --cert and --key'],
    [{ cert: ' ', key: 'k.pem' }, 'E_BAD_OPTION', 'Invalid --cert "": expected a file path'],
  ])('%j → %s', (options, code, message) => {
    expect(thrown(() => resolveOptions({ ...options, cwd: '/srv/app' }))).toEqual({ name: 'DevHttpsError', code, message });
  });

  test.each<[DevHttpsOptions, Partial<Record<string, unknown>>]>([
    // Port 0 twice means two free ports, not the same one.
    [
      { port: 0, httpPort: 0 },
      { port: 0, httpPort: 0 },
    ],
    [
      { httpPort: 8080, redirectHttp: true },
      { httpPort: 8080, redirectHttp: true },
    ],
    // The own port on another machine is somebody else's app.
    [{ target: 'app.internal:8443' }, { target: { origin: 'http://app.internal:8443', hostname: 'app.internal', port: 8443 } }],
    [
      { target: 3000, port: 0 },
      { target: { origin: 'http://localhost:3000', hostname: 'localhost', port: 3000 }, port: 0 },
    ],
  ])('%j is accepted', (options, expected) => {
    expect(resolveOptions({ ...options, cwd: '/srv/app' })).toMatchObject(expected);
  });
});
