import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../relay/config.js';

/**
 * The agent's TOML file: the same settings as its flags, tunnels written as the flags write them.
 *   relay = "relay.example.com:7835"
 *   relay_key = "…43 characters…"
 *   cipher = "chachapoly"
 *   tls = ["app.example.com=127.0.0.1:8443"]
 *   tcp = ["20022=127.0.0.1:22", "127.0.0.1:5432"]
 */
export interface AgentFileConfig { relay?: string; relayKey?: string; key?: string; cipher?: string; tls: string[]; tcp: string[] }

export function parseAgentConfig(text: string, source = 'config'): AgentFileConfig {
  let doc: Record<string, unknown>;
  try { doc = parseToml(text) as Record<string, unknown>; } catch (e) {
    throw new ConfigError('CONFIG', `${source}: ${(e as Error).message.split('\n')[0]}`);
  }
  const known = new Set(['relay', 'relay_key', 'key', 'cipher', 'tls', 'tcp']);
  for (const k of Object.keys(doc)) if (!known.has(k)) throw new ConfigError('CONFIG', `${source}: unknown setting ${JSON.stringify(k)}`);
  const s = (k: string): string | undefined => {
    const v = doc[k];
    if (v !== undefined && typeof v !== 'string') throw new ConfigError('CONFIG', `${source}: ${k} must be a string`);
    return v as string | undefined;
  };
  const list = (k: string): string[] => {
    const v = doc[k] ?? [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ConfigError('CONFIG', `${source}: ${k} must be a list of strings`);
    return v as string[];
  };
  return { relay: s('relay'), relayKey: s('relay_key'), key: s('key'), cipher: s('cipher'), tls: list('tls'), tcp: list('tcp') };
}

export function loadAgentConfig(path: string): AgentFileConfig {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    throw new ConfigError('CONFIG', `cannot read config ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseAgentConfig(text, path);
}
