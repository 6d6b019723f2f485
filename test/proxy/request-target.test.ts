// Request targets: what the app is sent (originForm) and the path and query of an absolute-form
// target, which the HTTP listener's redirect keeps too.
import { expect, test } from 'vitest';
import { absoluteFormPath, originForm } from '../../src/proxy/request-target.js';

test.each<[string | undefined, string]>([
  [undefined, '/'],
  ['', '/'],
  ['/a/b?c=d', '/a/b?c=d'],
  ['*', '*'],
  ['http://example.com/x?y=1#frag', '/x?y=1'],
  ['http://example.com', '/'],
  ['no-scheme', '/no-scheme'],
])('originForm(%j) is %j', (target, expected) => {
  expect(originForm(target)).toBe(expected);
});

test.each<[string, string | null]>([
  ['http://example.com/x?y=1', '/x?y=1'],
  ['https://localhost:8443', '/'],
  ['*', null],
  ['not a url', null],
])('absoluteFormPath(%j) is %j', (target, expected) => {
  expect(absoluteFormPath(target)).toBe(expected);
});
