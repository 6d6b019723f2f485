// The dev-https command: parses argv (a pure function), merges it with the project's settings,
// calls startDevHttps (and the app command after `--`), prints the banner and errors for a
// person, and owns the process (exit codes, signals).
import fs from 'node:fs';
import yargs from 'yargs';
import { formatCheckReport, runCheck, type CheckOptions } from './check.js';
import { startApp, type AppProcess } from './child.js';
import { resolveSettings, SETTINGS, type SettingName, type Settings } from './config.js';
import { DevHttpsError } from './errors.js';
import { createLogger, painter, colorEnabled, type Logger } from './logger.js';
import { resolveTarget } from './options.js';
import { waitUntilAccepting } from './reachable.js';
import { startDevHttps, type DevHttpsHandle } from './server.js';

export type CliCommand =
  /** `flags` holds only what was given on the command line; `command` is what follows `--`. */
  | { kind: 'run'; flags: Settings; command: string[] }
  | { kind: 'check'; options: CheckOptions; json: boolean }
  | { kind: 'print'; text: string };

export const VERSION: string = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

const USAGE = `Usage: dev-https [--target <port | host:port | http://host:port>] [options] [-- <app command>]

HTTPS for your plain-HTTP development app: a cached certificate, a reverse proxy that sets
X-Forwarded-Proto (and the other forwarded headers), and an optional plain-HTTP listener.
Without --target, a built-in demo app shows what your app would receive. After --, the command
that starts your app: dev-https runs it, waits for it, and stops it with Ctrl-C.
Settings also come from dev-https.config.json, a "dev-https" key in package.json and
DEV_HTTPS_<OPTION> variables (flags > environment > config file).

  dev-https check --target <port> [--path /login] [--json]   audit the app's production security settings
  dev-https completion                                       print a shell completion script`;

const CHECK_USAGE = `Usage: dev-https check --target <port | host:port | http://host:port> [--path <path>...] [--json]

Audits a running app's production security settings from the outside: starts temporary HTTPS and
HTTP listeners on free ports, requests each path over both schemes and rates the redirect to HTTPS,
redirect loops, HSTS, cookies, security headers and mixed content. Exit code 1 when an essential
item (redirect, loop, HSTS, Secure cookies) fails.`;

const FLAGS = {
  target: { alias: 't', type: 'string', describe: 'The app: a port (8000), host:port or http://host:port [default: the demo app]' },
  port: { alias: 'p', type: 'string', describe: 'HTTPS port (0 picks a free one) [default: 8443]' },
  'http-port': { type: 'string', describe: 'Also serve plain HTTP on this port, with X-Forwarded-Proto: http [default: off]' },
  'redirect-http': { type: 'boolean', describe: 'With --http-port: redirect every HTTP request to HTTPS instead of proxying' },
  host: { type: 'string', describe: 'Address to listen on [default: localhost = 127.0.0.1 and ::1]' },
  'cert-dir': { type: 'string', describe: 'Where the certificate is cached [default: ./certs]' },
  name: { type: 'string', array: true, describe: 'Extra host name or IP the certificate covers (repeatable, or comma-separated)' },
  'allow-host': { type: 'string', array: true, describe: 'Also answer requests for this Host name (repeatable, or comma-separated); any turns the check off' },
  'keep-hsts': { type: 'boolean', describe: "Pass the app's Strict-Transport-Security header through on localhost names (removed by default)" },
  http2: { type: 'boolean', describe: 'Serve HTTP/2 to browsers on the HTTPS port (--no-http2: HTTP/1.1 only) [default: on]' },
  open: { type: 'boolean', describe: 'Open the HTTPS URL in the default browser once the app answers' },
  quiet: { alias: 'q', type: 'boolean', describe: 'No request lines or banner: only warnings and errors' },
  log: { type: 'string', choices: ['text', 'json'], describe: 'Log format: text for people, json lines for tools [default: text]' },
} as const;

/** Turns command-line arguments into what to do. Throws DevHttpsError on bad input. */
export function parseCli(argv: string[]): CliCommand {
  if (argv[0] === 'check') return parseCheck(argv.slice(1));
  if (argv[0] === 'completion' && argv.length === 1) return { kind: 'print', text: completionScript() };
  const dashes = argv.indexOf('--');
  const command = dashes < 0 ? [] : argv.slice(dashes + 1);
  const own = dashes < 0 ? argv : argv.slice(0, dashes);
  if (dashes >= 0 && command.length === 0) {
    throw new DevHttpsError('E_BAD_OPTION', 'Invalid --: it must be followed by the command that starts your app, e.g. -- python manage.py runserver 8000');
  }
  const { args, output } = runYargs(
    yargs(own)
      .scriptName('dev-https')
      .usage(USAGE)
      .options(FLAGS)
      .example('dev-https', 'Serve the demo app on https://localhost:8443/')
      .example('dev-https --target 8000 --http-port 8080', 'Your app on port 8000 over HTTPS (8443) and HTTP (8080)')
      .example('dev-https -t 8000 -- python manage.py runserver 8000', 'Start the app too, and stop it with Ctrl-C')
      .version('version', 'Show the version number', VERSION),
    own,
    'dev-https --help',
  );
  if (args.help || args.version) return { kind: 'print', text: output.endsWith('\n') ? output : output + '\n' };
  rejectPositionals(args);
  const flags: Settings = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const value = args[name];
    if (value === undefined) continue;
    // A flag given twice: the last one wins; list flags collect every value (and split commas).
    flags[name] = Array.isArray(value) && SETTINGS[name].kind !== 'list' ? value[value.length - 1] : value;
    if (SETTINGS[name].kind === 'list') flags[name] = ([] as unknown[]).concat(value).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
    else if (SETTINGS[name].kind !== 'boolean') flags[name] = String(flags[name]);
  }
  return { kind: 'run', flags, command };
}

