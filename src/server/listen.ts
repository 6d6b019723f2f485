// Binds a listener on every requested address with one port for all, and turns bind failures
// into one-line errors that name the flag and the value.
import type net from 'node:net';
import { DevHttpsError, errnoCode } from '../errors.js';

export interface ListenRequest {
  /** Makes one server; called once per address (a Node server listens on one address). */
  create: () => net.Server;
  addresses: string[];
  port: number;
  /** The option the port came from, for error messages (`--port`, `--http-port`). */
  flag: string;
}

export interface Listening {
  servers: net.Server[];
  port: number;
}

// With port 0 the first address picks a free port; another address may hold it already.
const PORT_ZERO_ATTEMPTS = 5;

export async function listenAll(request: ListenRequest): Promise<Listening> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listenOnce(request);
    } catch (err) {
      if (!(request.port === 0 && err instanceof PortTakenError && attempt < PORT_ZERO_ATTEMPTS)) throw toDevHttpsError(err, request);
    }
  }
}

class PortTakenError extends Error {
  readonly code = 'EADDRINUSE';
  constructor(readonly address: string) {
    super(`port taken on ${address}`);
  }
}

async function listenOnce({ create, addresses, port }: ListenRequest): Promise<Listening> {
  const servers: net.Server[] = [];
  let bound = port;
  try {
    for (const [i, address] of addresses.entries()) {
      const server = create();
      try {
        await bind(server, bound, address);
      } catch (err) {
        // A machine without IPv6 still serves loopback on 127.0.0.1.
        if (addresses.length > 1 && address === '::1' && ['EADDRNOTAVAIL', 'EAFNOSUPPORT'].includes(errnoCode(err) ?? '')) continue;
        if (errnoCode(err) === 'EADDRINUSE' && i > 0 && port === 0) throw new PortTakenError(address);
        throw Object.assign(err as Error, { address });
      }
      servers.push(server);
      if (bound === 0) bound = (server.address() as net.AddressInfo).port;
    }
  } catch (err) {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    throw err;
  }
  return { servers, port: bound };
}

function bind(server: net.Server, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ port, host: address, ipv6Only: address === '::1' || undefined }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function toDevHttpsError(err: unknown, { port, flag }: ListenRequest): Error {
  const code = errnoCode(err);
  const address = (err as { address?: string }).address ?? '';
  switch (code) {
    case 'EADDRINUSE':
      return new DevHttpsError(
        'E_PORT_IN_USE',
        `Cannot listen on ${flag} ${port}: the port is already in use on ${address}; stop what uses it or choose another, e.g. ${flag} ${port + 1}`,
      );
    case 'EACCES':
    case 'EPERM':
      return new DevHttpsError(
        'E_PORT_ACCESS',
        `Cannot listen on ${flag} ${port}: permission denied (ports below 1024 need root); use a port from 1024 up, e.g. ${flag} ${port + 8000}`,
      );
    case 'EADDRNOTAVAIL':
      return new DevHttpsError(
        'E_BAD_HOST',
        `Cannot listen on --host "${address}": that address does not belong to this machine; use 127.0.0.1, 0.0.0.0 or one of its addresses`,
      );
    default:
      return err instanceof Error ? err : new Error(String(err));
  }
}
