// The suite's own reading of how a connection ended: the e2e tests' "never a clean end" rests on it.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { endingOf, listen, type Teardown } from './net.js';

/** A server that sends `bytes` bytes to each client, then ends it the way `how` says. */
async function server(t: Teardown, how: 'reset' | 'fin', bytes: number): Promise<number> {
  const s = net.createServer((c) => {
    c.on('error', () => {});
    c.write(Buffer.alloc(bytes, 1), () => setImmediate(() => (how === 'reset' ? c.resetAndDestroy() : c.end())));
  });
  return listen(s, t);
}

const client = (port: number): net.Socket => net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });

t.test('data then RST is a reset, though libuv reports it as end-of-file', async (t) => {
  const port = await server(t, 'reset', 1000);
  let throughEnd = 0;
  for (let i = 0; i < 20; i++) {
    const c = client(port);
    c.once('end', () => throughEnd++);
    t.equal(await endingOf(c), 'reset');
  }
  t.ok(throughEnd > 0, `the probe was needed: ${throughEnd} of 20 resets came as 'end'`);
});

t.test('an RST with no data before it is a reset', async (t) => {
  const port = await server(t, 'reset', 0);
  t.equal(await endingOf(client(port)), 'reset');
});

t.test('data then FIN is a clean end', async (t) => {
  const port = await server(t, 'fin', 1000);
  for (let i = 0; i < 5; i++) t.equal(await endingOf(client(port)), 'eof');
});

t.test('a socket without allowHalfOpen is refused: Node itself would fail the probe', async (t) => {
  const port = await server(t, 'fin', 0);
  const c = net.connect(port, '127.0.0.1');
  t.teardown(() => c.destroy());
  t.throws(() => endingOf(c), TypeError);
  await once(c, 'connect');
});
