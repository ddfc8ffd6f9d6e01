// The PROXY protocol reader: every header shape read back, every malformed shape refused with its
// code, as soon as the bytes allow, and the same answer however the bytes are split.
import t from 'tap';
import fc from 'fast-check';
import { DEFAULT_MAX_HEADER_BYTES, encodeProxyHeader, ProxyHeaderReader, ProxyProtocolError, PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, type ProxyHeader,
  type ProxyHeaderFields } from '../../src/proxy-protocol/index.js';

const SIG = '0d0a0d0a000d0a515549540a';
const v2hex = (s: string) => Buffer.from(SIG + s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s, 'latin1');

type Outcome = { kind: 'result'; header: ProxyHeader; pushed?: number } | { kind: 'more' } | { kind: 'error'; code: string; at: number };

/** Pushes `chunks` in order; `at`: the absolute offset of the last byte pushed when it threw. */
function feed(chunks: Buffer[], maxBytes?: number): Outcome {
  const r = new ProxyHeaderReader({ maxBytes });
  let pushed = 0;
  for (const c of chunks) {
    pushed += c.length;
    try {
      const h = r.push(c);
      if (h) return { kind: 'result', header: h, pushed };
    } catch (err) {
      if (!(err instanceof ProxyProtocolError)) throw err;
      return { kind: 'error', code: err.code, at: pushed - 1 };
    }
  }
  return { kind: 'more' };
}
const bytewise = (b: Buffer) => Array.from(b, (x) => Buffer.from([x]));
/** The outcome fed whole, without the error offset (whole, it is the chunk's end). */
const whole = (b: Buffer, maxBytes?: number) => summary(feed([b], maxBytes));
function summary(o: Outcome): unknown {
  if (o.kind === 'error') return { kind: 'error', code: o.code };
  if (o.kind === 'more') return o;
  const { tlvs, rest, ...h } = o.header;
  return { ...h, tlvs: [...tlvs].map(([k, v]) => [k, v.toString('hex')]), rest: rest.toString('hex') };
}

t.test('every shape, read back from the writer, in one chunk and byte by byte, with what follows', async (t) => {
  const v4 = { address: '192.0.2.1', port: 56324 };
  const v4b = { address: '198.51.100.7', port: 443 };
  const v6 = { address: '2001:db8::1', port: 1 };
  const v6b = { address: '2001:db8::2', port: 443 };
  const tlvs = { authority: 'app.example.com', alpn: 'h2' };
  const shapes: Array<[string, ProxyHeaderFields, Partial<ProxyHeader>, Partial<ProxyHeader>]> = [
    ['TCP4', { source: v4, destination: v4b }, { source: v4, destination: v4b }, { command: 'proxy', source: v4, destination: v4b }],
    ['TCP6', { source: v6, destination: v6b }, { source: v6, destination: v6b }, { command: 'proxy', source: v6, destination: v6b }],
    ['mapped both ends: TCP4', { source: { address: '::ffff:192.0.2.1', port: 56324 }, destination: { address: '::ffff:198.51.100.7', port: 443 } },
      { source: v4, destination: v4b }, { source: v4, destination: v4b }],
    ['IPv6 and IPv4: TCP6, mapped', { source: v6, destination: v4b }, { source: v6, destination: { address: '::ffff:198.51.100.7', port: 443 } },
      { source: v6, destination: { address: '::ffff:198.51.100.7', port: 443 } }],
    ['no ends: UNKNOWN / LOCAL', {}, { command: 'proxy' }, { command: 'local' }],
    ['TCP4 with TLVs', { source: v4, destination: v4b, ...tlvs }, { source: v4, destination: v4b }, { source: v4, destination: v4b }],
    ['TCP6 with TLVs', { source: v6, destination: v6b, ...tlvs }, { source: v6, destination: v6b }, { source: v6, destination: v6b }],
    ['LOCAL with TLVs', { ...tlvs }, {}, { command: 'local' }],
  ];
  const tail = Buffer.from('\x16\x03\x01 and the rest of the stream');
  for (const [name, fields, want1, want2] of shapes) {
    for (const version of ['v1', 'v2'] as const) {
      const header = encodeProxyHeader(version, fields);
      const bytes = Buffer.concat([header, tail]);
      const one = feed([bytes]);
      const each = feed(bytewise(header));
      if (one.kind !== 'result' || each.kind !== 'result') { t.fail(`${name} ${version}: ${JSON.stringify([one, each])}`); continue; }
      t.match(one.header, { version: version === 'v1' ? 1 : 2, command: 'proxy', ...(version === 'v1' ? want1 : want2) }, `${name} ${version}`);
      if (!(version === 'v1' ? want1 : want2).source) t.notOk(one.header.source ?? one.header.destination, `${name} ${version}: no addresses`);
      t.same(one.header.rest, tail, `${name} ${version}: the bytes after the header are the rest`);
      t.equal(each.header.rest.length, 0, `${name} ${version}: byte by byte, the header ends on its last byte`);
      t.same(summary({ ...each, header: { ...each.header, rest: tail } }), summary(one), `${name} ${version}: the same header either way`);
      const wantTlvs = version === 'v2' && fields.authority ? [[PP2_TYPE_ALPN, 'h2'], [PP2_TYPE_AUTHORITY, 'app.example.com']] : [];
      t.same([...one.header.tlvs].map(([k, v]) => [k, v.toString()]), wantTlvs, `${name} ${version}: TLVs`);
    }
  }
});

