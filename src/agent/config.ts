import { ConfigError, TableReader, parseTomlTable, readConfigFile } from '../config/index.js';
import { parseTcpSpec, parseTlsSpec, parseTunnelPolicy, tcpTunnelSpec, tlsTunnelSpec, TunnelSpecError, type TcpTunnelSpec,
  type TlsTunnelSpec, type TunnelPolicy } from './tunnels.js';

/**
 * The agent's TOML file: the same settings as its flags. A tunnel is written as its flag writes
 * it, or as a table when it has a policy (README "Configuration files"):
 *   relay = "relay.example.com:7835"       # or a list: ["relay1.example.com:7835", "relay2.example.com:7835"]
 *   relay_key = "…43 characters…"
 *   cipher = "chachapoly"
 *   tls = ["app.example.com=127.0.0.1:8443",
 *          { name = "api.example.com", target = "127.0.0.1:8444", proxy_protocol = "v2", allow = ["10.0.0.0/8"] }]
 *   tcp = ["20022=127.0.0.1:22", { port = 5432, target = "127.0.0.1:5432", proxy_protocol = "v1", deny = ["192.0.2.0/24"] }]
 */
export interface AgentFileConfig {
  /** One relay or several (`relay = ["a:7835", "b:7835"]`). */
  relay: string[]; relayKey?: string; key?: string; cipher?: string;
  /** Checked already; TCP tunnels numbered from `tcp:1` in file order (flags' tunnels come after). */
  tls: TlsTunnelSpec[]; tcp: TcpTunnelSpec[];
  maxLocalConns?: number; dialRate?: number; idleTimeoutMs?: number; dialTimeoutMs?: number; maxQueuedBytes?: number;
  /** The inspector's address (`off`: none), and how many connections it keeps. */
  inspect?: string; inspectKeep?: number;
}

const SETTINGS = ['relay', 'relay_key', 'key', 'cipher', 'tls', 'tcp', 'max_local_conns', 'dial_rate', 'idle_timeout_ms', 'dial_timeout_ms', 'max_queued_bytes', 'inspect', 'inspect_keep'] as const;
const POLICY = ['proxy_protocol', 'allow', 'deny'] as const;

function parseAgentConfig(text: string, source = 'config'): AgentFileConfig {
  const r = new TableReader(parseTomlTable(text, source), source);
  r.onlyKeys(SETTINGS);
  try {
    return {
      relay: relayList(r), relayKey: r.str('relay_key'), key: r.str('key'), cipher: r.str('cipher'),
      tls: r.list('tls').map((entry, i) => tlsEntry(entry, `tls[${i}]`, source)),
      tcp: r.list('tcp').map((entry, i) => tcpEntry(entry, i, `tcp[${i}]`, source)),
      maxLocalConns: r.num('max_local_conns'), dialRate: r.num('dial_rate'), idleTimeoutMs: r.num('idle_timeout_ms'), dialTimeoutMs: r.num('dial_timeout_ms'), maxQueuedBytes: r.num('max_queued_bytes'),
      inspect: r.str('inspect'), inspectKeep: r.num('inspect_keep'),
    };
  } catch (e) {
    // A tunnel's own checks name the entry (`tls[1].allow: …`); the file is named here.
    if (e instanceof TunnelSpecError) throw new ConfigError('CONFIG', `${source}: ${e.message}`);
    throw e;
  }
}

/** `relay`: a string or a list of strings. */
function relayList(r: TableReader): string[] {
  const v = r.raw('relay');
  if (v === undefined) return [];
  return typeof v === 'string' ? [v] : r.strings('relay');
}

/** A `tls` entry: `"NAME=HOST:PORT"`, or `{ name, target, proxy_protocol?, allow?, deny? }`. */
function tlsEntry(entry: unknown, where: string, source: string): TlsTunnelSpec {
  if (typeof entry === 'string') return parseTlsSpec(entry, {}, where);
  const t = table(entry, where, source, ['name', 'target', ...POLICY]);
  return tlsTunnelSpec(required(t, 'name'), required(t, 'target'), policyOf(t), where);
}

/** A `tcp` entry: `"[PORT=]HOST:PORT"`, or `{ port?, target, proxy_protocol?, allow?, deny? }`. */
function tcpEntry(entry: unknown, ordinal: number, where: string, source: string): TcpTunnelSpec {
  if (typeof entry === 'string') return parseTcpSpec(entry, ordinal, {}, where);
  const t = table(entry, where, source, ['port', 'target', ...POLICY]);
  return tcpTunnelSpec(t.num('port') ?? 0, required(t, 'target'), ordinal, policyOf(t), where);
}

function table(entry: unknown, where: string, source: string, keys: readonly string[]): TableReader {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new ConfigError('CONFIG', `${source}: ${where} must be a string or a table`);
  }
  const t = new TableReader(entry as Record<string, unknown>, source, where);
  t.onlyKeys(keys);
  return t;
}

function required(t: TableReader, key: string): string {
  const v = t.str(key);
  if (v === undefined) throw new ConfigError('CONFIG', `${t.name(key)} is required`);
  return v;
}

function policyOf(t: TableReader): TunnelPolicy {
  return parseTunnelPolicy({ proxyProtocol: t.str('proxy_protocol'), allow: t.strings('allow'), deny: t.strings('deny') },
    { proxyProtocol: t.name('proxy_protocol'), allow: t.name('allow'), deny: t.name('deny') });
}

export function loadAgentConfig(path: string): AgentFileConfig {
  return parseAgentConfig(readConfigFile(path), path);
}
