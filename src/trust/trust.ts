// Trust stores: the one caller that loops over them. Each store is a file with the same shape
// (store.ts): system.ts (Linux), nss.ts (Chrome/Chromium, Firefox), macos.ts, windows.ts (and WSL),
// java.ts. Entries are named after the CA's fingerprint, so untrust removes exactly what trust added.
import { STORE_NAMES, type StoreName } from '../options.js';
import { javaStore } from './java.js';
import { macosStore } from './macos.js';
import { nssStores } from './nss.js';
import type { CaCertificate, FindStore, StoreLookup } from './store.js';
import { systemStore } from './system.js';
import { errorText, type TrustContext } from './tools.js';
import { windowsStore } from './windows.js';

const STORES: Record<StoreName, FindStore> = {
  system: systemStore,
  nss: nssStores,
  macos: macosStore,
  windows: windowsStore,
  java: javaStore,
};

/** Finds the stores (all, or `only`) on this machine and what trusting `ca` in each would change. */
export async function findStores(ca: CaCertificate, ctx: TrustContext, only: StoreName[] | null = null): Promise<StoreLookup[]> {
  const wanted = only ?? [...STORE_NAMES];
  return Promise.all(wanted.map(async (name) => STORES[name](ca, ctx)));
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
