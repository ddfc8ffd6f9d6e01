import { RelayError } from '../errors.js';
import { parseHostPort, type HostPort, canonicalHostName, hostPatternProblem } from '../net/index.js';

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

/** `--tls NAME=HOST:PORT` */
export function parseTlsSpec(text: string): TlsTunnelSpec {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new TunnelSpecError('BAD_TUNNEL', `--tls expects NAME=HOST:PORT, got ${JSON.stringify(text)}`);
  const hostname = canonicalHostName(text.slice(0, eq));
  // The ClientHello reader's own rule: a name it accepts is one a client can reach.
  const problem = hostPatternProblem(hostname);
  if (problem !== null) throw new TunnelSpecError('BAD_TUNNEL', `--tls: ${JSON.stringify(hostname)} is not a host name (${problem})`);
  const target = parseTarget(text.slice(eq + 1), '--tls');
  // The name is the id: a host name has no ':', so it never meets a `tcp:N` id, and at most
  // 253 characters it fits an OPEN's metadata (docs/protocol.md "Control stream").
  return { id: hostname, type: 'tls', hostname, target };
}

/**
 * `--tcp [PORT=]HOST:PORT` (PORT: the public port asked for; 0 or absent: the relay picks).
 * `ordinal` (0-based, among the agent's TCP tunnels) makes the tunnel id: an opaque `tcp:N`, so
 * the relay never learns what the agent dials, and the id stays the same across reconnects.
 */
export function parseTcpSpec(text: string, ordinal = 0): TcpTunnelSpec {
  const eq = text.indexOf('=');
  let port = 0;
  if (eq >= 0) {
    const p = text.slice(0, eq);
    if (!/^\d{1,5}$/.test(p) || Number(p) > 65535) throw new TunnelSpecError('BAD_TUNNEL', `--tcp: ${JSON.stringify(p)} is not a port`);
    port = Number(p);
  }
  const target = parseTarget(text.slice(eq + 1), '--tcp');
  return { id: `tcp:${ordinal + 1}`, type: 'tcp', port, target };
}

function parseTarget(text: string, flag: string): HostPort {
  try {
    const t = parseHostPort(text, '127.0.0.1');
    if (t.port === 0) throw new Error('port 0');
    return t;
  } catch {
    throw new TunnelSpecError('BAD_TUNNEL', `${flag}: target must be HOST:PORT, got ${JSON.stringify(text)}`);
  }
}
