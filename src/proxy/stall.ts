// Apps that stall on reused connections (Python's development servers): probed on reused
// sockets, and once seen twice, every request to the app gets a fresh connection.
import type http from 'node:http';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.js';
import type { Agents } from './pool.js';

/**
 * A reused connection whose response head arrives in pieces this far apart is held by the app's
 * Nagle algorithm waiting for our delayed ACK (Python's development servers send the status line
 * and the headers separately, CPython #108736).
 */
const STALL_MS = 30;
/**
 * Linux delays an ACK by 40 to 200 ms: a longer pause is the app taking its time (a slow body after
 * a flushed head), which a new connection would not shorten.
 */
const STALL_MAX_MS = 250;
/**
 * A pause counts only when dev-https' event loop spent it mostly waiting: a loop busy with a burst
 * of other requests or a garbage collection reads the rest late although it had arrived (on a busy
 * machine, two such pauses switched a Node app to a connection per request).
 */
const MAX_BUSY_SHARE = 0.5;
const isStall = (ms: number, since: EventLoopUtilization) =>
  ms >= STALL_MS && ms <= STALL_MAX_MS && performance.eventLoopUtilization(since).utilization < MAX_BUSY_SHARE;
/** Stalls seen before dev-https stops reusing connections to the app. */
const STALLS_TO_SWITCH = 2;

export interface StallWatch {
  /** The agent for the next request: the pool, or fresh connections once the app stalled. */
  agent(): http.Agent;
  /** Starts probing a request's socket; call the returned function with the response (null: not probed). */
  probe(reused: boolean, socket: Duplex, upstream: http.ClientRequest): ((proxyRes: http.IncomingMessage) => void) | null;
}

export function createStallWatch(agents: Agents, logger: Logger, origin: string): StallWatch {
  let stalls = 0;
  // Probing stops after this many reused connections without a stall: the app is not one of them.
  let probesLeft = 200;
  let agent = agents.pooled;
  const noteStall = () => {
    if (++stalls !== STALLS_TO_SWITCH) return;
    agent = agents.fresh;
    agents.pooled.destroy();
    logger.info(
      `The app at ${origin} sends its response head in pieces and waits about 40 ms for TCP acknowledgements on reused connections (Python's development servers do): dev-https now opens a new connection for each request to it, which it answers at once`,
    );
  };
  return {
    agent: () => agent,
    probe(reused, socket, upstream) {
      if (!(reused && stalls < STALLS_TO_SWITCH && (stalls > 0 || probesLeft-- > 0))) return null;
      const headParsed = probeStall(socket, upstream, noteStall);
      return (proxyRes) => {
        headParsed();
        probeBodyStall(proxyRes, noteStall);
      };
    },
  };
}

/**
 * Watches a reused socket until the response head is parsed (call the returned function then):
 * a head parsed STALL_MS to STALL_MAX_MS after its first bytes arrived came in pieces that far apart (a
 * head that comes whole is parsed in the same 'data' event, which Node's parser sees first).
 */
export function probeStall(socket: Duplex, upstream: http.ClientRequest, onStall: () => void): () => void {
  let first = 0;
  let loopAtFirst: EventLoopUtilization | null = null;
  // An informational answer (103 Early Hints) comes before the head: timing starts after it. Node's
  // parser emits 'information' before this listener sees the piece that carried it.
  let afterInformational = false;
  const onInformation = () => (afterInformational = true);
  const onData = () => {
    if (afterInformational) {
      afterInformational = false;
      first = 0;
    } else if (first === 0) {
      first = performance.now();
      loopAtFirst = performance.eventLoopUtilization();
    }
  };
  upstream.on('information', onInformation);
  socket.on('data', onData);
  return () => {
    socket.off('data', onData);
    upstream.off('information', onInformation);
    if (first > 0 && isStall(performance.now() - first, loopAtFirst!)) onStall();
  };
}

/**
 * The other shape of the same stall (`python -m http.server` sends the whole head, then the body
 * in a second send): a Content-Length body whose first bytes come STALL_MS to STALL_MAX_MS after the head.
 * Bodies of unknown length (SSE, streamed pages) may well pause there; they are not looked at.
 */
export function probeBodyStall(proxyRes: http.IncomingMessage, onStall: () => void): void {
  if (proxyRes.headers['content-length'] === undefined || proxyRes.headers['content-length'] === '0') return;
  const head = performance.now();
  const loopAtHead = performance.eventLoopUtilization();
  // A body that came with the head is read on this same turn, before any timer.
  proxyRes.once('data', () => {
    if (isStall(performance.now() - head, loopAtHead)) onStall();
  });
}
