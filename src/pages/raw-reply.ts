// Answers written straight to a socket, where there is no ServerResponse to write them (an
// upgrade's socket, a request Node's parser refused): HTTP/1.1, and the connection closes.
import { STATUS_CODES } from 'node:http';

/** The bytes of an answer with this status and, when given, a plain-text body. */
export function rawReply(status: number, body?: string): string {
  const type = body === undefined ? '' : 'Content-Type: text/plain; charset=utf-8\r\n';
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n${type}Content-Length: ${body === undefined ? 0 : Buffer.byteLength(body)}\r\n\r\n${body ?? ''}`;
}
