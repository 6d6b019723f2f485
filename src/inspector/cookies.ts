// What a browser does with one Set-Cookie the app sent, over the listener that carried it: each
// finding in one line for the inspector. The cookie's value is a secret and never leaves here.
import { isIP } from 'node:net';
import { parseHost } from '../net.js';
import type { CookieNote } from './types.js';

type Level = CookieNote['notes'][number]['level'];
type Note = CookieNote['notes'][number];

export interface CookieContext {
  listener: 'http' | 'https';
  /** The request's Host header (a port, IPv6 in brackets). */
  host: string;
  /** For "Expires in the past"; defaults to now. */
  now?: number;
}

interface Attributes {
  /** Lowercased name to the last value sent (browsers take the last), `''` for a bare flag. */
  values: Map<string, string>;
  /** As sent, joined with `; `. */
  text: string;
}

const RANK: Record<Level, number> = { bad: 0, warn: 1, info: 2, ok: 3 };
// Cookies a page script must read to copy into a header: HttpOnly would break them.
const CSRF_NAMES = new Set(['csrftoken', 'xsrf-token', '_xsrf', '_csrf', 'csrf_token', 'csrf-token']);
const SESSION_LIKE = /session|sid|auth|token/i;
// Chromium caps every expiry at 400 days, as RFC 6265bis allows.
const MAX_DAYS = 400;

/** Name, attributes and findings of one Set-Cookie header, worst first; never its value. */
export function annotateSetCookie(setCookie: string, context: CookieContext): CookieNote {
  const [pair = '', ...parts] = setCookie.split(';');
  const eq = pair.indexOf('=');
  // Without `=` browsers take the whole pair as the value of a cookie with an empty name.
  const name = eq < 0 ? '' : pair.slice(0, eq).trim();
  const attributes = parseAttributes(parts);
  const host = hostOf(context.host);
  const sameSite = attributes.values.get('samesite') ?? null;
  const cookie: CookieFacts = {
    name,
    secure: attributes.values.has('secure'),
    httpOnly: attributes.values.has('httponly'),
    sameSite,
    attributes,
    host,
    https: context.listener === 'https',
  };
  const notes = [
    ...(eq < 0 ? [note('warn', 'no name= before the value: the browser stores it as a cookie with an empty name')] : []),
    ...prefixNotes(cookie),
    ...sameSiteNotes(cookie),
    ...secureNotes(cookie),
    ...httpOnlyNotes(cookie),
    ...domainNotes(cookie),
    expiryNote(attributes, context.now ?? Date.now()),
  ];
  return {
    name,
    attributes: attributes.text,
    secure: cookie.secure,
    httpOnly: cookie.httpOnly,
    sameSite,
    // Array.prototype.sort is stable: within a level, the order above.
    notes: notes.sort((a, b) => RANK[a.level] - RANK[b.level]),
  };
}

interface CookieFacts {
  name: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite: string | null;
  attributes: Attributes;
  host: { name: string; ip: boolean; local: boolean };
  https: boolean;
}

function note(level: Level, text: string): Note {
  return { level, text };
}

function parseAttributes(parts: string[]): Attributes {
  const values = new Map<string, string>();
  const sent: string[] = [];
  for (const part of parts.map((p) => p.trim()).filter(Boolean)) {
    sent.push(part);
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    values.set(key, eq < 0 ? '' : part.slice(eq + 1).trim());
  }
  return { values, text: sent.join('; ') };
}

/** The request's host name, lowercased, without port, brackets or final dot. */
function hostOf(header: string): CookieFacts['host'] {
  const parsed = parseHost(header);
  // A Host parseHost refuses never reached the app; read it loosely all the same.
  const loose = header
    .toLowerCase()
    .replace(/^\[(.*)\](:\d+)?$/, '$1')
    .replace(/:\d+$/, '');
  const name = (parsed?.hostname ?? loose).replace(/\.$/, '');
  const ip = isIP(name) !== 0;
  const local = name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
  return { name, ip, local };
}

function prefixNotes(c: CookieFacts): Note[] {
  // Browsers match the prefixes case-insensitively (RFC 6265bis; Chromium rejects `__host-x` too).
  const lower = c.name.toLowerCase();
  const prefix = lower.startsWith('__host-') ? '__Host-' : lower.startsWith('__secure-') ? '__Secure-' : null;
  if (!prefix) return [];
  const notes: Note[] = [];
  const rejects = `${prefix} prefix: the browser rejects the cookie`;
  if (!c.secure) notes.push(note('bad', `${rejects} without Secure`));
  if (prefix === '__Host-') {
    if (c.attributes.values.get('domain'))
      notes.push(note('bad', `${rejects} with a Domain attribute (a __Host- cookie is for its host only)`));
    if (c.attributes.values.get('path') !== '/') notes.push(note('bad', `${rejects} without Path=/`));
  }
  // Without Secure it is rejected already; with it, over HTTP, it fares as any Secure cookie there.
  if (!c.https && c.secure) notes.push(overHttp(`${prefix} cookie`, c));
  return notes;
}

