// A socket reading into one reused buffer (Node's onread): ordinary events until a consumer
// claims the reads, then views of the buffer; pause, resume and end as on any socket.
import t, { type Test } from 'tap';
import { createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { createReusedBufferSocket, readsIntoReusedBuffer, setBytesHandler } from '../../src/net/reused-read-buffer.js';
import { listen } from '../helpers/net.js';

async function pair(t: Test, size: number): Promise<{ client: Socket; server: Socket }> {
  const server = createServer();
  const port = await listen(server, t);
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = createReusedBufferSocket(size, { allowHalfOpen: true });
  client.connect(port, '127.0.0.1');
  t.teardown(() => { client.destroy(); });
  const [peer] = await accepted;
  await once(client, 'connect');
  return { client, server: peer };
}

t.test('reads arrive as data events (copies) until a handler claims them, then as views', async (t) => {
  const { client, server } = await pair(t, 16);
  t.ok(readsIntoReusedBuffer(client));
  t.notOk(readsIntoReusedBuffer(server), 'an ordinary socket is not one');
  t.throws(() => setBytesHandler(server, () => {}), TypeError);

  const first = once(client, 'data');
  server.write('hello');
  const [chunk] = (await first) as [Buffer];
  t.equal(chunk.toString(), 'hello');

  // 40 bytes through a 16-byte buffer: several reads, each a view of the same memory.
  const views: Buffer[] = [];
  let text = '';
  const all = new Promise<void>((resolve) => {
    setBytesHandler(client, (view) => { views.push(view); text += view.toString(); if (text.length === 40) resolve(); });
  });
  client.on('data', () => t.fail('no data event once a handler is set'));
  server.write('x'.repeat(40));
  await all;
  t.equal(text, 'x'.repeat(40));
  t.ok(views.length >= 3, `${views.length} reads of at most 16 bytes`);
  t.ok(views.every((v) => v.length <= 16 && v.buffer === views[0].buffer), 'every read is a view of one buffer');
  t.equal(chunk.toString(), 'hello', 'the copy handed out earlier was not overwritten');
});

t.test('pause stops the reads, resume restarts them, and the peer FIN still ends the socket', async (t) => {
  const { client, server } = await pair(t, 64);
  let got = '';
  setBytesHandler(client, (view) => { got += view.toString(); });
  client.pause();
  // On loopback the bytes are in the client's receive queue once the write has completed; two
  // check phases later, one poll phase has passed in which a reading socket would have had them.
  await new Promise<void>((r) => server.write('while paused', () => r()));
  await new Promise<void>((r) => setImmediate(r));
  await new Promise<void>((r) => setImmediate(r));
  t.equal(got, '', 'nothing delivered while paused');
  const ended = once(client, 'end');
  client.resume();
  server.end(' then FIN');
  await ended;
  t.equal(got, 'while paused then FIN', 'everything, in order, before end');
});
