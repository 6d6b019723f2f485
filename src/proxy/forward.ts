// Sends one request to the app over the pool and its response back (WebSockets go through
// websocket.ts; http-proxy-3's web pass cost more CPU per request, README "Performance"),
// sending it once more when a reused connection was closed under it, and 502 when it fails.
import http from 'node:http';
import { errnoCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ResolvedTarget } from '../options.js';
import { sendBadGateway } from '../pages/pages.js';
import type { Diagnostics } from './diagnose.js';
import { dropUnsentBody, isRetryable, mustReadFirst, readBody, sendBody, upstreamHeaders } from './framing.js';
import type { AppHealth } from './health.js';
import { originForm } from './request-target.js';
import { routeOf, stateOf } from './request-state.js';
import { relayResponse } from './response.js';
import type { StallWatch } from './stall.js';

export interface ForwardContext {
  target: ResolvedTarget;
  logger: Logger;
  stalls: StallWatch;
  health: AppHealth;
  diagnostics: Diagnostics;
}

/** A function that forwards a request whose RequestState is set. */
export function createForwarder(ctx: ForwardContext): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const { target, stalls } = ctx;
  const forward = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const state = stateOf(req)!;
    if (mustReadFirst(state)) {
      readBody(req, state, () => forward(req, res));
      return;
    }
    const headers = upstreamHeaders(req, state, target.origin);
    const upstream = http.request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: originForm(req.url),
      headers,
      agent: stalls.agent(),
    });
    // Set by the response: once the app has answered, what goes wrong later is no one's business.
    let answered = false;
    let stallProbe: ((proxyRes: http.IncomingMessage) => void) | null = null;
    let connected = false;
    upstream.on('socket', (socket) => {
      if (socket.connecting) socket.once('connect', () => (connected = true));
      else connected = true;
      state.reusedSocket = upstream.reusedSocket;
      stallProbe = stalls.probe(upstream.reusedSocket, socket, upstream);
    });
    cancelWithClient(req, res, upstream);
    const onError = (err: Error) => {
      if (answered) return;
      // What reached the app before it failed (nothing when it refused the connection).
      state.appHead = connected ? ((upstream as unknown as { _header: string | null })._header ?? null) : null;
      if (req.socket.destroyed && errnoCode(err) === 'ECONNRESET') upstream.destroy();
      else failed(err, req, res);
    };
    // Once per client request: a retry must not answer its errors twice.
    if (!state.retried) req.on('error', onError);
    upstream.on('error', onError);
    sendBody(req, upstream, state);
    upstream.on('response', (proxyRes) => {
      answered = true;
      state.appHead = (upstream as unknown as { _header: string | null })._header;
      stallProbe?.(proxyRes);
      if (!upstream.writableFinished) dropUnsentBody(req, upstream, proxyRes);
      relayResponse(proxyRes, req, res, state, ctx);
    });
  };

  const failed = (err: Error, req: http.IncomingMessage, res: http.ServerResponse): void => {
    const code = errnoCode(err);
    // The app closed a pooled connection just as we reused it (its keep-alive timeout): nothing
    // reached it, so a request whose body dev-https holds (or has none) is sent once more on a
    // fresh connection.
    const state = stateOf(req);
    if (!res.headersSent && state && !state.retried && state.reusedSocket && isRetryable(req, state, code)) {
      state.retried = true;
      forward(req, res);
      return;
    }
    // Nothing was sent yet: the app did not answer. Otherwise the app broke mid-response.
    if (res.headersSent) {
      res.destroy();
      return;
    }
    ctx.health.failed(code);
    sendBadGateway(req, res, target.origin, code, routeOf(req));
  };
  return forward;
}

/**
 * A client gone before the response ended cancels the app's request. An HTTP/2 stream the client
 * resets leaves its response looking finished: only 'aborted' tells.
 */
function cancelWithClient(req: http.IncomingMessage, res: http.ServerResponse, upstream: http.ClientRequest): void {
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  if (req.httpVersionMajor >= 2) req.once('aborted', () => upstream.destroy());
}
