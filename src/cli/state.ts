import { InvalidArgumentError } from 'commander';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The state directory: `$RELAY_HOME`, else `~/.relay`. Keys made on first run live here. */
export function stateDir(): string {
  return process.env.RELAY_HOME || join(homedir(), '.relay');
}

/**
 * Parses a non-negative integer option (milliseconds, counts); commander passes strings. A bad
 * value is commander's InvalidArgumentError: one line naming the option, exit 1.
 */
export function intOption(name: string): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) > 0x7fffffff) {
      throw new InvalidArgumentError(`${name} expects a whole number from 0 to 2147483647, got ${JSON.stringify(v)}`);
    }
    return Number(v);
  };
}

/** Parses a rate per second (connections, bytes): a number from 0 (off) up, fractions allowed. */
export function rateOption(name: string): (v: string) => number {
  return (v: string) => {
    if (!/^\d+(\.\d+)?$/.test(v) || Number(v) > 1e12) throw new InvalidArgumentError(`${name} expects a rate per second such as 10 or 0.5 (0: no limit), got ${JSON.stringify(v)}`);
    return Number(v);
  };
}

/** Collects a repeatable option's values. */
export const collect = (v: string, prev: string[]): string[] => [...prev, v];
