import type { LeaseBook, TakeRule } from '../leases.js';
import type { PrimaryMessage, WorkerMessage } from './messages.js';

/**
 * A worker's leases: every question goes to the primary, which keeps one Leases for the whole
 * relay (cluster/primary.ts). Releases need no answer.
 */
export class LeaseClient implements LeaseBook {
  private nextId = 1;
  private readonly waiting = new Map<number, (ok: boolean) => void>();

  constructor(private readonly send: (m: WorkerMessage) => void) {}

  /** The primary's answer to a question of ours. */
  onMessage(m: PrimaryMessage): void {
    if (m.t !== 'lease') return;
    const done = this.waiting.get(m.id);
    this.waiting.delete(m.id);
    done?.(m.ok);
  }

  take(resource: string, key: string, rule: TakeRule): Promise<boolean> {
    return this.ask((id) => ({ t: 'lease', id, op: 'take', resource, key, rule }));
  }

  mayTake(resource: string, key: string, granted: boolean): Promise<boolean> {
    return this.ask((id) => ({ t: 'lease', id, op: 'mayTake', resource, key, granted }));
  }

  release(resource: string, key: string): void { this.send({ t: 'lease', id: 0, op: 'release', resource, key }); }
  drop(resource: string, key: string): void { this.send({ t: 'lease', id: 0, op: 'drop', resource, key }); }

  private ask(make: (id: number) => WorkerMessage): Promise<boolean> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send(make(id));
    });
  }
}
