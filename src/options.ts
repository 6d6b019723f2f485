// Options of startDevHttps: the public type with its defaults, and the one resolver that
// validates it into the fully-populated type the rest of the code works with.
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { resolveCaRoot } from './certs/ca.js';
import type { UserCertificateSpec } from './certs/cert.js';
import { DevHttpsError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { canonicalIp, isUnspecified } from './net.js';

export interface DevHttpsOptions {
  /**
   * The plain-HTTP app to proxy to: a port (`8000`), `host:port` or `http://host:port`.
   * Without it, a built-in demo app is served that shows what an app behind dev-https receives.
   * @default undefined (the demo app)
   */
  target?: string | number;
  /**
   * More apps behind the same origin: a path prefix (`/api`: `/api` and `/api/…`, not `/apiary`;
   * the longest wins) or a host (a `*.localhost` name or one of `names`) mapped to a target of the
   * same forms as `target`, e.g. `{ '/api': 8000, 'admin.localhost': 'http://127.0.0.1:8001' }`, or
   * the CLI's `['/api=8000']`. Everything else goes to `target`. The path reaches the app unchanged.
   * @default {} (no routes)
   */
  routes?: Record<string, string | number> | string[];
  /**
   * HTTPS port. `0` picks a free port (see `handle.urls`).
   * @default 8443
   */
  port?: string | number;
  /**
   * Also serve plain HTTP on this port, proxied with `X-Forwarded-Proto: http`.
   * @default undefined (no HTTP listener)
   */
  httpPort?: string | number;
  /**
   * Make the HTTP listener answer every request with a redirect to the HTTPS listener.
   * Needs `httpPort`.
   * @default false
   */
  redirectHttp?: boolean;
  /**
   * Address to listen on. `localhost` means both loopback addresses, 127.0.0.1 and ::1.
   * @default 'localhost'
   */
  host?: string;
  /**
   * Directory where the certificate and its key are cached, relative to `cwd`.
   * @default './certs'
   */
  certDir?: string;
  /**
   * Directory of the local CA that signs the certificate (one per user, shared by every project).
   * @default $DEV_HTTPS_CAROOT, else `$XDG_DATA_HOME/dev-https` or `~/.local/share/dev-https`
   * (`~/Library/Application Support/dev-https` on macOS, `%LOCALAPPDATA%\dev-https` on Windows)
   */
  caRoot?: string;
  /**
   * A PEM certificate made elsewhere (mkcert, a company CA) to serve instead of the generated one,
   * relative to `cwd`. Needs `key`. Watched: a changed pair is applied without a restart.
   * @default undefined (a certificate signed by the local CA)
   */
  cert?: string;
  /**
   * The PEM private key of `cert`.
   * @default undefined
   */
  key?: string;
  /**
   * A PKCS#12 (.pfx, .p12) file with the certificate and its key, instead of `cert` and `key`.
   * @default undefined
   */
  pfx?: string;
  /**
   * Passphrase of an encrypted `pfx` or `key`.
   * @default undefined
   */
  passphrase?: string;
  /**
   * Extra host names or IP addresses the certificate must cover (localhost, 127.0.0.1 and ::1
   * always are).
   * @default []
   */
  names?: string[];
  /**
   * Extra Host names the listeners answer (besides localhost, *.localhost, loopback addresses,
   * `names` and the addresses listened on). `any` turns the Host check off.
   * @default []
   */
  allowHosts?: string[];
  /**
   * Milliseconds a client has to complete the TLS handshake and send its request headers.
   * Responses and bodies have no time limit (SSE, WebSockets, big downloads).
   * @default 10000
   */
  headersTimeout?: number;
  /**
   * Milliseconds an idle client connection stays open: an HTTP/1.1 keep-alive connection between
   * requests, an HTTP/2 connection without open streams.
   * @default 5000
   */
  idleTimeout?: number;
  /**
   * Serve HTTP/2 on the HTTPS listener (ALPN h2, falling back to HTTP/1.1). The app is always
   * reached over HTTP/1.1.
   * @default true
   */
  http2?: boolean;
  /**
   * Pass the app's Strict-Transport-Security header through on localhost, *.localhost and *.test
   * names. Off: it is removed (with a warning), because browsers would apply it to every app on
   * that host name, whatever the port.
   * @default false
   */
  keepHsts?: boolean;
  /**
   * Serve the request inspector at `https://dev-https.localhost:<port>/` and keep the last requests
   * for it (`handle.inspector`): 100 until someone looks, then 500. Off: that name answers 404 and
   * nothing is kept.
   * @default true
   */
  inspect?: boolean;
  /**
   * Open the HTTPS URL in the default browser once listening. Failure only warns.
   * @default false
   */
  open?: boolean;
  /**
   * Where messages go.
   * @default a logger writing info to stdout and warnings to stderr
   */
  logger?: Logger;
  /**
   * Directory that a relative `certDir` is resolved against.
   * @default process.cwd()
   */
  cwd?: string;
  /**
   * Where settings came from when not from the flags (set by config.ts): messages then name the
   * config file and key, or the environment variable, instead of a flag the user never typed.
   * @default {} (every setting from a flag or the API)
   */
  origins?: SettingOrigins;
}

/** A setting's source: `label` is its key in the config file (`"name" in package.json "dev-https"`) or its variable (DEV_HTTPS_NAME). */
export interface SettingOrigin {
  label: string;
  /** True for a project's config file: code from whoever wrote the repository. */
  fromConfig: boolean;
}
export type SettingOrigins = Partial<Record<keyof DevHttpsOptions, SettingOrigin>>;

/** How messages spell a setting and its value: `--host 0.0.0.0`, `DEV_HTTPS_HOST=0.0.0.0`, `"host": "0.0.0.0" in dev-https.config.json`. */
export function settingText(origins: SettingOrigins, key: keyof DevHttpsOptions, flag: string, value: string): string {
  const origin = origins[key];
  if (!origin) return `${flag} ${value}`;
  if (!origin.fromConfig) return `${origin.label}=${value}`;
  const [, name, where] = /^"([^"]+)" in (.*)$/.exec(origin.label) ?? [];
  return name ? `"${name}": "${value}" in ${where}` : `${origin.label} "${value}"`;
}

