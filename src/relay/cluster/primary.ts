import cluster, { type Worker } from 'node:cluster';
import type http from 'node:http';
import type { Logger } from '../../log.js';
import { type HostPort, listen } from '../../net/index.js';
import { createAdminServer } from '../admin.js';
import { Dashboard, type Totals } from '../dashboard.js';
import { Leases } from '../leases.js';
import { Metrics } from '../metrics.js';
import { expireLeases } from '../registry.js';
import { mergeMetrics, mergeStatus } from './merge.js';
import { WORKER_ENV, type PrimaryMessage, type WorkerMessage } from './messages.js';

export interface PrimaryOptions {
  workers: number;
  leaseMs: number;
  adminListen: HostPort | null;
  adminTimeoutMs?: number;
  /** The admin token in force (read again on SIGHUP by the caller). */
  adminToken: () => string | undefined;
  /** Re-reads what the primary itself uses of the config (the admin token); throws on a bad file. */
  reload: () => void;
  drainTimeoutMs: number;
  logger: Logger;
}

/** A worker as the primary knows it: its number (1…N, kept by its replacement), what it holds. */
interface Slot {
  n: number;
  worker: Worker;
  ready: Extract<WorkerMessage, { t: 'ready' }> | null;
  /** Leases this worker's sessions hold (resource \0 key → count): released if it dies. */
  holds: Map<string, number>;
}

/**
 * The primary of `relay serve --workers N` (README "Workers"): forks N workers that share the
 * public and agent listeners (Node's cluster hands accepted connections out in turn), keeps the
 * leases for all of them, serves the admin listener with one view of the whole relay, replaces
 * a worker that dies, forwards SIGHUP as a reload and SIGTERM as a drain. It serves no
 * connection itself.
 */
