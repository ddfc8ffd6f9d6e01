import type net from 'node:net';
import { MuxError, ResetCode, type Stream } from '../mux/index.js';
import { formatHostPort } from '../net/index.js';
import { SampleRing } from '../web/index.js';
import type { TunnelSpec } from './tunnels.js';

/**
 * How a connection ended (README "Inspector"): `clean` both sides finished (FIN both ways);
 * `client_reset` the relay reset the stream because its socket to the client failed (RST code
 * 1); `relay_reset` the relay reset it for its own reasons (code 0: it closed the connection,
 * e.g. an idle timeout, a drain or a revoked tunnel) or its session was lost; `service_reset`
 * the service's connection failed or was cut; `unreachable` the target could not be dialed;
 * `refused` the agent refused the stream (its limits); `closed` the agent closed it (its idle
 * timeout, or it is stopping).
 */
export type Outcome = 'open' | 'clean' | 'client_reset' | 'relay_reset' | 'service_reset' | 'unreachable' | 'refused' | 'closed';

/** One connection as `GET /api/connections` shows it. Metadata only: never a byte of payload. */
export interface ConnectionRecord {
  id: number;
  /** The relay that opened it (`HOST:PORT`). */
  relay: string;
  tunnel: string;
  type: 'tls' | 'tcp';
  /** ms since the epoch. */
  start: number;
  end: number | null;
  durationMs: number;
  /** The client's address as the relay reported it (OPEN metadata), `HOST:PORT`; null if it sent none. */
  client: string | null;
  /** The relay's public address the client reached (OPEN metadata layout 2), `HOST:PORT`; null if it sent none. */
  server: string | null;
  /** TLS tunnels: the SNI the relay routed on, the ALPN protocols the ClientHello offered (arbitrary bytes of the client's). */
  sni: string | null;
  alpn: string[];
  /** From the client to the service, and back. */
  bytesIn: number;
  bytesOut: number;
  outcome: Outcome;
  /** With the outcome: an RST code (`RST 1`), a mux error code (`CONNECTION_LOST`), a socket error code (`ECONNRESET`) or an agent limit (`max_local_conns`). */
  code: string | null;
}

class Entry {
  stream: Stream | null;
  /** Sent to the pages as it was at the last tick. */
  dirty = true;
  /** Bytes already counted in the tunnel's throughput. */
  countedIn = 0;
  countedOut = 0;
  constructor(readonly rec: ConnectionRecord, stream: Stream) { this.stream = stream; }

  /** Brings the record's byte counts and duration up to `t` while the connection is open. */
  update(t: number): ConnectionRecord {
    const r = this.rec;
    if (this.stream !== null) { r.bytesIn = this.stream.bytesRead; r.bytesOut = this.stream.bytesWritten; r.durationMs = t - r.start; }
    return r;
  }

  /** A copy of the record as of `t`, for a page or the JSON. */
  now(t: number): ConnectionRecord {
    return { ...this.update(t) };
  }
}

/** A tunnel as the inspector lists it. */
export interface TunnelInfo { id: string; type: 'tls' | 'tcp'; name: string; target: string }

/** 5 minutes of one-second samples per tunnel: [t (s), bytes in, bytes out]. */
const TUNNEL_HISTORY = 300;

/**
 * The agent's book of its tunnels' connections for the inspector: the last `keep` connections
 * (open or ended, newest first), and per tunnel the bytes each way per second. Bounded: `keep`
 * records, and the open connections (the agent's own `--max-local-conns`). It holds metadata
 * only: addresses, names, counts, times; never payload.
 */
export class ConnectionBook {
  readonly tunnels: TunnelInfo[];
  /** The newest `keep`, oldest first: a ring, so a new connection costs the same whatever `keep` is. */
  private readonly recent: SampleRing<Entry>;
  private readonly open = new Set<Entry>();
  private readonly series = new Map<string, SampleRing<[number, number, number]>>();
  private nextId = 1;

  constructor(readonly keep: number, specs: TunnelSpec[]) {
    this.tunnels = specs.map((s) => ({ id: s.id, type: s.type, name: s.type === 'tls' ? s.hostname : s.port === 0 ? 'any port' : String(s.port), target: formatHostPort(s.target.host, s.target.port) }));
    for (const t of this.tunnels) this.series.set(t.id, new SampleRing(TUNNEL_HISTORY));
    this.recent = new SampleRing(keep);
  }

