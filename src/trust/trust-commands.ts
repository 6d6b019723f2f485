// The trust, untrust, doctor (trust --check) and cert commands: what they do and what they print.
// cli/cli.ts parses their flags and sets the exit code from what these return.
import { ensureCA, readCA, replaceCA, resolveCaRoot, unconstrainedWarning, type CertificateAuthority } from '../certs/ca.js';
import { DEFAULT_PERMITTED, describePermitted } from '../certs/constraints.js';
import { loadCurrentCertificate, type CertificateInfo } from '../certs/current-cert.js';
import type { Logger } from '../logger.js';
import { resolveOptions, type DevHttpsOptions, type StoreName } from '../options.js';
import type { StoreLookup, TrustTarget } from './store.js';
import { defaultTrustContext, errorText, type TrustContext } from './tools.js';
import { checkTrust, findStores, type TrustStatus } from './trust.js';

export interface TrustCommandOptions {
  action: 'trust' | 'untrust' | 'check';
  /** null: every store present. */
  stores: StoreName[] | null;
  /** Where each line goes as it happens. */
  print: (line: string) => void;
  logger: Logger;
  caRoot?: string;
  context?: TrustContext;
  /** trust --permit: DNS suffixes (resolvePermit) the CA must also permit; a CA without them is replaced. */
  permit?: string[];
  /** trust --replace: a new CA in place of the current one, in every store that trusted it. */
  replace?: boolean;
}

/** Runs trust, untrust or the check; true when everything asked for succeeded. */
export async function runTrustCommand(options: TrustCommandOptions): Promise<boolean> {
  const { print, action } = options;
  const ctx = options.context ?? defaultTrustContext();
  const root = options.caRoot ?? resolveCaRoot(ctx.env, ctx.platform, ctx.home);
  const resolved = await caForCommand(root, options, ctx);
  if (!resolved) return false;
  const { ca, alsoTrust, replacing } = resolved;
  if (!ca) {
    print(
      `There is no dev-https CA in ${root} yet: ${action === 'untrust' ? 'nothing to remove' : 'run dev-https trust to create and trust it'}.`,
    );
    return action === 'untrust';
  }
  printCa(ca, print);
  const stores = options.stores && alsoTrust.length ? [...new Set([...options.stores, ...alsoTrust])] : options.stores;
  const lookups = await findStores(ca, ctx, stores);
  const wanted = (store: StoreName) => stores?.includes(store) ?? false;
  let ok = true;
  for (const l of lookups) {
    // A store asked for by name that is not here is a failure; one not asked for is only noted.
    if (l.absent && wanted(l.store)) {
      print(`✘ ${l.store}: not on this machine: ${l.absent}`);
      ok = false;
    }
  }
  const targets = lookups.flatMap((l) => l.targets);
  if (action === 'check') {
    const statuses = await checkTrust(lookups);
    for (const line of formatTrustStatus(
      statuses,
      lookups.filter((l) => !wanted(l.store)),
    ))
      print(line);
    return ok && statuses.length > 0 && statuses.every((s) => s.trusted === true);
  }
  if (targets.length === 0) {
    print(`No trust store found (${lookups.map((l) => `${l.store}: ${l.absent}`).join('; ')}).`);
    return false;
  }
  printPlan(action, targets, print);
  if (!(await applyToTargets(action, targets, print))) ok = false;
  if (action === 'trust' && ok && targets.some((t) => t.store === 'nss' || t.store === 'macos' || t.store === 'windows')) {
    print('Restart your browser if it was open: browsers read their trust stores at start.');
  }
  if (action === 'trust' && replacing)
    print('Each project gets a leaf from the new CA on its next start (restart a dev-https that is running).');
  if (action === 'untrust')
    print(`The CA itself stays in ${root}; delete that directory to remove it for good (projects then get a new CA).`);
  return ok;
}

/**
 * The CA the command acts on: read (untrust, the check), made if needed (trust), or replaced
 * (--replace, or a --permit the current one lacks) with the stores that trusted the old one.
 * false: the replacement failed (said why).
 */
