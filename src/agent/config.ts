import { TableReader, parseTomlTable, readConfigFile } from '../config/index.js';

/**
 * The agent's TOML file: the same settings as its flags, tunnels written as the flags write them.
 *   relay = "relay.example.com:7835"
 *   relay_key = "…43 characters…"
 *   cipher = "chachapoly"
 *   tls = ["app.example.com=127.0.0.1:8443"]
 *   tcp = ["20022=127.0.0.1:22", "127.0.0.1:5432"]
 */
export interface AgentFileConfig {
  relay?: string; relayKey?: string; key?: string; cipher?: string; tls: string[]; tcp: string[];
  maxLocalConns?: number; dialRate?: number; idleTimeoutMs?: number; dialTimeoutMs?: number; maxQueuedBytes?: number;
}

const SETTINGS = ['relay', 'relay_key', 'key', 'cipher', 'tls', 'tcp', 'max_local_conns', 'dial_rate', 'idle_timeout_ms', 'dial_timeout_ms', 'max_queued_bytes'] as const;

function parseAgentConfig(text: string, source = 'config'): AgentFileConfig {
  const r = new TableReader(parseTomlTable(text, source), source);
  r.onlyKeys(SETTINGS);
  return {
    relay: r.str('relay'), relayKey: r.str('relay_key'), key: r.str('key'), cipher: r.str('cipher'), tls: r.strings('tls'), tcp: r.strings('tcp'),
    maxLocalConns: r.num('max_local_conns'), dialRate: r.num('dial_rate'), idleTimeoutMs: r.num('idle_timeout_ms'), dialTimeoutMs: r.num('dial_timeout_ms'), maxQueuedBytes: r.num('max_queued_bytes'),
  };
}

export function loadAgentConfig(path: string): AgentFileConfig {
  return parseAgentConfig(readConfigFile(path), path);
}
