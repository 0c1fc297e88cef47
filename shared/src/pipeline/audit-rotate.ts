import { constants, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type AuditFile, readLastLine, whyFailed } from './audit-file.js';
import { canonicalJson, chainHash } from './audit-json.js';

// Size-based rotation of the audit log, done by its writer so the hash chain runs on across files: the
// full file is renamed to `<path>.<UTC time>` and the fresh file at `<path>` starts with a rotation
// marker, a record chained to the previous file's last hash like any other. Retention removes the oldest
// rotated files of this log (that exact name pattern only: never a torn-tail quarantine file).

/** The `event` of a rotation marker, the first record of every file after a rotation. */
export const ROTATION_EVENT = 'audit.rotated';

export interface ChainEnd {
  seq: number;
  hash: string;
}

/** A rotated file of a log: `<basename>.<YYYYMMDDTHHMMSS.mmmZ>[-<n>]`, n counting rotations in one ms. */
export interface RotatedFile {
  name: string;
  path: string;
  stamp: string;
  n: number;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const rotatedPattern = (base: string) =>
  new RegExp(`^${escapeRegExp(base)}\\.(\\d{8}T\\d{6}\\.\\d{3}Z)(?:-(\\d{1,9}))?$`);

/** `20261205T114623.123Z`: sorts as text in time order. */
export function rotationStamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '');
}

const byAge = (a: RotatedFile, b: RotatedFile) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : a.n - b.n);

/** The rotated files of the log at `path`, oldest first (by their names, which the writer keeps in order). */
export async function listRotated(path: string): Promise<RotatedFile[]> {
  const dir = dirname(path);
  const pattern = rotatedPattern(basename(path));
  const out: RotatedFile[] = [];
  for (const name of await readdir(dir)) {
    const m = pattern.exec(name);
    if (m) out.push({ name, path: join(dir, name), stamp: m[1] as string, n: Number(m[2] ?? 0) });
  }
  return out.sort(byAge);
}

/**
 * The name the live file gets now: the UTC time, after every existing rotated name even when the clock
 * went back or two rotations share a millisecond (then `-<n>`), so names sort in chain order.
 */
export function nextRotatedName(path: string, existing: readonly RotatedFile[], now: Date): string {
  const stamp = rotationStamp(now);
  const last = existing.at(-1);
  const base = basename(path);
  if (!last || last.stamp < stamp) return `${base}.${stamp}`;
  return `${base}.${last.stamp}-${last.n + 1}`;
}

/** fsync of a directory: makes the renames and creations in it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The first record of the file after a rotation; `previousFile` is the basename the full file got. */
export function rotationMarker(
  prev: ChainEnd,
  previousFile: string,
  server: string | undefined,
  time = new Date().toISOString(),
): { line: string; head: ChainEnd; time: string } {
  const seq = prev.seq + 1;
  const body = {
    event: ROTATION_EVENT,
    previousFile,
    prevHash: prev.hash,
    seq,
    ...(server !== undefined ? { server } : {}),
    time,
  };
  const canonical = canonicalJson(body);
  const hash = chainHash(prev.hash, canonical);
  return { line: `${canonical.slice(0, -1)},"hash":"${hash}"}`, head: { seq, hash }, time };
}

/** The marker's link when `rec` is a rotation marker (check its hash separately). */
export function markerLink(rec: unknown): { previousFile: string } | undefined {
  const r = rec as { event?: unknown; previousFile?: unknown } | null;
  if (r && typeof r === 'object' && r.event === ROTATION_EVENT && typeof r.previousFile === 'string') {
    return { previousFile: r.previousFile };
  }
  return undefined;
}

/** The last line of a rotated file (read-only); throws, saying what to do, when it is empty or torn. */
export async function lastLineOf(path: string, maxBytes: number): Promise<string> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    const reader = {
      size: async () => (await fh.stat()).size,
      read: async (into: Buffer, position: number) => (await fh.read(into, 0, into.length, position)).bytesRead,
    } as AuditFile;
    const size = await reader.size();
    if (size === 0) throw new Error(`${path} is empty`);
    const end = Buffer.alloc(1);
    await reader.read(end, size - 1);
    if (end[0] !== 0x0a) {
      throw new Error(
        `${path} does not end with a whole record; run 'ravenhelm-audit repair ${path}' while the server is stopped`,
      );
    }
    return (await readLastLine(reader, path, maxBytes)) as string;
  } finally {
    await fh.close();
  }
}

export interface Rotated {
  file: AuditFile;
  head: ChainEnd;
  /** Bytes in the new file (its marker). */
  size: number;
  /** Where the full file went. */
  rotatedTo: string;
  marker: { line: string; time: string };
  /** Rotated files retention removed (keepFiles), and those it could not remove (name and why). */
  removed: string[];
  notRemoved: string[];
}

/**
 * Rotates the live file `file` at `path` whose chain ends at `head`: fsync, name it, retention (with
 * `keepFiles`: the oldest rotated files beyond keepFiles - 1 removed), rename to that name, open a new file
 * at `path`, write and fsync the marker, fsync the directory. Throws
 * `RotationError`: `undone` when the log is back as it was (the full file at `path`, keep writing to it),
 * not undone when the full file could not be put back (then `path` holds nothing or an empty file, which
 * the next start continues from the rotated file).
 */
