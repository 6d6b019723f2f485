// The README's Django recipe against a real Django (Debian's python3-django, installed by .ci/run):
// SECURE_PROXY_SSL_HEADER, Secure session and CSRF cookies, SECURE_SSL_REDIRECT with --http-port.
import { afterEach, describe, expect, test } from 'vitest';
import { startDevHttps } from '../src/server/server.js';
import { captureLogger, djangoAvailable, onCleanup, request, runCleanups, startDjango, tempDir } from './helpers.js';

afterEach(runCleanups);

describe.skipIf(!djangoAvailable)('Django behind dev-https', () => {
  test('request.is_secure() over HTTPS, Secure session and CSRF cookies, CSRF-checked POST, and SECURE_SSL_REDIRECT from the HTTP listener', async () => {
    const djangoPort = await startDjango();
    const handle = await startDevHttps({ target: djangoPort, port: 0, httpPort: 0, certDir: await tempDir(), logger: captureLogger() });
    onCleanup(() => handle.close());
    const ca = handle.certificate.ca!.cert;
    const httpsOrigin = handle.urls.https.slice(0, -1);

    const page = await request(handle.urls.https, { ca });
    expect(page.status).toBe(200);
    expect(JSON.parse(page.body)).toEqual({
      is_secure: true,
      scheme: 'https',
      host: new URL(httpsOrigin).host,
      uri: handle.urls.https,
      visits: 1,
    });
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
      headers: {
        cookie: cookieHeader,
        'x-csrftoken': token,
        referer: handle.urls.https,
        'content-type': 'application/x-www-form-urlencoded',
      },
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
