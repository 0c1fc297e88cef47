import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { constants, open, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { RavenhelmError } from '../errors.js';

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
  /** Redacted arguments. */
  args: unknown;
  prevHash: string;
  hash: string;
}

export interface AuditSink {
  /**
   * durable: written and fsync'ed before the promise resolves. Rejects (ERR_AUDIT_UNAVAILABLE) when the
   * record cannot be written, durable or not: callers fail closed, or at least log it; never leave it unhandled.
   */
  write(event: AuditEvent, opts: { durable: boolean }): Promise<void>;
  /** Writes what is queued, fsyncs and closes; rejects when that last fsync fails. */
  close(): Promise<void>;
}

/** prevHash of the first record of a log. */
export const GENESIS_HASH = 'sha256:'.padEnd(71, '0');
const SECRET_KEYS = /secret|token|password|passwd|credential|api[-_]?key|private[-_]?key|authorization|cookie/i;
/** Values that are credentials whatever key they sit under. */
const SECRET_VALUES = [
  /^\s*(bearer|basic)\s+[\w.~+/=-]+\s*$/i, // an Authorization header value
  /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/, // a JWT
  /^cfm_[\w-]{20,}$/, // a confirmation token
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
];
const REDACTED = '[redacted]';
const MAX_STRING = 512;
const MAX_ITEMS = 200;
const MAX_DEPTH = 32;
/** Largest record the sink will read back when it resumes a log. */
const MAX_RECORD_BYTES = 8 * 1024 * 1024;
const MAX_BATCH = 256;

// ---------------------------------------------------------------------------------------------------
// canonical JSON, digest, redaction

/**
 * JSON with object keys sorted at every level, so the same value always gives the same text. Follows
 * JSON.stringify otherwise (toJSON, undefined members dropped, undefined/non-finite in arrays -> null);
 * bigints become decimal strings. Throws on circular structures (or nesting deeper than 1000 levels).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortedCopy(value, 0)) ?? 'null';
}

const MAX_CANONICAL_DEPTH = 1000;

/** `obj[key] = value`, except that a '__proto__' key (JSON.parse makes such own keys) stays data. */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** A copy with keys inserted in sorted order; JSON.stringify then does the rest (the fast path). */
function sortedCopy(value: unknown, depth: number): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return sortedCopy((value as { toJSON(): unknown }).toJSON(), depth);
  }
  if (depth >= MAX_CANONICAL_DEPTH) throw new TypeError('canonicalJson: circular structure or nesting too deep');
  if (Array.isArray(value)) return value.map((v) => sortedCopy(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort())
    setOwn(out, key, sortedCopy((value as Record<string, unknown>)[key], depth + 1));
  return out;
}

/**
 * 'sha256:' + hex of the canonical JSON of the RAW arguments (no arguments = `{}`): binds a confirmation
 * or an audit record to exact arguments without storing them. Low-entropy secrets in the arguments can be
 * guessed from it offline, so treat the digest as sensitive data, like the log that holds it.
 */
export function digestArgs(args: unknown): string {
  return `sha256:${createHash('sha256')
    .update(canonicalJson(args ?? {}))
    .digest('hex')}`;
}

/**
 * A copy of `args` safe to write to logs: values under secret-looking keys (the default pattern, plus
 * `secretKeys` when given, plus the exact names in `sensitive`) become '[redacted]' at any depth; string
 * values that are credentials by their shape (Bearer/Basic headers, JWTs, confirmation tokens, PEM private
 * keys) too. Strings over 512 characters and arrays over 200 items are clipped with a marker.
 */
