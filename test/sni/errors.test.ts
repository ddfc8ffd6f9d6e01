// Every typed error, on constructed hellos whose one defect is the one named.
import t from 'tap';
import { ClientHelloReader, parseClientHello, SniError, unrecognizedNameAlert } from '../../src/sni/index.js';
import { alpnData, buildHandshake, buildHello, ext, serverNameData, wrapRecords } from '../../src/bench/client-hello.js';
import { chunksOf, feed, loadFixture } from './helpers.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof SniError) return err.code;
    throw err;
  }
  return 'no error';
};

t.test('a constructed hello parses (the builder is sound)', async (t) => {
  t.same(parseClientHello(buildHello({ serverName: 'App.Example.com', alpn: ['h2'] })), {
    serverName: 'app.example.com', alpn: ['h2'],
  });
});

t.test('NOT_TLS', async (t) => {
  t.equal(code(() => parseClientHello(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))), 'NOT_TLS');
  // One byte is enough: the reader answers on the first byte of plain HTTP.
  t.same(feed([Buffer.from('G')]), { kind: 'error', code: 'NOT_TLS' });
  // SSLv2-compatible ClientHello (RFC 5246 Appendix E.2): 2-byte header with the high bit set.
  t.equal(code(() => parseClientHello(Buffer.from('80 2e 01 0301 0015 0000 0010'.replace(/ /g, ''), 'hex'))), 'NOT_TLS');
  t.equal(code(() => parseClientHello(Buffer.from([0x16 + 1, 3, 1, 0, 50]))), 'NOT_TLS', 'change_cipher_spec/alert types');
  t.equal(code(() => parseClientHello(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'))), 'NOT_TLS');
});

t.test('NO_SNI', async (t) => {
  const noSni = buildHello({ serverName: null, alpn: ['h2'] });
  t.equal(code(() => parseClientHello(noSni)), 'NO_SNI');
  t.same(parseClientHello(noSni, { allowMissingSni: true }), { serverName: null, alpn: ['h2'] });
  // Pre-TLS-1.3 hellos may have no extensions block at all (RFC 5246 §7.4.1.2).
  t.equal(code(() => parseClientHello(buildHello({ noExtensions: true }))), 'NO_SNI');
  t.same(parseClientHello(buildHello({ noExtensions: true }), { allowMissingSni: true }), { serverName: null, alpn: [] });
  // A server_name list holding only an unknown name type has no host_name.
  const other = buildHello({ serverName: null, extensions: [[0, serverNameData([[7, 'opaque']])]] });
  t.equal(code(() => parseClientHello(other)), 'NO_SNI');
});

t.test('unknown name types are skipped, host_name still found', async (t) => {
  const h = buildHello({ serverName: null, extensions: [[0, serverNameData([[7, 'x'], [0, 'a.example'], [9, 'y']])]] });
  t.equal(parseClientHello(h).serverName, 'a.example');
});

t.test('TOO_LARGE', async (t) => {
  const chromium = loadFixture('chromium.hex'); // 1832 bytes
  t.equal(code(() => parseClientHello(chromium, { maxBytes: 1024 })), 'TOO_LARGE');
  t.equal(parseClientHello(chromium, { maxBytes: chromium.length }).serverName, 'chromium.example.com', 'exactly maxBytes fits');
  t.equal(code(() => parseClientHello(chromium, { maxBytes: chromium.length - 1 })), 'TOO_LARGE');
  // Early: the handshake header declares 2^24-1 bytes; the reader fails on byte 9, reading no body.
  const huge = Buffer.from([22, 3, 1, 0x40, 0x00, 1, 0xff, 0xff, 0xff]);
  const r = new ClientHelloReader();
  for (let i = 0; i < 8; i++) t.equal(r.push(huge.subarray(i, i + 1)), null);
  t.throws(() => r.push(huge.subarray(8)), { code: 'TOO_LARGE' }, 'on the last length byte');
  // Early too when the declared length needs one more record header than the bound leaves room for:
  // a hello in two records (total N + 10) with maxBytes N + 9 fails on the handshake header.
  const two = wrapRecords(buildHandshake({}), 100);
  const n = two.length - 10;
  t.equal(two.readUInt16BE(3), 100, 'first record holds 100 bytes, the rest follows');
  const early = new ClientHelloReader({ maxBytes: n + 9 });
  t.equal(early.push(two.subarray(0, 8)), null);
  t.throws(() => early.push(two.subarray(8, 9)), { code: 'TOO_LARGE' }, 'on byte 9, before any body');
  t.equal(new ClientHelloReader({ maxBytes: n + 10 }).push(two)?.serverName, 'built.example.com');
  // Default 16 KiB: a hello of 20 KB spread over two full records.
  const big = buildHello({ extensions: [[21, Buffer.alloc(20000)]] });
  t.equal(code(() => parseClientHello(big)), 'TOO_LARGE');
  t.equal(parseClientHello(big, { maxBytes: 32768 }).serverName, 'built.example.com');
  // Many tiny records: the headers count too (a hello in 1-byte records takes 6 bytes a byte).
  const hs = buildHandshake({});
  const tiny = wrapRecords(hs, 1);
  t.equal(tiny.length, hs.length * 6);
  t.equal(parseClientHello(wrapRecords(hs), { maxBytes: hs.length * 2 }).serverName, 'built.example.com');
  t.equal(code(() => parseClientHello(tiny, { maxBytes: hs.length * 2 })), 'TOO_LARGE');
  t.equal(code(() => parseClientHello(tiny, { maxBytes: tiny.length - 1 })), 'TOO_LARGE');
  t.equal(parseClientHello(tiny, { maxBytes: tiny.length }).serverName, 'built.example.com');
});

t.test('MALFORMED: record layer', async (t) => {
  const hs = buildHandshake({});
  const rec = (type: number, major: number, frag: Buffer) =>
    Buffer.concat([Buffer.from([type, major, 1, frag.length >> 8, frag.length & 0xff]), frag]);
  t.equal(code(() => parseClientHello(rec(22, 2, hs))), 'MALFORMED', 'record version major 2');
  t.equal(code(() => parseClientHello(Buffer.concat([Buffer.from([22, 3, 1, 0, 0]), wrapRecords(hs)]))), 'MALFORMED', 'zero-length record');
  t.equal(code(() => parseClientHello(Buffer.from([22, 3, 1, 0x40, 0x01]))), 'MALFORMED', 'record of 2^14+1');
  // A change_cipher_spec record between two fragments of the hello.
  const mid = Buffer.concat([wrapRecords(hs.subarray(0, 100)), Buffer.from([20, 3, 3, 0, 1, 1]), wrapRecords(hs.subarray(100))]);
  t.equal(code(() => parseClientHello(mid)), 'MALFORMED', 'non-handshake record mid-hello');
  t.equal(code(() => parseClientHello(rec(22, 3, Buffer.concat([Buffer.from([2]), hs.subarray(1)])))), 'MALFORMED', 'ServerHello type');
  t.equal(code(() => parseClientHello(rec(22, 3, Buffer.from([1, 0, 0, 10, ...Buffer.alloc(10)])))), 'MALFORMED', 'too short for a ClientHello');
});

t.test('MALFORMED: ClientHello fields (RFC 8446 §4.1.2)', async (t) => {
  t.equal(code(() => parseClientHello(buildHello({ sessionId: Buffer.alloc(33) }))), 'MALFORMED', 'session id of 33');
  t.equal(code(() => parseClientHello(buildHello({ cipherSuites: Buffer.from([0x13, 0x01, 0x13]) }))), 'MALFORMED', 'odd cipher_suites');
  t.equal(code(() => parseClientHello(buildHello({ cipherSuites: Buffer.alloc(0) }))), 'MALFORMED', 'no cipher_suites');
  t.equal(code(() => parseClientHello(buildHello({ compression: Buffer.alloc(0) }))), 'MALFORMED', 'no compression method');
  // legacy_version major must be 3.
  const hs = buildHandshake({});
  hs[4] = 2;
  t.equal(code(() => parseClientHello(wrapRecords(hs))), 'MALFORMED', 'legacy_version 2.x');
});

t.test('MALFORMED: lengths past their container', async (t) => {
  const base = buildHandshake({ alpn: ['h2'] });
  // Lengths and where they are in a built hello: every one of them, pointed one past.
  const sessionIdAt = 4 + 2 + 32;
  const suitesAt = sessionIdAt + 1 + 32;
  const compAt = suitesAt + 2 + 6;
  const extsAt = compAt + 1 + 1;
  const sniExtLenAt = extsAt + 2 + 2;
  const sniListAt = sniExtLenAt + 2;
  const hostLenAt = sniListAt + 2 + 1;
  const alpnExtAt = hostLenAt + 2 + 'built.example.com'.length;
  const cases: Array<[string, number, number]> = [
    ['handshake length', 1, 3],
    ['session id', sessionIdAt, 1],
    ['cipher_suites', suitesAt, 2],
    ['compression', compAt, 1],
    ['extensions', extsAt, 2],
    ['server_name extension', sniExtLenAt, 2],
    ['server_name_list', sniListAt, 2],
    ['host_name', hostLenAt, 2],
    ['alpn extension', alpnExtAt + 2, 2],
    ['protocol_name_list', alpnExtAt + 4, 2],
    ['protocol name', alpnExtAt + 6, 1],
  ];
  t.equal(base.readUInt16BE(alpnExtAt), 16, 'offsets point at the ALPN extension');
  for (const [what, at, size] of cases) {
    for (const delta of [1, 0x100, -1]) {
      if (size === 1 && delta === 0x100) continue;
      const hs = Buffer.from(base);
      const v = hs.readUIntBE(at, size) + delta;
      if (v < 0 || v >= 2 ** (8 * size)) continue;
      hs.writeUIntBE(v, at, size);
      t.equal(code(() => parseClientHello(wrapRecords(hs))), 'MALFORMED', `${what} ${delta > 0 ? '+' : ''}${delta}`);
    }
  }
});

t.test('MALFORMED: extensions', async (t) => {
  const dup = buildHello({ extensions: [[43, Buffer.from([2, 3, 4])]] }); // supported_versions twice
  t.equal(code(() => parseClientHello(dup)), 'MALFORMED', 'duplicate extension');
  const dupSni = buildHello({ extensions: [[0, serverNameData([[0, 'b.example']])]] });
  t.equal(code(() => parseClientHello(dupSni)), 'MALFORMED', 'duplicate server_name');
  const two = buildHello({ serverName: null, extensions: [[0, serverNameData([[0, 'a.example'], [0, 'b.example']])]] });
  t.equal(code(() => parseClientHello(two)), 'MALFORMED', 'two host_names');
  const emptySni = buildHello({ serverName: null, extensions: [[0, Buffer.alloc(0)]] });
  t.equal(code(() => parseClientHello(emptySni)), 'MALFORMED', 'empty server_name extension');
  const emptyList = buildHello({ serverName: null, extensions: [[0, Buffer.from([0, 0])]] });
  t.equal(code(() => parseClientHello(emptyList)), 'MALFORMED', 'empty server_name_list');
  t.equal(code(() => parseClientHello(buildHello({ alpn: ['h2', ''] }))), 'MALFORMED', 'empty protocol name');
  t.equal(code(() => parseClientHello(buildHello({ extensions: [[16, Buffer.from([0, 0])]] }))), 'MALFORMED', 'empty ALPN list');
  t.equal(code(() => parseClientHello(buildHello({ extensions: [[16, Buffer.alloc(0)]] }))), 'MALFORMED', 'empty ALPN extension');
  const trailing = buildHello({ rawExtensions: Buffer.concat([ext(0, serverNameData([[0, 'a.example']])), Buffer.from([0, 1])]) });
  t.equal(code(() => parseClientHello(trailing)), 'MALFORMED', 'a partial extension header at the end');
  // ALPN names are opaque bytes, returned one char per byte.
  t.same(parseClientHello(buildHello({ extensions: [[16, alpnData(['\xff\x00x'])]] })).alpn, ['\xff\x00x']);
});

t.test('host names', async (t) => {
  const name = (n: string | Buffer) => {
    const h = buildHello({ serverName: null, extensions: [[0, serverNameData([[0, n]])]] });
    try {
      return parseClientHello(h).serverName;
    } catch (err) {
      if (err instanceof SniError) return err.code;
      throw err;
    }
  };
  const label63 = 'a'.repeat(63);
  const name253 = [label63, label63, label63, 'b'.repeat(61)].join('.');
  t.equal(name253.length, 253);
  const good: Array<[string, string]> = [
    ['Example.COM', 'example.com'],
    ['example.com.', 'example.com'],
    ['a', 'a'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['my_app.example.com', 'my_app.example.com'],
    ['1.2.3.example', '1.2.3.example'],
    ['123.com', '123.com'],
    ['a-b.c', 'a-b.c'],
    [`${label63}.com`, `${label63}.com`],
    [name253, name253],
    [name253 + '.', name253],
  ];
  for (const [n, want] of good) t.equal(name(n), want, `accepts ${n.slice(0, 40)}`);
  const bad = [
    '', '.', 'example..com', '.example.com', 'example.com..', `${'a'.repeat(64)}.com`, name253 + 'c',
    '-a.com', 'a-.com', 'a.-b.com', 'exa mple.com', '*.example.com', 'example.com/x', 'exa\0mple.com',
    Buffer.from('bücher.example'), 'a@b.com',
    // IP literals (RFC 6066 §3)
    '192.0.2.1', '192.0.2.1.', '127.1', '2130706433', '::1', '[::1]', '2001:db8::1', 'example.123',
  ];
  for (const n of bad) t.equal(name(n), 'MALFORMED', `rejects ${JSON.stringify(n.toString())}`);
});

t.test('after an error the reader stays failed; after a result it refuses more', async (t) => {
  const r = new ClientHelloReader();
  let first: unknown;
  try {
    r.push(Buffer.from('GET'));
  } catch (err) {
    first = err;
  }
  t.type(first, SniError);
  t.throws(() => r.push(buildHello()), first as Error, 'the same error again');
  const ok = new ClientHelloReader();
  t.ok(ok.push(buildHello()));
  t.throws(() => ok.push(Buffer.from([1])), /after the ClientHello/);
});

t.test('a large post-quantum-sized hello split over records and chunks', async (t) => {
  const hs = buildHandshake({ serverName: 'pq.example.com', alpn: ['h2', 'http/1.1'], pqKeyShare: 1216 });
  t.ok(hs.length > 1300, `${hs.length} bytes`);
  for (const size of [hs.length, 700, 512, 100]) {
    const rec = wrapRecords(hs, size);
    for (const chunk of [1, 512, rec.length]) {
      const got = feed(chunksOf(rec, chunk));
      t.match(got, { kind: 'result', serverName: 'pq.example.com', alpn: ['h2', 'http/1.1'] }, `records of ${size}, chunks of ${chunk}`);
    }
  }
});

t.test('empty chunks are harmless', async (t) => {
  const h = buildHello();
  t.match(feed([Buffer.alloc(0), h.subarray(0, 3), Buffer.alloc(0), h.subarray(3)]), { kind: 'result' });
});

t.test('unrecognizedNameAlert is a fatal unrecognized_name alert record', async (t) => {
  const a = unrecognizedNameAlert();
  t.same([...a], [21, 3, 3, 0, 2, 2, 112]);
  t.not(unrecognizedNameAlert(), a, 'a fresh buffer each call');
});
