// deploy/systemd: the units parse as systemd reads them and carry the hardening and the
// lifecycle the relay needs (reload on SIGHUP, a stop longer than the drain, the credentials
// copied where the relay reads them); every `relay` flag in them exists; the example configs
// are accepted by the relay's and the agent's own parsers; and systemd-analyze verifies the
// units where it is installed.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRelayConfig } from '../../src/relay/config.js';
import { loadAgentConfig } from '../../src/agent/config.js';
import { ROOT, WORKER_KILL_MARGIN_S, checkRelayArgs, parseUnit, read, relayFlags, type Unit } from './files.js';

const relayUnit = parseUnit(read('deploy/systemd/relay.service'));
const agentUnit = parseUnit(read('deploy/systemd/relay-agent.service'));
const relayConfig = parseRelayConfig(read('deploy/systemd/relay.toml'), 'deploy/systemd/relay.toml');

const get = (u: Unit, key: string, section = 'Service'): string[] => u.get(section)?.get(key) ?? [];
const one = (u: Unit, key: string, section = 'Service'): string | undefined => {
  const v = get(u, key, section);
  return v.length === 1 ? v[0] : undefined;
};

/** A systemd time span in seconds: `45`, `45s`, `1min 30s`, `2m`. */
function seconds(span: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  let total = 0;
  for (const m of span.trim().matchAll(/(\d+(?:\.\d+)?)\s*([a-z]*)/g)) {
    if (!(m[2] in units)) throw new Error(`unknown time unit in ${span}`);
    total += Number(m[1]) * units[m[2]];
  }
  return total;
}

/** ExecStart= as node, the CLI's path, the subcommand and its arguments. */
function execStart(u: Unit): { node: string; script: string; sub: string; args: string[] } {
  const [node, script, sub, ...args] = one(u, 'ExecStart')!.split(/\s+/);
  return { node, script, sub, args };
}

