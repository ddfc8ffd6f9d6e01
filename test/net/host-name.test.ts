import t from 'tap';
import fc from 'fast-check';
import { hostNameProblem, hostPatternProblem } from '../../src/net/host-name.js';
import { parseClientHello, SniError } from '../../src/sni/index.js';
import { buildClientHello } from '../../src/bench/client-hello.js';
import { parseTlsSpec } from '../../src/agent/tunnels.js';
import { parseRelayConfig } from '../../src/relay/config.js';
import { parseRegister } from '../../src/control/messages.js';

/** Whether each user of the host-name rule accepts `name` (lower-case, no trailing dot). */
function verdicts(name: string): Record<string, boolean> {
  const accepts = (f: () => unknown): boolean => { try { f(); return true; } catch { return false; } };
  return {
    rule: hostNameProblem(name) === null,
    'ClientHello reader': accepts(() => {
      try { parseClientHello(buildClientHello(name)); } catch (e) { if (e instanceof SniError && e.code === 'MALFORMED') throw e; }
    }),
    'agent --tls': accepts(() => parseTlsSpec(`${name}=127.0.0.1:1`)),
    'relay grant': accepts(() => parseRelayConfig(`[[agents]]\nkey = "cYvFMKL_BIhreGnPkNBK2JkEsJGvIwiJQotAGjKcKHc"\nhosts = [${JSON.stringify(name)}]`)),
    'control register': accepts(() => {
      const [entry] = parseRegister(JSON.stringify({ t: 'register', tunnels: [{ id: 't', type: 'tls', hostname: name }] })).tunnels;
      if ('refused' in entry) throw new Error(entry.refused.message);
    }),
  };
}

const agree = (name: string): boolean => {
  const v = Object.values(verdicts(name));
  return v.every((x) => x === v[0]);
};

t.test('one rule: reader, agent, grants and control messages accept the same names', async (t) => {
  const cases: Array<[string, boolean]> = [
    ['app.example.com', true], ['my_app.example.com', true], ['x', true], ['xn--bcher-kva.example', true],
    [`${'a'.repeat(63)}.com`, true], [`${'a'.repeat(64)}.com`, false],
    [Array.from({ length: 4 }, () => 'a'.repeat(61)).join('.') + '.abcde', true], // 253 characters
    [Array.from({ length: 4 }, () => 'a'.repeat(61)).join('.') + '.abcdef', false], // 254
    ['127.0.0.1', false], ['2130706433', false], ['127.1', false], ['1.2.3.com', true],
    ['a-.example', false], ['-a.example', false], ['a..b', false], ['a b.example', false], ['caf\u00e9.example', false], ['[::1]', false],
  ];
  for (const [name, ok] of cases) {
    t.same(verdicts(name), { rule: ok, 'ClientHello reader': ok, 'agent --tls': ok, 'relay grant': ok, 'control register': ok }, name.length > 40 ? `${name.length} characters` : name);
  }
  const label = fc.stringMatching(/^[a-z0-9_-]{0,64}$/);
  const name = fc.oneof(fc.array(label, { minLength: 1, maxLength: 6 }).map((l) => l.join('.')), fc.stringMatching(/^[a-z0-9.:_\u00e9 -]{1,20}$/));
  fc.assert(fc.property(name, (n) => n.endsWith('.') || agree(n)), { numRuns: 2000 });
});

t.test('patterns: lower-case only, one leading *. at most', async (t) => {
  t.equal(hostPatternProblem('*.example.com'), null);
  t.equal(hostPatternProblem('App.example.com'), 'not lower-case');
  t.not(hostPatternProblem('*.*.example.com'), null);
  t.not(hostPatternProblem('a.*.example.com'), null);
  t.not(hostPatternProblem('*.10.0.0.1'), null, 'a wildcard over an IP literal');
});
