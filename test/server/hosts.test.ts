// The Host check's own parsing of a Host header (strict grammar), against options.ts' hostnameOf
// (WHATWG URL parsing): the two rules differ on purpose.
import { expect, test } from 'vitest';
import { hostnameOf } from '../../src/options.js';
import { createHostCheck } from '../../src/server/hosts.js';

const hosts = createHostCheck([], ['127.0.0.1'], []);

test.each<[string, string | null, string | null]>([
  ['LocalHost:8443', 'localhost', 'localhost'],
  ['localhost.:8443', 'localhost', 'localhost.'],
  ['[0:0::1]:8443', '::1', '::1'],
  ['a.example,b.localhost', null, 'a.example,b.localhost'],
  ['user@localhost', null, 'localhost'],
  ['loca%6Chost', null, 'localhost'],
  ['127.1', null, '127.0.0.1'],
])('%s: Host header %j, URL %j', (host, asHostHeader, asUrl) => {
  expect(hosts.hostnameOfHostHeader(host)).toBe(asHostHeader);
  expect(hostnameOf(host)).toBe(asUrl);
});