export interface ResolvedTarget {
  /** Normalized origin, e.g. `http://localhost:8000`. */
  origin: string;
  /** Host name or address to connect to, without IPv6 brackets. */
  hostname: string;
  port: number;
}

export interface ResolvedRoute {
  /** A path prefix (`/api`, no trailing slash) or a host name (lowercase). */
  kind: 'prefix' | 'host';
  match: string;
  target: ResolvedTarget;
}

export interface ResolvedOptions {
  /** null: serve the built-in demo app. */
  target: ResolvedTarget | null;
  /** Host routes first, then prefixes, longest first: the order they are tried in. */
  routes: ResolvedRoute[];
  port: number;
  httpPort: number | null;
  redirectHttp: boolean;
  /** Addresses to bind, without brackets. */
  listenAddresses: string[];
  /** Host name used in the printed URLs and in redirects without a usable Host header. */
  publicHost: string;
  /** True when the listeners are reachable from other machines. */
  exposed: boolean;
  certDir: string;
  caRoot: string;
  /** null: the certificate signed by the local CA. */
  userCert: UserCertificateSpec | null;
  /** Every name the certificate must cover, defaults first. */
  certNames: string[];
  /** The names asked for with `names` (resolved): checked against what the CA may sign. */
  names: string[];
  /** Where settings came from when not from flags. */
  origins: SettingOrigins;
  /** Lowercased, validated; may contain 'any'. */
  allowHosts: string[];
  headersTimeout: number;
  idleTimeout: number;
  http2: boolean;
  keepHsts: boolean;
  inspect: boolean;
  open: boolean;
  logger: Logger;
}

export const DEFAULT_PORT = 8443;
export const DEFAULT_CERT_DIR = './certs';
export const DEFAULT_CERT_NAMES = ['localhost', '127.0.0.1', '::1'];
export const DEFAULT_HEADERS_TIMEOUT = 10_000;
export const DEFAULT_IDLE_TIMEOUT = 5000;
export const LOOPBACK_ADDRESSES = ['127.0.0.1', '::1'];

