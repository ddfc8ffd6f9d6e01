import { SniError } from './errors.js';

const MAX_NAME = 253; // RFC 1035 §2.3.4: 255 octets on the wire = 253 characters in text form
const MAX_LABEL = 63; // RFC 1035 §2.3.4

/**
 * Validates the raw bytes of a HostName (RFC 6066 §3) and returns it lower-cased, trailing dot
 * stripped. Rules, chosen for routing rather than for DNS in general:
 * - ASCII letters, digits, hyphen; underscore tolerated (real names carry it, e.g. `my_app.example.com`,
 *   and browsers send them); anything else, non-ASCII included, is MALFORMED: RFC 6066 §3 asks for
 *   the ASCII form, IDNs as A-labels (`xn--…`).
 * - Labels 1–63 characters, no leading or trailing hyphen (RFC 952/1123); at most 253 characters.
 * - One trailing dot is stripped (RFC 6066 §3 says clients send none; some do).
 * - IP literals are MALFORMED (RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted"):
 *   IPv6 cannot pass the character set (':'); IPv4 is any name whose last label is all digits:
 *   dotted quads, and also `127.1` or `2130706433`, which inet_aton reads as addresses, and no
 *   DNS top-level domain is all digits (RFC 3696 §2).
 */
export function parseHostName(buf: Buffer, start: number, end: number): string {
  if (end > start && buf[end - 1] === 0x2e) end--; // one trailing '.'
  const len = end - start;
  if (len === 0) throw new SniError('MALFORMED', 'server_name: empty host_name');
  if (len > MAX_NAME) throw new SniError('MALFORMED', `server_name: host_name longer than ${MAX_NAME}`);

  let labelStart = start;
  let lastLabelAllDigits = true;
  for (let i = start; i <= end; i++) {
    const c = i < end ? buf[i] : 0x2e; // a virtual '.' closes the last label
    if (c === 0x2e) {
      const labelLen = i - labelStart;
      if (labelLen === 0) throw new SniError('MALFORMED', 'server_name: empty label');
      if (labelLen > MAX_LABEL) throw new SniError('MALFORMED', `server_name: label longer than ${MAX_LABEL}`);
      if (buf[labelStart] === 0x2d || buf[i - 1] === 0x2d) {
        throw new SniError('MALFORMED', 'server_name: label starts or ends with a hyphen');
      }
      labelStart = i + 1;
      if (i < end) lastLabelAllDigits = true;
      continue;
    }
    const isDigit = c >= 0x30 && c <= 0x39;
    if (!isDigit) lastLabelAllDigits = false;
    const ok = isDigit || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f;
    if (!ok) {
      throw new SniError('MALFORMED', c === 0x3a ? 'server_name: IP literal' : 'server_name: invalid character in host_name');
    }
  }
  if (lastLabelAllDigits) throw new SniError('MALFORMED', 'server_name: IP literal');
  return buf.toString('latin1', start, end).toLowerCase();
}
