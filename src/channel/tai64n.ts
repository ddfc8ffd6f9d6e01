/**
 * TAI64N timestamps (12 bytes: 8-byte big-endian seconds label, 4-byte nanoseconds), as
 * WireGuard puts in its first handshake message (whitepaper §5.4.2). Strictly increasing within
 * a process, so two handshakes in the same clock tick still order.
 */
const TAI64_BASE = 0x400000000000000an; // 2^62 + 10 (TAI−UTC offset at 1970, as WireGuard)
let last = 0n; // nanoseconds since the epoch of the last stamp issued

export function tai64n(nowMs = Date.now()): Buffer {
  // Millisecond precision is plenty (and leaks less timing than more); ties are broken by +1 ns.
  let ns = BigInt(nowMs) * 1_000_000n;
  if (ns <= last) ns = last + 1n;
  last = ns;
  const out = Buffer.alloc(12);
  out.writeBigUInt64BE(TAI64_BASE + ns / 1_000_000_000n, 0);
  out.writeUInt32BE(Number(ns % 1_000_000_000n), 8);
  return out;
}
