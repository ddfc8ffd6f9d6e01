import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createLogger, type Logger } from '../log.js';
import { loadOrCreateKeyFile, readPrivateKeyFile } from '../crypto/keys.js';
import { LeaseClient, RelayServer, WORKER_ENV, checkRelaySettings, diffGrants, loadRelayConfig, runPrimary, type PrimaryMessage, type RelayFileConfig } from '../relay/index.js';
import { CidrList, parseHostPort, parsePortRange } from '../net/index.js';
import { ConfigError } from '../config/index.js';
import { changedFixedSettings, isLoopbackHost, reloadableSettings, type ReloadableFlags } from './serve-settings.js';
import { collect, stateDir, intOption, rateOption } from './state.js';
import { warmUpLogged } from './warmup.js';

interface ServeFlags extends ReloadableFlags {
  key?: string; tlsListen?: string; agentListen?: string; adminListen?: string; tcpPorts?: string; tcpHost?: string;
  config?: string; publicHost?: string; workers?: string; maxAgentSessions?: number; maxQueuedBytes?: number; drainTimeout?: number; lease?: number; pretty?: boolean; warmup?: boolean;
}

const NO_FILE: RelayFileConfig = { agents: [], allow: new CidrList([]), deny: new CidrList([]), proxyProtocolFrom: new CidrList([]) };

export function registerServe(program: Command): void {
  program.command('serve')
    .description('run the public relay: TLS/SNI and TCP tunnel listeners, agent listener, admin HTTP')
    .option('--key <file>', 'relay private key (default: $RELAY_HOME/relay.key, created on first run)')
    .option('--tls-listen <addr>', 'public TLS/SNI listener, or "off" (default 0.0.0.0:8443)')
    .option('--agent-listen <addr>', 'agent (Noise) listener (default 0.0.0.0:7835)')
    .option('--tcp-ports <range>', 'public ports for TCP tunnels, e.g. 20000-20999')
    .option('--tcp-host <host>', 'address TCP tunnel ports bind to (default: the TLS listener\'s host)')
    .option('--admin-listen <addr>', 'admin HTTP: /healthz, /api/tunnels, /metrics, the dashboard at /; or "off" (default 127.0.0.1:7836)')
    .option('--config <file>', 'relay config file (TOML): settings and [[agents]] grants')
    .option('--allow-any-agent', 'development mode: any agent key may claim any free name or port')
    .option('--public-host <name>', 'host name shown in tunnel URLs and addresses')
    .option('--client-hello-timeout <ms>', 'deadline for a complete ClientHello (default 10000)', intOption('--client-hello-timeout'))
    .option('--idle-timeout <ms>', 'close public connections idle this long (default 0: never)', intOption('--idle-timeout'))
    .option('--first-byte-timeout <ms>', 'close public connections that carry no byte either way this long (default 30000; 0: never)', intOption('--first-byte-timeout'))
    .option('--max-conns-per-ip <n>', 'open public connections per source IP (default 2048; 0: no limit)', intOption('--max-conns-per-ip'))
    .option('--max-conns-per-tunnel <n>', 'open public connections per tunnel (default 0: no limit)', intOption('--max-conns-per-tunnel'))
    .option('--max-pending-per-ip <n>', 'public connections per source IP still sending their ClientHello (default 128; 0: no limit)', intOption('--max-pending-per-ip'))
    .option('--allow <cidr>', 'admit public clients only from these address blocks (repeatable; default: all)', collect, [])
    .option('--deny <cidr>', 'refuse public clients from these address blocks (repeatable)', collect, [])
    .option('--conn-rate-per-ip <n>', 'new public connections per second per source IP, burst the same (default 0: no limit)', rateOption('--conn-rate-per-ip'))
    .option('--conn-rate-per-tunnel <n>', 'new public connections per second per tunnel, burst the same (default 0: no limit)', rateOption('--conn-rate-per-tunnel'))
    .option('--bandwidth-per-tunnel <bytes>', 'bytes per second per tunnel, each direction, by pausing reads (default 0: no limit)', intOption('--bandwidth-per-tunnel'))
    .option('--proxy-protocol-from <cidr>', 'balancers in front of the relay: their connections must start with a PROXY protocol v1/v2 header (repeatable)', collect, [])
    .option('--admin-token-file <file>', 'bearer token the admin listener requires (all but /healthz); needed when --admin-listen is not loopback')
    .option('--max-queued-bytes <n>', 'bytes queued for agents, all connections together, before reading pauses (default 134217728)', intOption('--max-queued-bytes'))
    .option('--max-agent-sessions <n>', 'agent sessions at once (default 4096; 0: no limit)', intOption('--max-agent-sessions'))
    .option('--drain-timeout <ms>', 'on SIGTERM, how long open connections may finish (default 30000)', intOption('--drain-timeout'))
    .option('--lease <ms>', 'how long a disconnected agent keeps its names and ports (default 600000)', intOption('--lease'))
    .option('--workers <n>', 'worker processes sharing the listeners: a number, or "auto" for one per core (default 1)')
    .option('--dev', 'development defaults: loopback listeners, --allow-any-agent, TCP ports 20000-20099')
    .option('--pretty', 'human-readable logs (default when stdout is a terminal)')
    .option('--no-warmup', 'skip the start-up warm-up (a few MB through the splice path on loopback, so V8 has optimized it)')
    .action(async (flags: ServeFlags) => { await serve(flags); });
}

