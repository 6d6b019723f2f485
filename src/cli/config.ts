// Settings from the project: a "dev-https" key in package.json, dev-https.config.json, and
// DEV_HTTPS_<OPTION> environment variables, merged with the flags (flags > environment >
// config file > defaults) into the options of one or more proxies.
import fs from 'node:fs';
import path from 'node:path';
import { alternatives, closest } from './suggest.js';
import { DevHttpsError } from '../errors.js';
import { escapeControl, hasControlCharacters } from '../logger.js';
import { optionSpec, SETTING_NAMES, type OptionType, type SettingName } from './option-table.js';
import { resolvePort, resolveTarget, type DevHttpsOptions, type SettingOrigins } from '../options.js';

/** A setting's table entry, with its config and environment part. */
function settingOf(name: SettingName) {
  const spec = optionSpec(name);
  return { ...spec, ...spec.setting!, env: spec.env! };
}

export type { SettingName };
/** Settings as given: strings, booleans, lists of strings. */
export type Settings = Partial<Record<SettingName, string | boolean | string[]>>;

export interface ResolvedSettings {
  /** One entry per proxy (several with a "proxies" list in the config file). */
  proxies: DevHttpsOptions[];
  quiet: boolean;
  log: 'text' | 'json';
  /** The config file read, if any, for messages. */
  configFile: string | null;
  /** --run (or DEV_HTTPS_RUN): start the app commands of `apps`. Never from the config file. */
  run: boolean;
  /** Where --run came from, for messages: `--run` or `DEV_HTTPS_RUN`; null without it. */
  runFrom: string | null;
  /** The app commands the config file names ("run"), in its order; started only with `run`. */
  apps: ConfigApp[];
}

/** An app command of the config file: `"run"` next to a proxy's "target", or in one of its routes. */
export interface ConfigApp {
  /** The proxy whose app it is (0 without "proxies"). */
  proxy: number;
  /** The route it serves, as the config writes it (`/api`); null: the proxy's --target app. */
  route: string | null;
  /** Its target as written (a route's; the --target app's is the proxy's `target`). */
  target: string | undefined;
  /** A string runs through the shell, a list of strings without one. */
  command: string | string[];
}

export const CONFIG_FILE = 'dev-https.config.json';

/** Merges flags, environment and config file (in that precedence) into proxy options. */
export function resolveSettings(flags: Settings, { cwd = process.cwd(), env = process.env } = {}): ResolvedSettings {
  const config = readConfig(cwd);
  const fromEnv = readEnv(env);
  const shared: Settings = { ...config.shared, ...fromEnv, ...flags };
  const quiet = shared.quiet === true;
  const log = (shared.log as 'text' | 'json' | undefined) ?? 'text';
  // The config file never says "run": true (its "run" is a command), so only the user starts them.
  const runFrom = flags.run !== undefined ? (flags.run ? '--run' : null) : fromEnv.run ? envName('run') : null;
  const apps = { run: runFrom !== null, runFrom, apps: config.apps };
  const common = toOptions(shared, false);
  // Where each setting came from: messages about it then name the file and key or the variable.
  const origins = (fromConfig: Settings, where: string | null): SettingOrigins => {
    const result: SettingOrigins = {};
    for (const name of SETTING_NAMES) {
      const { field, env } = settingOf(name);
      if (!field || flags[name] !== undefined) continue;
      if (fromEnv[name] !== undefined) result[field] = { label: env, fromConfig: false };
      else if (fromConfig[name] !== undefined) result[field] = { label: `"${name}" in ${where}`, fromConfig: true };
    }
    return result;
  };
  if (!config.proxies) {
    return {
      proxies: [{ ...common, ...toOptions(shared, true), ...withOrigins(origins(config.shared, config.file)) }],
      quiet,
      log,
      configFile: config.file,
      ...apps,
    };
  }
  for (const name of SETTING_NAMES) {
    const given = flags[name] !== undefined ? `--${name}` : fromEnv[name] !== undefined ? settingOf(name).env : null;
    if (settingOf(name).perProxy && given) {
      throw new DevHttpsError('E_BAD_OPTION', `Invalid ${given}: ${config.file} lists "proxies", so set "${name}" in each of them instead`);
    }
  }
  return {
    proxies: config.proxies.map((p, i) => ({
      ...common,
      ...toOptions(p, true),
      ...withOrigins({ ...origins(config.shared, config.file), ...origins(p, `"proxies"[${i}] of ${config.file}`) }),
    })),
    quiet,
    log,
    configFile: config.file,
    ...apps,
  };
}