async function caForCommand(
  root: string,
  options: TrustCommandOptions,
  ctx: TrustContext,
): Promise<{ ca: CertificateAuthority | null; alsoTrust: StoreName[]; replacing: boolean } | false> {
  const { action } = options;
  const permit = options.permit ?? [];
  // untrust and the check need only the certificate: they must work when the key is lost or damaged.
  // --replace needs only the old certificate (to untrust it): it also replaces a CA whose key is lost or loose.
  const ca = action === 'trust' && !options.replace ? await readCA(root) : await readCA(root, { withKey: false });
  const replacing =
    action === 'trust' && (options.replace === true || (permit.length > 0 && !permit.every((p) => ca?.permitted?.includes(p))));
  if (replacing) {
    const replaced = await replaceTrustedCA(root, ca, permit, options, ctx);
    return replaced ? { ...replaced, replacing } : false;
  }
  return { ca: action === 'trust' ? await ensureCA(root, options.logger, 'trust') : ca, alsoTrust: [], replacing };
}

function printCa(ca: CertificateAuthority, print: (line: string) => void): void {
  print(`dev-https CA: ${ca.commonName}`);
  print(`  ${ca.certPath} (SHA-256 ${ca.fingerprint256})`);
  print(ca.permitted ? `  signs only ${describePermitted(ca.permitted)}` : `⚠ ${unconstrainedWarning(ca)}`);
}

/** What trust or untrust is about to change, printed before it acts. */
function printPlan(action: 'trust' | 'untrust', targets: TrustTarget[], print: (line: string) => void): void {
  if (action === 'trust') {
    print('Adding it to:');
    for (const t of targets) print(`  - ${t.label}: ${t.missing ? `skipped, ${t.missing}` : t.change}`);
    if (targets.some((t) => t.sudo && !t.missing))
      print('sudo will ask for your password for the stores marked "through sudo", and only for those.');
  } else {
    print('Removing it from:');
    for (const t of targets) print(`  - ${t.label}${t.sudo ? ' (through sudo)' : ''}`);
  }
}

/** Adds to or removes from each target; one store failing does not stop the others. True when all succeeded. */
async function applyToTargets(action: 'trust' | 'untrust', targets: TrustTarget[], print: (line: string) => void): Promise<boolean> {
  let ok = true;
  for (const t of targets) {
    if (t.missing) {
      print(`✘ ${t.label}: ${t.missing}`);
      ok = false;
      continue;
    }
    try {
      if (action === 'trust') {
        if (await t.isTrusted()) print(`✔ ${t.label}: already trusted`);
        else {
          await t.add();
          print(`✔ ${t.label}: trusted`);
        }
      } else {
        print(`✔ ${t.label}: ${(await t.remove()) ? 'removed' : 'was not there'}`);
      }
    } catch (err) {
      print(`✘ ${t.label}: ${errorText(err)}`);
      ok = false;
    }
  }
  return ok;
}

/**
 * trust --replace and --permit: the current CA is removed from every store that trusts it (all
 * of them, not only --store), then deleted, and a new one made; the caller trusts it in those
 * stores. Nothing is deleted when a removal fails. null: it failed (said why).
 */
async function replaceTrustedCA(
  root: string,
  old: CertificateAuthority | null,
  permit: string[],
  options: TrustCommandOptions,
  ctx: TrustContext,
): Promise<{ ca: CertificateAuthority; alsoTrust: StoreName[] } | null> {
  const { print } = options;
  const permitted = [...new Set([...(old?.permitted ?? DEFAULT_PERMITTED), ...permit])];
  let alsoTrust: StoreName[] = [];
  if (old) {
    print(
      `Replacing the dev-https CA ${old.certPath} (${old.commonName}, SHA-256 ${old.fingerprint256})${old.permitted ? '' : ', which can sign for any site'}.`,
    );
    const lookups = await findStores(old, ctx);
    const statuses = await checkTrust(lookups);
    const trusted = lookups.flatMap((l) => l.targets).filter((t) => statuses.some((s) => s.label === t.label && s.trusted === true));
    if (trusted.length) {
      print('Removing the old CA from:');
      for (const t of trusted) print(`  - ${t.label}${t.sudo ? ' (through sudo)' : ''}`);
      if (!(await applyToTargets('untrust', trusted, print))) {
        print(`✘ The old CA is still trusted there, so it is kept: fix the store above and run the same command again.`);
        return null;
      }
    }
    alsoTrust = [...new Set(trusted.map((t) => t.store))];
  }
  const ca = await replaceCA(root, options.logger, permitted);
  return { ca, alsoTrust };
}

function formatTrustStatus(statuses: TrustStatus[], lookups: StoreLookup[]): string[] {
  const lines = statuses.map(
    (s) =>
      `${s.trusted === true ? '✔' : '✘'} ${s.label}: ${s.trusted === true ? 'trusted' : s.trusted === false ? 'not trusted (run dev-https trust)' : `cannot tell: ${s.note}`}`,
  );
  for (const l of lookups) if (l.absent) lines.push(`- ${l.store}: not here (${l.absent})`);
  return lines;
}

