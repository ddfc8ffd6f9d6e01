import { setFlagsFromString } from 'node:v8';

/**
 * V8 marks, sweeps and scavenges on helper threads by default. Here every byte spliced allocates
 * (Node's socket read, OpenSSL's AEAD output), so GC runs often, and on a machine whose cores
 * are busy with the traffic itself the helpers cost more CPU than they save (measured in
 * docs/performance.md, splice path, round 2).
 *
 * These are the flags V8 reads when it schedules GC work, so they take effect after start-up,
 * when set before the program allocates anything worth collecting (this module is imported
 * first). `--no-parallel-marking` and `--single-threaded-gc` are left out: V8 aborts when they
 * change after its heap exists. `RELAY_GC=concurrent` keeps V8's defaults.
 */
const SERIAL_GC_FLAGS = [
  '--no-concurrent-marking',
  '--no-concurrent-sweeping',
  '--no-parallel-scavenge',
  '--no-parallel-compaction',
  '--no-parallel-pointer-update',
] as const;

if (process.env.RELAY_GC !== 'concurrent') {
  for (const flag of SERIAL_GC_FLAGS) setFlagsFromString(flag);
}
