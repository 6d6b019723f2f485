// Forwards requests to the app over a keep-alive pool, and WebSocket upgrades through http-proxy-3,
// and answers 502 while the app is unreachable. The parts: framing.ts (request bodies), pool.ts,
// stall.ts, forward.ts, response.ts (the response head's passes), websocket.ts, health.ts.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import type { ResolvedTarget } from '../options.js';
import { createDiagnostics } from './diagnose.js';
import { createForwarder } from './forward.js';
import { setForwardedHeaders } from './forwarded.js';
import { requestFraming, sendUnframeable } from './framing.js';
import { createAppHealth } from './health.js';
import { createAgents } from './pool.js';
import { newState, setState, type EntryListener } from './request-state.js';
import { createStallWatch } from './stall.js';
import { createWebSocketProxy, type UpgradeObserver } from './websocket.js';

export type { EntryListener } from './request-state.js';

export interface Proxy {
  web(req: http.IncomingMessage, res: http.ServerResponse, listener: EntryListener): void;
  ws(req: http.IncomingMessage, socket: Duplex, head: Buffer, listener: EntryListener): void;
  /** Destroys pooled and upgraded connections. */
  close(): void;
}

export interface ProxyOptions {
  /** Pass the app's Strict-Transport-Security through on localhost names. */
  keepHsts: boolean;
  /** Told of each WebSocket upgrade the app answered. */
  onUpgrade?: UpgradeObserver;
}

export function createProxy(target: ResolvedTarget, logger: Logger, options: ProxyOptions): Proxy {
  const agents = createAgents();
  const health = createAppHealth(logger, target.origin);
  const stalls = createStallWatch(agents, logger, target.origin);
  const forward = createForwarder({ target, logger, stalls, health, diagnostics: createDiagnostics(logger, options.keepHsts) });
  const websockets = createWebSocketProxy(target, agents.fresh, logger, health, options.onUpgrade ?? null);
  return {
    web(req, res, listener) {
      const framing = requestFraming(req);
      if (framing.kind === 'refuse') {
        sendUnframeable(req, res, framing.status, framing.reason);
        return;
      }
      const connection = String(req.headers.connection ?? '');
      const clientClose = /\bclose\b/i.test(connection) || (req.httpVersion === '1.0' && !/\bkeep-alive\b/i.test(connection));
      setState(req, newState(listener, clientClose, framing, target.origin));
      setForwardedHeaders(req.headers, { proto: listener.proto, port: listener.port, clientAddress: req.socket.remoteAddress });
      forward(req, res);
    },
    ws: (req, socket, head, listener) => websockets.upgrade(req, socket, head, listener),
    close() {
      websockets.close();
      agents.pooled.destroy();
      agents.fresh.destroy();
    },
  };
}
