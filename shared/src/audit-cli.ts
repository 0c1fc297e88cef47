#!/usr/bin/env node
import { pathToFileURL } from 'node:url';
import { verifyAuditChain } from './pipeline/audit.js';

/** `ravenhelm-audit verify <file>`: checks every record's hash and its link to the previous one. */
export async function runAuditCli(
  argv: string[],
  out: { write(s: string): unknown } = process.stdout,
  err: { write(s: string): unknown } = process.stderr,
): Promise<number> {
  const [command, file] = argv;
  if (command !== 'verify' || !file) {
    err.write('usage: ravenhelm-audit verify <audit.jsonl>\n');
    return 2;
  }
  try {
    const result = await verifyAuditChain(file);
    if (result.ok) {
      out.write(`ok: ${result.records} records, chain intact\n`);
      return 0;
    }
    out.write(`broken at record ${result.brokenAt}: ${result.reason}\n`);
    return 1;
  } catch (e) {
    err.write(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runAuditCli(process.argv.slice(2));
}