/** `origins` only when a setting came from somewhere other than a flag: options from flags alone stay as they were. */
function withOrigins(origins: SettingOrigins): Pick<DevHttpsOptions, 'origins'> {
  return Object.keys(origins).length ? { origins } : {};
}

function toOptions(settings: Settings, perProxy: boolean): DevHttpsOptions {
  const options: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) {
    const { field, perProxy: own } = settingOf(name);
    const value = settings[name];
    if (field && own === perProxy && value !== undefined) options[field] = value;
  }
  return options as DevHttpsOptions;
}

/** A setting's variable, from the option table: DEV_HTTPS_HTTP_PORT for http-port. */
export function envName(setting: SettingName): string {
  return settingOf(setting).env;
}

function readEnv(env: NodeJS.ProcessEnv): Settings {
  const settings: Settings = {};
  for (const name of SETTING_NAMES) {
    const spec = settingOf(name);
    const raw = env[spec.env];
    if (raw === undefined || raw === '') continue;
    settings[name] = fromText(raw, spec.type, spec.env, spec.choices);
  }
  return settings;
}

/** Validates a port or target where it was written, so the message names the variable or key. */
function checkPort(value: string, label: string, isTarget: boolean): void {
  if (isTarget) resolveTarget(value, label);
  else resolvePort(value, label);
}

// Control characters in a setting (C1 too) would reach the terminal in the banner and in messages:
// a repository's config could clear the screen after the warnings about what it turned off.

function fromText(raw: string, kind: OptionType, label: string, choices: readonly string[] = []): string | boolean | string[] {
  if (hasControlCharacters(raw))
    throw new DevHttpsError('E_BAD_OPTION', `Invalid ${label} "${escapeControl(raw)}": control characters are not allowed`);
  if (kind === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new DevHttpsError('E_BAD_OPTION', `Invalid ${label} "${raw}": expected true or false`);
  }
  if (kind === 'list')
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (kind === 'port' || kind === 'target') checkPort(raw, label, kind === 'target');
  if (kind === 'choices' && !choices.includes(raw))
    throw new DevHttpsError('E_BAD_OPTION', `Invalid ${label} "${raw}": expected ${alternatives(choices)}`);
  return raw;
}

interface Config {
  file: string | null;
  shared: Settings;
  proxies: Settings[] | null;
  apps: ConfigApp[];
}

function readConfig(cwd: string): Config {
  const configPath = path.join(cwd, CONFIG_FILE);
  const packagePath = path.join(cwd, 'package.json');
  let file: string | null = null;
  let raw: unknown;
  const configText = readIfExists(configPath);
  if (configText !== null) {
    file = CONFIG_FILE;
    raw = parseJson(configText, CONFIG_FILE);
  } else {
    const pkgText = readIfExists(packagePath);
    const pkg = pkgText === null ? null : parseJson(pkgText, 'package.json');
    if (pkg && typeof pkg === 'object' && 'dev-https' in pkg) {
      file = 'package.json "dev-https"';
      raw = (pkg as Record<string, unknown>)['dev-https'];
    }
  }
  if (file === null) return { file, shared: {}, proxies: null, apps: [] };
  if (!isObject(raw)) throw new DevHttpsError('E_BAD_OPTION', `Invalid ${file}: expected an object of options by their long names`);
  const { proxies, ...rest } = raw;
  const top = takeCommands(rest, file, 0);
  const shared = validate(top.settings, file, null, cwd);
  if (proxies === undefined) return { file, shared, proxies: null, apps: top.apps };
  if (!Array.isArray(proxies) || proxies.length === 0 || !proxies.every(isObject)) {
    throw new DevHttpsError(
      'E_BAD_OPTION',
      `Invalid "proxies" in ${file}: expected a list of objects, e.g. [{ "port": 8443, "target": 5173 }]`,
    );
  }
  for (const name of SETTING_NAMES) {
    if (settingOf(name).perProxy && shared[name] !== undefined) {
      throw new DevHttpsError('E_BAD_OPTION', `Invalid "${name}" in ${file}: with "proxies", set it in each proxy`);
    }
  }
  if (top.apps.length) throw new DevHttpsError('E_BAD_OPTION', `Invalid "run" in ${file}: with "proxies", set it in each proxy`);
  const each = proxies.map((p, i) => takeCommands(p as Record<string, unknown>, `"proxies"[${i}] of ${file}`, i));
  return {
    file,
    shared,
    proxies: each.map((p, i) => validate(p.settings, file!, i, cwd)),
    apps: each.flatMap((p) => p.apps),
  };
}

