// The README's Django recipe against a real Django (Debian's python3-django, installed by .ci/run):
// SECURE_PROXY_SSL_HEADER, Secure session and CSRF cookies, SECURE_SSL_REDIRECT with --http-port.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { startDevHttps } from '../src/server.js';
import { captureLogger, freePort, onCleanup, request, runCleanups, tempDir } from './helpers.js';

const PYTHON = '/usr/bin/python3';
const APP = path.resolve(import.meta.dirname, 'fixtures/django_app.py');

function hasDjango(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import django'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
// CI installs Django: there a missing one fails the suite instead of skipping it.
const available = hasDjango() || process.env.CI === 'true';

afterEach(runCleanups);

async function startDjango(): Promise<number> {
  const port = await freePort();
  const child: ChildProcess = spawn(PYTHON, [APP, 'runserver', `127.0.0.1:${port}`, '--noreload'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  onCleanup(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  // Wait until runserver accepts connections (bounded: 200 tries).
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return port;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('Django runserver did not start');
}

describe.skipIf(!available)('Django behind dev-https', () => {
  test('request.is_secure() over HTTPS, Secure session and CSRF cookies, CSRF-checked POST, and SECURE_SSL_REDIRECT from the HTTP listener', async () => {
    const djangoPort = await startDjango();
    const handle = await startDevHttps({ target: djangoPort, port: 0, httpPort: 0, certDir: await tempDir(), logger: captureLogger() });
    onCleanup(() => handle.close());
    const ca = handle.certificate.cert;
    const httpsOrigin = handle.urls.https.slice(0, -1);

    const page = await request(handle.urls.https, { ca });
    expect(page.status).toBe(200);
    expect(JSON.parse(page.body)).toEqual({ is_secure: true, scheme: 'https', host: new URL(httpsOrigin).host, uri: handle.urls.https, visits: 1 });
    const cookies = page.headers['set-cookie']!.map((c) => c.trim());
    const csrf = cookies.find((c) => c.startsWith('csrftoken='))!;
    const session = cookies.find((c) => c.startsWith('sessionid='))!;
    expect(csrf).toMatch(/; Secure$/);
    expect(session).toMatch(/; HttpOnly; Max-Age=\d+; Path=\/; SameSite=Lax; Secure$/);

    // The session cookie comes back and is honoured; Django's HTTPS CSRF check (Referer must match
    // the Host, which dev-https passes unchanged) accepts the POST.
    const token = csrf.split(';')[0]!.split('=')[1]!;
    const cookieHeader = `${csrf.split(';')[0]}; ${session.split(';')[0]}`;
    const again = await request(handle.urls.https, { ca, headers: { cookie: cookieHeader } });
    expect(JSON.parse(again.body).visits).toBe(2);
    const post = await request(`${httpsOrigin}/form`, {
      ca,
      method: 'POST',
      headers: { cookie: cookieHeader, 'x-csrftoken': token, referer: handle.urls.https, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1',
    });
    expect(post.status).toBe(200);
    expect(post.body).toBe('posted');

    // SECURE_SSL_REDIRECT: Django redirects to https://<Host>/..., i.e. the HTTP port; dev-https
    // rewrites it to the HTTPS port. A client claiming X-Forwarded-Proto: https is not believed.
    const redirect = await request(`${handle.urls.http}form?x=1`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe(`${httpsOrigin}/form?x=1`);
    expect((await request(redirect.headers.location!, { ca })).body).toBe('get');
  });
});
