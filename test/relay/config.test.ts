import t from 'tap';
import { diffGrants, parseRelayConfig, type AgentGrant } from '../../src/relay/config.js';

const key = 'cYvFMKL_BIhreGnPkNBK2JkEsJGvIwiJQotAGjKcKHc';

t.test('a full config parses', async (t) => {
  const c = parseRelayConfig(`
tls_listen = "0.0.0.0:443"
agent_listen = "0.0.0.0:7835"
tcp_ports = "20000-20999"
allow_any_agent = false
max_conns_per_ip = 100

[[agents]]
name = "laptop"
key = "${key}"
hosts = ["App.Example.com", "*.dev.example.com"]
ports = [20022, "20100-20199"]
`);
  t.equal(c.tlsListen, '0.0.0.0:443');
  t.equal(c.maxConnsPerIp, 100);
  t.same(c.agents[0].hosts, ['app.example.com', '*.dev.example.com']);
  t.same(c.agents[0].ports, [{ from: 20022, to: 20022 }, { from: 20100, to: 20199 }]);
});

t.test('mistakes are typed errors that name the setting', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['tls_listn = "x"', /unknown setting "tls_listn"/],
    ['tls_listen = 443', /tls_listen must be a string/],
    ['[[agents]]\nkey = "short"', /agents\[0\]\.key/],
    [`[[agents]]\nkey = "${key}"\nhosts = ["bad host"]`, /not a host name/],
    [`[[agents]]\nkey = "${key}"\nports = ["9-1"]`, /port range/],
    [`[[agents]]\nkey = "${key}"\n[[agents]]\nkey = "${key}"`, /listed twice/],
    ['this is = not toml', /config/],
    ['drain_timeout_ms = 2.5', /whole number/],
    ['drain_timeout_ms = 3e9', /whole number/],
  ];
  for (const [text, re] of bad) {
    t.throws(() => parseRelayConfig(text), { name: 'ConfigError', code: 'CONFIG', message: re }, text);
  }
});

t.test('what the config must refuse, it refuses with one line naming the setting', async (t) => {
  const canonical = 'cYvFMKL_BIhreGnPkNBK2JkEsJGvIwiJQotAGjKcKHc';
  // Same 32 bytes, another last character: base64url's spare bits set. Never matches the agent's text.
  const spare = canonical.slice(0, 42) + 'd';
  t.not(parseRelayConfig(`[[agents]]\nkey = "${canonical}"`).agents[0].key, undefined);
  const bad: Array<[string, RegExp]> = [
    [`[[agents]]\nkey = "${canonical}"\nhost = ["a.example"]`, /unknown setting "agents\[0\]\.host"/],
    [`[[agents]]\nkey = "${canonical}"\nport = [20022]`, /unknown setting "agents\[0\]\.port"/],
    [`[[agents]]\nkey = "${spare}"`, /agents\[0\]\.key must be a public key/],
    ['client_hello_timeout_ms = 0', /client_hello_timeout_ms must be at least 1/],
    ['tcp_host = "999.1.1.1"', /tcp_host must be an IP address/],
    ['tcp_host = "relay.example.com"', /tcp_host must be an IP address/],
    [`[[agents]]\nkey = "${canonical}"\nhosts = ["127.0.0.1"]`, /not a host name/],
  ];
  for (const [text, re] of bad) t.throws(() => parseRelayConfig(text), { code: 'CONFIG', message: re }, text);
  t.equal(parseRelayConfig('tcp_host = "::1"').tcpHost, '::1');
});

// ---- edge policy keys (README "Edge policy") ----

const key2 = '8uMgRrtVfMB97dqI7XroMChqWCXLJCHACLWfvjc6_Go';

