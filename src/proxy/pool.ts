// The agents that carry requests to the app: a keep-alive pool, and one connection per request.
import dns from 'node:dns';
import http from 'node:http';
import { isLocalhostName, LOOPBACK_ADDRESSES } from '../options.js';

export interface Agents {
  pooled: http.Agent;
  /**
   * A connection per request: for apps that stall on reused connections, and for WebSocket
   * upgrades, whose connection is never the pool's (an upgrade the app answers as a plain request
   * leaves it in a state nobody knows).
   */
  fresh: http.Agent;
}

/** Idle pooled sockets are closed before common app servers' own keep-alive timeouts (Node: 5 s). */
const POOL_IDLE_MS = 4000;

export function createAgents(): Agents {
  // Each address gets 2 s, not Node's 250 ms: under a burst of hundreds of connections a loopback
  // connect can take longer, and giving up on it made the page's request a 502.
  const connection = { autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 2000, lookup: lookupLoopbackAware, noDelay: true };
  const pooled = new http.Agent({
    keepAlive: true,
    timeout: POOL_IDLE_MS,
    scheduling: 'lifo',
    // Try every address of the target (happy eyeballs) so `localhost` reaches an app that
    // listens on 127.0.0.1 only as well as one on ::1 only, whatever /etc/hosts says.
    ...connection,
  } as http.AgentOptions);
  const fresh = new http.Agent({ keepAlive: false, ...connection } as http.AgentOptions);
  return { pooled, fresh };
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** `localhost` names resolve to both loopback addresses (RFC 6761); other names as usual. */
export function lookupLoopbackAware(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  if (!isLocalhostName(hostname)) {
    (dns.lookup as (h: string, o: dns.LookupOptions, cb: LookupCallback) => void)(hostname, options, callback);
    return;
  }
  const all: dns.LookupAddress[] = LOOPBACK_ADDRESSES.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })).filter(
    (a) => !options.family || a.family === options.family,
  );
  if (options.all) callback(null, all);
  else callback(null, all[0]!.address, all[0]!.family);
}
