import net from 'node:net';

/** One end of a proxied connection, as a socket reports it (`address`: IPv4 or IPv6 text). */
export interface ProxyEndpoint { address: string; port: number }

/**
 * An IP address as its 4 (IPv4) or 16 (IPv6) bytes in network order, or null when `text` is not
 * one. An IPv6 zone (`fe80::1%eth0`) is dropped: neither header version has room for it.
 */
export function ipBytes(text: string): Buffer | null {
  const pct = text.indexOf('%');
  const ip = pct < 0 ? text : text.slice(0, pct);
  const v = net.isIP(ip);
  if (v === 4 && pct < 0) return Buffer.from(ip.split('.').map(Number));
  if (v !== 6) return null;
  const out = Buffer.alloc(16);
  let s = ip;
  // An embedded IPv4 tail (::ffff:192.0.2.1) is the last two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    for (let k = 0; k < 4; k++) out[12 + k] = Number(v4[k + 1]);
    s = `${s.slice(0, v4.index)}0:0`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const keep = v4 ? 6 : 8; // the IPv4 tail's bytes are already in place
  for (let g = 0; g < keep; g++) out.writeUInt16BE(parseInt(groups[g], 16), 2 * g);
  return out;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2), else null. */
export function mappedIpv4(b: Buffer): Buffer | null {
  if (b.length !== 16) return null;
  for (let k = 0; k < 10; k++) if (b[k] !== 0) return null;
  return b[10] === 0xff && b[11] === 0xff ? b.subarray(12, 16) : null;
}

/**
 * Text of a 4- or 16-byte address: dotted quad; IPv6 as RFC 5952 §4 writes it (lower-case, no
 * leading zeros, the first longest run of two or more zero groups as `::`), and an IPv4-mapped
 * address in the mixed form of §5 (`::ffff:192.0.2.1`), as Node's sockets and HAProxy's own
 * sender (inet_ntop) write it.
 */
export function formatIp(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const v4 = mappedIpv4(b);
  if (v4) return `::ffff:${formatIp(v4)}`;
  const groups: string[] = [];
  for (let g = 0; g < 8; g++) groups.push(b.readUInt16BE(2 * g).toString(16));
  let best = -1;
  let bestLen = 1; // a single zero group is written out (§4.2.2)
  for (let g = 0; g < 8;) {
    if (groups[g] !== '0') { g++; continue; }
    let end = g;
    while (end < 8 && groups[end] === '0') end++;
    if (end - g > bestLen) { best = g; bestLen = end - g; }
    g = end;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