  /** A stream the relay opened for `spec`; `ended` is to be called once, with how it ended. */
  opened(relay: string, spec: TunnelSpec, stream: Stream): Entry {
    const m = stream.meta;
    const start = Date.now();
    const e = new Entry({
      id: this.nextId++, relay, tunnel: spec.id, type: spec.type, start, end: null, durationMs: 0,
      client: m.clientAddress !== undefined ? formatHostPort(m.clientAddress, m.clientPort ?? 0) : null,
      server: m.serverAddress !== undefined ? formatHostPort(m.serverAddress, m.serverPort ?? 0) : null,
      sni: spec.type === 'tls' ? (m.serverName ?? null) : null, alpn: spec.type === 'tls' ? (m.alpn ?? []) : [],
      bytesIn: 0, bytesOut: 0, outcome: 'open', code: null,
    }, stream);
    this.open.add(e);
    this.recent.push(e);
    return e;
  }

  ended(e: Entry, outcome: Exclude<Outcome, 'open'>, code: string | null): void {
    if (e.stream === null) return;
    const t = Date.now();
    const r = e.update(t);
    r.end = t;
    r.outcome = outcome;
    r.code = code;
    e.stream = null;
    e.dirty = true;
    // Stays in `open` until the next tick has counted its last bytes.
  }

  /** The kept connections, newest first. */
  list(): ConnectionRecord[] {
    const t = Date.now();
    return this.recent.toArray().map((e) => e.now(t)).reverse();
  }

  /** Each tunnel's history, oldest first. */
  history(): Record<string, Array<[number, number, number]>> {
    return Object.fromEntries([...this.series].map(([id, ring]) => [id, ring.toArray()]));
  }

  /**
   * One second: each tunnel's bytes since the last tick, and, when `withChanges` (a page is
   * open), the kept connections that changed since they were last sent: new, ended, or open (their
   * bytes and duration move). Without, they stay marked for the next tick that has a page.
   */
  tick(withChanges = true): { t: number; tunnels: Record<string, [number, number]>; changed: ConnectionRecord[] } {
    const now = Date.now();
    const t = Math.floor(now / 1000);
    const per: Record<string, [number, number]> = {};
    for (const id of this.series.keys()) per[id] = [0, 0];
    for (const e of this.open) {
      const r = e.update(now);
      const d = per[r.tunnel];
      if (d !== undefined) { d[0] += r.bytesIn - e.countedIn; d[1] += r.bytesOut - e.countedOut; }
      e.countedIn = r.bytesIn;
      e.countedOut = r.bytesOut;
      e.dirty = true;
      if (e.stream === null) this.open.delete(e); // ended: its last bytes are counted now
    }
    for (const [id, ring] of this.series) ring.push([t, per[id][0], per[id][1]]);
    const changed: ConnectionRecord[] = [];
    if (!withChanges) return { t, tunnels: per, changed };
    for (const e of this.recent) {
      if (!e.dirty) continue;
      e.dirty = false;
      changed.push(e.now(now));
    }
    return { t, tunnels: per, changed };
  }
}

/**
 * How a spliced connection ended, from what the splice saw: `err` its first failure (a mux
 * error: the relay's side; a socket error: the service's side), `local` the service socket.
 */
export function outcomeOf(err: Error | undefined, local: net.Socket): { outcome: Exclude<Outcome, 'open' | 'unreachable' | 'refused'>; code: string | null } {
  if (err instanceof MuxError) {
    if (err.code === 'STREAM_RESET') {
      const code = err.resetCode ?? ResetCode.CANCEL;
      return { outcome: code === ResetCode.INTERNAL ? 'client_reset' : 'relay_reset', code: `RST ${code}` };
    }
    return { outcome: 'relay_reset', code: err.code };
  }
  if (err !== undefined) return { outcome: 'service_reset', code: (err as NodeJS.ErrnoException).code ?? err.message.slice(0, 40) };
  // No error: clean when both directions finished; else one side was closed without a FIN.
  if (local.readableEnded && local.writableFinished) return { outcome: 'clean', code: null };
  return { outcome: 'closed', code: null };
}
