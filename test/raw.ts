// A raw HTTP/1.1 app for what reaches the app (node:http on the app side would normalise away the
// bugs that matter) and a raw client for what a hostile client sends.
import net from 'node:net';
import tls from 'node:tls';
import { onCleanup } from './helpers.js';

export interface Parsed {
  connection: number;
  method: string;
  target: string;
  headers: Record<string, string>;
  body: string;
}

export interface RawApp {
  port: number;
  requests: Parsed[];
  connections: () => number;
}

/**
 * An HTTP/1.1 app that parses its input as a server does. `python`: like runserver and
 * http.server, it ignores Transfer-Encoding and reads Content-Length only. `answerEarly`: paths
 * answered as soon as their head is in, body unread (what follows is parsed as the next request).
 * A WebSocket handshake is answered as a plain request, its connection kept. `hold`: no answers.
 */
export async function startRawApp(options: { python?: boolean; answerEarly?: string[]; hold?: boolean } = {}): Promise<RawApp> {
  const requests: Parsed[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const parsed = parseOne(buffer, options, connection);
        if (!parsed) return;
        buffer = buffer.subarray(parsed.used);
        requests.push(parsed.request);
        if (options.hold) continue;
        const text = `${parsed.request.method} ${parsed.request.target} #${requests.length}`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, requests, connections: () => connections };
}

function parseOne(
  buffer: Buffer,
  options: { python?: boolean; answerEarly?: string[] },
  connection: number,
): { request: Parsed; used: number } | null {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [line, ...fields] = buffer.subarray(0, end).toString('latin1').split('\r\n');
  const [method = '', target = ''] = line!.split(' ');
  const headers: Record<string, string> = {};
  for (const field of fields) {
    const colon = field.indexOf(':');
    const name = field.slice(0, colon).toLowerCase();
    headers[name] = headers[name] === undefined ? field.slice(colon + 1).trim() : `${headers[name]}, ${field.slice(colon + 1).trim()}`;
  }
  let at = end + 4;
  let body = '';
  if (options.answerEarly?.includes(target)) return { request: { connection, method, target, headers, body }, used: at };
  if (!options.python && /chunked\s*$/i.test(headers['transfer-encoding'] ?? '')) {
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd < 0) return null;
      const size = parseInt(buffer.subarray(at, lineEnd).toString('latin1'), 16);
      if (size === 0) {
        // `0`, then trailers (if any) and an empty line.
        const trailerEnd = buffer.indexOf('\r\n\r\n', lineEnd);
        if (trailerEnd < 0) return null;
        at = trailerEnd + 4;
        break;
      }
      if (buffer.length < lineEnd + 2 + size + 2) return null;
      body += buffer.subarray(lineEnd + 2, lineEnd + 2 + size).toString('latin1');
      at = lineEnd + 2 + size + 2;
    }
  } else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (buffer.length < at + length) return null;
    body = buffer.subarray(at, at + length).toString('latin1');
    at += length;
  }
  return { request: { connection, method, target, headers, body }, used: at };
}

/** Sends raw bytes on a new client connection and reads until the server's answer is complete or it closes. */
export function rawExchange(
  port: number,
  secure: string | null,
  parts: Array<string | Buffer>,
  options: { gapMs?: number } = {},
): Promise<string> {
  return new Promise((resolve) => {
    const socket = secure
      ? tls.connect({ host: '127.0.0.1', port, ca: secure, servername: 'localhost', ALPNProtocols: ['http/1.1'] })
      : net.connect({ host: '127.0.0.1', port });
    onCleanup(() => void socket.destroy());
    let data = '';
    let allWritten: Promise<void> = new Promise(() => undefined);
    const done = () => {
      socket.destroy();
      resolve(data);
    };
    const timer = setTimeout(done, 3000);
    socket.on(secure ? 'secureConnect' : 'connect', () => {
      allWritten = (async () => {
        for (const [i, part] of parts.entries()) {
          if (i > 0 && options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
          socket.write(part);
        }
      })();
    });
    socket.on('data', (c: Buffer) => {
      data += c.toString('latin1');
      // One answer with a Content-Length body is all these exchanges wait for.
      const head = data.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(data.slice(0, head))?.[1];
      if (head >= 0 && length !== undefined && data.length >= head + 4 + Number(length)) {
        clearTimeout(timer);
        // Every part goes out, even after the answer: what the client sends late is part of the case.
        void allWritten.then(() => setTimeout(done, 100));
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

export const status = (response: string) => response.slice(0, response.indexOf('\r\n'));
export const bodyOf = (response: string) => response.slice(response.indexOf('\r\n\r\n') + 4);
