// NSS databases: Chrome and Chromium on Linux (~/.pki/nssdb), Firefox profiles everywhere but
// Windows, through NSS's certutil.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { absent, entryName, type CaCertificate, type StoreLookup, type TrustTarget } from './store.js';
import { exists, findTool, onPath, shown, tilde, toolRunner, type TrustContext } from './tools.js';

interface NssDatabase {
  dir: string;
  label: string;
  /** Not there yet: a browser that would create it is installed, and trusting creates it. */
  create: boolean;
}

const isDb = (dir: string) => exists(path.join(dir, 'cert9.db')) || exists(path.join(dir, 'cert8.db'));

function nssDatabases(ctx: TrustContext): NssDatabase[] {
  const found: NssDatabase[] = [];
  const chromeDbs = [path.join(ctx.home, '.pki', 'nssdb'), path.join(ctx.home, 'snap', 'chromium', 'current', '.pki', 'nssdb')];
  for (const dir of chromeDbs) if (isDb(dir)) found.push({ dir, label: 'Chrome, Chromium', create: false });
  found.push(...firefoxProfiles(ctx));
  // Chrome and Chromium create ~/.pki/nssdb on their first start; trusting before that creates it.
  const mainDb = chromeDbs[0]!;
  if (ctx.platform === 'linux' && !isDb(mainDb)) {
    const browsers = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'brave-browser', 'microsoft-edge'];
    if (browsers.some((b) => onPath(b, ctx.env, ctx.platform))) found.unshift({ dir: mainDb, label: 'Chrome, Chromium', create: true });
  }
  return found;
}

function firefoxProfiles(ctx: TrustContext): NssDatabase[] {
  const found: NssDatabase[] = [];
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
  return found;
}

export async function nssStores(ca: CaCertificate, ctx: TrustContext): Promise<StoreLookup> {
  if (ctx.platform === 'win32') return absent('nss', 'Firefox on Windows reads the Windows store (windows)');
  const dbs = nssDatabases(ctx);
  if (dbs.length === 0) return absent('nss', 'no NSS database: no Firefox profile, no ~/.pki/nssdb and no Chrome or Chromium');
  const certutil = findTool('certutil', ctx);
  return { store: 'nss', absent: null, targets: dbs.map((db) => nssTarget(ca, ctx, db, certutil)) };
}

function nssTarget(ca: CaCertificate, ctx: TrustContext, { dir, label, create }: NssDatabase, certutil: string | null): TrustTarget {
  const exec = toolRunner(ctx);
  const nickname = entryName(ca);
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
  const addArgs = ['-A', '-d', db, '-t', 'C,,', '-n', nickname, '-i', ca.certPath];
  return {
    store: 'nss',
    label: `NSS database ${tilde(dir, ctx)} (${label})`,
    change: `${create ? `creates ${tilde(dir, ctx)} and ` : ''}adds the CA as "${nickname}" with ${certutil ? shown(certutil, addArgs, false) : 'certutil'}`,
    sudo: false,
    missing: certutil ? null : packageHint('certutil', ctx),
    isTrusted: async () => (create && !exists(path.join(dir, 'cert9.db')) ? false : isTrusted()),
    add: async () => {
      if (!isDb(dir)) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        await exec.runOk(certutil!, ['-N', '-d', db, '--empty-password']);
      }
      await exec.runOk(certutil!, addArgs);
      if (!(await isTrusted())) throw new Error(`certutil added it, but ${dir} does not list it`);
    },
    remove: async () => {
      if (!isDb(dir)) return false;
      let removed = false;
      // certutil -D removes one entry per call; a database may hold the nickname more than once.
      for (let i = 0; i < 10 && /BEGIN CERTIFICATE/.test(await list()); i++) {
        await exec.runOk(certutil!, ['-D', '-d', db, '-n', nickname]);
        removed = true;
      }
      return removed;
    },
  };
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
  return `${tool} not found: install it with ${found ? found[1] : "your distribution's NSS tools package (libnss3-tools on Debian and Ubuntu, nss-tools on Fedora)"}`;
}
