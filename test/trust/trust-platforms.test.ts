// The macOS system keychain and the Windows user root store, through the real code path on any
// machine: the trust context says darwin or win32, and fake `security`, `certutil` (the Windows
// one) and `sudo` on the context's PATH (never the process's) log each call's argv and keep a tiny
// store in a file, so the exact arguments and every printed line are checked. The fake tools read
// the CA from the path they are given: a wrong path, or one split in two, fails them.
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { ensureCA, type CertificateAuthority } from '../../src/certs/ca.js';
import { DEFAULT_PERMITTED, describePermitted } from '../../src/certs/constraints.js';
import { runTrustCommand } from '../../src/trust/trust-commands.js';
import { resolveStores } from '../../src/options.js';
import type { TrustContext } from '../../src/trust/tools.js';
import { captureLogger, KEYTOOL, runCleanups, tempDir, tempJavaHome } from '../helpers.js';

afterEach(runCleanups);

const KEYCHAIN = '/Library/Keychains/System.keychain';
const MAC = `macOS system keychain (${KEYCHAIN})`;
const WIN = 'Windows user root store (certutil -user Root)';
const SUDO_NOTE = 'sudo will ask for your password for the stores marked "through sudo", and only for those.';
const RESTART = 'Restart your browser if it was open: browsers read their trust stores at start.';
/** A certificate every keychain listing shows besides ours: finding "a" certificate is not enough. */
const OTHER_SHA1 = '0123456789ABCDEF0123456789ABCDEF01234567';

