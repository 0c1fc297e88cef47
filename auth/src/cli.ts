#!/usr/bin/env node
// ravenhelm-auth: development helpers (dev token issuer, dev CA). Tokens go to stdout, everything else to stderr.
import { runCaCli } from './dev/ca.js';
import { ISSUER_USAGE, runIssuerCli } from './dev/issuer-cli.js';

const USAGE = `ravenhelm-auth <command>
${ISSUER_USAGE}
  ca init | ca svid --agent NAME | ca server --name NAME   (ca --help for options)`;

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (command === 'ca') return runCaCli(argv);
  if (command === 'dev-issuer' || command === 'token') return runIssuerCli(argv);
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  process.stderr.write(`${command ? `unknown command "${command}"\n` : ''}${USAGE}\n`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
