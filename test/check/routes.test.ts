// dev-https check through a route: a --path under a --route is rated on that route's app.
import { afterEach, expect, test } from 'vitest';
import { runCheck } from '../../src/check/check.js';
import { runCleanups, startUpstream } from '../helpers.js';

afterEach(runCleanups);

test('a path under a route is requested from the routed app: its cookie without Secure fails there, not on the front end', async () => {
  const front = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><p>front</p>');
  });
  const api = await startUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'set-cookie': 'sessionid=abc; HttpOnly; SameSite=Lax; Path=/' });
    res.end(`<!doctype html><p>api ${req.url}</p>`);
  });
  const report = await runCheck({ target: front.port, routes: [`/api=127.0.0.1:${api.port}`], paths: ['/', '/api/login'] });
  const secure = report.items.filter((i) => i.id === 'cookies-secure').map(({ path, status, detail }) => ({ path, status, detail }));
  expect(secure).toEqual([
    { path: '/', status: 'info', detail: expect.any(String) },
    { path: '/api/login', status: 'fail', detail: expect.stringContaining('sessionid') },
  ]);
});
