// The only place that writes to the terminal: info to stdout, warnings and errors to stderr.

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface LoggerOptions {
  /** Hide info lines; warnings and errors still show. */
  quiet?: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  return {
    info: (message) => {
      if (!options.quiet) stdout.write(message + '\n');
    },
    warn: (message) => stderr.write(`warning: ${message}\n`),
    error: (message) => stderr.write(`error: ${message}\n`),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
