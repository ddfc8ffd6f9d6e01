// Test helpers for src/sni: fixture loading, a slow obviously-correct record splitter/re-framer,
// and a ClientHello builder for the cases no real client sends.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { ClientHelloReader, SniError, type ReaderOptions } from '../../src/sni/index.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/sni/', import.meta.url));

export interface Expected {
  serverName?: string | null;
  alpn?: string[];
  error?: string;
  allowMissingSni?: { serverName: string | null; alpn: string[] };
  records?: number;
}

export function fixtureNames(): string[] {
  return readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.hex')).sort();
}

export function loadFixture(name: string): Buffer {
  return Buffer.from(readFileSync(FIXTURE_DIR + name, 'utf8').replace(/\s+/g, ''), 'hex');
}

export function expectedFor(name: string): Expected {
  const all = JSON.parse(readFileSync(FIXTURE_DIR + 'expected.json', 'utf8')) as Record<string, Expected>;
  const e = all[name];
  if (!e) throw new Error(`no expectation for ${name} in expected.json`);
  return e;
}

/** The handshake bytes of a record stream: every fragment, headers dropped. */
export function handshakeBytes(records: Buffer): Buffer {
  const parts: Buffer[] = [];
  let p = 0;
  while (p < records.length) {
    const len = records.readUInt16BE(p + 3);
    parts.push(records.subarray(p + 5, p + 5 + len));
    p += 5 + len;
  }
  return Buffer.concat(parts);
}

/** Wraps handshake bytes in handshake records (type 22, version 3.1) of at most `size` bytes. */
export function wrapRecords(hs: Buffer, size = 16384): Buffer {
  const parts: Buffer[] = [];
  for (let p = 0; p < hs.length; p += size) {
    const frag = hs.subarray(p, Math.min(p + size, hs.length));
    parts.push(Buffer.from([22, 3, 1, frag.length >> 8, frag.length & 0xff]), frag);
  }
  return Buffer.concat(parts);
}

/** Re-frames a record stream's handshake into records of `size` bytes. */
export function reframe(records: Buffer, size: number): Buffer {
  return wrapRecords(handshakeBytes(records), size);
}

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer) => Buffer.concat([u8(b.length), b]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);

export function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), vec16(data)]);
}

/** server_name extension data (RFC 6066 §3) from (name_type, name) entries. */
export function serverNameData(entries: Array<[number, Buffer | string]>): Buffer {
  return vec16(Buffer.concat(entries.map(([t, n]) => Buffer.concat([u8(t), vec16(Buffer.from(n))]))));
}

/** ALPN extension data (RFC 7301 §3.1). */
export function alpnData(names: string[]): Buffer {
  return vec16(Buffer.concat(names.map((n) => vec8(Buffer.from(n, 'latin1')))));
}

export interface HelloSpec {
  serverName?: string | null;
  alpn?: string[];
  /** Extensions after server_name/ALPN, verbatim (type, data). */
  extensions?: Array<[number, Buffer]>;
  /** Replaces the whole extension list, bytes verbatim (no length prefix). */
  rawExtensions?: Buffer;
  /** Omit the extensions block entirely (pre-TLS-1.3 clients may). */
  noExtensions?: boolean;
  sessionId?: Buffer;
  cipherSuites?: Buffer;
  compression?: Buffer;
  /** Bytes of an X25519MLKEM768-like key share (1216 for ML-KEM-768 + X25519). */
  pqKeyShare?: number;
}

/** A ClientHello handshake message (4-byte header included), RFC 8446 §4.1.2. */
export function buildHandshake(spec: HelloSpec = {}): Buffer {
  const exts: Buffer[] = [];
  const name = spec.serverName === undefined ? 'built.example.com' : spec.serverName;
  if (name !== null) exts.push(ext(0, serverNameData([[0, name]])));
  if (spec.alpn) exts.push(ext(16, alpnData(spec.alpn)));
  exts.push(ext(43, vec8(Buffer.from([0x03, 0x04, 0x03, 0x03])))); // supported_versions
  if (spec.pqKeyShare) {
    exts.push(ext(10, vec16(Buffer.from([0x11, 0xec, 0x00, 0x1d])))); // supported_groups
    const shares = Buffer.concat([
      u16(0x11ec), vec16(randomBytes(spec.pqKeyShare)), // X25519MLKEM768
      u16(0x001d), vec16(randomBytes(32)), // x25519
    ]);
    exts.push(ext(51, vec16(shares))); // key_share
  }
  for (const [t, d] of spec.extensions ?? []) exts.push(ext(t, d));
  const body = Buffer.concat([
    u16(0x0303),
    randomBytes(32),
    vec8(spec.sessionId ?? randomBytes(32)),
    vec16(spec.cipherSuites ?? Buffer.from([0x13, 0x01, 0x13, 0x02, 0x13, 0x03])),
    vec8(spec.compression ?? Buffer.from([0])),
    spec.noExtensions ? Buffer.alloc(0) : vec16(spec.rawExtensions ?? Buffer.concat(exts)),
  ]);
  return Buffer.concat([u8(1), u24(body.length), body]);
}

/** A ClientHello in one or more records. */
export function buildHello(spec: HelloSpec = {}, recordSize = 16384): Buffer {
  return wrapRecords(buildHandshake(spec), recordSize);
}

/** Splits `buf` into chunks of `size` bytes (the last may be shorter). */
export function chunksOf(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < buf.length; p += size) out.push(buf.subarray(p, p + size));
  return out;
}

/** What feeding `chunks` to a fresh reader ends in: a result, "need more", or an error code. */
export type Outcome =
  | { kind: 'result'; serverName: string | null; alpn: string[]; bytes: Buffer }
  | { kind: 'more' }
  | { kind: 'error'; code: string };

export function feed(chunks: Buffer[], opts?: ReaderOptions): Outcome {
  const reader = new ClientHelloReader(opts);
  try {
    for (const c of chunks) {
      const r = reader.push(c);
      if (r) return { kind: 'result', ...r };
    }
    return { kind: 'more' };
  } catch (err) {
    if (err instanceof SniError) return { kind: 'error', code: err.code };
    throw err;
  }
}
