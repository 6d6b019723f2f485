// Processes the benchmarks start and measure against: the dev-https bin as a user runs it (a child
// process, its request log going to a terminal, a pipe or /dev/null), Caddy with the shared
// benchmark's EC P-256 certificate, local-ssl-proxy, and the helpers to wait for and stop them.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
export const DEFAULT_BIN = path.join(here, '../bin/dev-https.js');
export const ANCHORS = process.env.ANCHORS_DIR || path.join(os.tmpdir(), 'dev-https-anchors');

/** The CPU a process has used so far (utime + stime of /proc/<pid>/stat, Linux), in µs. */
export function cpuMicros(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}
const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Nearest-rank percentile (p in 0..100). */
export const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};

/** argv helpers shared by the bench scripts: `--name value`, whole numbers and comma lists. */
export function argsOf(argv) {
  const value = (name) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    has: (name) => argv.includes(`--${name}`),
    str: (name, fallback) => value(name) ?? fallback,
    int: (name, fallback, min = 0) => {
      const raw = value(name);
      const n = raw === undefined ? fallback : Number(raw);
      if (!Number.isInteger(n) || n < min) throw new Error(`Invalid --${name} "${raw}": expected a whole number from ${min}`);
      return n;
    },
    list: (name, fallback, allowed) => {
      const raw = value(name);
      const xs =
        raw === undefined
          ? fallback
          : raw
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean);
      const bad = xs.filter((x) => !allowed.includes(x));
      if (bad.length) throw new Error(`Invalid --${name} "${raw}": expected a comma-separated list of ${allowed.join(', ')}`);
      return xs;
    },
  };
}

export const has = (cmd) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** A port free on 127.0.0.1 (and ::1 when there is one), released again, for servers that need a fixed one. */
export async function freePort() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const v4 = net.createServer();
    const port = await new Promise((resolve, reject) => v4.once('error', reject).listen(0, '127.0.0.1', () => resolve(v4.address().port)));
    const v6 = net.createServer();
    const ok = await new Promise((resolve) =>
      v6.once('error', (e) => resolve(e.code === 'EADDRNOTAVAIL')).listen(port, '::1', () => resolve(true)),
    );
    await new Promise((resolve) => v4.close(resolve));
    if (v6.listening) await new Promise((resolve) => v6.close(resolve));
    if (ok) return port;
  }
  throw new Error('no free port on 127.0.0.1');
}