function parseCheck(argv: string[]): CliCommand {
  const { args, output } = runYargs(
    yargs(argv)
      .scriptName('dev-https check')
      .usage(CHECK_USAGE)
      .options({
        target: { alias: 't', type: 'string', describe: 'The running app: a port (8000), host:port or http://host:port' },
        path: { type: 'string', array: true, describe: 'Path to request (repeatable) [default: /]' },
        json: { type: 'boolean', describe: 'Print the report as JSON' },
        'cert-dir': { type: 'string', describe: 'Where the certificate is cached [default: ./certs]' },
      })
      .version(false),
    argv,
    'dev-https check --help',
  );
  if (args.help) return { kind: 'print', text: output.endsWith('\n') ? output : output + '\n' };
  rejectPositionals(args);
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

/** Runs a yargs parser without it printing or exiting: output and failures come back to us. */
function runYargs(parser: ReturnType<typeof yargs>, argv: string[], helpCommand: string): { args: Record<string, unknown>; output: string } {
  let output = '';
  let failure: string | null = null;
  const args = parser
    .strictOptions()
    .parserConfiguration({ 'strip-aliased': true })
    .help('help')
    .alias('help', 'h')
    .exitProcess(false)
    .wrap(100)
    .fail((message, err) => {
      failure = err?.message ?? message;
    })
    .parse(argv, {}, (_err, _args, text) => {
      output = text;
    }) as Record<string, unknown>;
  if (failure !== null) throw new DevHttpsError('E_BAD_OPTION', rephraseYargs(failure, helpCommand));
  return { args, output };
}

function rejectPositionals(args: Record<string, unknown>): void {
  const positional = (args._ as unknown[]).map(String);
  if (positional.length) {
    throw new DevHttpsError('E_BAD_OPTION', `Unexpected argument "${positional[0]}": options start with --, e.g. --target ${positional[0]} (an app command goes after --)`);
  }
}

function rephraseYargs(message: string, helpCommand: string): string {
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (unknown) {
    const first = unknown[1]!.split(', ')[0]!;
    const flag = first.length === 1 ? `-${first}` : `--${first}`;
    return `Unknown option ${flag}: run ${helpCommand} to see the options`;
  }
  const choice = /^Invalid values:\s+Argument: (\S+), Given: "?([^",]*)"?, Choices: (.*)$/s.exec(message.replace(/\n/g, ' '));
  if (choice) return `Invalid --${choice[1]} "${choice[2]}": expected one of ${choice[3]!.replace(/"/g, '').trim()}`;
  return message.replace(/\n/g, ' ');
}

/** A bash completion script (zsh: load it after `autoload -U bashcompinit && bashcompinit`). */
export function completionScript(): string {
  const flags = Object.entries(FLAGS).flatMap(([name, f]) => [`--${name}`, ...('alias' in f ? [`-${f.alias}`] : [])]);
  return `# dev-https completion for bash (zsh: autoload -U bashcompinit && bashcompinit first)
# Install: dev-https completion >> ~/.bashrc
_dev_https_complete() {
  local cur prev
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
    --cert-dir) COMPREPLY=( $(compgen -d -- "$cur") ); return ;;
    --log) COMPREPLY=( $(compgen -W "text json" -- "$cur") ); return ;;
    --target|-t|--port|-p|--http-port|--host|--name|--allow-host|--path) return ;;
  esac
  if [ "$COMP_CWORD" -eq 1 ] && [[ "$cur" != -* ]]; then
    COMPREPLY=( $(compgen -W "check completion" -- "$cur") ); return
  fi
  if [ "\${COMP_WORDS[1]}" = check ]; then
    COMPREPLY=( $(compgen -W "--target -t --path --json --cert-dir --help" -- "$cur") ); return
  fi
  COMPREPLY=( $(compgen -W "${flags.join(' ')} --help -h --version" -- "$cur") )
}
complete -F _dev_https_complete dev-https
`;
}

export interface BannerOptions {
  color?: boolean;
  readyMs?: number;
}

