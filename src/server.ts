// startDevHttps: certificate, HTTPS listener (and optional HTTP listener) in front of the app
// or the built-in demo, and a handle that closes it all.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { openBrowser } from './browser.js';
import { ensureCertificate, type CertificateFiles } from './cert.js';
import { createDemoApp } from './demo.js';
import { listenAll } from './listen.js';
import { resolveOptions, type DevHttpsOptions, type ResolvedTarget } from './options.js';
import { createProxy, type Proxy } from './proxy.js';
import { redirectToHttps } from './redirect.js';

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
  /** Addresses the listeners are bound to. */
  addresses: string[];
  /** The certificate served (its PEM text too, e.g. to trust it as `ca` in a client); never the key. */
  certificate: Omit<CertificateFiles, 'key'>;
  /** Stops listening, destroys open client, upgraded and pooled connections. Safe to call twice. */
  close(): Promise<void>;
}

export async function startDevHttps(options: DevHttpsOptions = {}): Promise<DevHttpsHandle> {
  const opts = resolveOptions(options);
  const { logger } = opts;
  const certificate = await ensureCertificate(opts.certDir, opts.certNames, logger);

  const servers: net.Server[] = [];
  let demo: http.Server | null = null;
  let proxy: Proxy | null = null;
  const closeAll = async () => {
    // Upgraded sockets first: server.close() would wait for them.
    proxy?.close();
    await Promise.all(servers.map((s) => closeServer(s)));
    if (demo) await closeServer(demo);
  };

  try {
    let target: ResolvedTarget;
    if (opts.target) {
      target = opts.target;
    } else {
      demo = createDemoApp();
      const { port } = await listenAll({ create: () => demo!, addresses: ['127.0.0.1'], port: 0, flag: 'demo app' });
      target = { origin: `http://127.0.0.1:${port}`, hostname: '127.0.0.1', port };
    }
    const p = (proxy = createProxy(target, logger, { keepHsts: opts.keepHsts }));

    const httpsListening = await listenAll({
      addresses: opts.listenAddresses,
      port: opts.port,
      flag: '--port',
      create: () => {
        const server = https.createServer({ key: certificate.key, cert: certificate.cert });
        servers.push(server);
        const listener = () => ({ proto: 'https' as const, port: httpsListening.port, httpsPort: httpsListening.port });
        return withHandlers(server, (req, res) => p.web(req, res, listener()), (req, socket, head) => p.ws(req, socket, head, listener()));
      },
    });
    const httpsPort = httpsListening.port;

    let httpPort: number | null = null;
    if (opts.httpPort !== null) {
      const httpListening = await listenAll({
        addresses: opts.listenAddresses,
        port: opts.httpPort,
        flag: '--http-port',
        create: () => {
          const server = http.createServer();
          servers.push(server);
          const listener = () => ({ proto: 'http' as const, port: httpListening.port, httpsPort });
          return opts.redirectHttp
            ? withHandlers(server, (req, res) => redirectToHttps(req, res, httpsPort, opts.publicHost), refuseUpgrade)
            : withHandlers(server, (req, res) => p.web(req, res, listener()), (req, socket, head) => p.ws(req, socket, head, listener()));
        },
      });
      httpPort = httpListening.port;
    }

    if (opts.exposed) {
      logger.warn(`--host ${opts.listenAddresses.join(', ')}: dev-https and your app are now reachable from the network, not only from this machine`);
    }
    const urls = {
      https: `https://${opts.publicHost}:${httpsPort}/`,
      http: httpPort === null ? null : `http://${opts.publicHost}:${httpPort}/`,
    };
    if (opts.open) void openBrowser(urls.https, logger);

    let closing: Promise<void> | null = null;
    return {
      urls,
      target: target.origin,
      demo: demo !== null,
      redirectHttp: opts.redirectHttp,
      addresses: [...new Set(servers.map((s) => (s.address() as net.AddressInfo | null)?.address).filter((a): a is string => !!a))],
      certificate: publicPart(certificate),
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

function publicPart({ key: _key, ...rest }: CertificateFiles): Omit<CertificateFiles, 'key'> {
  return rest;
}

type WebHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

function withHandlers<S extends http.Server>(server: S, web: WebHandler, upgrade: UpgradeHandler): S {
  // Uploads and downloads may take as long as they take; idle or slow headers still time out.
  server.requestTimeout = 0;
  server.on('request', web);
  server.on('upgrade', upgrade);
  server.on('error', () => undefined);
  return server;
}

/** WebSocket clients do not follow redirects: tell them where to go instead. */
function refuseUpgrade(_req: http.IncomingMessage, socket: Duplex): void {
  const body = 'This HTTP listener redirects to HTTPS (--redirect-http): connect with wss:// to the HTTPS port.\n';
  socket.on('error', () => socket.destroy());
  socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    // A dev server stops now: open keep-alive connections and streams are cut, not waited for.
    (server as http.Server).closeAllConnections?.();
  });
}
