import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import net from 'node:net';
import { ConfigError } from '../config/index.js';
import { CidrList } from '../net/index.js';
import type { RelayFileConfig, ReloadableOptions } from '../relay/index.js';

/** The flags of `relay serve` that a config reload re-applies over the file (flags win). */
export interface ReloadableFlags {
  allowAnyAgent?: boolean; dev?: boolean; clientHelloTimeout?: number; idleTimeout?: number; firstByteTimeout?: number;
  maxConnsPerIp?: number; maxConnsPerTunnel?: number; maxPendingPerIp?: number; connRatePerIp?: number; connRatePerTunnel?: number;
  bandwidthPerTunnel?: number; allow: string[]; deny: string[]; proxyProtocolFrom: string[]; adminTokenFile?: string;
}

/**
 * The reloadable settings from the flags and the file (flags win; a repeatable flag given at all
 * replaces the file's list). Read again on every SIGHUP, the token file included.
 */
export function reloadableSettings(f: ReloadableFlags, file: RelayFileConfig): ReloadableOptions {
  const list = (flag: string[], fromFile: CidrList, name: string): CidrList => {
    if (flag.length === 0) return fromFile;
    try { return CidrList.parse(flag); } catch (e) { throw new ConfigError('CONFIG', `${name}: ${(e as Error).message}`); }
  };
  const tokenFile = f.adminTokenFile ?? file.adminTokenFile;
  return {
    allowAnyAgent: f.allowAnyAgent ?? file.allowAnyAgent ?? f.dev ?? false,
    grants: file.agents,
    clientHelloTimeoutMs: f.clientHelloTimeout ?? file.clientHelloTimeoutMs,
    idleTimeoutMs: f.idleTimeout ?? file.idleTimeoutMs,
    firstByteTimeoutMs: f.firstByteTimeout ?? file.firstByteTimeoutMs,
    maxConnsPerIp: f.maxConnsPerIp ?? file.maxConnsPerIp,
    maxConnsPerTunnel: f.maxConnsPerTunnel ?? file.maxConnsPerTunnel,
    maxPendingPerIp: f.maxPendingPerIp ?? file.maxPendingPerIp,
    connRatePerIp: f.connRatePerIp ?? file.connRatePerIp,
    connRatePerTunnel: f.connRatePerTunnel ?? file.connRatePerTunnel,
    bandwidthPerTunnel: f.bandwidthPerTunnel ?? file.bandwidthPerTunnel,
    allow: list(f.allow, file.allow, '--allow'),
    deny: list(f.deny, file.deny, '--deny'),
    proxyProtocolFrom: list(f.proxyProtocolFrom, file.proxyProtocolFrom, '--proxy-protocol-from'),
    adminToken: tokenFile === undefined ? undefined : readAdminToken(tokenFile),
  };
}

/**
 * The admin bearer token: the file's text, trimmed. Held to the private key's standard (the
 * token reads every tunnel and agent of the relay): a regular file, not readable by group or
 * others, 16 to 4096 printable characters.
 */
function readAdminToken(path: string): string {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch (e) {
    throw new ConfigError('CONFIG', `cannot open admin token file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError('CONFIG', `admin token file ${path} is not a regular file`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new ConfigError('CONFIG', `permissions ${(st.mode & 0o777).toString(8).padStart(4, '0')} for admin token file ${path} are too open (run: chmod 600 ${path})`);
    }
    const buf = Buffer.alloc(4097);
    const text = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8').trim();
    if (!/^[\x21-\x7e]{16,4096}$/.test(text)) throw new ConfigError('CONFIG', `admin token file ${path} must hold one token of 16 to 4096 printable characters, no spaces (e.g. openssl rand -hex 32)`);
    return text;
  } finally {
    closeSync(fd);
  }
}

/** Whether an admin listener address is reachable only from this host. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  return net.isIP(host) !== 0 && new CidrList([{ address: '127.0.0.0', prefix: 8, family: 'ipv4' }, { address: '::1', prefix: 128, family: 'ipv6' }]).has(host);
}

/** Settings only a restart applies: listed when a reload finds them changed. */
const FIXED: ReadonlyArray<[keyof RelayFileConfig, string]> = [
  ['key', 'key'], ['tlsListen', 'tls_listen'], ['agentListen', 'agent_listen'], ['adminListen', 'admin_listen'], ['tcpPorts', 'tcp_ports'],
  ['tcpHost', 'tcp_host'], ['publicHost', 'public_host'], ['maxAgentSessions', 'max_agent_sessions'], ['maxQueuedBytes', 'max_queued_bytes'],
  ['drainTimeoutMs', 'drain_timeout_ms'], ['leaseMs', 'lease_ms'], ['workers', 'workers'],
];

export function changedFixedSettings(before: RelayFileConfig, after: RelayFileConfig): string[] {
  return FIXED.filter(([k]) => before[k] !== after[k]).map(([, name]) => name);
}