/**
 * Takes the app commands out of a config object: its "run" (the --target app's) and each route's
 * "run", leaving the settings, with `{ "target": 8000, "run": "..." }` routes as their target.
 * Routes first, as the --target app is usually the front end that calls them.
 */
function takeCommands(
  raw: Record<string, unknown>,
  where: string,
  proxy: number,
): { settings: Record<string, unknown>; apps: ConfigApp[] } {
  const { run, ...settings } = raw;
  const apps: ConfigApp[] = [];
  if (isObject(raw.routes)) {
    const routes: Record<string, unknown> = {};
    for (const [match, route] of Object.entries(raw.routes)) {
      if (hasControlCharacters(match)) {
        throw new DevHttpsError(
          'E_BAD_OPTION',
          `Invalid "routes" in ${where}: expected a prefix or host without control characters, got ${escapeControl(JSON.stringify(match))}`,
        );
      }
      if (!isObject(route)) {
        routes[match] = route;
        continue;
      }
      const unknown = Object.keys(route).filter((k) => k !== 'target' && k !== 'run');
      if (unknown.length) {
        throw new DevHttpsError(
          'E_BAD_OPTION',
          `Unknown key ${JSON.stringify(unknown[0])} in "routes".${JSON.stringify(match)} of ${where}: expected "target" and "run"`,
        );
      }
      routes[match] = route.target;
      if (route.run !== undefined) {
        const target = typeof route.target === 'number' || typeof route.target === 'string' ? String(route.target) : undefined;
        apps.push({ proxy, route: match, target, command: command(route.run, `"routes".${JSON.stringify(match)}.run`, where) });
      }
    }
    settings.routes = routes;
  }
  if (run !== undefined) apps.push({ proxy, route: null, target: undefined, command: command(run, '"run"', where) });
  return { settings, apps };
}

/** A config's "run": a command line for the shell, or a list of program and arguments. */
function command(value: unknown, key: string, where: string): string | string[] {
  const ok =
    typeof value === 'string'
      ? value.trim() !== ''
      : Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string') && value[0]!.trim() !== '';
  const strings = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
  const control = strings.some((v) => typeof v === 'string' && hasControlCharacters(v));
  if (!ok || control) {
    throw new DevHttpsError(
      'E_BAD_OPTION',
      `Invalid ${key} in ${where}: expected ${control ? 'text without control characters' : 'a command: a string the shell runs, or a list of the program and its arguments'}, got ${escapeControl(JSON.stringify(value) ?? String(value))}`,
    );
  }
  return value as string | string[];
}

