// Property-based fuzzing (fast-check, bounded by run counts): whatever the bytes and however they
// are split, the reader returns a result, asks for more, or throws an SniError, and the split
// never changes the answer.
import t from 'tap';
import fc from 'fast-check';
import { parseClientHello, SniError } from '../../src/sni/index.js';
import { buildHello, serverNameData } from '../../src/bench/client-hello.js';
import { chunksOf, feed, fixtureNames, loadFixture, reframe, type Outcome } from './helpers.js';

const RUNS = 2000;
const fixtures = fixtureNames().map(loadFixture);

/** Splits `buf` at the given cut points (taken modulo its length). */
function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (buf.length ? c % buf.length : 0)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

/** The outcome without the verbatim bytes (which legitimately depend on the last chunk). */
const summary = (o: Outcome) => (o.kind === 'result' ? { kind: o.kind, serverName: o.serverName, alpn: o.alpn } : o);

/** One-shot outcome, insisting that nothing but SniError is thrown. */
function oneShot(buf: Buffer, opts?: { maxBytes?: number; allowMissingSni?: boolean }): Outcome {
  try {
    const r = parseClientHello(buf, opts);
    return { kind: 'result', ...r, bytes: buf };
  } catch (err) {
    if (err instanceof SniError) return err.code === 'MALFORMED' && isPrefixOnly(buf, opts) ? { kind: 'more' } : { kind: 'error', code: err.code };
    throw err;
  }
}
// parseClientHello reports a truncated hello as MALFORMED where the reader says "need more".
function isPrefixOnly(buf: Buffer, opts?: { maxBytes?: number; allowMissingSni?: boolean }): boolean {
  return feed([buf], opts).kind === 'more';
}

const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  // Mostly-valid record and handshake headers so the fuzz reaches the ClientHello parser.
  fc.tuple(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.integer({ min: 0, max: 700 })).map(([body, len]) =>
    Uint8Array.from([22, 3, 1, (len + 4) >> 8, (len + 4) & 0xff, 1, 0, len >> 8, len & 0xff, 3, 3, ...body]),
  ),
);

