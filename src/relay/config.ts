import { isIP } from 'node:net';
import { ConfigError, TableReader, parseTomlTable, readConfigFile } from '../config/index.js';
import { decodeKey } from '../crypto/keys.js';
import { canonicalHostName, isHostPattern, parsePortRange, type CidrList, type PortRange } from '../net/index.js';

/** Who may connect and how fast: set relay-wide, and again per `[[agents]]` entry as a cap on that key's tunnels. */
export interface EdgeLimits {
  /** Source addresses admitted (absent or empty: all) and refused. */
  allow?: CidrList;
  deny?: CidrList;
  /** New connections per second per source address, and per tunnel (0 or absent: no limit). */
  connRatePerIp?: number;
  connRatePerTunnel?: number;
  /** Bytes per second per tunnel, each direction (0 or absent: no limit). */
  bandwidthPerTunnel?: number;
}

/** One `[[agents]]` entry: which key may claim which names and TCP ports, and its tunnels' edge limits. */
export interface AgentGrant extends EdgeLimits {
  name: string;
  /** X25519 public key, base64url (43 characters). */
  key: string;
  /** Exact names or `*.example.com` patterns this key may claim. */
  hosts: string[];
  /** Inclusive port ranges this key may claim (a single port is a range of one). */
  ports: PortRange[];
}

/** Everything `relay serve` reads from its TOML file; every field optional, flags win. */
export interface RelayFileConfig {
  key?: string;
  tlsListen?: string;
  agentListen?: string;
  adminListen?: string;
  tcpPorts?: string;
  tcpHost?: string;
  allowAnyAgent?: boolean;
  publicHost?: string;
  clientHelloTimeoutMs?: number;
  idleTimeoutMs?: number;
  firstByteTimeoutMs?: number;
  maxConnsPerTunnel?: number;
  maxAgentSessions?: number;
  maxQueuedBytes?: number;
  maxConnsPerIp?: number;
  drainTimeoutMs?: number;
  leaseMs?: number;
  /** Relay-wide source policy and rates (README "Edge policy"). */
  allow: CidrList;
  deny: CidrList;
  connRatePerIp?: number;
  connRatePerTunnel?: number;
  bandwidthPerTunnel?: number;
  maxPendingPerIp?: number;
  /** Balancers whose connections start with a PROXY protocol header. */
  proxyProtocolFrom: CidrList;
  adminTokenFile?: string;
  /** Worker processes (`--workers`): a number or "auto". */
  workers?: string;
  agents: AgentGrant[];
}

const LIMIT_KEYS = ['allow', 'deny', 'conn_rate_per_ip', 'conn_rate_per_tunnel', 'bandwidth_per_tunnel'] as const;
const SETTINGS = ['key', 'tls_listen', 'agent_listen', 'admin_listen', 'tcp_ports', 'tcp_host', 'allow_any_agent', 'public_host',
  'client_hello_timeout_ms', 'idle_timeout_ms', 'first_byte_timeout_ms', 'max_conns_per_tunnel', 'max_conns_per_ip', 'max_agent_sessions', 'max_queued_bytes',
  'drain_timeout_ms', 'lease_ms', 'max_pending_per_ip', 'proxy_protocol_from', 'admin_token_file', 'workers', ...LIMIT_KEYS, 'agents'] as const;

/** The edge limits of a table (the file's top level, or one `[[agents]]` entry). */
function edgeLimits(r: TableReader): EdgeLimits & { allow: CidrList; deny: CidrList } {
  return {
    allow: r.cidrs('allow'),
    deny: r.cidrs('deny'),
    connRatePerIp: r.rate('conn_rate_per_ip'),
    connRatePerTunnel: r.rate('conn_rate_per_tunnel'),
    bandwidthPerTunnel: r.num('bandwidth_per_tunnel'),
  };
}

function grant(raw: unknown, i: number, source: string): AgentGrant {
  const where = `agents[${i}]`;
  if (typeof raw !== 'object' || raw === null) throw new ConfigError('CONFIG', `${where} must be a table`);
  const r = new TableReader(raw as Record<string, unknown>, source, where);
  r.onlyKeys(['name', 'key', 'hosts', 'ports', ...LIMIT_KEYS]);
  const key = r.str('key') ?? '';
  // Canonical text only: keys are compared as text, so another spelling of the same 32 bytes
  // (base64url's last character carries two spare bits) would never match the agent's.
  try { decodeKey(key); } catch {
    throw new ConfigError('CONFIG', `${where}.key must be a public key: 43 base64url characters, as relay keygen prints them`);
  }
  const hosts = r.list('hosts').map((h) => {
    const host = typeof h === 'string' ? canonicalHostName(h) : '';
    if (!isHostPattern(host)) throw new ConfigError('CONFIG', `${where}.hosts: ${JSON.stringify(h)} is not a host name or *.pattern`);
    return host;
  });
  const ports = r.list('ports').map((p) => {
    try { return parsePortRange(String(p)); } catch (e) { throw new ConfigError('CONFIG', `${where}.ports: ${(e as Error).message}`); }
  });
  return { name: r.str('name') ?? `agent${i}`, key, hosts, ports, ...edgeLimits(r) };
}