export function resolveOptions(options: DevHttpsOptions = {}): ResolvedOptions {
  const port = options.port === undefined ? DEFAULT_PORT : resolvePort(options.port, '--port');
  const httpPort = options.httpPort === undefined ? null : resolvePort(options.httpPort, '--http-port');
  if (httpPort !== null && httpPort !== 0 && httpPort === port) {
    throw new DevHttpsError('E_BAD_OPTION', `Invalid --http-port "${httpPort}": it is the same as --port; choose another port`);
  }
  const redirectHttp = options.redirectHttp ?? false;
  if (redirectHttp && httpPort === null) {
    throw new DevHttpsError('E_BAD_OPTION', 'Invalid --redirect-http: it needs --http-port <n>, the HTTP listener that redirects');
  }
  const target = options.target === undefined ? null : resolveTarget(options.target);
  if (target && isLoopbackName(target.hostname) && (target.port === port || target.port === httpPort)) {
    const flag = target.port === port ? '--port' : '--http-port';
    throw new DevHttpsError(
      'E_BAD_TARGET',
      `Invalid --target "${options.target}": that is dev-https's own ${flag}; point --target at your app's port`,
    );
  }
  const { listenAddresses, publicHost, exposed } = resolveHost(options.host);
  const names = uniq((options.names ?? []).map((n) => resolveName(n, options.origins?.names?.label ?? '--name')));
  const routes = resolveRoutes(options.routes, names, [port, httpPort], options.origins?.routes?.label ?? '--route');
  const certNames = uniq([
    ...DEFAULT_CERT_NAMES,
    ...names,
    ...listenAddresses.filter((a) => !isUnspecified(a)),
    // A phone on the LAN opens https://<this machine's address>: the certificate must name it.
    ...(exposed ? networkAddresses(listenAddresses) : []),
  ]);
  if (options.certDir === '') {
    throw new DevHttpsError('E_BAD_OPTION', 'Invalid --cert-dir "": expected a directory path, e.g. --cert-dir ./certs');
  }
  return {
    target,
    routes,
    port,
    httpPort,
    redirectHttp,
    listenAddresses,
    publicHost,
    exposed,
    certDir: path.resolve(options.cwd ?? process.cwd(), options.certDir ?? DEFAULT_CERT_DIR),
    caRoot: options.caRoot === undefined ? resolveCaRoot() : path.resolve(options.cwd ?? process.cwd(), options.caRoot),
    userCert: resolveUserCert(options),
    certNames,
    names,
    origins: options.origins ?? {},
    allowHosts: uniq((options.allowHosts ?? []).map((h) => (h.trim().toLowerCase() === 'any' ? 'any' : resolveName(h, '--allow-host')))),
    headersTimeout: resolveTimeout(options.headersTimeout, 'headersTimeout'),
    idleTimeout: options.idleTimeout === undefined ? DEFAULT_IDLE_TIMEOUT : resolveTimeout(options.idleTimeout, 'idleTimeout'),
    http2: options.http2 ?? true,
    keepHsts: options.keepHsts ?? false,
    inspect: options.inspect ?? true,
    open: options.open ?? false,
    logger: options.logger ?? createLogger(),
  };
}

/**
 * `--route /api=8000` or `admin.localhost=8001` (or the same as an object's keys and values):
 * routes in the order they are tried, host routes first, then the longest prefix first.
 */