/** A Secure (or prefixed) cookie over the HTTP listener: only localhost counts as a secure origin there. */
function overHttp(what: string, c: CookieFacts): Note {
  if (c.host.local) {
    return note(
      'warn',
      `${what} over plain HTTP: Chrome and Firefox accept it from localhost (they treat http://localhost as secure), Safari drops it — use the HTTPS URL`,
    );
  }
  return note(
    'bad',
    `${what} over plain HTTP from ${c.host.name}: the browser drops it (only localhost counts as secure without HTTPS) — use the HTTPS URL`,
  );
}

function sameSiteNotes(c: CookieFacts): Note[] {
  if (c.sameSite === null)
    return [note('info', 'no SameSite: Chromium treats it as Lax, Firefox and Safari send it on cross-site requests too')];
  const value = c.sameSite.toLowerCase();
  if (value === 'none') {
    return c.secure
      ? [note('info', 'SameSite=None: sent on cross-site requests too')]
      : [note('bad', 'SameSite=None without Secure: Chromium rejects the cookie')];
  }
  if (value === 'lax') return [note('ok', 'SameSite=Lax: sent cross-site only on top-level navigations')];
  if (value === 'strict') return [note('ok', 'SameSite=Strict: never sent on cross-site requests')];
  return [
    note(
      'warn',
      `SameSite=${c.sameSite} is not Strict, Lax or None: browsers ignore it, so Chromium treats the cookie as Lax and Firefox and Safari send it cross-site`,
    ),
  ];
}

function secureNotes(c: CookieFacts): Note[] {
  if (c.https) {
    return c.secure
      ? [note('ok', 'Secure: sent over HTTPS only')]
      : [note('warn', 'no Secure: the browser sends it over plain HTTP too; production over HTTPS should set Secure')];
  }
  const prefixed = /^__(host|secure)-/i.test(c.name);
  // A prefixed cookie over HTTP already has its note from prefixNotes.
  return c.secure && !prefixed ? [overHttp('Secure cookie', c)] : [];
}

function httpOnlyNotes(c: CookieFacts): Note[] {
  if (c.httpOnly) return [note('ok', 'HttpOnly: page scripts cannot read it')];
  if (CSRF_NAMES.has(c.name.toLowerCase())) {
    return [
      note('info', 'no HttpOnly: page scripts can read it, which a CSRF token cookie like this one needs (scripts copy it into a header)'),
    ];
  }
  if (SESSION_LIKE.test(c.name)) {
    return [
      note(
        'warn',
        'no HttpOnly on what looks like a session cookie: page scripts can read it, and so can an injected script; set HttpOnly',
      ),
    ];
  }
  return [note('info', 'no HttpOnly: page scripts can read it (document.cookie)')];
}

function domainNotes(c: CookieFacts): Note[] {
  const raw = c.attributes.values.get('domain');
  // An empty Domain is ignored: a host-only cookie.
  if (!raw) return [];
  const domain = raw
    .replace(/^\./, '')
    .replace(/^\[(.*)\]$/, '$1')
    .toLowerCase();
  const host = c.host.name;
  if (c.host.ip) {
    if (domain === host) return [note('info', `Domain=${raw} on an IP address: kept for this address only, as without Domain`)];
    return [note('bad', `Domain=${raw} on the IP address ${host}: the browser rejects the cookie (an address has no subdomains)`)];
  }
  if (domain !== host && !host.endsWith(`.${domain}`)) {
    return [note('bad', `Domain=${raw} does not match the host ${host}: the browser rejects the cookie`)];
  }
  if (domain === 'localhost' && host !== 'localhost') {
    return [note('bad', `Domain=${raw} from ${host}: the browser rejects the cookie (localhost counts as a top-level domain)`)];
  }
  return [note('info', `Domain=${raw}: sent to ${domain} and all its subdomains`)];
}

function expiryNote(attributes: Attributes, now: number): Note {
  const maxAge = attributes.values.get('max-age');
  // Max-Age wins over Expires; a Max-Age that is not an integer is ignored.
  if (maxAge !== undefined && /^-?\d+$/.test(maxAge)) {
    const seconds = Number(maxAge);
    if (seconds <= 0) return note('info', `Max-Age=${maxAge}: deletes the cookie`);
    return note('info', `kept for ${duration(seconds)} (Max-Age=${maxAge}), across browser restarts${capped(seconds * 1000)}`);
  }
  const expires = attributes.values.get('expires');
  const when = expires === undefined ? NaN : Date.parse(expires);
  if (Number.isNaN(when)) {
    const ignored = expires === undefined ? '' : ` (Expires=${expires} is not a date: ignored)`;
    return note('info', `session cookie: gone when the browser closes${ignored}`);
  }
  const iso = new Date(when)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.000Z$/, ' UTC');
  if (when <= now) return note('info', `Expires in the past (${iso}): deletes the cookie`);
  return note('info', `kept until ${iso} (Expires), across browser restarts${capped(when - now)}`);
}

function capped(ms: number): string {
  return ms > MAX_DAYS * 86_400_000 ? `; Chromium caps it at ${MAX_DAYS} days` : '';
}

function duration(seconds: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (seconds < 60) return unit(seconds, 'second');
  if (seconds < 3600) return unit(Math.round(seconds / 60), 'minute');
  if (seconds < 86_400) return unit(Math.round(seconds / 3600), 'hour');
  return unit(Math.round(seconds / 86_400), 'day');
}
