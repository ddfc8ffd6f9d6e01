import t from 'tap';
import { LineDecoder, parseRegister, parseRegistered, parseUpdate, encodeLine, ControlError, MAX_TUNNEL_CIDRS, OPEN_META_VERSION, TUNNEL_ERROR_CODES, type RegisterMessage, type UpdateMessage } from '../../src/control/messages.js';

t.test('register round-trips and is validated', async (t) => {
  const m = { t: 'register' as const, tunnels: [{ id: 'tls:a.test', type: 'tls' as const, hostname: 'a.test' }, { id: 'tcp:x', type: 'tcp' as const, port: 0 }] };
  const line = encodeLine(m).toString().trimEnd();
  t.same(parseRegister(line), { ...m, meta: 1 }, 'a register without meta reads as layout 1');
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

// ---- edge policy in the control protocol: meta, per-entry allow/deny, updates, REVOKED ----

const register = (tunnels: unknown[], extra: Record<string, unknown> = {}): string => JSON.stringify({ t: 'register', ...extra, tunnels });
const outcome = (x: { id: string } & ({ refused: { code: string } } | object)): string => ('refused' in x ? `${x.id}:${x.refused.code}` : x.id);

t.test('register meta: absent is 1; a whole number from 1 is kept; anything else ends the session', async (t) => {
  const one = [{ id: 'a', type: 'tcp', port: 0 }];
  t.equal(parseRegister(register(one)).meta, 1, 'absent: layout 1 (an older agent)');
  t.equal(parseRegister(register(one, { meta: 2 })).meta, 2);
  t.equal(parseRegister(register(one, { meta: 7 })).meta, 7, 'a later layout is read as a number; the relay sends what it has');
  const m: RegisterMessage = { t: 'register', meta: OPEN_META_VERSION, tunnels: [{ id: 'a', type: 'tcp', port: 0 }] };
  t.equal(parseRegister(encodeLine(m).toString().trimEnd()).meta, OPEN_META_VERSION, 'what this agent sends round-trips');
  t.equal(OPEN_META_VERSION, 2);
  for (const meta of [0, -1, 1.5, '2', null, true, [], {}]) {
    t.throws(() => parseRegister(register(one, { meta })), ControlError, `meta ${JSON.stringify(meta)}`);
  }
  t.throws(() => parseRegister('{"t":"register","meta":1e400,"tunnels":[]}'), ControlError, 'meta past any number (Infinity)');
});

t.test('register allow/deny: valid lists are canonicalised to prefix-written blocks', async (t) => {
  const m = parseRegister(register([
    { id: 'web', type: 'tls', hostname: 'a.example.test', allow: ['10.0.0.1', '2001:DB8::/32', ' 198.51.100.0/24 '], deny: ['10.0.0.0/8'] },
    { id: 'ssh', type: 'tcp', port: 22, deny: ['::1'] },
    { id: 'none', type: 'tcp', port: 0 },
    { id: 'empty', type: 'tcp', port: 0, allow: [], deny: [] },
  ]));
  t.same(m.tunnels, [
    { id: 'web', type: 'tls', hostname: 'a.example.test', allow: ['10.0.0.1/32', '2001:db8::/32', '198.51.100.0/24'], deny: ['10.0.0.0/8'] },
    { id: 'ssh', type: 'tcp', port: 22, deny: ['::1/128'] },
    { id: 'none', type: 'tcp', port: 0 },
    { id: 'empty', type: 'tcp', port: 0, allow: [], deny: [] },
  ]);
  const max = Array.from({ length: MAX_TUNNEL_CIDRS }, (_, i) => `10.${i}.0.0/16`);
  const at = parseRegister(register([{ id: 'max', type: 'tcp', port: 0, allow: max, deny: max }])).tunnels[0];
  t.notOk('refused' in at, `${MAX_TUNNEL_CIDRS} blocks in each list are taken`);
});

t.test('a bad allow/deny refuses that entry alone, BAD_REQUEST, and the others pass', async (t) => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ['bad-block', { allow: ['10.0.0.0/33'] }],
    ['junk-block', { deny: ['example.com'] }],
    ['not-a-list', { allow: '10.0.0.0/8' }],
    ['an-object', { deny: { a: '10.0.0.0/8' } }],
    ['too-many', { allow: Array.from({ length: MAX_TUNNEL_CIDRS + 1 }, (_, i) => `10.${i}.0.0/16`) }],
    ['not-a-string', { deny: ['10.0.0.0/8', 7] }],
    ['null-entry', { allow: [null] }],
    ['too-long', { allow: [`${'0:'.repeat(40)}:1/128`] }],
    ['null-list', { deny: null }],
  ];
  const m = parseRegister(register([
    { id: 'first', type: 'tcp', port: 0, allow: ['10.0.0.0/8'] },
    ...bad.map(([id, policy]) => ({ id, type: 'tls', hostname: `${id}.example.test`, ...policy })),
    { id: 'last', type: 'tls', hostname: 'last.example.test', deny: ['2001:db8::/32'] },
  ]));
  t.same(m.tunnels.map(outcome), ['first', ...bad.map(([id]) => `${id}:BAD_REQUEST`), 'last']);
  for (const x of m.tunnels) {
    if ('refused' in x) t.match(x.refused.message, /^(allow|deny)\b/, `${x.id}: the message names the list (${x.refused.message})`);
  }
  t.same(m.tunnels[m.tunnels.length - 1], { id: 'last', type: 'tls', hostname: 'last.example.test', deny: ['2001:db8::/32'] });
});

