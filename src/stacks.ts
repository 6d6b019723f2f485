// Which web framework answered, guessed from response headers, and one table of what each stack
// needs: the setting that makes it trust dev-https' X-Forwarded-Proto (the cure for the HTTPS
// redirect loop), its usual login page, and the fixes `dev-https check` suggests.
import type { IncomingHttpHeaders } from 'node:http';
import { setCookieHeaders, parseSetCookie } from './cookies.js';

export type Stack = 'django' | 'express' | 'rails' | 'flask' | 'laravel' | 'spring';

/** What `dev-https check` can ask an app to fix, beyond trusting X-Forwarded-Proto. */
export type Concern = 'redirect' | 'hsts' | 'cookies' | 'headers' | 'clickjacking' | 'referrer' | 'version';

export interface StackFix {
  stack: Stack;
  name: string;
  fix: string;
}

interface StackInfo {
  name: string;
  /** The setting that makes the stack trust X-Forwarded-Proto. */
  proxyHeader: string;
  /**
   * The usual login page, which sets the session and CSRF cookies `dev-https check` rates:
   * Django's admin (startproject), Devise, Laravel's starter kits, Spring Security's form login.
   * Express and Flask have no default one.
   */
  loginPage?: { path: string; what: string };
  /** The stack's own way to fix a concern; GENERIC_FIXES says it for the others. */
  fixes: Partial<Record<Concern, string>>;
}

/** One row per stack, in the order the proxy-header fixes are listed. */
const STACKS: Record<Stack, StackInfo> = {
  django: {
    name: 'Django',
    proxyHeader: 'settings.py: SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")',
    loginPage: { path: '/admin/login/', what: "the Django admin's login" },
    fixes: {
      redirect: 'SECURE_SSL_REDIRECT = True (with SECURE_PROXY_SSL_HEADER set)',
      hsts: 'SECURE_HSTS_SECONDS = 31536000 and SECURE_HSTS_INCLUDE_SUBDOMAINS = True',
      cookies: 'SESSION_COOKIE_SECURE = True and CSRF_COOKIE_SECURE = True (HttpOnly and SameSite=Lax are the defaults)',
      headers: 'SECURE_CONTENT_TYPE_NOSNIFF = True with django.middleware.security.SecurityMiddleware',
      clickjacking: "add 'django.middleware.clickjacking.XFrameOptionsMiddleware' to MIDDLEWARE",
      referrer: 'SECURE_REFERRER_POLICY = "same-origin"',
    },
  },
  express: {
    name: 'Express',
    proxyHeader: "app.set('trust proxy', 'loopback')",
    fixes: {
      redirect:
        "app.use((req, res, next) => req.secure ? next() : res.redirect(308, `https://${req.headers.host}${req.originalUrl}`)) (with app.set('trust proxy', 'loopback'))",
      hsts: 'app.use(helmet()) (helmet sends max-age=31536000; includeSubDomains)',
      cookies: "cookie: { secure: true, httpOnly: true, sameSite: 'lax' } in express-session / cookie-session",
      headers: 'app.use(helmet())',
      clickjacking: 'app.use(helmet())',
      referrer: 'app.use(helmet())',
      version: "app.disable('x-powered-by')",
    },
  },
  rails: {
    name: 'Rails',
    proxyHeader: 'config/environments/development.rb: config.assume_ssl = true  (Rails 7.1+)',
    loginPage: { path: '/users/sign_in', what: "Devise's sign-in page" },
    fixes: {
      redirect: 'config.force_ssl = true (with config.assume_ssl = true on Rails 7.1+)',
      hsts: 'config.force_ssl = true (sends HSTS; config.ssl_options = { hsts: { subdomains: true } })',
      cookies: 'config.force_ssl = true marks cookies Secure; same_site: :lax in the session store options',
    },
  },
  flask: {
    name: 'Flask/Werkzeug',
    proxyHeader: 'app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)  (from werkzeug.middleware.proxy_fix import ProxyFix)',
    fixes: {
      redirect: 'Flask-Talisman: Talisman(app) (with ProxyFix)',
      hsts: 'Flask-Talisman: Talisman(app, strict_transport_security_include_subdomains=True)',
      cookies: 'SESSION_COOKIE_SECURE = True, SESSION_COOKIE_SAMESITE = "Lax"',
    },
  },
  laravel: {
    name: 'Laravel',
    proxyHeader:
      "bootstrap/app.php: $middleware->trustProxies(at: '127.0.0.1');  (Laravel 10 and older: $proxies in App\\Http\\Middleware\\TrustProxies)",
    loginPage: { path: '/login', what: "the starter kits' login page" },
    fixes: {
      redirect: "URL::forceScheme('https') and a middleware redirecting !$request->secure()",
      cookies: "SESSION_SECURE_COOKIE=true ('secure' => true in config/session.php)",
    },
  },
  spring: {
    name: 'Spring Boot',
    proxyHeader: 'application.properties: server.forward-headers-strategy=native',
    loginPage: { path: '/login', what: "Spring Security's login page" },
    fixes: {
      redirect: 'http.requiresChannel(c -> c.anyRequest().requiresSecure())',
      cookies: 'server.servlet.session.cookie.secure=true and server.servlet.session.cookie.same-site=lax',
    },
  },
};

/** The fix of a concern for an unknown stack, or one the table has no own fix for. */
const GENERIC_FIXES: Record<Concern, string> = {
  redirect: 'redirect every http:// request to the same https:// URL (301 or 308)',
  hsts: 'send Strict-Transport-Security: max-age=31536000; includeSubDomains over HTTPS',
  cookies: 'set session and CSRF cookies with Secure; HttpOnly (session); SameSite=Lax',
  headers: 'send X-Content-Type-Options: nosniff',
  clickjacking: "send X-Frame-Options: DENY or Content-Security-Policy: frame-ancestors 'self'",
  referrer: 'send Referrer-Policy: strict-origin-when-cross-origin (or same-origin)',
  version: 'remove X-Powered-By and version numbers from Server',
};

export const PROXY_HEADER_FIXES: StackFix[] = (Object.keys(STACKS) as Stack[]).map((stack) => ({
  stack,
  name: STACKS[stack].name,
  fix: STACKS[stack].proxyHeader,
}));

/** Each stack's usual login page (see StackInfo.loginPage). */
export const LOGIN_PAGES: Partial<Record<Stack, { path: string; what: string }>> = Object.fromEntries(
  (Object.keys(STACKS) as Stack[]).flatMap((stack) => (STACKS[stack].loginPage ? [[stack, STACKS[stack].loginPage]] : [])),
);

/** The stack's name for a person: "Django", "Flask/Werkzeug"... */
export function stackName(stack: Stack): string {
  return STACKS[stack].name;
}

/** How the stack (or any app, when unknown) fixes a concern. */
export function fixFor(concern: Concern, stack: Stack | null): string {
  return (stack && STACKS[stack].fixes[concern]) ?? GENERIC_FIXES[concern];
}

/** The stack a response reveals (Server, X-Powered-By, cookie names), or null. */
export function detectStack(headers: IncomingHttpHeaders): Stack | null {
  const server = String(headers.server ?? '');
  const poweredBy = String(headers['x-powered-by'] ?? '');
  const cookies = setCookieHeaders(headers).map((c) => parseSetCookie(c).name);
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
