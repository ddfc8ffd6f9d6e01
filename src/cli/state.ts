import { homedir } from 'node:os';
import { join } from 'node:path';

/** The state directory: `$RELAY_HOME`, else `~/.relay`. Keys made on first run live here. */
export function stateDir(): string {
  return process.env.RELAY_HOME || join(homedir(), '.relay');
}

/** Parses a non-negative integer option (milliseconds, counts); commander passes strings. */
export function intOption(name: string): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new Error(`${name} expects a whole number, got ${JSON.stringify(v)}`);
    return Number(v);
  };
}
