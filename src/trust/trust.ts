// Trust stores: adds the local CA to, removes it from and checks it in the Linux system store,
// NSS databases (Chrome/Chromium, Firefox), the macOS system keychain, the Windows user root
// store and Java's cacerts, through each platform's own tools. Entries are named after the CA's
// fingerprint, so untrust removes exactly what trust added.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CertificateAuthority } from '../certs/ca.js';

/** What the stores need of the CA: its public certificate, never its key. */
export type CaCertificate = Pick<CertificateAuthority, 'cert' | 'certPath' | 'commonName' | 'fingerprint256'>;
import { STORE_NAMES, type StoreName } from '../options.js';


export interface TrustContext {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  home: string;
  /** Root needs no sudo. */
  isRoot: boolean;
  /** Where the system's own tools are looked for (tests narrow it); default: systemToolDirs. */
  toolDirs?: string[];
  /** Inside WSL, where the browser runs on Windows: default, detected from the environment and /proc. */
  wsl?: boolean;
}

export function defaultTrustContext(): TrustContext {
  return { env: process.env, platform: process.platform, home: os.homedir(), isRoot: process.getuid?.() === 0 };
}

/**
 * The system's own tool directories. Never PATH: under npx, node_modules/.bin comes first, and a
 * dependency's `certutil` bin would run with the user's trust stores (or, through sudo, as root).
 * Homebrew's nss on macOS is found in its own keg, not in /usr/local/bin where other packages link.
 */
export function systemToolDirs(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  if (platform === 'win32') return [path.win32.join(env.SystemRoot || 'C:\\Windows', 'System32')];
  if (platform === 'darwin') return ['/usr/bin', '/usr/sbin', '/opt/homebrew/opt/nss/bin', '/usr/local/opt/nss/bin'];
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
}

/** DEV_HTTPS_TOOL_DIR: directories of tools the user names on purpose (a Homebrew prefix, an nss build), looked in first. */
function userToolDirs(env: NodeJS.ProcessEnv): string[] {
  return (env.DEV_HTTPS_TOOL_DIR ?? '').split(path.delimiter).filter((d) => d && path.isAbsolute(d));
}

