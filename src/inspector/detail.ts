// A recorded request as the inspector shows it: the four heads (client → dev-https → app → dev-https
// → client) with every header marked kept, set, changed or dropped and why, the changes in one
// line each, the cookies annotated. Secrets are masked; each masked value has an id to reveal it.
import { describeLoop } from '../proxy/diagnose.js';
import { HOP_BY_HOP, isClientControlled } from '../proxy/forwarded.js';
import { escapeControl } from '../logger.js';
import { annotateSetCookie } from './cookies.js';
import type { Recorded } from './record.js';
import type { BodyInfo, CookieNote, HeaderMark, HeaderRow, HeadView, InspectedDetail, InspectedRequest } from './types.js';

/** A header as read from a head, before it is marked. */
interface Field {
  name: string;
  value: string;
}

interface Head {
  line: string;
  fields: Field[];
}

export interface Built {
  detail: InspectedDetail;
  /** The values masked in `detail`, by their `secret` id. */
  secrets: Map<string, string>;
}

/** Headers whose values are secrets: credentials and cookies. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
/** Headers whose values are URLs, whose query values may be secrets (an OAuth code). */
const URL_HEADERS = new Set([':path', 'location', 'content-location', 'referer', 'refresh']);
const FORWARDED_SET = ['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-for', 'forwarded'];

/** The list line of a request; built once. */
export function summaryOf(entry: Recorded): InspectedRequest {
  if (entry.summary) return entry.summary;
  const app = entry.app;
  const flags: InspectedRequest['flags'] = [];
  const appFields = app?.rawHeaders ? pairs(app.rawHeaders) : [];
  const clientFields = clientResponseHead(entry)?.fields ?? [];
  const requestFields = pairs(entry.rawHeaders);
  const host = hostOfFields(requestFields);
  if (cookiesOf(appFields, entry.listener, host).some((c) => c.notes.some((n) => n.level === 'bad' || n.level === 'warn')))
    flags.push('cookie');
  if (app?.relayed && has(appFields, 'strict-transport-security') && !has(clientFields, 'strict-transport-security'))
    flags.push('hsts-removed');
  if (app?.relayed && valueOf(appFields, 'location') !== valueOf(clientFields, 'location')) flags.push('location-rewritten');
  if (app?.loop) flags.push('loop');
  if (requestFields.some((f) => isClientControlled(f.name.toLowerCase()))) flags.push('spoofed-header-dropped');
  if (entry.status === 0 || entry.status >= 500) flags.push('error');
  return (entry.summary = {
    id: entry.id,
    time: new Date(entry.time).toISOString(),
    method: escapeControl(entry.method),
    path: shorten(shownUrl(entry.url)),
    status: entry.status,
    durationMs: Math.round(entry.durationMs * 10) / 10,
    listener: entry.listener,
    protocol: entry.protocol,
    route: entry.route,
    ws: entry.ws,
    answeredBy: app?.relayed ? 'app' : 'dev-https',
    redirectFrom: entry.redirectFrom,
    loop: app?.loop ? { urls: app.loop.urls.map(shownUrl), fix: describeLoop(app.loop) } : null,
    flags,
  });
}

/** A URL (or request line) as the inspector shows it: control characters escaped, query and fragment values masked (the terminal's is displayUrl). */
const shownUrl = (url: string): string => maskQuery(escapeControl(url));

/** A list line's path stays short (a page can send paths of 32 KiB); the detail has it whole. */
const MAX_LIST_PATH = 2048;
const shorten = (path: string) => (path.length > MAX_LIST_PATH ? `${path.slice(0, MAX_LIST_PATH)}…` : path);

