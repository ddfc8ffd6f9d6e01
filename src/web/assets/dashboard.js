// The relay's dashboard: one event stream (/api/events: `hello` with 15 minutes of samples and
// the status, then a `tick` a second), three charts and the agents, tunnels and workers tables.
import { el, setRows, fmtRate, fmtSince, EventStream, showStatus } from './common.js';
import { Chart } from './chart.js';

const WINDOW = 900;
const TOKEN_KEY = 'relay-admin-token';
const $ = (id) => document.getElementById(id);

const samples = [];
const charts = {
  conns: new Chart($('chart-conns'), $('legend-conns'), { windowSec: WINDOW, format: (v) => fmtNum(v) }),
  bytes: new Chart($('chart-bytes'), $('legend-bytes'), { windowSec: WINDOW, format: fmtRate }),
  refused: new Chart($('chart-refused'), $('legend-refused'), { windowSec: WINDOW, format: (v) => fmtNum(v) }),
};

function fmtNum(v) { return v >= 10 || v === 0 ? String(Math.round(v)) : v.toFixed(1); }

function drawCharts() {
  charts.conns.set([{ name: 'new connections', points: samples.map((s) => [s.t, s.connections]) }]);
  charts.bytes.set([
    { name: 'in (from clients)', points: samples.map((s) => [s.t, s.bytesIn]) },
    { name: 'out (to clients)', points: samples.map((s) => [s.t, s.bytesOut]) },
  ]);
  const reasons = [...new Set(samples.flatMap((s) => Object.keys(s.refused)))].sort();
  charts.refused.set(reasons.length === 0
    ? [{ name: 'none', points: samples.map((s) => [s.t, 0]) }]
    : reasons.map((r) => ({ name: r, points: samples.map((s) => [s.t, s.refused[r] ?? 0]) })));
}

function tunnelName(t) { return t.type === 'tls' ? t.hostname : `:${t.port}`; }

function showStatusDoc(st) {
  if (!st) return;
  $('key').textContent = st.publicKey;
  $('draining').hidden = !st.draining;
  // Agents: one row per key, its sessions together (several relays' workers, or one key connected twice).
  const byKey = new Map();
  for (const s of st.sessions ?? []) {
    const a = byKey.get(s.key) ?? { name: s.name, key: s.key, remotes: new Set(), ciphers: new Set(), workers: new Set(), sessions: 0, since: s.since };
    a.remotes.add(s.remote); a.ciphers.add(s.cipher); a.sessions++;
    if (s.worker !== undefined) a.workers.add(s.worker);
    if (s.since < a.since) a.since = s.since;
    byKey.set(s.key, a);
  }
  $('agent-count').textContent = `(${byKey.size})`;
  setRows($('agents').tBodies[0], [...byKey.values()].sort((a, b) => a.name.localeCompare(b.name)).map((a) => {
    const key = el('code', 'key', a.key.slice(0, 12) + '…');
    key.title = a.key;
    return el('tr', null, el('td', 'name', a.name), el('td', null, key), el('td', 'mono', [...a.remotes].join(', ')),
      el('td', null, [...a.ciphers].join(', ')), el('td', 'num', a.sessions), el('td', null, fmtSince(a.since)),
      el('td', null, a.workers.size ? [...a.workers].sort().join(', ') : '—'));
  }));
  $('tunnel-count').textContent = `(${st.tunnels.length})`;
  setRows($('tunnels').tBodies[0], st.tunnels.map((t) => el('tr', null,
    el('td', 'name mono', tunnelName(t)), el('td', null, t.type),
    el('td', null, ...t.agents.map((a) => el('span', 'member', a.worker !== undefined ? `${a.name} (worker ${a.worker})` : a.name))),
    el('td', 'num', t.connections))));
  const workers = st.workers ?? [];
  $('workers-card').hidden = workers.length === 0;
  setRows($('workers').tBodies[0], workers.map((w) => el('tr', null, el('td', 'num', w.worker), el('td', 'num', w.pid), el('td', 'num', w.agents), el('td', 'num', w.connections))));
}

const stream = new EventStream('/api/events', () => {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}, {
  status: (s) => showStatus($('status'), s),
  unauthorized: () => {
    $('auth-error').hidden = sessionStorage.getItem(TOKEN_KEY) === null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('auth').hidden = false;
    $('token').focus();
  },
  hello: (d) => { samples.length = 0; samples.push(...d.samples); drawCharts(); showStatusDoc(d.status); },
  tick: (d) => {
    samples.push(d.sample);
    while (samples.length > WINDOW) samples.shift();
    drawCharts();
    showStatusDoc(d.status);
  },
});

$('auth').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('token').value.trim();
  if (token === '') return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  $('auth').hidden = true;
  stream.start();
});

stream.start();
