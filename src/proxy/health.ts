// Whether the app answers: said once when it stops (only a connection that cannot be made counts)
// and once when it is back.
import type { Logger } from '../logger.js';
import { describeUpstreamError } from '../pages/pages.js';

export interface AppHealth {
  /** The app answered. */
  answered(): void;
  /** A request to the app failed with this error code. */
  failed(code: string | undefined): void;
}

/** Errors that mean no connection to the app could be made at all. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

export function createAppHealth(logger: Logger, origin: string): AppHealth {
  let down = false;
  return {
    answered() {
      if (!down) return;
      down = false;
      logger.info(`The app at ${origin} is answering again`);
    },
    failed(code) {
      // One the app closed on this request (a header it refused, a crash in its handler) says
      // nothing about the next.
      if (down || code === undefined || !UNREACHABLE_CODES.has(code)) return;
      down = true;
      logger.warn(`cannot reach the app at ${origin}: ${describeUpstreamError(code)}; answering 502 until it is back`);
    },
  };
}
