/**
 * What a cluster's primary and its workers say to each other over Node's IPC channel
 * (`process.send`): leases, which the primary keeps for all (so that no two workers give one name
 * or port away), the admin view, reload and drain. Both ends are this program: the messages are
 * typed, not validated as a peer's would be.
 */
import type { TakeRule } from '../leases.js';

export type WorkerMessage =
  | { t: 'lease'; id: number; op: 'take'; resource: string; key: string; rule: TakeRule }
  | { t: 'lease'; id: number; op: 'mayTake'; resource: string; key: string; granted: boolean }
  | { t: 'lease'; id: number; op: 'release' | 'drop'; resource: string; key: string }
  | { t: 'ready'; tls: string | null; agent: string; publicKey: string; tcpPorts: string | null; allowAnyAgent: boolean }
  | { t: 'answer'; id: number; value: unknown };

export type PrimaryMessage =
  | { t: 'lease'; id: number; ok: boolean }
  | { t: 'ask'; id: number; what: 'status' | 'metrics' | 'totals' }
  | { t: 'reload' }
  | { t: 'drain' };

/** The env variable that tells a forked worker its number (1…N) and the count. */
export const WORKER_ENV = 'RELAY_WORKER';