t.test('valid shapes other senders write', async (t) => {
  const cases: Array<[string, Buffer, unknown]> = [
    ['v1 UNKNOWN with addresses (ignored)', ascii('PROXY UNKNOWN ffff:f:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n'), { version: 1, command: 'proxy' }],
    ['v1 TCP6 written long and upper-case', ascii('PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 0:0:0:0:0:0:0:1 65535 0\r\n'),
      { source: { address: '2001:db8::1', port: 65535 }, destination: { address: '::1', port: 0 } }],
    ['v1 TCP6 with IPv4-mapped addresses', ascii('PROXY TCP6 ::ffff:192.0.2.1 ::ffff:c633:6407 1 2\r\n'),
      { source: { address: '::ffff:192.0.2.1', port: 1 }, destination: { address: '::ffff:198.51.100.7', port: 2 } }],
    ['v2 PROXY AF_UNSPEC: no addresses', v2hex('21 00 0000'), { version: 2, command: 'proxy' }],
    ['v2 LOCAL with an AF_INET block: ignored', v2hex('20 11 000c c0000201 c6336407 0001 0002'), { version: 2, command: 'local' }],
    ['v2 PROXY over DGRAM: not ours, no addresses', v2hex('21 12 000c c0000201 c6336407 0001 0002'), { version: 2, command: 'proxy' }],
    ['v2 PROXY AF_UNIX: no addresses', Buffer.concat([v2hex('21 31 00d8'), Buffer.alloc(216)]), { version: 2, command: 'proxy' }],
    ['v2 NOOP TLVs skipped, any number, unknown TLVs kept', v2hex('21 11 0018 c0000201 c6336407 0001 0002  04 0000  e0 0002 abcd  04 0001 00'),
      { source: { address: '192.0.2.1', port: 1 }, destination: { address: '198.51.100.7', port: 2 } }],
  ];
  for (const [name, bytes, want] of cases) {
    const o = feed([bytes]);
    if (o.kind !== 'result') { t.fail(`${name}: ${JSON.stringify(o)}`); continue; }
    t.match(o.header, want, name);
    if (!(want as { source?: unknown }).source) t.equal(o.header.source, undefined, `${name}: no source`);
    t.same(summary(feed(bytewise(bytes))), summary(o), `${name}: byte by byte`);
  }
  const noop = feed([v2hex('21 11 0018 c0000201 c6336407 0001 0002  04 0000  e0 0002 abcd  04 0001 00')]);
  t.same(noop.kind === 'result' && [...noop.header.tlvs], [[0xe0, Buffer.from('abcd', 'hex')]]);
});