t.test('the relay-wide edge policy keys parse; lists come back canonical', async (t) => {
  const c = parseRelayConfig(`
allow = ["10.0.0.0/8", "2001:DB8::1"]
deny = ["10.9.0.0/16"]
conn_rate_per_ip = 0.5
conn_rate_per_tunnel = 20
bandwidth_per_tunnel = 1048576
max_pending_per_ip = 8
proxy_protocol_from = ["192.0.2.10", "192.0.2.11"]
admin_token_file = "/etc/relay/admin.token"
`);
  t.same(c.allow.toJSON(), ['10.0.0.0/8', '2001:db8::1/128']);
  t.ok(c.allow.has('10.1.2.3') && c.allow.has('::ffff:10.1.2.3') && c.allow.has('2001:db8::1'), 'a list that matches');
  t.same(c.deny.toJSON(), ['10.9.0.0/16']);
  t.equal(c.connRatePerIp, 0.5, 'fractions allowed');
  t.equal(c.connRatePerTunnel, 20);
  t.equal(c.bandwidthPerTunnel, 1048576);
  t.equal(c.maxPendingPerIp, 8);
  t.same(c.proxyProtocolFrom.toJSON(), ['192.0.2.10/32', '192.0.2.11/32']);
  t.equal(c.adminTokenFile, '/etc/relay/admin.token');
  t.equal(parseRelayConfig('conn_rate_per_ip = 0').connRatePerIp, 0, '0: off');
  t.equal(parseRelayConfig('conn_rate_per_tunnel = 3').connRatePerTunnel, 3, 'an integer rate');

  const none = parseRelayConfig('');
  t.equal(none.allow.size + none.deny.size + none.proxyProtocolFrom.size, 0, 'absent lists are empty');
  t.same([none.connRatePerIp, none.connRatePerTunnel, none.bandwidthPerTunnel, none.maxPendingPerIp, none.adminTokenFile], [undefined, undefined, undefined, undefined, undefined]);
});

t.test('each [[agents]] entry takes its own allow, deny and rates', async (t) => {
  const c = parseRelayConfig(`
[[agents]]
name = "laptop"
key = "${key}"
ports = [20022]
allow = ["203.0.113.0/24", "2001:db8:1::/48"]
deny = ["203.0.113.7"]
conn_rate_per_ip = 0.1
conn_rate_per_tunnel = 2
bandwidth_per_tunnel = 10485760

[[agents]]
name = "plain"
key = "${key2}"
`);
  const [g, plain] = c.agents;
  t.same(g.allow?.toJSON(), ['203.0.113.0/24', '2001:db8:1::/48']);
  t.same(g.deny?.toJSON(), ['203.0.113.7/32']);
  t.equal(g.connRatePerIp, 0.1);
  t.equal(g.connRatePerTunnel, 2);
  t.equal(g.bandwidthPerTunnel, 10485760);
  t.equal((plain.allow?.size ?? 0) + (plain.deny?.size ?? 0), 0, 'an entry without lists admits everyone');
  t.same([plain.connRatePerIp, plain.connRatePerTunnel, plain.bandwidthPerTunnel], [undefined, undefined, undefined], 'and no rates of its own');
  t.equal(c.allow.size, 0, "an entry's lists are not the relay's");
});

t.test('bad edge policy values are refused with a message naming the key', async (t) => {
  const agent = (line: string): string => `[[agents]]\nkey = "${key}"\n${line}`;
  const bad: Array<[string, RegExp]> = [
    ['allow = ["10.0.0.0/33"]', /^allow: prefix length/],
    ['deny = ["nope"]', /^deny: expected an address block/],
    ['allow = "10.0.0.0/8"', /allow/],
    ['deny = [7]', /deny/],
    ['proxy_protocol_from = ["balancer.internal"]', /^proxy_protocol_from: /],
    ['conn_rate_per_ip = -1', /conn_rate_per_ip must be a number from 0/],
    ['conn_rate_per_ip = -0.5', /conn_rate_per_ip must be a number from 0/],
    ['conn_rate_per_tunnel = "10"', /conn_rate_per_tunnel must be a number from 0/],
    ['conn_rate_per_ip = inf', /conn_rate_per_ip must be a number/],
    ['conn_rate_per_ip = nan', /conn_rate_per_ip must be a number/],
    ['conn_rate_per_ip = true', /conn_rate_per_ip must be a number/],
    ['bandwidth_per_tunnel = -5', /bandwidth_per_tunnel must be a whole number/],
    ['bandwidth_per_tunnel = "1M"', /bandwidth_per_tunnel must be a whole number/],
    ['bandwidth_per_tunnel = 1.5', /bandwidth_per_tunnel must be a whole number/],
    ['max_pending_per_ip = -1', /max_pending_per_ip must be a whole number/],
    ['max_pending_per_ip = 0.5', /max_pending_per_ip must be a whole number/],
    ['admin_token_file = 7', /admin_token_file must be a string/],
    [agent('allow = ["10.0.0.0/33"]'), /^agents\[0\]\.allow: prefix length/],
    [agent('deny = ["x"]'), /^agents\[0\]\.deny: /],
    [agent('conn_rate_per_ip = -1'), /agents\[0\]\.conn_rate_per_ip must be a number/],
    [agent('conn_rate_per_tunnel = "fast"'), /agents\[0\]\.conn_rate_per_tunnel must be a number/],
    [agent('bandwidth_per_tunnel = -1'), /agents\[0\]\.bandwidth_per_tunnel must be a whole number/],
  ];
  for (const [text, re] of bad) t.throws(() => parseRelayConfig(text), { name: 'ConfigError', code: 'CONFIG', message: re }, text);
});

