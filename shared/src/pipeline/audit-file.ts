import { randomBytes } from 'node:crypto';
import { type StatsFs, statSync } from 'node:fs';
import { constants, open, statfs, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

// The audit log file: opening it, reading its last line back, and moving a torn tail aside.

/** The file operations the sink needs; tests wrap the real one to inject faults. */
export interface AuditFile {
  size(): Promise<number>;
  read(into: Buffer, position: number): Promise<number>;
  /** Appends; may write fewer bytes than given (returns how many). */
  append(data: Buffer): Promise<number>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  /**
   * Throws when the path no longer names the open file (removed, renamed or replaced under us). Checked
   * after every batch, so it is one synchronous stat of the path against the file's identity at open.
   */
  checkLinked(): Promise<void>;
  close(): Promise<void>;
}

/** Opens (creating with mode 0600) for append; tightens an existing regular file to 0600. */
export async function openAuditFile(path: string): Promise<AuditFile> {
  const fh = await open(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
  let opened: { ino: number; dev: number };
  try {
    const st = await fh.stat();
    if (st.isFile() && (st.mode & 0o077) !== 0) await fh.chmod(0o600);
    opened = { ino: st.ino, dev: st.dev };
  } catch (err) {
    await fh.close();
    throw err;
  }
  return {
    size: async () => (await fh.stat()).size,
    read: async (into, position) => (await fh.read(into, 0, into.length, position)).bytesRead,
    append: async (data) => (await fh.write(data, 0, data.length)).bytesWritten,
    sync: () => fh.sync(),
    truncate: (length) => fh.truncate(length),
    checkLinked: async () => {
      const named = statSync(path, { throwIfNoEntry: false });
      if (named?.ino !== opened.ino || named.dev !== opened.dev) {
        throw new Error(`${path} was removed or replaced while open`);
      }
    },
    close: () => fh.close(),
  };
}

const CHUNK = 64 * 1024;

/** ENOSPC or EDQUOT: the file system (or the quota) is full; the one write failure that mends itself. */
export function isSpaceError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** A failure as operators read it: the errno code with its meaning ("ENOSPC: no space left on device"). */
export function whyFailed(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const message = String(e?.message ?? e);
  if (e?.code === 'EDQUOT') return 'EDQUOT: disk quota exceeded, no space left for this user';
  return message.replace(/, (write|open|fsync|ftruncate|fstat|stat|read)\b.*$/, '');
}

/**
 * What to do when the log (or its directory) cannot be opened for appending, by errno code; `set` is the
 * advice for any other failure (and the alternative to fixing the volume).
 */
export function openAdvice(
  err: unknown,
  set = 'set audit.file (RAVENHELM_AUDIT_FILE) to a writable file path',
): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (isSpaceError(err)) return 'free space on its file system';
  if (code === 'EROFS') return `its file system is mounted read-only: mount the audit volume read-write, or ${set}`;
  if (code === 'EACCES' || code === 'EPERM') {
    const uid = process.getuid?.();
    return `the server's user${uid === undefined ? '' : ` (uid ${uid})`} may not write the file or create it in its directory: give it write access there, or ${set}`;
  }
  return set;
}

/** statfs of the file system holding `path` (its directory); rejects after `timeoutMs`. */
export async function fileSystemOf(path: string, timeoutMs: number): Promise<StatsFs> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`statfs gave no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([statfs(dirname(path)), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Bytes the process may still write on the file system holding `path`; rejects after `timeoutMs`. */
export async function freeBytes(path: string, timeoutMs: number): Promise<number> {
  const fs = await fileSystemOf(path, timeoutMs);
  return fs.bavail * fs.bsize;
}

async function readAt(file: AuditFile, path: string, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const n = await file.read(buf.subarray(got), position + got);
    if (n <= 0) throw new Error(`${path} shrank while being read`);
    got += n;
  }
  return buf;
}

/** Offset just after the last newline at or before `end` (0 when there is none). */
async function lineStartBefore(file: AuditFile, path: string, end: number): Promise<number> {
  let position = end;
  while (position > 0) {
    const length = Math.min(CHUNK, position);
    position -= length;
    const nl = (await readAt(file, path, position, length)).lastIndexOf(0x0a);
    if (nl >= 0) return position + nl + 1;
  }
  return 0;
}

/**
 * The last line (without its newline) of a file that ends with a newline; undefined for an empty file.
 * Refuses a last line over `maxBytes`.
 */
export async function readLastLine(file: AuditFile, path: string, maxBytes: number): Promise<string | undefined> {
  const size = await file.size();
  if (size === 0) return undefined;
  const start = await lineStartBefore(file, path, size - 1);
  if (size - 1 - start > maxBytes) throw new Error(`${path}: last record is over ${maxBytes} bytes`);
  return (await readAt(file, path, start, size - 1 - start)).toString('utf8');
}

export interface TornTail {
  /** Where the cut-off bytes were moved. */
  quarantine: string;
  bytes: number;
  /** Offset at which the log was cut (its new size). */
  at: number;
}

/**
 * When the file does not end with a newline, the bytes after the last one are a record cut during a
 * write: it never completed, so no call was acknowledged on it. They are copied to `<path>.torn-<time>`
 * (0600, fsynced), then cut from the log (fsynced), so the chain continues from the last whole record.
 * Returns undefined when the file ends cleanly.
 */
export async function quarantineTornTail(
  file: AuditFile,
  path: string,
  now: Date = new Date(),
): Promise<TornTail | undefined> {
  const size = await file.size();
  if (size === 0) return undefined;
  const last = await readAt(file, path, size - 1, 1);
  if (last[0] === 0x0a) return undefined;
  const at = await lineStartBefore(file, path, size);
  const quarantine = `${path}.torn-${now.toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const out = await open(quarantine, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    for (let position = at; position < size; position += CHUNK) {
      const chunk = await readAt(file, path, position, Math.min(CHUNK, size - position));
      let off = 0;
      while (off < chunk.length) off += (await out.write(chunk, off, chunk.length - off)).bytesWritten;
    }
    await out.sync();
  } catch (err) {
    // (A full disk.) The log still holds the tail: drop the incomplete copy rather than leave a fake one.
    await out.close().catch(() => undefined);
    await unlink(quarantine).catch(() => undefined);
    throw Object.assign(
      new Error(`its torn last record (${size - at} bytes) cannot be moved aside to ${quarantine}: ${whyFailed(err)}`),
      { code: (err as NodeJS.ErrnoException).code },
    );
  }
  await out.close();
  await file.truncate(at);
  await file.sync();
  return { quarantine, bytes: size - at, at };
}
