// The macOS system keychain, through security(1): a trusted root for every user of the machine.
import { X509Certificate } from 'node:crypto';
import { absent, type CaCertificate, type StoreLookup } from './store.js';
import { findTool, shown, toolRunner, type TrustContext } from './tools.js';

const KEYCHAIN = '/Library/Keychains/System.keychain';

export function macosStore(ca: CaCertificate, ctx: TrustContext): StoreLookup {
  if (ctx.platform !== 'darwin') return absent('macos', 'only on macOS');
  const exec = toolRunner(ctx);
  const sudo = !ctx.isRoot;
  const sha1 = new X509Certificate(ca.cert).fingerprint.replace(/:/g, '');
  const security = findTool('security', ctx) ?? 'security';
  const addArgs = ['add-trusted-cert', '-d', '-r', 'trustRoot', '-k', KEYCHAIN, ca.certPath];
  return {
    store: 'macos',
    absent: null,
    targets: [
      {
        store: 'macos',
        label: `macOS system keychain (${KEYCHAIN})`,
        change: `adds the CA to ${KEYCHAIN} as a trusted root with ${shown(security, addArgs, sudo)}${sudo ? ' (through sudo: it needs an administrator)' : ''}`,
        sudo,
        missing: null,
        isTrusted: async () => (await exec.run(security, ['verify-cert', '-c', ca.certPath, '-p', 'ssl'])).code === 0,
        add: async () => {
          await exec.runOk(security, addArgs, { sudo });
        },
        remove: async () => {
          const found = (await exec.run(security, ['find-certificate', '-a', '-Z', KEYCHAIN])).stdout.toUpperCase().includes(sha1);
          if (!found) return false;
          await exec.run(security, ['remove-trusted-cert', '-d', ca.certPath], { sudo });
          await exec.runOk(security, ['delete-certificate', '-Z', sha1, KEYCHAIN], { sudo });
          return true;
        },
      },
    ],
  };
}
