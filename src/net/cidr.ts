import net from 'node:net';
import { RelayError } from '../errors.js';

class CidrError extends RelayError<'BAD_CIDR'> {}

/** One address block: `10.0.0.0/8`, `2001:db8::/32`; a bare address is a block of one. */
export interface Cidr { address: string; prefix: number; family: 'ipv4' | 'ipv6' }

/** Parses `ADDRESS[/PREFIX]` (IPv4 or IPv6); throws BAD_CIDR with a sentence naming the input. */
export function parseCidr(text: string): Cidr {
  const t = text.trim();
  const slash = t.indexOf('/');
  const address = slash < 0 ? t : t.slice(0, slash);
  const v = net.isIP(address);
  if (v === 0) throw new CidrError('BAD_CIDR', `expected an address block like 203.0.113.0/24 or 2001:db8::/32, got ${JSON.stringify(text)}`);
  const max = v === 4 ? 32 : 128;
  const p = slash < 0 ? String(max) : t.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new CidrError('BAD_CIDR', `prefix length of ${JSON.stringify(text)} must be 0 to ${max}`);
  return { address: address.toLowerCase(), prefix: Number(p), family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** The block as text, prefix always written: what logs, status and the protocol carry. */
export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

/**
 * A set of address blocks, IPv4 and IPv6. Matching is Node's BlockList (native): an IPv4 block
 * also matches the IPv4-mapped IPv6 form of its addresses (`::ffff:203.0.113.7`), which is how a
 * dual-stack listener reports IPv4 clients.
 */
export class CidrList {
  readonly blocks: readonly Cidr[];
  private readonly list = new net.BlockList();

  constructor(blocks: Iterable<Cidr>) {
    this.blocks = [...blocks];
    for (const b of this.blocks) this.list.addSubnet(b.address, b.prefix, b.family);
  }

  static parse(texts: readonly string[]): CidrList {
    return new CidrList(texts.map(parseCidr));
  }

  get size(): number { return this.blocks.length; }

  /** Whether `ip` (as a socket reports it) lies in any block; false for anything that is not an address. */
  has(ip: string): boolean {
    // Most lists are empty, and BlockList.check builds a SocketAddress per call (tens of µs).
    if (this.blocks.length === 0) return false;
    const v = net.isIP(ip);
    return v !== 0 && this.list.check(ip, v === 4 ? 'ipv4' : 'ipv6');
  }

  toJSON(): string[] { return this.blocks.map(formatCidr); }
}

/**
 * The key a per-address limit counts under: an IPv4 address as such (also when written
 * IPv4-mapped), an IPv6 address by its /64, the block one subscriber is given (RFC 6177), so that
 * one host cannot walk around a limit through its own addresses.
 */
export function addressKey(ip: string): string {
  const v = net.isIP(ip);
  if (v === 4) return ip;
  if (v !== 6) return ip;
  const g = expandIpv6(ip.toLowerCase());
  if (g.slice(0, 5).every((x) => x === '0') && g[5] === 'ffff') {
    const hi = parseInt(g[6], 16);
    const lo = parseInt(g[7], 16);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return `${g.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, as hex without leading zeros. */
function expandIpv6(ip: string): string[] {
  let text = ip;
  // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16).toString(16));
}
