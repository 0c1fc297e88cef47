#!/usr/bin/env node
import { open, stat } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { repairAuditLog, verifyAuditChain } from './pipeline/audit.js';
import { verifyAuditSet } from './pipeline/audit-verify.js';

const USAGE = `usage: ravenhelm-audit verify <audit.jsonl>   check every record's hash and its link to the previous one
       ravenhelm-audit verify <audit.jsonl> --all
                                               the same for every rotated file (<file>.<time>) of that log, oldest
                                               first, and each file's link to the one before it
       ravenhelm-audit repair <audit.jsonl>   move a torn last line (cut by a crash) to <file>.torn-<time>, then verify
                                               (run it while the server is stopped; a server does the same on start)
`;

type Out = { write(s: string): unknown };

async function verify(file: string, out: Out): Promise<number> {
  const result = await verifyAuditChain(file);
  if (result.ok) {
    const from = result.continuesFrom;
    out.write(
      from
        ? `ok: ${result.records} records, chain intact; continues from ${from.file} (a rotation: that file ends at seq ${from.seq}); check every file with 'ravenhelm-audit verify <log> --all'\n`
        : `ok: ${result.records} records, chain intact\n`,
    );
    return 0;
  }
  out.write(`broken at record ${result.brokenAt}: ${result.reason}\n`);
  if (await endsTorn(file)) {
    out.write(`the last line is cut (a crash during a write): 'ravenhelm-audit repair ${file}' moves it aside\n`);
  }
  return 1;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `verify <file> --all`: one line per file, oldest first, then the verdict. */
async function verifyAll(file: string, out: Out): Promise<number> {
  const set = await verifyAuditSet(file);
  for (const f of set.files) {
    out.write(`${f.ok ? '' : 'FAILED '}${f.name}: ${f.says}\n`);
    if (!f.ok && (await endsTorn(f.path))) {
      out.write(`  its last line is cut (a crash during a write): 'ravenhelm-audit repair ${f.path}' moves it aside\n`);
    }
  }
  if (set.ok) {
    out.write(
      `ok: ${plural(set.files.filter((f) => f.records > 0).length, 'file')}, ${set.records} records, chain intact across files\n`,
    );
    return 0;
  }
  out.write(`broken: ${plural(set.files.filter((f) => !f.ok).length, 'file')} failed (above)\n`);
  return 1;
}

/** True when the file does not end with a newline (its last line was cut). */
async function endsTorn(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return false;
    const { buffer } = await fh.read(Buffer.alloc(1), 0, 1, size - 1);
    return buffer[0] !== 0x0a;
  } finally {
    await fh.close();
  }
}

/** `ravenhelm-audit verify|repair <file>` (verify: `--all` for every rotated file too). Exit codes: 0 intact, 1 chain broken, 2 usage or unreadable file. */
export async function runAuditCli(
  argv: string[],
  out: Out = process.stdout,
  err: Out = process.stderr,
): Promise<number> {
  const all = argv.includes('--all');
  const [command, file, ...extra] = argv.filter((a) => a !== '--all');
  if ((command !== 'verify' && command !== 'repair') || !file || extra.length > 0 || (all && command !== 'verify')) {
    err.write(USAGE);
    return 2;
  }
  try {
    if (all) return await verifyAll(file, out);
    if (command === 'repair') {
      if (!(await stat(file)).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      const { torn } = await repairAuditLog(file);
      out.write(
        torn
          ? `moved a torn last line (${torn.bytes} bytes, never acknowledged) to ${torn.quarantine}\n`
          : 'nothing to repair: the log ends with a whole record\n',
      );
    }
    return await verify(file, out);
  } catch (e) {
    err.write(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runAuditCli(process.argv.slice(2));
}
