import t from 'tap';
import { LineDecoder, parseRegister, parseRegistered, encodeLine, ControlError } from '../../src/control/messages.js';

t.test('register round-trips and is validated', async (t) => {
  const m = { t: 'register' as const, tunnels: [{ id: 'tls:a.test', type: 'tls' as const, hostname: 'a.test' }, { id: 'tcp:x', type: 'tcp' as const, port: 0 }] };
  const line = encodeLine(m).toString().trimEnd();
  t.same(parseRegister(line), m);
  // Nothing to answer with: the message is a protocol error.
  const bad = [
    '{"t":"register","tunnels":[{"type":"tcp","port":1}]}',
    '{"t":"register","tunnels":[{"id":"a b","type":"tcp","port":1}]}',
    `{"t":"register","tunnels":[{"id":"${'a'.repeat(256)}","type":"tcp","port":1}]}`,
    '{"t":"register","tunnels":[7]}',
    `{"t":"register","tunnels":[${Array.from({ length: 4097 }, (_, i) => `{"id":"t${i}","type":"tcp","port":0}`).join(',')}]}`,
    '{"t":"register","tunnels":{}}',
    '{"t":"hello"}',
    '[1]',
    'not json',
  ];
  for (const b of bad) t.throws(() => parseRegister(b), ControlError, b.slice(0, 80));
});

t.test('a bad entry with a readable id is refused alone', async (t) => {
  const m = parseRegister(JSON.stringify({ t: 'register', tunnels: [
    { id: 'ok', type: 'tcp', port: 0 },
    { id: 'u', type: 'udp' },
    { id: 'p', type: 'tcp', port: 70000 },
    { id: 'ip', type: 'tls', hostname: '1.2.3.4' },
    { id: 'ok', type: 'tcp', port: 2 },
    { id: 'long', type: 'tls', hostname: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}` },
  ] }));
  t.same(m.tunnels.map((x) => ('refused' in x ? `${x.id}:${x.refused.code}` : x.id)),
    ['ok', 'u:BAD_REQUEST', 'p:BAD_REQUEST', 'ip:BAD_REQUEST', 'ok:DUPLICATE', 'long']);
  const many = parseRegister(JSON.stringify({ t: 'register', tunnels: Array.from({ length: 300 }, (_, i) => ({ id: `t${i}`, type: 'tcp', port: 0 })) }));
  t.equal(many.tunnels.length, 300, 'past 256 entries the message still parses; the relay refuses the excess one by one');
});

t.test('registered results are validated and truncated', async (t) => {
  const r = parseRegistered(JSON.stringify({ t: 'registered', tunnels: [
    { id: 'a', ok: true, type: 'tcp', port: 20001, address: 'relay.test:20001' },
    { id: 'b', ok: false, code: 'NOT_AUTHORIZED', message: 'x'.repeat(2000) },
  ] }));
  t.equal(r.tunnels.length, 2);
  t.equal((r.tunnels[1] as { message: string }).message.length, 500);
  t.throws(() => parseRegistered('{"t":"registered","tunnels":[{"id":"a","ok":true,"type":"tcp"}]}'), ControlError);
});

t.test('line decoder: any split, bounded lines', async (t) => {
  const text = Buffer.from('{"a":1}\n{"b":2}\n{"c":3}\n');
  for (let i = 1; i < text.length; i++) {
    const d = new LineDecoder(64);
    const lines = [...d.push(text.subarray(0, i)), ...d.push(text.subarray(i))];
    t.same(lines, ['{"a":1}', '{"b":2}', '{"c":3}'], `split at ${i}`);
  }
  const d = new LineDecoder(8);
  t.throws(() => { d.push(Buffer.from('12345')); d.push(Buffer.from('67890')); }, /line too long/);
});

t.test('what a relay says is printable ASCII before a person sees it', async (t) => {
  const r = parseRegistered(JSON.stringify({ t: 'registered', tunnels: [
    { id: 'a', ok: true, type: 'tls', hostname: 'a.test', url: 'https://a.test/\u001b]0;pwned\u0007' },
    { id: 'b', ok: false, code: 'X\u001b[2J', message: 'bad\nline\u009b' },
  ] }));
  t.equal((r.tunnels[0] as { url: string }).url, 'https://a.test/?]0;pwned?');
  t.equal((r.tunnels[1] as { code: string }).code, 'X?[2J');
  t.equal((r.tunnels[1] as { message: string }).message, 'bad?line?');
});
