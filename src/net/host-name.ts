/**
 * The one host-name rule: what the ClientHello reader accepts as a server name is exactly what an
 * agent may register, a relay may grant and a control message may carry, so that no tunnel is
 * ever live for a name no client can reach. Chosen for routing rather than for DNS in general:
 * - ASCII letters, digits, hyphen; underscore tolerated (real names carry it, e.g.
 *   `my_app.example.com`, and browsers send them); anything else, non-ASCII included, is refused:
 *   RFC 6066 §3 asks for the ASCII form, IDNs as A-labels (`xn--…`).
 * - Labels 1–63 characters, no leading or trailing hyphen (RFC 952/1123); at most 253 characters
 *   (RFC 1035 §2.3.4: 255 octets on the wire).
 * - No IP literals (RFC 6066 §3): IPv6 cannot pass the character set (':'); IPv4 is any name whose
 *   last label is all digits: dotted quads, and also `127.1` or `2130706433`, which inet_aton
 *   reads as addresses; no DNS top-level domain is all digits (RFC 3696 §2).
 */
export const MAX_HOST_NAME = 253;
const MAX_LABEL = 63;

/** Why `name` (no trailing dot; any case) is not a host name, or null when it is one. */
export function hostNameProblem(name: string): string | null {
  const len = name.length;
  if (len === 0) return 'empty host name';
  if (len > MAX_HOST_NAME) return `host name longer than ${MAX_HOST_NAME}`;
  let labelStart = 0;
  let lastLabelAllDigits = true;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? name.charCodeAt(i) : 0x2e; // a virtual '.' closes the last label
    if (c === 0x2e) {
      const labelLen = i - labelStart;
      if (labelLen === 0) return 'empty label';
      if (labelLen > MAX_LABEL) return `label longer than ${MAX_LABEL}`;
      if (name.charCodeAt(labelStart) === 0x2d || name.charCodeAt(i - 1) === 0x2d) return 'label starts or ends with a hyphen';
      labelStart = i + 1;
      if (i < len) lastLabelAllDigits = true;
      continue;
    }
    const isDigit = c >= 0x30 && c <= 0x39;
    if (!isDigit) lastLabelAllDigits = false;
    const ok = isDigit || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f;
    if (!ok) return c === 0x3a ? 'IP literal' : 'invalid character in host name';
  }
  if (lastLabelAllDigits) return 'IP literal';
  return null;
}

/** True for `*.example.com` style patterns. */
export function isWildcard(pattern: string): boolean {
  return pattern.startsWith('*.');
}

/**
 * Why `pattern` is not a canonical host pattern (lower-case host name, or `*.` and one), or null.
 * Canonical because patterns are compared as strings: `App.example.com` would never match.
 */
export function hostPatternProblem(pattern: string): string | null {
  if (pattern !== pattern.toLowerCase()) return 'not lower-case';
  const problem = hostNameProblem(isWildcard(pattern) ? pattern.slice(2) : pattern);
  if (problem === null && pattern.length > MAX_HOST_NAME) return `longer than ${MAX_HOST_NAME}`;
  return problem;
}

/** Whether `pattern` is a canonical host name or `*.` pattern. */
export function isHostPattern(pattern: string): boolean {
  return hostPatternProblem(pattern) === null;
}

/** Lower-cases and strips one trailing dot (RFC 6066 §3 says clients send none; some do). */
export function canonicalHostName(text: string): string {
  return text.toLowerCase().replace(/\.$/, '');
}
