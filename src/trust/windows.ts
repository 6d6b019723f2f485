// The Windows user root store, through certutil: on Windows, and from WSL (where the browser runs
// on Windows) through certutil.exe and WSL interop.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { absent, type CaCertificate, type StoreLookup } from './store.js';
import { findTool, shown, toolRunner, type TrustContext } from './tools.js';

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

export function windowsStore(ca: CaCertificate, ctx: TrustContext): StoreLookup {
  const wsl = ctx.platform === 'linux' && isWsl(ctx);
  if (ctx.platform !== 'win32' && !wsl) return absent('windows', 'only on Windows and in WSL');
  const exec = toolRunner(ctx);
  const serial = new X509Certificate(ca.cert).serialNumber;
  // Inside WSL the Windows certutil.exe is given the CA file as Windows sees it
  // (wslpath -w: \\wsl.localhost\<distro>\...).
  const certutil = wsl ? findTool('certutil.exe', ctx, ['/mnt/c/Windows/System32/certutil.exe']) : findTool('certutil', ctx);
  const wslpath = wsl ? findTool('wslpath', ctx) : null;
  const missing = !certutil
    ? wsl
      ? 'certutil.exe not found in /mnt/c/Windows/System32 (is the C: drive mounted elsewhere? name its System32 in DEV_HTTPS_TOOL_DIR)'
      : 'certutil not found in System32'
    : wsl && !wslpath
      ? 'wslpath not found in /usr/bin or /bin'
      : null;
  const windowsPath = async (): Promise<string> => {
    if (!wsl) return ca.certPath;
    return (await exec.runOk(wslpath!, ['-w', ca.certPath])).stdout.trim();
  };
  const inStore = async () => (await exec.run(certutil!, ['-user', '-verifystore', 'Root', serial])).code === 0;
  const shownPath = wsl ? `$(${shown(wslpath ?? 'wslpath', ['-w', ca.certPath], false)})` : ca.certPath;
  return {
    store: 'windows',
    absent: null,
    targets: [
      {
        store: 'windows',
        label: wsl ? 'Windows user root store, from WSL (certutil.exe -user Root)' : 'Windows user root store (certutil -user Root)',
        change: `adds the CA to your user Root store with ${shown(certutil ?? 'certutil', ['-addstore', '-user', '-f', 'Root', shownPath], false)} (Windows asks you to confirm)`,
        sudo: false,
        missing,
        isTrusted: inStore,
        add: async () => {
          await exec.runOk(certutil!, ['-addstore', '-user', '-f', 'Root', await windowsPath()]);
        },
        remove: async () => {
          if (!(await inStore())) return false;
          await exec.runOk(certutil!, ['-delstore', '-user', 'Root', serial]);
          return true;
        },
      },
    ],
  };
}