async function serve(f: ServeFlags): Promise<void> {
  const log = createLogger({ pretty: f.pretty || undefined });
  // SIGHUP's default is to exit: take it at once, and reload once the relay is up (README "Reload").
  let hupPending = false;
  let onHup = (): void => { hupPending = true; };
  // A worker of several reloads when its primary says so, not on a signal to the process group.
  const worker = cluster.isWorker ? parseWorkerEnv(process.env[WORKER_ENV]) : null;
  process.on('SIGHUP', () => { if (worker === null) onHup(); });
  let file = NO_FILE;
  try {
    if (f.config) file = loadRelayConfig(f.config);
    const workers = parseWorkers(f.workers ?? file.workers);
    const dev = f.dev ?? false;
    const tlsText = f.tlsListen ?? file.tlsListen ?? (dev ? '127.0.0.1:8443' : '0.0.0.0:8443');
    const adminText = f.adminListen ?? file.adminListen ?? '127.0.0.1:7836';
    const tcpText = f.tcpPorts ?? file.tcpPorts ?? (dev ? '20000-20099' : undefined);
    const keyPath = f.key ?? file.key;
    checkRelaySettings({ clientHelloTimeoutMs: f.clientHelloTimeout, tcpHost: f.tcpHost }, '', { clientHelloTimeoutMs: '--client-hello-timeout', tcpHost: '--tcp-host' });
    const settings = reloadableSettings(f, file);
    const adminListen = adminText === 'off' ? null : parseHostPort(adminText, '127.0.0.1');
    if (adminListen && !isLoopbackHost(adminListen.host) && settings.adminToken === undefined) {
      throw new ConfigError('CONFIG', `--admin-listen ${adminText} is reachable from other hosts: give --admin-token-file (or admin_token_file) too, or listen on loopback`);
    }
    const staticKey = keyPath ? readPrivateKeyFile(keyPath) : loadOrCreateKeyFile(join(stateDir(), 'relay.key'));
    if (workers > 1 && cluster.isPrimary) {
      let token = settings.adminToken;
      runPrimary({
        workers,
        leaseMs: f.lease ?? file.leaseMs ?? 10 * 60_000,
        adminListen,
        adminToken: () => token,
        reload: () => { token = reloadableSettings(f, f.config ? loadRelayConfig(f.config) : NO_FILE).adminToken; },
        drainTimeoutMs: f.drainTimeout ?? file.drainTimeoutMs ?? 30_000,
        logger: log,
      });
      return;
    }
    const wlog = worker ? log.child({ worker: worker.worker }) : log;
    const leaseClient = worker ? new LeaseClient((m) => process.send?.(m)) : undefined;
    const relay = new RelayServer({
      ...settings,
      staticKey,
      tlsListen: tlsText === 'off' ? null : parseHostPort(tlsText),
      agentListen: parseHostPort(f.agentListen ?? file.agentListen ?? (dev ? '127.0.0.1:7835' : '0.0.0.0:7835')),
      adminListen: worker ? null : adminListen, // a worker's admin view is its primary's
      tcpPorts: tcpText ? parsePortRange(tcpText) : null,
      tcpHost: f.tcpHost ?? file.tcpHost,
      publicHost: f.publicHost ?? file.publicHost,
      maxAgentSessions: f.maxAgentSessions ?? file.maxAgentSessions,
      maxQueuedBytes: f.maxQueuedBytes ?? file.maxQueuedBytes,
      drainTimeoutMs: f.drainTimeout ?? file.drainTimeoutMs,
      leaseMs: f.lease ?? file.leaseMs,
      logger: wlog,
      leaseBook: leaseClient,
      worker: worker ?? undefined,
    });
    await relay.start();
    // After the listeners are bound (the warm-up's own loopback sockets cannot take their ports);
    // agents may use either cipher. Traffic arriving meanwhile is served, only not yet at speed.
    if (f.warmup !== false) await warmUpLogged(wlog, ['chachapoly', 'aesgcm']);
    // SIGHUP: read the file (and the token file) again; a bad one changes nothing (README "Reload").
    let reloading = Promise.resolve();
    onHup = () => {
      reloading = reloading.then(async () => {
        let next: RelayFileConfig;
        let settings: ReturnType<typeof reloadableSettings>;
        try {
          next = f.config ? loadRelayConfig(f.config) : NO_FILE;
          settings = reloadableSettings(f, next);
          if (adminListen && !isLoopbackHost(adminListen.host) && settings.adminToken === undefined) throw new ConfigError('CONFIG', 'the admin listener is not on loopback and the config no longer names an admin token file');
        } catch (e) {
          wlog.error({ event: 'config.reload_failed', error: (e as Error).message }, `config reload failed, the old config stays in force: ${(e as Error).message}`);
          return;
        }
        const grants = diffGrants(file.agents, next.agents);
        const restartNeeded = changedFixedSettings(file, next);
        file = next;
        const { revoked, granted } = await relay.reload(settings);
        wlog.info({ event: 'config.reloaded', agents: next.agents.length, grantsAdded: grants.added, grantsRemoved: grants.removed, tunnelsRevoked: revoked, tunnelsGranted: granted, restartNeeded },
          `config reloaded: ${next.agents.length} agents, ${grants.added.length} grants added, ${grants.removed.length} removed; ${revoked} tunnels revoked, ${granted} granted${restartNeeded.length ? `; needs a restart to apply: ${restartNeeded.join(', ')}` : ''}`);
      }).catch((e: unknown) => {
        log.error({ event: 'config.reload_failed', error: (e as Error).message }, `config reload failed: ${(e as Error).message}`);
      });
    };
    const a = relay.addresses;
    if (worker && leaseClient) {
      serveAsWorker(relay, leaseClient, wlog, () => onHup());
      process.send?.({ t: 'ready', tls: a.tls, agent: a.agent, publicKey: relay.publicKey, tcpPorts: tcpText ?? null, allowAnyAgent: settings.allowAnyAgent });
      if (hupPending) onHup();
      return;
    }
    log.info({ event: 'relay.ready', tls: a.tls, agent: a.agent, admin: a.admin, publicKey: relay.publicKey, tcpPorts: tcpText ?? null, allowAnyAgent: settings.allowAnyAgent },
      `relay ready; agents connect with:\n  relay agent --relay ${a.agent.replace(/^0\.0\.0\.0:|^\[::\]:/, `${f.publicHost ?? file.publicHost ?? 'RELAY_HOST'}:`)} --relay-key ${relay.publicKey} --tls NAME=127.0.0.1:PORT`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) { process.exit(1); }
      stopping = true;
      onHup = () => {}; // no reload while draining
      log.info({ event: 'relay.stopping', signal }, 'stopping');
      relay.drain().then(() => { log.info({ event: 'relay.stopped' }, 'stopped'); process.exit(0); }, () => process.exit(1));
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    if (hupPending) onHup();
  } catch (e) {
    const err = e as Error & { code?: string };
    log.fatal({ event: 'startup.failed', code: err.code, error: err.message }, `relay serve: ${err.message}`);
    process.exit(1);
  }
}

