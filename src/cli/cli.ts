// The dev-https command: parses argv (a pure function), merges it with the project's settings,
// calls startDevHttps (and starts the app commands), prints the banner and errors for a person,
// and owns the process (exit codes, signals).
import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CheckOptions } from '../check/check.js';
import type { AppProcess } from './child.js';
import { planApps, startApps, type AppPlan, type AppSession } from './apps.js';
import { unconstrainedWarning } from '../certs/ca.js';
import { resolveSettings, type ResolvedSettings, type Settings } from './config.js';
import { resolvePermit } from '../certs/constraints.js';
import { DevHttpsError } from '../errors.js';
import type { HelpPageName } from './help.js';
import { createLogger, escapeControl, painter, colorEnabled, type Logger } from '../logger.js';
import { exampleFlag, optionSpec, optionsOf, SETTING_NAMES, SUBCOMMANDS, type CommandName, type OptionName } from './option-table.js';
import { resolveStores, type StoreName } from '../options.js';
import { startDevHttps, type DevHttpsHandle } from '../server/server.js';
import { alternatives, closest } from './suggest.js';

export type CliCommand =
  /** `flags` holds only what was given on the command line; `command` is what follows `--`. */
  | { kind: 'run'; flags: Settings; command: string[] }
  | { kind: 'check'; options: CheckOptions; json: boolean }
  | { kind: 'trust'; action: 'trust' | 'untrust' | 'check'; stores: StoreName[] | null; permit?: string[]; replace?: true }
  | { kind: 'cert'; flags: Settings; json: boolean }
  | { kind: 'print'; text: string }
  /** Printed by main, which loads the help and completion code only then. */
  | { kind: 'help'; page: HelpPageName }
  | { kind: 'completion' };

export const VERSION: string = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

type Values = Partial<Record<OptionName, string | boolean | string[]>>;

/** Turns command-line arguments into what to do. Throws DevHttpsError on bad input. */
export function parseCli(argv: string[]): CliCommand {
  if (argv[0] === 'check') return parseCheck(argv.slice(1));
  if (argv[0] === 'trust' || argv[0] === 'untrust' || argv[0] === 'doctor') return parseTrust(argv[0], argv.slice(1));
  if (argv[0] === 'cert') return parseCert(argv.slice(1));
  if (argv[0] === 'completion' && argv.length === 1) return { kind: 'completion' };
  const dashes = argv.indexOf('--');
  const command = dashes < 0 ? [] : argv.slice(dashes + 1);
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  if (dashes >= 0 && command.length === 0) {
    throw new DevHttpsError(
      'E_BAD_OPTION',
      'Invalid --: it must be followed by the command that starts your app, e.g. -- python manage.py runserver 8000',
    );
  }
  // A mistyped subcommand is not a stray argument: `dev-https chek` is not `--target chek`.
  const [first] = own;
  if (first !== undefined && !first.startsWith('-')) {
    const near = closest(
      first,
      SUBCOMMANDS.map((c) => c.name),
    ).filter((c) => c !== first);
    if (near.length)
      throw new DevHttpsError(
        'E_BAD_OPTION',
        `Unknown command "${first}": did you mean ${alternatives(near.map((c) => `dev-https ${c}`))}?`,
      );
  }
  const args = parseFlags(own, ['run'], 'dev-https --help');
  if (args.help) return { kind: 'help', page: 'run' };
  if (args.version) return { kind: 'print', text: `${VERSION}\n` };
  return { kind: 'run', flags: settingsOf(args), command };
}

function settingsOf(args: Values): Settings {
  const flags: Settings = {};
  for (const name of SETTING_NAMES) {
    const value = args[name];
    if (value === undefined) continue;
    // List flags collect every value and split commas; for the others the last one wins.
    if (optionSpec(name).type === 'list')
      flags[name] = (value as string[])
        .flatMap((v) => v.split(','))
        .map((v) => v.trim())
        .filter(Boolean);
    else flags[name] = value as string | boolean;
  }
  return flags;
}

function parseTrust(command: 'trust' | 'untrust' | 'doctor', argv: string[]): CliCommand {
  // The three share one parser, so a trust-only flag on untrust is told where it belongs.
  const args = parseFlags(argv, ['trust', 'untrust', 'doctor'], `dev-https ${command} --help`);
  if (args.help) return { kind: 'help', page: 'trust' };
  if (args.check && command !== 'trust')
    throw new DevHttpsError(
      'E_BAD_OPTION',
      `Invalid --check: it belongs to dev-https trust (dev-https ${command} ${command === 'doctor' ? 'always checks' : 'removes'})`,
    );
  const action = command === 'untrust' ? 'untrust' : command === 'doctor' || args.check ? 'check' : 'trust';
  for (const flag of ['permit', 'replace'] as const) {
    if (args[flag] !== undefined && action !== 'trust')
      throw new DevHttpsError('E_BAD_OPTION', `Invalid --${flag}: it belongs to dev-https trust (without --check)`);
  }
  const permit = args.permit === undefined ? {} : { permit: resolvePermit(args.permit as string[]) };
  return {
    kind: 'trust',
    action,
    stores: resolveStores(args.store as string | undefined),
    ...permit,
    ...(args.replace ? { replace: true as const } : {}),
  };
}

