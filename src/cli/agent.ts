import { join } from 'node:path';
import type { Command } from 'commander';
import { createLogger } from '../log.js';
import { decodeKey, loadOrCreateKeyFile, readPrivateKeyFile } from '../crypto/keys.js';
import { AgentClient, ConnectionBook, loadAgentConfig, startInspector, parseTcpSpec, parseTlsSpec, parseTunnelPolicy, type AgentFileConfig } from '../agent/index.js';
import { parseHostPort } from '../net/index.js';
import { collect, intOption, stateDir } from './state.js';
import { isLoopbackHost } from './serve-settings.js';
import { warmUpLogged } from './warmup.js';

interface AgentFlags {
  relay: string[]; relayKey?: string; key?: string; tls: string[]; tcp: string[]; cipher?: string; config?: string; pretty?: boolean; warmup?: boolean;
  proxyProtocol?: string; allow: string[]; deny: string[];
  maxLocalConns?: number; dialRate?: number; idleTimeout?: number; dialTimeout?: number; maxQueuedBytes?: number;
  inspect?: string; inspectKeep?: number;
}

/** Connections the inspector keeps by default: a few screens' worth. */
const DEFAULT_INSPECT_KEEP = 500;
/** Its upper bound: each kept record is a few hundred bytes. */
const MAX_INSPECT_KEEP = 100_000;


export function registerAgent(program: Command): void {
  program.command('agent')
    .description('run an agent next to private services: dials the relay, serves its tunnels')
    .option('--relay <host:port>', 'a relay\'s agent listener (repeatable: a session to each; a name with several addresses is one relay per address)', collect, [])
    .option('--relay-key <pubkey>', 'the relay\'s public key (pinned)')
    .option('--key <file>', 'agent private key (default: $RELAY_HOME/agent.key, created on first run)')
    .option('--tls <name=host:port>', 'TLS passthrough: connections for SNI NAME go to HOST:PORT (repeatable)', collect, [])
    .option('--tcp <[port=]host:port>', 'TCP tunnel to HOST:PORT; PORT asks for that public port (repeatable)', collect, [])
    .option('--proxy-protocol <version>', 'write a PROXY protocol header (v1 or v2) to the targets of the --tls/--tcp tunnels on this command line')
    .option('--allow <cidr>', 'admit clients of the --tls/--tcp tunnels on this command line only from this address block (repeatable)', collect, [])
    .option('--deny <cidr>', 'refuse clients of the --tls/--tcp tunnels on this command line from this address block (repeatable)', collect, [])
    .option('--cipher <name>', 'Noise cipher: chachapoly or aesgcm (default chachapoly)')
    .option('--config <file>', 'agent config file (TOML)')
    .option('--max-local-conns <n>', 'connections to local targets at once; more are refused (default 4096)', intOption('--max-local-conns'))
    .option('--dial-rate <n>', 'new connections to local targets per second; more are refused (default 5000; 0: no limit)', intOption('--dial-rate'))
    .option('--dial-timeout <ms>', 'a connection to a local target not made within this fails (default 10000)', intOption('--dial-timeout'))
    .option('--max-queued-bytes <n>', 'bytes queued for the relay, all local connections together, before reading pauses (default 67108864)', intOption('--max-queued-bytes'))
    .option('--idle-timeout <ms>', 'close a local connection idle this long both ways (default 0: never)', intOption('--idle-timeout'))
    .option('--inspect <addr>', 'the inspector: a page of this agent\'s connections, live, and /api/connections; or "off" (default 127.0.0.1:4040)')
    .option('--inspect-keep <n>', `connections the inspector keeps, the newest (default ${DEFAULT_INSPECT_KEEP})`, intOption('--inspect-keep'))
    .option('--pretty', 'human-readable logs (default when stdout is a terminal)')
    .option('--no-warmup', 'skip the start-up warm-up (a few MB through the splice path on loopback, so V8 has optimized it)')
    .action((flags: AgentFlags) => agent(flags));
}

