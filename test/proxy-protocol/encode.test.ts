// The PROXY protocol writer: byte-exact vectors written by hand from HAProxy's
// doc/proxy-protocol.txt, the family rules (IPv4-mapped addresses), and a property test against
// an independent writer in Python (oracle.py, with Python's own address library).
import t from 'tap';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { encodeProxyHeader, ProxyHeaderReader, type ProxyHeaderFields } from '../../src/proxy-protocol/index.js';
import { runPython } from '../helpers/py.js';

const SIG = '0d0a0d0a000d0a515549540a';
const hex = (s: string) => s.replace(/\s+/g, '');
const v1 = (h: ProxyHeaderFields) => encodeProxyHeader('v1', h).toString('latin1');
const v2 = (h: ProxyHeaderFields) => encodeProxyHeader('v2', h).toString('hex');

t.test('byte-exact vectors', async (t) => {
  const tcp4 = { source: { address: '192.0.2.1', port: 56324 }, destination: { address: '198.51.100.7', port: 443 } };
  t.equal(v1(tcp4), 'PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n');
  t.equal(v2(tcp4), hex(`${SIG} 21 11 000c  c0000201 c6336407  dc04 01bb`));

  const tcp6 = { source: { address: '2001:db8::1', port: 1 }, destination: { address: '2001:db8::2', port: 443 }, alpn: 'h2', authority: 'app.example.com' };
  t.equal(v1(tcp6), 'PROXY TCP6 2001:db8::1 2001:db8::2 1 443\r\n', 'v1 has no room for TLVs');
  t.equal(v2(tcp6), hex(`${SIG} 21 21 003b
    20010db8000000000000000000000001 20010db8000000000000000000000002  0001 01bb
    01 0002 6832
    02 000f 6170702e6578616d706c652e636f6d`), 'TLVs: ALPN (0x01) then AUTHORITY (0x02)');

  t.equal(v1({}), 'PROXY UNKNOWN\r\n');
  t.equal(v2({}), hex(`${SIG} 20 00 0000`), 'v2 LOCAL, AF_UNSPEC, no address block');
  t.equal(v2({ authority: 'app.example.com' }), hex(`${SIG} 20 00 0012  02 000f 6170702e6578616d706c652e636f6d`), 'LOCAL still carries the name');
  t.equal(v2({ ...tcp4, alpn: '', authority: '' }), v2(tcp4), 'empty TLV values are left out');
  t.equal(v2({ ...tcp4, authority: 'bücher.example' }).slice(-2 * 'bücher.example'.length - 2), `${Buffer.from('bücher.example').toString('hex')}`, 'authority as UTF-8');
});

t.test('families: IPv4-mapped addresses, mixed families, missing or unusable ends', async (t) => {
  const v4 = { address: '192.0.2.1', port: 1000 };
  const mapped = { address: '::ffff:198.51.100.7', port: 443 };
  const v6 = { address: '2001:db8::7', port: 443 };
  t.equal(v1({ source: { address: '::ffff:192.0.2.1', port: 1000 }, destination: mapped }), 'PROXY TCP4 192.0.2.1 198.51.100.7 1000 443\r\n', 'both mapped: TCP4');
  t.equal(v1({ source: v4, destination: mapped }), 'PROXY TCP4 192.0.2.1 198.51.100.7 1000 443\r\n', 'one mapped, one IPv4: TCP4');
  t.equal(v1({ source: { address: '::FFFF:C000:201', port: 1000 }, destination: mapped }), 'PROXY TCP4 192.0.2.1 198.51.100.7 1000 443\r\n', 'mapped in hex, upper case: TCP4');
  t.equal(v2({ source: { address: '::ffff:192.0.2.1', port: 1000 }, destination: mapped }), hex(`${SIG} 21 11 000c c0000201 c6336407 03e8 01bb`));
  t.equal(v1({ source: v4, destination: v6 }), 'PROXY TCP6 ::ffff:192.0.2.1 2001:db8::7 1000 443\r\n', 'IPv6 with IPv4: the IPv4 end mapped');
  t.equal(v2({ source: v6, destination: v4 }), hex(`${SIG} 21 21 0024 20010db8000000000000000000000007 00000000000000000000ffffc0000201 01bb 03e8`));
  t.equal(v1({ source: { address: 'fe80::1%eth0', port: 5 }, destination: v6 }), 'PROXY TCP6 fe80::1 2001:db8::7 5 443\r\n', 'an IPv6 zone is dropped');
  t.equal(v1({ source: { address: '2001:0DB8:0000:0000:0001:0000:0000:0001', port: 5 }, destination: { address: '::', port: 0 } }),
    'PROXY TCP6 2001:db8::1:0:0:1 :: 5 0\r\n', 'IPv6 written as RFC 5952 says; port 0 is a port');
  for (const [why, h] of [
    ['no destination (a relay that sends none)', { source: v4 }],
    ['no source', { destination: v4 }],
    ['a host name is not an address', { source: { address: 'localhost', port: 1 }, destination: v4 }],
    ['an empty address', { source: { address: '', port: 1 }, destination: v4 }],
    ['a port out of range', { source: { address: '192.0.2.1', port: 65536 }, destination: v4 }],
    ['a port that is not whole', { source: { address: '192.0.2.1', port: 1.5 }, destination: v4 }],
  ] as const) {
    t.equal(v1(h), 'PROXY UNKNOWN\r\n', `${why}: v1 UNKNOWN`);
    t.equal(v2(h), hex(`${SIG} 20 00 0000`), `${why}: v2 LOCAL`);
  }
});