export function redactArgs(args: unknown, secretKeys?: RegExp, sensitive: readonly string[] = []): unknown {
  const isSecretKey = (k: string) => SECRET_KEYS.test(k) || (secretKeys?.test(k) ?? false) || sensitive.includes(k);
  const seen = new Set<object>();
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') {
      if (SECRET_VALUES.some((re) => re.test(value))) return REDACTED;
      return value.length > MAX_STRING
        ? `${value.slice(0, MAX_STRING)}…[clipped ${value.length - MAX_STRING} chars]`
        : value;
    }
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'function' || typeof value === 'symbol') return undefined;
    if (value === null || typeof value !== 'object') return value;
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (ArrayBuffer.isView(value)) return `[binary ${value.byteLength} bytes]`;
    if (depth >= MAX_DEPTH) return '[too deep]';
    if (seen.has(value)) return '[circular]';
    seen.add(value);
    let out: unknown;
    if (Array.isArray(value)) {
      const items = value.slice(0, MAX_ITEMS).map((v) => walk(v, depth + 1));
      if (value.length > MAX_ITEMS) items.push(`[clipped ${value.length - MAX_ITEMS} items]`);
      out = items;
    } else {
      const copy: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        if (isSecretKey(k)) setOwn(copy, k, REDACTED);
        else {
          const w = walk(v, depth + 1);
          if (w !== undefined) setOwn(copy, k, w);
        }
      }
      out = copy;
    }
    seen.delete(value);
    return out;
  };
  return walk(args, 0);
}

// ---------------------------------------------------------------------------------------------------
// records and the hash chain

type Prepared = Omit<AuditRecord, 'seq' | 'prevHash' | 'hash'>;

function hashRecord(body: Omit<AuditRecord, 'hash'>, canonical = canonicalJson(body)): string {
  return `sha256:${createHash('sha256').update(body.prevHash).update(canonical).digest('hex')}`;
}

/**
 * Everything but the chain fields, taken at write() time: later changes to the caller's objects cannot
 * reach the record, and only known fields are copied (a principal object carrying a token stays out).
 */
function prepare(event: AuditEvent, secretKeys: RegExp | undefined): Prepared {
  const p = event.principal;
  const principal: AuditEvent['principal'] = { subject: String(p?.subject) };
  if (p?.clientId !== undefined) principal.clientId = p.clientId;
  if (p?.spiffeId !== undefined) principal.spiffeId = p.spiffeId;
  const record: Prepared = {
    time: new Date().toISOString(),
    server: event.server,
    tool: event.tool,
    tier: event.tier,
    principal,
    requestId: event.requestId,
    phase: event.phase,
    argsDigest: digestArgs(event.args),
    args: redactArgs(event.args, secretKeys, event.sensitiveKeys),
  };
  if (event.outcome !== undefined) record.outcome = event.outcome;
  if (event.errorCode !== undefined) record.errorCode = event.errorCode;
  if (event.durationMs !== undefined) record.durationMs = event.durationMs;
  return record;
}

/** The next record and its JSON line (the canonical body with `hash` appended: verifiers re-canonicalize). */
function chain(prepared: Prepared, prev: ChainHead): { record: AuditRecord; line: string } {
  const body = { ...prepared, seq: prev.seq + 1, prevHash: prev.hash };
  const canonical = canonicalJson(body);
  const hash = hashRecord(body, canonical);
  return { record: { ...body, hash }, line: `${canonical.slice(0, -1)},"hash":${JSON.stringify(hash)}}\n` };
}

interface ChainHead {
  seq: number;
  hash: string;
}

/** Why a parsed line is not a well-formed, self-consistent record; undefined when it is. */
function recordFault(rec: unknown): string | undefined {
  if (!rec || typeof rec !== 'object' || Array.isArray(rec)) return 'not a JSON object';
  const { hash, ...body } = rec as AuditRecord;
  if (typeof hash !== 'string' || typeof body.prevHash !== 'string') return 'hash or prevHash missing';
  if (!Number.isSafeInteger(body.seq) || body.seq < 1) return 'seq missing or not a positive integer';
  if (hashRecord(body) !== hash) return 'record content does not match its hash (edited)';
  return undefined;
}

function unavailable(message: string, cause?: unknown): RavenhelmError {
  return new RavenhelmError('ERR_AUDIT_UNAVAILABLE', message, {}, cause === undefined ? undefined : { cause });
}

// ---------------------------------------------------------------------------------------------------
// the file sink

/** The file operations the sink needs; tests wrap the real one to inject faults. */
export interface AuditFile {
  size(): Promise<number>;
  read(into: Buffer, position: number): Promise<number>;
  /** Appends; may write fewer bytes than given (returns how many). */
  append(data: Buffer): Promise<number>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  /** Throws when the path no longer names the open file (removed or replaced under us). */
  checkLinked(): Promise<void>;
  close(): Promise<void>;
}