/** WSL: the interop variables Windows sets, or a Microsoft kernel. */
function isWsl(ctx: TrustContext): boolean {
  if (ctx.wsl !== undefined) return ctx.wsl;
  if (ctx.platform !== 'linux') return false;
  if (ctx.env.WSL_DISTRO_NAME || ctx.env.WSL_INTEROP) return true;
  try {
    return /microsoft/i.test(fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8'));
  } catch {
    return false;
  }
}

/** One place a CA can be trusted: a store, or one database of a store (NSS has several). */
export interface TrustTarget {
  store: StoreName;
  /** e.g. `NSS database ~/.pki/nssdb (Chrome, Chromium)` */
  label: string;
  /** What `add` changes, for the plan printed before acting. */
  change: string;
  /** Set when this store needs root and we are not: the commands run through sudo. */
  sudo: boolean;
  /** Set when the tool this store needs is missing: what to install. */
  missing: string | null;
  isTrusted(): Promise<boolean>;
  add(): Promise<void>;
  /** True when something was removed. */
  remove(): Promise<boolean>;
}

export interface StoreLookup {
  store: StoreName;
  /** Why the store is not on this machine (then `targets` is empty). */
  absent: string | null;
  targets: TrustTarget[];
}

/** Finds the stores (all, or `only`) on this machine and what trusting `ca` in each would change. */
export async function findStores(ca: CaCertificate, ctx: TrustContext, only: StoreName[] | null = null): Promise<StoreLookup[]> {
  const wanted = only ?? [...STORE_NAMES];
  const finders: Record<StoreName, () => Promise<StoreLookup>> = {
    system: () => systemStore(ca, ctx),
    nss: () => nssStores(ca, ctx),
    macos: async () => macosStore(ca, ctx),
    windows: async () => windowsStore(ca, ctx),
    java: () => javaStore(ca, ctx),
  };
  return Promise.all(wanted.map((name) => finders[name]()));
}

export interface TrustStatus {
  store: StoreName;
  label: string;
  /** null: could not be checked (tool missing). */
  trusted: boolean | null;
  note: string | null;
}

/** Whether `ca` is trusted, target by target, in the stores present (absent ones are left out). */
export async function checkTrust(lookups: StoreLookup[]): Promise<TrustStatus[]> {
  const targets = lookups.flatMap((l) => l.targets);
  return Promise.all(
    targets.map(async (t) => {
      if (t.missing) return { store: t.store, label: t.label, trusted: null, note: t.missing };
      try {
        return { store: t.store, label: t.label, trusted: await t.isTrusted(), note: null };
      } catch (err) {
        return { store: t.store, label: t.label, trusted: null, note: errorText(err) };
      }
    }),
  );
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A name for the CA's entries that no other certificate has: its common name and fingerprint. */
export function entryName(ca: CaCertificate): string {
  return `${ca.commonName} ${shortFingerprint(ca)}`;
}

function shortFingerprint(ca: CaCertificate): string {
  return ca.fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// Running the tools

interface RunOptions {
  /** The sudo to run it through, or null. */
  sudo?: string | null;
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Give sudo the path (an update.d hook in a root-owned directory, on no PATH). */
  keepPath?: boolean;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a store's tool, never through a shell. Through sudo (the system's) it is given by its bare
 * name, so sudo's secure_path finds it, not the caller's PATH. Throws when it cannot start.
 */
function run(command: string, args: string[], { sudo = null, env, input, keepPath = false }: RunOptions = {}): Promise<RunResult> {
  const [cmd, argv] = sudo ? [sudo, [keepPath ? command : path.basename(command), ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    // sudo may ask for a password on the terminal: stdin stays the user's.
    const child = spawn(cmd, argv, { stdio: [input !== undefined ? 'pipe' : sudo ? 'inherit' : 'ignore', 'pipe', 'pipe'], env: env ?? process.env });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new Error(`cannot run ${cmd}: ${errorText(err)}`)));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** run and runOk with the context's environment (its HOME is the tools'), sudo from the system's directories. */
function tools(ctx: TrustContext) {
  // Never a sudo from PATH: a planted one would be handed the user's password.
  const sudoPath = () => {
    const sudo = findTool('sudo', ctx);
    if (!sudo) throw new Error(`sudo not found in ${[...userToolDirs(ctx.env), ...(ctx.toolDirs ?? systemToolDirs(ctx.platform, ctx.env))].join(', ')}`);
    return sudo;
  };
  type Options = { sudo?: boolean; input?: string; keepPath?: boolean };
  const wrap = (options: Options) => ({ ...options, sudo: options.sudo ? sudoPath() : null, env: ctx.env });
  return {
    run: (command: string, args: string[], options: Options = {}) => run(command, args, wrap(options)),
    runOk: (command: string, args: string[], options: Options = {}) => runOk(command, args, wrap(options)),
  };
}

async function runOk(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-2).join(' ');
    // The tool and its subcommand (certutil -addstore, security add-trusted-cert), never the paths after.
    const sub = args.find((a) => /^-?[a-z][\w-]*$/i.test(a) && !a.startsWith('--'));
    const name = [path.basename(command), ...(sub ? [sub] : [])].join(' ');
    throw new Error(`${options.sudo ? 'sudo ' : ''}${name} failed (exit ${result.code})${output ? `: ${output}` : ''}`);
  }
  return result;
}

/** The first executable called `name` in the user's tool directories, then the system's (or among `extra` paths); null when none. */
export function findTool(name: string, ctx: TrustContext, extra: string[] = []): string | null {
  const dirs = [...userToolDirs(ctx.env), ...(ctx.toolDirs ?? systemToolDirs(ctx.platform, ctx.env))];
  return firstExecutable(name, dirs, ctx.platform, extra);
}

/** The first executable called `name` on PATH: only to see whether a browser is installed, never to run it. */
export function onPath(name: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string | null {
  return firstExecutable(name, (env.PATH ?? '').split(path.delimiter).filter(Boolean), platform);
}

function firstExecutable(name: string, dirs: string[], platform: NodeJS.Platform, extra: string[] = []): string | null {
  const exts = platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const candidate of [...dirs.flatMap((d) => exts.map((e) => path.join(d, name + e))), ...extra]) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** A command as the plan prints it: the path that runs, or `sudo <name>` (sudo finds it on its secure_path). */
function shown(command: string, args: string[], sudo: boolean): string {
  const quote = (a: string) => (/^[\w@%+=:,./\-]+$/.test(a) ? a : `"${a}"`);
  return [...(sudo ? ['sudo', path.basename(command)] : [command]), ...args].map((a, i) => (i === 0 ? a : quote(a))).join(' ');
}

function writable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function exists(file: string): boolean {
  return fs.existsSync(file);
}

/** `~/x` for paths under the home directory: shorter plans. */
function tilde(file: string, ctx: TrustContext): string {
  return file.startsWith(ctx.home + path.sep) ? `~${file.slice(ctx.home.length)}` : file;
}

/** The package that has `tool` on this distribution, from /etc/os-release. */
function packageHint(tool: 'certutil', ctx: TrustContext): string {
  if (ctx.platform === 'darwin') return 'brew install nss';
  let release = '';
  try {
    release = fs.readFileSync('/etc/os-release', 'utf8');
  } catch {
    // unknown distribution
  }
  const ids = `${/^ID=(.*)$/m.exec(release)?.[1] ?? ''} ${/^ID_LIKE=(.*)$/m.exec(release)?.[1] ?? ''}`.replace(/"/g, '');
  const pkg: Array<[RegExp, string]> = [
    [/debian|ubuntu/, 'sudo apt install libnss3-tools'],
    [/fedora|rhel|centos/, 'sudo dnf install nss-tools'],
    [/arch/, 'sudo pacman -S nss'],
    [/suse/, 'sudo zypper install mozilla-nss-tools'],
    [/alpine/, 'sudo apk add nss-tools'],
  ];
  const found = pkg.find(([re]) => re.test(ids));
  return `${tool} not found: install it with ${found ? found[1] : 'your distribution\'s NSS tools package (libnss3-tools on Debian and Ubuntu, nss-tools on Fedora)'}`;
}

// ---------------------------------------------------------------------------------------------
// Linux system store

interface SystemLayout {
  /** Where local anchors go. */
  anchors: string;
  /** The bundle the command builds, which OpenSSL, curl and most runtimes read. */
  bundle: string;
  command: string;
  args: string[];
  /** Directories the command expects (only for the layout moved under DEV_HTTPS_SYSTEM_STORE_ROOT). */
  dirs: string[];
  /** Debian's update-ca-certificates: its links directory and update.d hooks, which hear of a removal only from us. */
  debian: { certsDir: string; hooksDir: string } | null;
}

/**
 * The distribution's layout. DEV_HTTPS_SYSTEM_STORE_ROOT (for tests) moves the Debian layout under
 * a directory: update-ca-certificates is then told every path, and the machine's store is not touched.
 */
function systemLayout(ctx: TrustContext): SystemLayout | string {
  const root = ctx.env.DEV_HTTPS_SYSTEM_STORE_ROOT;
  if (root) {
    const tool = findTool('update-ca-certificates', ctx);
    if (!tool) return 'update-ca-certificates not found (DEV_HTTPS_SYSTEM_STORE_ROOT needs the Debian layout)';
    const at = (p: string) => path.join(root, p);
    return {
      anchors: at('usr/local/share/ca-certificates'),
      bundle: at('etc/ssl/certs/ca-certificates.crt'),
      command: tool,
      dirs: ['etc/ssl/certs', 'usr/share/ca-certificates', 'usr/local/share/ca-certificates', 'etc/ca-certificates/update.d'].map(at),
      debian: { certsDir: at('etc/ssl/certs'), hooksDir: at('etc/ca-certificates/update.d') },
      args: [
        '--certsconf', at('etc/ca-certificates.conf'),
        '--certsdir', at('usr/share/ca-certificates'),
        '--localcertsdir', at('usr/local/share/ca-certificates'),
        '--etccertsdir', at('etc/ssl/certs'),
        '--hooksdir', at('etc/ca-certificates/update.d'),
      ],
    };
  }
  const sbin = (name: string) => findTool(name, ctx);
  const layouts: Array<{ anchors: string; bundle: string; tool: string; args: string[] }> = [
    { anchors: '/usr/local/share/ca-certificates', bundle: '/etc/ssl/certs/ca-certificates.crt', tool: 'update-ca-certificates', args: [] },
    { anchors: '/etc/pki/ca-trust/source/anchors', bundle: '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', tool: 'update-ca-trust', args: ['extract'] },
    { anchors: '/etc/ca-certificates/trust-source/anchors', bundle: '/etc/ca-certificates/extracted/tls-ca-bundle.pem', tool: 'trust', args: ['extract-compat'] },
    { anchors: '/usr/share/pki/trust/anchors', bundle: '/var/lib/ca-certificates/ca-bundle.pem', tool: 'update-ca-certificates', args: [] },
  ];
  for (const l of layouts) {
    const tool = sbin(l.tool);
    const debian = l.bundle === '/etc/ssl/certs/ca-certificates.crt' ? { certsDir: '/etc/ssl/certs', hooksDir: '/etc/ca-certificates/update.d' } : null;
    if (tool && exists(l.anchors)) return { anchors: l.anchors, bundle: l.bundle, command: tool, args: l.args, dirs: [], debian };
  }
  return 'none of update-ca-certificates, update-ca-trust or trust extract-compat with its anchors directory was found';
}

async function systemStore(ca: CaCertificate, ctx: TrustContext): Promise<StoreLookup> {
  const exec = tools(ctx);
  if (ctx.platform !== 'linux') return { store: 'system', absent: 'only on Linux (macOS and Windows have their own stores)', targets: [] };
  const layout = systemLayout(ctx);
  if (typeof layout === 'string') return { store: 'system', absent: layout, targets: [] };
  const file = path.join(layout.anchors, `dev-https-${shortFingerprint(ca)}.crt`);
  const sudo = !ctx.isRoot && !writable(exists(layout.anchors) ? layout.anchors : path.dirname(layout.anchors));
  const update = async (extra: string[] = []) => {
    for (const dir of layout.dirs) fs.mkdirSync(dir, { recursive: true });
    await exec.runOk(layout.command, [...extra, ...layout.args], { sudo });
  };
  const commandText = [path.basename(layout.command), ...(ctx.env.DEV_HTTPS_SYSTEM_STORE_ROOT ? [] : layout.args)].join(' ');
  return {
    store: 'system',
    absent: null,
    targets: [
      {
        store: 'system',
        label: `system store (${commandText})`,
        change: `copies the CA to ${file} and runs ${shown(layout.command, layout.args, sudo)}${sudo ? ' (through sudo: it needs root)' : ''}`,
        sudo,
        missing: null,
        isTrusted: async () => bundleHas(layout.bundle, ca),
        add: async () => {
          if (sudo) await exec.runOk('install', ['-D', '-m', '0644', ca.certPath, file], { sudo });
          else {
            fs.mkdirSync(layout.anchors, { recursive: true });
            fs.copyFileSync(ca.certPath, file);
            fs.chmodSync(file, 0o644);
          }
          await update();
          if (!bundleHas(layout.bundle, ca)) throw new Error(`${commandText} ran, but ${layout.bundle} does not contain the CA`);
        },
        remove: async () => {
          if (!exists(file)) return false;
          if (sudo) await exec.runOk('rm', ['-f', file], { sudo });
          else fs.rmSync(file, { force: true });
          // Debian's script never unlinks a deleted local certificate: --fresh rebuilds the links (no
          // dangling dev-https-*.pem or hash link), and the hooks (ca-certificates-java's Java
          // keystore) are told "-<link>", the line the script sends only for "!" entries of its config.
          await update(layout.debian ? ['--fresh'] : []);
          if (layout.debian) await tellHooksRemoved(exec, layout.debian, path.join(layout.debian.certsDir, `${path.basename(file, '.crt')}.pem`), sudo);
          if (bundleHas(layout.bundle, ca)) throw new Error(`${commandText} ran, but ${layout.bundle} still contains the CA`);
          return true;
        },
      },
    ],
  };
}

/** Runs each update.d hook as update-ca-certificates does (run-parts names, in order) with "-<pem>" on stdin. */
async function tellHooksRemoved(exec: ReturnType<typeof tools>, debian: { hooksDir: string }, pem: string, sudo: boolean): Promise<void> {
  let names: string[] = [];
  try {
    names = fs.readdirSync(debian.hooksDir).filter((n) => /^[\w-]+$/.test(n)).sort();
  } catch {
    return;
  }
  for (const name of names) {
    const hook = path.join(debian.hooksDir, name);
    try {
      fs.accessSync(hook, fs.constants.X_OK);
      if (!fs.statSync(hook).isFile()) continue;
    } catch {
      continue;
    }
    await exec.runOk(hook, [], { sudo, input: `-${pem}\n`, keepPath: true });
  }
}

/** True when the PEM bundle holds this CA (compared by the base64 of its DER). */
function bundleHas(bundle: string, ca: CaCertificate): boolean {
  let text: string;
  try {
    text = fs.readFileSync(bundle, 'utf8');
  } catch {
    return false;
  }
  const body = (pem: string) => pem.replace(/-----[^-]+-----|\s/g, '');
  return text.replace(/\s/g, '').includes(body(ca.cert));
}

// ---------------------------------------------------------------------------------------------
// NSS databases: Chrome and Chromium on Linux (~/.pki/nssdb), Firefox profiles everywhere

function nssDatabases(ctx: TrustContext): Array<{ dir: string; label: string; create: boolean }> {
  const found: Array<{ dir: string; label: string; create: boolean }> = [];
  const isDb = (dir: string) => exists(path.join(dir, 'cert9.db')) || exists(path.join(dir, 'cert8.db'));
  const chromeDbs = [path.join(ctx.home, '.pki', 'nssdb'), path.join(ctx.home, 'snap', 'chromium', 'current', '.pki', 'nssdb')];
  for (const dir of chromeDbs) if (isDb(dir)) found.push({ dir, label: 'Chrome, Chromium', create: false });
  const profileRoots = [
    path.join(ctx.home, '.mozilla', 'firefox'),
    path.join(ctx.home, 'snap', 'firefox', 'common', '.mozilla', 'firefox'),
    path.join(ctx.home, '.var', 'app', 'org.mozilla.firefox', '.mozilla', 'firefox'),
    path.join(ctx.home, 'Library', 'Application Support', 'Firefox', 'Profiles'),
  ];
  for (const root of profileRoots) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const entry of entries.sort()) {
      const dir = path.join(root, entry);
      if (isDb(dir)) found.push({ dir, label: `Firefox profile ${entry}`, create: false });
    }
  }
  // Chrome and Chromium create ~/.pki/nssdb on their first start; trusting before that creates it.
  const mainDb = chromeDbs[0]!;
  if (ctx.platform === 'linux' && !isDb(mainDb)) {
    const browsers = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'brave-browser', 'microsoft-edge'];
    if (browsers.some((b) => onPath(b, ctx.env, ctx.platform))) found.unshift({ dir: mainDb, label: 'Chrome, Chromium', create: true });
  }
  return found;
}