async function agent(f: AgentFlags): Promise<void> {
  const log = createLogger({ pretty: f.pretty || undefined });
  try {
    const file: AgentFileConfig = f.config ? loadAgentConfig(f.config) : { relay: [], tls: [], tcp: [] };
    // --proxy-protocol, --allow and --deny apply to the tunnels given as flags; the file's
    // tunnels carry their own (a table entry).
    const policy = parseTunnelPolicy({ proxyProtocol: f.proxyProtocol, allow: f.allow, deny: f.deny });
    if (Object.keys(policy).length > 0 && f.tls.length + f.tcp.length === 0) {
      throw new Error('--proxy-protocol, --allow and --deny apply to the --tls and --tcp tunnels on the command line; there are none (set them per tunnel in the config file)');
    }
    const relayTexts = f.relay.length > 0 ? f.relay : file.relay;
    const relayKeyText = f.relayKey ?? file.relayKey;
    if (relayTexts.length === 0) throw new Error('--relay HOST:PORT is required');
    if (!relayKeyText) throw new Error('--relay-key is required (the relay prints it when it starts)');
    const cipher = f.cipher ?? file.cipher ?? 'chachapoly';
    if (cipher !== 'chachapoly' && cipher !== 'aesgcm') throw new Error(`--cipher must be chachapoly or aesgcm, got ${JSON.stringify(cipher)}`);
    // TCP tunnel ids number the file's tunnels first, then the flags' (docs/protocol.md "Control stream").
    const tunnels = [...file.tls, ...f.tls.map((text) => parseTlsSpec(text, policy)),
      ...file.tcp, ...f.tcp.map((text, i) => parseTcpSpec(text, file.tcp.length + i, policy))];
    if (tunnels.length === 0) throw new Error('no tunnels: give at least one --tls NAME=HOST:PORT or --tcp [PORT=]HOST:PORT');
    const ids = new Set<string>();
    for (const t of tunnels) {
      if (ids.has(t.id)) throw new Error(`tunnel ${t.id} is given twice`);
      ids.add(t.id);
    }
    const keyPath = f.key ?? file.key;
    const inspectText = f.inspect ?? file.inspect ?? '127.0.0.1:4040';
    const inspect = inspectText === 'off' ? null : parseHostPort(inspectText, '127.0.0.1');
    const keep = f.inspectKeep ?? file.inspectKeep ?? DEFAULT_INSPECT_KEEP;
    if (!Number.isInteger(keep) || keep < 1 || keep > MAX_INSPECT_KEEP) throw new Error(`--inspect-keep must be a number from 1 to ${MAX_INSPECT_KEEP}, got ${keep}`);
    const book = inspect ? new ConnectionBook(keep, tunnels) : undefined;
    const client = new AgentClient({
      relays: relayTexts.map((r) => parseHostPort(r, '127.0.0.1')),
      relayKey: decodeKey(relayKeyText),
      staticKey: keyPath ? readPrivateKeyFile(keyPath) : loadOrCreateKeyFile(join(stateDir(), 'agent.key')),
      cipher,
      tunnels,
      logger: log,
      maxLocalConns: f.maxLocalConns ?? file.maxLocalConns,
      dialRate: f.dialRate ?? file.dialRate,
      idleTimeoutMs: f.idleTimeout ?? file.idleTimeoutMs,
      dialTimeoutMs: f.dialTimeout ?? file.dialTimeoutMs,
      maxQueuedBytes: f.maxQueuedBytes ?? file.maxQueuedBytes,
      book,
    });
    // Before the warm-up, so that a taken port is said at once; a listener that cannot bind is a warning, not a failure.
    const inspector = inspect && book ? await startInspector(book, inspect, log.child({ part: 'inspect' })) : null;
    if (inspector && inspect && !isLoopbackHost(inspect.host)) {
      log.warn({ event: 'inspect.exposed', address: inspector.address }, `the inspector listens on ${inspector.address}, beyond loopback, with no password: whoever reaches it sees every client's address and name`);
    }
    if (f.warmup !== false) await warmUpLogged(log, [cipher]);
    client.start();
    const stop = () => { inspector?.stop(); client.stop().then(() => process.exit(0), () => process.exit(1)); };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  } catch (e) {
    const err = e as Error & { code?: string };
    log.fatal({ event: 'startup.failed', code: err.code, error: err.message }, `relay agent: ${err.message}`);
    process.exit(1);
  }
}
