// The stream id rules of docs/protocol.md "Frame header", without a session around them.
import t from 'tap';
import { StreamTable } from '../../src/mux/streams.js';

t.test('each side opens its own parity, strictly increasing', async (t) => {
  const client = new StreamTable('client');
  const server = new StreamTable('server');
  t.same([client.nextId(), client.nextId(), client.nextId()], [1, 3, 5]);
  t.same([server.nextId(), server.nextId()], [2, 4]);
});

t.test("a peer's OPEN must have the peer's parity and a new, higher id", async (t) => {
  const client = new StreamTable('client'); // its peer, the server, opens even ids
  t.notOk(client.acceptPeerId(0), 'id 0 is the session');
  t.notOk(client.acceptPeerId(3), 'our parity');
  t.ok(client.acceptPeerId(4));
  t.notOk(client.acceptPeerId(4), 'reused');
  t.notOk(client.acceptPeerId(2), 'lower than the last');
  t.ok(client.acceptPeerId(10), 'gaps are allowed');
});

t.test('an id once open is told apart from one never opened', async (t) => {
  const server = new StreamTable('server');
  server.nextId(); // 2
  server.nextId(); // 4
  server.acceptPeerId(7);
  for (const id of [2, 4, 1, 3, 5, 7]) t.ok(server.wasOpen(id), `${id} was open`);
  for (const id of [0, 6, 9]) t.notOk(server.wasOpen(id), `${id} never was`);
});

t.test('the ids run out at 2^32', async (t) => {
  const table = new StreamTable('server');
  t.notOk(table.exhausted);
  // White box: jump to the end rather than open 2^31 streams.
  (table as unknown as { nextLocalId: number }).nextLocalId = 0xfffffffe;
  const id = table.nextId();
  t.equal(id, 0xfffffffe, 'the last even id');
  t.ok(table.exhausted, 'and no more after it');
});
