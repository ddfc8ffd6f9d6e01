import { isIP } from 'node:net';
import { ConfigError, TableReader, parseTomlTable, readConfigFile } from '../config/index.js';
import { decodeKey } from '../crypto/keys.js';
import { canonicalHostName, isHostPattern, parsePortRange, type PortRange } from '../net/index.js';

/** One `[[agents]]` entry: which key may claim which names and TCP ports. */
export interface AgentGrant {
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
  agents: AgentGrant[];
}

const SETTINGS = ['key', 'tls_listen', 'agent_listen', 'admin_listen', 'tcp_ports', 'tcp_host', 'allow_any_agent', 'public_host',
  'client_hello_timeout_ms', 'idle_timeout_ms', 'first_byte_timeout_ms', 'max_conns_per_tunnel', 'max_conns_per_ip', 'max_agent_sessions', 'max_queued_bytes', 'drain_timeout_ms', 'lease_ms', 'agents'] as const;

function grant(raw: unknown, i: number, source: string): AgentGrant {
  const where = `agents[${i}]`;
  if (typeof raw !== 'object' || raw === null) throw new ConfigError('CONFIG', `${where} must be a table`);
  const r = new TableReader(raw as Record<string, unknown>, source, where);
  r.onlyKeys(['name', 'key', 'hosts', 'ports']);
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
  return { name: r.str('name') ?? `agent${i}`, key, hosts, ports };
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
