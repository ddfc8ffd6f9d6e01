// Noise benchmarks (tinybench): transport encrypt/decrypt MB/s per backend × cipher at 64 KiB
// and 1 KiB, IK handshakes/s per side, and the channel over a loopback socket.
// Run: npx tsx bench/noise.bench.ts   (figures in docs/performance.md "Noise transport")
import { Bench } from 'tinybench';
import { createServer, connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import {
  CipherState, HandshakeState, generateKeyPair, getBackend, type BackendName, type CipherFunctionName,
} from '../src/crypto/index.js';
import { NoiseResponder, connectChannel, type NoiseChannel } from '../src/channel/index.js';

const EMPTY = new Uint8Array(0);
const SIZES = [65536 - 17, 1024]; // the largest transport payload (65519) and 1 KiB

export interface Row { name: string; opsPerSec: number; mbPerSec?: number; samples: number }

async function cipherBench(time: number): Promise<Row[]> {
  const bench = new Bench({ time, warmupTime: Math.min(100, time / 2) });
  const sizeOf = new Map<string, number>();
  for (const backend of ['native', 'sodium', 'node', 'noble'] as BackendName[]) {
    for (const cipher of ['ChaChaPoly', 'AESGCM'] as CipherFunctionName[]) {
      let fns;
      try { fns = getBackend(backend).cipher(cipher); } catch { continue; } // not installed here
      if (backend === 'sodium' && cipher === 'AESGCM') continue; // node's (sodium-native has none)
      for (const size of SIZES) {
        const key = randomBytes(32); const pt = randomBytes(size);
        const enc = new CipherState(fns, key);
        const label = `${backend} ${cipher} ${size === 1024 ? '1 KiB' : '64 KiB'}`;
        sizeOf.set(`encrypt ${label}`, size); sizeOf.set(`decrypt ${label}`, size);
        bench.add(`encrypt ${label}`, () => { enc.encryptWithAdParts(EMPTY, pt); });
        // What the channel does: a frame buffer per message, the ciphertext and tag sealed into it.
        sizeOf.set(`seal ${label}`, size);
        bench.add(`seal ${label}`, () => { enc.encryptWithAdInto(EMPTY, pt, Buffer.allocUnsafe(2 + size + 16).subarray(2)); });
        const [ct, tag] = new CipherState(fns, key).encryptWithAdParts(EMPTY, pt);
        const dec = new CipherState(fns, key);
        bench.add(`decrypt ${label}`, () => { dec.setNonce(0n); dec.decryptWithAdParts(EMPTY, ct, tag); });
      }
    }
  }
  await bench.run();
  return bench.tasks.map((t) => {
    const ops = t.result && 'throughput' in t.result ? t.result.throughput.mean : 0;
    return { name: t.name, opsPerSec: ops, mbPerSec: (ops * sizeOf.get(t.name)!) / 1e6, samples: t.result && 'latency' in t.result ? t.result.latency.samplesCount : 0 };
  });
}

async function handshakeBench(time: number): Promise<Row[]> {
  const bench = new Bench({ time, warmupTime: Math.min(100, time / 2) });
  const protocolName = 'Noise_IK_25519_ChaChaPoly_BLAKE2s';
  const prologue = Buffer.from('bench');
  const ts = randomBytes(12);
  for (const backend of ['node', 'noble'] as BackendName[]) {
    const dh = getBackend(backend).dh('25519');
    const relay = dh.generateKeyPair(); const agent = dh.generateKeyPair();
    // The responder's work: read message 1 (e, es, s, ss), write message 2 (e, ee, se), split.
    const fixedE = dh.generateKeyPair().privateKey;
    const msg1 = new HandshakeState({ protocolName, initiator: true, prologue, s: agent.privateKey, rs: relay.publicKey, e: fixedE, backend }).writeMessage(ts);
    bench.add(`IK responder ${backend}`, () => {
      const hs = new HandshakeState({ protocolName, initiator: false, prologue, s: relay.privateKey, backend });
      hs.readMessage(msg1); hs.writeMessage(EMPTY); hs.split();
    });
    // The initiator's work: write message 1, read message 2, split. Message 2 is precomputed for a
    // fixed ephemeral key, so a fresh key pair is generated in the loop to keep the cost honest.
    const fixedRespE = dh.generateKeyPair().privateKey;
    const r = new HandshakeState({ protocolName, initiator: false, prologue, s: relay.privateKey, e: fixedRespE, backend });
    r.readMessage(msg1);
    const msg2 = r.writeMessage(EMPTY);
    bench.add(`IK initiator ${backend}`, () => {
      dh.generateKeyPair();
      const hs = new HandshakeState({ protocolName, initiator: true, prologue, s: agent.privateKey, rs: relay.publicKey, e: fixedE, backend });
      hs.writeMessage(ts); hs.readMessage(msg2); hs.split();
    });
  }
  // Whole channel handshakes over loopback, both sides in this process (preamble, IK, confirmation).
  const relayKey = generateKeyPair(); const agentKey = generateKeyPair();
  const responder = new NoiseResponder({ staticKey: relayKey, maxPendingPerAddress: 1000, replayCacheSize: 10 });
  // A failed handshake rejects its iteration: the bench reports it instead of waiting forever.
  const waiting: { resolve: (c: NoiseChannel) => void; reject: (e: Error) => void }[] = [];
  const server = createServer((s) => { const w = waiting.shift()!; responder.accept(s).then(w.resolve, w.reject); });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  bench.add('channel handshake over loopback (both sides)', async () => {
    const server = new Promise<NoiseChannel>((resolve, reject) => waiting.push({ resolve, reject }));
    const agent = await connectChannel(connect(port, '127.0.0.1'), { staticKey: agentKey, remoteStaticKey: relayKey.publicKey });
    (await server).destroy(); agent.destroy();
  });
  await bench.run();
  server.close();
  return bench.tasks.map((t) => ({
    name: t.name,
    opsPerSec: t.result && 'throughput' in t.result ? t.result.throughput.mean : 0,
    samples: t.result && 'latency' in t.result ? t.result.latency.samplesCount : 0,
  }));
}

/** One direction through the channel over loopback: `mb` MiB of 65519-byte messages. */
async function channelThroughput(cipher: 'chachapoly' | 'aesgcm', mb: number): Promise<Row> {
  const relayKey = generateKeyPair();
  const responder = new NoiseResponder({ staticKey: relayKey });
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const accepted = new Promise<NoiseChannel>((res, rej) => {
    srv.once('connection', (s: Socket) => { srv.close(); responder.accept(s).then(res, rej); });
  });
  const [agent, server] = await Promise.all([
    connectChannel(connect((srv.address() as { port: number }).port, '127.0.0.1'), { staticKey: generateKeyPair(), remoteStaticKey: relayKey.publicKey, cipher }),
    accepted,
  ]);
  const msg = randomBytes(65519);
  const count = Math.ceil((mb * 2 ** 20) / msg.length);
  const start = process.hrtime.bigint();
  await new Promise<void>((done, fail) => {
    server.onClose = agent.onClose = (err) => fail(err ?? new Error('channel closed before the last message'));
    let got = 0;
    server.onMessage = () => { if (++got === count) done(); };
    let i = 0;
    const go = (): void => { while (i < count) { i++; if (!agent.send(msg)) { agent.onDrain = go; return; } } };
    go();
  });
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  server.onClose = agent.onClose = () => {};
  agent.destroy(); server.destroy();
  return { name: `channel loopback ${cipher}, 64 KiB messages, one direction`, opsPerSec: count / secs, mbPerSec: (count * msg.length) / secs / 1e6, samples: 1 };
}

/** Runs every Noise benchmark; `time` is tinybench's time per task in ms. */
export async function run(time = 500): Promise<Row[]> {
  const rows = [...await cipherBench(time), ...await handshakeBench(time)];
  for (const c of ['chachapoly', 'aesgcm'] as const) rows.push(await channelThroughput(c, 512));
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run(Number(process.env.BENCH_TIME_MS ?? 500));
  console.table(rows.map((r) => ({
    task: r.name,
    'ops/s': Math.round(r.opsPerSec).toLocaleString('en-US'),
    'MB/s': r.mbPerSec === undefined ? '' : Math.round(r.mbPerSec).toLocaleString('en-US'),
    samples: r.samples,
  })));
}
