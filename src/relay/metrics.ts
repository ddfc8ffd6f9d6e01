/**
 * Counters and gauges, rendered as Prometheus text (exposition format 0.0.4). Labels are fixed
 * small sets (a reason code, a tunnel type): never a peer-chosen string, so the series count is
 * bounded by the code, not by the internet.
 */
type Labels = Record<string, string>;

const escapeValue = (v: string): string => v.replace(/["\\\n]/g, '_');

function key(name: string, labels?: Labels): string {
  if (!labels) return name;
  const names = Object.keys(labels);
  // Per-connection counters carry one label: no sort, no join.
  if (names.length === 1) return `${name}{${names[0]}="${escapeValue(labels[names[0]])}"}`;
  return `${name}{${names.sort().map((k) => `${k}="${escapeValue(labels[k])}"`).join(',')}}`;
}

export class Metrics {
  private readonly counters = new Map<string, number>();
  private readonly help = new Map<string, string>();
  private readonly gauges = new Map<string, () => number>();

  /**
   * A counter, shown from the start with 0 for each label set listed: a dashboard's `rate()` needs
   * the series before its first increment.
   */
  counter(name: string, help: string, labelSets: Labels[] = []): void {
    this.help.set(name, help);
    for (const labels of labelSets) if (!this.counters.has(key(name, labels))) this.counters.set(key(name, labels), 0);
  }

  describe(name: string, help: string): void { this.help.set(name, help); }

  inc(name: string, labels?: Labels, by = 1): void {
    const k = key(name, labels);
    this.counters.set(k, (this.counters.get(k) ?? 0) + by);
  }

  get(name: string, labels?: Labels): number { return this.counters.get(key(name, labels)) ?? 0; }

  gauge(name: string, read: () => number): void { this.gauges.set(name, read); }

  render(): string {
    const lines: string[] = [];
    const byName = new Map<string, string[]>();
    for (const [k, v] of this.counters) {
      const n = k.replace(/\{.*$/, '');
      (byName.get(n) ?? byName.set(n, []).get(n)!).push(`${k} ${v}`);
    }
    for (const [n, rows] of byName) {
      if (this.help.has(n)) lines.push(`# HELP ${n} ${this.help.get(n)}`);
      lines.push(`# TYPE ${n} counter`, ...rows);
    }
    for (const [n, read] of this.gauges) {
      if (this.help.has(n)) lines.push(`# HELP ${n} ${this.help.get(n)}`);
      lines.push(`# TYPE ${n} gauge`, `${n} ${read()}`);
    }
    return lines.join('\n') + '\n';
  }
}
