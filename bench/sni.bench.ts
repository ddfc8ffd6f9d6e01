// ClientHello reader throughput: parseClientHello one-shot and ClientHelloReader fed in 1-byte
// and 512-byte chunks, on a typical hello (curl, 517 B) and a post-quantum-sized one (Chromium
// with X25519MLKEM768, 1832 B), plus OpenSSL's 3-record hello. Run: npx tsx bench/sni.bench.ts
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { ClientHelloReader, parseClientHello } from '../src/sni/index.js';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/sni/', import.meta.url));
const load = (name: string) => Buffer.from(readFileSync(FIXTURES + name, 'utf8').replace(/\s+/g, ''), 'hex');

function chunksOf(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < buf.length; p += size) out.push(buf.subarray(p, p + size));
  return out;
}

function readAll(chunks: Buffer[]): string | null {
  const reader = new ClientHelloReader();
  for (const c of chunks) {
    const r = reader.push(c);
    if (r) return r.serverName;
  }
  throw new Error('hello incomplete');
}

/** Builds the suite and runs it; returns the Bench so that bench/index.ts can collect suites. */
export async function run(time = 500): Promise<Bench> {
  const hellos = {
    [`typical ${load('curl.hex').length} B`]: load('curl.hex'),
    [`large PQ ${load('chromium.hex').length} B`]: load('chromium.hex'),
    [`3 records ${load('openssl-multirecord.hex').length} B`]: load('openssl-multirecord.hex'),
  };
  const bench = new Bench({ name: 'sni', time, warmupTime: 100 });
  for (const [label, hello] of Object.entries(hellos)) {
    const one = chunksOf(hello, 1);
    const k512 = chunksOf(hello, 512);
    bench
      .add(`parseClientHello, ${label}`, () => {
        parseClientHello(hello);
      })
      .add(`reader, 512-byte chunks, ${label}`, () => {
        readAll(k512);
      })
      .add(`reader, 1-byte chunks, ${label}`, () => {
        readAll(one);
      });
  }
  await bench.run();
  return bench;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const bench = await run();
  console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
  console.table(bench.table());
}
