import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { type ChainScan, scanAuditChain } from './audit.js';
import { listRotated } from './audit-rotate.js';

// Verifying a rotated log as a whole: its rotated files oldest first, then the live file, each file's
// chain intact and each file's first record (a rotation marker) linked to the previous file's last one.

export interface FileVerdict {
  name: string;
  path: string;
  ok: boolean;
  records: number;
  /** What was found, as operators read it: where the file's chain starts, or what is wrong. */
  says: string;
}

export interface SetVerdict {
  ok: boolean;
  /** Intact records over all files. */
  records: number;
  files: FileVerdict[];
}

const seqs = (scan: ChainScan) =>
  scan.last ? `seq ${(scan.continuesFrom?.seq ?? 0) + 1}..${scan.last.seq}` : 'no records';

/**
 * Verifies every file of the log at `path`: `<path>.<time>` files oldest first, then `<path>` (which may be
 * missing or empty after a rotation cut short). The oldest file present may continue one removed by
 * retention; any other missing link (a file missing in the middle, records cut from a file's end, a file
 * starting a new chain) is a failure. Throws (ENOENT) when there is no file at all.
 */
export async function verifyAuditSet(path: string): Promise<SetVerdict> {
  // A running server may rotate (rename the live file, remove the oldest) or append while the set is read:
  // a pass that fails is taken only when the set did not change under it; otherwise it is read again.
  // Without this, verifying a live log read a rotation between the listing and the reading as a gap or an
  // unreadable file (test/kit/sigkill-rotate.test.ts): a false alarm of tampering.
  for (let attempt = 1; ; attempt++) {
    const before = await setState(path);
    let verdict: SetVerdict;
    try {
      verdict = await verifyOnce(path);
    } catch (err) {
      if (attempt < MAX_PASSES && (await setState(path)) !== before) continue;
      throw err;
    }
    if (verdict.ok) return verdict;
    if ((await setState(path)) === before) return verdict;
    if (attempt === MAX_PASSES) {
      const note = ` (the log changed during each of ${MAX_PASSES} readings: a running server rotating or writing; verify again, or verify once it is stopped)`;
      return { ...verdict, files: verdict.files.map((f) => (f.ok ? f : { ...f, says: f.says + note })) };
    }
  }
}

/** Readings of a set that may change under them before one counts as a failure. */
const MAX_PASSES = 10;

/** The set's rotated names and the live file's identity and size: any rotation, removal or append changes it. */
async function setState(path: string): Promise<string> {
  const names = (await listRotated(path)).map((r) => r.name);
  const live = await stat(path).then(
    (st) => `${st.dev}:${st.ino}:${st.size}`,
    () => 'none',
  );
  return `${names.join('/')}|${live}`;
}

async function verifyOnce(path: string): Promise<SetVerdict> {
  const rotated = await listRotated(path);
  const live = await stat(path).then(
    (st) => st.isFile(),
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' && rotated.length > 0) return false;
      throw err;
    },
  );
  const entries = [...rotated.map((r) => ({ name: r.name, path: r.path }))];
  if (live) entries.push({ name: basename(path), path });
  const present = new Set(entries.map((e) => e.name));
  const files: FileVerdict[] = [];
  let records = 0;
  let prev: { name: string; scan: ChainScan } | undefined;
  for (const e of entries) {
    const scan = await scanAuditChain(e.path);
    records += scan.records;
    const verdict = (ok: boolean, says: string) =>
      files.push({ name: e.name, path: e.path, ok, records: scan.records, says });
    if (!scan.ok) verdict(false, `broken at record ${scan.brokenAt}: ${scan.reason}`);
    else if (scan.records === 0) {
      const isLive = e.path === path;
      verdict(
        isLive,
        isLive
          ? `empty (a rotation cut short: the next start continues the chain from ${prev?.name ?? 'genesis'})`
          : 'empty: a rotated file always holds records',
      );
    } else verdict(...linkOf(scan, prev, present));
    prev = { name: e.name, scan };
  }
  if (!live) {
    files.push({
      name: basename(path),
      path,
      ok: true,
      records: 0,
      says: 'not present (a rotation cut short: the next start continues the chain)',
    });
  }
  return { ok: files.every((f) => f.ok), records, files };
}

/** Whether a file's chain starts where it should: genesis for the first file, else the previous file's end. */
function linkOf(
  scan: ChainScan,
  prev: { name: string; scan: ChainScan } | undefined,
  present: ReadonlySet<string>,
): [boolean, string] {
  const range = `${scan.records} records, ${seqs(scan)}`;
  const from = scan.continuesFrom;
  if (!from) {
    if (!prev) return [true, `${range}, starts at genesis`];
    return [false, `starts a new chain (genesis) after ${prev.name}: the link between them is missing`];
  }
  if (!prev) {
    if (present.has(from.file)) return [false, `continues ${from.file}, which sorts after it (a file was renamed)`];
    return [true, `${range}, starts at rotation from ${from.file} (not present: removed by retention)`];
  }
  if (from.file !== prev.name) {
    if (present.has(from.file)) {
      return [false, `continues ${from.file}, not ${prev.name} before it (files out of order or renamed)`];
    }
    return [false, `gap: ${from.file} is missing between ${prev.name} and this file (this file continues it)`];
  }
  if (!prev.scan.ok) return [false, `continues ${prev.name}, whose chain is broken: the link cannot be checked`];
  const end = prev.scan.last;
  if (!end || end.hash !== from.hash || end.seq !== from.seq) {
    return [
      false,
      `does not continue ${prev.name}: its rotation marker links to seq ${from.seq}, ${prev.name} ends at seq ${end?.seq ?? 0}${end?.seq === from.seq ? ' with another hash' : ''} (records cut from the end of ${prev.name}, or it was replaced)`,
    ];
  }
  return [true, `${range}, continues ${prev.name}`];
}
