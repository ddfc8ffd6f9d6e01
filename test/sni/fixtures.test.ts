// Real ClientHellos (test/fixtures/sni/README.md) through the reader in every split.
import t, { type Test } from 'tap';
import { ClientHelloReader, parseClientHello, SniError } from '../../src/sni/index.js';
import { chunksOf, expectedFor, feed, type Outcome, fixtureNames, loadFixture, reframe } from './helpers.js';

const names = fixtureNames();

t.test('the fixture set is complete', async (t) => {
  // One per client named in the README; a lost file would otherwise just shrink the loop.
  for (const f of ['openssl-sni-alpn.hex', 'curl.hex', 'node.hex', 'python.hex', 'chromium.hex', 'openssl-multirecord.hex']) {
    t.ok(names.includes(f), f);
  }
});

for (const name of names) {
  t.test(name, async (t) => {
    const hello = loadFixture(name);
    const exp = expectedFor(name);

    // What the one-shot parser must say: a result or the expected error code.
    const check = (t: Test, got: Outcome, what: string) => {
      if (exp.error) {
        t.same(got, { kind: 'error', code: exp.error }, what);
      } else {
        t.equal(got.kind, 'result', what);
        if (got.kind === 'result') {
          t.equal(got.serverName, exp.serverName, `${what}: serverName`);
          t.same(got.alpn, exp.alpn, `${what}: alpn`);
        }
      }
    };

    t.test('one-shot', async (t) => {
      if (exp.error) {
        t.throws(() => parseClientHello(hello), { code: exp.error });
      } else {
        t.same(parseClientHello(hello), { serverName: exp.serverName, alpn: exp.alpn });
      }
      if (exp.allowMissingSni) t.same(parseClientHello(hello, { allowMissingSni: true }), exp.allowMissingSni);
      if (exp.records) {
        let n = 0;
        for (let p = 0; p < hello.length; p += 5 + hello.readUInt16BE(p + 3)) n++;
        t.equal(n, exp.records, 'records as captured');
      }
    });

    t.test('bytes are returned verbatim, with whatever followed the hello', async (t) => {
      if (exp.error) return;
      const early = Buffer.from('0-RTT or anything after the hello');
      const got = feed([hello, early]);
      // The whole hello in one chunk completes on that chunk: nothing after it was needed.
      t.equal(got.kind, 'result');
      if (got.kind === 'result') t.same(got.bytes, hello);
      const joined = Buffer.concat([hello, early]);
      const got2 = feed(chunksOf(joined, 100));
      t.equal(got2.kind, 'result');
      if (got2.kind === 'result') {
        const cut = Math.ceil(hello.length / 100) * 100; // the chunk that completed the hello
        t.same(got2.bytes, joined.subarray(0, Math.min(cut, joined.length)));
      }
    });

    t.test('fed one byte at a time', async (t) => {
      check(t, feed(chunksOf(hello, 1)), '1-byte chunks');
    });

    t.test('split at every offset', async (t) => {
      let bad = 0;
      for (let k = 1; k < hello.length; k++) {
        const got = feed([hello.subarray(0, k), hello.subarray(k)]);
        const ok = exp.error
          ? got.kind === 'error' && got.code === exp.error
          : got.kind === 'result' && got.serverName === exp.serverName && got.bytes.equals(hello);
        if (!ok) bad++;
      }
      t.equal(bad, 0, `all ${hello.length - 1} split points agree`);
    });

    t.test('re-framed across records', async (t) => {
      for (const size of [1, 2, 3, 4, 5, 7, 64, 255, 512, 1000]) {
        const framed = reframe(hello, size);
        check(t, feed([framed]), `records of ${size}`);
        check(t, feed(chunksOf(framed, 13)), `records of ${size}, 13-byte chunks`);
      }
    });

    t.test('truncated at every offset: need more, or MALFORMED one-shot', async (t) => {
      let notMore = 0;
      let notMalformed = 0;
      for (let k = 0; k < hello.length; k++) {
        const prefix = hello.subarray(0, k);
        const got = feed([prefix]);
        if (got.kind !== 'more') notMore++;
        try {
          parseClientHello(prefix);
          notMalformed++;
        } catch (err) {
          if (!(err instanceof SniError) || err.code !== 'MALFORMED') notMalformed++;
        }
      }
      t.equal(notMore, 0, 'every proper prefix needs more');
      t.equal(notMalformed, 0, 'every proper prefix is MALFORMED one-shot');
    });
  });
}

t.test('the reader copies nothing for a hello in one chunk and one record', async (t) => {
  const hello = loadFixture('curl.hex');
  const r = new ClientHelloReader().push(hello);
  t.equal(r?.bytes, hello, 'the very buffer pushed');
});