/** The detail of a recorded request, and its secrets. */
export function buildDetail(entry: Recorded): Built {
  const secrets = new Map<string, string>();
  const app = entry.app;
  const clientRequest = clientRequestHead(entry);
  const appRequest = app?.head ? parseHead(app.head) : null;
  const appResponse =
    app?.status != null && app.rawHeaders
      ? { line: `HTTP/1.1 ${app.status} ${app.statusMessage}`.trim(), fields: pairs(app.rawHeaders) }
      : null;
  const clientResponse = clientResponseHead(entry);
  const relayed = app?.relayed === true;
  const host = hostOfFields(clientRequest.fields);
  const cookieValues = cookieValuesOf(clientRequest.fields);

  const requestMarks = appRequest ? compare(clientRequest.fields, appRequest.fields, requestWhy) : null;
  const responseMarks =
    appResponse && clientResponse ? compare(appResponse.fields, clientResponse.fields, relayed ? responseWhy : pageWhy) : null;
  const view = (head: Head, marks: Mark[] | null, side: string): HeadView => {
    const line = shownUrl(head.line);
    const shown: HeadView = {
      line,
      headers: head.fields.map((field, i) => row(field, marks?.[i] ?? { mark: 'kept' }, `${side}.${i}`, secrets, cookieValues)),
    };
    if (line !== escapeControl(head.line)) {
      shown.secret = `${side}.line`;
      secrets.set(shown.secret, head.line);
    }
    return shown;
  };
  const summary = summaryOf(entry);
  const detail: InspectedDetail = {
    ...summary,
    request: {
      client: view(clientRequest, requestMarks?.from ?? (appRequest ? null : notPassed(clientRequest.fields)), 'request.client'),
      app: appRequest ? view(appRequest, requestMarks!.to, 'request.app') : null,
      body: requestBody(entry, clientRequest.fields),
    },
    response: {
      app: appResponse ? view(appResponse, responseMarks?.from ?? null, 'response.app') : null,
      client: clientResponse ? view(clientResponse, responseMarks?.to ?? null, 'response.client') : null,
      body: responseBody(entry, appResponse?.fields ?? clientResponse?.fields ?? []),
    },
    changes: changesOf(entry, { clientRequest, appRequest, appResponse, clientResponse }),
    cookies: cookiesOf(appResponse?.fields ?? [], entry.listener, host),
    target: app?.target ?? '',
  };
  return { detail, secrets };
}

interface Mark {
  mark: HeaderMark;
  why?: string;
}

type Why = (name: string, mark: HeaderMark, side: 'from' | 'to', value: string) => string | undefined;

/**
 * Marks the fields of a head (`from`) against the head they became (`to`): a value found on the
 * other side is kept, a name found with other values is changed, a name missing is dropped (from)
 * or set (to). `why` may override the mark's reason and, for the client's spoofable headers,
 * there is no "changed": theirs is dropped and ours is set.
 */
function compare(from: Field[], to: Field[], why: Why): { from: Mark[]; to: Mark[] } {
  const index = (fields: Field[]) => {
    const map = new Map<string, string[]>();
    for (const f of fields) {
      const name = f.name.toLowerCase();
      map.set(name, [...(map.get(name) ?? []), f.value]);
    }
    return map;
  };
  const fromIndex = index(from);
  const toIndex = index(to);
  const markOf = (field: Field, other: Map<string, string[]>, side: 'from' | 'to'): Mark => {
    const name = field.name.toLowerCase();
    const values = other.get(name);
    let mark: HeaderMark = values === undefined ? (side === 'from' ? 'dropped' : 'set') : values.includes(field.value) ? 'kept' : 'changed';
    if (name.startsWith(':') && side === 'from') mark = 'changed';
    // Each connection has its own hop-by-hop headers, even when they read the same (keep-alive).
    if (HOP_BY_HOP.has(name) && why !== pageWhy) mark = side === 'from' ? 'dropped' : 'set';
    if (side === 'from' && why === requestWhy && isClientControlled(name)) mark = 'dropped';
    if (side === 'to' && why === requestWhy && FORWARDED_SET.includes(name)) mark = 'set';
    return mark === 'kept' ? { mark } : { mark, why: why(name, mark, side, field.value) ?? defaultWhy(mark) };
  };
  return { from: from.map((f) => markOf(f, toIndex, 'from')), to: to.map((f) => markOf(f, fromIndex, 'to')) };
}

function defaultWhy(mark: HeaderMark): string {
  return mark === 'dropped' ? 'not passed on' : mark === 'set' ? 'set by dev-https' : 'passed on with another value';
}

