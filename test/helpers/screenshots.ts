// Writes docs/img/dashboard.png and docs/img/inspector.png (README "Dashboard", "Inspector"):
// a development relay, an agent with a TLS and a TCP tunnel and its inspector, a minute of
// varied traffic, then the two pages in the tests' headless Chromium at 1000×700.
// Run by hand: `npm run build && npm run screenshots` (then optimise the PNGs if you like).
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startDevRelay, startAgent, portOf } from './proc.js';
import { freePort, listen, makeCert } from './net.js';
import { openBrowser } from './browser.js';

const out = (name: string): string => fileURLToPath(new URL(`../../docs/img/${name}`, import.meta.url));
const cleanups: Array<() => unknown> = [];
const t = { teardown: (fn: () => unknown) => { cleanups.push(fn); } };
const NAME = 'app.example.test';
/** The socket's close (events.once would reject on its error, which these clients expect). */
const closed = (s: net.Socket): Promise<void> => new Promise((r) => { s.once('close', () => r()); });

const cert = makeCert([NAME, `api.${NAME}`]);
const tlsService = tls.createServer({ key: cert.key, cert: cert.cert, ALPNProtocols: ['h2', 'http/1.1'] }, (s) => {
  s.on('error', () => {});
  s.on('data', () => {});
  s.end(Buffer.alloc(20_000 + Math.floor(Math.random() * 200_000), 0x61));
});
const tcpService = net.createServer({ allowHalfOpen: true }, (s) => {
  s.on('error', () => {});
  s.on('data', (c: Buffer) => { if (c[0] === 0x52) s.resetAndDestroy(); });
  s.on('end', () => s.end(Buffer.alloc(5_000, 0x62)));
});
const tlsPortLocal = await listen(tlsService, t);
const tcpPortLocal = await listen(tcpService, t);
const tcpPort = await freePort();
const { ready } = await startDevRelay(t, ['--tcp-ports', `${tcpPort}-${tcpPort}`, '--no-warmup']);
const agent = startAgent(t, ready, ['--tls', `${NAME}=127.0.0.1:${tlsPortLocal}`, '--tls', `api.${NAME}=127.0.0.1:${tlsPortLocal}`,
  '--tcp', `127.0.0.1:${tcpPortLocal}`, '--inspect', '127.0.0.1:0', '--no-warmup']);
const inspect = await agent.waitEvent('inspect.ready');
await agent.waitEvent('tunnel.ready', (l) => l.type === 'tcp');

async function tlsClient(name: string, alpn: string[]): Promise<void> {
  const s = tls.connect({ host: '127.0.0.1', port: portOf(ready.tls), servername: name, ALPNProtocols: alpn, rejectUnauthorized: false });
  s.on('error', () => {});
  s.resume();
  s.once('secureConnect', () => s.end('GET / HTTP/1.1\r\n\r\n'));
  await closed(s);
}
async function tcpClient(reset: boolean): Promise<void> {
  const s = net.connect({ host: '127.0.0.1', port: tcpPort, allowHalfOpen: true });
  s.on('error', () => {});
  s.resume();
  await once(s, 'connect');
  s.end(reset ? 'R' : 'x'.repeat(2_000));
  await closed(s);
}
// Unknown names make refusals for the dashboard's third chart.
async function refused(): Promise<void> {
  const s = tls.connect({ host: '127.0.0.1', port: portOf(ready.tls), servername: 'nobody.example.test', rejectUnauthorized: false });
  s.on('error', () => {});
  await closed(s);
}
for (let i = 0; i < 60; i++) {
  const jobs = [tlsClient(i % 3 === 0 ? `api.${NAME}` : NAME, i % 2 ? ['h2', 'http/1.1'] : ['http/1.1']), tcpClient(i % 17 === 5)];
  if (i % 7 === 0) jobs.push(refused());
  await Promise.all(jobs);
  await new Promise((r) => setTimeout(r, 400 + 300 * Math.sin(i / 5)));
}
const { page } = await openBrowser(t);
await page.goto(`http://${String(ready.admin)}/`);
await page.waitForSelector('#status.live');
await page.waitForSelector('#tunnels tbody tr');
await page.screenshot({ path: out('dashboard.png') });
await page.goto(`http://${String(inspect.address)}/`);
await page.waitForSelector('#connections tbody tr');
await page.screenshot({ path: out('inspector.png') });
for (const fn of cleanups.reverse()) await fn();
process.exit(0);
