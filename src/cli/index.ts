#!/usr/bin/env node
// The `relay` command: serve, agent, keygen and pubkey, bench.
// First: GC flags must be set before the rest of the program allocates (gc-tuning.ts).
import './gc-tuning.js';
import { Command } from 'commander';
import { createRequire } from 'node:module';
import { registerServe } from './serve.js';
import { registerAgent } from './agent.js';
import { registerKeyCommands } from './keygen.js';
import { registerBench } from './bench.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('relay')
    .description('End-to-end encrypted TCP/TLS passthrough relay: routes on SNI, never sees plaintext.')
    .version(version)
    // Options of `relay` itself only before the subcommand: a key is base64url, and one in 64 starts
    // with '-' (`--relay-key -V…` printed the version and exited 0).
    .enablePositionalOptions();
  registerServe(program);
  registerAgent(program);
  registerKeyCommands(program);
  registerBench(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
