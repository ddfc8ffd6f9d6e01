// `npm run bench`: every tinybench suite in this folder (files named *.bench.ts exporting
// `run(): Promise<Bench>`), one after another, printed as one table.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Bench } from 'tinybench';

const here = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv.slice(2);
const suites = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).sort()
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)));

const rows: Array<Record<string, unknown>> = [];
for (const file of suites) {
  process.stderr.write(`running ${file}…\n`);
  const mod = (await import(pathToFileURL(here + file).href)) as { run: () => Promise<Bench> };
  const bench = await mod.run();
  for (const task of bench.tasks) {
    const r = task.result as { throughput?: { p50?: number }; latency?: { p50?: number } } | undefined;
    rows.push({ suite: bench.name ?? file, task: task.name, 'ops/s (median)': Math.round(r?.throughput?.p50 ?? NaN), 'latency median (µs)': Number(((r?.latency?.p50 ?? NaN) * 1000).toFixed(2)) });
  }
}
console.log(`node ${process.version}, ${process.platform}/${process.arch}, ${new Date().toISOString().slice(0, 10)}`);
console.table(rows);
