// Which web framework answered, guessed from response headers, and each stack's setting that
// makes it trust dev-https' X-Forwarded-Proto (the cure for the HTTPS redirect loop).
import type { IncomingHttpHeaders } from 'node:http';

export type Stack = 'django' | 'express' | 'rails' | 'flask' | 'laravel' | 'spring';

export interface StackFix {
  stack: Stack;
  name: string;
  fix: string;
}

export const PROXY_HEADER_FIXES: StackFix[] = [
  { stack: 'django', name: 'Django', fix: 'settings.py: SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")' },
  { stack: 'express', name: 'Express', fix: "app.set('trust proxy', 'loopback')" },
  { stack: 'rails', name: 'Rails', fix: 'config/environments/development.rb: config.assume_ssl = true  (Rails 7.1+)' },
  { stack: 'flask', name: 'Flask/Werkzeug', fix: 'app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)  (from werkzeug.middleware.proxy_fix import ProxyFix)' },
  { stack: 'laravel', name: 'Laravel', fix: "bootstrap/app.php: $middleware->trustProxies(at: '127.0.0.1');  (Laravel 10 and older: $proxies in App\\Http\\Middleware\\TrustProxies)" },
  { stack: 'spring', name: 'Spring Boot', fix: 'application.properties: server.forward-headers-strategy=native' },
];

/**
 * Each stack's usual login page, which sets the session and CSRF cookies `dev-https check` rates:
 * Django's admin (startproject), Devise, Laravel's starter kits, Spring Security's form login.
 * Express and Flask have no default one.
 */
export const LOGIN_PAGES: Partial<Record<Stack, { path: string; what: string }>> = {
  django: { path: '/admin/login/', what: "the Django admin's login" },
  rails: { path: '/users/sign_in', what: "Devise's sign-in page" },
  laravel: { path: '/login', what: "the starter kits' login page" },
  spring: { path: '/login', what: "Spring Security's login page" },
};

/** The stack a response reveals (Server, X-Powered-By, cookie names), or null. */
export function detectStack(headers: IncomingHttpHeaders): Stack | null {
  const server = String(headers.server ?? '');
  const poweredBy = String(headers['x-powered-by'] ?? '');
  const cookies = ([] as string[]).concat(headers['set-cookie'] ?? []).map((c) => c.split('=')[0]!.trim());
  const hasCookie = (re: RegExp) => cookies.some((name) => re.test(name));
  if (/WSGIServer/i.test(server) || hasCookie(/^(csrftoken|sessionid|django_language)$/)) return 'django';
  if (/Werkzeug/i.test(server)) return 'flask';
  if (/Express/i.test(poweredBy) || hasCookie(/^connect\.sid$/)) return 'express';
  if (/laravel_session|XSRF-TOKEN/.test(cookies.join(' ')) || /PHP/i.test(poweredBy)) return 'laravel';
  if (/WEBrick|Puma|Passenger|Unicorn/i.test(server) || headers['x-runtime'] !== undefined || hasCookie(/^_.+_session$/)) return 'rails';
  if (hasCookie(/^JSESSIONID$/) || /Tomcat|Jetty|Undertow/i.test(server)) return 'spring';
  return null;
}

/** The fixes, the detected stack's first. */
export function fixesFor(stack: Stack | null): StackFix[] {
  return [...PROXY_HEADER_FIXES].sort((a, b) => Number(b.stack === stack) - Number(a.stack === stack));
}
