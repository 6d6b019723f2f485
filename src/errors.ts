// Typed errors of the library: the CLI prints `message` as one line, tests match `code`.

export type DevHttpsErrorCode =
  'E_BAD_OPTION' | 'E_BAD_TARGET' | 'E_PORT_IN_USE' | 'E_PORT_ACCESS' | 'E_BAD_HOST' | 'E_CERT_DIR' | 'E_CA' | 'E_BAD_CERT';

export class DevHttpsError extends Error {
  readonly code: DevHttpsErrorCode;

  constructor(code: DevHttpsErrorCode, message: string) {
    super(message);
    this.name = 'DevHttpsError';
    this.code = code;
  }
}

/** The errno-style code of a Node.js system error, if it has one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
