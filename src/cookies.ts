// Cookie parsing, read-only: the names and attributes of an app's Set-Cookie headers (never their
// values, which are secrets) and the name=value pairs of a request's Cookie header.
import type { IncomingHttpHeaders } from 'node:http';

/** What a Set-Cookie header says about its cookie, its value left out. */
export interface SetCookie {
  name: string;
  secure: boolean;
  httpOnly: boolean;
  /** The SameSite value as sent (`Lax`, `strict`...), or null without the attribute. */
  sameSite: string | null;
}

/** Every Set-Cookie header of a response, none when it sets no cookie. */
export function setCookieHeaders(headers: IncomingHttpHeaders): string[] {
  return ([] as string[]).concat(headers['set-cookie'] ?? []);
}

/** Name and attributes of one Set-Cookie header; attribute names are case-insensitive. */
export function parseSetCookie(setCookie: string): SetCookie {
  const [pair, ...attributes] = setCookie.split(';').map((s) => s.trim());
  const attr = (name: string) => attributes.find((a) => a.toLowerCase().split('=')[0] === name);
  return {
    name: pair!.split('=')[0]!.trim(),
    secure: attr('secure') !== undefined,
    httpOnly: attr('httponly') !== undefined,
    sameSite: attr('samesite')?.split('=')[1] ?? null,
  };
}

/** The cookies a response sets. */
export function cookiesSet(headers: IncomingHttpHeaders): SetCookie[] {
  return setCookieHeaders(headers).map(parseSetCookie);
}

/** The name=value pairs of a request's Cookie header; a part without a name is skipped. */
export function parseCookieHeader(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) cookies[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return cookies;
}