/** Why a request header fared as it did between the client and the app. */
const requestWhy: Why = (name, mark, side, value) => {
  if (name.startsWith(':'))
    return name === ':authority'
      ? "HTTP/2's :authority: the app gets it as Host over HTTP/1.1"
      : 'HTTP/2 pseudo-header: the app gets it in the request line over HTTP/1.1';
  if (side === 'from' && isClientControlled(name))
    return 'a client must not choose what the app believes about the scheme, host or client address: dropped, dev-https sets X-Forwarded-* itself';
  if (side === 'to') {
    switch (name) {
      case 'x-forwarded-proto':
        return `the scheme the client used to reach dev-https (${value}): what the app's HTTPS settings read`;
      case 'x-forwarded-host':
        return "the Host the client asked for: the public origin, not the app's address";
      case 'x-forwarded-port':
        return 'the port of the dev-https listener that took the request';
      case 'x-forwarded-for':
        return "the client's address";
      case 'forwarded':
        return 'the same in the RFC 7239 form';
      case 'host':
        if (mark === 'set') return "from HTTP/2's :authority";
        break;
      case 'connection':
        return value.toLowerCase() === 'upgrade'
          ? 'a WebSocket upgrade: dev-https asks the app for it on a connection of its own'
          : "dev-https' own connection to the app, kept alive in its pool";
      case 'upgrade':
        return 'a WebSocket upgrade passes through, on a connection of its own';
      case 'content-length':
        return 'dev-https frames the body itself: a body of unknown length up to 64 KiB is sent with its length';
      case 'transfer-encoding':
        return 'a body over 64 KiB of unknown length is streamed to the app in chunks';
      case 'cookie':
        if (mark === 'changed') return 'HTTP/2 sends each cookie as a field of its own; the app gets them joined into one Cookie header';
        break;
    }
  }
  if (side === 'from') {
    if (name === 'cookie' && mark === 'changed') return 'joined with the other cookie fields into one Cookie header for the app';
    if (name === 'transfer-encoding')
      return 'dev-https frames the body itself (a chunked body up to 64 KiB goes to the app with a Content-Length)';
    if (name === 'expect') return 'answered by dev-https (100 Continue); not passed on';
    if (name === 'proxy-authorization') return 'credentials for a proxy: meant for dev-https, never passed on';
    if (HOP_BY_HOP.has(name)) return "hop-by-hop: about the client's connection to dev-https, not passed on";
    if (mark === 'dropped') return "named in the client's Connection header, so meant for dev-https only";
  }
  return undefined;
};

/** Why a response header fared as it did between the app and the client, when the app's answer went on. */
const responseWhy: Why = (name, mark, side) => {
  if (side === 'from') {
    if (name === 'strict-transport-security')
      return 'HSTS on a localhost name would force HTTPS on every app on that name, on every port: removed (--keep-hsts passes it)';
    if (name === 'transfer-encoding') return "the app's framing; dev-https frames the body on its own connection to the client";
    if (HOP_BY_HOP.has(name)) return "hop-by-hop: about the app's connection to dev-https, not passed on";
    if (mark === 'changed' && (name === 'location' || name === 'content-location' || name === 'refresh'))
      return "pointed at the app's own address: rewritten to the address the client used, so the browser stays on dev-https";
    if (mark === 'dropped') return "named in the app's Connection header, so about its connection to dev-https";
  } else {
    if (name === 'location' || name === 'content-location' || name === 'refresh') return "rewritten from the app's own address";
    if (name === 'connection') return "dev-https' own connection to the client";
    if (name === 'keep-alive') return "the keep-alive timeout of dev-https' connection to the client";
    if (name === 'transfer-encoding') return "the body's framing on dev-https' connection to the client";
    if (name === 'date') return "added by Node's HTTP server: the app sent no Date";
  }
  return undefined;
};

/** Why, when dev-https answered itself instead of passing the app's response on. */
const pageWhy: Why = (_name, _mark, side) =>
  side === 'from' ? "dev-https answered with its own page instead of the app's response" : "dev-https' own page";

/** The client's headers of a request that never reached the app: nothing was passed on. */
function notPassed(fields: Field[]): Mark[] {
  return fields.map(() => ({ mark: 'kept' }));
}

function row(field: Field, mark: Mark, id: string, secrets: Map<string, string>, cookieValues: ReadonlySet<string>): HeaderRow {
  const name = field.name.toLowerCase();
  const out: HeaderRow = { name: escapeControl(field.name), value: escapeControl(field.value), mark: mark.mark };
  if (mark.why) out.why = mark.why;
  const masked = maskValue(name, field.value, cookieValues);
  if (masked !== null) {
    out.value = escapeControl(masked);
    out.secret = id;
    secrets.set(id, field.value);
  }
  return out;
}

/**
 * Header names whose values are credentials by their name (X-CSRFToken, X-XSRF-TOKEN, X-Api-Key,
 * X-Auth-Token, X-Amz-Security-Token...), and the WebSocket subprotocol header, which Kubernetes and
 * Hasura clients use to carry a bearer token.
 */
const SECRET_NAME = /csrf|xsrf|token|api-?key|secret|session|signature|password|auth|^sec-websocket-protocol$/i;
/** A value this long that is also a cookie's value is that cookie, copied (a CSRF token in X-XSRF-TOKEN). */
const MIN_COPIED_SECRET = 8;