/** The start banner, Vite style: URLs, target, certificate and the hints that matter. */
export function formatBanner(handles: DevHttpsHandle[], options: BannerOptions = {}): string {
  const paint = painter(options.color ?? false);
  const arrow = paint('32', '➜');
  const label = (text: string) => paint('1', text.padEnd(9));
  const url = (text: string) => paint('36', text);
  const lines = [`  ${paint('32;1', 'dev-https')} ${paint('32', VERSION)}${options.readyMs === undefined ? '' : paint('2', `  ready in ${Math.round(options.readyMs)} ms`)}`, ''];
  for (const h of handles) {
    const target = h.demo ? 'the built-in demo app (no --target given)' : h.target;
    lines.push(`  ${arrow}  ${label('Local:')}${url(h.urls.https)}  →  ${target}`);
    if (h.urls.http) lines.push(`  ${arrow}  ${label('HTTP:')}${url(h.urls.http)}  →  ${h.redirectHttp ? `redirects to ${h.urls.https}` : target}`);
    for (const address of h.networkAddresses) lines.push(`  ${arrow}  ${label('Network:')}${url(`https://${address.includes(':') ? `[${address}]` : address}:${new URL(h.urls.https).port}/`)}`);
  }
  const cert = handles[0]!.certificate;
  lines.push(
    `  ${arrow}  ${label('Cert:')}${cert.certPath} (${cert.generated ? 'new' : 'cached'}, self-signed, expires ${cert.validTo.toISOString().slice(0, 10)})`,
    `  ${' '.repeat(12)}SHA-256 ${cert.fingerprint256}`,
    paint('2', `  Browsers warn until you accept it once. Clients: curl --cacert ${cert.certPath} · NODE_EXTRA_CA_CERTS=${cert.certPath}`),
  );
  if (handles.some((h) => h.demo)) lines.push(paint('2', '  Run dev-https --target <port> to put your own app behind it.'));
  else if (handles.every((h) => !h.urls.http)) lines.push(paint('2', '  Add --http-port 8080 to test plain HTTP (and your redirect to HTTPS) too.'));
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
  await run(command.flags, command.command);
}

async function run(flags: Settings, appCommand: string[]): Promise<void> {
  let settings;
  try {
    settings = resolveSettings(flags);
  } catch (err) {
    fail(createLogger(), err);
    return;
  }
  const logger = createLogger({ quiet: settings.quiet, format: settings.log });
  // Signal handlers come first: a Ctrl-C during start-up, or right after the banner, still exits 0.
  const handles: DevHttpsHandle[] = [];
  let app: AppProcess | null = null;
  let stopping = false;
  const waiting = new AbortController();
  const shutdown = async (code: number) => {
    waiting.abort();
    await app?.stop();
    await Promise.all(handles.map((h) => h.close()));
    process.exit(code);
  };
  const stop = () => {
    if (stopping) {
      // Ctrl-C twice: do not wait, but take the app down too (it has its own process group).
      app?.kill();
      process.exit(130);
    }
    stopping = true;
    void shutdown(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', stop);
  // A bug in one request must not take the proxy down for the whole day's work.
  process.on('uncaughtException', (err) => logger.error(`unexpected error (dev-https keeps running): ${err.message}`));

  try {
    for (const options of settings.proxies) handles.push(await startDevHttps({ ...options, logger }));
  } catch (err) {
    fail(logger, err);
    await Promise.all(handles.map((h) => h.close()));
    process.exit();
  }
  if (stopping) return;

  if (appCommand.length) {
    const first = settings.proxies[0]!;
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_EXTRA_CA_CERTS: handles[0]!.certificate.certPath };
    // A bare port for the target: tell the app which port to take, unless the environment does.
    if (first.target !== undefined && /^\d+$/.test(String(first.target)) && env.PORT === undefined) env.PORT = String(first.target);
    if (colorEnabled(process.stdout) && env.FORCE_COLOR === undefined && !env.NO_COLOR) env.FORCE_COLOR = '1';
    app = startApp(appCommand, env, logger);
    void app.exited.then(({ code, signal }) => {
      if (stopping) return;
      stopping = true;
      const failed = code !== 0;
      const how = app!.failedToStart ? 'could not be started' : signal ? `was ended by ${signal}` : `exited with code ${code}`;
      (failed ? logger.error : logger.info)(`the app command (${appCommand.join(' ')}) ${how}: stopping dev-https`);
      void shutdown(failed ? (code ?? 1) || 1 : 0);
    });
    for (const h of handles) {
      if (h.demo) continue;
      const target = resolveTarget(h.target);
      logger.info(`waiting for ${h.target}…`);
      if (!(await waitUntilAccepting(target.hostname, target.port, waiting.signal))) return;
    }
  }
  if (stopping) return;
  logger.info(formatBanner(handles, { color: colorEnabled(process.stdout), readyMs: performance.now() /* since the process started */ }).trimEnd());
}

function fail(logger: Logger, err: unknown): void {
  // Our own errors are one line for a person; anything else is a bug, still one line.
  const message = err instanceof DevHttpsError ? err.message : `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
  logger.error(message);
  process.exitCode = 1;
}

