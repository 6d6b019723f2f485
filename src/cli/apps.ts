// The app commands dev-https starts: the one after `--`, and, only when the user asks with --run,
// those the config file names ("run"). A repository's config is written by whoever wrote the
// repository, so naming a command there never runs it by itself. Started together, they are
// waited for together, and the first one to exit stops them all.
import type { AppProcess } from './child.js';
import type { ResolvedSettings } from './config.js';
import { DevHttpsError } from '../errors.js';
import { colorEnabled, type Logger } from '../logger.js';
import { resolveTarget } from '../options.js';
import { waitUntilAccepting } from './reachable.js';
import type { DevHttpsHandle } from '../server/server.js';
import { formatShellCommand } from './shell-quote.js';

export interface AppSpec {
  /** The route it serves (`/api`), which prefixes its output; null: the --target app (`[app]`). */
  route: string | null;
  /** Its name in messages: `/api`, `the --target app`. */
  name: string;
  /** A string runs through the shell, a list of strings without one. */
  command: string | string[];
  /** From the config file's "run" (false: the command after `--`). */
  fromConfig: boolean;
  /** The targets (origins) it must make accept connections before the banner. */
  waitFor: string[];
  /** Its PORT: its target, when that is a bare port. */
  port: string | null;
}

export interface AppPlan {
  apps: AppSpec[];
  /** The config file names commands that are not started (no --run): what to do about them. */
  warning: string | null;
}

/**
 * What to start. The command after `--` replaces the config's "run" of the (first) --target app
 * (flags beat the config file); the config's commands start only with `settings.run`.
 */
export function planApps(settings: ResolvedSettings, dashCommand: string[]): AppPlan {
  const { proxies } = settings;
  const named = settings.apps.filter((a) => !(dashCommand.length && a.proxy === 0 && a.route === null));
  const nameOf = (proxy: number, route: string | null) =>
    route ?? (proxies.length > 1 ? `the --target app of "proxies"[${proxy}]` : 'the --target app');
  if (!settings.run && named.length) {
    const names = joinWithAnd(routesFirst(named).map((a) => nameOf(a.proxy, a.route)));
    const [them, commands] = named.length > 1 ? ['them', 'app commands'] : ['it', 'an app command'];
    return {
      apps: dashCommand.length ? [dashApp(settings, dashCommand, [])] : [],
      warning: `${settings.configFile} names ${commands} for ${names}: start ${them} with dev-https --run, or start ${them} yourself`,
    };
  }
  const started = settings.run ? named : [];
  if (settings.runFrom === '--run' && !started.length && !dashCommand.length) {
    throw new DevHttpsError(
      'E_BAD_OPTION',
      settings.configFile === null
        ? 'Invalid --run: there is no dev-https.config.json (or "dev-https" in package.json) with app commands to start ("run"); add one, or give the command after --'
        : `Invalid --run: ${settings.configFile} names no app commands ("run" next to "target" or in a route); add one, or give the command after --`,
    );
  }
  const apps: AppSpec[] = routesFirst(started).map((app) => {
    const target = app.route === null ? proxies[app.proxy]!.target : app.target;
    return {
      route: app.route,
      name: nameOf(app.proxy, app.route),
      command: app.command,
      fromConfig: true,
      waitFor: app.route === null && app.proxy === 0 ? defaultTargets(settings, started) : target === undefined ? [] : origin(target),
      port: portOf(target),
    };
  });
  if (dashCommand.length) apps.splice(started.filter((a) => a.route !== null).length, 0, dashApp(settings, dashCommand, started));
  return { apps, warning: null };
}

/** The command after `--`: the first proxy's --target app. */
function dashApp(settings: ResolvedSettings, command: string[], started: ResolvedSettings['apps']): AppSpec {
  return {
    route: null,
    name: settings.proxies.length > 1 ? 'the --target app of "proxies"[0]' : 'the --target app',
    command,
    fromConfig: false,
    waitFor: defaultTargets(settings, started),
    port: portOf(settings.proxies[0]!.target),
  };
}

/**
 * What the first proxy's --target app waits for: its target, and those of the other proxies that
 * have no command of their own (one command may start them all, as before there was "run").
 */
function defaultTargets(settings: ResolvedSettings, started: ResolvedSettings['apps']): string[] {
  return settings.proxies.flatMap((p, i) =>
    p.target === undefined || (i > 0 && started.some((a) => a.proxy === i && a.route === null)) ? [] : origin(p.target),
  );
}

