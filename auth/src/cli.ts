#!/usr/bin/env node
// ravenhelm-auth: development helpers (dev token issuer, dev CA). Tokens go to stdout, everything else to stderr.
import { runCaCli } from './dev/ca.js';
import { ISSUER_USAGE, runIssuerCli } from './dev/issuer-cli.js';

const USAGE = `ravenhelm-auth <command>
${ISSUER_USAGE}
  token ... --issuer-port N   shorthand for --issuer http://127.0.0.1:N (a dev issuer on this machine)
  ca init | ca svid --agent NAME | ca server --name NAME   (ca --help for options)`;

/** `token --issuer-port N` names a dev issuer on loopback; rewritten to `--issuer http://127.0.0.1:N`. */
function expandIssuerPort(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    let value: string | undefined;
    if (arg === '--issuer-port') value = argv[++i];
    else if (arg.startsWith('--issuer-port=')) value = arg.slice('--issuer-port='.length);
    else {
      out.push(arg);
      continue;
    }
    const port = Number(value);
    if (value === undefined || !/^\d+$/.test(value) || port < 1 || port > 65_535) {
      throw new Error('--issuer-port must be a port number 1..65535');
    }
    out.push('--issuer', `http://127.0.0.1:${port}`);
  }
  if (out.filter((a) => a === '--issuer' || a.startsWith('--issuer=')).length > 1) {
    throw new Error('give either --issuer or --issuer-port, once');
  }
  return out;
}

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (command === 'ca') return runCaCli(argv);
  if (command === 'token') {
    let expanded: string[];
    try {
      expanded = expandIssuerPort(argv);
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
      return 2;
    }
    return runIssuerCli(expanded);
  }
  if (command === 'dev-issuer') return runIssuerCli(argv);
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  process.stderr.write(`${command ? `unknown command "${command}"\n` : ''}${USAGE}\n`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
