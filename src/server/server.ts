// startDevHttps: certificate, HTTPS listener (and optional HTTP listener) in front of the app
// or the built-in demo, and a handle that closes it all.
import http from 'node:http';
import net from 'node:net';
import { openBrowser } from '../cli/browser.js';
import { waitUntilAccepting } from '../cli/reachable.js';
import { loadCurrentCertificate, type CertificateInfo, type CurrentCertificate } from '../certs/current-cert.js';
import type { Logger } from '../logger.js';
import {
  isLoopbackName,
  machineAddresses,
  networkAddresses,
  resolveOptions,
  settingText,
  type DevHttpsOptions,
  type ResolvedOptions,
  type ResolvedTarget,
} from '../options.js';
import { createDemoApp } from '../pages/demo.js';
import { type EntryListener, type Proxy } from '../proxy/proxy.js';
import { createRoutedProxy } from '../proxy/routes.js';
import { redirectToHttps } from '../proxy/redirect.js';
import { dispatchByFirstByte, prepareFedServer, refuseUpgrade, serve } from './dispatch.js';
import { createGuard, MAX_HEADER_BYTES, type UpgradeHandler, type WebHandler } from './guard.js';
import { createHostCheck } from './hosts.js';
import { createRecorder, type Recorder } from '../inspector/record.js';
import { createInspectorServer, INSPECTOR_HOST, type CheckRunner, type InspectorServer } from '../inspector/serve.js';
import type { InspectedDetail, InspectedRequest } from '../inspector/types.js';
import { listenAll } from './listen.js';
import { applyCertificateUpdates, createTlsServer, type ServerTimeouts } from './tls.js';

export interface DevHttpsHandle {
  urls: {
    /** e.g. `https://localhost:8443/` */
    https: string;
    /** The HTTP listener's URL, or null without --http-port. */
    http: string | null;
  };
  /** Origin of the app requests go to (the demo app's when `demo` is true). */
  target: string;
  /** True when no target was given and the built-in demo app is served. */
  demo: boolean;
  /** True when the HTTP listener redirects to HTTPS instead of proxying. */
  redirectHttp: boolean;
  /** The routes to other apps (`--route`), in the order they are tried: `/api` → `http://localhost:8000`. */
  routes: Array<{ match: string; target: string }>;
  /** Addresses the listeners are bound to. */
  addresses: string[];
  /** Addresses other machines can use (with --host 0.0.0.0: the machine's external ones). */
  networkAddresses: string[];
  /**
   * The certificate served now (it changes on renewal or when --cert files change), with the CA
   * that signed it: trust `certificate.ca.cert` (or `trustPath`) in a client. Never the key.
   */
  readonly certificate: CertificateInfo;
  /** The request inspector (null with `inspect: false`): its page, and the same data for tools. */
  inspector: InspectorHandle | null;
  /** Stops listening, destroys open client, upgraded and pooled connections. Safe to call twice. */
  close(): Promise<void>;
}

export interface InspectorHandle {
  /** `https://dev-https.localhost:<port>/` */
  url: string;
  /** The recent requests (up to 500), oldest first, secrets masked. */
  recent(): InspectedRequest[];
  /** A recent request in full: the four heads, what dev-https changed, the cookies; null once it left. */
  detail(id: number): InspectedDetail | null;
  /** New requests, in batches (at most every 100 ms), as the page gets them; returns the unsubscribe function. */
  subscribe(subscriber: (batch: InspectedRequest[]) => void): () => void;
}

/** What a start has opened so far, all of it closed by closeAll. */
interface Opened {
  /** The servers bound to the listen addresses. */
  listening: net.Server[];
  /** The servers that never listen: the listeners feed them their connections. */
  fed: net.Server[];
  /** Every client connection: HTTP/2 sessions are not tracked by Node's closeAllConnections(). */
  sockets: Set<net.Socket>;
  demo: http.Server | null;
  proxy: Proxy | null;
  recorder: Recorder | null;
  inspector: InspectorServer | null;
}