/** `--workers`: a whole number from 1, or `auto` (one per core); absent: 1. */
function parseWorkers(text: string | undefined): number {
  if (text === undefined) return 1;
  if (text === 'auto') return availableParallelism();
  if (!/^\d{1,2}$/.test(text) || Number(text) < 1 || Number(text) > 64) throw new ConfigError('CONFIG', `--workers expects a number from 1 to 64 or "auto", got ${JSON.stringify(text)}`);
  return Number(text);
}

/** `N/COUNT` from the primary (cluster/messages.ts WORKER_ENV). */
function parseWorkerEnv(text: string | undefined): { worker: number; workers: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text ?? '');
  if (!m) throw new Error(`${WORKER_ENV} must be N/COUNT, got ${JSON.stringify(text)}`);
  return { worker: Number(m[1]), workers: Number(m[2]) };
}

/**
 * A worker's side of the cluster: leases answered, the primary's questions (status, metrics)
 * answered, reload and drain on its word; signals to the process group are the primary's to
 * act on. A worker whose primary is gone drains and exits.
 */
function serveAsWorker(relay: RelayServer, leases: LeaseClient, log: Logger, reload: () => void): void {
  let stopping = false;
  const drain = (): void => {
    if (stopping) return;
    stopping = true;
    relay.drain().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => {});
  process.on('SIGINT', () => {});
  process.on('disconnect', () => { log.warn({ event: 'worker.orphaned' }, 'the primary is gone; draining'); drain(); });
  process.on('message', (m: PrimaryMessage) => {
    if (m.t === 'lease') leases.onMessage(m);
    else if (m.t === 'ask') process.send?.({ t: 'answer', id: m.id, value: m.what === 'status' ? relay.status() : m.what === 'totals' ? relay.totals() : relay.metrics.render() });
    else if (m.t === 'reload') { if (!stopping) reload(); }
    else drain();
  });
}
