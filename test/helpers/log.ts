import { pino } from 'pino';
import type { Logger } from '../../src/log.js';

/** One JSON log line, parsed. */
export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

type Match = (l: LogLine) => boolean;

/**
 * Log lines in arrival order, and the waits of a test on them: `waitFor` resolves with the first
 * line from index `from` (default 0) that matches, already here or yet to come, so a test waits
 * on the line itself and never polls. After `end(error)` (the writer is gone) every pending and
 * later wait for a line not yet seen rejects with `error`, so a test never hangs on a dead writer.
 * The methods are bound: `const { waitEvent } = log` is fine.
 */
export class LogLines {
  readonly lines: LogLine[] = [];
  private waiters: Array<{ match: Match; from: number; resolve: (l: LogLine) => void; reject: (e: Error) => void }> = [];
  private ended: Error | undefined;

  readonly push = (line: LogLine): void => {
    this.lines.push(line);
    const idx = this.lines.length - 1;
    this.waiters = this.waiters.filter((w) => {
      if (idx >= w.from && w.match(line)) { w.resolve(line); return false; }
      return true;
    });
  };

  readonly waitFor = (match: Match, from = 0): Promise<LogLine> => {
    for (let i = from; i < this.lines.length; i++) if (match(this.lines[i])) return Promise.resolve(this.lines[i]);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => this.waiters.push({ match, from, resolve, reject }));
  };

  /** The first line (from index `from`) whose `event` is `event` and that passes `where`. */
  readonly waitEvent = (event: string, where: Match = () => true, from = 0): Promise<LogLine> =>
    this.waitFor((l) => l.event === event && where(l), from);

  readonly end = (error: Error): void => {
    this.ended = error;
    for (const w of this.waiters) w.reject(error);
    this.waiters = [];
  };
}

/** A pino logger (level debug) whose JSON lines land, parsed, in the `LogLines` it comes with. */
export function captureLogger(): LogLines & { logger: Logger } {
  const log = new LogLines();
  const logger = pino({ level: 'debug' }, { write: (s: string) => log.push(JSON.parse(s) as LogLine) });
  return Object.assign(log, { logger });
}
