// The checks in front of everything: a request head fit to pass on, a Host (and a WebSocket's
// Origin) dev-https serves, each refusal logged once; and a net for unexpected exceptions.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { escapeControl, logPath, protocolOf, upgradeEntry, type Logger } from '../logger.js';
import { isInternal, routeOf } from '../proxy/request-state.js';
import type { Recorder } from '../inspector/record.js';
import { closeConnection, sendForbiddenHost } from '../pages/pages.js';
import { rawReply } from '../pages/raw-reply.js';
import { parseHost } from '../net.js';
import type { HostCheck } from './hosts.js';

/**
 * Request headers larger than this get 431 on both protocols (nginx's default is 4 buffers of
 * 8 KiB). Node's HTTP/2 refuses a header block over 64 KiB itself, before dev-https sees it.
 */
export const MAX_HEADER_BYTES = 32 * 1024;

export type WebHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface Guard {
  web(req: http.IncomingMessage, res: http.ServerResponse, next: WebHandler, scheme: 'http' | 'https', refuseWith400: boolean): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, next: UpgradeHandler, scheme: 'http' | 'https'): void;
}

type Malformed = { status: 400 | 431; reason: string; value?: string };

/** The Host and Origin checks in front of everything, and a net for unexpected exceptions. */
export function createGuard(hosts: HostCheck, logger: Logger, recorder: Recorder | null = null): Guard {
  const refusals = createRefusalLog(logger);
  const unexpected = (err: unknown) =>
    logger.error(
      `unexpected error while handling a request (dev-https keeps running): ${err instanceof Error ? err.message : String(err)}`,
    );
  return {
    web(req, res, next, scheme, refuseWith400) {
      // HTTP/2 names the host in :authority; everything after us (and the app) reads Host.
      if (req.headers.host === undefined && req.headers[':authority'] !== undefined) req.headers.host = String(req.headers[':authority']);
      if (logger.request || recorder) {
        const started = performance.now();
        res.once('close', () => {
          // The inspector's own requests are neither logged nor recorded.
          if (isInternal(req)) return;
          recorder?.record(req, res, started, scheme);
          if (!logger.request) return;
          const route = routeOf(req);
          logger.request({
            time: new Date(),
            method: req.method ?? 'GET',
            path: logPath(req.url),
            status: res.statusCode,
            durationMs: performance.now() - started,
            ws: false,
            scheme,
            protocol: protocolOf(req),
            ...(route === undefined ? {} : { route }),
          });
        });
      }
      try {
        if (!refusedWeb(req, res, hosts, refusals, refuseWith400)) next(req, res);
      } catch (err) {
        unexpected(err);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', ...closeConnection(req) });
        res.end('500 Internal Server Error: dev-https failed on this request; see its terminal\n');
      }
    },
    upgrade(req, socket, head, next, scheme) {
      socket.on('error', () => socket.destroy());
      try {
        if (!refusedUpgrade(req, socket, hosts, refusals, logger, scheme)) next(req, socket, head);
      } catch (err) {
        unexpected(err);
        socket.destroy();
      }
    },
  };
}

interface RefusalLog {
  /** `hint` is the --allow-host value that would let it in (none for an Origin like `null`). */
  refused(value: string, what: string, hint?: string | null): void;
  malformed(malformed: Malformed): void;
}

/** Each refusal once (a client repeating it is not news), and at most about a hundred of each. */
function createRefusalLog(logger: Logger): RefusalLog {
  const refusedHosts = new Set<string>();
  // Once per kind of mistake.
  const malformedSeen = new Set<string>();
  return {
    refused(value, what, hint = value) {
      if (refusedHosts.has(`${what}:${value}`) || refusedHosts.size > 100) return;
      refusedHosts.add(`${what}:${value}`);
      logger.warn(
        `refused a request with ${what} "${escapeControl(value)}" (not localhost, a --name or an address dev-https listens on)${hint ? `: allow it with --allow-host ${escapeControl(hint)}` : ''}`,
      );
    },
    // The value a client sent is logged (escaped), never echoed back in the answer.
    malformed({ reason, value }) {
      if (malformedSeen.has(reason) || malformedSeen.size > 100) return;
      malformedSeen.add(reason);
      logger.warn(
        `refused a malformed request (${reason}${value === undefined ? '' : ` "${escapeControl(value)}"`}); it did not reach the app`,
      );
    },
  };
}