export function resolveRoutes(
  value: DevHttpsOptions['routes'],
  names: string[],
  ownPorts: Array<number | null>,
  flag = '--route',
): ResolvedRoute[] {
  if (value === undefined) return [];
  const entries: Array<[string, string | number, string]> = Array.isArray(value)
    ? value.map((text) => {
        const eq = text.indexOf('=');
        if (eq <= 0) throw badRoute(flag, text, 'expected <prefix or host>=<target>, e.g. /api=8000 or admin.localhost=8001');
        return [text.slice(0, eq).trim(), text.slice(eq + 1).trim(), text];
      })
    : Object.entries(value).map(([match, target]) => [match.trim(), target, `${match}=${target}`]);
  const routes: ResolvedRoute[] = [];
  for (const [rawMatch, rawTarget, shown] of entries) {
    const match = rawMatch.startsWith('/') ? rawMatch.replace(/\/+$/, '') : rawMatch.toLowerCase().replace(/\.$/, '');
    let kind: ResolvedRoute['kind'];
    if (rawMatch.startsWith('/')) {
      if (match === '') throw badRoute(flag, shown, 'the prefix / is everything: that is --target');
      if (/[?#\s]/.test(match)) throw badRoute(flag, shown, 'a prefix is a path, without a query, fragment or spaces');
      kind = 'prefix';
    } else if (match === 'dev-https.localhost') {
      throw badRoute(flag, shown, 'dev-https.localhost is the name of the dev-https inspector; route another *.localhost name');
    } else if ((isLocalhostName(match) && match !== 'localhost') || names.includes(match)) {
      kind = 'host';
    } else {
      throw badRoute(
        flag,
        shown,
        `a prefix starts with / (e.g. /${rawMatch}=${rawTarget}); a host route is a *.localhost name or a --name`,
      );
    }
    let target: ResolvedTarget;
    try {
      target = resolveTarget(rawTarget, flag);
    } catch {
      throw badRoute(flag, shown, 'the target is a port, host:port or http://host:port');
    }
    if (isLoopbackName(target.hostname) && ownPorts.includes(target.port))
      throw badRoute(flag, shown, "the target is dev-https's own port");
    if (routes.some((r) => r.kind === kind && r.match === match)) throw badRoute(flag, shown, `two routes for ${match}`);
    routes.push({ kind, match, target });
  }
  return routes.sort((a, b) => (a.kind === b.kind ? b.match.length - a.match.length : a.kind === 'host' ? -1 : 1));
}

function badRoute(flag: string, shown: string, why: string): DevHttpsError {
  return new DevHttpsError('E_BAD_OPTION', `Invalid ${flag} "${shown}": ${why}`);
}

function resolveUserCert(options: DevHttpsOptions): UserCertificateSpec | null {
  const cwd = options.cwd ?? process.cwd();
  const file = (value: string | undefined, flag: string) => {
    if (value === undefined) return undefined;
    if (value.trim() === '') throw new DevHttpsError('E_BAD_OPTION', `Invalid ${flag} "": expected a file path`);
    return path.resolve(cwd, value);
  };
  const cert = file(options.cert, '--cert');
  const key = file(options.key, '--key');
  const pfx = file(options.pfx, '--pfx');
  const passphrase = options.passphrase ?? null;
  if (pfx !== undefined && (cert !== undefined || key !== undefined)) {
    const flag = cert !== undefined ? '--cert' : '--key';
    throw new DevHttpsError(
      'E_BAD_OPTION',
      `Invalid ${flag} "${options.cert ?? options.key}": use either --pfx or --cert with --key, not both`,
    );
  }
  if (pfx !== undefined) return { kind: 'pfx', pfxPath: pfx, passphrase };
  if (cert !== undefined && key === undefined)
    throw new DevHttpsError('E_BAD_OPTION', `Invalid --cert "${options.cert}": it needs --key <file>, its private key`);
  if (key !== undefined && cert === undefined)
    throw new DevHttpsError('E_BAD_OPTION', `Invalid --key "${options.key}": it needs --cert <file>, its certificate`);
  if (cert !== undefined && key !== undefined) return { kind: 'pem', certPath: cert, keyPath: key, passphrase };
  if (passphrase !== null) throw new DevHttpsError('E_BAD_OPTION', 'Invalid --passphrase: it needs --pfx <file> or --cert and --key');
  return null;
}

export function resolvePort(value: string | number, flag: string): number {
  const text = String(value).trim();
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 65535)) {
    throw new DevHttpsError('E_BAD_OPTION', `Invalid ${flag} "${value}": expected a port number from 1 to 65535 (0 picks a free port)`);
  }
  return n;
}

export function resolveTarget(value: string | number, flag = '--target'): ResolvedTarget {
  const text = String(value).trim();
  const bad = () => new DevHttpsError('E_BAD_TARGET', `Invalid ${flag} "${value}": expected a port, host:port or http://host:port`);
  if (/^:?\d+$/.test(text)) {
    const port = Number(text.replace(':', ''));
    if (!(port >= 1 && port <= 65535)) throw bad();
    return { origin: `http://localhost:${port}`, hostname: 'localhost', port };
  }
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
  if (!hasScheme && !/:\d+$/.test(text)) throw bad();
  let url: URL;
  try {
    url = new URL(hasScheme ? text : `http://${text}`);
  } catch {
    throw bad();
  }
  if (url.protocol !== 'http:' || url.username || url.password || url.search || url.hash || url.pathname !== '/' || !url.hostname) {
    throw bad();
  }
  const port = url.port ? Number(url.port) : 80;
  if (port < 1) throw bad();
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { origin: `http://${url.host}`, hostname, port };
}