/** The stores browsers read (Chrome and Firefox on Fedora read the system store through p11-kit); never Java's. */
const BROWSER_STORES: StoreName[] = ['system', 'nss', 'macos', 'windows'];

/** True when the CA in `caRoot` (default: the user's) is trusted in a store browsers read; null when there is no CA yet. */
export async function isCaTrustedAnywhere(caRoot?: string, context: TrustContext = defaultTrustContext()): Promise<boolean | null> {
  const ca = await readCA(caRoot ?? resolveCaRoot(context.env, context.platform, context.home), { withKey: false });
  if (!ca) return null;
  return (await checkTrust(await findStores(ca, context, BROWSER_STORES))).some((s) => s.trusted === true);
}

export interface CertificateReport {
  certificate: Omit<CertificateInfo, 'cert' | 'ca'>;
  ca:
    | (Omit<NonNullable<CertificateInfo['ca']>, 'cert' | 'keyPath' | 'permitted' | 'unconstrained'> & {
        keyPath: string;
        /** What it may sign for; null: any site (an older CA). */ signs: string | null;
      })
    | null;
  trust: TrustStatus[];
  /** How clients that do not read the system store trust it. */
  clients: { node: string; curl: string; python: string };
}

/** What `dev-https cert` shows: the certificate the options would serve (made now if needed), its CA and trust. */
export async function certificateReport(
  options: DevHttpsOptions,
  context: TrustContext = defaultTrustContext(),
): Promise<CertificateReport> {
  const opts = resolveOptions(options);
  const current = await loadCurrentCertificate(opts);
  await current.close();
  const { cert: _cert, ca, ...certificate } = current.info();
  let trust: TrustStatus[] = [];
  let caReport: CertificateReport['ca'] = null;
  if (ca) {
    // The CA just loaded: the stores need only its certificate.
    trust = await checkTrust(await findStores(ca, context));
    const { cert: _caCert, keyPath, permitted: _permitted, unconstrained: _unconstrained, ...caRest } = ca;
    caReport = { ...caRest, keyPath: keyPath ?? '', signs: ca.permitted ? describePermitted(ca.permitted) : null };
  }
  const file = certificate.trustPath ?? '<the CA that issued your certificate, e.g. "$(mkcert -CAROOT)/rootCA.pem">';
  return {
    certificate,
    ca: caReport,
    trust,
    clients: {
      node: `NODE_EXTRA_CA_CERTS=${file}`,
      curl: `curl --cacert ${file} https://${opts.publicHost}:${opts.port || 8443}/`,
      python: `REQUESTS_CA_BUNDLE=${file} (requests) · SSL_CERT_FILE=${file} (urllib, httpx, aiohttp)`,
    },
  };
}

export function formatCertificateReport(report: CertificateReport): string {
  const c = report.certificate;
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const lines: string[] = [];
  if (report.ca) {
    lines.push(`CA:        ${report.ca.certPath}`, `           ${report.ca.commonName}, expires ${day(report.ca.validTo)}`);
    if (report.ca.signs)
      lines.push(`           signs only ${report.ca.signs}`, `           key ${report.ca.keyPath} (private: keep it to yourself)`);
    else
      lines.push(
        `           key ${report.ca.keyPath} (private: it can sign for any site; never share it)`,
        `           ⚠ ${unconstrainedWarning(report.ca)}`,
      );
  } else {
    lines.push('CA:        none (your own certificate: --cert/--key or --pfx)');
  }
  lines.push(
    `Cert:      ${c.certPath}`,
    `Key:       ${c.keyPath}`,
    `Names:     ${c.names.join(', ')}`,
    `Expires:   ${day(c.validTo)}`,
    `SHA-256:   ${c.fingerprint256}`,
  );
  if (report.ca) {
    const trusted = report.trust.filter((t) => t.trusted === true).map((t) => t.label);
    const not = report.trust.filter((t) => t.trusted !== true).map((t) => t.label);
    lines.push(`Trusted:   ${trusted.length ? trusted.join('; ') : 'nowhere yet: run dev-https trust'}`);
    if (trusted.length && not.length) lines.push(`Not yet:   ${not.join('; ')}`);
  }
  lines.push('Clients:', `  Node:    ${report.clients.node}`, `  curl:    ${report.clients.curl}`, `  Python:  ${report.clients.python}`);
  return lines.join('\n');
}
