import type http from 'node:http';
import type { Logger } from '../log.js';
import { EventHub, SampleRing, StaticAssets } from '../web/index.js';

/**
 * A relay process's counters since it started, as the dashboard samples them: public
 * connections accepted, bytes spliced each way (open connections included, so a long transfer
 * shows as it goes), refusals by reason.
 */
export interface Totals { connections: number; bytesIn: number; bytesOut: number; refused: Record<string, number> }

/** One second of the relay: what happened in it (`refused` lists only the reasons that occurred). */
export interface Sample { t: number; connections: number; bytesIn: number; bytesOut: number; refused: Record<string, number> }

/** 15 minutes of one-second samples. */
const HISTORY = 900;

export interface DashboardOptions {
  /** Each counting process's totals, by a name that stays the same while the process lives (a worker's number and pid). */
  totals: () => Map<string, Totals> | Promise<Map<string, Totals>>;
  /** The `/api/tunnels` document (asked only while a page is open). */
  status: () => unknown;
  logger: Logger;
  maxClients?: number;
}

/**
 * The relay's dashboard (README "Dashboard"): every second it reads the totals, keeps the
 * difference as a sample (the last 15 minutes), and pushes it with the current status to every
 * open page over one event stream (`hello` with the history, then `tick` each second). A
 * process whose totals went down was replaced (a worker restarted): its new totals count from 0.
 */
export class Dashboard {
  readonly assets = new StaticAssets({ '/': 'dashboard.html' });
  private readonly hub: EventHub;
  private readonly samples = new SampleRing<Sample>(HISTORY);
  private readonly last = new Map<string, Totals>();
  private status: unknown = null;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  /** The first reading is the baseline: what happened before the dashboard started is not one second's. */
  private primed = false;

  constructor(private readonly opts: DashboardOptions) {
    this.hub = new EventHub({ logger: opts.logger, maxClients: opts.maxClients });
  }

  start(): void {
    this.timer = setInterval(() => { void this.tick(); }, 1_000);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.hub.closeAll();
  }

  /** A page's event stream: the history and the last status at once, then a tick a second. */
  readonly events = (res: http.ServerResponse): void => {
    this.hub.accept(res, { event: 'hello', data: { samples: this.samples.toArray(), status: this.status } });
  };

  private async tick(): Promise<void> {
    if (this.busy) return; // a slow answer (a worker that hangs) does not pile ticks up
    this.busy = true;
    try {
      const now = await this.opts.totals();
      const sample: Sample = { t: Math.floor(Date.now() / 1000), connections: 0, bytesIn: 0, bytesOut: 0, refused: {} };
      for (const [name, cur] of now) {
        const prev = this.last.get(name) ?? ZERO;
        sample.connections += since(cur.connections, prev.connections);
        sample.bytesIn += since(cur.bytesIn, prev.bytesIn);
        sample.bytesOut += since(cur.bytesOut, prev.bytesOut);
        for (const [reason, n] of Object.entries(cur.refused)) {
          const dn = since(n, prev.refused[reason] ?? 0);
          if (dn > 0) sample.refused[reason] = (sample.refused[reason] ?? 0) + dn;
        }
      }
      this.last.clear();
      for (const [name, cur] of now) this.last.set(name, cur);
      if (!this.primed) { this.primed = true; return; }
      this.samples.push(sample);
      if (this.hub.size > 0) this.status = await this.opts.status();
      this.hub.send('tick', { sample, status: this.status });
    } catch (e) {
      this.opts.logger.error({ event: 'dashboard.error', err: (e as Error).message }, 'dashboard sample failed');
    } finally {
      this.busy = false;
    }
  }
}

const ZERO: Totals = { connections: 0, bytesIn: 0, bytesOut: 0, refused: {} };

/** A counter's growth since `prev`; one that went down belongs to a replaced process and counts from 0. */
const since = (cur: number, prev: number): number => (cur >= prev ? cur - prev : cur);
