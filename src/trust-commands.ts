// The trust, untrust, doctor (trust --check) and cert commands: what they do and what they print.
// cli.ts parses their flags and sets the exit code from what these return.
import path from 'node:path';
import { CA_KEY_FILE, ensureCA, readCA, resolveCaRoot } from './ca.js';
import { loadCurrentCertificate, type CertificateInfo } from './current-cert.js';
import type { Logger } from './logger.js';
import { resolveOptions, type DevHttpsOptions, type StoreName } from './options.js';
import { checkTrust, defaultTrustContext, errorText, findStores, type StoreLookup, type TrustContext, type TrustStatus } from './trust.js';

export interface TrustCommandOptions {
  action: 'trust' | 'untrust' | 'check';
  /** null: every store present. */
  stores: StoreName[] | null;
  /** Where each line goes as it happens. */
  print: (line: string) => void;
  logger: Logger;
  caRoot?: string;
  context?: TrustContext;
}

/** Runs trust, untrust or the check; true when everything asked for succeeded. */
export async function runTrustCommand(options: TrustCommandOptions): Promise<boolean> {
  const { print, action } = options;
  const ctx = options.context ?? defaultTrustContext();
  const root = options.caRoot ?? resolveCaRoot(ctx.env, ctx.platform, ctx.home);
  // untrust and the check need only the certificate: they must work when the key is lost or damaged.
  const ca = action === 'trust' ? await ensureCA(root, options.logger) : await readCA(root, { withKey: false });
  if (!ca) {
    print(`There is no dev-https CA in ${root} yet: ${action === 'untrust' ? 'nothing to remove' : 'run dev-https trust to create and trust it'}.`);
    return action === 'untrust';
  }
  print(`dev-https CA: ${ca.commonName}`);
  print(`  ${ca.certPath} (SHA-256 ${ca.fingerprint256})`);
  const lookups = await findStores(ca, ctx, options.stores);
  const wanted = (store: StoreName) => options.stores?.includes(store) ?? false;
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
    for (const line of formatTrustStatus(statuses, lookups.filter((l) => !wanted(l.store)))) print(line);
    return ok && statuses.length > 0 && statuses.every((s) => s.trusted === true);
  }
  if (targets.length === 0) {
    print(`No trust store found (${lookups.map((l) => `${l.store}: ${l.absent}`).join('; ')}).`);
    return false;
  }
  if (action === 'trust') {
    print('Adding it to:');
    for (const t of targets) print(`  - ${t.label}: ${t.missing ? `skipped, ${t.missing}` : t.change}`);
    if (targets.some((t) => t.sudo && !t.missing)) print('sudo will ask for your password for the stores marked "through sudo", and only for those.');
  } else {
    print('Removing it from:');
    for (const t of targets) print(`  - ${t.label}${t.sudo ? ' (through sudo)' : ''}`);
  }
  // One store failing does not stop the others.
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
  if (action === 'trust' && ok && targets.some((t) => t.store === 'nss' || t.store === 'macos' || t.store === 'windows')) {
    print('Restart your browser if it was open: browsers read their trust stores at start.');
  }
  if (action === 'untrust') print(`The CA itself stays in ${root}; delete that directory to remove it for good (projects then get a new CA).`);
  return ok;
}

function formatTrustStatus(statuses: TrustStatus[], lookups: StoreLookup[]): string[] {
  const lines = statuses.map((s) => `${s.trusted === true ? '✔' : '✘'} ${s.label}: ${s.trusted === true ? 'trusted' : s.trusted === false ? 'not trusted (run dev-https trust)' : `cannot tell: ${s.note}`}`);
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
  ca: (Omit<NonNullable<CertificateInfo['ca']>, 'cert'> & { keyPath: string }) | null;
  trust: TrustStatus[];
  /** How clients that do not read the system store trust it. */
  clients: { node: string; curl: string; python: string };
}

/** What `dev-https cert` shows: the certificate the options would serve (made now if needed), its CA and trust. */
export async function certificateReport(options: DevHttpsOptions, context: TrustContext = defaultTrustContext()): Promise<CertificateReport> {
  const opts = resolveOptions(options);
  const current = await loadCurrentCertificate(opts);
  await current.close();
  const { cert: _cert, ca, ...certificate } = current.info();
  let trust: TrustStatus[] = [];
  let caReport: CertificateReport['ca'] = null;
  if (ca) {
    // The CA just loaded: the stores need only its certificate.
    trust = await checkTrust(await findStores(ca, context));
    const { cert: _caCert, ...caRest } = ca;
    caReport = { ...caRest, keyPath: path.join(path.dirname(ca.certPath), CA_KEY_FILE) };
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
    lines.push(`CA:        ${report.ca.certPath}`, `           ${report.ca.commonName}, expires ${day(report.ca.validTo)}`, `           key ${report.ca.keyPath} (private: it can sign for any site; never share it)`);
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