/** Answers a web request that may not pass (malformed head, foreign Host); true when it did. */
function refusedWeb(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  hosts: HostCheck,
  refusals: RefusalLog,
  refuseWith400: boolean,
): boolean {
  const malformed = malformedHead(req);
  if (malformed) {
    refusals.malformed(malformed);
    const body = `${malformed.status} ${http.STATUS_CODES[malformed.status]}: ${malformed.reason}\n`;
    res.writeHead(malformed.status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      ...closeConnection(req),
    });
    res.end(body);
    return true;
  }
  if (hosts.allowsHost(req.headers.host)) return false;
  const hostname = hosts.hostnameOfHostHeader(req.headers.host!) ?? 'invalid';
  refusals.refused(hostname, 'Host');
  if (refuseWith400) {
    res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8', ...closeConnection(req) });
    res.end('400 Bad Request: this is an HTTPS port; use https://\n');
  } else {
    sendForbiddenHost(req, res, hostname);
  }
  return true;
}

/** Answers an upgrade that may not pass (malformed head, foreign Host or Origin); true when it did. */
function refusedUpgrade(
  req: http.IncomingMessage,
  socket: Duplex,
  hosts: HostCheck,
  refusals: RefusalLog,
  logger: Logger,
  scheme: 'http' | 'https',
): boolean {
  const log = (status: number) => logger.request?.(upgradeEntry(req, status, scheme));
  const malformed = malformedHead(req);
  if (malformed) {
    refusals.malformed(malformed);
    log(malformed.status);
    socket.end(rawReply(malformed.status));
    return true;
  }
  const origin = req.headers.origin;
  const refused = !hosts.allowsHost(req.headers.host)
    ? ['Host', hosts.hostnameOfHostHeader(req.headers.host!) ?? 'invalid']
    : !hosts.allowsOrigin(origin)
      ? ['Origin', origin!]
      : null;
  if (!refused) return false;
  refusals.refused(refused[1]!, refused[0]!, refused[0] === 'Origin' ? originHostname(hosts, refused[1]!) : refused[1]!);
  log(403);
  socket.end(rawReply(403));
  return true;
}

/**
 * What makes a request head unfit to pass on, before any other check: a Host that is not a host
 * (400, as nginx and Caddy answer), two of them, an HTTP/2 :authority and host that differ, or
 * HTTP/2 headers over MAX_HEADER_BYTES (431; Node's HTTP/1 parser counts those itself).
 */
export function malformedHead(req: http.IncomingMessage): Malformed | null {
  const raw = req.rawHeaders;
  let hosts = 0;
  let bytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
    bytes += name.length + raw[i + 1]!.length + 4;
  }
  if (req.httpVersionMajor >= 2) {
    if (bytes > MAX_HEADER_BYTES)
      return { status: 431, reason: `request headers of ${bytes} bytes, over the limit of ${MAX_HEADER_BYTES}` };
    const authority = req.headers[':authority'];
    if (hosts > 0 && authority !== undefined && authority !== req.headers.host)
      return { status: 400, reason: 'a Host header that differs from :authority' };
    if (req.headers.host === undefined) return { status: 400, reason: 'no :authority or Host' };
  }
  if (hosts > 1) return { status: 400, reason: 'more than one Host header' };
  const host = req.headers.host;
  if (host !== undefined && parseHost(host) === null) return { status: 400, reason: 'an invalid Host header', value: host };
  return null;
}

function originHostname(hosts: HostCheck, origin: string): string | null {
  try {
    return hosts.hostnameOfHostHeader(new URL(origin).host);
  } catch {
    return null;
  }
}