async function nssStores(ca: CaCertificate, ctx: TrustContext): Promise<StoreLookup> {
  const exec = tools(ctx);
  if (ctx.platform === 'win32') return { store: 'nss', absent: 'Firefox on Windows reads the Windows store (windows)', targets: [] };
  const dbs = nssDatabases(ctx);
  if (dbs.length === 0) return { store: 'nss', absent: 'no NSS database: no Firefox profile, no ~/.pki/nssdb and no Chrome or Chromium', targets: [] };
  const certutil = findTool('certutil', ctx);
  const nickname = entryName(ca);
  return {
    store: 'nss',
    absent: null,
    targets: dbs.map(({ dir, label, create }) => {
      const db = `${exists(path.join(dir, 'cert8.db')) && !exists(path.join(dir, 'cert9.db')) ? 'dbm' : 'sql'}:${dir}`;
      const list = async () => (await exec.run(certutil!, ['-L', '-d', db, '-n', nickname, '-a'])).stdout;
      const isTrusted = async () => {
        // -n lists every certificate with the CA's subject: an older dev-https CA of the same name too.
        const pems = (await list()).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
        if (!pems.some((pem) => new X509Certificate(pem).fingerprint256 === ca.fingerprint256)) return false;
        // Listed is not trusted: the user may have cleared its flags; websites need "C" in the SSL column.
        const line = (await exec.run(certutil!, ['-L', '-d', db])).stdout.split('\n').find((l) => l.startsWith(`${nickname} `));
        return /\s[^\s,]*C[^\s,]*,[^\s,]*,[^\s,]*\s*$/.test(line ?? '');
      };
      return {
        store: 'nss' as const,
        label: `NSS database ${tilde(dir, ctx)} (${label})`,
        change: `${create ? `creates ${tilde(dir, ctx)} and ` : ''}adds the CA as "${nickname}" with ${certutil ? shown(certutil, ['-A', '-d', db, '-t', 'C,,', '-n', nickname, '-i', ca.certPath], false) : 'certutil'}`,
        sudo: false,
        missing: certutil ? null : packageHint('certutil', ctx),
        isTrusted: async () => (create && !exists(path.join(dir, 'cert9.db')) ? false : isTrusted()),
        add: async () => {
          if (!exists(path.join(dir, 'cert9.db')) && !exists(path.join(dir, 'cert8.db'))) {
            fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
            await exec.runOk(certutil!, ['-N', '-d', db, '--empty-password']);
          }
          await exec.runOk(certutil!, ['-A', '-d', db, '-t', 'C,,', '-n', nickname, '-i', ca.certPath]);
          if (!(await isTrusted())) throw new Error(`certutil added it, but ${dir} does not list it`);
        },
        remove: async () => {
          if (!exists(path.join(dir, 'cert9.db')) && !exists(path.join(dir, 'cert8.db'))) return false;
          let removed = false;
          // certutil -D removes one entry per call; a database may hold the nickname more than once.
          for (let i = 0; i < 10 && /BEGIN CERTIFICATE/.test(await list()); i++) {
            await exec.runOk(certutil!, ['-D', '-d', db, '-n', nickname]);
            removed = true;
          }
          return removed;
        },
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// macOS system keychain

function macosStore(ca: CaCertificate, ctx: TrustContext): StoreLookup {
  const exec = tools(ctx);
  if (ctx.platform !== 'darwin') return { store: 'macos', absent: 'only on macOS', targets: [] };
  const keychain = '/Library/Keychains/System.keychain';
  const sudo = !ctx.isRoot;
  const sha1 = new X509Certificate(ca.cert).fingerprint.replace(/:/g, '');
  const security = findTool('security', ctx) ?? 'security';
  const addArgs = ['add-trusted-cert', '-d', '-r', 'trustRoot', '-k', keychain, ca.certPath];
  return {
    store: 'macos',
    absent: null,
    targets: [
      {
        store: 'macos',
        label: `macOS system keychain (${keychain})`,
        change: `adds the CA to ${keychain} as a trusted root with ${shown(security, addArgs, sudo)}${sudo ? ' (through sudo: it needs an administrator)' : ''}`,
        sudo,
        missing: null,
        isTrusted: async () => (await exec.run(security, ['verify-cert', '-c', ca.certPath, '-p', 'ssl'])).code === 0,
        add: async () => {
          await exec.runOk(security, addArgs, { sudo });
        },
        remove: async () => {
          const found = (await exec.run(security, ['find-certificate', '-a', '-Z', keychain])).stdout.toUpperCase().includes(sha1);
          if (!found) return false;
          await exec.run(security, ['remove-trusted-cert', '-d', ca.certPath], { sudo });
          await exec.runOk(security, ['delete-certificate', '-Z', sha1, keychain], { sudo });
          return true;
        },
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Windows user root store

function windowsStore(ca: CaCertificate, ctx: TrustContext): StoreLookup {
  const exec = tools(ctx);
  const wsl = ctx.platform === 'linux' && isWsl(ctx);
  if (ctx.platform !== 'win32' && !wsl) return { store: 'windows', absent: 'only on Windows and in WSL', targets: [] };
  const serial = new X509Certificate(ca.cert).serialNumber;
  // Inside WSL the browser runs on Windows: the Windows certutil.exe (through WSL interop) is
  // given the CA file as Windows sees it (wslpath -w: \\wsl.localhost\<distro>\...).
  const certutil = wsl ? findTool('certutil.exe', ctx, ['/mnt/c/Windows/System32/certutil.exe']) : findTool('certutil', ctx);
  const wslpath = wsl ? findTool('wslpath', ctx) : null;
  const missing = !certutil ? (wsl ? 'certutil.exe not found in /mnt/c/Windows/System32 (is the C: drive mounted elsewhere? name its System32 in DEV_HTTPS_TOOL_DIR)' : 'certutil not found in System32') : wsl && !wslpath ? 'wslpath not found in /usr/bin or /bin' : null;
  const windowsPath = async (): Promise<string> => {
    if (!wsl) return ca.certPath;
    return (await exec.runOk(wslpath!, ['-w', ca.certPath])).stdout.trim();
  };
  const label = wsl ? 'Windows user root store, from WSL (certutil.exe -user Root)' : 'Windows user root store (certutil -user Root)';
  return {
    store: 'windows',
    absent: null,
    targets: [
      {
        store: 'windows',
        label,
        change: `adds the CA to your user Root store with ${shown(certutil ?? 'certutil', ['-addstore', '-user', '-f', 'Root', wsl ? `$(${shown(wslpath ?? 'wslpath', ['-w', ca.certPath], false)})` : ca.certPath], false)} (Windows asks you to confirm)`,
        sudo: false,
        missing,
        isTrusted: async () => (await exec.run(certutil!, ['-user', '-verifystore', 'Root', serial])).code === 0,
        add: async () => {
          await exec.runOk(certutil!, ['-addstore', '-user', '-f', 'Root', await windowsPath()]);
        },
        remove: async () => {
          if ((await exec.run(certutil!, ['-user', '-verifystore', 'Root', serial])).code !== 0) return false;
          await exec.runOk(certutil!, ['-delstore', '-user', 'Root', serial]);
          return true;
        },
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Java cacerts

async function javaStore(ca: CaCertificate, ctx: TrustContext): Promise<StoreLookup> {
  const exec = tools(ctx);
  const javaHome = ctx.env.JAVA_HOME;
  if (!javaHome) return { store: 'java', absent: 'JAVA_HOME is not set', targets: [] };
  const cacerts = [path.join(javaHome, 'lib', 'security', 'cacerts'), path.join(javaHome, 'jre', 'lib', 'security', 'cacerts')].find(exists);
  if (!cacerts) return { store: 'java', absent: `no cacerts under JAVA_HOME (${javaHome})`, targets: [] };
  const exe = ctx.platform === 'win32' ? 'keytool.exe' : 'keytool';
  // JAVA_HOME is the user's choice; else the system's keytool.
  const keytool = [path.join(javaHome, 'bin', exe)].find(exists) ?? findTool('keytool', ctx);
  const alias = `dev-https-${shortFingerprint(ca)}`;
  const storepass = ctx.env.DEV_HTTPS_JAVA_STOREPASS || 'changeit';
  const sudo = !ctx.isRoot && !writable(cacerts);
  const common = ['-keystore', cacerts, '-storepass', storepass, '-alias', alias];
  /** The entry as `keytool -list -v` shows it, or null when there is none; throws when the store cannot be read. */
  const entry = async (): Promise<string | null> => {
    const r = await exec.run(keytool!, ['-list', '-v', ...common]);
    if (r.code === 0) return r.stdout;
    // A missing alias and a wrong password both exit 1 (in the user's language): the store without the alias tells them apart.
    const store = await exec.run(keytool!, ['-list', '-keystore', cacerts, '-storepass', storepass]);
    if (store.code === 0) return null;
    throw new Error(`keytool -list failed (exit ${store.code}): ${(store.stdout.trim() || store.stderr.trim()).split('\n').slice(-1).join('')}`);
  };
  const listed = async () => (await entry())?.includes(ca.fingerprint256) ?? false;
  return {
    store: 'java',
    absent: null,
    targets: [
      {
        store: 'java',
        label: `Java cacerts (${cacerts})`,
        change: `imports the CA into ${cacerts} as "${alias}" with ${shown(keytool ?? 'keytool', ['-importcert', '-noprompt', '-trustcacerts', '-file', ca.certPath, '-keystore', cacerts, '-alias', alias], sudo)}${sudo ? ' (through sudo: it needs root)' : ''}`,
        sudo,
        missing: keytool ? null : `keytool not found in ${path.join(javaHome, 'bin')} or on PATH: install a JDK`,
        isTrusted: listed,
        add: async () => {
          await exec.runOk(keytool!, ['-importcert', '-noprompt', '-trustcacerts', '-file', ca.certPath, ...common], { sudo });
        },
        remove: async () => {
          if ((await entry()) === null) return false;
          await exec.runOk(keytool!, ['-delete', ...common], { sudo });
          return true;
        },
      },
    ],
  };
}
