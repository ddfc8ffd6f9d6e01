// Address blocks (src/net/cidr.ts): what the edge policy's allow/deny lists and per-address
// limits stand on. A mistake here is an address that walks past a deny, or a host that walks
// around a per-address limit through its own addresses.
import t from 'tap';
import fc from 'fast-check';
import { CidrList, addressKey, formatCidr, parseCidr } from '../../src/net/cidr.js';

t.test('parseCidr reads IPv4 and IPv6 blocks; a bare address is a block of one', async (t) => {
  t.same(parseCidr('203.0.113.0/24'), { address: '203.0.113.0', prefix: 24, family: 'ipv4' });
  t.same(parseCidr('2001:DB8::/32'), { address: '2001:db8::', prefix: 32, family: 'ipv6' }, 'IPv6 text is lower-cased');
  t.same(parseCidr('10.0.0.1'), { address: '10.0.0.1', prefix: 32, family: 'ipv4' });
  t.same(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6' });
  t.same(parseCidr('0.0.0.0/0'), { address: '0.0.0.0', prefix: 0, family: 'ipv4' });
  t.same(parseCidr('::/0'), { address: '::', prefix: 0, family: 'ipv6' });
  t.same(parseCidr(' 198.51.100.0/24 '), { address: '198.51.100.0', prefix: 24, family: 'ipv4' }, 'surrounding blanks are trimmed');
  t.equal(formatCidr(parseCidr('10.0.0.1')), '10.0.0.1/32', 'the prefix is always written');
  t.equal(formatCidr(parseCidr('2001:db8::1')), '2001:db8::1/128');
});

t.test('parseCidr refuses bad prefixes and junk with BAD_CIDR and a message naming the input', async (t) => {
  const badPrefix = ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0.0/1e1', '10.0.0.0/ 8', '10.0.0.0/0x8', '10.0.0.0/1000'];
  for (const text of badPrefix) {
    t.throws(() => parseCidr(text), { code: 'BAD_CIDR', message: /prefix length/ }, text);
    t.throws(() => parseCidr(text), { message: new RegExp(JSON.stringify(text).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')) }, `${text}: named`);
  }
  const junk = ['', ' ', 'example.com', '10.0.0', '10.0.0.256', '10.0.0.256/8', '/8', 'garbage/24', '1.2.3.4.5', ':::1', '2001:db8::g/32', '10.0.0.1:80', '[::1]/128'];
  for (const text of junk) t.throws(() => parseCidr(text), { code: 'BAD_CIDR', message: /expected an address block/ }, JSON.stringify(text));
});

t.test('CidrList.has: IPv4 blocks, their IPv4-mapped IPv6 forms, IPv6 blocks', async (t) => {
  const v4 = CidrList.parse(['10.0.0.0/8', '192.0.2.7']);
  t.ok(v4.has('10.1.2.3'));
  t.ok(v4.has('10.255.255.255'));
  t.notOk(v4.has('11.0.0.1'));
  t.ok(v4.has('192.0.2.7'), 'a bare address is in its block of one');
  t.notOk(v4.has('192.0.2.8'), 'and its neighbour is not');
  // A dual-stack listener reports IPv4 clients this way: a deny must not be walked around by it.
  t.ok(v4.has('::ffff:10.1.2.3'), 'IPv4-mapped, dotted tail');
  t.ok(v4.has('::FFFF:10.1.2.3'), 'IPv4-mapped, upper case');
  t.ok(v4.has('::ffff:a01:203'), 'IPv4-mapped, hex tail');
  t.ok(v4.has('0:0:0:0:0:ffff:a01:203'), 'IPv4-mapped, written out');
  t.notOk(v4.has('::ffff:11.0.0.1'), 'a mapped address outside the block');
  t.notOk(v4.has('2001:db8::1'), 'an IPv6 address is in no IPv4 block');

  const v6 = CidrList.parse(['2001:db8::/32', 'fe80::1']);
  t.ok(v6.has('2001:db8:ffff:1::1'));
  t.ok(v6.has('2001:0DB8::'));
  t.notOk(v6.has('2001:db9::1'));
  t.ok(v6.has('fe80::1'));
  t.notOk(v6.has('fe80::2'));
  t.notOk(v6.has('10.0.0.1'), 'an IPv4 address is in no IPv6 block outside ::ffff:0:0/96');

  const host = CidrList.parse(['10.0.0.1/8']);
  t.ok(host.has('10.200.0.1'), 'host bits in the written address do not narrow the block');

  for (const notAddress of ['', 'localhost', '10.0.0', '10.1.2.3:80', '[::1]', '?', 'undefined']) {
    t.notOk(v4.has(notAddress), `${JSON.stringify(notAddress)} is in no block (and does not throw)`);
    t.notOk(CidrList.parse(['0.0.0.0/0', '::/0']).has(notAddress), `${JSON.stringify(notAddress)} is not even in /0`);
  }
});

t.test('an empty list holds nothing; a list reports its blocks as prefix-written text', async (t) => {
  const empty = CidrList.parse([]);
  t.equal(empty.size, 0);
  for (const ip of ['10.0.0.1', '::1', '::ffff:1.2.3.4', '0.0.0.0']) t.notOk(empty.has(ip), ip);
  const l = CidrList.parse(['10.0.0.1', '2001:DB8::/32']);
  t.equal(l.size, 2);
  t.same(l.toJSON(), ['10.0.0.1/32', '2001:db8::/32']);
  t.same(JSON.parse(JSON.stringify({ l })), { l: ['10.0.0.1/32', '2001:db8::/32'] });
  t.throws(() => CidrList.parse(['10.0.0.0/8', 'nope']), { code: 'BAD_CIDR' }, 'one bad block refuses the list');
});

t.test('addressKey: IPv4 as is, every IPv4-mapped spelling as its IPv4 address', async (t) => {
  t.equal(addressKey('1.2.3.4'), '1.2.3.4');
  t.equal(addressKey('203.0.113.255'), '203.0.113.255');
  for (const mapped of ['::ffff:1.2.3.4', '::FFFF:1.2.3.4', '0:0:0:0:0:ffff:102:304', '::ffff:102:304', '0:0:0:0:0:ffff:1.2.3.4', '0000:0000:0000:0000:0000:ffff:0102:0304', '::0:ffff:102:304']) {
    t.equal(addressKey(mapped), '1.2.3.4', mapped);
  }
  t.equal(addressKey('::ffff:255.255.255.255'), '255.255.255.255');
  t.equal(addressKey('::ffff:0.0.0.0'), '0.0.0.0');
  t.not(addressKey('::ffff:1.2.3.4'), addressKey('::ffff:1.2.3.5'), 'two mapped addresses are two keys');
});

t.test('addressKey: IPv6 by its /64, whatever the spelling', async (t) => {
  const k = addressKey('2001:db8:1:2:3:4:5:6');
  t.equal(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), k, 'same /64, other interface id');
  t.equal(addressKey('2001:db8:1:2::'), k, ':: at the end');
  t.equal(addressKey('2001:db8:1:2::1'), k, ':: in the middle');
  t.equal(addressKey('2001:0db8:0001:0002:0000:0000:0000:0001'), k, 'leading zeros written');
  t.equal(addressKey('2001:DB8:1:2::abcd'), k, 'upper case');
  t.equal(addressKey('2001:db8:1:2:3:4:1.2.3.4'), k, 'an embedded IPv4 tail');
  t.not(addressKey('2001:db8:1:3::1'), k, 'the next /64 is another key');
  t.not(addressKey('2001:db8:0:1:2::'), k, 'a /64 that only differs in where the groups fall');
  t.equal(addressKey('2001:db8::1'), addressKey('2001:db8:0:0:1::'), 'compressed zeros in the upper half');
  t.equal(addressKey('::1'), addressKey('::'), 'the first /64');
  t.equal(addressKey('::1'), addressKey('0:0:0:0:1:2:3:4'));
  t.equal(addressKey('64:ff9b::1.2.3.4'), addressKey('64:ff9b::5.6.7.8'), 'NAT64 addresses (embedded tail, not mapped) share their /64');
  t.equal(addressKey('64:ff9b::1.2.3.4'), addressKey('64:ff9b:0:0:0:0:102:304'));
  t.not(addressKey('::1'), addressKey('0.0.0.1'), 'an IPv6 key never collides with an IPv4 one');
  t.notMatch(addressKey('2001:db8:1:2::1'), /^\d+\.\d+\.\d+\.\d+$/, 'an IPv6 /64 key does not look like an IPv4 address');
});

// Eight 16-bit groups, spelled many ways: Node's own compressed form (via URL), written out with
// and without leading zeros, upper case.
const group = fc.integer({ min: 0, max: 0xffff });
const groups4 = fc.tuple(group, group, group, group);
function spell(g: number[], style: number): string {
  const full = g.map((x) => x.toString(16)).join(':');
  switch (style % 4) {
    case 0: return full;
    case 1: return g.map((x) => x.toString(16).padStart(4, '0')).join(':');
    case 2: return new URL(`http://[${full}]/`).hostname.slice(1, -1); // WHATWG's compressed form
    default: return full.toUpperCase();
  }
}
/** The IPv4-mapped block ::ffff:0:0/96 is keyed as IPv4 on purpose: leave it out of /64 properties. */
const mapped = (g: number[]): boolean => g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff;

t.test('property: two IPv6 addresses with the same first 64 bits have the same key', async (t) => {
  fc.assert(
    fc.property(groups4, groups4, groups4, fc.nat(), fc.nat(), (hi, loA, loB, sa, sb) => {
      const a = [...hi, ...loA];
      const b = [...hi, ...loB];
      fc.pre(!mapped(a) && !mapped(b));
      return addressKey(spell(a, sa)) === addressKey(spell(b, sb));
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 pairs');
});

t.test('property: IPv6 addresses in different /64s have different keys', async (t) => {
  fc.assert(
    fc.property(groups4, groups4, groups4, fc.nat(), fc.nat(), (hiA, hiB, lo, sa, sb) => {
      fc.pre(hiA.some((x, i) => x !== hiB[i]));
      const a = [...hiA, ...lo];
      const b = [...hiB, ...lo];
      fc.pre(!mapped(a) && !mapped(b));
      return addressKey(spell(a, sa)) !== addressKey(spell(b, sb));
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 pairs');
});

t.test('property: an IPv4 address and each of its mapped spellings share one key', async (t) => {
  const byte = fc.integer({ min: 0, max: 255 });
  fc.assert(
    fc.property(byte, byte, byte, byte, fc.nat(), (a, b, c, d, style) => {
      const v4 = `${a}.${b}.${c}.${d}`;
      const g = [0, 0, 0, 0, 0, 0xffff, (a << 8) | b, (c << 8) | d];
      return addressKey(v4) === v4 && addressKey(`::ffff:${v4}`) === v4 && addressKey(spell(g, style)) === v4;
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 addresses');
});
