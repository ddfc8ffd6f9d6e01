// Test helpers for src/sni: fixture loading, a slow obviously-correct record splitter/re-framer,
// and feeding a reader. The ClientHello builder for the cases no real client sends is
// src/bench/client-hello.ts (`relay bench` starts its SNI connections with it too).
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ClientHelloReader, SniError, type ReaderOptions } from '../../src/sni/index.js';
import { wrapRecords } from '../../src/bench/client-hello.js';

const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/sni/', import.meta.url));

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
function handshakeBytes(records: Buffer): Buffer {
  const parts: Buffer[] = [];
  let p = 0;
  while (p < records.length) {
    const len = records.readUInt16BE(p + 3);
    parts.push(records.subarray(p + 5, p + 5 + len));
    p += 5 + len;
  }
  return Buffer.concat(parts);
}

/** Re-frames a record stream's handshake into records of `size` bytes. */
export function reframe(records: Buffer, size: number): Buffer {
  return wrapRecords(handshakeBytes(records), size);
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