function resolveHost(value: string | undefined): Pick<ResolvedOptions, 'listenAddresses' | 'publicHost' | 'exposed'> {
  const raw = (value ?? 'localhost')
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .toLowerCase();
  const text = net.isIP(raw) ? canonicalIp(raw) : raw;
  if (text === 'localhost') return { listenAddresses: LOOPBACK_ADDRESSES, publicHost: 'localhost', exposed: false };
  if (!net.isIP(text)) {
    throw new DevHttpsError(
      'E_BAD_HOST',
      `Invalid --host "${value}": expected localhost or an IP address of this machine (127.0.0.1, ::1, 0.0.0.0, ::)`,
    );
  }
  const exposed = !isLoopbackName(text);
  if (exposed && !isUnspecified(text) && !machineAddresses().includes(text)) {
    throw new DevHttpsError(
      'E_BAD_HOST',
      `Invalid --host "${value}": that address does not belong to this machine; use 127.0.0.1, 0.0.0.0 or one of its addresses`,
    );
  }
  const publicHost = isUnspecified(text) ? 'localhost' : net.isIPv6(text) ? `[${text}]` : text;
  return { listenAddresses: [text], publicHost, exposed };
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST_NAME = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);

/** A lowercase DNS name, `*.`-prefixed only when `wildcard`: what may go into a certificate. */
export function isHostName(text: string, wildcard = false): boolean {
  return text.length <= 253 && HOST_NAME.test(text) && (wildcard || !text.startsWith('*.'));
}

export function resolveName(value: string, flag = '--name'): string {
  const text = value
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (net.isIP(text)) return canonicalIp(text);
  if (isHostName(text, true)) return text;
  throw new DevHttpsError(
    'E_BAD_OPTION',
    `Invalid ${flag} "${value}": expected a host name (myapp.test) or an IP address${flag === '--allow-host' ? ', or any' : ''}`,
  );
}

function resolveTimeout(value: number | undefined, name: string): number {
  if (value === undefined) return DEFAULT_HEADERS_TIMEOUT;
  if (!Number.isInteger(value) || value < 1) {
    throw new DevHttpsError('E_BAD_OPTION', `Invalid ${name} "${value}": expected a whole number of milliseconds, at least 1`);
  }
  return value;
}

/** RFC 6761: localhost and *.localhost are loopback on both address families, whatever /etc/hosts says. */
export function isLocalhostName(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost');
}

/** localhost, *.localhost, 127.0.0.0/8 and ::1: names that never leave the machine. */
export function isLoopbackName(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** The host name of a Host header (or URL authority), lowercased, without port and IPv6 brackets. */
export function hostnameOf(host: string): string | null {
  try {
    return new URL(`http://${host}`).hostname.replace(/^\[(.*)\]$/, '$1') || null;
  } catch {
    return null;
  }
}

/**
 * The addresses other machines can reach the listeners on: with 0.0.0.0 (or ::) every external
 * address of this machine (IPv6 ones with :: only, link-local excluded), else the bound ones.
 */
export function networkAddresses(listenAddresses: string[]): string[] {
  const all = listenAddresses.some((a) => isUnspecified(a));
  if (!all) return listenAddresses.filter((a) => !isLoopbackName(a));
  const wantV6 = listenAddresses.includes('::');
  return Object.values(os.networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((i) => !i.internal && (i.family === 'IPv4' || (wantV6 && !i.address.toLowerCase().startsWith('fe80'))))
    .map((i) => canonicalIp(i.address.toLowerCase()));
}

/** Every address of this machine's interfaces, loopback included. */
export function machineAddresses(): string[] {
  return Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.toLowerCase()));
}

function uniq<T>(items: T[]): T[] {
  return [...new Set(items)];
}

/** The trust stores `dev-https trust --store` names (here, so parsing it does not load trust.ts). */
export const STORE_NAMES = ['system', 'nss', 'macos', 'windows', 'java'] as const;
export type StoreName = (typeof STORE_NAMES)[number];

/** Parses --store: a comma-separated list of store names. */
export function resolveStores(value: string | undefined): StoreName[] | null {
  if (value === undefined) return null;
  const names = value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const bad = names.find((n) => !(STORE_NAMES as readonly string[]).includes(n));
  if (bad !== undefined || names.length === 0) {
    throw new DevHttpsError('E_BAD_OPTION', `Invalid --store "${value}": expected a comma-separated list of ${STORE_NAMES.join(', ')}`);
  }
  return [...new Set(names)] as StoreName[];
}
