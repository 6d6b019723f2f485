// Runs the app command given after `--` as a child process: its own process group (so Ctrl-C
// stops everything it started), its output line by line through the logger.
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import type { Logger } from './logger.js';

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

export function startApp(command: string[], env: NodeJS.ProcessEnv, logger: Logger): AppProcess {
  const [file, ...args] = command;
  const child = spawn(file!, args, { env, detached: true, stdio: ['inherit', 'pipe', 'pipe'] });
  for (const [stream, name] of [[child.stdout!, 'stdout'], [child.stderr!, 'stderr']] as const) {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      if (logger.app) logger.app(line, name);
      else logger.info(line);
    });
  }
  let notStarted = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      logger.error(`cannot run ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'command not found' : err.message}`);
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