// Address text in the shapes senders meet: IPv4, IPv6 full or compressed in either case (zero
// groups made likely, so that `::` runs appear), IPv4-mapped in both notations, and non-addresses.
const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const ipv6 = fc.tuple(fc.array(group, { minLength: 8, maxLength: 8 }), fc.boolean(), fc.boolean()).map(([g, compress, upper]) => {
  const full = g.map((x) => x.toString(16).padStart(4, '0')).join(':');
  const text = compress ? new URL(`http://[${full}]/`).hostname.slice(1, -1) : full;
  return upper ? text.toUpperCase() : text;
});
const mapped = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255), fc.boolean()).map(([a, b, c, d, dotted]) =>
  (dotted ? `::ffff:${a}.${b}.${c}.${d}` : `::ffff:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`));
const address = fc.oneof({ arbitrary: ipv4, weight: 3 }, { arbitrary: ipv6, weight: 3 }, { arbitrary: mapped, weight: 2 }, { arbitrary: fc.constantFrom('localhost', '', '1.2.3', '01.2.3.4', '::ffff:1.2.3.256'), weight: 1 });
const port = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 65535 }), weight: 8 }, { arbitrary: fc.constantFrom(0, 65535, -1, 65536), weight: 1 });
const endpoint = fc.option(fc.record({ address, port }), { nil: undefined, freq: 8 });
const latin1 = fc.string({ unit: fc.integer({ min: 0x21, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 12 });
const fields = fc.record({
  source: endpoint,
  destination: endpoint,
  authority: fc.option(fc.oneof(fc.domain(), fc.string({ unit: 'grapheme', maxLength: 20 })), { nil: undefined }),
  alpn: fc.option(latin1, { nil: undefined }),
});

t.test('the same bytes as an independent writer, and what the reader reads back', async (t) => {
  const cases = fc.sample(fields, { numRuns: 400, seed: 12 });
  const expected = (await runPython(readFileSync(new URL('./oracle.py', import.meta.url), 'utf8'), [JSON.stringify(cases)])) as unknown as Array<{ v1: string; v2: string }>;
  t.equal(expected.length, cases.length);
  let mismatches = 0;
  let tcp4 = 0;
  let tcp6 = 0;
  cases.forEach((c, i) => {
    const a = encodeProxyHeader('v1', c);
    const b = encodeProxyHeader('v2', c);
    if (a.toString('hex') !== expected[i].v1 || b.toString('hex') !== expected[i].v2) {
      if (mismatches++ < 5) t.fail(`case ${JSON.stringify(c)}: got ${a.toString('latin1')} / ${b.toString('hex')}, oracle ${Buffer.from(expected[i].v1, 'hex').toString('latin1')} / ${expected[i].v2}`);
      return;
    }
    // What the reader makes of both: the same ends, named as the v1 line names them.
    const r1 = new ProxyHeaderReader().push(a)!;
    const r2 = new ProxyHeaderReader().push(b)!;
    const line = a.toString('latin1').trim().split(' ');
    const ends = line[1] === 'UNKNOWN' ? {} : { source: { address: line[2], port: Number(line[4]) }, destination: { address: line[3], port: Number(line[5]) } };
    if (line[1] === 'TCP4') tcp4++;
    if (line[1] === 'TCP6') tcp6++;
    if (JSON.stringify([r1.source, r1.destination, r2.source, r2.destination]) !== JSON.stringify([ends.source, ends.destination, ends.source, ends.destination])) {
      if (mismatches++ < 5) t.fail(`case ${JSON.stringify(c)}: read back ${JSON.stringify([r1, r2])}`);
    }
    if (r2.command !== (line[1] === 'UNKNOWN' ? 'local' : 'proxy')) mismatches++;
  });
  t.equal(mismatches, 0, `${cases.length} cases agree with the oracle`);
  // So that the agreement above means something: the sample covers both families and UNKNOWN.
  t.ok(tcp4 > 20 && tcp6 > 20 && cases.length - tcp4 - tcp6 > 20, `TCP4 ${tcp4}, TCP6 ${tcp6}, UNKNOWN ${cases.length - tcp4 - tcp6}`);
});
