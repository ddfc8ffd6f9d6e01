import { RelayError } from '../errors.js';
import { MAX_TUNNEL_CIDRS } from '../control/index.js';
import { parseHostPort, type HostPort, canonicalHostName, formatCidr, hostPatternProblem, parseCidr } from '../net/index.js';

export class TunnelSpecError extends RelayError<'BAD_TUNNEL'> {}

/** One tunnel as the agent's own configuration names it: the only place the agent dials. */
export type TunnelSpec = TlsTunnelSpec | TcpTunnelSpec;
export interface TlsTunnelSpec extends TunnelPolicy { id: string; type: 'tls'; hostname: string; target: HostPort }
export interface TcpTunnelSpec extends TunnelPolicy { id: string; type: 'tcp'; port: number; target: HostPort }

/** What the agent's owner sets per tunnel beyond where it goes. */
export interface TunnelPolicy {
  /** Address blocks (text, prefix written) the relay must admit clients from / refuse: they only narrow the relay's own. */
  allow?: string[];
  deny?: string[];
  /** Write a PROXY protocol header of this version to the target before the stream's bytes. */
  proxyProtocol?: 'v1' | 'v2';
}

/** What the owner wrote for a tunnel's policy, before it is checked; `names`: how to name each part in errors. */
export interface PolicyText { proxyProtocol?: string; allow?: readonly string[]; deny?: readonly string[] }
const FLAG_NAMES = { proxyProtocol: '--proxy-protocol', allow: '--allow', deny: '--deny' };

/**
 * Checks a tunnel's policy: `proxyProtocol` is `v1` or `v2`; `allow` and `deny` are address
 * blocks (at most MAX_TUNNEL_CIDRS each, the relay's own bound), kept in their canonical text.
 * Only what is set appears in the result. Throws BAD_TUNNEL naming the part (`--allow`, or the
 * setting's name in the config file).
 */
export function parseTunnelPolicy(p: PolicyText, names: { proxyProtocol: string; allow: string; deny: string } = FLAG_NAMES): TunnelPolicy {
  const out: TunnelPolicy = {};
  if (p.proxyProtocol !== undefined) {
    if (p.proxyProtocol !== 'v1' && p.proxyProtocol !== 'v2') {
      throw new TunnelSpecError('BAD_TUNNEL', `${names.proxyProtocol} must be v1 or v2, got ${JSON.stringify(p.proxyProtocol)}`);
    }
    out.proxyProtocol = p.proxyProtocol;
  }
  for (const k of ['allow', 'deny'] as const) {
    const list = p[k];
    if (!list || list.length === 0) continue;
    if (list.length > MAX_TUNNEL_CIDRS) throw new TunnelSpecError('BAD_TUNNEL', `${names[k]}: at most ${MAX_TUNNEL_CIDRS} address blocks per tunnel`);
    out[k] = list.map((text) => {
      try {
        return formatCidr(parseCidr(text));
      } catch (e) {
        throw new TunnelSpecError('BAD_TUNNEL', `${names[k]}: ${(e as Error).message}`);
      }
    });
  }
  return out;
}

/** `--tls NAME=HOST:PORT`; `where` names it in errors (`--tls`, `tls[0]`). */
export function parseTlsSpec(text: string, policy: TunnelPolicy = {}, where = '--tls'): TlsTunnelSpec {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new TunnelSpecError('BAD_TUNNEL', `${where} expects NAME=HOST:PORT, got ${JSON.stringify(text)}`);
  return tlsTunnelSpec(text.slice(0, eq), text.slice(eq + 1), policy, where);
}

/** A TLS tunnel from its name and target text; `where` names it in errors (`--tls`, `tls[0]`). */
export function tlsTunnelSpec(name: string, targetText: string, policy: TunnelPolicy = {}, where = '--tls'): TlsTunnelSpec {
  const hostname = canonicalHostName(name);
  // The ClientHello reader's own rule: a name it accepts is one a client can reach.
  const problem = hostPatternProblem(hostname);
  if (problem !== null) throw new TunnelSpecError('BAD_TUNNEL', `${where}: ${JSON.stringify(hostname)} is not a host name (${problem})`);
  const target = parseTarget(targetText, where);
  // The name is the id: a host name has no ':', so it never meets a `tcp:N` id, and at most
  // 253 characters it fits an OPEN's metadata (docs/protocol.md "Control stream").
  return { id: hostname, type: 'tls', hostname, target, ...policy };
}

/**
 * `--tcp [PORT=]HOST:PORT` (PORT: the public port asked for; 0 or absent: the relay picks).
 * `ordinal` (0-based, among the agent's TCP tunnels) makes the tunnel id: an opaque `tcp:N`, so
 * the relay never learns what the agent dials, and the id stays the same across reconnects.
 */
export function parseTcpSpec(text: string, ordinal = 0, policy: TunnelPolicy = {}, where = '--tcp'): TcpTunnelSpec {
  const eq = text.indexOf('=');
  let port = 0;
  if (eq >= 0) {
    const p = text.slice(0, eq);
    if (!/^\d{1,5}$/.test(p) || Number(p) > 65535) throw new TunnelSpecError('BAD_TUNNEL', `${where}: ${JSON.stringify(p)} is not a port`);
    port = Number(p);
  }
  return tcpTunnelSpec(port, text.slice(eq + 1), ordinal, policy, where);
}

/** A TCP tunnel from its public port (0: any), target text and ordinal; `where` names it in errors. */
export function tcpTunnelSpec(port: number, targetText: string, ordinal: number, policy: TunnelPolicy = {}, where = '--tcp'): TcpTunnelSpec {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TunnelSpecError('BAD_TUNNEL', `${where}: ${port} is not a port`);
  return { id: `tcp:${ordinal + 1}`, type: 'tcp', port, target: parseTarget(targetText, where), ...policy };
}

function parseTarget(text: string, where: string): HostPort {
  try {
    const t = parseHostPort(text, '127.0.0.1');
    if (t.port === 0) throw new Error('port 0');
    return t;
  } catch {
    throw new TunnelSpecError('BAD_TUNNEL', `${where}: target must be HOST:PORT, got ${JSON.stringify(text)}`);
  }
}
