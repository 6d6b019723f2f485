// WebSocket upgrades, through http-proxy-3 (the one module that imports it), loaded on the first
// upgrade: a start without any does not pay for its import.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyServer } from 'http-proxy-3';
import { errnoCode } from '../errors.js';
import { upgradeEntry, type Logger } from '../logger.js';
import type { ResolvedTarget } from '../options.js';
import { rawReply } from '../pages/raw-reply.js';
import { requestFraming } from './framing.js';
import { setForwardedHeaders } from './forwarded.js';
import type { AppHealth } from './health.js';
import { newState, routeOf, setState, stateOf, type EntryListener } from './request-state.js';

export interface WebSocketProxy {
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, listener: EntryListener): void;
  /** Destroys upgraded connections, both sides. */
  close(): void;
}

/** Told of each upgrade the app answered (101, or the status it refused it with), for the inspector. */
export type UpgradeObserver = (req: http.IncomingMessage, status: number) => void;

export function createWebSocketProxy(
  target: ResolvedTarget,
  agent: http.Agent,
  logger: Logger,
  health: AppHealth,
  observe: UpgradeObserver | null = null,
): WebSocketProxy {
  const upgradeSockets = new Set<Duplex>();
  // The app's side of upgraded connections: they leave the agent's pool, so close() ends them here.
  const appSockets = new Set<Duplex>();
  // Client sockets whose upgrade the app accepted: from then on they carry WebSocket frames.
  const switched = new WeakSet<Duplex>();

  const failed = (err: Error, _req: http.IncomingMessage, socket: Duplex): void => {
    if (!socket.destroyed && socket.writable && !switched.has(socket)) {
      health.failed(errnoCode(err));
      socket.end(rawReply(502));
    }
    socket.destroy();
  };
  const onProxyReq = (proxyReq: http.ClientRequest, req: http.IncomingMessage, socket: Duplex) => {
    const log = (status: number, res: http.IncomingMessage) => {
      const state = stateOf(req);
      if (state) {
        state.appHead = (proxyReq as unknown as { _header: string | null })._header;
        state.appStatus = status;
        state.appStatusMessage = res.statusMessage ?? '';
        state.appRawHeaders = res.rawHeaders;
        state.relayed = true;
      }
      observe?.(req, status);
      logger.request?.(upgradeEntry(req, status, state?.listener.proto ?? 'https', routeOf(req)));
    };
    proxyReq.once('upgrade', (res: http.IncomingMessage, appSocket: Duplex) => {
      switched.add(socket);
      appSockets.add(appSocket);
      appSocket.once('close', () => appSockets.delete(appSocket));
      log(101, res);
    });
    proxyReq.once('response', (res: http.IncomingMessage) => log(res.statusCode ?? 0, res));
  };
  let wsProxy: Promise<ProxyServer> | null = null;
  const loadWsProxy = () => (wsProxy ??= loadProxyServer(target, agent, { open: () => health.answered(), proxyReq: onProxyReq, failed }));

  return {
    upgrade(req, socket, head, listener) {
      socket.on('error', () => socket.destroy());
      // A WebSocket handshake has no body: one that claims one could be read by the app as a
      // plain request whose body is whatever comes next.
      if (requestFraming(req).kind !== 'none') {
        socket.end(rawReply(400, '400 Bad Request: a WebSocket upgrade request cannot carry a body\n'));
        return;
      }
      setState(req, newState(listener, false, { kind: 'none' }, target.origin));
      upgradeSockets.add(socket);
      socket.on('close', () => upgradeSockets.delete(socket));
      setForwardedHeaders(req.headers, { proto: listener.proto, port: listener.port, clientAddress: req.socket.remoteAddress });
      loadWsProxy().then(
        (proxy) => {
          if (!socket.destroyed) proxy.ws(req, socket, head);
        },
        (err: Error) => failed(err, req, socket),
      );
    },
    close() {
      for (const socket of upgradeSockets) socket.destroy();
      for (const socket of appSockets) socket.destroy();
    },
  };
}

interface ProxyServerHandlers {
  open(): void;
  proxyReq(proxyReq: http.ClientRequest, req: http.IncomingMessage, socket: Duplex): void;
  failed(err: Error, req: http.IncomingMessage, socket: Duplex): void;
}

async function loadProxyServer(target: ResolvedTarget, agent: http.Agent, handlers: ProxyServerHandlers): Promise<ProxyServer> {
  const { createProxyServer } = await import('http-proxy-3');
  const proxy = createProxyServer({ target: target.origin, agent, xfwd: false, ws: true });
  proxy.on('open', handlers.open);
  proxy.on('econnreset', () => undefined);
  proxy.on('proxyReqWs', handlers.proxyReq);
  // Its errors on the ws path come with the client's socket.
  proxy.on('error', (err, req, socket) => handlers.failed(err, req, socket as Duplex));
  return proxy;
}
