import { expect, test } from 'vitest';
import { canonicalIp, isUnspecified } from '../src/net.js';

test.each([
  ['0:0::1', '::1'],
  ['0:0:0:0:0:0:0:0', '::'],
  ['FE80:0:0:0:0:0:0:1', 'fe80::1'],
  ['::ffff:127.0.0.1', '::ffff:7f00:1'],
  ['127.0.0.1', '127.0.0.1'],
])('canonicalIp(%s) is %s', (ip, expected) => {
  expect(canonicalIp(ip)).toBe(expected);
});

test.each([
  ['0.0.0.0', true],
  ['::', true],
  ['127.0.0.1', false],
  ['::1', false],
  ['0:0::0', false], // only the canonical form: callers canonicalize first
])('isUnspecified(%s) is %s', (address, expected) => {
  expect(isUnspecified(address)).toBe(expected);
});
