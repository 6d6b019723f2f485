// The one table of dev-https' options: each flag's alias, type, default, environment variable,
// config key, commands, help text and completer. Parsing, --help, the messages that name a flag,
// config and environment reading and the completion script are all generated from it.
import type { DevHttpsOptions } from '../options.js';

/** `run` is dev-https itself (no subcommand). */
export type CommandName = 'run' | 'check' | 'trust' | 'untrust' | 'doctor' | 'cert';

/**
 * How a value is read and checked. `port` is 0-65535, `target` a port, host:port or URL, `list`
 * repeatable and comma-separated (in flags, variables and config files alike).
 */
export type OptionType = 'string' | 'boolean' | 'list' | 'port' | 'target' | 'choices';

/** What the shell completes after the flag: files, directories, these words, or nothing. */
export type Completer = 'file' | 'dir' | 'none' | readonly string[];

export interface OptionSpec {
  short?: string;
  type: OptionType;
  /** The accepted values of a `choices` option. */
  choices?: readonly string[];
  /** The value's placeholder in --help; `choices` options show their choices. */
  value?: string;
  /** What a missing value is told to look like: `it needs a value, e.g. --port 8443`. */
  example?: string;
  /** Shown in --help as `[default: …]`. */
  default?: string;
  help: string;
  /** Where help or default differ for one command. */
  in?: Partial<Record<CommandName, { help: string; default?: string }>>;
  commands: readonly CommandName[];
  /**
   * A project setting: a key of dev-https.config.json (its long name) and the variable `env`.
   * `field` is its DevHttpsOptions field (null: the CLI's own, like quiet); `perProxy` settings
   * are set in each entry of a config's "proxies". The exception is `run`: config.ts reads the
   * key "run" as an app command, never as the switch.
   */
  setting?: { field: keyof DevHttpsOptions | null; perProxy: boolean };
  env?: `DEV_HTTPS_${string}`;
  /** Never passed on to the app command, and its variable is named in --help. */
  secret?: true;
  complete: Completer;
}

const PROXY: readonly CommandName[] = ['run'];
const SERVE: readonly CommandName[] = ['run', 'cert'];
const TRUST: readonly CommandName[] = ['trust', 'untrust', 'doctor'];
const ALL: readonly CommandName[] = ['run', 'check', 'trust', 'untrust', 'doctor', 'cert'];

