#!/usr/bin/env node
import { Command } from 'commander';
import { createRequire } from 'node:module';
import { registerKeyCommands } from './keygen.js';

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
  program.command('serve').description('run the public relay').allowUnknownOption().action(notBuilt('serve'));
  program.command('agent').description('run an agent next to private services').allowUnknownOption().action(notBuilt('agent'));
  registerKeyCommands(program);
  program.command('bench').description('measure a tunnel against a direct connection').allowUnknownOption().action(notBuilt('bench'));
  return program;
}

await buildProgram().parseAsync(process.argv);
