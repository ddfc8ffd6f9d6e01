#!/usr/bin/env node
import { Command } from 'commander';
import { createRequire } from 'node:module';
import { registerServe } from './serve.js';
import { registerAgent } from './agent.js';
import { registerBench } from './bench.js';

const require = createRequire(import.meta.url);
const { version } = require('../../package.json') as { version: string };

/** A subcommand whose issue has not landed yet: says so and fails, never pretends. */
function notBuilt(name: string): () => never {
  return () => {
    process.stderr.write(`relay ${name}: not built yet in this version\n`);
    process.exit(2);
  };
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('relay')
    .description('End-to-end encrypted TCP/TLS passthrough relay: routes on SNI, never sees plaintext.')
    .version(version);
  registerServe(program);
  registerAgent(program);
  program.command('keygen').description('generate an X25519 key pair').allowUnknownOption().action(notBuilt('keygen'));
  registerBench(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
