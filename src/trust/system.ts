// The Linux system store: the CA as a local anchor, then the distribution's command rebuilds the
// bundle OpenSSL, curl and most runtimes read (Debian, Fedora, Arch and SUSE layouts).
import fs from 'node:fs';
import path from 'node:path';
import { absent, shortFingerprint, type CaCertificate, type StoreLookup, type TrustTarget } from './store.js';
import { exists, findTool, isExecutableFile, shown, toolRunner, writable, type ToolRunner, type TrustContext } from './tools.js';

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

const LAYOUTS: Array<{ anchors: string; bundle: string; tool: string; args: string[] }> = [
  { anchors: '/usr/local/share/ca-certificates', bundle: '/etc/ssl/certs/ca-certificates.crt', tool: 'update-ca-certificates', args: [] },
  {
    anchors: '/etc/pki/ca-trust/source/anchors',
    bundle: '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
    tool: 'update-ca-trust',
    args: ['extract'],
  },
  {
    anchors: '/etc/ca-certificates/trust-source/anchors',
    bundle: '/etc/ca-certificates/extracted/tls-ca-bundle.pem',
    tool: 'trust',
    args: ['extract-compat'],
  },
  { anchors: '/usr/share/pki/trust/anchors', bundle: '/var/lib/ca-certificates/ca-bundle.pem', tool: 'update-ca-certificates', args: [] },
];

/** The distribution's layout, or why there is none. */
function systemLayout(ctx: TrustContext): SystemLayout | string {
  const root = ctx.env.DEV_HTTPS_SYSTEM_STORE_ROOT;
  if (root) return rootedLayout(root, ctx);
  for (const l of LAYOUTS) {
    const tool = findTool(l.tool, ctx);
    const debian =
      l.bundle === '/etc/ssl/certs/ca-certificates.crt' ? { certsDir: '/etc/ssl/certs', hooksDir: '/etc/ca-certificates/update.d' } : null;
    if (tool && exists(l.anchors)) return { anchors: l.anchors, bundle: l.bundle, command: tool, args: l.args, dirs: [], debian };
  }
  return 'none of update-ca-certificates, update-ca-trust or trust extract-compat with its anchors directory was found';
}

/**
 * DEV_HTTPS_SYSTEM_STORE_ROOT (for tests) moves the Debian layout under a directory:
 * update-ca-certificates is then told every path, and the machine's store is not touched.
 */
function rootedLayout(root: string, ctx: TrustContext): SystemLayout | string {
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
      '--certsconf',
      at('etc/ca-certificates.conf'),
      '--certsdir',
      at('usr/share/ca-certificates'),
      '--localcertsdir',
      at('usr/local/share/ca-certificates'),
      '--etccertsdir',
      at('etc/ssl/certs'),
      '--hooksdir',
      at('etc/ca-certificates/update.d'),
    ],
  };
}

export async function systemStore(ca: CaCertificate, ctx: TrustContext): Promise<StoreLookup> {
  if (ctx.platform !== 'linux') return absent('system', 'only on Linux (macOS and Windows have their own stores)');
  const layout = systemLayout(ctx);
  if (typeof layout === 'string') return absent('system', layout);
  return { store: 'system', absent: null, targets: [systemTarget(ca, ctx, layout)] };
}

function systemTarget(ca: CaCertificate, ctx: TrustContext, layout: SystemLayout): TrustTarget {
  const exec = toolRunner(ctx);
  const file = path.join(layout.anchors, `dev-https-${shortFingerprint(ca)}.crt`);
  const sudo = !ctx.isRoot && !writable(exists(layout.anchors) ? layout.anchors : path.dirname(layout.anchors));
  const update = async (extra: string[] = []) => {
    for (const dir of layout.dirs) fs.mkdirSync(dir, { recursive: true });
    await exec.runOk(layout.command, [...extra, ...layout.args], { sudo });
  };
  const commandText = [path.basename(layout.command), ...(ctx.env.DEV_HTTPS_SYSTEM_STORE_ROOT ? [] : layout.args)].join(' ');
  return {
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
      if (layout.debian)
        await tellHooksRemoved(exec, layout.debian, path.join(layout.debian.certsDir, `${path.basename(file, '.crt')}.pem`), sudo);
      if (bundleHas(layout.bundle, ca)) throw new Error(`${commandText} ran, but ${layout.bundle} still contains the CA`);
      return true;
    },
  };
}

/** Runs each update.d hook as update-ca-certificates does (run-parts names, in order) with "-<pem>" on stdin. */
async function tellHooksRemoved(exec: ToolRunner, debian: { hooksDir: string }, pem: string, sudo: boolean): Promise<void> {
  let names: string[] = [];
  try {
    names = fs
      .readdirSync(debian.hooksDir)
      .filter((n) => /^[\w-]+$/.test(n))
      .sort();
  } catch {
    return;
  }
  for (const name of names) {
    const hook = path.join(debian.hooksDir, name);
    if (!isExecutableFile(hook)) continue;
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
