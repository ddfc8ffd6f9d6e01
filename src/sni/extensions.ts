import { SniError } from './errors.js';
import { parseHostName } from './host-name.js';

/** RFC 8446 §4.2 ExtensionType values this reader looks at. */
export const EXT_SERVER_NAME = 0; // RFC 6066 §3
export const EXT_ALPN = 16; // RFC 7301 §3.1
/** RFC 6066 §3 NameType host_name. */
const NAME_TYPE_HOST_NAME = 0;

function malformed(what: string): never {
  throw new SniError('MALFORMED', what);
}

/**
 * RFC 6066 §3: `ServerName server_name_list<1..2^16-1>`, each `{ NameType name_type; opaque
 * HostName<1..2^16-1> }`. Only host_name(0) counts; other name types (none are defined) are read
 * with the same 2-byte length and skipped, as every deployed parser does. "The ServerNameList MUST
 * NOT contain more than one name of the same name_type": two host_names are MALFORMED.
 * Returns null when the list holds no host_name.
 */
export function parseServerName(buf: Buffer, start: number, end: number): string | null {
  if (end - start < 2) malformed('server_name: extension too short');
  const listLen = buf.readUInt16BE(start);
  let p = start + 2;
  if (p + listLen !== end) malformed('server_name: list length does not match the extension');
  if (listLen === 0) malformed('server_name: empty list');
  let name: string | null = null;
  while (p < end) {
    if (end - p < 3) malformed('server_name: truncated entry');
    const type = buf[p];
    const len = buf.readUInt16BE(p + 1);
    p += 3;
    if (len > end - p) malformed('server_name: name past the list');
    if (type === NAME_TYPE_HOST_NAME) {
      if (name !== null) malformed('server_name: more than one host_name');
      name = parseHostName(buf, p, p + len);
    }
    p += len;
  }
  return name;
}

/**
 * RFC 7301 §3.1: `ProtocolName protocol_name_list<2..2^16-1>`, each `opaque ProtocolName<1..2^8-1>`.
 * Names are opaque bytes; they come back as latin1 strings so that every byte maps to one char
 * (every registered ID is ASCII, where latin1 and UTF-8 agree).
 */
export function parseAlpn(buf: Buffer, start: number, end: number): string[] {
  if (end - start < 2) malformed('alpn: extension too short');
  const listLen = buf.readUInt16BE(start);
  let p = start + 2;
  if (p + listLen !== end) malformed('alpn: list length does not match the extension');
  if (listLen < 2) malformed('alpn: empty protocol_name_list');
  const names: string[] = [];
  while (p < end) {
    const len = buf[p++];
    if (len === 0) malformed('alpn: empty protocol name');
    if (len > end - p) malformed('alpn: protocol name past the list');
    names.push(buf.toString('latin1', p, p + len));
    p += len;
  }
  return names;
}
