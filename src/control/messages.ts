import { RelayError } from '../errors.js';
import { printable } from '../log.js';
import { formatCidr, hostPatternProblem, parseCidr } from '../net/index.js';

/**
 * The control conversation between agent and relay (docs/protocol.md "Control stream"): one
 * JSON object per line on the first stream the agent opens. Both sides validate everything they
 * read: the other side may be compromised.
 */
export const CONTROL_TUNNEL_ID = '$control';
/** Room for a register of 256 tunnels with 253-character names, and for its answer. */
const MAX_CONTROL_LINE = 256 * 1024;
export const MAX_TUNNELS_PER_AGENT = 256;
/** Entries one register may list; those past MAX_TUNNELS_PER_AGENT are each refused, not the message. */
const MAX_REGISTER_ENTRIES = 4096;

/** Address blocks one tunnel entry may list in `allow`, and again in `deny`. */
export const MAX_TUNNEL_CIDRS = 64;
/** Worker processes one relay may report (an agent opens a session to each). */
const MAX_WORKERS = 64;
/**
 * The OPEN metadata layout this agent reads (docs/protocol.md "OPEN metadata"): 2 adds the
 * relay's public address and port and the ALPN list. A relay sends the longer layout only to an
 * agent that says it reads it, so an older agent keeps working against a newer relay.
 */
export const OPEN_META_VERSION = 2;

/** Why the relay refused or ended a tunnel (docs/protocol.md "Error codes"). */
export const TUNNEL_ERROR_CODES = ['UNAUTHORIZED_KEY', 'NOT_AUTHORIZED', 'IN_USE', 'DUPLICATE', 'TOO_MANY_TUNNELS', 'BAD_REQUEST', 'NO_TLS_LISTENER',
  'NO_TCP_PORTS', 'NO_FREE_PORT', 'PORT_UNAVAILABLE', 'INTERNAL', 'CLOSED', 'REVOKED'] as const;

export class ControlError extends RelayError<'CONTROL_PROTOCOL'> {}

/**
 * The agent's own narrowing of who may connect to a tunnel (address blocks as text, prefix
 * written): it can only take away from what the relay allows, never add.
 */
interface SourcePolicy { allow?: string[]; deny?: string[] }

export type TunnelRequest =
  | ({ id: string; type: 'tls'; hostname: string } & SourcePolicy)
  | ({ id: string; type: 'tcp'; port: number } & SourcePolicy); // port 0: the relay picks

export type TunnelResult =
  | { id: string; ok: true; type: 'tls'; hostname: string; url: string }
  | { id: string; ok: true; type: 'tcp'; port: number; address: string }
  | { id: string; ok: false; code: string; message: string };

/** An entry the relay answers with a refusal of its own (its id was readable, the rest was not acceptable). */
export interface TunnelRefusal { id: string; refused: { code: string; message: string } }

/** `meta`: the OPEN metadata layout the agent reads (absent: 1). */
export interface RegisterMessage { t: 'register'; meta?: number; tunnels: TunnelRequest[] }
/** A register as the relay reads it: each entry a request or, alone, refused. */
export interface ParsedRegister { t: 'register'; meta: number; tunnels: Array<TunnelRequest | TunnelRefusal> }
/** `relay`: which of the relay's worker processes answered (README "Workers"); absent: a relay of one. */
export interface RegisteredMessage { t: 'registered'; tunnels: TunnelResult[]; relay?: WorkerInfo }
export interface WorkerInfo { worker: number; workers: number }
/**
 * Sent by the relay after `registered`, any number of times: tunnels whose state changed since
 * (a config reload granted one it had refused, or revoked one it had given: code REVOKED).
 */
export interface UpdateMessage { t: 'update'; tunnels: TunnelResult[] }

const ID = /^[A-Za-z0-9_.:@*\-[\]]{1,255}$/; // 255: a tunnel id travels in every OPEN's metadata, whose length field is one byte

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

function id(v: unknown): string {
  if (typeof v !== 'string' || !ID.test(v)) fail('bad tunnel id');
  return v;
}

function port(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) fail('bad port');
  return v;
}

/**
 * Reads a register as the relay does. An entry whose id cannot be read ends the session (there
 * is nothing to answer it with); any other fault in an entry refuses that entry alone, so that one
 * tunnel the relay will not take never costs the agent its others.
 */
