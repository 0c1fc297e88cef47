import { hash } from 'node:crypto';
import { constants, open, unlink } from 'node:fs/promises';
import { whyFailed } from './audit-file.js';

// The audit fallback file (audit.fallbackFile): outcome records the log could not take because its file
// system was full (calls that already ran), written at a stop, and appended to the log's chain at the
// next start. One JSON object per line, the record without its chain fields, redacted like the log.

/** Largest fallback file a start replays (1,024 kept records of at most 4 MiB, several stops over). */
export const MAX_FALLBACK_BYTES = 64 * 1024 * 1024;

/** Keys a fallback record never has: the chain fields, added when it is appended to the log. */
const CHAIN_KEYS = ['prevHash', 'seq', 'hash', 'fallbackDigest'];

/**
 * Appends the lines to the fallback file (created 0600), then fsyncs it. A failed append is cut away, so a
 * later one does not continue a partial line.
 */
export async function appendFallback(path: string, lines: string[]): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  try {
    const { size } = await fh.stat();
    const data = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
    try {
      let off = 0;
      while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
      await fh.sync();
    } catch (err) {
      await fh.truncate(size).catch(() => undefined);
      throw err;
    }
  } finally {
    await fh.close();
  }
}

export interface Fallback {
  /** The whole records, in file order. */
  records: Record<string, unknown>[];
  /** sha256 of the file's bytes: replayed records carry it, so a replay cut by a crash is not repeated. */
  digest: string;
  /** A last line cut by a crash while the file was written (not JSON, not replayed), or ''. */
  torn: string;
}

/**
 * The fallback file's records; undefined when there is none (or it is empty). Throws, naming the line,
 * when the file is over MAX_FALLBACK_BYTES or a whole line is not an outcome record without chain fields:
 * such a file is left for an operator, never half-replayed.
 */
export async function readFallback(path: string): Promise<Fallback | undefined> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot be read (${whyFailed(err)})`);
  }
  let bytes: Buffer;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('is not a regular file');
    if (st.size > MAX_FALLBACK_BYTES)
      throw new Error(`is ${st.size} bytes, over the ${MAX_FALLBACK_BYTES} a start replays`);
    bytes = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const { bytesRead } = await fh.read(bytes, got, st.size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    bytes = bytes.subarray(0, got);
  } finally {
    await fh.close();
  }
  if (bytes.length === 0) return undefined;
  const text = bytes.toString('utf8');
  const end = text.lastIndexOf('\n') + 1;
  const records = text
    .slice(0, end)
    .split('\n')
    .slice(0, -1)
    .map((line, i) => {
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch {
        throw new Error(`line ${i + 1} is not JSON`);
      }
      if (!rec || typeof rec !== 'object' || Array.isArray(rec)) throw new Error(`line ${i + 1} is not a JSON object`);
      const r = rec as Record<string, unknown>;
      if (r.phase !== 'outcome') throw new Error(`line ${i + 1} is not an outcome record`);
      const chained = CHAIN_KEYS.find((k) => k in r);
      if (chained) throw new Error(`line ${i + 1} has '${chained}' (a fallback record has no chain fields)`);
      return r;
    });
  return { records, digest: `sha256:${hash('sha256', bytes, 'hex')}`, torn: text.slice(end) };
}

/** Removes the fallback file once its records are in the log. */
export async function removeFallback(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
