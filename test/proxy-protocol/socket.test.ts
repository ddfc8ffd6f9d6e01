// readProxyHeader over real loopback sockets: the header read, the bytes after it left on the
// socket for the next reader (a ClientHello reader here), listeners and timers gone.
import t from 'tap';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { encodeProxyHeader, readProxyHeader, ProxyProtocolError } from '../../src/proxy-protocol/index.js';
import { readClientHello } from '../../src/sni/index.js';
import { buildHello } from '../../src/bench/client-hello.js';
import { acceptQueue as server, activeTimers as timers, dial, listenerCounts } from '../helpers/net.js';


t.test('v2 header, then a ClientHello, in pieces: the hello reader sees exactly the hello', async (t) => {
  const { port, accepted } = await server(t);
  const header = encodeProxyHeader('v2', { source: { address: '203.0.113.9', port: 40000 }, destination: { address: '198.51.100.7', port: 443 }, authority: 'app.example.com' });
  const hello = buildHello({ serverName: 'app.example.com', alpn: ['h2'] });
  const after = Buffer.from('and bytes after the hello');
  const c = dial(t, port, { noDelay: true });
  await once(c, 'connect');
  // Split so that the header ends mid-chunk and the hello starts in the header's last chunk.
  const all = Buffer.concat([header, hello, after]);
  c.write(all.subarray(0, 10));
  c.write(all.subarray(10, header.length + 3));
  c.end(all.subarray(header.length + 3));

  const s = await accepted();
  const before = listenerCounts(s);
  const timersBefore = timers();
  const h = await readProxyHeader(s);
  t.match(h, { version: 2, command: 'proxy', source: { address: '203.0.113.9', port: 40000 }, destination: { address: '198.51.100.7', port: 443 } });
  t.notOk('rest' in h, 'the rest is on the socket, not in the result');
  t.same(listenerCounts(s), before, 'listeners removed');
  t.ok(s.isPaused(), 'socket paused');
  t.equal(timers(), timersBefore, 'no timer left behind');
  const r = await readClientHello(s);
  t.equal(r.serverName, 'app.example.com', 'the ClientHello reader read the hello that followed the header');
  const rest: Buffer[] = [];
  s.on('data', (d: Buffer) => rest.push(d));
  s.resume();
  await once(s, 'end');
  t.same(Buffer.concat([r.bytes, ...rest]), Buffer.concat([hello, after]), 'nothing lost or duplicated after the header');
});

t.test('v1 header and its data in one write; then a header with nothing after it', async (t) => {
  const { port, accepted } = await server(t);
  const c = dial(t, port, { noDelay: true });
  await once(c, 'connect');
  c.write('PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\nhello');
  const s = await accepted();
  const h = await readProxyHeader(s);
  t.same(h.source, { address: '2001:db8::1', port: 1 });
  s.resume();
  const [data] = (await once(s, 'data')) as [Buffer];
  t.equal(data.toString(), 'hello');

  const c2 = dial(t, port, { noDelay: true });
  await once(c2, 'connect');
  c2.write('PROXY UNKNOWN\r\n');
  const s2 = await accepted();
  const h2 = await readProxyHeader(s2);
  t.equal(h2.source, undefined);
  c2.end('later');
  s2.resume();
  const [later] = (await once(s2, 'data')) as [Buffer];
  t.equal(later.toString(), 'later', 'bytes that come after the header was read flow as usual');
});

t.test('TIMEOUT when the header stalls, BAD_HEADER on garbage and on an early end; nothing left behind', async (t) => {
  const { port, accepted } = await server(t);
  const cases: Array<[string, (c: Socket) => void, string, number?]> = [
    ['stalls', (c) => c.write('PROXY TCP4 1.2.3.4'), 'TIMEOUT', 200],
    ['garbage', (c) => c.write('GET / HTTP/1.1\r\n'), 'BAD_HEADER'],
    ['ends early', (c) => c.end('PROXY TCP4 1.2.3.4'), 'BAD_HEADER'],
    ['too long', (c) => c.write(Buffer.concat([encodeProxyHeader('v2', {}).subarray(0, 14), Buffer.from([0x09, 0x00])])), 'TOO_LARGE'],
  ];
  for (const [name, send, code, timeoutMs] of cases) {
    const c = dial(t, port, { noDelay: true });
    await once(c, 'connect');
    send(c);
    const s = await accepted();
    const before = listenerCounts(s);
    const timersBefore = timers();
    const err = await readProxyHeader(s, { timeoutMs: timeoutMs ?? 10_000 }).then(() => null, (e: unknown) => e);
    t.ok(err instanceof ProxyProtocolError, `${name}: ProxyProtocolError`);
    t.equal((err as ProxyProtocolError).code, code, `${name}: ${code}`);
    t.same(listenerCounts(s), before, `${name}: listeners removed`);
    t.equal(timers(), timersBefore, `${name}: no timer left behind`);
    s.destroy();
  }
});
