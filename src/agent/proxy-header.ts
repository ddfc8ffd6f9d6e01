import type { OpenMetadata } from '../mux/frame.js';
import { encodeProxyHeader } from '../proxy-protocol/index.js';
import type { TunnelSpec } from './tunnels.js';

/**
 * The PROXY protocol header a tunnel's target gets before a stream's bytes (README "PROXY
 * protocol to the service"): source = the public client (`clientAddress`, `clientPort`),
 * destination = the relay's public address and port the client connected to (`serverAddress`,
 * `serverPort`, OPEN metadata layout 2). For a TLS tunnel, v2 adds PP2_TYPE_AUTHORITY = the SNI
 * name, and PP2_TYPE_ALPN = the first protocol the client offered: the agent never sees which one
 * the service will pick, so this is the client's preference, not the negotiated protocol.
 * `complete` is false when the relay sent no destination (a relay older than layout 2): the
 * header then says UNKNOWN (v1) or LOCAL (v2), and the service uses the agent's own address.
 */
export function proxyHeaderFor(version: 'v1' | 'v2', spec: TunnelSpec, meta: OpenMetadata): { header: Buffer; complete: boolean } {
  const complete = meta.serverAddress !== undefined && meta.serverPort !== undefined;
  const header = encodeProxyHeader(version, {
    source: meta.clientAddress !== undefined && meta.clientPort !== undefined ? { address: meta.clientAddress, port: meta.clientPort } : undefined,
    destination: complete ? { address: meta.serverAddress!, port: meta.serverPort! } : undefined,
    authority: spec.type === 'tls' ? meta.serverName : undefined,
    alpn: spec.type === 'tls' ? meta.alpn?.[0] : undefined,
  });
  return { header, complete };
}