/** Parses the relay's TOML text. Unknown keys are an error, so a typo is not silently ignored. */
export function parseRelayConfig(text: string, source = 'config'): RelayFileConfig {
  const r = new TableReader(parseTomlTable(text, source), source);
  r.onlyKeys(SETTINGS);
  const agents = r.raw('agents') ?? [];
  if (!Array.isArray(agents)) throw new ConfigError('CONFIG', `${source}: agents must be an array of tables ([[agents]])`);
  const cfg: RelayFileConfig = {
    key: r.str('key'),
    tlsListen: r.str('tls_listen'),
    agentListen: r.str('agent_listen'),
    adminListen: r.str('admin_listen'),
    tcpPorts: r.str('tcp_ports'),
    tcpHost: r.str('tcp_host'),
    allowAnyAgent: r.bool('allow_any_agent'),
    publicHost: r.str('public_host'),
    clientHelloTimeoutMs: r.num('client_hello_timeout_ms'),
    idleTimeoutMs: r.num('idle_timeout_ms'),
    firstByteTimeoutMs: r.num('first_byte_timeout_ms'),
    maxConnsPerTunnel: r.num('max_conns_per_tunnel'),
    maxAgentSessions: r.num('max_agent_sessions'),
    maxQueuedBytes: r.num('max_queued_bytes'),
    maxConnsPerIp: r.num('max_conns_per_ip'),
    drainTimeoutMs: r.num('drain_timeout_ms'),
    leaseMs: r.num('lease_ms'),
    ...edgeLimits(r),
    maxPendingPerIp: r.num('max_pending_per_ip'),
    proxyProtocolFrom: r.cidrs('proxy_protocol_from'),
    adminTokenFile: r.str('admin_token_file'),
    workers: workersSetting(r),
    agents: agents.map((a, i) => grant(a, i, source)),
  };
  checkRelaySettings(cfg, source, { clientHelloTimeoutMs: 'client_hello_timeout_ms', tcpHost: 'tcp_host' });
  const seen = new Set<string>();
  for (const a of cfg.agents) {
    if (seen.has(a.key)) throw new ConfigError('CONFIG', `${source}: key of agent ${JSON.stringify(a.name)} is listed twice`);
    seen.add(a.key);
  }
  return cfg;
}

/**
 * Checks that hold whether a setting came from the file or a flag (`source`: the file, or empty
 * for flags; `names`: how that source spells them): 0 means "off" for every limit but the
 * ClientHello deadline, which cannot be off; TCP tunnel ports bind to an address, never a name.
 */
export function checkRelaySettings(s: { clientHelloTimeoutMs?: number; tcpHost?: string }, source: string, names: { clientHelloTimeoutMs: string; tcpHost: string }): void {
  const at = source === '' ? '' : `${source}: `;
  if (s.clientHelloTimeoutMs === 0) throw new ConfigError('CONFIG', `${at}${names.clientHelloTimeoutMs} must be at least 1: the ClientHello deadline cannot be off`);
  if (s.tcpHost !== undefined && isIP(s.tcpHost) === 0) throw new ConfigError('CONFIG', `${at}${names.tcpHost} must be an IP address, got ${JSON.stringify(s.tcpHost)}`);
}

export function loadRelayConfig(path: string): RelayFileConfig {
  return parseRelayConfig(readConfigFile(path), path);
}

/**
 * What changed between two sets of grants, for the reload log line: each entry "NAME: what"
 * (a host pattern, or "ports A-B"), listed under added or removed.
 */
export function diffGrants(before: readonly AgentGrant[], after: readonly AgentGrant[]): { added: string[]; removed: string[] } {
  const items = (gs: readonly AgentGrant[]): Set<string> => {
    const out = new Set<string>();
    for (const g of gs) {
      const who = `${g.name} (${g.key.slice(0, 8)})`;
      out.add(`${who}: key`);
      for (const h of g.hosts) out.add(`${who}: ${h}`);
      for (const p of g.ports) out.add(`${who}: ports ${p.from === p.to ? p.from : `${p.from}-${p.to}`}`);
    }
    return out;
  };
  const a = items(before);
  const b = items(after);
  return { added: [...b].filter((x) => !a.has(x)), removed: [...a].filter((x) => !b.has(x)) };
}

/** `workers = 4` or `workers = "auto"`, kept as text for the flag's parser. */
function workersSetting(r: TableReader): string | undefined {
  const v = r.raw('workers');
  if (v === undefined) return undefined;
  if (typeof v === 'number' || v === 'auto') return String(v);
  throw new ConfigError('CONFIG', `${r.name('workers')} must be a number or "auto"`);
}
