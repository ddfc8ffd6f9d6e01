// A slow, obviously-correct codec for the multiplex frames (docs/protocol.md "Multiplex"),
// written from the document byte by byte: the oracle for src/mux/frame.ts.
export interface OracleFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

export function oracleEncode(frames: OracleFrame[]): Buffer {
  const bytes: number[] = [];
  for (const f of frames) {
    bytes.push(f.type);
    bytes.push(f.flags);
    bytes.push(Math.floor(f.payload.length / 256));
    bytes.push(f.payload.length % 256);
    bytes.push(Math.floor(f.streamId / 2 ** 24) % 256);
    bytes.push(Math.floor(f.streamId / 2 ** 16) % 256);
    bytes.push(Math.floor(f.streamId / 2 ** 8) % 256);
    bytes.push(f.streamId % 256);
    for (const b of f.payload) bytes.push(b);
  }
  return Buffer.from(bytes);
}

export function oracleDecode(bytes: Uint8Array): OracleFrame[] | 'truncated' {
  const frames: OracleFrame[] = [];
  let i = 0;
  while (i < bytes.length) {
    if (i + 8 > bytes.length) return 'truncated';
    const type = bytes[i];
    const flags = bytes[i + 1];
    const length = bytes[i + 2] * 256 + bytes[i + 3];
    const streamId = bytes[i + 4] * 2 ** 24 + bytes[i + 5] * 2 ** 16 + bytes[i + 6] * 2 ** 8 + bytes[i + 7];
    if (i + 8 + length > bytes.length) return 'truncated';
    frames.push({ type, flags, streamId, payload: Uint8Array.from(bytes.slice(i + 8, i + 8 + length)) });
    i += 8 + length;
  }
  return frames;
}

export function u32(n: number): Uint8Array {
  return Uint8Array.of(Math.floor(n / 2 ** 24) % 256, Math.floor(n / 2 ** 16) % 256, Math.floor(n / 2 ** 8) % 256, n % 256);
}

/** Open metadata as the document lays it out. */
export function oracleMeta(m: { tunnelId: string; clientAddress?: string; clientPort?: number; serverName?: string }): Uint8Array {
  const enc = new TextEncoder();
  const t = enc.encode(m.tunnelId);
  const a = enc.encode(m.clientAddress ?? '');
  const s = enc.encode(m.serverName ?? '');
  const p = m.clientPort ?? 0;
  return Uint8Array.from([t.length, ...t, a.length, ...a, Math.floor(p / 256), p % 256, s.length, ...s]);
}

/** OPEN payload: u16 metadata length, metadata, first data. */
export function oracleOpenPayload(meta: Uint8Array, firstData: Uint8Array = new Uint8Array(0)): Uint8Array {
  return Uint8Array.from([Math.floor(meta.length / 256), meta.length % 256, ...meta, ...firstData]);
}