t.test('every malformed shape refused with its code, as soon as the bytes tell', async (t) => {
  const longV1 = (n: number) => ascii(`PROXY UNKNOWN ${'a'.repeat(n)}\r\n`);
  t.equal(longV1(91).length, 107);
  t.equal(feed([longV1(91)]).kind, 'result', 'a 107-byte v1 line is taken');
  // [name, bytes, code, offset of the byte that decides (byte by byte), maxBytes]
  const cases: Array<[string, Buffer, string, number, number?]> = [
    ['plain HTTP', ascii('GET / HTTP/1.1\r\n\r\n'), 'BAD_HEADER', 0],
    ['a TLS ClientHello', Buffer.from('160301', 'hex'), 'BAD_HEADER', 0],
    ['PROXY without its space', ascii('PROXY\r\n'), 'BAD_HEADER', 5],
    ['lower-case proxy', ascii('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'BAD_HEADER', 0],
    ['v2 signature wrong at its last byte', Buffer.from('0d0a0d0a000d0a515549540b', 'hex'), 'BAD_HEADER', 11],
    ['v2 signature wrong at its 5th byte', Buffer.from('0d0a0d0a01', 'hex'), 'BAD_HEADER', 4],
    ['v1: LF without CR', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), 'BAD_HEADER', 30],
    ['v1: CR without LF', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'), 'BAD_HEADER', 31],
    ['v1: a NUL in the line', ascii('PROXY TCP4 1.2.3.4\x00'), 'BAD_HEADER', 18],
    ['v1: a byte past US-ASCII', ascii('PROXY UNKNOWN \xe9\r\n'), 'BAD_HEADER', 14],
    ['v1: 108 bytes', longV1(92), 'TOO_LARGE', 105],
    ['v1: no CRLF at all', ascii(`PROXY ${'x'.repeat(300)}`), 'TOO_LARGE', 105],
    ['v1: over maxBytes', ascii('PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n'), 'TOO_LARGE', 28, 30],
    ['v1: unknown protocol', ascii('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'), 'BAD_HEADER', 31],
    ['v1: UNKNOWN glued to more', ascii('PROXY UNKNOWNX\r\n'), 'BAD_HEADER', 15],
    ['v1: empty', ascii('PROXY \r\n'), 'BAD_HEADER', 7],
    ['v1: three addresses', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), 'BAD_HEADER', 29],
    ['v1: a field too many', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'), 'BAD_HEADER', 33],
    ['v1: two spaces', ascii('PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n'), 'BAD_HEADER', 32],
    ['v1: trailing space', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'), 'BAD_HEADER', 32],
    ['v1: port with a leading zero', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'), 'BAD_HEADER', 32],
    ['v1: port 65536', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), 'BAD_HEADER', 35],
    ['v1: port with a sign', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n'), 'BAD_HEADER', 32],
    ['v1: port in hex', ascii('PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n'), 'BAD_HEADER', 33],
    ['v1: IPv4 with a leading zero', ascii('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'), 'BAD_HEADER', 32],
    ['v1: IPv4 octet 256', ascii('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n'), 'BAD_HEADER', 33],
    ['v1: TCP4 with an IPv6 address', ascii('PROXY TCP4 ::1 5.6.7.8 1 2\r\n'), 'BAD_HEADER', 27],
    ['v1: TCP6 with an IPv4 address', ascii('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), 'BAD_HEADER', 27],
    ['v1: TCP6 with a zone', ascii('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), 'BAD_HEADER', 32],
    ['v1: a host name', ascii('PROXY TCP4 localhost 5.6.7.8 1 2\r\n'), 'BAD_HEADER', 33],
    ['v2: version 1', v2hex('11 11 000c'), 'BAD_HEADER', 12],
    ['v2: version 3', v2hex('31 11 000c'), 'BAD_HEADER', 12],
    ['v2: command 2', v2hex('22 11 000c'), 'BAD_HEADER', 12],
    ['v2: command 15', v2hex('2f 11 000c'), 'BAD_HEADER', 12],
    ['v2: family 4', v2hex('21 41 000c'), 'BAD_HEADER', 13],
    ['v2: transport 3', v2hex('21 13 000c'), 'BAD_HEADER', 13],
    ['v2: length past the cap', v2hex('21 11 ffff'), 'TOO_LARGE', 15],
    ['v2: length past a smaller cap', v2hex(`21 11 0055 ${'00'.repeat(85)}`), 'TOO_LARGE', 15, 100],
    ['v2: AF_INET block too short', v2hex('21 11 000b 0000000000000000000000'), 'BAD_HEADER', 15],
    ['v2: AF_INET6 block too short', v2hex(`21 21 0023 ${'00'.repeat(35)}`), 'BAD_HEADER', 15],
    ['v2: AF_UNIX block too short', v2hex(`21 31 00d7 ${'00'.repeat(215)}`), 'BAD_HEADER', 15],
    ['v2: LOCAL with a short block', v2hex('20 11 0004 00000000'), 'BAD_HEADER', 15],
    ['v2: TLV cut in its header', v2hex('21 11 000e c0000201 c6336407 0001 0002 01 00'), 'BAD_HEADER', 29],
    ['v2: TLV longer than the header', v2hex('21 11 0010 c0000201 c6336407 0001 0002 02 0002 61'), 'BAD_HEADER', 31],
    ['v2: a TLV type twice', v2hex('21 11 0014 c0000201 c6336407 0001 0002 02 0001 61 02 0001 62'), 'BAD_HEADER', 35],
  ];
  for (const [name, bytes, code, at, maxBytes] of cases) {
    t.same(whole(bytes, maxBytes), { kind: 'error', code }, `${name}: ${code} in one chunk`);
    t.same(feed(bytewise(bytes), maxBytes), { kind: 'error', code, at }, `${name}: ${code} byte by byte, at byte ${at}`);
  }
  t.same(whole(v2hex(`21 11 0054 ${'00'.repeat(84)}`), 100), { kind: 'error', code: 'BAD_HEADER' }, 'a header of exactly maxBytes gets past the cap (to its TLVs)');
  // The default cap: 16 + 2048 bytes, a header of that size taken and one byte more refused.
  const noops = (n: number) => Buffer.concat([Buffer.from([0x04, n >> 8, n & 0xff]), Buffer.alloc(n)]);
  const sized = (len: number) => Buffer.concat([v2hex(`21 00 ${len.toString(16).padStart(4, '0')}`), noops(len - 3)]);
  t.equal(DEFAULT_MAX_HEADER_BYTES, 16 + 2048);
  t.equal(feed([sized(DEFAULT_MAX_HEADER_BYTES - 16)]).kind, 'result', 'a header of the default cap is read');
  t.same(whole(sized(DEFAULT_MAX_HEADER_BYTES - 15)), { kind: 'error', code: 'TOO_LARGE' }, 'one byte more is refused');
});

t.test('after a result or an error, pushes throw; empty pushes are no-ops', async (t) => {
  const r = new ProxyHeaderReader();
  t.equal(r.push(Buffer.alloc(0)), null);
  t.ok(r.push(ascii('PROXY UNKNOWN\r\n')));
  t.throws(() => r.push(ascii('x')), /after the header/);
  const bad = new ProxyHeaderReader();
  t.throws(() => bad.push(ascii('G')), ProxyProtocolError);
  t.throws(() => bad.push(ascii('PROXY')), { code: 'BAD_HEADER' }, 'the same failure again');
});

/** Splits `buf` at the given cut points (taken modulo its length). */
function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (buf.length ? c % buf.length : 0)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) { out.push(buf.subarray(prev, p)); prev = p; }
  out.push(buf.subarray(prev));
  return out;
}

/** The outcome with the whole rest: what followed the header in its chunk and in the chunks never pushed. */
function joined(chunks: Buffer[], maxBytes?: number): unknown {
  const o = feed(chunks, maxBytes);
  if (o.kind !== 'result') return summary(o);
  const headerEnd = o.pushed! - o.header.rest.length;
  return summary({ kind: 'result', header: { ...o.header, rest: Buffer.concat(chunks).subarray(headerEnd) } });
}

// Bytes that reach deep into the reader: a valid start (either signature, a real header) mutated.
const endpointArb = fc.record({ address: fc.oneof(fc.ipV4(), fc.ipV6()), port: fc.integer({ min: 0, max: 65535 }) });
const headerArb = fc.tuple(fc.constantFrom('v1' as const, 'v2' as const), fc.option(endpointArb, { nil: undefined }), fc.option(endpointArb, { nil: undefined }),
  fc.option(fc.domain(), { nil: undefined })).map(([v, source, destination, authority]) => encodeProxyHeader(v, { source, destination, authority, alpn: 'h2' }));
const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.tuple(headerArb, fc.uint8Array({ maxLength: 40 })).map(([h, tail]) => Buffer.concat([h, tail])),
  fc.tuple(headerArb, fc.nat(), fc.nat(255), fc.uint8Array({ maxLength: 20 })).map(([h, at, b, tail]) => {
    const m = Buffer.concat([h, tail]);
    m[at % m.length] = b;
    return m;
  }),
);

t.test('any bytes, any split: a header, "more", or a ProxyProtocolError, and always the same one', async (t) => {
  let results = 0;
  let errors = 0;
  fc.assert(fc.property(bytesArb, fc.array(fc.nat(), { maxLength: 10 }), fc.constantFrom(undefined, 64, 2064), (u8, cuts, maxBytes) => {
    const buf = Buffer.from(u8);
    const one = joined([buf], maxBytes);
    const kind = (one as { kind?: string }).kind;
    if (kind === 'error') errors++; else if (kind !== 'more') results++;
    return JSON.stringify(joined(splitAt(buf, cuts), maxBytes)) === JSON.stringify(one)
      && JSON.stringify(joined(bytewise(buf), maxBytes)) === JSON.stringify(one);
  }), { numRuns: 1500, seed: 7 });
  // So that the agreement means something: both answers were reached often.
  t.ok(results > 200 && errors > 200, `${results} headers, ${errors} refusals`);
});
