// `npx tsx bench/handshake-flood.ts [SECONDS]`: what a flood of stalled handshakes from 64
// addresses costs a real agent. A NoiseResponder with the relay's defaults (16 pending per
// address, 1024 in all, 10 s deadline) takes connections from 127.0.0.2–127.0.0.65 that send
// nothing, as fast as they can be opened; meanwhile an agent connects every 200 ms and its
// handshake time is measured. Prints the flood rate, the agent handshakes per second the relay
// completed and their latency (p50/p99/max), and how many failed.
import net from 'node:net';
import { NoiseResponder, connectChannel } from '../src/channel/index.js';
import { generateKeyPair } from '../src/crypto/index.js';

const seconds = Number(process.argv[2] ?? 10);
const relayKey = generateKeyPair();
const responder = new NoiseResponder({ staticKey: relayKey });
const server = net.createServer((s) => { s.on('error', () => {}); responder.accept(s).then((ch) => ch.destroy(), () => {}); });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as net.AddressInfo).port;

let running = true;
let opened = 0;
const attackers = new Set<net.Socket>();
const flood = async (address: string): Promise<void> => {
  while (running) {
    await new Promise<void>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: address });
      attackers.add(s);
      s.on('error', () => {});
      s.once('connect', () => { opened++; resolve(); });
      s.once('close', () => { attackers.delete(s); resolve(); });
    });
    if (attackers.size > 4000) await new Promise((r) => setTimeout(r, 10)); // our own descriptors
  }
};
const floods = Array.from({ length: 64 }, (_, i) => flood(`127.0.0.${i + 2}`));

const agentKey = generateKeyPair();
const times: number[] = [];
let failed = 0;
const started = performance.now();
while (performance.now() - started < seconds * 1000) {
  const t0 = performance.now();
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.1' });
  try {
    const ch = await connectChannel(socket, { staticKey: agentKey, remoteStaticKey: relayKey.publicKey });
    times.push(performance.now() - t0);
    ch.destroy();
  } catch {
    failed++;
  }
  await new Promise((r) => setTimeout(r, 200));
}
running = false;
for (const s of attackers) s.destroy();
await Promise.all(floods);
server.close();
const elapsed = (performance.now() - started) / 1000;
times.sort((a, b) => a - b);
const q = (p: number): string => (times.length ? times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(1) : '–');
process.stdout.write(`flood: ${(opened / elapsed).toFixed(0)} stalled connections/s from 64 addresses for ${elapsed.toFixed(0)} s\n`);
process.stdout.write(`agent: ${times.length} handshakes, ${failed} failed; handshake ms p50 ${q(0.5)} p99 ${q(0.99)} max ${q(1)}\n`);