export function parseRegister(line: string): ParsedRegister {
  const m = parseLine(line);
  if (m.t !== 'register') fail(`expected register, got ${JSON.stringify(String(m.t)).slice(0, 40)}`);
  if (!Array.isArray(m.tunnels) || m.tunnels.length > MAX_REGISTER_ENTRIES) fail(`tunnels must be a list of at most ${MAX_REGISTER_ENTRIES}`);
  const meta = m.meta === undefined ? 1 : m.meta;
  if (typeof meta !== 'number' || !Number.isInteger(meta) || meta < 1) fail('meta must be a whole number from 1');
  const seen = new Set<string>();
  const tunnels = m.tunnels.map((raw): TunnelRequest | TunnelRefusal => {
    const t = obj(raw, 'tunnel');
    const tid = id(t.id);
    const refuse = (code: string, message: string): TunnelRefusal => ({ id: tid, refused: { code, message } });
    if (seen.has(tid)) return refuse('DUPLICATE', `tunnel id ${tid} is listed twice`);
    seen.add(tid);
    const policy = sourcePolicy(t);
    if (typeof policy === 'string') return refuse('BAD_REQUEST', policy);
    if (t.type === 'tls') {
      if (typeof t.hostname !== 'string') return refuse('BAD_REQUEST', 'hostname must be a string');
      const problem = hostPatternProblem(t.hostname);
      if (problem !== null) return refuse('BAD_REQUEST', `hostname is not a host name or *.pattern (${problem})`);
      return { id: tid, type: 'tls', hostname: t.hostname, ...policy };
    }
    if (t.type === 'tcp') {
      if (typeof t.port !== 'number' || !Number.isInteger(t.port) || t.port < 0 || t.port > 65535) return refuse('BAD_REQUEST', 'port must be a whole number from 0 to 65535');
      return { id: tid, type: 'tcp', port: t.port, ...policy };
    }
    return refuse('BAD_REQUEST', 'tunnel type must be tls or tcp');
  });
  return { t: 'register', meta, tunnels };
}

/** An entry's `allow` and `deny`, each absent or a list of address blocks; a sentence when not. */
function sourcePolicy(t: Record<string, unknown>): SourcePolicy | string {
  const out: SourcePolicy = {};
  for (const k of ['allow', 'deny'] as const) {
    const v = t[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length > MAX_TUNNEL_CIDRS) return `${k} must be a list of at most ${MAX_TUNNEL_CIDRS} address blocks`;
    const blocks: string[] = [];
    for (const c of v) {
      if (typeof c !== 'string' || c.length > 64) return `${k} must list address blocks such as 203.0.113.0/24`;
      try { blocks.push(formatCidr(parseCidr(c))); } catch (e) { return `${k}: ${(e as Error).message}`; }
    }
    out[k] = blocks;
  }
  return out;
}

export function parseRegistered(line: string): RegisteredMessage {
  const m = parseLine(line);
  if (m.t !== 'registered') fail('expected registered');
  const msg: RegisteredMessage = { t: 'registered', tunnels: parseResults(m) };
  if (m.relay !== undefined) {
    const r = obj(m.relay, 'relay');
    const n = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_WORKERS;
    if (!n(r.worker) || !n(r.workers) || r.worker > r.workers) fail('bad relay worker info');
    msg.relay = { worker: r.worker, workers: r.workers };
  }
  return msg;
}

/** Reads what the relay may send after `registered`. */
export function parseUpdate(line: string): UpdateMessage {
  const m = parseLine(line);
  if (m.t === 'registered') fail('only one registered per session');
  if (m.t !== 'update') fail(`expected update, got ${JSON.stringify(String(m.t)).slice(0, 40)}`);
  return { t: 'update', tunnels: parseResults(m) };
}

function parseResults(m: Record<string, unknown>): TunnelResult[] {
  if (!Array.isArray(m.tunnels) || m.tunnels.length > MAX_TUNNELS_PER_AGENT) fail('tunnels must be a list');
  const seen = new Set<string>();
  return m.tunnels.map((raw): TunnelResult => {
    const t = obj(raw, 'result');
    const tid = id(t.id);
    if (seen.has(tid)) fail('two results for one tunnel id');
    seen.add(tid);
    if (t.ok === true) {
      if (t.type === 'tls' && typeof t.hostname === 'string' && typeof t.url === 'string') return { id: tid, ok: true, type: 'tls', hostname: printable(t.hostname), url: printable(t.url) };
      if (t.type === 'tcp' && typeof t.address === 'string') return { id: tid, ok: true, type: 'tcp', port: port(t.port), address: printable(t.address) };
      fail('bad result');
    }
    if (t.ok !== false || typeof t.code !== 'string' || typeof t.message !== 'string') fail('bad result');
    return { id: tid, ok: false, code: printable(t.code).slice(0, 64), message: printable(t.message) };
  });
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

export function encodeLine(m: RegisterMessage | RegisteredMessage | UpdateMessage): Buffer {
  return Buffer.from(JSON.stringify(m) + '\n', 'utf8');
}