/** In --help order. */
export const OPTIONS = {
  target: {
    short: 't',
    type: 'target',
    value: '<port|host:port|url>',
    example: '8000',
    default: 'the demo app',
    commands: ['run', 'check'],
    complete: 'none',
    help: 'The app: a port (8000), host:port or http://host:port',
    in: { check: { help: 'The running app: a port (8000), host:port or http://host:port' } },
    setting: { field: 'target', perProxy: true },
    env: 'DEV_HTTPS_TARGET',
  },
  route: {
    type: 'list',
    value: '<prefix|host>=<target>',
    example: '/api=8000',
    commands: ['run', 'check'],
    complete: 'none',
    help: 'Send a path prefix (/api: /api and /api/..., not /apiary; the longest wins) or a host (a *.localhost name or a --name) to another app, e.g. /api=8000 (repeatable); the rest goes to --target',
    setting: { field: 'routes', perProxy: true },
    env: 'DEV_HTTPS_ROUTE',
  },
  // A flag and a variable, never a config key: a config's "run" is the command itself, which only
  // the user (a flag, their environment, their own npm script) may have started.
  run: {
    type: 'boolean',
    commands: PROXY,
    complete: 'none',
    help: 'Start the app commands the config file names ("run" next to "target" and in "routes"), each output line prefixed by its route; Ctrl-C stops them all',
    setting: { field: null, perProxy: false },
    env: 'DEV_HTTPS_RUN',
  },
  port: {
    short: 'p',
    type: 'port',
    value: '<n>',
    example: '8443',
    default: '8443',
    commands: PROXY,
    complete: 'none',
    help: 'HTTPS port (0 picks a free one)',
    setting: { field: 'port', perProxy: true },
    env: 'DEV_HTTPS_PORT',
  },
  'http-port': {
    type: 'port',
    value: '<n>',
    example: '8080',
    default: 'off',
    commands: PROXY,
    complete: 'none',
    help: 'Also serve plain HTTP on this port, with X-Forwarded-Proto: http',
    setting: { field: 'httpPort', perProxy: true },
    env: 'DEV_HTTPS_HTTP_PORT',
  },
  'redirect-http': {
    type: 'boolean',
    commands: PROXY,
    complete: 'none',
    help: 'With --http-port: redirect every HTTP request to HTTPS instead of proxying',
    setting: { field: 'redirectHttp', perProxy: true },
    env: 'DEV_HTTPS_REDIRECT_HTTP',
  },
  'keep-hsts': {
    type: 'boolean',
    commands: PROXY,
    complete: 'none',
    help: "Pass the app's Strict-Transport-Security header through on localhost names (removed by default)",
    setting: { field: 'keepHsts', perProxy: true },
    env: 'DEV_HTTPS_KEEP_HSTS',
  },
  inspect: {
    type: 'boolean',
    default: 'on',
    commands: PROXY,
    complete: 'none',
    help: 'Serve the request inspector at https://dev-https.localhost:<port>/ (--no-inspect: off, nothing is kept)',
    setting: { field: 'inspect', perProxy: true },
    env: 'DEV_HTTPS_INSPECT',
  },
  http2: {
    type: 'boolean',
    default: 'on',
    commands: PROXY,
    complete: 'none',
    help: 'Serve HTTP/2 to browsers on the HTTPS port (--no-http2: HTTP/1.1 only)',
    setting: { field: 'http2', perProxy: false },
    env: 'DEV_HTTPS_HTTP2',
  },
  host: {
    type: 'string',
    value: '<address>',
    example: '127.0.0.1',
    default: 'localhost = 127.0.0.1 and ::1',
    commands: SERVE,
    complete: 'none',
    help: 'Address to listen on',
    setting: { field: 'host', perProxy: false },
    env: 'DEV_HTTPS_HOST',
  },
  'cert-dir': {
    type: 'string',
    value: '<dir>',
    example: './certs',
    default: './certs',
    commands: ['run', 'check', 'cert'],
    complete: 'dir',
    help: 'Where the certificate is cached',
    setting: { field: 'certDir', perProxy: false },
    env: 'DEV_HTTPS_CERT_DIR',
  },
  cert: {
    type: 'string',
    value: '<file>',
    example: './localhost.pem',
    commands: SERVE,
    complete: 'file',
    help: 'Serve your own PEM certificate (mkcert, a company CA) instead; needs --key; reloaded when it changes',
    setting: { field: 'cert', perProxy: false },
    env: 'DEV_HTTPS_CERT',
  },
  key: {
    type: 'string',
    value: '<file>',
    example: './localhost-key.pem',
    commands: SERVE,
    complete: 'file',
    help: 'The PEM private key of --cert',
    setting: { field: 'key', perProxy: false },
    env: 'DEV_HTTPS_KEY',
  },
  pfx: {
    type: 'string',
    value: '<file>',
    example: './localhost.p12',
    commands: SERVE,
    complete: 'file',
    help: 'Serve your own PKCS#12 (.pfx, .p12) certificate and key instead',
    setting: { field: 'pfx', perProxy: false },
    env: 'DEV_HTTPS_PFX',
  },
  passphrase: {
    type: 'string',
    value: '<text>',
    example: '<text>',
    commands: SERVE,
    complete: 'none',
    secret: true,
    help: 'Passphrase of --pfx or of an encrypted --key',
    setting: { field: 'passphrase', perProxy: false },
    env: 'DEV_HTTPS_PASSPHRASE',
  },
  name: {
    type: 'list',
    value: '<name>',
    example: 'myapp.test',
    commands: SERVE,
    complete: 'none',
    help: 'Extra host name or IP the certificate covers (repeatable, or comma-separated)',
    setting: { field: 'names', perProxy: false },
    env: 'DEV_HTTPS_NAME',
  },
  'allow-host': {
    type: 'list',
    value: '<name>',
    example: 'myapp.test',
    commands: PROXY,
    complete: 'none',
    help: 'Also answer requests for this Host name (repeatable, or comma-separated); any turns the check off',
    setting: { field: 'allowHosts', perProxy: false },
    env: 'DEV_HTTPS_ALLOW_HOST',
  },
  open: {
    type: 'boolean',
    commands: PROXY,
    complete: 'none',
    help: 'Open the HTTPS URL in the default browser once the app answers',
    setting: { field: 'open', perProxy: false },
    env: 'DEV_HTTPS_OPEN',
  },
  quiet: {
    short: 'q',
    type: 'boolean',
    commands: PROXY,
    complete: 'none',
    help: 'No request lines or banner: only warnings and errors',
    setting: { field: null, perProxy: false },
    env: 'DEV_HTTPS_QUIET',
  },
  log: {
    type: 'choices',
    choices: ['text', 'json'],
    example: 'json',
    default: 'text',
    commands: PROXY,
    complete: ['text', 'json'],
    help: 'Log format: text for people, json lines for tools',
    setting: { field: null, perProxy: false },
    env: 'DEV_HTTPS_LOG',
  },
  path: {
    type: 'list',
    value: '<path>',
    example: '/login',
    default: '/',
    commands: ['check'],
    complete: 'none',
    help: 'Path to request (repeatable)',
  },
  json: { type: 'boolean', commands: ['check', 'cert'], complete: 'none', help: 'Print the report as JSON' },
  store: {
    type: 'string',
    value: '<list>',
    example: 'system,nss',
    default: 'all present',
    commands: TRUST,
    complete: ['system', 'nss', 'macos', 'windows', 'java'],
    help: 'Only these stores: system, nss, macos, windows, java (comma-separated)',
  },
  check: { type: 'boolean', commands: ['trust'], complete: 'none', help: 'Only report where the CA is trusted (trust only)' },
  permit: {
    type: 'list',
    value: '<suffix>',
    example: '.company.dev',
    commands: ['trust'],
    complete: 'none',
    help: 'A domain of yours the CA may also sign for, e.g. .company.dev: replaces the CA with one that permits it (trust only)',
  },
  replace: {
    type: 'boolean',
    commands: ['trust'],
    complete: 'none',
    help: 'Replace the CA: untrusted where it was trusted, a new one trusted there, leaves reissued (trust only)',
  },
  help: { short: 'h', type: 'boolean', commands: ALL, complete: 'none', help: 'Show this help' },
  version: { type: 'boolean', commands: PROXY, complete: 'none', help: 'Show the version number' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;
/** The options that are also project settings (config keys and variables). */
export type SettingName = { [K in OptionName]: (typeof OPTIONS)[K] extends { setting: object } ? K : never }[OptionName];

export const OPTION_NAMES = Object.keys(OPTIONS) as OptionName[];
export const SETTING_NAMES = OPTION_NAMES.filter((n) => 'setting' in OPTIONS[n]) as SettingName[];

export function optionSpec(name: OptionName): OptionSpec {
  return OPTIONS[name];
}

/** An option as messages show it with a value: `--port 8443`. */
export function exampleFlag(name: OptionName): string {
  const spec = optionSpec(name);
  return spec.type === 'boolean' ? `--${name}` : `--${name} ${spec.example ?? spec.value ?? '<value>'}`;
}

/** Settings read only from the environment: no flag, no config key (a repository must not set them). */
export interface EnvOnlySpec {
  env: `DEV_HTTPS_${string}`;
  commands: readonly CommandName[];
  help: string;
  secret?: true;
}

export const ENV_ONLY: readonly EnvOnlySpec[] = [
  {
    env: 'DEV_HTTPS_CAROOT',
    commands: ALL,
    help: 'Where the local CA lives [default: $XDG_DATA_HOME/dev-https or ~/.local/share/dev-https]',
  },
  {
    env: 'DEV_HTTPS_TOOL_DIR',
    commands: TRUST,
    help: 'Directories (like PATH) searched first for the trust-store tools: certutil, keytool, update-ca-certificates',
  },
  { env: 'DEV_HTTPS_JAVA_STOREPASS', commands: TRUST, help: "The password of Java's cacerts [default: changeit]", secret: true },
  { env: 'DEV_HTTPS_SYSTEM_STORE_ROOT', commands: TRUST, help: "For tests: the Debian system store's layout under this directory" },
];

/** Every DEV_HTTPS_* variable dev-https reads. */
export const ENV_NAMES: readonly string[] = [...SETTING_NAMES.map((n) => optionSpec(n).env!), ...ENV_ONLY.map((e) => e.env)];

/** The variables never passed on to the app command (framework debug pages print the environment). */
export const SECRET_ENV_NAMES: readonly string[] = [
  ...OPTION_NAMES.filter((n) => optionSpec(n).secret).map((n) => optionSpec(n).env!),
  ...ENV_ONLY.filter((e) => e.secret).map((e) => e.env),
];

/** The options a command takes, in table order. */
export function optionsOf(commands: readonly CommandName[]): OptionName[] {
  return OPTION_NAMES.filter((n) => optionSpec(n).commands.some((c) => commands.includes(c)));
}

/** The subcommands, for the run command's help, completion and "did you mean". */
export const SUBCOMMANDS: readonly { name: string; usage: string; summary: string }[] = [
  {
    name: 'check',
    usage: 'dev-https check --target <port> [--path /login] [--json]',
    summary: "audit the app's production security settings",
  },
  { name: 'trust', usage: 'dev-https trust [--store <list>] [--check]', summary: 'trust the local CA (once per machine)' },
  { name: 'untrust', usage: 'dev-https untrust [--store <list>]', summary: 'remove it from the trust stores again' },
  { name: 'doctor', usage: 'dev-https doctor', summary: 'where the CA is trusted (= trust --check)' },
  { name: 'cert', usage: 'dev-https cert [--json]', summary: 'the certificate, its CA, trust and client setup' },
  { name: 'completion', usage: 'dev-https completion', summary: 'print a shell completion script' },
];
