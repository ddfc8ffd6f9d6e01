import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { RelayError } from '../errors.js';
import { parsePortRange } from '../net/address.js';

export class ConfigError extends RelayError<'CONFIG'> {}

/** One `[[agents]]` entry: which key may claim which names and TCP ports. */
export interface AgentGrant {
  name: string;
  /** X25519 public key, base64url (43 characters). */
  key: string;
  /** Exact names or `*.example.com` patterns this key may claim. */
  hosts: string[];
  /** Inclusive port ranges this key may claim (a single port is a range of one). */
  ports: Array<{ from: number; to: number }>;
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
  maxConnsPerTunnel?: number;
  maxConnsPerIp?: number;
  drainTimeoutMs?: number;
  leaseMs?: number;
  agents: AgentGrant[];
}

const HOST_PATTERN = /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
const KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;

/** Validates a host pattern as written in config or asked for by an agent. */
export function isHostPattern(s: string): boolean {
  return s.length <= 253 && HOST_PATTERN.test(s);
}

function str(v: unknown, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ConfigError('CONFIG', `${where} must be a string`);
  return v;
}
function num(v: unknown, where: string): number | undefined {
  if (v === undefined) return undefined;
  // Whole numbers below 2^31: setTimeout fires at once for larger ones.
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new ConfigError('CONFIG', `${where} must be a whole number from 0 to 2147483647`);
  return v;
}
function bool(v: unknown, where: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError('CONFIG', `${where} must be true or false`);
  return v;
}

function grant(raw: unknown, i: number): AgentGrant {
  const where = `agents[${i}]`;
  if (typeof raw !== 'object' || raw === null) throw new ConfigError('CONFIG', `${where} must be a table`);
  const r = raw as Record<string, unknown>;
  const key = str(r.key, `${where}.key`);
  if (!key || !KEY_TEXT.test(key)) throw new ConfigError('CONFIG', `${where}.key must be a 43-character base64url public key`);
  const hosts = r.hosts ?? [];
  if (!Array.isArray(hosts)) throw new ConfigError('CONFIG', `${where}.hosts must be a list`);
  for (const h of hosts) {
    if (typeof h !== 'string' || !isHostPattern(h.toLowerCase())) throw new ConfigError('CONFIG', `${where}.hosts: ${JSON.stringify(h)} is not a host name or *.pattern`);
  }
  const ports = r.ports ?? [];
  if (!Array.isArray(ports)) throw new ConfigError('CONFIG', `${where}.ports must be a list`);
  return {
    name: str(r.name, `${where}.name`) ?? `agent${i}`,
    key,
    hosts: (hosts as string[]).map((h) => h.toLowerCase()),
    ports: ports.map((p) => {
      try { return parsePortRange(String(p)); } catch (e) { throw new ConfigError('CONFIG', `${where}.ports: ${(e as Error).message}`); }
    }),
  };
}

/** Parses the relay's TOML text. Unknown keys are an error, so a typo is not silently ignored. */
export function parseRelayConfig(text: string, source = 'config'): RelayFileConfig {
  let doc: Record<string, unknown>;
  try { doc = parseToml(text) as Record<string, unknown>; } catch (e) {
    throw new ConfigError('CONFIG', `${source}: ${(e as Error).message.split('\n')[0]}`);
  }
  const known = new Set(['key', 'tls_listen', 'agent_listen', 'admin_listen', 'tcp_ports', 'tcp_host', 'allow_any_agent', 'public_host',
    'client_hello_timeout_ms', 'idle_timeout_ms', 'max_conns_per_tunnel', 'max_conns_per_ip', 'drain_timeout_ms', 'lease_ms', 'agents']);
  for (const k of Object.keys(doc)) if (!known.has(k)) throw new ConfigError('CONFIG', `${source}: unknown setting ${JSON.stringify(k)}`);
  const agents = doc.agents ?? [];
  if (!Array.isArray(agents)) throw new ConfigError('CONFIG', `${source}: agents must be an array of tables ([[agents]])`);
  const cfg: RelayFileConfig = {
    key: str(doc.key, 'key'),
    tlsListen: str(doc.tls_listen, 'tls_listen'),
    agentListen: str(doc.agent_listen, 'agent_listen'),
    adminListen: str(doc.admin_listen, 'admin_listen'),
    tcpPorts: str(doc.tcp_ports, 'tcp_ports'),
    tcpHost: str(doc.tcp_host, 'tcp_host'),
    allowAnyAgent: bool(doc.allow_any_agent, 'allow_any_agent'),
    publicHost: str(doc.public_host, 'public_host'),
    clientHelloTimeoutMs: num(doc.client_hello_timeout_ms, 'client_hello_timeout_ms'),
    idleTimeoutMs: num(doc.idle_timeout_ms, 'idle_timeout_ms'),
    maxConnsPerTunnel: num(doc.max_conns_per_tunnel, 'max_conns_per_tunnel'),
    maxConnsPerIp: num(doc.max_conns_per_ip, 'max_conns_per_ip'),
    drainTimeoutMs: num(doc.drain_timeout_ms, 'drain_timeout_ms'),
    leaseMs: num(doc.lease_ms, 'lease_ms'),
    agents: agents.map(grant),
  };
  const seen = new Set<string>();
  for (const a of cfg.agents) {
    if (seen.has(a.key)) throw new ConfigError('CONFIG', `${source}: key of agent ${JSON.stringify(a.name)} is listed twice`);
    seen.add(a.key);
  }
  return cfg;
}

export function loadRelayConfig(path: string): RelayFileConfig {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    throw new ConfigError('CONFIG', `cannot read config ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseRelayConfig(text, path);
}
