import t from 'tap';
import { parseRelayConfig } from '../../src/relay/config.js';

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
