// Runs an app command (the one after `--`, or a config's "run") as a child process, its output line
// by line through the logger, and stops everything it started: on POSIX its own process group, on
// Windows its process tree (taskkill), as Windows has neither process groups nor signals.
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
  /** Starts an app command given as a list. @default cross-spawn */
  spawn?: SpawnFunction;
  /** Starts what is named by its full path: the shell of a command line, taskkill on Windows. @default child_process.spawn */
  spawnTool?: SpawnFunction;
  /** Signals a process group on POSIX (a negative pid). @default process.kill */
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  /** The route the app serves, which prefixes its output lines (`[/api]`); without one, `[app]`. */
  route?: string;
}

/**
 * Starts `command` with `env`, less SECRET_ENV. A list is the program and its arguments, run
 * without a shell; a string is a command line for the shell, as npm scripts are: /bin/sh -c, or
 * cmd.exe on Windows.
 */
export function startApp(command: string | string[], env: NodeJS.ProcessEnv, logger: Logger, options: StartAppOptions = {}): AppProcess {
  const { platform = process.platform, spawn = crossSpawn, spawnTool = spawnProcess, kill = process.kill, route } = options;
  const windows = platform === 'win32';
  const shell = typeof command === 'string';
  const [file, args, shellOptions] = shell ? shellCommand(command, windows, env) : [command[0]!, command.slice(1), {}];
  const appEnv = { ...env };
  for (const name of SECRET_ENV) delete appEnv[name];
  // POSIX: its own process group, so the terminal's Ctrl-C reaches dev-https only and the group can
  // be signalled as one. Windows: `detached` would give it a console of its own; it keeps ours,
  // so Ctrl-C reaches it as in a plain terminal.
  // The shell, a full path with its arguments verbatim, goes around cross-spawn, which would look
  // it up and quote it again.
  const child = (shell ? spawnTool : spawn)(file, args, {
    env: appEnv,
    stdio: ['inherit', 'pipe', 'pipe'],
    ...(windows ? {} : { detached: true }),
    ...shellOptions,
  });
  for (const [stream, name] of [
    [child.stdout!, 'stdout'],
    [child.stderr!, 'stderr'],
  ] as const) {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      if (logger.app) logger.app(line, name, route);
      else logger.info(line);
    });
  }
  let notStarted = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      logger.error(
        `cannot run ${quoteShellWord(file, true)}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'command not found' : err.message}`,
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

/**
 * The shell that runs a command line, as Node's `shell: true` and npm do it: `/bin/sh -c`; on
 * Windows `cmd.exe /d /s /c "<line>"` passed verbatim (cmd.exe strips the outer quotes itself).
 * cmd.exe is %ComSpec% when that is a full path, else the one in System32: never a cmd.exe found
 * in the current directory, which is the project's.
 */
export function shellCommand(line: string, windows: boolean, env: NodeJS.ProcessEnv): [string, string[], SpawnOptions] {
  if (!windows) return ['/bin/sh', ['-c', line], {}];
  const comspec = Object.entries(env).find(([name]) => name.toLowerCase() === 'comspec')?.[1];
  const cmd = comspec && path.win32.isAbsolute(comspec) ? comspec : path.win32.join(env.SystemRoot || 'C:\\Windows', 'System32', 'cmd.exe');
  return [cmd, ['/d', '/s', '/c', `"${line}"`], { windowsVerbatimArguments: true }];
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