/**
 * The shown form of a secret value (null: not a secret): cookie names, a credential's scheme and
 * a cookie's attributes stay. `cookieValues` are the values of the request's cookies: a header
 * that repeats one is masked too.
 */
export function maskValue(name: string, value: string, cookieValues: ReadonlySet<string> = new Set()): string | null {
  if (name === 'cookie')
    return value
      .split(';')
      .map((part) => {
        const eq = part.indexOf('=');
        return eq < 0 ? '…' : `${part.slice(0, eq).trim()}=…`;
      })
      .join('; ');
  if (name === 'set-cookie') {
    const [pair, ...attributes] = value.split(';');
    const eq = pair!.indexOf('=');
    return [eq < 0 ? '…' : `${pair!.slice(0, eq).trim()}=…`, ...attributes.map((a) => a.trim())].join('; ');
  }
  if (SECRET_HEADERS.has(name) || SECRET_NAME.test(name)) {
    const space = value.indexOf(' ');
    return space > 0 && /^[A-Za-z]+$/.test(value.slice(0, space)) ? `${value.slice(0, space)} …` : '…';
  }
  for (const secret of cookieValues) if (value.includes(secret)) return '…';
  if (URL_HEADERS.has(name)) {
    const masked = maskQuery(value);
    return masked === value ? null : masked;
  }
  if (name === 'link') {
    // Each <URL> of the list: a preloaded signed URL carries its signature in the query.
    const masked = value.replace(/<([^>]*)>/g, (_, url: string) => `<${maskQuery(url)}>`);
    return masked === value ? null : masked;
  }
  return null;
}

/** The values of a request's cookies long enough to be secrets (see MIN_COPIED_SECRET). */
function cookieValuesOf(fields: Field[]): Set<string> {
  const values = new Set<string>();
  for (const f of fields) {
    if (f.name.toLowerCase() !== 'cookie') continue;
    for (const part of f.value.split(';')) {
      const value = part.slice(part.indexOf('=') + 1).trim();
      if (part.includes('=') && value.length >= MIN_COPIED_SECRET) values.add(value);
    }
  }
  return values;
}

/**
 * `/search?q=…&page=…#access_token=…`: each query value hidden, the names kept; a fragment's
 * `name=value` values too (OAuth's implicit flow returns the access token there), a plain `#section` stays.
 */
export function maskQuery(text: string): string {
  const q = text.indexOf('?');
  const hash = text.indexOf('#');
  if (q < 0 || (hash >= 0 && hash < q)) return hash < 0 ? text : `${text.slice(0, hash)}${maskFragment(text.slice(hash))}`;
  const end = hash < 0 ? text.length : hash;
  // The query ends at the first space too: a request line goes on with its version.
  const space = text.indexOf(' ', q);
  const stop = space >= 0 && space < end ? space : end;
  const query = maskPairs(text.slice(q + 1, stop), true);
  const rest = text.slice(stop);
  return `${text.slice(0, q + 1)}${query}${rest.startsWith('#') ? maskFragment(rest) : rest}`;
}

/** `#a=…&b=…` for a fragment of name=value pairs; any other fragment as it is. */
export function maskFragment(fragment: string): string {
  return fragment.includes('=') ? `#${maskPairs(fragment.slice(1), false)}` : fragment;
}

/** `a=1&b` → `a=…&…` (a bare part is hidden too when `bare`: `?abc123` may be a token). */
function maskPairs(text: string, bare: boolean): string {
  return text
    .split('&')
    .map((part) => {
      if (part === '') return part;
      const eq = part.indexOf('=');
      return eq < 0 ? (bare ? '…' : part) : `${part.slice(0, eq)}=…`;
    })
    .join('&');
}

function clientRequestHead(entry: Recorded): Head {
  const version = entry.protocol === 'h2' ? 'HTTP/2' : entry.protocol === 'http/1.0' ? 'HTTP/1.0' : 'HTTP/1.1';
  return { line: `${entry.method} ${entry.url} ${version}`, fields: pairs(entry.rawHeaders) };
}

function clientResponseHead(entry: Recorded): Head | null {
  const head = entry.clientHead;
  if (head === null) return null;
  if (typeof head === 'string') return parseHead(head);
  const fields: Field[] = [];
  for (const [name, value] of Object.entries(head)) {
    if (name === ':status' || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) fields.push({ name, value: String(v) });
  }
  return { line: `HTTP/2 ${String(head[':status'] ?? entry.status)}`, fields };
}

