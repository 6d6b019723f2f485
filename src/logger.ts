// Writes dev-https' messages: info and request lines to stdout, warnings and errors to stderr;
// colors by NO_COLOR / FORCE_COLOR / TTY; JSON lines with --log json. It is not the only writer
// to the terminal: the CLI prints help, the version and reports itself, and sudo (trust) asks there.

export interface RequestLogEntry {
  time: Date;
  method: string;
  /** Path without the query string (it may carry tokens); `?…` marks that there was one. */
  path: string;
  status: number;
  durationMs: number;
  /** A WebSocket upgrade. */
  ws: boolean;
  /** The listener that took the request. */
  scheme: 'http' | 'https';
  /** The protocol the client spoke to it (the app is always reached over HTTP/1.1). */
  protocol: 'h2' | 'http/1.1' | 'http/1.0';
  /** The route that took it (`/api`, `admin.localhost`); absent: the default target. */
  route?: string;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** One line per request. Optional: loggers without it log no requests. */
  request?(entry: RequestLogEntry): void;
  /** A line of output from an app command: the --target app's (`dev-https -- <command>`), or that of `route`. */
  app?(line: string, stream: 'stdout' | 'stderr', route?: string): void;
  /** Writes what is batched now (see LoggerOptions.batch). */
  flush?(): void;
}

export interface LoggerOptions {
  /** Hide info and request lines; warnings and errors still show. */
  quiet?: boolean;
  /** `text` for people, `json` for tools (one JSON object per line). */
  format?: 'text' | 'json';
  /** Colors: default from NO_COLOR, FORCE_COLOR and whether stdout is a terminal. */
  color?: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /**
   * Gather stdout lines and write them at most every BATCH_MS (and at exit, and before anything
   * goes to stderr, so a terminal shows both in order): a page load of hundreds of modules is a
   * few writes instead of hundreds, each of which blocks while a terminal scrolls (Node writes to
   * terminals and pipes synchronously).
   */
  batch?: boolean;
}

/** NO_COLOR (any value) turns colors off, FORCE_COLOR (other than 0/false) on; else a TTY decides. */
export function colorEnabled(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return (stream as { isTTY?: boolean }).isTTY === true;
}

export type Paint = (code: string, text: string) => string;

export function painter(enabled: boolean): Paint {
  return enabled ? (code, text) => `\x1b[${code}m${text}\x1b[0m` : (_code, text) => text;
}

const STATUS_COLORS: Record<number, string> = { 1: '36', 2: '32', 3: '36', 4: '33', 5: '31' };

/**
 * `03:04:05 https h2 GET / 200 12 ms`: which listener and protocol took it, so the same path
 * answered by the HTTPS and the HTTP listener (307 here, 301 there) do not look alike.
 */
export function formatRequest(entry: RequestLogEntry, paint: Paint = painter(false)): string {
  const time = entry.time.toTimeString().slice(0, 8);
  const status = paint(STATUS_COLORS[Math.floor(entry.status / 100)] ?? '0', String(entry.status));
  const tail = entry.ws ? paint('35', 'ws') : `${Math.round(entry.durationMs)} ms`;
  const via = (entry.protocol === 'h2' ? `${entry.scheme} h2` : entry.scheme).padEnd(8);
  const route = entry.route === undefined ? '' : ` ${paint('2', `→ ${escapeControl(entry.route)}`)}`;
  return `${paint('2', time)} ${paint('2', via)} ${entry.method} ${entry.path} ${status} ${paint('2', tail)}${route}`;
}

/** The request line of a WebSocket upgrade: its status (101, or the refusal), no duration. */
export function upgradeEntry(
  req: { method?: string; url?: string; httpVersionMajor: number; httpVersionMinor: number },
  status: number,
  scheme: 'http' | 'https',
  route?: string,
): RequestLogEntry {
  return {
    time: new Date(),
    method: req.method ?? 'GET',
    path: logPath(req.url),
    status,
    durationMs: 0,
    ws: true,
    scheme,
    protocol: protocolOf(req),
    ...(route === undefined ? {} : { route }),
  };
}

/** The protocol of a request as the log names it. */
export function protocolOf(req: { httpVersionMajor: number; httpVersionMinor: number }): RequestLogEntry['protocol'] {
  return req.httpVersionMajor >= 2 ? 'h2' : req.httpVersionMinor === 0 ? 'http/1.0' : 'http/1.1';
}

