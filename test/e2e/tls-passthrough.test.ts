import t from 'tap';
import https from 'node:https';
import http2 from 'node:http2';
import tls from 'node:tls';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { startDevRelay, startAgent, portOf } from '../helpers/proc.js';
import { makeCert, listen } from '../helpers/net.js';

const run = promisify(execFile);
const NAME = 'app.example.test';

// One relay, one agent, one HTTPS service with its own certificate: the relay never holds it.
const cert = makeCert([NAME, `h2.${NAME}`]);
const service = https.createServer({ key: cert.key, cert: cert.cert, ALPNProtocols: ['http/1.1'] }, (req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello from the service: ${req.method} ${req.url}\n`);
});
// WebSocket (RFC 6455 §4) by hand: the upgrade, then one unmasked text frame back.
service.on('upgrade', (req, socket) => {
  const accept = createHash('sha1').update(String(req.headers['sec-websocket-key']) + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  socket.write(Buffer.concat([Buffer.from([0x81, 5]), Buffer.from('hi ws')]));
  socket.end();
});

const h2 = http2.createSecureServer({ key: cert.key, cert: cert.cert, ALPNProtocols: ['h2'] }, (req, res) => {
  res.end(`h2 ok ${req.httpVersion}`);
});

t.before(async () => {
  await listen(service, t);
  await listen(h2, t);
});

t.test('TLS passthrough by SNI with real clients', async (t) => {
  const { ready } = await startDevRelay(t);
  const svcPort = (service.address() as net.AddressInfo).port;
  const h2Port = (h2.address() as net.AddressInfo).port;
  const agent = startAgent(t, ready, ['--tls', `${NAME}=127.0.0.1:${svcPort}`, '--tls', `h2.${NAME}=127.0.0.1:${h2Port}`]);
  const readyLine = await agent.waitEvent('tunnel.ready', (l) => l.hostname === NAME);
  await agent.waitEvent('tunnel.ready', (l) => l.hostname === `h2.${NAME}`);
  const port = portOf(ready.tls);
  t.equal(readyLine.type, 'tls');
  t.equal(readyLine.url, `https://${NAME}:${port}/`);

  t.test('curl --resolve, verifying the service certificate', async (t) => {
    const { stdout } = await run('curl', ['-sS', '--max-time', '20', '--resolve', `${NAME}:${port}:127.0.0.1`, '--cacert', cert.certPath, `https://${NAME}:${port}/path?q=1`]);
    t.equal(stdout, 'hello from the service: GET /path?q=1\n');
  });

  t.test('Node tls.connect sees the service certificate (fingerprint)', async (t) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: NAME, ca: cert.cert });
    await once(sock, 'secureConnect');
    t.equal(sock.getPeerCertificate().fingerprint256, cert.fingerprint256, 'the relay did not terminate TLS');
    sock.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let body = '';
    for await (const d of sock) body += d;
    t.match(body, /hello from the service/);
  });

  t.test('openssl s_client', async (t) => {
    const { stdout } = await run('sh', ['-c', `printf 'GET /o HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | openssl s_client -quiet -verify_return_error -connect 127.0.0.1:${port} -servername ${NAME} -CAfile ${cert.certPath} 2>/dev/null`]);
    t.match(stdout, /hello from the service: GET \/o/);
  });

  t.test('WebSocket over TLS', async (t) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: NAME, ca: cert.cert });
    await once(sock, 'secureConnect');
    sock.write(`GET /ws HTTP/1.1\r\nHost: ${NAME}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    let got = Buffer.alloc(0);
    for await (const d of sock) got = Buffer.concat([got, d as Buffer]);
    const text = got.toString('latin1');
    t.match(text, /^HTTP\/1\.1 101 /);
    t.match(text, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/, 'RFC 6455 §1.3 sample key → accept');
    t.ok(text.endsWith('\x81\x05hi ws'), 'the WebSocket frame arrives intact');
  });

  t.test('HTTP/2 (ALPN h2) through the same passthrough', async (t) => {
    const client = http2.connect(`https://127.0.0.1:${port}`, { ca: cert.cert, servername: `h2.${NAME}` });
    t.teardown(() => client.close());
    const req = client.request({ ':path': '/' });
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => { body += d; });
    await once(req, 'end');
    t.equal(body, 'h2 ok 2.0');
    t.equal((client.socket as tls.TLSSocket).alpnProtocol, 'h2');
  });

  t.test('unknown SNI gets a fatal unrecognized_name alert', async (t) => {
    const sock = tls.connect({ host: '127.0.0.1', port, servername: 'nobody.example.test', rejectUnauthorized: false });
    const [err] = await once(sock, 'error') as [Error & { code?: string }];
    t.match(err.code, /ERR_SSL_TLSV1_UNRECOGNIZED_NAME|ERR_SSL_TLSV1_ALERT_UNRECOGNIZED_NAME/, err.message);
  });

  t.test('no SNI gets the same alert', async (t) => {
    const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }); // an IP host: Node sends no SNI
    const [err] = await once(sock, 'error') as [Error & { code?: string }];
    t.match(err.code, /UNRECOGNIZED_NAME/, err.message);
  });

  t.test('plain HTTP is closed without a reply', async (t) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    let got = '';
    sock.on('data', (d: Buffer) => { got += d.toString(); });
    await once(sock, 'close');
    t.equal(got, '');
  });

  t.test('admin API lists the tunnels', async (t) => {
    const res = await fetch(`http://${String(ready.admin)}/api/tunnels`);
    const body = await res.json() as { tunnels: Array<{ type: string; hostname?: string; agents: unknown[] }> };
    const names = body.tunnels.map((x) => x.hostname).sort();
    t.same(names, [NAME, `h2.${NAME}`].sort());
    const metrics = await (await fetch(`http://${String(ready.admin)}/metrics`)).text();
    t.match(metrics, /relay_public_refused_total\{reason="unknown_name"\} [1-9]/);
    t.match(metrics, /relay_public_refused_total\{reason="not_tls"\} [1-9]/);
    t.equal((await fetch(`http://${String(ready.admin)}/healthz`)).status, 200);
  });
});