export async function waitPort(port, ms = 20_000, host = '127.0.0.1') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listened on ${host}:${port} within ${ms} ms`);
}

const children = new Set();

/** Spawns a child that the exit handler below stops; output goes to `log` (a file path) or is ignored. */
export function startChild(cmd, argv, { log, env, cwd, stdout } = {}) {
  const fd = log ? fs.openSync(log, 'a') : 'ignore';
  const child = spawn(cmd, argv, { stdio: ['ignore', stdout ?? fd, fd], env: env ?? process.env, cwd });
  if (typeof fd === 'number') fs.closeSync(fd);
  children.add(child);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.exited.then(() => children.delete(child));
  child.on('error', () => undefined);
  return child;
}

/** The pids of a process' children (Linux), for the process `script` runs in a terminal. */
const childPids = (pid) => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

/** SIGTERM (to the program itself when `script` runs it), SIGKILL after 5 s; resolves once it exited. */
export async function stopChild(child) {
  if (child.exitCode === null && child.signalCode === null) {
    const target = child.innerPid ?? child.pid;
    try {
      process.kill(target, 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await child.exited;
  clearTimeout(timer);
}

export const stopAll = () => Promise.all([...children].map(stopChild));
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * Starts the dev-https bin as a user would, with a CA and cert dir of the benchmark's own.
 * `sink` is where its stdout (banner and request log) goes:
 * - `pty`: a pseudo-terminal (util-linux `script`), as in a terminal: isTTY, colors, and Node's
 *   synchronous TTY writes; `script` copies it to a pipe this process reads and discards.
 * - `pipe`: a pipe this process reads and discards.
 * - `null`: /dev/null (cheapest: Node writes files synchronously and the kernel drops them).
 * - `slow-pty`: a pseudo-terminal read at `ttyRate` bytes/s (a terminal slow to scroll, a remote
 *   session): once the kernel's buffer is full, every write blocks the proxy until it drains.
 * Resolves with the HTTPS URL from the banner, the CA to trust and the lines it printed.
 */
export async function startDevHttpsBin({
  bin = DEFAULT_BIN,
  appPort,
  certDir,
  caRoot,
  extra = [],
  sink = 'pipe',
  ttyRate = 20_000,
  nodeArgs = [],
  cwd,
}) {
  const argv = [...nodeArgs, bin, '--target', String(appPort), '--port', '0', '--cert-dir', certDir, ...extra];
  const env = { ...process.env, DEV_HTTPS_CAROOT: caRoot };
  delete env.FORCE_COLOR;
  delete env.NO_COLOR;
  let child;
  // Lines printed after the banner, request lines left out (a notice such as a stall workaround).
  const lines = [];
  let banner = '';
  let out = '';
  // The unfinished last line of what was read so far.
  let partial = '';
  let port;
  // Without a banner to read the port from (/dev/null, --quiet), the port is chosen up front.
  const fixedPort = sink === 'null' || extra.includes('--quiet') || extra.includes('-q');
  if (fixedPort) {
    port = await freePort();
    argv[argv.indexOf('--port') + 1] = String(port);
  }
  if (sink === 'null') {
    child = startChild(process.execPath, argv, { env, cwd, stdout: 'ignore' });
    child.stderrText = '';
  } else {
    const quote = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
    const [cmd, cmdArgv] =
      sink === 'pty'
        ? ['script', ['-qfec', `exec ${[process.execPath, ...argv].map(quote).join(' ')}`, '/dev/null']]
        : sink === 'slow-pty'
          ? [PYTHON, ['-c', SLOW_PTY, String(ttyRate), process.execPath, ...argv]]
          : [process.execPath, argv];
    child = spawn(cmd, cmdArgv, { stdio: ['ignore', 'pipe', 'pipe'], env, cwd });
    children.add(child);
    child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.exited.then(() => children.delete(child));
    child.stderrText = '';
    child.stderr.on('data', (c) => (child.stderrText += c));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c) => {
      if (!banner && !fixedPort) return void (out += c);
      const split = (partial + c).split(/\r?\n/);
      partial = split.pop();
      for (const l of split.map(stripAnsi))
        if (l.trim() && lines.length < 200 && !REQUEST_LINE.test(l) && !BANNER_LINE.test(l)) lines.push(l);
    });
  }
  if (sink === 'pty' || sink === 'slow-pty') {
    // `script` runs the node process as its child: stop that one so it exits cleanly (a CPU profile is written on exit).
    for (let i = 0; i < 100 && child.innerPid === undefined; i++) {
      const [pid] = childPids(child.pid);
      if (pid) child.innerPid = pid;
      else await sleep(10);
    }
  }
  const deadline = Date.now() + 20_000;
  let ready = false;
  while (!ready && Date.now() < deadline && child.exitCode === null) {
    if (fixedPort) {
      try {
        await waitPort(port, 200);
        ready = true;
      } catch {
        continue;
      }
    }
    const m = /Local:\s+(?:\x1b\[[0-9;]*m)*https:\/\/localhost:(\d+)\//.exec(out);
    if (m) {
      port = Number(m[1]);
      banner = stripAnsi(out);
      partial = out.slice(out.search(/[^\n]*$/));
      ready = true;
      break;
    }
    await sleep(20);
  }
  if (!ready || child.exitCode !== null) {
    await stopChild(child);
    throw new Error(`dev-https did not start (${sink}): ${stripAnsi(out)} ${child.stderrText}`);
  }
  return { child, port, ca: fs.readFileSync(path.join(caRoot, 'rootCA.pem'), 'utf8'), banner, lines, sink };
}

// `12:00:00 GET / 200 1 ms`, with or without a listener/protocol column (`https h2`, `http`).
// The banner's later lines, when a slow reader splits it.
const BANNER_LINE = /^\s*(➜|SHA-256 |Clients: |Add --http-port|Browsers warn|Run dev-https)/;
const PYTHON = '/usr/bin/python3';
export const slowPtyAvailable = () => fs.existsSync(PYTHON);
// Runs argv[2:] on a pseudo-terminal and copies what it prints to stdout at argv[1] bytes/s.
const SLOW_PTY = `
import os, pty, sys, time
rate = int(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
out = sys.stdout.buffer
while True:
    try:
        data = os.read(fd, max(1, rate // 50))
    except OSError:
        break
    if not data:
        break
    out.write(data)
    out.flush()
    time.sleep(len(data) / rate)
os.waitpid(pid, 0)
`;

const REQUEST_LINE = /^\d\d:\d\d:\d\d\s+(?:(?:https?|h2|h1|ws)\s+)*[A-Z]+\s+\S+\s+\d{3}\b/;
export const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

/**
 * Caddy 2 in front of each upstream, as ../shared/bench/proxies.mjs configures it: TLS with the
 * EC P-256 certificate from the shared setup, reverse_proxy with its defaults (keep-alive pool,
 * HTTP/2 and HTTP/1.1 to clients). Resolves with one HTTPS port per upstream, in order.
 */
export async function startCaddy(upstreamPorts, tmp) {
  const ports = [];
  for (const _ of upstreamPorts) ports.push(await freePort());
  const sites = upstreamPorts
    .map((up, i) => `https://localhost:${ports[i]} {\n\ttls ${ANCHORS}/ec.crt ${ANCHORS}/ec.key\n\treverse_proxy 127.0.0.1:${up}\n}\n`)
    .join('');
  const file = path.join(tmp, 'Caddyfile');
  fs.writeFileSync(
    file,
    `{\n\tskip_install_trust\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system ${tmp}/caddy\n}\n${sites}`,
  );
  const child = startChild('caddy', ['run', '--config', file, '--adapter', 'caddyfile'], {
    log: path.join(tmp, 'caddy.log'),
    env: { ...process.env, HOME: tmp, XDG_DATA_HOME: tmp, XDG_CONFIG_HOME: tmp },
  });
  try {
    for (const p of ports) await waitPort(p);
  } catch (err) {
    throw new Error(`${err.message}: ${fs.readFileSync(path.join(tmp, 'caddy.log'), 'utf8').slice(-2000)}`);
  }
  return { child, ports, ca: fs.readFileSync(path.join(ANCHORS, 'ec.crt'), 'utf8'), version: caddyVersion() };
}

export const caddyAvailable = () => has('caddy') && fs.existsSync(path.join(ANCHORS, 'ec.crt'));
const caddyVersion = () => {
  try {
    return execFileSync('caddy', ['version'], { encoding: 'utf8' }).split(/\s/)[0];
  } catch {
    return '?';
  }
};

export const LSP_BIN = path.join(ANCHORS, 'node_modules/.bin/local-ssl-proxy');
/** local-ssl-proxy 2.0.5 with its own bundled certificate (expired: clients must not verify it). */
export async function startLocalSslProxy(appPort, tmp) {
  const port = await freePort();
  const child = startChild(process.execPath, [LSP_BIN, '--source', String(port), '--target', String(appPort), '--hostname', '127.0.0.1'], {
    log: path.join(tmp, `lsp-${port}.log`),
  });
  await waitPort(port);
  return { child, port };
}

/** What dev-https printed besides its banner and request lines (info lines a benchmark should show). */
export function printSaid(said) {
  if (said.length)
    console.log(
      '\ndev-https printed after its banner (request lines left out):\n' +
        said
          .slice(0, 10)
          .map((l) => `- ${l}`)
          .join('\n'),
    );
}
