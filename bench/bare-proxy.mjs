// The least a Node HTTPS proxy can do: node:https with the same certificate, each request piped to
// the app over a keep-alive pool, no header handling at all. The baseline of the warm-start target
// (bench/start.mjs) and, in the shared benchmark (`node bench/run.mjs --ceiling`), the most that
// Node's own TLS and HTTP code allow. Usage: node bench/bare-proxy.mjs <port> <app port> <cert dir>
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
const [port, appPort, certDir] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true });
const server = https.createServer(
  { cert: fs.readFileSync(path.join(certDir, 'cert.pem')), key: fs.readFileSync(path.join(certDir, 'key.pem')) },
  (req, res) => {
    const upstream = http.request(
      { host: '127.0.0.1', port: Number(appPort), method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  },
);
server.listen(Number(port), '127.0.0.1');