export async function startDevHttps(options: DevHttpsOptions = {}): Promise<DevHttpsHandle> {
  const opts = resolveOptions(options);
  const { logger } = opts;
  const certificate: CurrentCertificate = await loadCurrentCertificate(opts);
  const hosts = createHostCheck(opts.certNames, opts.listenAddresses, opts.allowHosts);
  if (opts.allowHosts.includes('any')) {
    logger.warn(
      `${settingText(opts.origins, 'allowHosts', '--allow-host', 'any')}: the Host check is off, so any web page you visit can reach your app through DNS rebinding`,
    );
  }
  const opened: Opened = { listening: [], fed: [], sockets: new Set(), demo: null, proxy: null, recorder: null, inspector: null };
  const closeAll = () => closeOpened(opened, certificate);
  try {
    const target = opts.target ?? (await startDemo(opened));
    let subscriberFailed = false;
    const recorder = (opened.recorder = opts.inspect
      ? createRecorder({
          onSubscriberError: (err) => {
            if (subscriberFailed) return;
            subscriberFailed = true;
            logger.warn(`an inspector subscriber threw (dev-https keeps running): ${err instanceof Error ? err.message : String(err)}`);
          },
        })
      : null);
    const inspector = (opened.inspector = createInspectorServer(recorder, checkRunner(opts, target)));
    const proxy = (opened.proxy = createRoutedProxy(target, opts.routes, logger, {
      keepHsts: opts.keepHsts,
      ...(recorder ? { onUpgrade: (req, status) => recorder.recordUpgrade(req, status) } : {}),
    }));
    const guard = createGuard(hosts, logger, recorder);
    const timeouts: ServerTimeouts = {
      headersTimeout: opts.headersTimeout,
      requestTimeout: 0,
      connectionsCheckingInterval: Math.min(1000, opts.headersTimeout),
      maxHeaderSize: MAX_HEADER_BYTES,
    };
    const listen = listenerFor(opts, opened);

    // One HTTPS server and one plain-HTTP one behind the HTTPS port, fed by a listener per address
    // that looks at each connection's first byte.
    let httpsPort = 0;
    const redirect: http.RequestListener = (req, res) => redirectToHttps(req, res, httpsPort, opts.publicHost);
    const httpsListener: EntryListener = { proto: 'https', port: 0, httpsPort: 0 };
    const tlsServer = prepareFedServer(createTlsServer(certificate, opts, timeouts));
    await applyCertificateUpdates(tlsServer, certificate);
    // A listener's requests and upgrades, proxied with what the app is told about that listener.
    // The inspector's name is dev-https' own, on every listener: never proxied.
    const proxied = (listener: EntryListener): [WebHandler, UpgradeHandler] => [
      (req, res) => (inspector.claims(req) ? inspector.web(req, res, listener) : proxy.web(req, res, listener)),
      (req, socket, head) => (inspector.claims(req) ? inspector.upgrade(req, socket) : proxy.ws(req, socket, head, listener)),
    ];
    serve(tlsServer, guard, 'https', ...proxied(httpsListener));
    const plainOnTlsPort = prepareFedServer(http.createServer(timeouts));
    serve(plainOnTlsPort, guard, 'http', redirect, refuseUpgrade, true);
    opened.fed.push(tlsServer, plainOnTlsPort);
    httpsPort = await listen(opts.port, '--port', (socket) => dispatchByFirstByte(socket, tlsServer, plainOnTlsPort, opts.headersTimeout));
    httpsListener.port = httpsListener.httpsPort = httpsPort;

    let httpPort: number | null = null;
    if (opts.httpPort !== null) {
      const httpListener: EntryListener = { proto: 'http', port: 0, httpsPort };
      const httpServer = prepareFedServer(http.createServer(timeouts));
      if (opts.redirectHttp) serve(httpServer, guard, 'http', redirect, refuseUpgrade);
      else serve(httpServer, guard, 'http', ...proxied(httpListener));
      opened.fed.push(httpServer);
      httpPort = httpListener.port = await listen(opts.httpPort, '--http-port', (socket) => {
        socket.on('error', () => socket.destroy());
        httpServer.emit('connection', socket);
      });
    }

    warnAboutReach(opts, logger);
    const urls = {
      https: `https://${opts.publicHost}:${httpsPort}/`,
      http: httpPort === null ? null : `http://${opts.publicHost}:${httpPort}/`,
    };
    const opening = openWhenAnswering(opts, target, urls.https);
    let closing: Promise<void> | null = null;
    return createHandle(opts, opened, certificate, target, urls, () => {
      opening.abort();
      return (closing ??= closeAll());
    });
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** The handle a start returns; `certificate` is read when asked, so it is the one served now. */
function createHandle(
  opts: ResolvedOptions,
  opened: Opened,
  certificate: CurrentCertificate,
  target: ResolvedTarget,
  urls: DevHttpsHandle['urls'],
  close: () => Promise<void>,
): DevHttpsHandle {
  return {
    get certificate() {
      return certificate.info();
    },
    urls,
    target: target.origin,
    demo: opened.demo !== null,
    inspector: inspectorHandle(opened.recorder, urls.https),
    redirectHttp: opts.redirectHttp,
    routes: opts.routes.map((r) => ({ match: r.match, target: r.target.origin })),
    addresses: [...new Set(opened.listening.map((s) => (s.address() as net.AddressInfo | null)?.address).filter((a): a is string => !!a))],
    networkAddresses: opts.exposed ? networkAddresses(opts.listenAddresses) : [],
    close,
  };
}

function inspectorHandle(recorder: Recorder | null, httpsUrl: string): InspectorHandle | null {
  if (!recorder) return null;
  const port = new URL(httpsUrl).port || '443';
  return {
    url: `https://${INSPECTOR_HOST}${port === '443' ? '' : `:${port}`}/`,
    recent: () => recorder.recent(),
    detail: (id) => recorder.detail(id),
    subscribe: (subscriber) => recorder.subscribe(subscriber),
  };
}

/** The inspector's "Run dev-https check": the check of the app (and its routes) at one path. */
function checkRunner(opts: ResolvedOptions, target: ResolvedTarget): CheckRunner {
  return async (path) => {
    // Loaded when asked: check.ts starts a dev-https of its own (this module).
    const { formatCheckReport, runCheck } = await import('../check/check.js');
    const report = await runCheck({
      target: target.origin,
      routes: opts.routes.map((r) => `${r.match}=${r.target.origin}`),
      paths: [path],
      certDir: opts.certDir,
    });
    return { text: formatCheckReport(report), ok: report.ok, score: report.score };
  };
}

/** The built-in demo app on a free loopback port: the target when none is given. */
async function startDemo(opened: Opened): Promise<ResolvedTarget> {
  const demo = (opened.demo = createDemoApp());
  const { port } = await listenAll({ create: () => demo, addresses: ['127.0.0.1'], port: 0, flag: 'demo app' });
  return { origin: `http://127.0.0.1:${port}`, hostname: '127.0.0.1', port };
}

/** Binds a listener per listen address on one port (returned), each connection tracked and handed to `onSocket`. */
function listenerFor(opts: ResolvedOptions, opened: Opened) {
  return async (port: number, flag: string, onSocket: (socket: net.Socket) => void): Promise<number> => {
    const listening = await listenAll({
      addresses: opts.listenAddresses,
      port,
      flag,
      create: () => {
        // No Nagle: a response written in pieces (chunked, streamed, SSE) leaves at once, not 40 ms
        // later when the client's delayed ACK arrives.
        const server = net.createServer({ noDelay: true }, (socket) => {
          opened.sockets.add(socket);
          socket.once('close', () => opened.sockets.delete(socket));
          onSocket(socket);
        });
        opened.listening.push(server);
        return server.on('error', () => undefined);
      },
    });
    return listening.port;
  };
}

/** Says when requests can reach further than this machine, naming where the setting came from. */
function warnAboutReach(opts: ResolvedOptions, logger: Logger): void {
  // A target elsewhere gets every request of your browser tabs on localhost, cookies included,
  // over plain HTTP (a repository's config can set it).
  if (opts.target && !isLoopbackName(opts.target.hostname) && !machineAddresses().includes(opts.target.hostname.toLowerCase())) {
    logger.warn(
      `${settingText(opts.origins, 'target', '--target', opts.target.origin)}: the app is not on this machine, so your requests to dev-https, cookies included, go to ${opts.target.hostname} over plain HTTP`,
    );
  }
  if (opts.exposed) {
    logger.warn(
      `${settingText(opts.origins, 'host', '--host', opts.listenAddresses.join(', '))}: dev-https and your app are now reachable from the network, not only from this machine`,
    );
  }
}

/** The browser opens once the app answers (its start-up may take a while), not before; abort to give up. */
function openWhenAnswering(opts: ResolvedOptions, target: ResolvedTarget, url: string): AbortController {
  const opening = new AbortController();
  if (opts.open) {
    void waitUntilAccepting(target.hostname, target.port, opening.signal).then((ready) => {
      if (ready) void openBrowser(url, opts.logger);
    });
  }
  return opening;
}

async function closeOpened(opened: Opened, certificate: CurrentCertificate): Promise<void> {
  await certificate.close();
  opened.recorder?.close();
  opened.inspector?.close();
  // Upgraded sockets first: server.close() would wait for them.
  opened.proxy?.close();
  for (const socket of opened.sockets) socket.destroy();
  await Promise.all([...opened.listening, ...opened.fed].map((s) => closeServer(s)));
  if (opened.demo) await closeServer(opened.demo);
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    // A dev server stops now: open keep-alive connections and streams are cut, not waited for.
    (server as http.Server).closeAllConnections?.();
    // Also for the servers that never listened: close() stops their connection checks.
    server.close(() => resolve());
  });
}
