import t from 'tap';
import { parseHostPort, parsePortRange } from '../../src/net/address.js';

t.test('addresses and ranges', async (t) => {
  t.same(parseHostPort(':0'), { host: '0.0.0.0', port: 0 });
  t.same(parseHostPort('[::1]:443'), { host: '::1', port: 443 });
  t.throws(() => parseHostPort('host:99999'));
  t.same(parsePortRange('20000-20999'), { from: 20000, to: 20999 });
  t.throws(() => parsePortRange('2-1'));
});
