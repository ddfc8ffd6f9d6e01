// The agent's TOML file: tunnels as strings (the flags' syntax) or tables (with a policy), and
// every mistake refused with a sentence that names the entry.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAgentConfig } from '../../src/agent/index.js';
import { ConfigError } from '../../src/config/index.js';
import { tempHome } from '../helpers/net.js';

function load(t: Parameters<typeof tempHome>[0], text: string) {
  const path = join(tempHome(t), 'agent.toml');
  writeFileSync(path, text);
  return loadAgentConfig(path);
}

t.test('strings and tables, inline or as [[tls]] / [[tcp]], mixed in one list', async (t) => {
  const c = load(t, `
tls = ["a.example.test=127.0.0.1:8443", { name = "B.example.test", target = "127.0.0.1:8444", proxy_protocol = "v2", allow = ["10.0.0.0/8"], deny = [] }]
tcp = ["20022=127.0.0.1:22", { target = "[::1]:5432", proxy_protocol = "v1", deny = ["2001:DB8::/32", "192.0.2.7"] }]
`);
  t.same(c.tls, [
    { id: 'a.example.test', type: 'tls', hostname: 'a.example.test', target: { host: '127.0.0.1', port: 8443 } },
    { id: 'b.example.test', type: 'tls', hostname: 'b.example.test', target: { host: '127.0.0.1', port: 8444 }, proxyProtocol: 'v2', allow: ['10.0.0.0/8'] },
  ], 'an empty deny list is no deny list');
  t.same(c.tcp, [
    { id: 'tcp:1', type: 'tcp', port: 20022, target: { host: '127.0.0.1', port: 22 } },
    { id: 'tcp:2', type: 'tcp', port: 0, target: { host: '::1', port: 5432 }, proxyProtocol: 'v1', deny: ['2001:db8::/32', '192.0.2.7/32'] },
  ], 'address blocks in their canonical text');

  const arrays = load(t, `
[[tcp]]
port = 20023
target = "127.0.0.1:23"
proxy_protocol = "v2"

[[tcp]]
target = "127.0.0.1:24"
`);
  t.same(arrays.tcp.map((x) => [x.id, x.port, x.proxyProtocol]), [['tcp:1', 20023, 'v2'], ['tcp:2', 0, undefined]], 'array-of-tables form');
  t.same(load(t, 'relay = "127.0.0.1:1"').tls, [], 'no tunnels');
});

t.test('mistakes are refused, naming the entry', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['tls = [{ name = "a.test", target = "127.0.0.1:1", proxy = "v2" }]', /unknown setting "tls\[0\]\.proxy"/],
    ['tls = [{ name = "a.test", target = "127.0.0.1:1", proxy_protocol = "v3" }]', /tls\[0\]\.proxy_protocol must be v1 or v2, got "v3"/],
    ['tls = [{ name = "a.test", target = "127.0.0.1:1", proxy_protocol = 2 }]', /tls\[0\]\.proxy_protocol must be a string/],
    ['tcp = ["127.0.0.1:1", { target = "127.0.0.1:2", allow = ["10.0.0.0/33"] }]', /tcp\[1\]\.allow: prefix length of "10\.0\.0\.0\/33" must be 0 to 32/],
    ['tcp = [{ target = "127.0.0.1:2", deny = ["not-an-address"] }]', /tcp\[0\]\.deny: expected an address block/],
    ['tcp = [{ target = "127.0.0.1:2", deny = "10.0.0.0/8" }]', /tcp\[0\]\.deny must be a list of strings/],
    [`tcp = [{ target = "127.0.0.1:2", allow = [${Array.from({ length: 65 }, (_, i) => `"10.0.${i}.0/24"`).join(', ')}] }]`, /tcp\[0\]\.allow: at most 64 address blocks/],
    ['tls = [{ target = "127.0.0.1:1" }]', /tls\[0\]\.name is required/],
    ['tcp = [{ port = 22 }]', /tcp\[0\]\.target is required/],
    ['tcp = [{ port = 70000, target = "127.0.0.1:2" }]', /tcp\[0\]: 70000 is not a port/],
    ['tls = [{ name = "127.0.0.1", target = "127.0.0.1:1" }]', /tls\[0\]: "127\.0\.0\.1" is not a host name/],
    ['tls = ["a.test=nowhere"]', /tls\[0\]: target must be HOST:PORT/],
    ['tls = [["a.test=127.0.0.1:1"]]', /tls\[0\] must be a string or a table/],
    ['tcp = [22]', /tcp\[0\] must be a string or a table/],
    ['tcp = "127.0.0.1:22"', /tcp must be a list/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => load(t, text), { constructor: ConfigError, code: 'CONFIG', message }, text.slice(0, 70));
  }
});