export async function rotateAuditFile(
  file: AuditFile,
  path: string,
  head: ChainEnd,
  opts: { openFile: (path: string) => Promise<AuditFile>; server?: string; now?: Date; keepFiles?: number },
): Promise<Rotated> {
  const dir = dirname(path);
  await file.sync().catch((err) => {
    throw new RotationError(`the full file could not be fsynced (${whyFailed(err)})`, err, {
      undone: true,
      fsync: true,
    });
  });
  let rotatedTo: string;
  let retention: { removed: string[]; failed: string[] } = { removed: [], failed: [] };
  try {
    // The name comes from the files before retention, so it sorts after every name ever given, even one
    // retention is about to free (two rotations in one millisecond, a clock set back).
    rotatedTo = join(dir, nextRotatedName(path, await listRotated(path), opts.now ?? new Date()));
    // Retention before the rename, down to keepFiles - 1, so the rename makes it keepFiles: at no moment
    // are there more. Run after the rename, a crash between the two (SIGKILL mid-rotation, found by
    // test/kit/sigkill-rotate.test.ts) left keepFiles + 1 files that no start removed, and a server
    // crashing at each rotation grew the set past the disk it was sized for.
    if (opts.keepFiles) {
      retention = await removeOldRotated(path, opts.keepFiles - 1).catch((err) => ({
        removed: [],
        failed: [`the directory could not be listed (${whyFailed(err)})`],
      }));
    }
    await rename(path, rotatedTo);
  } catch (err) {
    throw new RotationError(`the full file could not be renamed (${whyFailed(err)})`, err, {
      undone: true,
      removed: retention.removed,
    });
  }
  let fresh: AuditFile | undefined;
  try {
    // One directory fsync, after the new file exists, makes both the rename and the creation durable: a
    // crash before it leaves the full file at `path`, or it renamed and `path` missing or empty (both of
    // which the next start continues from).
    fresh = await opts.openFile(path);
    const marker = rotationMarker(head, basename(rotatedTo), opts.server);
    const data = Buffer.from(`${marker.line}\n`, 'utf8');
    for (let off = 0; off < data.length; ) {
      const n = await fresh.append(data.subarray(off));
      if (n <= 0) throw new Error('append wrote nothing');
      off += n;
    }
    await fresh.sync();
    await fsyncDir(dir);
    return {
      file: fresh,
      head: marker.head,
      size: data.length,
      rotatedTo,
      marker,
      removed: retention.removed,
      notRemoved: retention.failed,
    };
  } catch (err) {
    await fresh?.close().catch(() => undefined);
    const what = `the new file could not be started (${whyFailed(err)})`;
    try {
      // rename(2) replaces a new file at `path` atomically: the log is the full file again.
      await rename(rotatedTo, path);
      await fsyncDir(dir);
    } catch (undoErr) {
      throw new RotationError(`${what}, and ${rotatedTo} could not be renamed back (${whyFailed(undoErr)})`, err, {
        undone: false,
        removed: retention.removed,
      });
    }
    throw new RotationError(what, err, { undone: true, removed: retention.removed });
  }
}

export class RotationError extends Error {
  readonly undone: boolean;
  /** The fsync of the full file failed: its pages may be lost, nothing later can be trusted. */
  readonly fsync: boolean;
  /** Rotated files retention had removed before the rotation failed (one rotation early). */
  readonly removed: string[];
  constructor(message: string, cause: unknown, o: { undone: boolean; fsync?: boolean; removed?: string[] }) {
    super(message, { cause });
    this.undone = o.undone;
    this.fsync = o.fsync ?? false;
    this.removed = o.removed ?? [];
  }
}

/**
 * Retention: removes the oldest rotated files of this log beyond `keep`. Returns the names removed and the
 * failures (a file that could not be removed stays for the next rotation).
 */
export async function removeOldRotated(path: string, keep: number): Promise<{ removed: string[]; failed: string[] }> {
  const rotated = await listRotated(path);
  const removed: string[] = [];
  const failed: string[] = [];
  for (const r of rotated.slice(0, Math.max(0, rotated.length - keep))) {
    try {
      await unlink(r.path);
      removed.push(r.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(`${r.name} (${whyFailed(err)})`);
    }
  }
  return { removed, failed };
}

/** The log with its rotated files may outgrow its file system: the numbers, and what to change. */
export interface CapacityWarning {
  /** rotateBytes × (keepFiles + 1) + minFreeBytes. */
  needed: number;
  /** The file system's size (blocks × block size). */
  total: number;
  message: string;
}

/**
 * With rotation and retention on, the log and its kept files take up to rotateBytes × (keepFiles + 1)
 * bytes, and readiness wants minFreeBytes free beside them: a warning when that is more than the whole
 * file system holding `path` (it fills before retention bounds it). Undefined when it fits, when nothing
 * bounds the log (no rotation, or keepFiles 0: every file kept), or when `fsOf` fails.
 */
export async function rotationCapacity(
  path: string,
  settings: { rotateBytes?: number; keepFiles?: number; minFreeBytes?: number },
  fsOf: (path: string) => Promise<{ blocks: number; bsize: number }>,
): Promise<CapacityWarning | undefined> {
  const rotateBytes = settings.rotateBytes ?? 0;
  const keepFiles = settings.keepFiles ?? 0;
  const minFree = settings.minFreeBytes ?? 0;
  if (rotateBytes <= 0 || keepFiles <= 0) return undefined;
  let total: number;
  try {
    const fs = await fsOf(path);
    total = fs.blocks * fs.bsize;
  } catch {
    return undefined; // the readiness check reports a file system that cannot be checked
  }
  const needed = rotateBytes * (keepFiles + 1) + minFree;
  if (needed <= total) return undefined;
  return {
    needed,
    total,
    message: `audit log ${path} may need ${needed} bytes (audit.rotateBytes ${rotateBytes} × (audit.keepFiles ${keepFiles} + 1) + audit.minFreeBytes ${minFree}), more than its whole file system (${total} bytes): it fills up before retention bounds it; lower audit.rotateBytes or audit.keepFiles, or give the log a larger volume`,
  };
}
