import t from 'tap';
import tls from 'node:tls';
import type net from 'node:net';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelayProcess, startAgent, portOf } from '../helpers/proc.js';
import { listen, makeCert, tempHome, type Teardown } from '../helpers/net.js';
import { openBrowser } from '../helpers/browser.js';
import { waitForLine } from '../helpers/pages.js';

const NAME = 'dash.example.test';
const TOKEN = 'feedface'.repeat(6);
const cert = makeCert([NAME]);
const service = tls.createServer({ key: cert.key, cert: cert.cert }, (s) => { s.on('error', () => {}); s.end('hello'); });

t.before(async () => { await listen(service, t); });

/** A relay with an admin token, and an agent serving NAME through it. */
async function setUp(t: Teardown, extra: string[] = []): Promise<{ base: string; tlsPort: number; relay: RelayProcess }> {
  const home = tempHome(t);
  const file = join(home, 'token');
  writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
  const relay = new RelayProcess(['serve', '--allow-any-agent', '--tls-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0',
    '--admin-token-file', file, '--no-warmup', ...extra], { RELAY_HOME: home });
  t.teardown(() => relay.stop('SIGKILL'));
  const ready = await relay.waitEvent('relay.ready');
  const agent = startAgent(t, ready, ['--tls', `${NAME}=127.0.0.1:${(service.address() as net.AddressInfo).port}`, '--inspect', 'off', '--no-warmup']);
  await agent.waitEvent('tunnel.ready');
  return { base: `http://127.0.0.1:${portOf(ready.admin)}`, tlsPort: portOf(ready.tls), relay };
}

async function connectThrough(tlsPort: number): Promise<void> {
  const s = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: NAME, rejectUnauthorized: false });
  s.on('error', () => {});
  s.resume();
  await once(s, 'close');
}

t.test('the data stream needs the token; the page and its assets do not, and hold no data', async (t) => {
  const { base } = await setUp(t);
  const refused = await fetch(`${base}/api/events`);
  t.equal(refused.status, 401, 'no token: 401');
  t.equal((await fetch(`${base}/api/events`, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status, 401, 'a wrong token: 401');
  const abort = new AbortController();
  const events = await fetch(`${base}/api/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: abort.signal });
  t.equal(events.status, 200);
  t.match(events.headers.get('content-type'), /^text\/event-stream/);
  const reader = events.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value as Uint8Array);
  t.match(first, /^event: hello\ndata: \{"samples":/, 'the stream opens with the history');
  abort.abort();
  const page = await fetch(`${base}/`);
  t.equal(page.status, 200, 'the page is served without the token');
  t.match(page.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'.*frame-ancestors 'none'/);
  t.equal(page.headers.get('x-content-type-options'), 'nosniff');
  t.notMatch(await page.text(), NAME, 'it carries no data');
  t.equal((await fetch(`${base}/assets/dashboard.js`)).status, 200);
  t.equal((await fetch(`${base}/api/tunnels`)).status, 401, 'the JSON API still needs it');
});

t.test('the dashboard in Chromium: token asked for, tunnel and agent listed, charts drawn, no console errors', async (t) => {
  const { base, tlsPort } = await setUp(t);
  const { page, errors } = await openBrowser(t);

  await t.test('without a stored token the page asks for it, then shows the relay', async (t) => {
    await page.goto(`${base}/`);
    await page.waitForSelector('#auth:not([hidden])');
    await page.fill('#token', TOKEN);
    await page.click('#auth button');
    await page.waitForSelector('#status.live');
    const row = await page.waitForSelector(`#tunnels tbody tr:has-text("${NAME}")`);
    t.match(await row.textContent(), /tls/);
    // Chromium reports the one 401 the page met before it had the token; nothing else.
    t.ok(errors.every((e) => /401/.test(e)), 'only the 401 of the first try');
    errors.length = 0;
  });

  await t.test('with the token in this tab a reload opens straight away, with no console error', async (t) => {
    await page.reload();
    await page.waitForSelector('#status.live');
    await page.waitForSelector(`#tunnels tbody tr:has-text("${NAME}")`);
    t.equal(await page.locator('#agents tbody tr').count(), 1, 'the agent');
    t.match(await page.textContent('#agents tbody tr'), /chachapoly/);
    for (let i = 0; i < 3; i++) await connectThrough(tlsPort);
    t.ok(await waitForLine(page, '#chart-conns') > 0, 'new connections drawn');
    t.ok(await waitForLine(page, '#chart-bytes') > 0, 'bytes drawn');
    t.same(errors, [], 'no console errors');
  });
});

t.test('with workers the dashboard shows the whole relay and which worker holds what', async (t) => {
  const { base } = await setUp(t, ['--workers', '2']);
  const { page, errors } = await openBrowser(t);
  await page.addInitScript(`sessionStorage.setItem('relay-admin-token', ${JSON.stringify(TOKEN)})`);
  await page.goto(`${base}/`);
  await page.waitForSelector('#workers-card:not([hidden])');
  t.equal(await page.locator('#workers tbody tr').count(), 2, 'both workers');
  const row = await page.waitForSelector(`#tunnels tbody tr:has-text("${NAME}")`);
  t.match(await row.textContent(), /\(worker [12]\)/, 'the pool member with its worker');
  t.same(errors, [], 'no console errors');
});