/**
 * Control characters a client put in a path, Host or Origin, C1 (U+0080 to U+009F) included, as
 * `\xNN`: written raw they would move the cursor, recolor or forge lines in the terminal.
 * JSON.stringify escapes C0 only.
 */
export function escapeControl(text: string): string {
  return hasControlCharacters(text) ? text.replace(CONTROL_ALL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`) : text;
}
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;
const CONTROL_ALL = /[\x00-\x1f\x7f-\x9f]/g;

/** Whether text holds a control character (C0, DEL or C1) that a terminal would act on. */
export function hasControlCharacters(text: string): boolean {
  return CONTROL.test(text);
}

/**
 * How long batched stdout lines wait at most: a person cannot tell 25 ms, and a burst of module
 * requests is a write every 25 ms instead of one per event-loop turn (over HTTP/1.1, 225 writes
 * to the terminal for 300 requests, then 34; README "Performance").
 */
export const BATCH_MS = 25;

export function createLogger(options: LoggerOptions = {}): Logger {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const json = options.format === 'json';
  const out = painter(options.color ?? colorEnabled(stdout, options.env));
  const err = painter(options.color ?? colorEnabled(stderr, options.env));
  let pending = '';
  let timer: NodeJS.Timeout | null = null;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!pending) return;
    const text = pending;
    pending = '';
    stdout.write(text);
  };
  if (options.batch) process.once('exit', flush);
  // This logger's stdout lines in order: a JSON line waits behind what is batched.
  const toStdout = options.batch
    ? (text: string) => {
        if (!pending) (timer = setTimeout(flush, BATCH_MS)).unref();
        pending += text;
      }
    : (text: string) => void stdout.write(text);
  // What was batched for stdout goes first: a warning never shows above the request it follows.
  const toStderr = (text: string) => {
    flush();
    stderr.write(text);
  };
  const line = (stream: NodeJS.WritableStream, level: string, message: string, extra: object = {}) => {
    const text = JSON.stringify({ time: new Date().toISOString(), level, message, ...extra }) + '\n';
    if (stream === stdout) toStdout(text);
    else toStderr(text);
  };
  return {
    info: (message) => {
      if (options.quiet) return;
      if (json) line(stdout, 'info', message);
      else toStdout(message + '\n');
    },
    warn: (message) => {
      if (json) line(stderr, 'warn', message);
      else toStderr(`${err('33;1', 'warning:')} ${message}\n`);
    },
    error: (message) => {
      if (json) line(stderr, 'error', message);
      else toStderr(`${err('31;1', 'error:')} ${message}\n`);
    },
    // Quiet: no request method at all, so nothing per request is even measured.
    request: options.quiet
      ? undefined
      : (entry) => {
          if (json) toStdout(JSON.stringify({ ...entry, time: entry.time.toISOString(), level: 'request' }) + '\n');
          else toStdout(formatRequest(entry, out) + '\n');
        },
    // Each app's lines carry its route, as `concurrently` prefixes its commands' lines.
    app: (text, stream, route) => {
      if (json) line(stream === 'stderr' ? stderr : stdout, 'app', text, route === undefined ? {} : { route });
      else {
        const prefixed = `${out('2', `[${route === undefined ? 'app' : escapeControl(route)}]`)} ${text}\n`;
        if (stream === 'stderr') toStderr(prefixed);
        else toStdout(prefixed);
      }
    },
    flush,
  };
}

/** The path as logged: the query string may carry tokens, so only its presence shows. */
export function logPath(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return escapeControl(q < 0 ? raw : `${raw.slice(0, q)}?…`);
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/**
 * A URL as the terminal and dev-https' pages show it: the query as `?…` (an OAuth callback's
 * code and state are secrets), a fragment of name=value pairs as `#…` (the implicit flow's access
 * token), control characters escaped.
 */
export function displayUrl(url: string): string {
  const hash = url.indexOf('#');
  const fragment = hash < 0 ? '' : url.slice(hash).includes('=') ? '#…' : url.slice(hash);
  const rest = hash < 0 ? url : url.slice(0, hash);
  const q = rest.indexOf('?');
  return escapeControl(`${q < 0 ? rest : `${rest.slice(0, q)}?…`}${fragment}`);
}
