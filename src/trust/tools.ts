// Finding and running the trust stores' tools: the system's own directories and DEV_HTTPS_TOOL_DIR,
// never PATH; sudo from those directories, given the tool by its bare name; never a shell.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TrustContext {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  home: string;
  /** Root needs no sudo. */
  isRoot: boolean;
  /** Where the system's own tools are looked for (tests narrow it); default: systemToolDirs. */
  toolDirs?: string[];
  /** Inside WSL, where the browser runs on Windows: default, detected from the environment and /proc. */
  wsl?: boolean;
}

export function defaultTrustContext(): TrustContext {
  return { env: process.env, platform: process.platform, home: os.homedir(), isRoot: process.getuid?.() === 0 };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The system's own tool directories. Never PATH: under npx, node_modules/.bin comes first, and a
 * dependency's `certutil` bin would run with the user's trust stores (or, through sudo, as root).
 * Homebrew's nss on macOS is found in its own keg, not in /usr/local/bin where other packages link.
 */
export function systemToolDirs(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  if (platform === 'win32') return [path.win32.join(env.SystemRoot || 'C:\\Windows', 'System32')];
  if (platform === 'darwin') return ['/usr/bin', '/usr/sbin', '/opt/homebrew/opt/nss/bin', '/usr/local/opt/nss/bin'];
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
}

/** DEV_HTTPS_TOOL_DIR: directories of tools the user names on purpose (a Homebrew prefix, an nss build), looked in first. */
function userToolDirs(env: NodeJS.ProcessEnv): string[] {
  return (env.DEV_HTTPS_TOOL_DIR ?? '').split(path.delimiter).filter((d) => d && path.isAbsolute(d));
}

/** Where tools are looked for, in order: the user's, then the system's. */
function toolDirs(ctx: TrustContext): string[] {
  return [...userToolDirs(ctx.env), ...(ctx.toolDirs ?? systemToolDirs(ctx.platform, ctx.env))];
}

/** The first executable called `name` in the user's tool directories, then the system's (or among `extra` paths); null when none. */
export function findTool(name: string, ctx: TrustContext, extra: string[] = []): string | null {
  return firstExecutable(name, toolDirs(ctx), ctx.platform, extra);
}

/** The first executable called `name` on PATH: only to see whether a browser is installed, never to run it. */
export function onPath(name: string, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string | null {
  return firstExecutable(name, (env.PATH ?? '').split(path.delimiter).filter(Boolean), platform);
}

function firstExecutable(name: string, dirs: string[], platform: NodeJS.Platform, extra: string[] = []): string | null {
  const exts = platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const candidate of [...dirs.flatMap((d) => exts.map((e) => path.join(d, name + e))), ...extra]) {
    if (isExecutableFile(candidate)) return candidate;
  }
  return null;
}

export function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

interface RunOptions {
  /** The sudo to run it through, or null. */
  sudo?: string | null;
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Give sudo the path (an update.d hook in a root-owned directory, on no PATH). */
  keepPath?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a store's tool, never through a shell. Through sudo (the system's) it is given by its bare
 * name, so sudo's secure_path finds it, not the caller's PATH. Throws when it cannot start.
 */
function run(command: string, args: string[], { sudo = null, env, input, keepPath = false }: RunOptions = {}): Promise<RunResult> {
  const [cmd, argv] = sudo ? [sudo, [keepPath ? command : path.basename(command), ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    // sudo may ask for a password on the terminal: stdin stays the user's.
    const child = spawn(cmd, argv, {
      stdio: [input !== undefined ? 'pipe' : sudo ? 'inherit' : 'ignore', 'pipe', 'pipe'],
      env: env ?? process.env,
    });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new Error(`cannot run ${cmd}: ${errorText(err)}`)));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** run, but a non-zero exit throws, naming the tool, its subcommand and the end of its output. */
async function runOk(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-2).join(' ');
    // The tool and its subcommand (certutil -addstore, security add-trusted-cert), never the paths after.
    const sub = args.find((a) => /^-?[a-z][\w-]*$/i.test(a) && !a.startsWith('--'));
    const name = [path.basename(command), ...(sub ? [sub] : [])].join(' ');
    throw new Error(`${options.sudo ? 'sudo ' : ''}${name} failed (exit ${result.code})${output ? `: ${output}` : ''}`);
  }
  return result;
}

export type ToolOptions = { sudo?: boolean; input?: string; keepPath?: boolean };

export interface ToolRunner {
  run(command: string, args: string[], options?: ToolOptions): Promise<RunResult>;
  /** Throws on a non-zero exit. */
  runOk(command: string, args: string[], options?: ToolOptions): Promise<RunResult>;
}

/** run and runOk with the context's environment (its HOME is the tools'), sudo from the system's directories. */
export function toolRunner(ctx: TrustContext): ToolRunner {
  // Never a sudo from PATH: a planted one would be handed the user's password.
  const sudoPath = () => {
    const sudo = findTool('sudo', ctx);
    if (!sudo) throw new Error(`sudo not found in ${toolDirs(ctx).join(', ')}`);
    return sudo;
  };
  const wrap = (options: ToolOptions) => ({ ...options, sudo: options.sudo ? sudoPath() : null, env: ctx.env });
  return {
    run: (command, args, options = {}) => run(command, args, wrap(options)),
    runOk: (command, args, options = {}) => runOk(command, args, wrap(options)),
  };
}

/** A command as the plan prints it: the path that runs, or `sudo <name>` (sudo finds it on its secure_path). */
export function shown(command: string, args: string[], sudo: boolean): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `"${a}"`);
  return [...(sudo ? ['sudo', path.basename(command)] : [command]), ...args].map((a, i) => (i === 0 ? a : quote(a))).join(' ');
}

export function writable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function exists(file: string): boolean {
  return fs.existsSync(file);
}

/** `~/x` for paths under the home directory: shorter plans. */
export function tilde(file: string, ctx: TrustContext): string {
  return file.startsWith(ctx.home + path.sep) ? `~${file.slice(ctx.home.length)}` : file;
}
