// What the inspector shows of a request, as JSON: the page at https://dev-https.localhost:<port>/
// and the programmatic API get the same objects. Secrets (Authorization, Cookie, Set-Cookie and
// query values) are masked in them; the page reveals one on request, through its token.

/** One line of the request list. */
export interface InspectedRequest {
  /** Increasing from 1 for the process. */
  id: number;
  /** When the request arrived, ISO 8601. */
  time: string;
  method: string;
  /** The path with each query value as `…` (`/search?q=…&page=…`), control characters escaped. */
  path: string;
  /** The status the client got (0: the connection closed before an answer). */
  status: number;
  /** From the request head to the end of the response, in milliseconds. */
  durationMs: number;
  /** The listener that took it. */
  listener: 'https' | 'http';
  protocol: 'h2' | 'http/1.1' | 'http/1.0';
  /** The route that took it (`/api`, `admin.localhost`); null: the default target. */
  route: string | null;
  /** A WebSocket upgrade. */
  ws: boolean;
  /** Who answered: the app, or dev-https itself (its 502, 508 loop page, 400/403/431 refusals, redirect to HTTPS). */
  answeredBy: 'app' | 'dev-https';
  /** The request whose redirect (its Location, as the client got it) led here, from the same client within 10 s. */
  redirectFrom: number | null;
  /** Set when this response closes a redirect loop. */
  loop: { urls: string[]; fix: string } | null;
  /** Marks worth a glance in the list: a cookie without Secure over HTTPS, HSTS removed, a rewritten Location... */
  flags: Array<'cookie' | 'hsts-removed' | 'location-rewritten' | 'loop' | 'spoofed-header-dropped' | 'error'>;
}

/** How a header fared on its way. */
export type HeaderMark =
  /** Passed on as it was. */
  | 'kept'
  /** Set by dev-https (not in what it received). */
  | 'set'
  /** Passed on with another value (a rewritten Location; our X-Forwarded-Proto for the client's). */
  | 'changed'
  /** Not passed on. */
  | 'dropped';

export interface HeaderRow {
  /** As it was written (case kept; HTTP/2 sends lower case). */
  name: string;
  /** The value, or `…` when masked. */
  value: string;
  mark: HeaderMark;
  /** One line on why dev-https did this; absent for `kept`. */
  why?: string;
  /** Present when the value is masked: the page POSTs it to /api/reveal to get the value. */
  secret?: string;
}

export interface HeadView {
  /** `GET /path HTTP/1.1`, `HTTP/1.1 302 Found`, `:status 200` (HTTP/2). The request line's query values masked. */
  line: string;
  /** Present when the line's query values are masked: POST it to /api/reveal as for a header. */
  secret?: string;
  headers: HeaderRow[];
}

/** What a browser does with one Set-Cookie over this listener. */
export interface CookieNote {
  name: string;
  /** The attributes as sent (Path=/; Secure; HttpOnly; SameSite=Lax), never the value. */
  attributes: string;
  secure: boolean;
  httpOnly: boolean;
  /** As sent, or null without the attribute. */
  sameSite: string | null;
  /** Each finding in one line, worst first. `bad`: the browser rejects or mishandles it; `warn`: production should change it. */
  notes: Array<{ level: 'ok' | 'info' | 'warn' | 'bad'; text: string }>;
}

export interface BodyInfo {
  /** Bytes, null when not known (a streamed body of unknown length). */
  size: number | null;
  /** Its Content-Type, or null. */
  type: string | null;
}

/** A request in full, for its detail view. */
export interface InspectedDetail extends InspectedRequest {
  /** The request as the client sent it (client) and as the app received it (app: null when it never reached the app). */
  request: { client: HeadView; app: HeadView | null; body: BodyInfo };
  /** The response as the app sent it (app: null when the app did not answer) and as the client got it. */
  response: { app: HeadView | null; client: HeadView | null; body: BodyInfo };
  /** Each change dev-https made, explained in one line, in the order they happened. */
  changes: string[];
  /** The cookies the app set, annotated. */
  cookies: CookieNote[];
  /** The target that took it (`http://127.0.0.1:8000`). */
  target: string;
}

/**
 * The `/events` stream: first `event: hello` with `{ instance }` (an id of the dev-https process: a
 * page that sees another one after a reconnect reloads), then `event: requests`, data an array of
 * InspectedRequest (oldest first): the recent ones, then each batch of new ones.
 */
export type InspectorEvent = InspectedRequest[];
export interface InspectorHello {
  instance: string;
}