/** A head as written on the wire (`GET / HTTP/1.1\r\nHost: x\r\n\r\n`). */
export function parseHead(text: string): Head {
  const lines = text.split('\r\n');
  const fields: Field[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.push({ name: line.slice(0, colon), value: line.slice(colon + 1).trim() });
  }
  return { line: lines[0] ?? '', fields };
}

function pairs(raw: string[]): Field[] {
  const fields: Field[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) fields.push({ name: raw[i]!, value: raw[i + 1]! });
  return fields;
}

const has = (fields: Field[], name: string) => fields.some((f) => f.name.toLowerCase() === name);
const valueOf = (fields: Field[], name: string) => fields.find((f) => f.name.toLowerCase() === name)?.value;

function hostOfFields(fields: Field[]): string {
  return valueOf(fields, 'host') ?? valueOf(fields, ':authority') ?? '';
}

function cookiesOf(appFields: Field[], listener: 'http' | 'https', host: string): CookieNote[] {
  return appFields.filter((f) => f.name.toLowerCase() === 'set-cookie').map((f) => annotateSetCookie(f.value, { listener, host }));
}

function requestBody(entry: Recorded, fields: Field[]): BodyInfo {
  const declared = valueOf(fields, 'content-length');
  const size = entry.requestBodyBytes ?? (declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : null);
  return { size: size ?? (entry.method === 'GET' || entry.method === 'HEAD' ? 0 : null), type: valueOf(fields, 'content-type') ?? null };
}

function responseBody(entry: Recorded, fields: Field[]): BodyInfo {
  const declared = valueOf(fields, 'content-length');
  const size = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : (entry.app?.bodyBytes ?? null);
  return { size, type: valueOf(fields, 'content-type') ?? null };
}

/** Each change dev-https made, one line each, in the order they happened. */
function changesOf(
  entry: Recorded,
  heads: { clientRequest: Head; appRequest: Head | null; appResponse: Head | null; clientResponse: Head | null },
): string[] {
  const { clientRequest, appRequest, appResponse, clientResponse } = heads;
  const changes: string[] = [];
  const spoofed = clientRequest.fields.filter((f) => isClientControlled(f.name.toLowerCase()));
  for (const f of spoofed)
    changes.push(`Dropped the client's ${escapeControl(f.name)}: a client must not choose what the app believes about the connection`);
  if (!appRequest) {
    if (!entry.app) changes.push(`Answered ${entry.status} itself: the request did not reach the app`);
    else changes.push(`The app at ${entry.app.target} did not answer: dev-https answered ${entry.status}`);
    return changes;
  }
  const set = FORWARDED_SET.filter((name) => has(appRequest.fields, name)).map((name) =>
    appRequest.fields.find((f) => f.name.toLowerCase() === name)!,
  );
  if (set.length) changes.push(`Set ${set.map((f) => `${f.name}: ${f.value}`).join(', ')}: the app sees the request as the client made it`);
  const clientFraming = valueOf(clientRequest.fields, 'transfer-encoding');
  if (clientFraming !== undefined)
    changes.push(
      `Framed the body itself: the client sent Transfer-Encoding: ${escapeControl(clientFraming)}, the app got ${has(appRequest.fields, 'content-length') ? `Content-Length: ${valueOf(appRequest.fields, 'content-length')}` : 'it chunked'}`,
    );
  if (!appResponse || !clientResponse) return changes;
  if (!entry.app?.relayed) {
    const why = entry.app?.loop ? 'the app redirects in a loop (see the fix)' : "Node refused to pass the app's head on";
    changes.push(`Answered ${entry.status} with its own page instead of the app's ${entry.app?.status ?? ''}: ${why}`);
    return changes;
  }
  for (const name of ['location', 'content-location', 'refresh']) {
    const before = valueOf(appResponse.fields, name);
    const after = valueOf(clientResponse.fields, name);
    if (before !== undefined && after !== undefined && before !== after)
      changes.push(
        `Rewrote ${name === 'location' ? 'Location' : name === 'refresh' ? 'Refresh' : 'Content-Location'} ${shownUrl(before)} → ${shownUrl(after)}: it pointed at the app's own address`,
      );
  }
  if (has(appResponse.fields, 'strict-transport-security') && !has(clientResponse.fields, 'strict-transport-security'))
    changes.push(
      'Removed Strict-Transport-Security: HSTS on a localhost name would force HTTPS on every app on that name (--keep-hsts passes it)',
    );
  return changes;
}
