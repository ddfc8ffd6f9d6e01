// `npm run bench`: every tinybench suite in this folder (files named *.bench.ts exporting `run()`,
// which returns either a tinybench Bench or rows { name, opsPerSec, mbPerSec?, samples }), one
// after another, printed as one table. `npm run bench -- noise` runs the suites whose file
// name starts with "noise". BENCH_TIME_MS sets each task's time (default 500).
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Bench } from 'tinybench';

interface Row { name: string; opsPerSec: number; mbPerSec?: number; framesPerSec?: number; samples: number }

const here = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv.slice(2);
const time = Number(process.env.BENCH_TIME_MS ?? 500);
const suites = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).sort()
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)));

function fromBench(bench: Bench): Row[] {
  return bench.tasks.map((task) => {
    const r = task.result as { throughput?: { p50?: number }; latency?: { samples?: number[] } } | undefined;
    return { name: task.name, opsPerSec: r?.throughput?.p50 ?? NaN, samples: r?.latency?.samples?.length ?? 0 };
  });
}

const table: Array<Record<string, unknown>> = [];
for (const file of suites) {
  process.stderr.write(`running ${file}…\n`);
  const mod = (await import(pathToFileURL(here + file).href)) as { run: (time?: number) => Promise<Bench | Row[]> };
  const out = await mod.run(time);
  for (const r of Array.isArray(out) ? out : fromBench(out)) {
    table.push({
      suite: file.replace(/\.bench\.ts$/, ''),
      task: r.name,
      'ops/s': Math.round(r.opsPerSec).toLocaleString('en-US'),
      'MB/s': r.mbPerSec === undefined ? '' : Math.round(r.mbPerSec).toLocaleString('en-US'),
    });
  }
}
console.log(`node ${process.version}, ${process.platform}/${process.arch}, ${new Date().toISOString().slice(0, 10)}`);
console.table(table);