function parseCert(argv: string[]): CliCommand {
  const args = parseFlags(argv, ['cert'], 'dev-https cert --help');
  if (args.help) return { kind: 'help', page: 'cert' };
  return { kind: 'cert', json: args.json === true, flags: settingsOf(args) };
}

function parseCheck(argv: string[]): CliCommand {
  const args = parseFlags(argv, ['check'], 'dev-https check --help');
  if (args.help) return { kind: 'help', page: 'check' };
  if (args.target === undefined) throw new DevHttpsError('E_BAD_TARGET', 'dev-https check needs --target <port>: the running app to audit');
  return {
    kind: 'check',
    json: args.json === true,
    options: {
      target: String(args.target),
      paths: (args.path as string[] | undefined) ?? [],
      routes: ((args.route as string[] | undefined) ?? [])
        .flatMap((v) => v.split(','))
        .map((v) => v.trim())
        .filter(Boolean),
      certDir: args['cert-dir'] as string | undefined,
    },
  };
}

/**
 * node:util's parseArgs (strict) over the table's options of `commands`, with messages that name
 * the flag and the fix. It replaced yargs, whose import alone was a large part of the start
 * (README "Development" has the measurement).
 */
function parseFlags(argv: string[], commands: readonly CommandName[], helpCommand: string): Values {
  const names = optionsOf(commands);
  const options = Object.fromEntries(
    names.map((name) => {
      const spec = optionSpec(name);
      return [
        name,
        {
          type: spec.type === 'boolean' ? 'boolean' : 'string',
          ...(spec.short ? { short: spec.short } : {}),
          ...(spec.type === 'list' ? { multiple: true } : {}),
        },
      ];
    }),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true, allowNegative: true } as ParseArgsConfig);
  } catch (err) {
    throw new DevHttpsError('E_BAD_OPTION', rephraseParseError(err as Error & { code?: string }, argv, names, helpCommand));
  }
  const [first] = parsed.positionals;
  if (first !== undefined) {
    // A bare value is most likely the app's port; only dev-https itself runs an app command.
    const hint = names.includes('target')
      ? `options start with --, e.g. --target ${first}${commands.includes('run') ? ' (an app command goes after --)' : ''}`
      : `${helpCommand.replace(/ --help$/, '')} takes options only (${helpCommand} lists them)`;
    throw new DevHttpsError('E_BAD_OPTION', `Unexpected argument "${first}": ${hint}`);
  }
  const values = parsed.values as Values;
  for (const name of names) {
    const { choices } = optionSpec(name);
    const value = values[name];
    if (choices && typeof value === 'string' && !choices.includes(value)) {
      throw new DevHttpsError('E_BAD_OPTION', `Invalid --${name} "${value}": expected one of ${choices.join(', ')}`);
    }
  }
  return values;
}

function rephraseParseError(err: Error & { code?: string }, argv: string[], names: readonly OptionName[], helpCommand: string): string {
  const quoted = /'(-[^']*)'/.exec(err.message)?.[1];
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const given = quoted ?? argv.find((a) => a.startsWith('-')) ?? '';
    const near = given.startsWith('--')
      ? closest(
          given.slice(2),
          names.flatMap((n) => (optionSpec(n).type === 'boolean' ? [n, `no-${n}`] : [n])),
        )
      : [];
    if (near.length)
      return `Unknown option ${given}: did you mean ${alternatives(near.map((n) => `--${n}`))}? (${helpCommand} lists the options)`;
    return `Unknown option ${given}: run ${helpCommand} to see the options`;
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = names.find((n) => err.message.includes(`--${n} `) || err.message.includes(`--${n}'`));
    if (name && optionSpec(name).type !== 'boolean') return `Invalid --${name}: it needs a value, e.g. ${exampleFlag(name)}`;
    if (name) {
      const given = argv.find((a) => a.startsWith(`--${name}=`)) ?? `--${name}`;
      return `Invalid ${given}: --${name} takes no value (--no-${name} turns it off)`;
    }
  }
  return err.message.replace(/\n/g, ' ');
}

export interface BannerOptions {
  color?: boolean;
  readyMs?: number;
  /** false: the CA is trusted nowhere (a hint says how); true or null: nothing to say. */
  caTrusted?: boolean | null;
}

