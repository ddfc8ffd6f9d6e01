/**
 * One view of a relay made of several workers (README "Workers"): their Prometheus texts summed
 * series by series, their `/api/tunnels` documents joined tunnel by tunnel.
 */

/** Sums every series over the workers' exposition texts; HELP and TYPE lines kept once, in order. */
export function mergeMetrics(texts: string[]): string {
  const order: string[] = [];
  const values = new Map<string, number>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) { if (!values.has(line)) { values.set(line, NaN); order.push(line); } continue; }
      const sp = line.lastIndexOf(' ');
      const series = line.slice(0, sp);
      const v = Number(line.slice(sp + 1));
      if (!values.has(series)) { values.set(series, 0); order.push(series); }
      values.set(series, values.get(series)! + v);
    }
  }
  return order.map((k) => (k.startsWith('#') ? k : `${k} ${values.get(k)}`)).join('\n') + '\n';
}

interface AgentRow { [k: string]: unknown }
interface TunnelRow { type: string; hostname?: string; port?: number; connections: number; agents: AgentRow[] }
interface WorkerStatus { agents: number; tunnels: TunnelRow[]; bytes: { in: number; out: number }; draining: boolean; sessions?: AgentRow[]; [k: string]: unknown }

/** The workers' statuses as one: counts summed, each tunnel once with every worker's agents, and every worker's sessions (each marked with its worker). */
export function mergeStatus(workers: Array<{ worker: number; pid: number; status: unknown }>, draining: boolean): unknown {
  const list = workers.map((w) => ({ ...w, status: w.status as WorkerStatus }));
  const first = list[0]?.status;
  const tunnels = new Map<string, TunnelRow>();
  for (const { worker, status } of list) {
    for (const t of status.tunnels) {
      const k = t.type === 'tls' ? `tls:${t.hostname}` : `tcp:${t.port}`;
      let row = tunnels.get(k);
      if (!row) { row = { ...t, connections: 0, agents: [] }; tunnels.set(k, row); }
      row.connections += t.connections;
      row.agents.push(...t.agents.map((a) => ({ ...a, worker })));
    }
  }
  return {
    ...(first ?? {}),
    draining,
    agents: list.reduce((n, w) => n + w.status.agents, 0),
    tunnels: [...tunnels.values()],
    bytes: { in: list.reduce((n, w) => n + w.status.bytes.in, 0), out: list.reduce((n, w) => n + w.status.bytes.out, 0) },
    sessions: list.flatMap(({ worker, status }) => (status.sessions ?? []).map((s) => ({ ...s, worker }))),
    workers: list.map(({ worker, pid, status }) => ({ worker, pid, agents: status.agents, connections: status.tunnels.reduce((n, t) => n + t.connections, 0) })),
  };
}
