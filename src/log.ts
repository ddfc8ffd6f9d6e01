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

/** A logger that drops everything: for library users and tests that do not care. */
export const silentLogger: Logger = pino({ level: 'silent' });
