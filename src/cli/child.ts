// Runs the app command given after `--` as a child process, its output line by line through the
// logger, and stops everything it started: on POSIX its own process group, on Windows its process
// tree (taskkill), as Windows has neither process groups nor signals.
import { spawn as spawnProcess, type ChildProcess, type SpawnOptions } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
// cross-spawn: on Windows, `npm`, `npx` and `node_modules/.bin` tools are .cmd shims that spawn
// without a shell cannot start (EINVAL since Node 20.12.2); it runs them through cmd.exe with each
// argument quoted. Elsewhere it is child_process.spawn.
import crossSpawn from 'cross-spawn';
import type { Logger } from '../logger.js';
import { quoteShellWord } from './shell-quote.js';

/**
 * dev-https' own secrets, never passed on to the app: framework debug pages (Django's, Werkzeug's,
 * Laravel's) print the whole environment. The other DEV_HTTPS_* settings are ports, paths and
 * switches, which scripts in the app may read (the HTTPS port, say) and which give nothing away.
 */
export const SECRET_ENV: readonly string[] = ['DEV_HTTPS_PASSPHRASE', 'DEV_HTTPS_JAVA_STOREPASS'];

export interface AppProcess {
  /** True when the command could not be started at all. */
  readonly failedToStart: boolean;
  /** Resolves when the command has exited, with its exit code (or the signal that ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Asks the whole process group (Windows: tree) to stop, kills it after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
  /** Kills the whole process group (Windows: tree), now. */
  kill(): void;
}

export type SpawnFunction = (file: string, args: string[], options: SpawnOptions) => ChildProcess;

export interface StartAppOptions {
  /** Decides how the app is started and stopped. @default process.platform */
  platform?: NodeJS.Platform;
  /** Starts the app command. @default cross-spawn */
  spawn?: SpawnFunction;
  /** Starts taskkill on Windows, without a shell. @default child_process.spawn */
  spawnTool?: SpawnFunction;
  /** Signals a process group on POSIX (a negative pid). @default process.kill */
  kill?: (pid: number, signal: NodeJS.Signals) => void;
}

/** Starts `command` with `env`, less SECRET_ENV. */
export function startApp(command: string[], env: NodeJS.ProcessEnv, logger: Logger, options: StartAppOptions = {}): AppProcess {
  const { platform = process.platform, spawn = crossSpawn, spawnTool = spawnProcess, kill = process.kill } = options;
  const windows = platform === 'win32';
  const [file, ...args] = command;
  const appEnv = { ...env };
  for (const name of SECRET_ENV) delete appEnv[name];
  // POSIX: its own process group, so the terminal's Ctrl-C reaches dev-https only and the group can
  // be signalled as one. Windows: `detached` would give it a console of its own; it keeps ours,
  // so Ctrl-C reaches it as in a plain terminal.
  const child = spawn(file!, args, { env: appEnv, stdio: ['inherit', 'pipe', 'pipe'], ...(windows ? {} : { detached: true }) });
  for (const [stream, name] of [
    [child.stdout!, 'stdout'],
    [child.stderr!, 'stderr'],
  ] as const) {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      if (logger.app) logger.app(line, name);
      else logger.info(line);
    });
  }
  let notStarted = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      logger.error(
        `cannot run ${quoteShellWord(file!, true)}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'command not found' : err.message}`,
      );
      notStarted = true;
      resolve({ code: 127, signal: null });
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  let done = false;
  void exited.then(() => (done = true));
  const end = windows ? treeKiller(child, env, spawnTool, () => done) : groupSignaller(child, kill);
  return {
    get failedToStart() {
      return notStarted;
    },
    exited,
    async stop(graceMs = 5000) {
      end(false);
      if (done) return;
      const timer = setTimeout(() => end(true), graceMs);
      await exited;
      clearTimeout(timer);
    },
    kill: () => end(true),
  };
}

/** POSIX: SIGTERM or SIGKILL to the whole process group, the group too when the command itself is gone (what it started in the background stays). */
function groupSignaller(child: ChildProcess, kill: (pid: number, signal: NodeJS.Signals) => void): (force: boolean) => void {
  return (force) => {
    try {
      if (child.pid) kill(-child.pid, force ? 'SIGKILL' : 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
}

/**
 * Windows: `taskkill /T` asks the process tree to close, `/F` ends it. Only while the command
 * runs: the tree is found through its pid, which Windows may give to another process once it
 * has exited.
 */
function treeKiller(
  child: ChildProcess,
  env: NodeJS.ProcessEnv,
  spawnTool: SpawnFunction,
  exited: () => boolean,
): (force: boolean) => void {
  // From System32, never a taskkill earlier on PATH (a project's node_modules/.bin, say).
  const taskkill = path.win32.join(env.SystemRoot || 'C:\\Windows', 'System32', 'taskkill.exe');
  return (force) => {
    if (!child.pid || exited()) return;
    try {
      const tool = spawnTool(taskkill, ['/pid', String(child.pid), '/T', ...(force ? ['/F'] : [])], { stdio: 'ignore', windowsHide: true });
      // It fails when the tree is already gone, or has no window to close (console apps); nothing to report.
      tool.on('error', () => undefined);
    } catch {
      // Not startable: the grace period's /F, or the app's own Ctrl-C, remains.
    }
  };
}