export function runPrimary(o: PrimaryOptions): void {
  const log = o.logger;
  const leases = new Leases(o.leaseMs);
  expireLeases(leases, o.leaseMs, log);
  const slots = new Map<number, Slot>();
  const metrics = new Metrics();
  metrics.counter('relay_worker_restarts_total', 'Workers that died and were replaced');
  metrics.describe('relay_workers', 'Worker processes running');
  metrics.gauge('relay_workers', () => [...slots.values()].filter((s) => s.ready !== null).length);
  let draining = false;
  let announced = false;
  let admin: http.Server | null = null;
  let nextAsk = 1;
  const asks = new Map<number, (v: unknown) => void>();

  const fork = (n: number): void => {
    const worker = cluster.fork({ [WORKER_ENV]: `${n}/${o.workers}` });
    const slot: Slot = { n, worker, ready: null, holds: new Map() };
    slots.set(n, slot);
    worker.on('message', (m: WorkerMessage) => onMessage(slot, m));
    worker.on('exit', (code, signal) => onExit(slot, code, signal));
  };

  const send = (slot: Slot, m: PrimaryMessage): void => {
    if (slot.worker.isConnected()) slot.worker.send(m);
  };

  const hold = (slot: Slot, resource: string, key: string, by: number): void => {
    const k = `${resource}\0${key}`;
    const n = (slot.holds.get(k) ?? 0) + by;
    if (n > 0) slot.holds.set(k, n); else slot.holds.delete(k);
  };

  const onMessage = (slot: Slot, m: WorkerMessage): void => {
    if (m.t === 'lease') {
      if (m.op === 'take') {
        const ok = leases.take(m.resource, m.key, m.rule);
        if (ok) hold(slot, m.resource, m.key, 1);
        send(slot, { t: 'lease', id: m.id, ok });
      } else if (m.op === 'mayTake') {
        send(slot, { t: 'lease', id: m.id, ok: leases.mayTake(m.resource, m.key, m.granted) });
      } else if (m.op === 'release') {
        leases.release(m.resource, m.key);
        hold(slot, m.resource, m.key, -1);
      } else {
        leases.drop(m.resource, m.key);
      }
    } else if (m.t === 'ready') {
      slot.ready = m;
      log.info({ event: 'worker.ready', worker: slot.n, pid: slot.worker.process.pid }, `worker ${slot.n} ready`);
      if (!announced && [...slots.values()].every((s) => s.ready !== null)) void announce(m);
    } else {
      asks.get(m.id)?.(m.value);
      asks.delete(m.id);
    }
  };

  const onExit = (slot: Slot, code: number | null, signal: string | null): void => {
    // What the dead worker's sessions held is free again (their agents reconnect to the others).
    for (const [k, n] of slot.holds) {
      const [resource, key] = k.split('\0');
      for (let i = 0; i < n; i++) leases.release(resource, key);
    }
    if (slots.get(slot.n) === slot) slots.delete(slot.n);
    if (draining) {
      if (slots.size === 0) { log.info({ event: 'relay.stopped' }, 'stopped'); process.exit(0); }
      return;
    }
    metrics.inc('relay_worker_restarts_total');
    log.error({ event: 'worker.exited', worker: slot.n, pid: slot.worker.process.pid, code, signal }, `worker ${slot.n} exited (${code ?? signal}); starting another`);
    fork(slot.n);
  };

  /** Asks every ready worker; a worker that does not answer within 5 s is left out. */
  const askAll = (what: 'status' | 'metrics' | 'totals'): Promise<Array<{ worker: number; pid: number; value: unknown }>> =>
    Promise.all([...slots.values()].filter((s) => s.ready !== null && s.worker.isConnected()).map((s) => new Promise<{ worker: number; pid: number; value: unknown } | null>((resolve) => {
      const id = nextAsk++;
      const timer = setTimeout(() => { asks.delete(id); resolve(null); }, 5_000);
      asks.set(id, (value) => { clearTimeout(timer); resolve({ worker: s.n, pid: s.worker.process.pid ?? 0, value }); });
      send(s, { t: 'ask', id, what });
    }))).then((rows) => rows.filter((r) => r !== null));

  const announce = async (m: Extract<WorkerMessage, { t: 'ready' }>): Promise<void> => {
    announced = true;
    let adminAddress: string | null = null;
    if (o.adminListen) {
      const status = async (): Promise<unknown> => mergeStatus((await askAll('status')).map((r) => ({ worker: r.worker, pid: r.pid, status: r.value })), draining);
      // Each worker counts for itself; a replaced worker (a new pid) counts from 0.
      const dashboard = new Dashboard({
        totals: async () => new Map((await askAll('totals')).map((r) => [`${r.worker}/${r.pid}`, r.value as Totals])),
        status,
        logger: log.child({ part: 'admin' }),
      });
      admin = createAdminServer({
        healthy: () => !draining,
        status,
        metrics: async () => mergeMetrics([...(await askAll('metrics')).map((r) => r.value as string), metrics.render()]),
        token: o.adminToken,
        onRefused: (reason) => metrics.inc('relay_admin_refused_total', { reason }),
        dashboard,
      }, log.child({ part: 'admin' }), o.adminTimeoutMs);
      adminAddress = await listen(admin, o.adminListen);
      dashboard.start();
    }
    log.info({ event: 'relay.ready', tls: m.tls, agent: m.agent, admin: adminAddress, publicKey: m.publicKey, tcpPorts: m.tcpPorts, allowAnyAgent: m.allowAnyAgent, workers: o.workers },
      `relay ready with ${o.workers} workers; agents connect with:\n  relay agent --relay ${m.agent} --relay-key ${m.publicKey} --tls NAME=127.0.0.1:PORT`);
  };

  const stop = (signal: string): void => {
    if (draining) { for (const s of slots.values()) s.worker.process.kill('SIGKILL'); process.exit(1); }
    draining = true;
    // The admin listener stays up: /healthz answers 503 while the workers drain (balancers stop sending).
    log.info({ event: 'relay.stopping', signal, workers: slots.size }, 'stopping: every worker drains');
    for (const s of slots.values()) send(s, { t: 'drain' });
    // A worker that does not finish its drain in time is stopped.
    setTimeout(() => { for (const s of slots.values()) s.worker.process.kill('SIGKILL'); }, o.drainTimeoutMs + 5_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    if (draining) return;
    try { o.reload(); } catch (e) {
      log.error({ event: 'config.reload_failed', error: (e as Error).message }, `config reload failed in the primary, the old config stays in force: ${(e as Error).message}`);
      return;
    }
    for (const s of slots.values()) send(s, { t: 'reload' });
  });

  for (let n = 1; n <= o.workers; n++) fork(n);
}
