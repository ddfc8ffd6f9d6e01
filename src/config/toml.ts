import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { RelayError } from '../errors.js';
import { CidrList } from '../net/index.js';

export class ConfigError extends RelayError<'CONFIG'> {}

/** Parses TOML text into its top-level table; a syntax error names the source and its first line. */
export function parseTomlTable(text: string, source: string): Record<string, unknown> {
  try {
    return parseToml(text);
  } catch (e) {
    throw new ConfigError('CONFIG', `${source}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Reads a config file as text; a missing or unreadable file is a ConfigError naming it. */
export function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError('CONFIG', `cannot read config ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Typed reads of one TOML table of the file `source`; `prefix` names the table in messages
 * (`agents[0].key`), so a person learns which setting is wrong. Absent values are undefined;
 * present ones of the wrong type throw.
 */
export class TableReader {
  constructor(private readonly table: Record<string, unknown>, private readonly source: string, private readonly prefix = '') {}

  /** Unknown keys are an error, so a typo is never silently ignored. */
  onlyKeys(known: readonly string[]): void {
    for (const k of Object.keys(this.table)) {
      if (!known.includes(k)) throw new ConfigError('CONFIG', `${this.source}: unknown setting ${JSON.stringify(this.name(k))}`);
    }
  }

  raw(key: string): unknown {
    return this.table[key];
  }

  /** The setting's full name in messages. */
  name(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}.${key}`;
  }

  str(key: string): string | undefined {
    const v = this.table[key];
    if (v !== undefined && typeof v !== 'string') throw new ConfigError('CONFIG', `${this.name(key)} must be a string`);
    return v;
  }

  /** Whole numbers below 2^31: setTimeout fires at once for larger ones. */
  num(key: string): number | undefined {
    const v = this.table[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
      throw new ConfigError('CONFIG', `${this.name(key)} must be a whole number from 0 to 2147483647`);
    }
    return v;
  }

  /** A rate (per second): a number from 0 (off) up, fractions allowed (0.2: one every 5 s). */
  rate(key: string): number | undefined {
    const v = this.table[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1e12) throw new ConfigError('CONFIG', `${this.name(key)} must be a number from 0 (off) up, e.g. 10 or 0.5`);
    return v;
  }

  /** A list of address blocks (`203.0.113.0/24`, `2001:db8::/32`, a bare address). */
  cidrs(key: string): CidrList {
    const texts = this.strings(key); // its own error names the key
    try { return CidrList.parse(texts); } catch (e) {
      throw new ConfigError('CONFIG', `${this.name(key)}: ${(e as Error).message}`);
    }
  }

  bool(key: string): boolean | undefined {
    const v = this.table[key];
    if (v !== undefined && typeof v !== 'boolean') throw new ConfigError('CONFIG', `${this.name(key)} must be true or false`);
    return v;
  }

  strings(key: string): string[] {
    const v = this.table[key] ?? [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ConfigError('CONFIG', `${this.name(key)} must be a list of strings`);
    return v as string[];
  }

  list(key: string): unknown[] {
    const v = this.table[key] ?? [];
    if (!Array.isArray(v)) throw new ConfigError('CONFIG', `${this.name(key)} must be a list`);
    return v;
  }
}
