import { RelayError } from '../errors.js';

export interface HostPort { host: string; port: number }

class AddressError extends RelayError<'BAD_ADDRESS'> {}

/**
 * Parses `HOST:PORT`, `[V6]:PORT` or `:PORT` (all interfaces). Port 0 is allowed where the OS picks.
 * `defaultHost` fills a missing host.
 */
export function parseHostPort(text: string, defaultHost = '0.0.0.0'): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new AddressError('BAD_ADDRESS', `expected HOST:PORT, got ${JSON.stringify(text)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new AddressError('BAD_ADDRESS', `port out of range in ${JSON.stringify(text)}`);
  const host = m[1] ?? (m[2] || defaultHost);
  return { host, port };
}

/** `HOST:PORT` for logs and events, brackets around IPv6. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An inclusive range of TCP ports. */
export interface PortRange { from: number; to: number }

/** Parses `A-B` or `A` into an inclusive range of ports. */
export function parsePortRange(text: string): PortRange {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
  const from = m ? Number(m[1]) : NaN;
  const to = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || from < 1 || to > 65535 || from > to) {
    throw new AddressError('BAD_ADDRESS', `expected a port range like 20000-20999, got ${JSON.stringify(text)}`);
  }
  return { from, to };
}