/** The start banner, Vite style: URLs, target, certificate and the hints that matter. */
export function formatBanner(handles: DevHttpsHandle[], options: BannerOptions = {}): string {
  const paint = painter(options.color ?? false);
  const arrow = paint('32', '➜');
  const label = (text: string) => paint('1', text.padEnd(9));
  const url = (text: string) => paint('36', text);
  const lines = [
    `  ${paint('32;1', 'dev-https')} ${paint('32', VERSION)}${options.readyMs === undefined ? '' : paint('2', `  ready in ${Math.round(options.readyMs)} ms`)}`,
    '',
  ];
  for (const h of handles) {
    const target = h.demo ? 'the built-in demo app (no --target given)' : h.target;
    lines.push(`  ${arrow}  ${label('Local:')}${url(h.urls.https)}  →  ${target}`);
    if (h.urls.http)
      lines.push(`  ${arrow}  ${label('HTTP:')}${url(h.urls.http)}  →  ${h.redirectHttp ? `redirects to ${h.urls.https}` : target}`);
    for (const r of h.routes) lines.push(`  ${arrow}  ${label('Route:')}${r.match}  →  ${r.target}`);
    if (h.inspector) lines.push(`  ${arrow}  ${label('Inspect:')}${url(h.inspector.url)}`);
    const port = new URL(h.urls.https).port; // '' for 443
    for (const address of h.networkAddresses)
      lines.push(
        `  ${arrow}  ${label('Network:')}${url(`https://${address.includes(':') ? `[${address}]` : address}${port ? `:${port}` : ''}/`)}`,
      );
  }
  const cert = handles[0]!.certificate;
  const how = cert.source === 'user' ? 'yours' : `${cert.generated ? 'new' : 'cached'}, signed by the dev-https CA`;
  lines.push(
    `  ${arrow}  ${label('Cert:')}${cert.certPath} (${how}, expires ${cert.validTo.toISOString().slice(0, 10)})`,
    `  ${' '.repeat(12)}SHA-256 ${cert.fingerprint256}`,
  );
  if (cert.ca) lines.push(`  ${arrow}  ${label('CA:')}${cert.ca.certPath}`);
  if (cert.ca?.unconstrained) lines.push(paint('33', `  ${unconstrainedWarning(cert.ca)}`));
  const clients = cert.trustPath
    ? `curl --cacert ${cert.trustPath} · NODE_EXTRA_CA_CERTS=${cert.trustPath}`
    : 'trust the CA that issued your certificate';
  lines.push(paint('2', `  Clients: ${clients} · dev-https cert shows more`));
  if (options.caTrusted === false && cert.ca)
    lines.push(paint('33', '  Browsers warn until you trust the dev-https CA once: run dev-https trust'));
  if (handles.some((h) => h.demo)) lines.push(paint('2', '  Run dev-https --target <port> to put your own app behind it.'));
  else if (handles.every((h) => !h.urls.http))
    lines.push(paint('2', '  Add --http-port 8080 to test plain HTTP (and your redirect to HTTPS) too.'));
  return lines.join('\n') + '\n';
}

/** The bin's entry point. Only this module exits the process or handles signals. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  let command: CliCommand;
  try {
    command = parseCli(argv);
  } catch (err) {
    fail(createLogger(), err);
    return;
  }
  if (command.kind === 'print') {
    process.stdout.write(command.text);
    return;
  }
  if (command.kind === 'help') {
    const { helpText } = await import('./help.js');
    process.stdout.write(helpText(command.page));
    return;
  }
  if (command.kind === 'completion') {
    const { completionScript } = await import('./completion.js');
    process.stdout.write(completionScript());
    return;
  }
  if (command.kind === 'trust') {
    try {
      const { runTrustCommand } = await import('../trust/trust-commands.js');
      const ok = await runTrustCommand({
        action: command.action,
        stores: command.stores,
        permit: command.permit,
        replace: command.replace,
        print: (line) => process.stdout.write(line + '\n'),
        logger: createLogger(),
      });
      process.exitCode = ok ? 0 : 1;
    } catch (err) {
      fail(createLogger(), err);
    }
    return;
  }
  if (command.kind === 'cert') {
    try {
      const settings = resolveSettings(command.flags);
      const { certificateReport, formatCertificateReport } = await import('../trust/trust-commands.js');
      // Creating the CA or the certificate is news; the rest is the report.
      const report = await certificateReport({ ...settings.proxies[0]!, logger: createLogger({ quiet: command.json }) });
      process.stdout.write((command.json ? JSON.stringify(report, null, 2) : formatCertificateReport(report)) + '\n');
    } catch (err) {
      fail(createLogger(), err);
    }
    return;
  }
  if (command.kind === 'check') {
    try {
      const { formatCheckReport, runCheck } = await import('../check/check.js');
      const report = await runCheck(command.options);
      process.stdout.write((command.json ? JSON.stringify(report, null, 2) : formatCheckReport(report)) + '\n');
      process.exitCode = report.ok ? 0 : 1;
    } catch (err) {
      fail(createLogger(), err);
    }
    return;
  }
  await serve(command.flags, command.command);
}

/**
 * `dev-https [options] [-- app command]`: serves until a signal, or the exit of an app command
 * (the one after `--`, those of the config with --run), stops it.
 */