t.test('both units parse, with the hardening keys', async (t) => {
  for (const [name, u, state] of [['relay.service', relayUnit, 'relay'], ['relay-agent.service', agentUnit, 'relay-agent']] as const) {
    t.same([...u.keys()], ['Unit', 'Service', 'Install'], `${name}: its sections`);
    const want: Record<string, string> = {
      Type: 'exec', DynamicUser: 'yes', StateDirectory: state, ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes',
      NoNewPrivileges: 'yes', KillSignal: 'SIGTERM', Restart: 'on-failure', SystemCallErrorNumber: 'EPERM', UMask: '0077',
      PrivateDevices: 'yes', RestrictSUIDSGID: 'yes', LockPersonality: 'yes', SystemCallArchitectures: 'native',
    };
    for (const [k, v] of Object.entries(want)) t.equal(one(u, k), v, `${name}: ${k}=${v}`);
    t.ok(get(u, 'Environment').includes(`RELAY_HOME=%S/${state}`), `${name}: RELAY_HOME is the state directory`);
    // The relay only listens; the agent resolves names too (getaddrinfo asks netlink which
    // address families the host has).
    t.same(one(u, 'RestrictAddressFamilies')!.split(/\s+/), ['AF_INET', 'AF_INET6', 'AF_UNIX', ...(state === 'relay' ? [] : ['AF_NETLINK'])],
      `${name}: the address families it needs, no more`);
    const filter = one(u, 'SystemCallFilter')!.split(/\s+/);
    t.ok(filter.includes('@system-service') && filter.includes('@pkey'), `${name}: @system-service, and @pkey (node calls pkey_alloc at start)`);
    t.equal(one(u, 'MemoryDenyWriteExecute'), undefined, `${name}: no MemoryDenyWriteExecute (V8's JIT needs W+X)`);
    t.equal(one(u, 'WantedBy', 'Install'), 'multi-user.target');
  }
  t.equal(one(relayUnit, 'AmbientCapabilities'), 'CAP_NET_BIND_SERVICE', 'the relay may bind 443');
  t.equal(one(relayUnit, 'CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE', 'and nothing else');
  t.equal(one(agentUnit, 'CapabilityBoundingSet'), '', 'the agent has no capability');
  t.equal(one(agentUnit, 'AmbientCapabilities'), '');
});

t.test('reload is SIGHUP, and a stop outlasts the drain', async (t) => {
  t.equal(one(relayUnit, 'ExecReload'), '/bin/kill -HUP $MAINPID', 'systemctl reload sends SIGHUP: the relay reads its config again');
  const stop = seconds(one(relayUnit, 'TimeoutStopSec')!);
  const drain = (relayConfig.drainTimeoutMs ?? 30_000) / 1000;
  const flags = checkRelayArgs(execStart(relayUnit).args, relayFlags('serve')).values;
  const margin = flags.has('--workers') ? WORKER_KILL_MARGIN_S : 0;
  t.ok(stop > drain + margin, `TimeoutStopSec ${stop} s > drain_timeout_ms ${drain} s + ${margin} s`);
  t.notOk(flags.has('--drain-timeout'), 'the drain is the file\'s (drain_timeout_ms), not overridden on the command line');
});

t.test('the credentials are copied 0400 into the runtime directory, and the relay reads the copies', async (t) => {
  const creds = new Map(get(relayUnit, 'LoadCredential').map((v) => v.split(':') as [string, string]));
  t.same([...creds.keys()].sort(), ['admin.token', 'relay.key'], 'LoadCredential= for the key and the token');
  for (const src of creds.values()) t.match(src, /^\/etc\/relay\//, `${src}: a root-only file under /etc/relay`);
  const runtime = one(relayUnit, 'RuntimeDirectory');
  t.equal(runtime, 'relay');
  t.equal(one(relayUnit, 'RuntimeDirectoryMode'), '0700');
  const copies = new Map<string, string>();
  for (const pre of get(relayUnit, 'ExecStartPre')) {
    const m = /^\/usr\/bin\/install -m 0400 %d\/(\S+) (\S+)$/.exec(pre);
    t.ok(m, `${pre}: install -m 0400 from $CREDENTIALS_DIRECTORY`);
    if (m) copies.set(m[1], m[2]);
  }
  t.same([...copies.keys()].sort(), [...creds.keys()].sort(), 'each credential is copied');
  for (const [name, dest] of copies) t.equal(dest, `%t/${runtime}/${name}`, `${name} goes to the runtime directory`);
  const { values } = checkRelayArgs(execStart(relayUnit).args, relayFlags('serve'));
  t.same(values.get('--key'), [copies.get('relay.key')], '--key is the copy');
  t.same(values.get('--admin-token-file'), [copies.get('admin.token')], '--admin-token-file is the copy');
  t.not(relayConfig.adminListen?.split(':')[0], '127.0.0.1', 'the example admin listener is off loopback (the balancer checks /healthz)');
  t.equal(relayConfig.adminTokenFile, undefined, 'so the token comes from the unit\'s flag; the file does not name another');
  t.equal(relayConfig.key, undefined, 'and the file names no other key');
});

t.test('ExecStart: node runs the built CLI with flags relay --help lists, on the example configs', async (t) => {
  for (const [u, sub] of [[relayUnit, 'serve'], [agentUnit, 'agent']] as const) {
    const e = execStart(u);
    t.equal(e.node, '/usr/bin/node');
    t.equal(e.script, '/opt/relay/dist/cli/index.js', 'the package installed at /opt/relay');
    t.ok(existsSync(join(ROOT, 'dist/cli/index.js')) && existsSync(join(ROOT, 'src/cli/index.ts')), 'dist/cli/index.js is what the build makes');
    t.match(read('src/cli/index.ts'), /require\('\.\.\/\.\.\/package\.json'\)/, 'and it reads package.json two levels up: the package root, shipped with it');
    t.equal(e.sub, sub);
    const { problems, values } = checkRelayArgs(e.args, relayFlags(sub));
    t.same(problems, [], `relay ${e.sub} ${e.args.join(' ')}`);
    t.same(values.get('--config'), [sub === 'serve' ? '/etc/relay/relay.toml' : '/etc/relay/agent.toml']);
  }
  const agent = loadAgentConfig(join(ROOT, 'deploy/systemd/agent.toml'));
  t.ok(agent.relay && agent.relayKey, 'agent.toml names the relays and their key');
  t.equal(agent.key, undefined, 'and no key path: the agent makes its key in the state directory');
  t.ok(agent.tcp.every((tun) => tun.port !== 0), 'TCP tunnels ask for an explicit port (the same on every relay)');
  t.equal(relayConfig.allowAnyAgent, undefined, 'relay.toml grants keys, it does not allow any agent');
  t.ok(relayConfig.agents.length > 0);
});

const analyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;

t.test('systemd-analyze verify accepts both units', { skip: analyze ? false : 'systemd-analyze is not installed here: the units are checked as INI only' }, async (t) => {
  // verify also checks that each command exists: on a machine whose node is not /usr/bin/node
  // (a CI runner), the copy names this node instead; everything else is verified as written.
  const dir = mkdtempSync(join(tmpdir(), 'relay-units-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ['relay.service', 'relay-agent.service']) {
    const text = readFileSync(join(ROOT, 'deploy/systemd', name), 'utf8');
    writeFileSync(join(dir, name), existsSync('/usr/bin/node') ? text : text.replaceAll('/usr/bin/node', process.execPath));
  }
  const r = spawnSync('systemd-analyze', ['verify', join(dir, 'relay.service'), join(dir, 'relay-agent.service')], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  // An unknown key or a bad value is only a warning (exit 0): any output at all fails.
  t.equal(`${r.stdout}${r.stderr}`.trim(), '', 'no warning');
  // security --offline (systemd 250 and later) scores the sandboxing: at most 3.0 of 10 ("OK").
  const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=30', join(dir, 'relay.service'), join(dir, 'relay-agent.service')], { encoding: 'utf8' });
  const older = /unrecognized option|Unknown command|invalid option/.test(security.stderr);
  t.ok(older || security.status === 0, `exposure at most 3.0: ${security.stdout.split('\n').filter((l) => l.includes('Overall')).join('; ') || security.stderr}`);
});