/** Opens (creating with mode 0600) for append; tightens an existing regular file to 0600. */
export async function openAuditFile(path: string): Promise<AuditFile> {
  const fh = await open(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, 0o600);
  try {
    const st = await fh.stat();
    if (st.isFile() && (st.mode & 0o077) !== 0) await fh.chmod(0o600);
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
      const [open, named] = await Promise.all([fh.stat(), stat(path)]);
      if (open.nlink === 0 || open.ino !== named.ino || open.dev !== named.dev) {
        throw new Error(`${path} was removed or replaced while open`);
      }
    },
    close: () => fh.close(),
  };
}

/** The last line of the file (without its newline); refuses an unterminated or oversized last line. */
async function readLastLine(file: AuditFile, path: string): Promise<string | undefined> {
  const size = await file.size();
  if (size === 0) return undefined;
  const readAt = async (position: number, length: number) => {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = await file.read(buf.subarray(got), position + got);
      if (n <= 0) throw new Error(`${path} shrank while being read`);
      got += n;
    }
    return buf;
  };
  const lastByte = await readAt(size - 1, 1);
  if (lastByte[0] !== 0x0a) {
    throw unavailable(`audit log ${path} ends with an incomplete record (cut during a write?); inspect and repair it`);
  }
  let tail = Buffer.alloc(0);
  let position = size - 1; // the final newline is not part of the line
  while (position > 0) {
    const length = Math.min(64 * 1024, position);
    position -= length;
    const chunk = await readAt(position, length);
    const nl = chunk.lastIndexOf(0x0a);
    if (nl >= 0) return Buffer.concat([chunk.subarray(nl + 1), tail]).toString('utf8');
    tail = Buffer.concat([chunk, tail]);
    if (tail.length > MAX_RECORD_BYTES) throw unavailable(`audit log ${path}: last record is over 8 MiB`);
  }
  return tail.toString('utf8');
}

