// The agent's inspector: one event stream (/api/events: `hello` with every kept connection and
// each tunnel's history, then a `tick` a second with each tunnel's bytes and the connections
// that changed), a chart per tunnel, the connection table with its filters.
import { el, setRows, fmtBytes, fmtRate, fmtDuration, fmtTime, EventStream, showStatus } from './common.js';
import { Chart } from './chart.js';

const WINDOW = 300;
const $ = (id) => document.getElementById(id);
const OUTCOMES = {
  open: 'open', clean: 'clean end', client_reset: 'reset by the client', service_reset: 'reset by the service',
  relay_reset: 'reset by the relay', unreachable: 'target unreachable', refused: 'refused by the agent', closed: 'closed by the agent',
};

let keep = 500;
let tunnels = [];
const history = new Map(); // tunnel id → [[t, in, out], …]
const charts = new Map();
const conns = new Map(); // id → record

function tunnelLabel(id) {
  const t = tunnels.find((x) => x.id === id);
  return t ? (t.type === 'tls' ? t.name : `tcp ${t.name}`) : id;
}

function setTunnels(list) {
  tunnels = list;
  const sel = $('f-tunnel');
  sel.replaceChildren(el('option', null, 'all'), ...list.map((t) => { const o = el('option', null, tunnelLabel(t.id)); o.value = t.id; return o; }));
  sel.options[0].value = '';
  charts.clear();
  $('tunnel-charts').replaceChildren(...list.map((t) => {
    const canvas = el('canvas', 'tunnel-chart');
    canvas.dataset.tunnel = t.id;
    const legend = el('div', 'legend');
    charts.set(t.id, new Chart(canvas, legend, { windowSec: WINDOW, format: fmtRate }));
    return el('div', 'card', el('h2', null, tunnelLabel(t.id), el('span', 'muted', ` → ${t.target}`)), canvas, legend);
  }));
}

function drawCharts() {
  for (const [id, chart] of charts) {
    const h = history.get(id) ?? [];
    chart.set([{ name: 'in (from clients)', points: h.map((p) => [p[0], p[1]]) }, { name: 'out (to clients)', points: h.map((p) => [p[0], p[2]]) }]);
  }
}

function matches(c) {
  const tunnel = $('f-tunnel').value;
  const outcome = $('f-outcome').value;
  const text = $('f-text').value.trim().toLowerCase();
  if (tunnel && c.tunnel !== tunnel) return false;
  if (outcome === 'ended' ? c.outcome === 'open' : outcome && c.outcome !== outcome) return false;
  if (text && ![c.client, c.server, c.sni, ...c.alpn, c.relay].some((v) => v && v.toLowerCase().includes(text))) return false;
  return true;
}

function render() {
  const all = [...conns.values()].sort((a, b) => b.id - a.id);
  const shown = all.filter(matches);
  $('shown').textContent = `(${shown.length} of ${all.length} kept; the newest ${keep} are kept)`;
  setRows($('connections').tBodies[0], shown.map((c) => {
    const ended = el('td', 'c-outcome', OUTCOMES[c.outcome] ?? c.outcome, c.code ? el('span', 'code', c.code) : null);
    const alpn = el('td', 'c-alpn');
    for (const p of c.alpn) alpn.append(el('span', 'alpn', p));
    const client = el('td', 'c-client mono', c.client ?? '—');
    if (c.server) client.title = `reached ${c.server} via ${c.relay}`;
    const row = el('tr', `o-${c.outcome}`, el('td', 'c-start mono', fmtTime(c.start)), el('td', 'c-tunnel', tunnelLabel(c.tunnel)), client,
      el('td', 'c-sni mono', c.sni ?? '—'), alpn, el('td', 'c-in num', fmtBytes(c.bytesIn)), el('td', 'c-out num', fmtBytes(c.bytesOut)),
      el('td', 'c-duration num', fmtDuration(c.durationMs)), ended);
    row.dataset.id = String(c.id);
    row.dataset.bytesIn = String(c.bytesIn);
    row.dataset.bytesOut = String(c.bytesOut);
    row.dataset.outcome = c.outcome;
    return row;
  }));
}

function trim() {
  if (conns.size <= keep) return;
  const ids = [...conns.keys()].sort((a, b) => a - b);
  for (const id of ids.slice(0, conns.size - keep)) conns.delete(id);
}

const stream = new EventStream('/api/events', () => ({}), {
  status: (s) => showStatus($('status'), s),
  unauthorized: () => {},
  hello: (d) => {
    keep = d.keep;
    $('keep').textContent = `keeps the last ${keep} connections`;
    setTunnels(d.tunnels);
    history.clear();
    for (const [id, h] of Object.entries(d.history)) history.set(id, h);
    conns.clear();
    for (const c of d.connections) conns.set(c.id, c);
    drawCharts();
    render();
  },
  tick: (d) => {
    for (const [id, [bin, bout]] of Object.entries(d.tunnels)) {
      const h = history.get(id) ?? [];
      h.push([d.t, bin, bout]);
      while (h.length > WINDOW) h.shift();
      history.set(id, h);
    }
    const oldest = Math.min(...conns.keys());
    for (const c of d.changed) if (conns.has(c.id) || conns.size < keep || c.id > oldest) conns.set(c.id, c);
    trim();
    drawCharts();
    render();
  },
});

for (const id of ['f-tunnel', 'f-outcome', 'f-text']) $(id).addEventListener('input', render);
stream.start();
