// Runs the app command given after `--` as a child process: its own process group (so Ctrl-C
// stops everything it started), its output line by line through the logger.
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import type { Logger } from './logger.js';
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
  /** SIGTERM to the whole process group, SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the whole process group, now. */
  kill(): void;
}

/** Starts `command` with `env`, less SECRET_ENV. */
export function startApp(command: string[], env: NodeJS.ProcessEnv, logger: Logger): AppProcess {
  const [file, ...args] = command;
  const appEnv = { ...env };
  for (const name of SECRET_ENV) delete appEnv[name];
  const child = spawn(file!, args, { env: appEnv, detached: true, stdio: ['inherit', 'pipe', 'pipe'] });
  for (const [stream, name] of [[child.stdout!, 'stdout'], [child.stderr!, 'stderr']] as const) {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      if (logger.app) logger.app(line, name);
      else logger.info(line);
    });
  }
  let notStarted = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      logger.error(`cannot run ${quoteShellWord(file!, true)}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'command not found' : err.message}`);
      notStarted = true;
      resolve({ code: 127, signal: null });
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  let done = false;
  void exited.then(() => (done = true));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  return {
    get failedToStart() {
      return notStarted;
    },
    exited,
    async stop(graceMs = 5000) {
      // The group too when the command itself is gone: what it started in the background stays.
      signalGroup('SIGTERM');
      if (done) return;
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    kill: () => signalGroup('SIGKILL'),
  };
}