function validate(raw: Record<string, unknown>, file: string, proxyIndex: number | null, cwd: string): Settings {
  const where = proxyIndex === null ? file : `"proxies"[${proxyIndex}] of ${file}`;
  const settings: Settings = {};
  for (const [rawKey, rawValue] of Object.entries(raw)) {
    // "routes": { "/api": 8000, "admin.localhost": { "target": 8001 } } is the list of --route values.
    const [key, value] = rawKey === 'routes' ? ['route', routesObject(rawValue, where)] : [rawKey, rawValue];
    const spec = (SETTING_NAMES as readonly string[]).includes(key) ? settingOf(key as SettingName) : undefined;
    // "run" is a key of each proxy too: its --target app's command (taken out before this).
    const allowed = SETTING_NAMES.filter((n) => proxyIndex === null || settingOf(n).perProxy || n === 'run');
    if (spec && proxyIndex !== null && !spec.perProxy) {
      throw new DevHttpsError('E_BAD_OPTION', `Invalid "${key}" in ${where}: it applies to every proxy; set it next to "proxies"`);
    }
    if (!spec) {
      const keys = proxyIndex === null ? [...allowed, 'proxies'] : allowed;
      const near = closest(key, keys);
      const expected = `expected one of ${keys.join(', ')}`;
      throw new DevHttpsError(
        'E_BAD_OPTION',
        `Unknown key "${key}" in ${where}: ${near.length ? `did you mean ${alternatives(near.map((k) => `"${k}"`))}? (${expected})` : expected}`,
      );
    }
    const bad = (expected: string) =>
      new DevHttpsError(
        'E_BAD_OPTION',
        `Invalid "${key}" in ${where}: expected ${expected}, got ${escapeControl(JSON.stringify(value) ?? String(value))}`,
      );
    const strings = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
    if (strings.some((v) => typeof v === 'string' && hasControlCharacters(v))) throw bad('text without control characters');
    switch (spec.type) {
      case 'boolean':
        if (typeof value !== 'boolean') throw bad('true or false');
        settings[key as SettingName] = value;
        break;
      case 'port':
      case 'target': {
        const expected =
          spec.type === 'target' ? 'a port, host:port or http://host:port' : 'a port number from 1 to 65535 (0 picks a free port)';
        if (typeof value !== 'number' && typeof value !== 'string') throw bad(expected);
        try {
          checkPort(String(value), key, spec.type === 'target');
        } catch {
          throw bad(expected);
        }
        settings[key as SettingName] = String(value);
        break;
      }
      case 'list':
        if (typeof value === 'string') settings[key as SettingName] = [value];
        else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) settings[key as SettingName] = value as string[];
        else throw bad('a string or a list of strings');
        break;
      case 'choices':
        if (typeof value !== 'string' || !spec.choices!.includes(value))
          throw bad(alternatives(spec.choices!.map((c) => JSON.stringify(c))));
        settings[key as SettingName] = value;
        break;
      default:
        if (typeof value !== 'string') throw bad('a string');
        // The repository's config may put certificates only inside the repository: a cert dir
        // elsewhere (~/.docker) would have dev-https replace someone else's key.pem.
        if (key === 'cert-dir' && (path.isAbsolute(value) || path.win32.isAbsolute(value) || value.split(/[\\/]/).includes('..'))) {
          throw bad('a directory inside the project (e.g. "./certs"); pass --cert-dir yourself for one elsewhere');
        }
        // Nor through a symbolic link on the way (`h -> ../..` makes "h/.docker" the home's).
        if (key === 'cert-dir') {
          const link = linkOnTheWay(cwd, value);
          if (link !== null) throw bad(`a directory inside the project reached without symbolic links ("${link}" is one)`);
        }
        settings[key as SettingName] = value;
    }
  }
  return settings;
}

/** A config's "routes" object (its commands taken out) as `--route` values (`/api=8000`). */
function routesObject(value: unknown, where: string): unknown {
  if (!isObject(value)) return value;
  return Object.entries(value).map(([match, target]) => {
    if (typeof target !== 'string' && typeof target !== 'number') {
      throw new DevHttpsError(
        'E_BAD_OPTION',
        `Invalid "routes" in ${where}: expected a target for ${JSON.stringify(match)}, e.g. { "/api": 8000 }`,
      );
    }
    return `${match}=${target}`;
  });
}

/** The first part of `relative` under `root` that is a symbolic link, or null (parts not made yet are none). */
function linkOnTheWay(root: string, relative: string): string | null {
  let at = root;
  for (const part of relative.split(/[\\/]/).filter((p) => p && p !== '.')) {
    at = path.join(at, part);
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(at);
    } catch {
      return null;
    }
    if (stat.isSymbolicLink()) return path.relative(root, at);
  }
  return null;
}

function readIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DevHttpsError('E_BAD_OPTION', `Invalid ${file}: not JSON (${(err as Error).message})`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
