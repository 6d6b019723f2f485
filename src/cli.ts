// The dev-https command: parses argv (a pure function), calls startDevHttps, prints the banner
// and errors for a person, and owns the process (exit codes, signals).
import fs from 'node:fs';
import yargs from 'yargs';
import { formatCheckReport, runCheck, type CheckOptions } from './check.js';
import { DevHttpsError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import type { DevHttpsOptions } from './options.js';
import { startDevHttps, type DevHttpsHandle } from './server.js';

export type CliCommand =
  | { kind: 'run'; options: DevHttpsOptions; quiet: boolean }
  | { kind: 'check'; options: CheckOptions; json: boolean }
  | { kind: 'print'; text: string };

export const VERSION: string = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const USAGE = `Usage: dev-https [--target <port | host:port | http://host:port>] [options]

HTTPS for your plain-HTTP development app: a cached certificate, a reverse proxy that sets
X-Forwarded-Proto (and the other forwarded headers), and an optional plain-HTTP listener.
Without --target, a built-in demo app shows what your app would receive.

  dev-https check --target <port> [--path /login] [--json]   audit the app's production security settings`;

const CHECK_USAGE = `Usage: dev-https check --target <port | host:port | http://host:port> [--path <path>...] [--json]

Audits a running app's production security settings from the outside: starts temporary HTTPS and
HTTP listeners on free ports, requests each path over both schemes and rates the redirect to HTTPS,
redirect loops, HSTS, cookies, security headers and mixed content. Exit code 1 when an essential
item (redirect, loop, HSTS, Secure cookies) fails.`;

/** Turns command-line arguments into what to do. Throws DevHttpsError on bad input. */
export function parseCli(argv: string[]): CliCommand {
  if (argv[0] === 'check') return parseCheck(argv.slice(1));
  let output = '';
  let failure: string | null = null;
  const parser = yargs(argv)
    .scriptName('dev-https')
    .usage(USAGE)
    .options({
      target: { alias: 't', type: 'string', describe: 'The app: a port (8000), host:port or http://host:port [default: the demo app]' },
      port: { alias: 'p', type: 'string', describe: 'HTTPS port (0 picks a free one) [default: 8443]' },
      'http-port': { type: 'string', describe: 'Also serve plain HTTP on this port, with X-Forwarded-Proto: http [default: off]' },
      'redirect-http': { type: 'boolean', describe: 'With --http-port: redirect every HTTP request to HTTPS instead of proxying' },
      host: { type: 'string', describe: 'Address to listen on [default: localhost = 127.0.0.1 and ::1]' },
      'cert-dir': { type: 'string', describe: 'Where the certificate is cached [default: ./certs]' },
      name: { type: 'string', array: true, describe: 'Extra host name or IP the certificate covers (repeatable, or comma-separated)' },
      'allow-host': { type: 'string', array: true, describe: 'Also answer requests for this Host name (repeatable, or comma-separated); any turns the check off' },
      'keep-hsts': { type: 'boolean', describe: "Pass the app's Strict-Transport-Security header through on localhost names (removed by default)" },
      open: { type: 'boolean', describe: 'Open the HTTPS URL in the default browser' },
      quiet: { alias: 'q', type: 'boolean', describe: 'Print only warnings and errors' },
    })
    .example('dev-https', 'Serve the demo app on https://localhost:8443/')
    .example('dev-https --target 8000 --http-port 8080', 'Your app on port 8000 over HTTPS (8443) and HTTP (8080)')
    .strictOptions()
    .parserConfiguration({ 'strip-aliased': true })
    .help('help')
    .alias('help', 'h')
    .version('version', 'Show the version number', VERSION)
    .exitProcess(false)
    .wrap(100)
    .fail((message, err) => {
      failure = err?.message ?? message;
    });
  const args = parser.parse(argv, {}, (_err, _args, text) => {
    output = text;
  }) as Record<string, unknown>;
  if (failure !== null) throw new DevHttpsError('E_BAD_OPTION', rephraseYargs(failure));
  if (args.help || args.version) return { kind: 'print', text: output.endsWith('\n') ? output : output + '\n' };

  const positional = (args._ as unknown[]).map(String);
  if (positional.length) {
    throw new DevHttpsError('E_BAD_OPTION', `Unexpected argument "${positional[0]}": options start with --, e.g. --target ${positional[0]}`);
  }
  // A flag given twice: the last one wins (--name collects every value instead).
  const last = (value: unknown) => (Array.isArray(value) ? value[value.length - 1] : value);
  const str = (key: string): string | undefined => (args[key] === undefined ? undefined : String(last(args[key])));
  const list = (key: string) => ((args[key] as string[] | undefined) ?? []).flatMap((n) => String(n).split(',')).map((n) => n.trim()).filter(Boolean);
  const names = list('name');
  return {
    kind: 'run',
    quiet: last(args.quiet) === true,
    options: {
      target: str('target'),
      port: str('port'),
      httpPort: str('http-port'),
      redirectHttp: last(args['redirect-http']) === true,
      host: str('host'),
      certDir: str('cert-dir'),
      names,
      allowHosts: list('allow-host'),
      keepHsts: last(args['keep-hsts']) === true,
      open: last(args.open) === true,
    },
  };
}

function parseCheck(argv: string[]): CliCommand {
  let output = '';
  let failure: string | null = null;
  const args = yargs(argv)
    .scriptName('dev-https check')
    .usage(CHECK_USAGE)
    .options({
      target: { alias: 't', type: 'string', describe: 'The running app: a port (8000), host:port or http://host:port' },
      path: { type: 'string', array: true, describe: 'Path to request (repeatable) [default: /]' },
      json: { type: 'boolean', describe: 'Print the report as JSON' },
      'cert-dir': { type: 'string', describe: 'Where the certificate is cached [default: ./certs]' },
    })
    .strictOptions()
    .parserConfiguration({ 'strip-aliased': true })
    .help('help')
    .alias('help', 'h')
    .version(false)
    .exitProcess(false)
    .wrap(100)
    .fail((message, err) => {
      failure = err?.message ?? message;
    })
    .parse(argv, {}, (_err, _args, text) => {
      output = text;
    }) as Record<string, unknown>;
  if (failure !== null) throw new DevHttpsError('E_BAD_OPTION', rephraseYargs(failure).replace('dev-https --help', 'dev-https check --help'));
  if (args.help) return { kind: 'print', text: output.endsWith('\n') ? output : output + '\n' };
  const positional = (args._ as unknown[]).map(String);
  if (positional.length) {
    throw new DevHttpsError('E_BAD_OPTION', `Unexpected argument "${positional[0]}": options start with --, e.g. --target ${positional[0]}`);
  }
  const last = (value: unknown) => (Array.isArray(value) ? value[value.length - 1] : value);
  if (args.target === undefined) throw new DevHttpsError('E_BAD_TARGET', 'dev-https check needs --target <port>: the running app to audit');
  return {
    kind: 'check',
    json: last(args.json) === true,
    options: {
      target: String(last(args.target)),
      paths: ((args.path as string[] | undefined) ?? []).map(String),
      certDir: args['cert-dir'] === undefined ? undefined : String(last(args['cert-dir'])),
    },
  };
}

function rephraseYargs(message: string): string {
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (unknown) {
    const first = unknown[1]!.split(', ')[0]!;
    const flag = first.length === 1 ? `-${first}` : `--${first}`;
    return `Unknown option ${flag}: run dev-https --help to see the options`;
  }
  return message.replace(/\n/g, ' ');
}

export function formatBanner(handle: DevHttpsHandle): string {
  const target = handle.demo ? 'the built-in demo app (no --target given)' : handle.target;
  const lines = [`dev-https ${VERSION}`, `  ➜ ${handle.urls.https}  →  ${target}`];
  if (handle.urls.http) {
    lines.push(handle.redirectHttp ? `  ➜ ${handle.urls.http}  →  redirects to ${handle.urls.https}` : `  ➜ ${handle.urls.http}  →  ${target}`);
  }
  const cert = handle.certificate;
  lines.push(
    `  certificate ${cert.certPath} (${cert.generated ? 'new' : 'cached'}, valid until ${cert.validTo.toISOString().slice(0, 10)})`,
    `  SHA-256 ${cert.fingerprint256}`,
    `  It is self-signed: accept it once in the browser; curl --cacert ${cert.certPath}; Node NODE_EXTRA_CA_CERTS=${cert.certPath}`,
  );
  if (handle.demo) lines.push('  Run dev-https --target <port> to put your own app behind it.');
  return lines.join('\n');
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
  if (command.kind === 'check') {
    try {
      const report = await runCheck(command.options);
      process.stdout.write((command.json ? JSON.stringify(report, null, 2) : formatCheckReport(report)) + '\n');
      process.exitCode = report.ok ? 0 : 1;
    } catch (err) {
      fail(createLogger(), err);
    }
    return;
  }
  const logger = createLogger({ quiet: command.quiet });
  // Signal handlers come first: a Ctrl-C during start-up, or right after the banner, still exits 0.
  let handle: DevHttpsHandle | null = null;
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(130); // Ctrl-C twice: do not wait.
    stopping = true;
    (handle ? handle.close() : Promise.resolve()).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // A bug in one request must not take the proxy down for the whole day's work.
  process.on('uncaughtException', (err) => logger.error(`unexpected error (dev-https keeps running): ${err.message}`));
  try {
    handle = await startDevHttps({ ...command.options, logger });
  } catch (err) {
    fail(logger, err);
    process.exit();
  }
  if (stopping) return; // stop() exits once the process is idle
  logger.info(formatBanner(handle));
}

function fail(logger: Logger, err: unknown): void {
  // Our own errors are one line for a person; anything else is a bug, still one line.
  const message = err instanceof DevHttpsError ? err.message : `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
  logger.error(message);
  process.exitCode = 1;
}