// One script for the three tools; `security`, `certutil` and `sudo` are sh wrappers that pass "$@"
// through untouched. State: { keychain: [{ sha1, trusted }], root: [serial] }. fail.json maps
// "<tool> <first argument>" to the stderr text of a failure (exit 1).
const FAKE = String.raw`
const fs = require('node:fs');
const path = require('node:path');
const { X509Certificate } = require('node:crypto');
const { spawnSync } = require('node:child_process');
const [tool, ...args] = process.argv.slice(2);
const file = (name) => path.join(__dirname, name);
fs.appendFileSync(file('calls.log'), JSON.stringify({ argv: [tool, ...args], home: process.env.HOME }) + '\n');
const fails = fs.existsSync(file('fail.json')) ? JSON.parse(fs.readFileSync(file('fail.json'), 'utf8')) : {};
const failure = fails[tool + ' ' + args[0]];
if (failure !== undefined) {
  process.stderr.write(failure + '\n');
  process.exit(1);
}
const state = fs.existsSync(file('state.json')) ? JSON.parse(fs.readFileSync(file('state.json'), 'utf8')) : { keychain: [], root: [] };
const save = () => fs.writeFileSync(file('state.json'), JSON.stringify(state));
const cert = (p) => new X509Certificate(fs.readFileSync(p));
const sha1Of = (p) => cert(p).fingerprint.replace(/:/g, '');
const die = (message, code = 1) => {
  process.stderr.write(message + '\n');
  process.exit(code);
};
const expect = (shape) => {
  const ok = shape.length === args.length && shape.every((a, i) => a === '*' || a === args[i]);
  if (!ok) die(tool + ': unexpected arguments ' + JSON.stringify(args), 2);
};
if (tool === 'sudo') {
  const r = spawnSync(args[0], args.slice(1), { stdio: 'inherit' });
  if (r.error) die('sudo: ' + args[0] + ': command not found');
  process.exit(r.status ?? 1);
} else if (tool === 'security') {
  switch (args[0]) {
    case 'add-trusted-cert': {
      expect(['add-trusted-cert', '-d', '-r', 'trustRoot', '-k', '*', '*']);
      const sha1 = sha1Of(args[6]);
      state.keychain = state.keychain.filter((e) => e.sha1 !== sha1).concat({ sha1, keychain: args[5], trusted: true });
      save();
      break;
    }
    case 'verify-cert': {
      expect(['verify-cert', '-c', '*', '-p', 'ssl']);
      const sha1 = sha1Of(args[2]);
      if (!state.keychain.some((e) => e.sha1 === sha1 && e.trusted)) die('Cert Verify Result: CSSMERR_TP_NOT_TRUSTED');
      process.stdout.write('...certificate verification successful.\n');
      break;
    }
    case 'find-certificate': {
      expect(['find-certificate', '-a', '-Z', '*']);
      const entries = [{ sha1: '${OTHER_SHA1}', keychain: args[3] }, ...state.keychain.filter((e) => e.keychain === args[3])];
      for (const e of entries) process.stdout.write('SHA-256 hash: ' + 'AB'.repeat(32) + '\nSHA-1 hash: ' + e.sha1 + '\nkeychain: "' + e.keychain + '"\nversion: 512\n');
      break;
    }
    case 'remove-trusted-cert': {
      expect(['remove-trusted-cert', '-d', '*']);
      const sha1 = sha1Of(args[2]);
      const entry = state.keychain.find((e) => e.sha1 === sha1 && e.trusted);
      if (!entry) die('SecTrustSettingsRemoveTrustSettings: The specified item could not be found in the keychain.');
      entry.trusted = false;
      save();
      break;
    }
    case 'delete-certificate': {
      expect(['delete-certificate', '-Z', '*', '*']);
      const before = state.keychain.length;
      state.keychain = state.keychain.filter((e) => !(e.sha1 === args[2] && e.keychain === args[3]));
      if (state.keychain.length === before) die('Unable to delete certificate matching "' + args[2] + '"');
      save();
      break;
    }
    default:
      die('security: unknown command ' + args[0], 2);
  }
} else if (tool === 'wslpath') {
  // As WSL's: the Windows path of a Linux file, through the \\wsl.localhost share.
  expect(['-w', '*']);
  process.stdout.write('\\\\wsl.localhost\\Ubuntu' + args[1].replace(/\//g, '\\') + '\n');
} else if (tool === 'certutil' || tool === 'certutil.exe') {
  const same = (a, b) => a.toLowerCase() === b.toLowerCase();
  // certutil.exe runs on Windows: it reads only Windows paths.
  const readable = (p) => {
    if (tool === 'certutil') return p;
    const share = '\\\\wsl.localhost\\Ubuntu\\';
    if (!p.startsWith(share)) die('CertUtil: -addstore command FAILED: 0x80070003 (WIN32: 3 ERROR_PATH_NOT_FOUND) ' + p);
    return '/' + p.slice(share.length).replace(/\\/g, '/');
  };
  if (args[0] === '-addstore') {
    expect(['-addstore', '-user', '-f', 'Root', '*']);
    const serial = cert(readable(args[4])).serialNumber;
    state.root = state.root.filter((s) => !same(s, serial)).concat(serial);
    save();
    process.stdout.write('Root "Trusted Root Certification Authorities"\nCertificate added to store.\nCertUtil: -addstore command completed successfully.\n');
  } else if (args[1] === '-verifystore') {
    expect(['-user', '-verifystore', 'Root', '*']);
    if (!state.root.some((s) => same(s, args[3]))) die('CertUtil: -verifystore command FAILED: 0x80092004 (-2146885628 CRYPT_E_NOT_FOUND)');
    process.stdout.write('CertUtil: -verifystore command completed successfully.\n');
  } else if (args[0] === '-delstore') {
    expect(['-delstore', '-user', 'Root', '*']);
    if (!state.root.some((s) => same(s, args[3]))) die('CertUtil: -delstore command FAILED: 0x80092004 (-2146885628 CRYPT_E_NOT_FOUND)');
    state.root = state.root.filter((s) => !same(s, args[3]));
    save();
    process.stdout.write('CertUtil: -delstore command completed successfully.\n');
  } else {
    die('CertUtil: Unknown arg: ' + args[0], 2);
  }
}
`;

interface Call {
  argv: string[];
  home: string;
}

interface KeychainEntry {
  sha1: string;
  keychain: string;
  trusted: boolean;
}

interface Fixture {
  ca: CertificateAuthority;
  home: string;
  /** The directory of the fake tools: the context's whole PATH. */
  fakes: string;
  /** The CA's SHA-1, uppercase hex without colons: what the keychain names it by. */
  sha1: string;
  serial: string;
  header: string[];
  stays: string;
  context(platform: NodeJS.Platform, isRoot?: boolean, env?: NodeJS.ProcessEnv): TrustContext;
  /** Makes `<tool> <first argument>` exit 1 with `stderr`. */
  fail(call: string, stderr: string): void;
  keychain(): KeychainEntry[];
  root(): string[];
}