async function serve(flags: Settings, appCommand: string[]): Promise<void> {
  let settings: ResolvedSettings;
  let plan: AppPlan;
  try {
    settings = resolveSettings(flags);
    plan = planApps(settings, appCommand);
  } catch (err) {
    fail(createLogger(), err);
    return;
  }
  const logger = createLogger({ quiet: settings.quiet, format: settings.log, batch: true });
  if (plan.warning) logger.warn(plan.warning);
  // Signal handlers come first: a Ctrl-C during start-up, or right after the banner, still exits 0.
  const session = createSession();
  handleSignals(session, logger);
  const trustCheck = checkTrust(settings);
  await startListeners(settings, session, logger);
  if (session.stopping) return;
  if (plan.apps.length && !(await startApps(plan.apps, session, logger))) return;
  if (session.stopping) return;
  await printBanner(session.handles, trustCheck, logger);
}

/** What a shutdown stops: the listeners and the app commands. */
interface Session extends AppSession {
  readonly apps: AppProcess[];
  /** A signal: shuts down with 0; a second one exits at once with 130. */
  stop(): void;
}

function createSession(): Session {
  const handles: DevHttpsHandle[] = [];
  const apps: AppProcess[] = [];
  const waiting = new AbortController();
  const session: Session = {
    handles,
    apps,
    stopping: false,
    waiting: waiting.signal,
    async shutdown(code) {
      waiting.abort();
      // Each with its own grace period, at the same time: one slow app does not delay the others'.
      await Promise.all(apps.map((app) => app.stop()));
      await Promise.all(handles.map((h) => h.close()));
      process.exit(code);
    },
    stop() {
      if (session.stopping) {
        // Ctrl-C twice: do not wait, but take the apps down too (on Unix each has its own process
        // group, which the terminal's signal did not reach).
        for (const app of apps) app.kill();
        process.exit(130);
      }
      session.stopping = true;
      void session.shutdown(0);
    },
  };
  return session;
}

function handleSignals(session: Session, logger: Logger): void {
  const stop = () => session.stop();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
  // Whoever read our output is gone (a closed pipe): stop, as when the terminal closes. Unheard,
  // each failed write raised an error whose report failed again, and the process spun forever.
  const outputGone = () => {
    if (!session.stopping) session.stop();
  };
  process.stdout.on('error', outputGone);
  process.stderr.on('error', outputGone);
  // A bug in one request must not take the proxy down for the whole day's work.
  process.on('uncaughtException', (err) => logger.error(`unexpected error (dev-https keeps running): ${err.message}`));
}

/** Whether browsers will warn (null: nothing to say): the store tools run while the listeners start, not after. */
function checkTrust(settings: ResolvedSettings): Promise<boolean | null> {
  const first = settings.proxies[0]!;
  if (settings.quiet || first.cert || first.pfx) return Promise.resolve(null);
  return import('../trust/trust-commands.js').then((m) => m.isCaTrustedAnywhere(first.caRoot)).catch(() => null);
}

/** One listener pair per proxy; a failure closes those started and exits 1. */
async function startListeners(settings: ResolvedSettings, session: Session, logger: Logger): Promise<void> {
  try {
    for (const options of settings.proxies) session.handles.push(await startDevHttps({ ...options, logger }));
  } catch (err) {
    fail(logger, err);
    await Promise.all(session.handles.map((h) => h.close()));
    process.exit();
  }
}

/** The banner, once everything is up; the trust check gets at most a second more. */
async function printBanner(handles: DevHttpsHandle[], trustCheck: Promise<boolean | null>, logger: Logger): Promise<void> {
  const caTrusted = await Promise.race([trustCheck, delay(1000, null, { ref: false })]);
  logger.info(
    formatBanner(handles, {
      color: colorEnabled(process.stdout),
      readyMs: performance.now() /* since the process started */,
      caTrusted,
    }).trimEnd(),
  );
}

function fail(logger: Logger, err: unknown): void {
  // Our own errors are one line for a person; anything else is a bug, still one line.
  const message = err instanceof DevHttpsError ? err.message : `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
  // A value typed or configured with control characters is shown, never obeyed, by the terminal.
  logger.error(escapeControl(message));
  process.exitCode = 1;
}
