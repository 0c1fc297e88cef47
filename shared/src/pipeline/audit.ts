import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';

export type AuditOutcome = 'success' | 'denied' | 'error';

export interface AuditEvent {
  server: string;
  tool: string;
  tier: 'LOW' | 'MEDIUM' | 'HIGH';
  principal: { subject: string; clientId?: string; spiffeId?: string };
  requestId: string;
  phase: 'attempt' | 'outcome';
  /** Raw arguments: the sink redacts them and computes the digest; they are never written raw. */
  args: unknown;
  /** Argument names declared sensitive by the tool: redacted like the secret-looking names. */
  sensitiveKeys?: readonly string[];
  outcome?: AuditOutcome;
  errorCode?: string;
  durationMs?: number;
}

export interface AuditRecord extends Omit<AuditEvent, 'args' | 'sensitiveKeys'> {
  time: string;
  seq: number;
  argsDigest: string;
  args: unknown;
  prevHash: string;
  hash: string;
}

export interface AuditSink {
  /** durable: written and fsync'ed before the promise resolves; rejects when that fails (callers fail closed). */
  write(event: AuditEvent, opts: { durable: boolean }): Promise<void>;
  close(): Promise<void>;
}

export const GENESIS_HASH = 'sha256:'.padEnd(71, '0');
const SECRET_KEYS = /secret|token|password|passwd|credential|api[-_]?key|private[-_]?key|authorization|cookie/i;
const MAX_STRING = 512;

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && (value as object).constructor === Object) {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** sha256 of the canonical JSON of the raw arguments: binds confirmations and audit records to exact arguments. */
export function digestArgs(args: unknown): string {
  return `sha256:${createHash('sha256')
    .update(canonicalJson(args ?? {}))
    .digest('hex')}`;
}

/** Replaces values under secret-looking keys, recursively, and clips long strings. */
export function redactArgs(
  args: unknown,
  secretKeys: RegExp = SECRET_KEYS,
  sensitive: readonly string[] = [],
): unknown {
  if (Array.isArray(args)) return args.map((v) => redactArgs(v, secretKeys, sensitive));
  if (args && typeof args === 'object') {
    return Object.fromEntries(
      Object.entries(args as Record<string, unknown>).map(([k, v]) => [
        k,
        secretKeys.test(k) || sensitive.includes(k) ? '[redacted]' : redactArgs(v, secretKeys, sensitive),
      ]),
    );
  }
  if (typeof args === 'string' && args.length > MAX_STRING)
    return `${args.slice(0, MAX_STRING)}…[clipped ${args.length - MAX_STRING} chars]`;
  return args;
}

function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  return `sha256:${createHash('sha256').update(record.prevHash).update(canonicalJson(record)).digest('hex')}`;
}

function seal(event: AuditEvent, prev: { seq: number; hash: string }, secretKeys?: RegExp): AuditRecord {
  const { args, sensitiveKeys, ...rest } = event;
  const body: Omit<AuditRecord, 'hash'> = {
    time: new Date().toISOString(),
    seq: prev.seq + 1,
    ...rest,
    argsDigest: digestArgs(args),
    args: redactArgs(args, secretKeys, sensitiveKeys),
    prevHash: prev.hash,
  };
  return { ...body, hash: hashRecord(body) };
}

/** Reads the last record of an existing log to continue its chain; refuses a corrupt tail. */
async function lastRecord(path: string): Promise<{ seq: number; hash: string }> {
  let size = 0;
  try {
    size = (await stat(path)).size;
  } catch {
    return { seq: 0, hash: GENESIS_HASH };
  }
  if (size === 0) return { seq: 0, hash: GENESIS_HASH };
  let last = '';
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) if (line.trim()) last = line;
  try {
    const rec = JSON.parse(last) as AuditRecord;
    const { hash, ...body } = rec;
    if (typeof rec.seq !== 'number' || hashRecord(body) !== hash) throw new Error('hash mismatch');
    return { seq: rec.seq, hash };
  } catch {
    throw new Error(
      `audit log ${path} ends with a corrupt record; run the audit verify command and repair or rotate it`,
    );
  }
}

/**
 * Append-only JSON Lines audit log with a hash chain. Writes are serialized in order; durable writes
 * are fsync'ed before they resolve. Non-durable writes are flushed and fsync'ed on close().
 */
export async function createFileAuditSink(opts: { path: string; secretKeys?: RegExp }): Promise<AuditSink> {
  let prev = await lastRecord(opts.path);
  const fh: FileHandle = await open(opts.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  let queue: Promise<void> = Promise.resolve();
  let dirty = false;
  let closed = false;
  return {
    write(event, { durable }) {
      if (closed) return Promise.reject(new Error('audit log is closed'));
      const run = async () => {
        const record = seal(event, prev, opts.secretKeys);
        await fh.write(`${JSON.stringify(record)}\n`);
        prev = { seq: record.seq, hash: record.hash };
        if (durable) {
          await fh.sync();
          dirty = false;
        } else dirty = true;
      };
      const result = queue.then(run);
      queue = result.catch(() => undefined);
      return result;
    },
    async close() {
      if (closed) return;
      closed = true;
      await queue;
      if (dirty) await fh.sync().catch(() => undefined);
      await fh.close();
    },
  };
}

/** In-memory sink with the same records (chain included): for tests and throwaway demos. */
export function createMemoryAuditSink(): AuditSink & { records: AuditRecord[] } {
  const records: AuditRecord[] = [];
  let prev = { seq: 0, hash: GENESIS_HASH };
  return {
    records,
    async write(event) {
      const record = seal(event, prev);
      records.push(record);
      prev = { seq: record.seq, hash: record.hash };
    },
    async close() {},
  };
}

/** Verifies every record's hash and its link to the previous one. */
export async function verifyAuditChain(
  path: string,
): Promise<{ ok: boolean; records: number; brokenAt?: number; reason?: string }> {
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1;
  let n = 0;
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (!line.trim()) continue;
    n++;
    let rec: AuditRecord;
    try {
      rec = JSON.parse(line) as AuditRecord;
    } catch {
      return { ok: false, records: n - 1, brokenAt: n, reason: 'not valid JSON' };
    }
    const { hash, ...body } = rec;
    if (rec.prevHash !== prevHash)
      return {
        ok: false,
        records: n - 1,
        brokenAt: n,
        reason: 'prevHash does not match the previous record (a record was removed, inserted or reordered)',
      };
    if (rec.seq !== expectedSeq)
      return { ok: false, records: n - 1, brokenAt: n, reason: `sequence ${rec.seq}, expected ${expectedSeq}` };
    if (hashRecord(body) !== hash)
      return { ok: false, records: n - 1, brokenAt: n, reason: 'record content does not match its hash (edited)' };
    prevHash = hash;
    expectedSeq++;
  }
  return { ok: true, records: n };
}
