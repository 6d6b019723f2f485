// rawReply: the exact bytes dev-https writes to a socket that has no ServerResponse.
import { expect, test } from 'vitest';
import { rawReply } from '../../src/pages/raw-reply.js';

test.each<[number, string | undefined, string]>([
  [400, undefined, 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'],
  [403, undefined, 'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'],
  [408, undefined, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'],
  [431, undefined, 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'],
  [502, undefined, 'HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'],
  [
    400,
    'use wss://\n',
    'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 11\r\n\r\nuse wss://\n',
  ],
  [400, 'é\n', 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\né\n'],
])('%i with body %j', (status, body, expected) => {
  expect(rawReply(status, body)).toBe(expected);
});