/** Routes first: the --target app is usually the front end that calls them. */
function routesFirst(apps: ResolvedSettings['apps']): ResolvedSettings['apps'] {
  return [...apps.filter((a) => a.route !== null), ...apps.filter((a) => a.route === null)];
}

/** Its origin; a bad target stays unwaited for, as starting the proxy reports it with its key. */
function origin(target: string | number): string[] {
  try {
    return [resolveTarget(target).origin];
  } catch {
    return [];
  }
}

function portOf(target: string | number | undefined): string | null {
  return target !== undefined && /^\d+$/.test(String(target)) ? String(target) : null;
}

function joinWithAnd(words: string[]): string {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/** A command as messages show it: a command line as written, a list quoted as a shell needs it. */
export function formatAppCommand(command: string | string[]): string {
  return typeof command === 'string' ? command : formatShellCommand(command);
}

/** What the apps share with the CLI's shutdown. */
export interface AppSession {
  readonly handles: DevHttpsHandle[];
  readonly apps: AppProcess[];
  /** A shutdown has begun. */
  stopping: boolean;
  /** Aborted by the shutdown: stops waiting for the targets. */
  readonly waiting: AbortSignal;
  /** Stops the apps, closes the listeners, exits with `code`. */
  shutdown(code: number): Promise<void>;
}

/**
 * Starts the apps and waits until every target they serve accepts connections. False when
 * dev-https stopped first. The first app to exit stops the others and dev-https, with its code.
 */
export async function startApps(specs: AppSpec[], session: AppSession, logger: Logger): Promise<boolean> {
  const { startApp } = await import('./child.js');
  const several = specs.length > 1;
  // The user did not type a config's commands: each is shown before it runs.
  const listed = specs.some((s) => s.fromConfig);
  // Per app, the target it is being waited for: an exit before it accepts connections is a
  // failure, exit 0 too (a one-shot command, or a server that went into the background).
  const pending = specs.map((spec) => spec.waitFor[0] ?? null);
  for (const [i, spec] of specs.entries()) {
    if (listed) logger.info(`starting ${spec.name}: ${formatAppCommand(spec.command)}`);
    const app = startApp(spec.command, appEnv(session.handles, spec.port), logger, spec.route === null ? {} : { route: spec.route });
    session.apps.push(app);
    void app.exited.then(({ code, signal }) => {
      if (session.stopping) return;
      session.stopping = true;
      const waitingFor = pending[i]!;
      const early = waitingFor !== null && !app.failedToStart;
      const failed = code !== 0 || early;
      const how = app.failedToStart ? 'could not be started' : signal ? `was ended by ${signal}` : `exited with code ${code}`;
      const when = early ? ` before ${waitingFor} accepted connections` : '';
      const why =
        early && code === 0
          ? spec.fromConfig
            ? ' (a "run" command must keep running while its app serves)'
            : ' (the command after -- must keep running while the app serves)'
          : '';
      const who = several ? `the app command for ${spec.name}` : 'the app command';
      (failed ? logger.error : logger.info)(
        `${who} (${formatAppCommand(spec.command)}) ${how}${when}: stopping ${several ? 'the other apps and ' : ''}dev-https${why}`,
      );
      void session.shutdown(failed ? code || 1 : 0);
    });
  }
  for (const [i, spec] of specs.entries()) {
    for (const target of spec.waitFor) {
      pending[i] = target;
      const { hostname, port } = resolveTarget(target);
      logger.info(`waiting for ${target}…`);
      if (!(await waitUntilAccepting(hostname, port, session.waiting))) return false;
    }
    pending[i] = null;
  }
  return true;
}

/** An app's environment: the CA for Node clients, the port to take, colour kept. */
function appEnv(handles: DevHttpsHandle[], port: string | null): NodeJS.ProcessEnv {
  const { trustPath } = handles[0]!.certificate;
  const env: NodeJS.ProcessEnv = { ...process.env, ...(trustPath ? { NODE_EXTRA_CA_CERTS: trustPath } : {}) };
  // A bare port for the target: tell the app which port to take, unless the environment does.
  if (port !== null && env.PORT === undefined) env.PORT = port;
  if (colorEnabled(process.stdout) && env.FORCE_COLOR === undefined && !env.NO_COLOR) env.FORCE_COLOR = '1';
  return env;
}