t.test('random bytes: only SniError, same answer in any split', async (t) => {
  fc.assert(
    fc.property(bytesArb, fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), (u8, cuts, allowMissingSni) => {
      const buf = Buffer.from(u8);
      const whole = feed([buf], { allowMissingSni });
      const split = feed(splitAt(buf, cuts), { allowMissingSni });
      if (JSON.stringify(summary(whole)) !== JSON.stringify(summary(split))) return false;
      return JSON.stringify(summary(oneShot(buf, { allowMissingSni }))) === JSON.stringify(summary(whole));
    }),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} runs`);
});

type Mutation = { op: 'flip' | 'set' | 'insert' | 'delete'; at: number; value: number; len: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('flip' as const, 'set' as const, 'insert' as const, 'delete' as const),
  at: fc.nat(),
  value: fc.integer({ min: 0, max: 255 }),
  len: fc.integer({ min: 1, max: 8 }),
});

function mutate(buf: Buffer, muts: Mutation[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of muts) {
    const at = m.at % (b.length + 1);
    if (m.op === 'flip' && at < b.length) b[at] ^= 1 << (m.value & 7);
    else if (m.op === 'set' && at < b.length) b[at] = m.value;
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.alloc(m.len, m.value), b.subarray(at)]);
    else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
  }
  return b;
}

t.test('mutated real hellos: only SniError, same answer in any split', async (t) => {
  const codes = new Map<string, number>();
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: fixtures.length - 1 }),
      fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (i, muts, cuts) => {
        const buf = mutate(fixtures[i], muts);
        const whole = feed([buf]);
        const split = feed(splitAt(buf, cuts));
        const key = whole.kind === 'error' ? whole.code : whole.kind;
        codes.set(key, (codes.get(key) ?? 0) + 1);
        return JSON.stringify(summary(whole)) === JSON.stringify(summary(split));
      },
    ),
    { numRuns: RUNS },
  );
  // The mutations reach more than one outcome (the fuzz is not stuck on one early check).
  t.ok((codes.get('MALFORMED') ?? 0) > 0, `outcomes: ${JSON.stringify(Object.fromEntries(codes))}`);
  t.ok(codes.size >= 3);
});

t.test('real hellos under random record framing and random chunking', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: fixtures.length - 1 }),
      fc.integer({ min: 1, max: 2000 }),
      fc.integer({ min: 1, max: 700 }),
      (i, recordSize, chunkSize) => {
        const framed = reframe(fixtures[i], recordSize);
        const want = summary(feed([fixtures[i]], { maxBytes: 1 << 20 }));
        return JSON.stringify(summary(feed(chunksOf(framed, chunkSize), { maxBytes: 1 << 20 }))) === JSON.stringify(want);
      },
    ),
    { numRuns: 500 },
  );
  t.pass('500 runs');
});

/** An independent statement of the host name rules (src/sni/host-name.ts), as regular expressions. */
function nameOracle(raw: string): string {
  const n = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (n.length === 0 || n.length > 253) return 'MALFORMED';
  const labels = n.split('.');
  if (!labels.every((l) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l))) return 'MALFORMED';
  if (/^[0-9]+$/.test(labels[labels.length - 1])) return 'MALFORMED';
  return n.toLowerCase();
}

t.test('host names agree with an independent oracle', async (t) => {
  const unit = fc.constantFrom('a', 'Z', 'q', '0', '7', '-', '_', '.', '.', ':', ' ', '*', 'é', '\0');
  const nameArb = fc.oneof(
    fc.string({ unit, maxLength: 24 }),
    // Long labels and names near the 63/253 limits.
    fc.array(fc.string({ unit: fc.constantFrom('a', '0', '-'), minLength: 60, maxLength: 66 }), { minLength: 1, maxLength: 5 })
      .map((ls) => ls.join('.')),
  );
  let accepted = 0;
  fc.assert(
    fc.property(nameArb, (name) => {
      const hello = buildHello({ serverName: null, extensions: [[0, serverNameData([[0, Buffer.from(name, 'utf8')]])]] });
      const got = feed([hello]);
      const want = nameOracle(name);
      if (want !== 'MALFORMED') accepted++;
      return got.kind === 'result' ? got.serverName === want : got.kind === 'error' && got.code === want;
    }),
    { numRuns: RUNS },
  );
  t.ok(accepted > 50, `${accepted} of ${RUNS} names were valid: both sides of the rule were exercised`);
});

t.test('random extension lists: duplicates are MALFORMED, ALPN read back', async (t) => {
  const extArb = fc.tuple(fc.constantFrom(5, 10, 13, 21, 43, 0x0a0a, 0xfe0d), fc.uint8Array({ maxLength: 40 }));
  fc.assert(
    fc.property(
      fc.array(extArb, { maxLength: 8 }),
      fc.array(fc.string({ unit: fc.constantFrom('h', '2', '/', '.', '1'), minLength: 1, maxLength: 10 }), { maxLength: 4 }),
      (exts, alpn) => {
        const hello = buildHello({
          serverName: 'x.example',
          alpn: alpn.length ? alpn : undefined,
          extensions: exts.map(([ty, d]) => [ty, Buffer.from(d)]),
        });
        const types = [0, 43, ...(alpn.length ? [16] : []), ...exts.map(([ty]) => ty)];
        const dup = new Set(types).size !== types.length;
        const got = feed([hello]);
        if (dup) return got.kind === 'error' && got.code === 'MALFORMED';
        return got.kind === 'result' && got.serverName === 'x.example' && JSON.stringify(got.alpn) === JSON.stringify(alpn);
      },
    ),
    { numRuns: RUNS },
  );
  t.pass(`${RUNS} runs`);
});
