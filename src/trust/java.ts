// Java's cacerts under JAVA_HOME, through keytool: the store JVM clients read, never browsers.
import path from 'node:path';
import { absent, shortFingerprint, type CaCertificate, type StoreLookup } from './store.js';
import { exists, findTool, shown, toolRunner, writable, type ToolRunner, type TrustContext } from './tools.js';

export async function javaStore(ca: CaCertificate, ctx: TrustContext): Promise<StoreLookup> {
  const javaHome = ctx.env.JAVA_HOME;
  if (!javaHome) return absent('java', 'JAVA_HOME is not set');
  const cacerts = [path.join(javaHome, 'lib', 'security', 'cacerts'), path.join(javaHome, 'jre', 'lib', 'security', 'cacerts')].find(
    exists,
  );
  if (!cacerts) return absent('java', `no cacerts under JAVA_HOME (${javaHome})`);
  const exec = toolRunner(ctx);
  const exe = ctx.platform === 'win32' ? 'keytool.exe' : 'keytool';
  // JAVA_HOME is the user's choice; else the system's keytool.
  const keytool = [path.join(javaHome, 'bin', exe)].find(exists) ?? findTool('keytool', ctx);
  const alias = `dev-https-${shortFingerprint(ca)}`;
  const storepass = ctx.env.DEV_HTTPS_JAVA_STOREPASS || 'changeit';
  const sudo = !ctx.isRoot && !writable(cacerts);
  const common = ['-keystore', cacerts, '-storepass', storepass, '-alias', alias];
  const entry = () => keystoreEntry(exec, keytool!, cacerts, storepass, common);
  return {
    store: 'java',
    absent: null,
    targets: [
      {
        store: 'java',
        label: `Java cacerts (${cacerts})`,
        change: `imports the CA into ${cacerts} as "${alias}" with ${shown(keytool ?? 'keytool', ['-importcert', '-noprompt', '-trustcacerts', '-file', ca.certPath, '-keystore', cacerts, '-alias', alias], sudo)}${sudo ? ' (through sudo: it needs root)' : ''}`,
        sudo,
        missing: keytool ? null : `keytool not found in ${path.join(javaHome, 'bin')} or the system's tool directories: install a JDK`,
        isTrusted: async () => (await entry())?.includes(ca.fingerprint256) ?? false,
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

/** The entry as `keytool -list -v` shows it, or null when there is none; throws when the store cannot be read. */
async function keystoreEntry(
  exec: ToolRunner,
  keytool: string,
  cacerts: string,
  storepass: string,
  common: string[],
): Promise<string | null> {
  const r = await exec.run(keytool, ['-list', '-v', ...common]);
  if (r.code === 0) return r.stdout;
  // A missing alias and a wrong password both exit 1 (in the user's language): the store without the alias tells them apart.
  const store = await exec.run(keytool, ['-list', '-keystore', cacerts, '-storepass', storepass]);
  if (store.code === 0) return null;
  throw new Error(
    `keytool -list failed (exit ${store.code}): ${(store.stdout.trim() || store.stderr.trim()).split('\n').slice(-1).join('')}`,
  );
}