t.test('unknown keys are still refused, at the top and per entry', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['conn_rate = 1', /unknown setting "conn_rate"/],
    ['bandwidth = 1', /unknown setting "bandwidth"/],
    ['allowed = []', /unknown setting "allowed"/],
    ['proxy_protocol = true', /unknown setting "proxy_protocol"/],
    [`[[agents]]\nkey = "${key}"\nmax_pending_per_ip = 1`, /unknown setting "agents\[0\]\.max_pending_per_ip"/],
    [`[[agents]]\nkey = "${key}"\nproxy_protocol_from = []`, /unknown setting "agents\[0\]\.proxy_protocol_from"/],
    [`[[agents]]\nkey = "${key}"\nadmin_token_file = "x"`, /unknown setting "agents\[0\]\.admin_token_file"/],
    [`[[agents]]\nkey = "${key}"\nrate = 1`, /unknown setting "agents\[0\]\.rate"/],
  ];
  for (const [text, re] of bad) t.throws(() => parseRelayConfig(text), { code: 'CONFIG', message: re }, text);
});

t.test('diffGrants lists what a reload adds and removes, entry by entry', async (t) => {
  const g = (name: string, k: string, hosts: string[], ports: Array<[number, number]>): AgentGrant => {
    const c = parseRelayConfig(`[[agents]]\nname = "${name}"\nkey = "${k}"\nhosts = ${JSON.stringify(hosts)}\nports = ${JSON.stringify(ports.map(([a, b]) => (a === b ? a : `${a}-${b}`)))}`);
    return c.agents[0];
  };
  const web = g('web', key, ['a.example.com'], [[22, 22]]);
  t.same(diffGrants([web], [web]), { added: [], removed: [] }, 'nothing changed');
  t.same(diffGrants([], []), { added: [], removed: [] });
  const web2 = g('web', key, ['a.example.com', '*.b.example.com'], [[22, 22], [20000, 20009]]);
  t.same(diffGrants([web], [web2]), { added: ['web (cYvFMKL_): *.b.example.com', 'web (cYvFMKL_): ports 20000-20009'], removed: [] }, 'a host and a range granted');
  t.same(diffGrants([web2], [web]), { added: [], removed: ['web (cYvFMKL_): *.b.example.com', 'web (cYvFMKL_): ports 20000-20009'] }, 'and taken away');
  const laptop = g('laptop', key2, [], [[2222, 2222]]);
  t.same(diffGrants([web], [web, laptop]), { added: ['laptop (8uMgRrtV): key', 'laptop (8uMgRrtV): ports 2222'], removed: [] }, 'a new key: the key and its grants');
  t.same(diffGrants([web, laptop], [laptop]), { added: [], removed: ['web (cYvFMKL_): key', 'web (cYvFMKL_): a.example.com', 'web (cYvFMKL_): ports 22'] }, 'a key gone: everything it had');
  const d = diffGrants([web], [g('web', key2, ['a.example.com'], [[22, 22]])]);
  t.equal(d.added.length, 3, 'the same name under another key is a new grant…');
  t.equal(d.removed.length, 3, '…and the old one is gone');
});
