import { MAX_HOST_NAME, hostNameProblem } from '../net/index.js';
import { SniError } from './errors.js';

/**
 * Validates the raw bytes of a HostName (RFC 6066 §3) by the project's one host-name rule
 * (src/net/host-name.ts) and returns it lower-cased, trailing dot stripped. Bytes map one to one
 * to latin1 characters, so a non-ASCII byte is refused as an invalid character.
 */
export function parseHostName(buf: Buffer, start: number, end: number): string {
  if (end > start && buf[end - 1] === 0x2e) end--; // one trailing '.' (RFC 6066 §3: clients send none; some do)
  if (end - start > MAX_HOST_NAME) throw new SniError('MALFORMED', `server_name: host_name longer than ${MAX_HOST_NAME}`);
  const name = buf.toString('latin1', start, end);
  const problem = hostNameProblem(name);
  if (problem !== null) throw new SniError('MALFORMED', `server_name: ${problem}`);
  return name.toLowerCase();
}