/** A CA of the test's own in `<temp>/<caDir>`, a temp HOME and the fake tools. */
async function setup(caDir = 'ca'): Promise<Fixture> {
  const base = await tempDir();
  const ca = await ensureCA(path.join(base, caDir), captureLogger());
  const home = await tempDir();
  const fakes = await tempDir('dev-https-fakes-');
  fs.writeFileSync(path.join(fakes, 'fake.cjs'), FAKE);
  for (const tool of ['security', 'certutil', 'sudo']) {
    fs.writeFileSync(path.join(fakes, tool), `#!/bin/sh\nexec '${process.execPath}' '${path.join(fakes, 'fake.cjs')}' ${tool} "$@"\n`, {
      mode: 0o755,
    });
  }
  const x509 = new X509Certificate(ca.cert);
  const state = () =>
    fs.existsSync(path.join(fakes, 'state.json'))
      ? JSON.parse(fs.readFileSync(path.join(fakes, 'state.json'), 'utf8'))
      : { keychain: [], root: [] };
  return {
    ca,
    home,
    fakes,
    sha1: x509.fingerprint.replace(/:/g, ''),
    serial: x509.serialNumber,
    header: [
      `dev-https CA: ${ca.commonName}`,
      `  ${ca.certPath} (SHA-256 ${ca.fingerprint256})`,
      `  signs only ${describePermitted(DEFAULT_PERMITTED)}`,
    ],
    stays: `The CA itself stays in ${ca.root}; delete that directory to remove it for good (projects then get a new CA).`,
    // The fakes stand in for the platform's own tool directories (/usr/bin, System32): tools are never looked up on PATH.
    context: (platform, isRoot = false, env = {}) => ({
      env: { PATH: fakes, HOME: home, ...env },
      platform,
      home,
      isRoot,
      toolDirs: [fakes],
      wsl: false,
    }),
    fail: (call, stderr) => {
      const file = path.join(fakes, 'fail.json');
      const fails = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
      fs.writeFileSync(file, JSON.stringify({ ...fails, [call]: stderr }));
    },
    keychain: () => state().keychain,
    root: () => state().root,
  };
}

interface Outcome {
  ok: boolean;
  lines: string[];
  /** The argv of every fake tool call this command made, in order (sudo's own call, then its child's). */
  calls: string[][];
  /** The HOME each call saw. */
  homes: string[];
}

async function command(f: Fixture, action: 'trust' | 'untrust' | 'check', stores: string, context: TrustContext): Promise<Outcome> {
  const log = path.join(f.fakes, 'calls.log');
  fs.rmSync(log, { force: true });
  const lines: string[] = [];
  const ok = await runTrustCommand({
    action,
    stores: resolveStores(stores),
    print: (l) => lines.push(l),
    logger: captureLogger(),
    caRoot: f.ca.root,
    context,
  });
  const calls: Call[] = fs.existsSync(log)
    ? fs
        .readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Call)
    : [];
  return { ok, lines, calls: calls.map((c) => c.argv), homes: [...new Set(calls.map((c) => c.home))] };
}

// ---------------------------------------------------------------------------------------------
// macOS