interface Pending {
  prepared: Prepared;
  durable: boolean;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * Append-only JSON Lines audit log with a hash chain (hash = sha256(prevHash + canonical JSON of the
 * record without `hash`)). On open it resumes the chain from the last record, and refuses a log whose last
 * line is cut or does not match its hash. Writes are chained and appended strictly in call order; records
 * waiting while a write or fsync is in flight go out together (group commit). A durable write resolves
 * after fsync and a check that the file is still the one at `path`.
 *
 * Failures fail closed: a failed append is truncated away (the log stays a valid chain) and its writes
 * reject; if that truncate, an fsync or the identity check fails, the sink refuses every later write
 * until it is reopened. One writer per file: replicas each need their own path.
 */
export async function createFileAuditSink(opts: {
  path: string;
  secretKeys?: RegExp;
  /** Opens the file; tests pass a wrapper around openAuditFile to inject faults. */
  openFile?: (path: string) => Promise<AuditFile>;
}): Promise<AuditSink> {
  const { path } = opts;
  const file = await (opts.openFile ?? openAuditFile)(path);
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  let goodSize = 0;
  try {
    const last = await readLastLine(file, path);
    if (last !== undefined) {
      let rec: unknown;
      try {
        rec = JSON.parse(last);
      } catch {
        rec = undefined;
      }
      const fault = recordFault(rec);
      if (fault) {
        throw unavailable(`audit log ${path} ends with a corrupt record (${fault}); run the audit verify command`);
      }
      head = { seq: (rec as AuditRecord).seq, hash: (rec as AuditRecord).hash };
    }
    goodSize = await file.size();
  } catch (err) {
    await file.close().catch(() => undefined);
    throw err;
  }

  const pending: Pending[] = [];
  let pumping: Promise<void> | undefined;
  let broken: Error | undefined;
  let dirty = false;
  let closing: Promise<void> | undefined;

  const appendAll = async (data: Buffer) => {
    let offset = 0;
    while (offset < data.length) {
      const n = await file.append(data.subarray(offset));
      if (n <= 0) throw new Error('append wrote nothing');
      offset += n;
    }
  };

  const commit = async (batch: Pending[]) => {
    if (broken) {
      for (const p of batch) p.reject(unavailable(`audit log ${path} cannot be written`, broken));
      return;
    }
    let next = head;
    let text = '';
    for (const p of batch) {
      const { record, line } = chain(p.prepared, next);
      text += line;
      next = record;
    }
    const data = Buffer.from(text, 'utf8');
    try {
      await appendAll(data);
    } catch (err) {
      try {
        await file.truncate(goodSize); // drop a partial line: the chain on disk stays valid
      } catch {
        broken = err as Error;
      }
      for (const p of batch) p.reject(unavailable(`audit log ${path} cannot be written`, err));
      return;
    }
    goodSize += data.length;
    head = { seq: next.seq, hash: next.hash };
    dirty = true;
    if (batch.some((p) => p.durable)) {
      try {
        await file.sync();
        dirty = false;
        await file.checkLinked();
      } catch (err) {
        // After a failed fsync the kernel may have dropped the pages: nothing later can be trusted.
        broken = err as Error;
        for (const p of batch) {
          if (p.durable) p.reject(unavailable(`audit log ${path} could not be made durable`, err));
          else p.resolve();
        }
        return;
      }
    }
    for (const p of batch) p.resolve();
  };

  const pump = () => {
    pumping ??= (async () => {
      try {
        while (pending.length > 0) await commit(pending.splice(0, MAX_BATCH));
      } finally {
        pumping = undefined;
      }
    })();
  };

  return {
    write(event, { durable }) {
      if (closing) return Promise.reject(unavailable(`audit log ${path} is closed`));
      let prepared: Prepared;
      try {
        prepared = prepare(event, opts.secretKeys);
      } catch (err) {
        return Promise.reject(unavailable('audit record could not be built', err));
      }
      return new Promise<void>((resolve, reject) => {
        pending.push({ prepared, durable, resolve, reject });
        pump();
      });
    },
    close() {
      closing ??= (async () => {
        while (pumping) await pumping;
        try {
          if (dirty && !broken) await file.sync();
        } finally {
          await file.close();
        }
      })();
      return closing;
    },
  };
}

/** In-memory sink with the same records (chain included): for tests and throwaway demos. */
export function createMemoryAuditSink(opts: { secretKeys?: RegExp } = {}): AuditSink & { records: AuditRecord[] } {
  const records: AuditRecord[] = [];
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  let closed = false;
  return {
    records,
    async write(event) {
      if (closed) throw unavailable('audit sink is closed');
      const { record } = chain(prepare(event, opts.secretKeys), head);
      records.push(record);
      head = record;
    },
    async close() {
      closed = true;
    },
  };
}

/**
 * Checks every record of a log: well-formed, `seq` counting from 1, `prevHash` equal to the previous
 * record's hash (genesis for the first), `hash` matching the content. `brokenAt` is the 1-based line of
 * the first bad record; `records` counts the intact records before it. A chain cannot show records cut
 * from the END of a log: compare the count or the last hash with a copy kept elsewhere for that.
 * Throws when the file cannot be read.
 */
export async function verifyAuditChain(
  path: string,
): Promise<{ ok: boolean; records: number; brokenAt?: number; reason?: string }> {
  let prev: ChainHead = { seq: 0, hash: GENESIS_HASH };
  let n = 0;
  const input = createReadStream(path, 'utf8');
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const broken = (reason: string) => ({ ok: false, records: n - 1, brokenAt: n, reason });
  try {
    for await (const line of lines) {
      n++;
      let rec: AuditRecord;
      try {
        rec = JSON.parse(line) as AuditRecord;
      } catch {
        return broken(line.trim() ? 'not valid JSON' : 'empty line');
      }
      if (!rec || typeof rec !== 'object' || Array.isArray(rec)) return broken('not a JSON object');
      if (rec.prevHash !== prev.hash) {
        return broken('prevHash does not match the previous record (a record was removed, inserted or reordered)');
      }
      if (rec.seq !== prev.seq + 1) return broken(`sequence ${rec.seq}, expected ${prev.seq + 1}`);
      const fault = recordFault(rec);
      if (fault) return broken(fault);
      prev = { seq: rec.seq, hash: rec.hash };
    }
  } finally {
    lines.close();
    input.destroy();
  }
  return { ok: true, records: n };
}
