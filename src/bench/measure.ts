import net from 'node:net';
import { readFileSync } from 'node:fs';

/** Where a measurement connects: a host and port, and for the SNI route the ClientHello sent first. */
export interface Route { host: string; port: number; hello?: Buffer }

const CHUNK = Buffer.alloc(64 * 1024, 0x5a);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function connect(route: Route): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: route.host, port: route.port, noDelay: true });
    const timer = setTimeout(() => s.destroy(new Error('connect timeout')), 10_000);
    s.once('connect', () => { clearTimeout(timer); s.off('error', reject); resolve(s); });
    s.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/** Reads exactly `n` bytes (echo replies), resolving when they are in. */
function readBytes(s: net.Socket, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (d: Buffer) => { got += d.length; if (got >= n) { done(); resolve(); } };
    const onClose = () => { done(); reject(new Error('closed early')); };
    const done = () => { s.off('data', onData); s.off('close', onClose); s.off('error', onClose); };
    s.on('data', onData); s.once('close', onClose); s.once('error', onClose);
  });
}

/**
 * Bulk throughput in MB/s (10^6 bytes) over `streams` parallel connections to a sink: each writes
 * 64 KiB chunks as fast as backpressure allows; the rate is what the sink counted between a
 * warm-up and the end (or, without a sink counter, what the clients handed to the kernel).
 */
export async function bulk(route: Route, streams: number, seconds: number, sinkBytes?: () => number): Promise<number> {
  const socks = await Promise.all(Array.from({ length: streams }, () => connect(route)));
  let written = 0;
  let running = true;
  for (const s of socks) {
    s.on('error', () => {});
    if (route.hello) s.write(route.hello);
    const pump = () => {
      while (running && !s.destroyed) {
        written += CHUNK.length;
        if (!s.write(CHUNK)) { s.once('drain', pump); return; }
      }
    };
    pump();
  }
  await sleep(500);
  const count = sinkBytes ?? (() => written);
  const b0 = count(); const t0 = performance.now();
  await sleep(seconds * 1000);
  const b1 = count(); const t1 = performance.now();
  running = false;
  for (const s of socks) s.destroy();
  return (b1 - b0) / ((t1 - t0) / 1000) / 1e6;
}

export interface Latency { p50: number; p99: number; samples: number }

/** Round trips of `size` bytes through an echo, one at a time, in microseconds. */
export async function pingpong(route: Route, size: number, seconds: number): Promise<Latency> {
  const s = await connect(route);
  s.on('error', () => {});
  if (route.hello) { s.write(route.hello); await readBytes(s, route.hello.length); }
  const msg = Buffer.alloc(size, 0x61);
  const samples: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t0 = process.hrtime.bigint();
    const reply = readBytes(s, size);
    s.write(msg);
    await reply;
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  s.destroy();
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), samples: samples.length };
}

export interface ConnRate { perSecond: number; failures: number; /** Connections completed. */ ok: number }

/** New connections per second: connect, one exchange with the echo, close; `concurrency` at once. */
export async function connRate(route: Route, concurrency: number, seconds: number): Promise<ConnRate> {
  let ok = 0; let failures = 0;
  const end = performance.now() + seconds * 1000;
  const first = route.hello ?? Buffer.from([0x2a]);
  const worker = async () => {
    while (performance.now() < end) {
      try {
        const s = await connect(route);
        s.on('error', () => {});
        const reply = readBytes(s, first.length);
        s.write(first);
        await reply;
        s.destroy();
        ok++;
      } catch { failures++; }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { perSecond: ok / ((performance.now() - t0) / 1000), failures, ok };
}

/** Resident set size of a process, in KiB (Linux /proc). */
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/**
 * Memory per idle tunneled connection: opens `count` connections (each proven live by one echo),
 * reads the RSS of `pids` before and after, and returns KiB per connection for each pid.
 */
export async function idleMemory(route: Route, count: number, pids: number[]): Promise<number[]> {
  await sleep(300);
  const before = pids.map(rssKiB);
  const socks: net.Socket[] = [];
  const first = route.hello ?? Buffer.from([0x2a]);
  try {
    for (let i = 0; i < count; i += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, count - i) }, async () => {
        const s = await connect(route);
        s.on('error', () => {});
        const reply = readBytes(s, first.length);
        s.write(first);
        await reply;
        return s;
      }));
      socks.push(...batch);
    }
    await sleep(500);
    const after = pids.map(rssKiB);
    return after.map((a, i) => (a - before[i]) / count);
  } finally {
    for (const s of socks) s.destroy();
  }
}