describe('macOS system keychain (platform darwin)', () => {
  test('not root: add-trusted-cert through sudo, the checks without; check; untrust deletes the CA by its SHA-1 through sudo', async () => {
    const f = await setup();
    const ctx = f.context('darwin');
    const caPath = f.ca.certPath;
    const verify = ['security', 'verify-cert', '-c', caPath, '-p', 'ssl'];
    const add = ['security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', KEYCHAIN, caPath];
    // The tools are found on the context's PATH: the process's does not have them.
    expect((process.env.PATH ?? '').split(path.delimiter)).not.toContain(f.fakes);

    expect(await command(f, 'check', 'macos', ctx)).toEqual({
      ok: false,
      lines: [...f.header, `✘ ${MAC}: not trusted (run dev-https trust)`],
      calls: [verify],
      homes: [f.home],
    });

    expect(await command(f, 'trust', 'macos', ctx)).toEqual({
      ok: true,
      lines: [
        ...f.header,
        'Adding it to:',
        `  - ${MAC}: adds the CA to ${KEYCHAIN} as a trusted root with sudo security add-trusted-cert -d -r trustRoot -k ${KEYCHAIN} ${f.ca.certPath} (through sudo: it needs an administrator)`,
        SUDO_NOTE,
        `✔ ${MAC}: trusted`,
        RESTART,
      ],
      // The check runs as the user: no sudo before verify-cert.
      calls: [verify, ['sudo', ...add], add],
      homes: [f.home],
    });
    expect(f.keychain()).toEqual([{ sha1: f.sha1, keychain: KEYCHAIN, trusted: true }]);

    const again = await command(f, 'trust', 'macos', ctx);
    expect(again.ok).toBe(true);
    expect(again.lines.slice(-2)).toEqual([`✔ ${MAC}: already trusted`, RESTART]);
    expect(again.calls).toEqual([verify]);

    expect(await command(f, 'check', 'macos', ctx)).toEqual({
      ok: true,
      lines: [...f.header, `✔ ${MAC}: trusted`],
      calls: [verify],
      homes: [f.home],
    });

    // What the keychain names it by: the SHA-1 node computes, uppercase hex without colons.
    expect(f.sha1).toMatch(/^[0-9A-F]{40}$/);
    expect(f.sha1).toBe(createHash('sha1').update(new X509Certificate(f.ca.cert).raw).digest('hex').toUpperCase());
    const removeTrust = ['security', 'remove-trusted-cert', '-d', caPath];
    const del = ['security', 'delete-certificate', '-Z', f.sha1, KEYCHAIN];
    const find = ['security', 'find-certificate', '-a', '-Z', KEYCHAIN];
    expect(await command(f, 'untrust', 'macos', ctx)).toEqual({
      ok: true,
      lines: [...f.header, 'Removing it from:', `  - ${MAC} (through sudo)`, `✔ ${MAC}: removed`, f.stays],
      calls: [find, ['sudo', ...removeTrust], removeTrust, ['sudo', ...del], del],
      homes: [f.home],
    });
    expect(f.keychain()).toEqual([]);

    expect(await command(f, 'check', 'macos', ctx)).toMatchObject({
      ok: false,
      lines: [...f.header, `✘ ${MAC}: not trusted (run dev-https trust)`],
    });
    const none = await command(f, 'untrust', 'macos', ctx);
    expect(none).toMatchObject({ ok: true, calls: [find] });
    expect(none.lines).toContain(`✔ ${MAC}: was not there`);
  });

  test('as root: the same calls, none through sudo, and the plan says nothing of sudo', async () => {
    const f = await setup();
    const ctx = f.context('darwin', true);
    const caPath = f.ca.certPath;
    const verify = ['security', 'verify-cert', '-c', caPath, '-p', 'ssl'];

    expect(await command(f, 'trust', 'macos', ctx)).toEqual({
      ok: true,
      lines: [
        ...f.header,
        'Adding it to:',
        `  - ${MAC}: adds the CA to ${KEYCHAIN} as a trusted root with ${path.join(f.fakes, 'security')} add-trusted-cert -d -r trustRoot -k ${KEYCHAIN} ${f.ca.certPath}`,
        `✔ ${MAC}: trusted`,
        RESTART,
      ],
      calls: [verify, ['security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', KEYCHAIN, caPath]],
      homes: [f.home],
    });
    expect(await command(f, 'untrust', 'macos', ctx)).toEqual({
      ok: true,
      lines: [...f.header, 'Removing it from:', `  - ${MAC}`, `✔ ${MAC}: removed`, f.stays],
      calls: [
        ['security', 'find-certificate', '-a', '-Z', KEYCHAIN],
        ['security', 'remove-trusted-cert', '-d', caPath],
        ['security', 'delete-certificate', '-Z', f.sha1, KEYCHAIN],
      ],
      homes: [f.home],
    });
    expect(f.keychain()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Windows

describe('Windows user root store (platform win32)', () => {
  test('trust adds with certutil -addstore -user, check and untrust name the CA by its serial number, no sudo anywhere', async () => {
    const f = await setup();
    const ctx = f.context('win32');
    const verify = ['certutil', '-user', '-verifystore', 'Root', f.serial];
    expect(f.serial).toBe(new X509Certificate(fs.readFileSync(f.ca.certPath)).serialNumber);

    expect(await command(f, 'trust', 'windows', ctx)).toEqual({
      ok: true,
      lines: [
        ...f.header,
        'Adding it to:',
        `  - ${WIN}: adds the CA to your user Root store with ${path.join(f.fakes, 'certutil')} -addstore -user -f Root ${f.ca.certPath} (Windows asks you to confirm)`,
        `✔ ${WIN}: trusted`,
        RESTART,
      ],
      calls: [verify, ['certutil', '-addstore', '-user', '-f', 'Root', f.ca.certPath]],
      homes: [f.home],
    });
    expect(f.root()).toEqual([f.serial]);

    const again = await command(f, 'trust', 'windows', ctx);
    expect(again).toMatchObject({ ok: true, calls: [verify] });
    expect(again.lines).toContain(`✔ ${WIN}: already trusted`);

    expect(await command(f, 'check', 'windows', ctx)).toEqual({
      ok: true,
      lines: [...f.header, `✔ ${WIN}: trusted`],
      calls: [verify],
      homes: [f.home],
    });

    expect(await command(f, 'untrust', 'windows', ctx)).toEqual({
      ok: true,
      lines: [...f.header, 'Removing it from:', `  - ${WIN}`, `✔ ${WIN}: removed`, f.stays],
      calls: [verify, ['certutil', '-delstore', '-user', 'Root', f.serial]],
      homes: [f.home],
    });
    expect(f.root()).toEqual([]);

    expect(await command(f, 'untrust', 'windows', ctx)).toEqual({
      ok: true,
      lines: [...f.header, 'Removing it from:', `  - ${WIN}`, `✔ ${WIN}: was not there`, f.stays],
      calls: [verify],
      homes: [f.home],
    });
    expect(await command(f, 'check', 'windows', ctx)).toMatchObject({
      ok: false,
      lines: [...f.header, `✘ ${WIN}: not trusted (run dev-https trust)`],
    });
  });
});

// ---------------------------------------------------------------------------------------------
// A tool that fails

describe('a failing tool', () => {
  test('certutil -addstore refused (the user said No): ✘ with its last two lines, the command fails, no restart hint', async () => {
    const f = await setup();
    f.fail(
      'certutil -addstore',
      'CertUtil: -addstore command FAILED: 0x800704c7 (WIN32: 1223 ERROR_CANCELLED)\nCertUtil: The operation was canceled by the user.',
    );
    expect(await command(f, 'trust', 'windows', f.context('win32'))).toEqual({
      ok: false,
      lines: [
        ...f.header,
        'Adding it to:',
        `  - ${WIN}: adds the CA to your user Root store with ${path.join(f.fakes, 'certutil')} -addstore -user -f Root ${f.ca.certPath} (Windows asks you to confirm)`,
        `✘ ${WIN}: certutil -addstore failed (exit 1): CertUtil: -addstore command FAILED: 0x800704c7 (WIN32: 1223 ERROR_CANCELLED) CertUtil: The operation was canceled by the user.`,
      ],
      calls: [
        ['certutil', '-user', '-verifystore', 'Root', f.serial],
        ['certutil', '-addstore', '-user', '-f', 'Root', f.ca.certPath],
      ],
      homes: [f.home],
    });
    expect(f.root()).toEqual([]);
  });

  test.skipIf(!KEYTOOL)('macOS fails through sudo, Java cacerts in the same call still gets the CA', async () => {
    const f = await setup();
    const { JAVA_HOME: javaHome, cacerts, keytool: real } = await tempJavaHome();
    const alias = `dev-https-${f.ca.fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase()}`;
    const JAVA = `Java cacerts (${cacerts})`;
    const denied = 'SecTrustSettingsSetTrustSettings: The authorization was denied since no user interaction was possible.';
    f.fail('security add-trusted-cert', denied);

    const done = await command(f, 'trust', 'macos,java', f.context('darwin', false, { JAVA_HOME: javaHome }));
    expect({ ok: done.ok, lines: done.lines }).toEqual({
      ok: false,
      lines: [
        ...f.header,
        'Adding it to:',
        `  - ${MAC}: adds the CA to ${KEYCHAIN} as a trusted root with sudo security add-trusted-cert -d -r trustRoot -k ${KEYCHAIN} ${f.ca.certPath} (through sudo: it needs an administrator)`,
        `  - ${JAVA}: imports the CA into ${cacerts} as "${alias}" with ${path.join(javaHome, 'bin', 'keytool')} -importcert -noprompt -trustcacerts -file ${f.ca.certPath} -keystore ${cacerts} -alias ${alias}`,
        SUDO_NOTE,
        `✘ ${MAC}: sudo security add-trusted-cert failed (exit 1): ${denied}`,
        `✔ ${JAVA}: trusted`,
      ],
    });
    expect(done.calls).toEqual([
      ['security', 'verify-cert', '-c', f.ca.certPath, '-p', 'ssl'],
      ['sudo', 'security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', KEYCHAIN, f.ca.certPath],
      ['security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', KEYCHAIN, f.ca.certPath],
    ]);
    expect(f.keychain()).toEqual([]);
    const listed = execFileSync(real, ['-list', '-keystore', cacerts, '-storepass', 'changeit', '-alias', alias], { encoding: 'utf8' });
    expect(listed).toContain('trustedCertEntry');
    expect(listed).toContain(f.ca.fingerprint256);
  });
});

// ---------------------------------------------------------------------------------------------
// No shell

/** Every file or directory called `name` under `dir`. */
function findNamed(dir: string, name: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.name === name) found.push(p);
    if (entry.isDirectory()) found.push(...findNamed(p, name));
  }
  return found;
}

describe('no shell', () => {
  test('a CA path with spaces and shell metacharacters reaches every tool as one argument, unchanged, and runs nothing', async () => {
    const dirName = 'ca $(touch pwned) ; x `touch pwned` & \'q\' "d" | y';
    const f = await setup(dirName);
    // A real touch where the tools are found: a shell, had one run, could do what the name says.
    const touch = ['/usr/bin/touch', '/bin/touch'].find((p) => fs.existsSync(p))!;
    fs.symlinkSync(touch, path.join(f.fakes, 'touch'));
    const caPath = f.ca.certPath;
    expect(path.basename(path.dirname(caPath))).toBe(dirName);
    const where = [process.cwd(), f.home, f.fakes, path.dirname(f.ca.root), os.tmpdir()];
    const pwnedBefore = where.map((d) => fs.existsSync(path.join(d, 'pwned')));

    const mac = f.context('darwin');
    expect(await command(f, 'trust', 'macos', mac)).toMatchObject({
      ok: true,
      calls: [
        ['security', 'verify-cert', '-c', caPath, '-p', 'ssl'],
        ['sudo', 'security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', KEYCHAIN, caPath],
        ['security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', KEYCHAIN, caPath],
      ],
    });
    expect(f.keychain()).toEqual([{ sha1: f.sha1, keychain: KEYCHAIN, trusted: true }]);
    expect(await command(f, 'untrust', 'macos', mac)).toMatchObject({
      ok: true,
      calls: [
        ['security', 'find-certificate', '-a', '-Z', KEYCHAIN],
        ['sudo', 'security', 'remove-trusted-cert', '-d', caPath],
        ['security', 'remove-trusted-cert', '-d', caPath],
        ['sudo', 'security', 'delete-certificate', '-Z', f.sha1, KEYCHAIN],
        ['security', 'delete-certificate', '-Z', f.sha1, KEYCHAIN],
      ],
    });
    expect(f.keychain()).toEqual([]);

    const win = f.context('win32');
    expect(await command(f, 'trust', 'windows', win)).toMatchObject({
      ok: true,
      calls: [
        ['certutil', '-user', '-verifystore', 'Root', f.serial],
        ['certutil', '-addstore', '-user', '-f', 'Root', caPath],
      ],
    });
    expect(f.root()).toEqual([f.serial]);
    expect(await command(f, 'untrust', 'windows', win)).toMatchObject({ ok: true, lines: expect.arrayContaining([`✔ ${WIN}: removed`]) });

    expect(where.map((d) => fs.existsSync(path.join(d, 'pwned')))).toEqual(pwnedBefore);
    expect(pwnedBefore).toEqual(where.map(() => false));
    for (const d of [f.home, f.fakes, path.dirname(f.ca.root)]) expect(findNamed(d, 'pwned')).toEqual([]);
  });
});

describe('trust --replace', () => {
  test('when the old CA cannot be removed from a store that trusts it, nothing is deleted and no new CA is made', async () => {
    const f = await setup();
    const ctx = f.context('darwin', true);
    expect((await command(f, 'trust', 'macos', ctx)).ok).toBe(true);
    const files = () =>
      Object.fromEntries(
        fs
          .readdirSync(f.ca.root)
          .sort()
          .map((n) => [n, fs.readFileSync(path.join(f.ca.root, n), 'utf8')]),
      );
    const before = files();
    f.fail('security delete-certificate', 'SecKeychainItemDelete: UNIX[Operation not permitted]');
    const lines: string[] = [];
    const ok = await runTrustCommand({
      action: 'trust',
      stores: resolveStores('macos'),
      print: (l) => lines.push(l),
      logger: captureLogger(),
      caRoot: f.ca.root,
      context: ctx,
      replace: true,
    });
    expect(ok).toBe(false);
    expect(lines).toEqual([
      `Replacing the dev-https CA ${f.ca.certPath} (${f.ca.commonName}, SHA-256 ${f.ca.fingerprint256}).`,
      'Removing the old CA from:',
      `  - ${MAC}`,
      `✘ ${MAC}: security delete-certificate failed (exit 1): SecKeychainItemDelete: UNIX[Operation not permitted]`,
      '✘ The old CA is still trusted there, so it is kept: fix the store above and run the same command again.',
    ]);
    expect(files()).toEqual(before);
    expect(f.keychain()).toEqual([{ sha1: f.sha1, keychain: KEYCHAIN, trusted: false }]);
  });
});

describe('WSL: the browser runs on Windows', () => {
  const WSL = 'Windows user root store, from WSL (certutil.exe -user Root)';

  /** The fixture with WSL's tools: Windows' certutil.exe (reached through interop) and wslpath. */
  async function setupWsl(): Promise<Fixture> {
    const f = await setup();
    for (const tool of ['certutil.exe', 'wslpath']) {
      fs.writeFileSync(
        path.join(f.fakes, tool),
        `#!/bin/sh\nexec '${process.execPath}' '${path.join(f.fakes, 'fake.cjs')}' ${tool} "$@"\n`,
        { mode: 0o755 },
      );
    }
    return f;
  }

  test('trust adds the CA to the Windows user Root store with certutil.exe on its wslpath -w; doctor reports it; untrust removes it', async () => {
    const f = await setupWsl();
    const ctx = { ...f.context('linux'), wsl: true };
    const winPath = `\\\\wsl.localhost\\Ubuntu${f.ca.certPath.replace(/\//g, '\\')}`;
    const verify = ['certutil.exe', '-user', '-verifystore', 'Root', f.serial];

    expect(await command(f, 'trust', 'windows', ctx)).toEqual({
      ok: true,
      lines: [
        ...f.header,
        'Adding it to:',
        `  - ${WSL}: adds the CA to your user Root store with ${path.join(f.fakes, 'certutil.exe')} -addstore -user -f Root "$(${path.join(f.fakes, 'wslpath')} -w ${f.ca.certPath})" (Windows asks you to confirm)`,
        `✔ ${WSL}: trusted`,
        RESTART,
      ],
      calls: [verify, ['wslpath', '-w', f.ca.certPath], ['certutil.exe', '-addstore', '-user', '-f', 'Root', winPath]],
      homes: [f.home],
    });
    expect(f.root()).toEqual([f.serial]);
    expect(await command(f, 'check', 'windows', ctx)).toEqual({
      ok: true,
      lines: [...f.header, `✔ ${WSL}: trusted`],
      calls: [verify],
      homes: [f.home],
    });
    expect(await command(f, 'untrust', 'windows', ctx)).toEqual({
      ok: true,
      lines: [...f.header, 'Removing it from:', `  - ${WSL}`, `✔ ${WSL}: removed`, f.stays],
      calls: [verify, ['certutil.exe', '-delstore', '-user', 'Root', f.serial]],
      homes: [f.home],
    });
    expect(f.root()).toEqual([]);
  });

  test('outside WSL, Linux has no Windows store; in WSL without certutil.exe, the line says where it was looked for', async () => {
    const f = await setupWsl();
    expect(await command(f, 'check', 'windows', { ...f.context('linux'), wsl: false })).toEqual({
      ok: false,
      lines: [...f.header, '✘ windows: not on this machine: only on Windows and in WSL'],
      calls: [],
      homes: [],
    });
    fs.rmSync(path.join(f.fakes, 'certutil.exe'));
    const missing =
      'certutil.exe not found in /mnt/c/Windows/System32 (is the C: drive mounted elsewhere? name its System32 in DEV_HTTPS_TOOL_DIR)';
    expect(
      await command(f, 'trust', 'windows', { ...f.context('linux'), wsl: true, toolDirs: [path.join(f.fakes, 'none')] }),
    ).toMatchObject({
      ok: false,
      lines: [...f.header, 'Adding it to:', `  - ${WSL}: skipped, ${missing}`, `✘ ${WSL}: ${missing}`],
      calls: [],
    });
  });
});

describe("trust-store tools come from the system's directories, never PATH", () => {
  const CERTUTIL = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((d) => path.join(d, 'certutil')).find((p) => fs.existsSync(p));
  const CHROME = 'NSS database ~/.pki/nssdb (Chrome, Chromium)';

  /** A node_modules/.bin of a dependency that ships `certutil`, `sudo` and `update-ca-certificates` bins: each leaves a mark. */
  async function planted(): Promise<{ bin: string; marks: string }> {
    const bin = await tempDir();
    const marks = await tempDir();
    for (const tool of ['certutil', 'sudo', 'update-ca-certificates', 'security', 'keytool']) {
      fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\ntouch '${path.join(marks, tool)}'\nexit 0\n`, { mode: 0o755 });
    }
    return { bin, marks };
  }

  test.skipIf(!CERTUTIL)(
    "a dependency's certutil first on PATH (as under npx) never runs: the system's does, and the plan names it",
    async () => {
      const { bin, marks } = await planted();
      const home = await tempDir();
      const db = path.join(home, '.pki', 'nssdb');
      fs.mkdirSync(db, { recursive: true });
      execFileSync(CERTUTIL!, ['-N', '-d', `sql:${db}`, '--empty-password']);
      const ca = await ensureCA(path.join(await tempDir(), 'ca'), captureLogger());
      const nickname = `${ca.commonName} ${ca.fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase()}`;
      const context: TrustContext = {
        env: { HOME: home, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
        platform: 'linux',
        home,
        isRoot: true,
        wsl: false,
      };
      const lines: string[] = [];
      const ok = await runTrustCommand({
        action: 'trust',
        stores: resolveStores('nss'),
        print: (l) => lines.push(l),
        logger: captureLogger(),
        caRoot: ca.root,
        context,
      });
      expect(ok).toBe(true);
      expect(lines).toContain(
        `  - ${CHROME}: adds the CA as "${nickname}" with ${CERTUTIL} -A -d sql:${db} -t C,, -n "${nickname}" -i ${ca.certPath}`,
      );
      expect(lines).toContain(`✔ ${CHROME}: trusted`);
      expect(execFileSync(CERTUTIL!, ['-L', '-d', `sql:${db}`], { encoding: 'utf8' })).toContain(nickname);
      expect(fs.readdirSync(marks)).toEqual([]);
    },
  );

  test('a sudo only on PATH is never handed the password: without a system sudo the store fails with the reason', async () => {
    const f = await setup();
    const { bin, marks } = await planted();
    fs.rmSync(path.join(f.fakes, 'sudo'));
    const ctx = f.context('darwin', false, { PATH: `${bin}${path.delimiter}${f.fakes}` });
    const done = await command(f, 'trust', 'macos', ctx);
    expect(done.ok).toBe(false);
    expect(done.lines).toContain(`✘ ${MAC}: sudo not found in ${f.fakes}`);
    expect(done.calls).toEqual([['security', 'verify-cert', '-c', f.ca.certPath, '-p', 'ssl']]);
    expect(fs.readdirSync(marks)).toEqual([]);
  });

  test('a tool directory the user names on purpose (DEV_HTTPS_TOOL_DIR) is looked in first; sudo gets bare names', async () => {
    const f = await setup();
    const ctx = f.context('darwin', false, { DEV_HTTPS_TOOL_DIR: f.fakes });
    // No system directory holds the tools: only the one named finds them.
    const done = await command(f, 'trust', 'macos', { ...ctx, toolDirs: [path.join(f.fakes, 'none')] });
    expect(done.ok).toBe(true);
    expect(done.lines).toContain(
      `  - ${MAC}: adds the CA to ${KEYCHAIN} as a trusted root with sudo security add-trusted-cert -d -r trustRoot -k ${KEYCHAIN} ${f.ca.certPath} (through sudo: it needs an administrator)`,
    );
    // sudo (from the named directory) is handed "security", not a path: its own secure_path decides.
    expect(done.calls[1]).toEqual(['sudo', 'security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', KEYCHAIN, f.ca.certPath]);
  });
});
