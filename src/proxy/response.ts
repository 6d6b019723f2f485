// The app's response on its way to the client: its head rewritten by a list of named one-job
// passes (httpxy's web-outgoing style), then the head written and the body piped.
import type http from 'node:http';
import { logPath, type Logger } from '../logger.js';
import type { ResolvedTarget } from '../options.js';
import { sendRedirectLoopPage, sendUnpassableResponse, wantsHtml } from '../pages/pages.js';
import type { Diagnostics, RedirectLoop } from './diagnose.js';
import { HOP_BY_HOP } from './forwarded.js';
import type { AppHealth } from './health.js';
import { rewriteAppUrl, rewriteLocation, rewriteRefresh } from './redirect.js';
import type { EntryListener, RequestState } from './request-state.js';

/** One response as the passes see it; they rewrite `proxyRes.headers` in place. */
export interface ResponseContext {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  proxyRes: http.IncomingMessage;
  listener: EntryListener;
  /** The client asked to close its connection after this request. */
  clientClose: boolean;
  target: ResolvedTarget;
  diagnostics: Diagnostics;
  /** The redirect loop this response closes, once `diagnose` found one. */
  loop: RedirectLoop | null;
  /** The request's state, where the loop is noted for the inspector (absent in the passes' own tests). */
  state?: RequestState;
}

/** A pass does one job on the head; true when dev-https answered instead and the app's response is dropped. */
export type ResponsePass = (ctx: ResponseContext) => boolean | void;

/**
 * The app's Connection header lists more headers about its connection to us (Content-Length
 * excepted: the client's framing is Node's to choose, chunked or none over HTTP/2).
 */
export const dropConnectionListed: ResponsePass = ({ proxyRes: { headers } }) => {
  const listed = String(headers.connection ?? '')
    .toLowerCase()
    .split(',')
    .map((t) => t.trim());
  for (const name of listed) if (name && name !== 'content-length') delete headers[name];
};

/**
 * Hop-by-hop headers describe the app's connection to us, not ours to the client; trailers are not
 * passed on, and announcing them makes Node refuse a head that is not chunked.
 */
export const dropHopByHop: ResponsePass = ({ proxyRes: { headers } }) => {
  for (const name of HOP_BY_HOP) delete headers[name];
};

/** HTTP/1: our own Connection header; HTTP/2 has no connection-specific headers at all (Node throws on them). */
export const setConnection: ResponsePass = ({ req, clientClose, proxyRes: { headers } }) => {
  if (req.httpVersionMajor < 2) headers.connection = clientClose ? 'close' : 'keep-alive';
  else delete headers['http2-settings'];
};

/** Location, Content-Location and Refresh URLs to the app's own address point at the listener instead. */
export const rewriteUrls: ResponsePass = ({ req, proxyRes, listener, target }) => {
  const headers = proxyRes.headers;
  if (!headers.location && !headers['content-location'] && !headers.refresh) return;
  const where = { proto: listener.proto, host: req.headers.host, listenerPort: listener.port, httpsPort: listener.httpsPort, target };
  if (headers.location) headers.location = rewriteLocation(proxyRes.statusCode ?? 0, headers.location, where);
  if (headers['content-location']) headers['content-location'] = rewriteAppUrl(headers['content-location'], where);
  if (typeof headers.refresh === 'string') headers.refresh = rewriteRefresh(headers.refresh, where);
};

/** The production-settings traps (HSTS on localhost names, cookies over HTTP, redirect loops); notes the loop. */
export const diagnose: ResponsePass = (ctx) => {
  const { req, listener, proxyRes } = ctx;
  ctx.loop = ctx.diagnostics.inspect({ req, proto: listener.proto, statusCode: proxyRes.statusCode ?? 0, headers: proxyRes.headers });
  if (ctx.state) ctx.state.loop = ctx.loop;
};

/** A browser caught in a redirect loop gets a page saying so; the app's body is drained so its connection goes back to the pool. */
export const answerLoop: ResponsePass = ({ req, res, proxyRes, loop }) => {
  if (!loop || !wantsHtml(req)) return false;
  sendRedirectLoopPage(req, res, loop);
  proxyRes.resume();
  return true;
};

/** In order: the Connection-listed headers go before Connection itself does. */
export const RESPONSE_PASSES: readonly ResponsePass[] = [
  dropConnectionListed,
  dropHopByHop,
  setConnection,
  rewriteUrls,
  diagnose,
  answerLoop,
];

/** Runs the passes; true when one of them answered instead. */
export function rewriteResponseHead(ctx: ResponseContext): boolean {
  for (const pass of RESPONSE_PASSES) if (pass(ctx)) return true;
  return false;
}

export interface RelayContext {
  target: ResolvedTarget;
  diagnostics: Diagnostics;
  health: AppHealth;
  logger: Logger;
}

/** Sends the app's response on to the client, its head rewritten. */
export function relayResponse(
  proxyRes: http.IncomingMessage,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  state: RequestState,
  relay: RelayContext,
): void {
  relay.health.answered();
  // For the inspector: what the app sent, before the passes rewrite `headers`.
  state.appStatus = proxyRes.statusCode ?? null;
  state.appStatusMessage = proxyRes.statusMessage ?? '';
  state.appRawHeaders = proxyRes.rawHeaders;
  if (proxyRes.headers['content-length'] === undefined) {
    state.appBodyBytes = 0;
    proxyRes.on('data', (chunk: Buffer) => (state.appBodyBytes! += chunk.length));
  }
  // The app cut its response short: cut the client's too, never pass a truncated body off as whole.
  proxyRes.on('close', () => {
    if (!proxyRes.complete) res.destroy();
  });
  const answered = rewriteResponseHead({
    req,
    res,
    proxyRes,
    listener: state.listener,
    clientClose: state.clientClose,
    target: relay.target,
    diagnostics: relay.diagnostics,
    loop: null,
    state,
  });
  if (answered || res.headersSent) {
    proxyRes.resume();
    return;
  }
  if (writeResponseHead(proxyRes, req, res, relay.logger)) {
    state.relayed = true;
    proxyRes.pipe(res);
  }
}

/** Writes the app's status and headers; false when Node refused them and a 502 went out instead. */
export function writeResponseHead(
  proxyRes: http.IncomingMessage,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  logger: Logger,
): boolean {
  const status = proxyRes.statusCode ?? 502;
  try {
    if (req.httpVersionMajor < 2 && proxyRes.statusMessage) res.writeHead(status, proxyRes.statusMessage, proxyRes.headers);
    else res.writeHead(status, proxyRes.headers);
    return true;
  } catch (err) {
    // A head Node refuses to pass on (status 600 to an HTTP/2 client, say): a 502 saying so,
    // not a hung client. HTTP/2's writeHead sets the headers before it checks the status.
    proxyRes.resume();
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.statusMessage = '';
    const reason = err instanceof Error ? err.message : String(err);
    logger.warn(`the app's answer to ${req.method ?? 'GET'} ${logPath(req.url)} cannot be passed on (${reason}): answering 502`);
    sendUnpassableResponse(req, res, reason);
    return false;
  }
}