t.test('update messages are read as registered ones are; anything but an update is refused', async (t) => {
  const u: UpdateMessage = { t: 'update', tunnels: [
    { id: 'web', ok: true, type: 'tls', hostname: 'a.example.test', url: 'https://a.example.test/' },
    { id: 'ssh', ok: false, code: 'REVOKED', message: 'this agent key may no longer claim port 20022' },
    { id: 'db', ok: true, type: 'tcp', port: 20001, address: 'relay.test:20001' },
  ] };
  t.same(parseUpdate(encodeLine(u).toString().trimEnd()), u, 'round-trips');
  t.same(parseUpdate('{"t":"update","tunnels":[]}'), { t: 'update', tunnels: [] }, 'an empty update is harmless');
  const results = JSON.stringify(u.tunnels);
  for (const kind of ['registered', 'register', 'Update', '', 'hello']) {
    t.throws(() => parseUpdate(`{"t":${JSON.stringify(kind)},"tunnels":${results}}`), ControlError, `t: ${kind}`);
  }
  t.throws(() => parseUpdate(`{"tunnels":${results}}`), ControlError, 'no t');
  t.throws(() => parseRegistered(encodeLine(u).toString().trimEnd()), ControlError, 'an update is not the registered answer');
  // The same result validation as registered: a hostile relay gets no further with an update.
  const bad = [
    '{"t":"update","tunnels":[{"id":"a","ok":true,"type":"tcp"}]}',
    '{"t":"update","tunnels":[{"id":"a","ok":true,"type":"tls","hostname":"a.test"}]}',
    '{"t":"update","tunnels":[{"id":"a","ok":false,"code":"REVOKED"}]}',
    '{"t":"update","tunnels":[{"id":"a","ok":"yes"}]}',
    '{"t":"update","tunnels":[{"id":"a b","ok":false,"code":"X","message":"y"}]}',
    '{"t":"update","tunnels":[{"id":"a","ok":false,"code":"X","message":"y"},{"id":"a","ok":false,"code":"X","message":"y"}]}',
    `{"t":"update","tunnels":[${Array.from({ length: 257 }, (_, i) => `{"id":"t${i}","ok":false,"code":"X","message":"y"}`).join(',')}]}`,
    '{"t":"update","tunnels":{}}',
    '{"t":"update"}',
    'not json',
  ];
  for (const b of bad) t.throws(() => parseUpdate(b), ControlError, b.slice(0, 80));
  const r = parseUpdate(JSON.stringify({ t: 'update', tunnels: [{ id: 'b', ok: false, code: 'REVOKED\u001b[2J', message: `${'x'.repeat(600)}\n` }] }));
  t.same(r.tunnels[0], { id: 'b', ok: false, code: 'REVOKED?[2J', message: 'x'.repeat(500) }, 'printable and truncated, as registered');
});

t.test('REVOKED is one of the tunnel error codes', async (t) => {
  t.ok((TUNNEL_ERROR_CODES as readonly string[]).includes('REVOKED'));
  t.equal(new Set(TUNNEL_ERROR_CODES).size, TUNNEL_ERROR_CODES.length, 'each code once (a metrics label value each)');
});
