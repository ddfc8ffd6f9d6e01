import { RelayError } from '../errors.js';
import { isHostPattern } from '../net/host-name.js';

/**
 * The control conversation between agent and relay (docs/protocol.md "Control stream"): one
 * JSON object per line on the first stream the agent opens. Both sides validate everything they
 * read: the other side may be compromised.
 */
export const CONTROL_TUNNEL_ID = '$control';
export const MAX_CONTROL_LINE = 64 * 1024;
export const MAX_TUNNELS_PER_AGENT = 256;

/** Why the relay refused a tunnel (docs/protocol.md "Error codes"). */
export const TUNNEL_ERROR_CODES = ['UNAUTHORIZED_KEY', 'NOT_AUTHORIZED', 'IN_USE', 'DUPLICATE', 'TOO_MANY_TUNNELS', 'NO_TLS_LISTENER',
  'NO_TCP_PORTS', 'NO_FREE_PORT', 'PORT_UNAVAILABLE', 'INTERNAL', 'CLOSED'] as const;

export class ControlError extends RelayError<'CONTROL_PROTOCOL'> {}

export type TunnelRequest =
  | { id: string; type: 'tls'; hostname: string }
  | { id: string; type: 'tcp'; port: number }; // port 0: the relay picks

export type TunnelResult =
  | { id: string; ok: true; type: 'tls'; hostname: string; url: string }
  | { id: string; ok: true; type: 'tcp'; port: number; address: string }
  | { id: string; ok: false; code: string; message: string };

export interface RegisterMessage { t: 'register'; tunnels: TunnelRequest[] }
export interface RegisteredMessage { t: 'registered'; tunnels: TunnelResult[] }

const ID = /^[A-Za-z0-9_.:@*\-[\]]{1,128}$/;

function fail(why: string): never { throw new ControlError('CONTROL_PROTOCOL', `control message: ${why}`); }

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function parseLine(line: string): Record<string, unknown> {
  let v: unknown;
  try { v = JSON.parse(line); } catch { fail('not JSON'); }
  return obj(v, 'line');
}

/** What a relay says is shown to a person: printable ASCII only (no terminal escapes), bounded. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 500);
}

function id(v: unknown): string {
  if (typeof v !== 'string' || !ID.test(v)) fail('bad tunnel id');
  return v;
}

function port(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) fail('bad port');
  return v;
}

export function parseRegister(line: string): RegisterMessage {
  const m = parseLine(line);
  if (m.t !== 'register') fail(`expected register, got ${JSON.stringify(String(m.t)).slice(0, 40)}`);
  if (!Array.isArray(m.tunnels) || m.tunnels.length > MAX_TUNNELS_PER_AGENT) fail('tunnels must be a list of at most 256');
  const seen = new Set<string>();
  const tunnels = m.tunnels.map((raw): TunnelRequest => {
    const t = obj(raw, 'tunnel');
    const tid = id(t.id);
    if (seen.has(tid)) fail('duplicate tunnel id');
    seen.add(tid);
    if (t.type === 'tls') {
      if (typeof t.hostname !== 'string' || !isHostPattern(t.hostname)) fail('bad hostname');
      return { id: tid, type: 'tls', hostname: t.hostname };
    }
    if (t.type === 'tcp') return { id: tid, type: 'tcp', port: port(t.port) };
    fail('tunnel type must be tls or tcp');
  });
  return { t: 'register', tunnels };
}

export function parseRegistered(line: string): RegisteredMessage {
  const m = parseLine(line);
  if (m.t !== 'registered') fail('expected registered');
  if (!Array.isArray(m.tunnels) || m.tunnels.length > MAX_TUNNELS_PER_AGENT) fail('tunnels must be a list');
  const tunnels = m.tunnels.map((raw): TunnelResult => {
    const t = obj(raw, 'result');
    const tid = id(t.id);
    if (t.ok === true) {
      if (t.type === 'tls' && typeof t.hostname === 'string' && typeof t.url === 'string') return { id: tid, ok: true, type: 'tls', hostname: printable(t.hostname), url: printable(t.url) };
      if (t.type === 'tcp' && typeof t.address === 'string') return { id: tid, ok: true, type: 'tcp', port: port(t.port), address: printable(t.address) };
      fail('bad result');
    }
    if (t.ok !== false || typeof t.code !== 'string' || typeof t.message !== 'string') fail('bad result');
    return { id: tid, ok: false, code: printable(t.code).slice(0, 64), message: printable(t.message) };
  });
  return { t: 'registered', tunnels };
}

/** Splits a byte stream into lines, refusing any line longer than `maxLine` bytes. */
export class LineDecoder {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly maxLine = MAX_CONTROL_LINE) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      if (this.size + piece.length > this.maxLine) fail('line too long');
      this.parts.push(piece);
      lines.push(Buffer.concat(this.parts).toString('utf8'));
      this.parts = []; this.size = 0;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length) {
      if (this.size + rest.length > this.maxLine) fail('line too long');
      this.parts.push(rest); this.size += rest.length;
    }
    return lines;
  }
}

export function encodeLine(m: RegisterMessage | RegisteredMessage): Buffer {
  return Buffer.from(JSON.stringify(m) + '\n', 'utf8');
}
