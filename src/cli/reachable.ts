// Tells when the app accepts connections: dev-https waits for it before printing its URLs and
// opening the browser, as the app's own start-up (a compile, migrations) may take a while.
import net from 'node:net';
import { isLocalhostName, LOOPBACK_ADDRESSES } from '../options.js';

/** One TCP connect to the target; `localhost` tries 127.0.0.1 and ::1, like the proxy does. */
export function accepts(hostname: string, port: number): Promise<boolean> {
  const hosts = isLocalhostName(hostname) ? LOOPBACK_ADDRESSES : [hostname];
  return hosts.reduce<Promise<boolean>>(
    (found, host) =>
      found.then((ok) =>
        ok
          ? true
          : new Promise((resolve) => {
              const socket = net.connect({ host, port });
              // A black-holed address must not stall the wait for the OS connect timeout.
              socket.setTimeout(1000, () => {
                socket.destroy();
                resolve(false);
              });
              socket.once('connect', () => {
                socket.destroy();
                resolve(true);
              });
              socket.once('error', () => resolve(false));
            }),
      ),
    Promise.resolve(false),
  );
}

/** Polls until the target accepts a connection, or `signal` aborts. */
export async function waitUntilAccepting(hostname: string, port: number, signal: AbortSignal, intervalMs = 200): Promise<boolean> {
  while (!signal.aborted) {
    if (await accepts(hostname, port)) return true;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return false;
}
