import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LogOptions {
  /** Human-readable lines instead of JSON. Default: when stdout is a TTY. */
  pretty?: boolean;
  level?: LevelWithSilent;
  /** Where JSON lines go; default stdout. */
  destination?: NodeJS.WritableStream;
}

/**
 * The one logger factory; modules are handed a (child) logger, they never make their own.
 * JSON lines on stdout are a contract (`"event"` fields, see README); a person on a terminal
 * gets pino-pretty, synchronously so that nothing is lost on exit.
 */
export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? (process.env.RELAY_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info';
  const usePretty = opts.pretty ?? Boolean(process.stdout.isTTY);
  const base = { level, base: undefined, redact: { paths: ['privateKey', '*.privateKey', 'key.private'], censor: '[redacted]' } };
  if (usePretty) {
    return pino(base, pretty({ colorize: Boolean(process.stdout.isTTY), sync: true, ignore: 'pid,hostname' }));
  }
  return pino(base, opts.destination ?? pino.destination({ dest: 1, sync: true }));
}

/**
 * What a peer chose, made fit for a log line or a terminal: printable ASCII only (no terminal
 * escapes, no bidirectional overrides), at most `max` characters.
 */
export function printable(s: string, max = 500): string {
  return s.slice(0, max).replace(/[^\x20-\x7e]/g, '?');
}

/** A logger that drops everything: for library users and tests that do not care. */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * Repeated lines from one peer, limited: `burst` lines of each kind per window go out as they
 * are; past that they are counted, and one `log.suppressed` line per kind says how many were
 * dropped, when the window ends or at `flush()` (the peer went away). A peer that sends 100,000
 * bad frames thus costs a handful of log lines, not 100,000 synchronous writes.
 */
export class LogLimiter {
  /** Lines sent and dropped in this window, by event. */
  private readonly kinds = new Map<string, { sent: number; dropped: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly log: Logger, private readonly burst = 10, private readonly windowMs = 10_000) {}

  warn(obj: { event: string } & Record<string, unknown>, msg: string): void {
    let k = this.kinds.get(obj.event);
    if (k === undefined) {
      k = { sent: 0, dropped: 0 };
      this.kinds.set(obj.event, k);
      if (this.timer === null) {
        this.timer = setTimeout(() => this.flush(), this.windowMs);
        this.timer.unref();
      }
    }
    if (k.sent < this.burst) {
      k.sent++;
      this.log.warn(obj, msg);
    } else {
      k.dropped++;
    }
  }

  /** Reports what was dropped and starts a new window. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const [event, k] of this.kinds) {
      if (k.dropped > 0) this.log.warn({ event: 'log.suppressed', of: event, count: k.dropped }, `${k.dropped} more ${event} lines suppressed`);
    }
    this.kinds.clear();
  }
}
