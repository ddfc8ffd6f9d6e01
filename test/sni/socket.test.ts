// readClientHello over real loopback sockets, with a real TLS client where one fits.
import t from 'tap';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { readClientHello, SniError, unrecognizedNameAlert } from '../../src/sni/index.js';
import { loadFixture } from './helpers.js';
import { acceptQueue as server, activeTimers as timers, dial, listenerCounts } from '../helpers/net.js';


t.test('reads a hello sent in pieces, then the caller gets the rest', async (t) => {
  const { port, accepted } = await server(t);
  const hello = loadFixture('chromium.hex');
  const tail = Buffer.from('bytes after the hello');
  const c = dial(t, port, { noDelay: true });
  await once(c, 'connect');
  c.write(hello.subarray(0, 5));
  c.write(hello.subarray(5, 700));
  c.write(Buffer.concat([hello.subarray(700), tail]));
  c.end();

  const s = await accepted();
  const before = listenerCounts(s);
  const timersBefore = timers();
  const r = await readClientHello(s);
  t.equal(r.serverName, 'chromium.example.com');
  t.same(r.alpn, ['h2', 'http/1.1']);
  t.same(listenerCounts(s), before, 'listeners removed');
  t.ok(s.isPaused(), 'socket paused');
  t.equal(timers(), timersBefore, 'no timer left behind');
  // The caller forwards `bytes`, then reads the rest: nothing is lost or duplicated.
  const rest: Buffer[] = [];
  s.on('data', (d: Buffer) => rest.push(d));
  s.resume();
  await once(s, 'end');
  t.same(Buffer.concat([r.bytes, ...rest]), Buffer.concat([hello, tail]));
});

t.test('a real TLS client: its name is read, and it understands the unrecognized_name alert', async (t) => {
  const { port, accepted } = await server(t);
  const client = tlsConnect({ host: '127.0.0.1', port, servername: 'Real.Example.com', ALPNProtocols: ['h2', 'http/1.1'] });
  t.teardown(() => client.destroy());
  const clientError = once(client, 'error');
  const s = await accepted();
  const r = await readClientHello(s);
  t.equal(r.serverName, 'real.example.com');
  t.same(r.alpn, ['h2', 'http/1.1']);
  s.end(unrecognizedNameAlert());
  const [err] = (await clientError) as [NodeJS.ErrnoException];
  t.match(err.code, /UNRECOGNIZED_NAME/, `client saw the alert: ${err.code}`);
});

t.test('TIMEOUT when the hello stalls; listeners and timer gone', async (t) => {
  const { port, accepted } = await server(t);
  const c = dial(t, port, { noDelay: true });
  await once(c, 'connect');
  c.write(loadFixture('curl.hex').subarray(0, 100));
  const s = await accepted();
  const before = listenerCounts(s);
  const timersBefore = timers();
  const pending = readClientHello(s, { timeoutMs: 200 });
  t.equal(timers(), timersBefore + 1, 'the deadline is armed (so the count below means something)');
  await t.rejects(pending, { name: 'SniError', code: 'TIMEOUT' });
  t.same(listenerCounts(s), before, 'listeners removed');
  t.ok(s.isPaused(), 'socket paused');
  t.equal(timers(), timersBefore, 'no timer left behind');
});

t.test('NOT_TLS for plain HTTP on the TLS port', async (t) => {
  const { port, accepted } = await server(t);
  const c = dial(t, port, { noDelay: true });
  c.write('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n');
  const s = await accepted();
  const before = listenerCounts(s);
  const err = await readClientHello(s).catch((e: unknown) => e);
  t.type(err, SniError);
  t.equal((err as SniError).code, 'NOT_TLS');
  t.same(listenerCounts(s), before, 'listeners removed');
});

t.test('MALFORMED when the peer ends mid-hello; TOO_LARGE from the socket too', async (t) => {
  const { port, accepted } = await server(t);
  const c = dial(t, port, { noDelay: true });
  c.end(loadFixture('node.hex').subarray(0, 50));
  const s = await accepted();
  await t.rejects(readClientHello(s), { code: 'MALFORMED' });

  const c2 = dial(t, port, { noDelay: true });
  c2.write(loadFixture('chromium.hex'));
  const s2 = await accepted();
  await t.rejects(readClientHello(s2, { maxBytes: 1024 }), { code: 'TOO_LARGE' });
});
