import { createReadStream } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { RavenhelmError } from '../errors.js';
import { wellFormed } from '../unicode.js';
import { appendFallback, type Fallback, readFallback, removeFallback } from './audit-fallback.js';
import {
  type AuditFile,
  fileSystemOf,
  freeBytes,
  isSpaceError,
  openAdvice,
  openAuditFile,
  quarantineTornTail,
  readLastLine,
  type TornTail,
  whyFailed,
} from './audit-file.js';
import { canonicalJson, chainHash, digestArgs, MAX_ARGS_CHARS, redactArgs } from './audit-json.js';
import { type AuditLock, type AuditLockOptions, acquireAuditLock } from './audit-lock.js';
import {
  type CapacityWarning,
  fsyncDir,
  lastLineOf,
  listRotated,
  markerLink,
  type RotationError,
  rotateAuditFile,
  rotationCapacity,
  rotationMarker,
} from './audit-rotate.js';

export { type AuditFile, openAuditFile, type TornTail } from './audit-file.js';
export { CLIPPED_MARKER, canonicalJson, digestArgs, MAX_ARGS_CHARS, redactArgs } from './audit-json.js';

/** 'unknown': the server stopped waiting for the call (shutdown grace over); it may or may not have taken effect. */
/** 'pending': the call waits for human approval and did not run. */
export type AuditOutcome = 'success' | 'denied' | 'error' | 'unknown' | 'pending';

/**
 * What a successful call did, when its handler says so (`ctx.noteResult`): 'noop', it changed nothing (an
 * idempotent repeat: the key already gone, the user already deactivated), with a short fixed reason. The
 * outcome stays 'success' (the call did what was asked); records without it are calls that made their change
 * or never said. An optional member of the hashed record: older records and their verification are unchanged.
 */
export interface AuditResult {
  kind: 'noop';
  /** A short phrase written by the server's code (clipped to 200 characters); never a secret or backend data. */
  reason: string;
}

/** Links a call to its human-approval request: the request id, its state then, and who approved it. */
export interface AuditApproval {
  id: string;
  state: string;
  /** Set on an operator's decision record. */
  decision?: 'approve' | 'reject';
  approvedBy?: string[];
  rejectedBy?: string[];
}

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
  /**
   * The arguments as the tool shows them (its `shownArgs`), when it declares a view: the record's `args`
   * copy is made from this (then redacted like `args`), while `argsDigest` stays the digest of `args`.
   */
  argsShown?: unknown;
  outcome?: AuditOutcome;
  /** Outcome records only: what the call did when its handler said (see AuditResult). */
  result?: AuditResult;
  errorCode?: string;
  durationMs?: number;
  approval?: AuditApproval;
  /** Aggregated denials: how many calls this one record stands for, since `firstAt`. */
  count?: number;
  firstAt?: string;
}

export interface AuditRecord extends Omit<AuditEvent, 'args' | 'sensitiveKeys' | 'argsShown'> {
  time: string;
  seq: number;
  argsDigest: string;
  /** Redacted arguments, clipped to the record cap. */
  args: unknown;
  prevHash: string;
  hash: string;
  /**
   * Set on an outcome record the log could not take at a stop (its file system was full): it went to the
   * fallback file and was appended at the next start, after the records then in the log (its `time` is
   * still when the call ended). The sha256 of that fallback file.
   */
  fallbackDigest?: string;
}

export interface AuditSink {
  /**
   * Resolves once the record is written to the file (durable: and fsync'ed). Rejects
   * (ERR_AUDIT_UNAVAILABLE) when the record cannot be written, durable or not: callers fail closed, or at
   * least log it; never leave it unhandled.
   */
  write(event: AuditEvent, opts: { durable: boolean }): Promise<void>;
  /** Writes what is queued, fsyncs and closes; rejects when that last fsync fails. */
  close(): Promise<void>;
  /**
   * Whether records can be written now, and if not why and what to do (drives /readyz). Optional: sinks
   * without it are taken as healthy.
   */
  health?(): Promise<AuditHealth>;
}

export interface AuditHealth {
  ok: boolean;
  reason?: string;
}

/** prevHash of the first record of a log. */
export const GENESIS_HASH = 'sha256:'.padEnd(71, '0');
/** Largest record the sink will read back when it resumes a log (older logs had no record cap). */
const MAX_RECORD_BYTES = 8 * 1024 * 1024;
/** Redacted arguments whose JSON is still over this many bytes (escapes, multi-byte text) are replaced whole. */
const HARD_ARGS_BYTES = 2 * MAX_ARGS_CHARS;
const MAX_FIELD = 512;
const MAX_BATCH_RECORDS = 1024;
const MAX_BATCH_CHARS = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------------
// records and the hash chain

/**
 * A record without its chain fields, as canonical JSON members (keys in sorted order) split where
 * `prevHash` and `seq` go: chaining it is two string joins and one SHA-256, not a second canonicalization.
 */
interface Prepared {
  /** Members sorting before "prevHash", each followed by a comma. */
  head: string;
  /** Members between "prevHash" and "seq" (principal, requestId), each followed by a comma. */
  mid: string;
  /** Members after "seq", comma-separated, no trailing comma. */
  tail: string;
  requestId: string;
  /** What shippers label a committed record with (see CommittedRecord). */
  meta: Omit<CommittedRecord, 'line' | 'seq' | 'hash'>;
}

/**
 * A record as written to the log, handed to `onCommit` listeners (audit shipping) in chain order: its
 * JSON line (without the newline) and the few fields shippers label it with, so they need not parse it.
 */
export interface CommittedRecord {
  line: string;
  seq: number;
  hash: string;
  time: string;
  server: string;
  tool: string;
  tier: AuditEvent['tier'];
  /** 'rotation': the rotation marker that starts a file after a rotation (tool 'audit.rotated', tier LOW). */
  phase: AuditEvent['phase'] | 'rotation';
  outcome?: AuditOutcome;
}

/** The `tool` a shipped rotation marker is labelled with. */
const ROTATION_TOOL = 'audit.rotated';

const member = (key: string, json: string) => `"${key}":${json},`;
const clip = (s: unknown, max = MAX_FIELD) => {
  const text = String(s);
  return text.length > max ? `${text.slice(0, max)}…[clipped ${text.length - max} chars]` : text;
};

/** The digest and redacted copy of the arguments; never throws (a record is always written). */
function argsFields(event: AuditEvent, secretKeys: RegExp | undefined): { digest: string; argsJson: string } {
  let digest: string;
  try {
    digest = digestArgs(event.args);
  } catch (err) {
    digest = `unavailable: ${clip((err as Error)?.message ?? err, 200)}`;
  }
  let argsJson: string;
  try {
    argsJson = canonicalJson(
      redactArgs(event.argsShown ?? event.args, secretKeys, event.sensitiveKeys ?? [], {
        maxChars: MAX_ARGS_CHARS,
      }) ?? null,
    );
    if (argsJson.length > HARD_ARGS_BYTES / 3 && Buffer.byteLength(argsJson) > HARD_ARGS_BYTES) {
      argsJson = JSON.stringify(
        `[clipped: arguments of ${Buffer.byteLength(argsJson)} bytes after redaction; record size cap]`,
      );
    }
  } catch (err) {
    argsJson = JSON.stringify(`[unrecordable arguments: ${clip((err as Error)?.message ?? err, 200)}]`);
  }
  return { digest, argsJson };
}

/** Only the known result fields, the reason clipped and made well-formed (an unpaired surrogate cannot reach the log). */
function resultFields(r: AuditResult): AuditResult {
  return { kind: 'noop', reason: wellFormed(clip(String(r.reason), 200)) };
}

/** Only the known approval fields, clipped like every other field. */
function approvalFields(a: AuditApproval): AuditApproval {
  return {
    id: clip(a.id, 200),
    state: clip(a.state, 32),
    ...(a.decision ? { decision: a.decision } : {}),
    ...(a.approvedBy ? { approvedBy: a.approvedBy.slice(0, 4).map((s) => clip(s)) } : {}),
    ...(a.rejectedBy ? { rejectedBy: a.rejectedBy.slice(0, 4).map((s) => clip(s)) } : {}),
  };
}

/**
 * A call's attempt and outcome records carry the same arguments object: its digest and redacted copy
 * are computed once, for the attempt, and reused (then forgotten) by the outcome. Per sink (its secret
 * keys are fixed); keyed by the object, so nothing outlives the call.
 */
type ArgsMemo = WeakMap<object, { sensitiveKeys: readonly string[] | undefined; digest: string; argsJson: string }>;

function memoizedArgsFields(
  event: AuditEvent,
  secretKeys: RegExp | undefined,
  memo: ArgsMemo | undefined,
): { digest: string; argsJson: string } {
  const key = memo && event.args !== null && typeof event.args === 'object' ? event.args : undefined;
  if (key === undefined || memo === undefined) return argsFields(event, secretKeys);
  if (event.phase === 'outcome') {
    const hit = memo.get(key);
    if (hit) {
      memo.delete(key);
      if (hit.sensitiveKeys === event.sensitiveKeys) return hit;
    }
    return argsFields(event, secretKeys);
  }
  const fields = argsFields(event, secretKeys);
  memo.set(key, { sensitiveKeys: event.sensitiveKeys, ...fields });
  return fields;
}

/**
 * Everything but the chain fields, taken at write() time: later changes to the caller's objects cannot
 * reach the record, and only known fields are copied (a principal object carrying a token stays out).
 */
function prepare(event: AuditEvent, secretKeys: RegExp | undefined, memo?: ArgsMemo): Prepared {
  const { digest, argsJson } = memoizedArgsFields(event, secretKeys, memo);
  let head = '';
  if (event.approval !== undefined) head += member('approval', canonicalJson(approvalFields(event.approval)));
  head += member('args', argsJson) + member('argsDigest', JSON.stringify(digest));
  if (event.count !== undefined) head += member('count', JSON.stringify(event.count));
  if (event.durationMs !== undefined) head += member('durationMs', JSON.stringify(event.durationMs));
  if (event.errorCode !== undefined) head += member('errorCode', JSON.stringify(clip(event.errorCode)));
  if (event.firstAt !== undefined) head += member('firstAt', JSON.stringify(clip(event.firstAt)));
  if (event.outcome !== undefined) head += member('outcome', JSON.stringify(event.outcome));
  head += member('phase', JSON.stringify(event.phase));
  const requestId = clip(event.requestId, 200);
  let mid = member('principal', principalJson(event.principal)) + member('requestId', JSON.stringify(requestId));
  // "result" sorts after "requestId" and before "seq": it stays in canonical order (the verifier's hash).
  if (event.result !== undefined) mid += member('result', canonicalJson(resultFields(event.result)));
  const time = isoNow();
  const where = whereOf(event);
  const tail = `${where.before}${member('time', JSON.stringify(time))}${where.after}`;
  const meta = {
    time,
    server: where.server,
    tool: where.tool,
    tier: event.tier,
    phase: event.phase,
    ...(event.outcome !== undefined ? { outcome: event.outcome } : {}),
  };
  return { head, mid, tail, requestId, meta };
}

// Record parts that repeat from record to record, built once: the principal's JSON and the
// server/tier/tool members, looked up by the values themselves (nested Maps: no composite key that two
// different inputs could share), at most MAX_PARTS of them; and the time, once per millisecond.
const MAX_PARTS = 4096;
let parts = 0;
const principals = new Map<unknown, Map<unknown, Map<unknown, string>>>();
const places = new Map<unknown, Map<unknown, Map<unknown, Where>>>();

interface Where {
  /** `"server":…,"tier":…,` */
  before: string;
  /** `"tool":…` (the time member before it ends with its comma) */
  after: string;
  server: string;
  tool: string;
}

function lookup<V>(
  root: Map<unknown, Map<unknown, Map<unknown, V>>>,
  a: unknown,
  b: unknown,
  c: unknown,
): V | undefined {
  return root.get(a)?.get(b)?.get(c);
}

function remember<V>(root: Map<unknown, Map<unknown, Map<unknown, V>>>, a: unknown, b: unknown, c: unknown, v: V): V {
  if (parts >= MAX_PARTS) return v;
  let byA = root.get(a);
  if (!byA) {
    byA = new Map();
    root.set(a, byA);
  }
  let byB = byA.get(b);
  if (!byB) {
    byB = new Map();
    byA.set(b, byB);
  }
  byB.set(c, v);
  parts++;
  return v;
}

function principalJson(p: AuditEvent['principal']): string {
  const hit = lookup(principals, p?.subject, p?.clientId, p?.spiffeId);
  if (hit !== undefined) return hit;
  let json = `{`;
  if (p?.clientId !== undefined) json += `"clientId":${JSON.stringify(clip(p.clientId))},`;
  if (p?.spiffeId !== undefined) json += `"spiffeId":${JSON.stringify(clip(p.spiffeId))},`;
  json += `"subject":${JSON.stringify(clip(p?.subject))}}`;
  return remember(principals, p?.subject, p?.clientId, p?.spiffeId, json);
}

function whereOf(event: AuditEvent): Where {
  const hit = lookup(places, event.server, event.tier, event.tool);
  if (hit !== undefined) return hit;
  const server = clip(event.server);
  const tool = clip(event.tool);
  return remember(places, event.server, event.tier, event.tool, {
    before: member('server', JSON.stringify(server)) + member('tier', JSON.stringify(event.tier)),
    after: `"tool":${JSON.stringify(tool)}`,
    server,
    tool,
  });
}

let isoMs = Number.NaN;
let iso = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    iso = new Date(ms).toISOString();
  }
  return iso;
}

interface ChainHead {
  seq: number;
  hash: string;
}

const sha256 = chainHash;

function hashRecord(body: Omit<AuditRecord, 'hash'>): string {
  return sha256(body.prevHash, canonicalJson(body));
}

/**
 * The next record's JSON line: the canonical body with `hash` appended (verifiers re-canonicalize the
 * parsed line without `hash`, which gives back exactly `canonical`).
 */
function chain(prepared: Prepared, prev: ChainHead): { head: ChainHead; line: string } {
  const seq = prev.seq + 1;
  const body = `${prepared.head}"prevHash":${JSON.stringify(prev.hash)},${prepared.mid}"seq":${seq},${prepared.tail}`;
  const digest = sha256(prev.hash, `{${body}}`);
  return { head: { seq, hash: digest }, line: `{${body},"hash":"${digest}"}\n` };
}

/** Calls an optional listener; its failure never reaches the writers. */
function tell<T>(listener: ((value: T) => void) | undefined, value: T): void {
  try {
    listener?.(value);
  } catch {
    // a logger failing must not break the log
  }
}

/** Tells the listener about records now in the log; a listener's failure never reaches the writers. */
function notifyCommitted(listener: ((records: CommittedRecord[]) => void) | undefined, records: CommittedRecord[]) {
  if (!listener || records.length === 0) return;
  try {
    listener(records);
  } catch {
    // shipping is best effort beside the log, which stays the source of truth
  }
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

/**
 * ERR_AUDIT_UNAVAILABLE. `details.diskFull`: the file system was full, which callers may be told (the
 * message itself names the path and stays in the server's log).
 */
function unavailable(message: string, cause?: unknown): RavenhelmError {
  return new RavenhelmError(
    'ERR_AUDIT_UNAVAILABLE',
    message,
    isSpaceError(cause) ? { diskFull: true } : {},
    cause === undefined ? undefined : { cause },
  );
}

/** The chain head of an open log: its last record, which must be intact. */
async function resumeHead(file: AuditFile, path: string): Promise<ChainHead & { fallbackDigest?: string }> {
  const last = await readLastLine(file, path, MAX_RECORD_BYTES);
  if (last === undefined) return { seq: 0, hash: GENESIS_HASH };
  let rec: unknown;
  try {
    rec = JSON.parse(last);
  } catch {
    rec = undefined;
  }
  const fault = recordFault(rec);
  if (fault) {
    throw unavailable(
      `audit log ${path} ends with a corrupt record (${fault}); run 'ravenhelm-audit verify ${path}' and keep the file as evidence`,
    );
  }
  const { seq, hash, fallbackDigest } = rec as AuditRecord;
  return { seq, hash, ...(typeof fallbackDigest === 'string' ? { fallbackDigest } : {}) };
}

/**
 * An empty log beside rotated files of it is a rotation cut short (renamed, but the new file or its marker
 * never made it): writes the marker continuing the chain from the newest rotated file. Undefined when there
 * is nothing to continue from (a new log starts at genesis).
 */
async function resumeAfterRotation(
  file: AuditFile,
  path: string,
  server: string | undefined,
): Promise<{ head: ChainHead; marker: CommittedRecord; from: string } | undefined> {
  const newest = (await listRotated(path)).at(-1);
  if (!newest) return undefined;
  let rec: unknown;
  try {
    rec = JSON.parse(await lastLineOf(newest.path, MAX_RECORD_BYTES));
  } catch (err) {
    throw unavailable(
      `audit log ${path} is empty after a rotation and cannot continue the chain from ${newest.name}: ${
        err instanceof SyntaxError ? 'its last line is not JSON' : (err as Error).message
      }; keep the files as evidence`,
    );
  }
  const fault = recordFault(rec);
  if (fault) {
    throw unavailable(
      `audit log ${path} is empty after a rotation and cannot continue the chain from ${newest.name}: its last record is corrupt (${fault}); run 'ravenhelm-audit verify ${path} --all' and keep the files as evidence`,
    );
  }
  const prev = { seq: (rec as AuditRecord).seq, hash: (rec as AuditRecord).hash };
  const m = rotationMarker(prev, newest.name, server);
  const { err } = await appendAll(file, Buffer.from(`${m.line}\n`, 'utf8'));
  if (err !== undefined) throw err;
  await file.sync();
  await fsyncDir(dirname(path));
  return { head: m.head, marker: markerRecord(m, server), from: newest.name };
}

/** A rotation marker as shipped: labelled like a LOW record of its own phase, `rotation`. */
function markerRecord(m: { line: string; head: ChainHead; time: string }, server: string | undefined): CommittedRecord {
  return {
    line: m.line,
    ...m.head,
    time: m.time,
    server: server ?? '',
    tool: ROTATION_TOOL,
    tier: 'LOW',
    phase: 'rotation',
  };
}

/** Appends the whole buffer; returns how many bytes reached the file before a failure, and the failure. */
async function appendAll(file: AuditFile, data: Buffer): Promise<{ written: number; err?: unknown }> {
  let written = 0;
  try {
    while (written < data.length) {
      const n = await file.append(data.subarray(written));
      if (n <= 0) throw new Error('append wrote nothing');
      written += n;
    }
    return { written };
  } catch (err) {
    return { written, err };
  }
}

/** What a start did with the fallback file (audit.fallbackFile). */
export type FallbackReplay =
  | { kind: 'replayed'; records: number; torn: string }
  | { kind: 'already-replayed'; records: number }
  | { kind: 'not-replayed'; reason: string };

/**
 * Appends the fallback file's records to the log (fsynced), each chained like any record and carrying the
 * file's digest, then removes the file. A start cut short after the fsync leaves the file: the log's last
 * record then carries its digest, so it is removed, not replayed twice. Refuses (leaving the file and the
 * log as they were) when the file is unreadable or not all outcome records, or the log cannot take them.
 */
async function replayFallback(
  file: AuditFile,
  fallbackPath: string,
  at: { head: ChainHead & { fallbackDigest?: string }; size: number },
  server: string | undefined,
): Promise<{ head: ChainHead; size: number; committed: CommittedRecord[]; done: FallbackReplay } | undefined> {
  const keep = (reason: string) => ({ ...at, committed: [], done: { kind: 'not-replayed' as const, reason } });
  let fallback: Fallback | undefined;
  try {
    fallback = await readFallback(fallbackPath);
  } catch (err) {
    return keep(`the fallback file ${fallbackPath} ${(err as Error).message}; it is left as it is`);
  }
  if (!fallback) return undefined;
  const { records, digest, torn } = fallback;
  const foreign = server === undefined ? -1 : records.findIndex((r) => r.server !== server);
  if (foreign >= 0) {
    // Two servers given one fallback path: their records must not end up in each other's chain.
    return keep(
      `the fallback file ${fallbackPath} line ${foreign + 1} is a record of server ${JSON.stringify(records[foreign]?.server)}, not of ${server}; it is left as it is (give each server its own audit.fallbackFile)`,
    );
  }
  if (at.head.fallbackDigest === digest) {
    await removeFallback(fallbackPath);
    return { ...at, committed: [], done: { kind: 'already-replayed', records: records.length } };
  }
  let head: ChainHead = at.head;
  let text = '';
  const committed: CommittedRecord[] = [];
  for (const rec of records) {
    const body = { ...rec, fallbackDigest: digest, prevHash: head.hash, seq: head.seq + 1 };
    const canonical = canonicalJson(body);
    head = { seq: head.seq + 1, hash: sha256(head.hash, canonical) };
    const line = `${canonical.slice(0, -1)},"hash":"${head.hash}"}`;
    text += `${line}\n`;
    const r = rec as Partial<AuditRecord>;
    committed.push({
      line,
      ...head,
      time: String(r.time),
      server: String(r.server),
      tool: String(r.tool),
      tier: r.tier as AuditEvent['tier'],
      phase: 'outcome',
      ...(r.outcome !== undefined ? { outcome: r.outcome } : {}),
    });
  }
  const data = Buffer.from(text, 'utf8');
  const { err } = await appendAll(file, data);
  if (err !== undefined) {
    await file.truncate(at.size); // throws: the start fails (a partial write could not be cut away)
    return keep(
      `the audit log cannot take the fallback file's records (${whyFailed(err)}); they stay in ${fallbackPath} for the next start`,
    );
  }
  await file.sync();
  await removeFallback(fallbackPath);
  return { head, size: at.size + data.length, committed, done: { kind: 'replayed', records: records.length, torn } };
}

// ---------------------------------------------------------------------------------------------------
// the file sink

/** A record kept for a later batch: what it says, and whether it must be fsynced. */
interface Kept {
  prepared: Prepared;
  durable: boolean;
}

interface Pending extends Kept {
  resolve(): void;
  reject(err: Error): void;
}

export interface FileAuditSinkOptions {
  path: string;
  secretKeys?: RegExp;
  /** Opens the file; tests pass a wrapper around openAuditFile to inject faults. */
  openFile?: (path: string) => Promise<AuditFile>;
  /** Told when a torn tail was moved aside on open. */
  onTornTail?: (torn: TornTail) => void;
  /**
   * true (default): the records of one event-loop turn, and those arriving while a write is in flight,
   * share one write and at most one fsync. false: one write (and one fsync when durable) per record, the
   * old path, kept as the benchmark's baseline.
   */
  groupCommit?: boolean;
  /**
   * Told about the records of each committed batch, in chain order, once they are in the file (after the
   * fsync when the batch had one): audit shipping. Must not block; its errors are ignored.
   */
  onCommit?: (records: CommittedRecord[]) => void;
  /**
   * Told about outcome records the log could not take and the sink gave up on (more were waiting than it
   * keeps, or the log was still full at close), as JSON lines without chain fields, so they can be logged
   * instead of lost. Redacted like every record.
   */
  onUnwritten?: (records: string[], reason: string) => void;
  /**
   * Where outcome records the log could not take for lack of space also go (at close, and past the kept
   * bound), to be appended to the log at the next start (audit.fallbackFile). Put it on another file
   * system than the log. Undefined: only onUnwritten.
   */
  fallbackPath?: string;
  /** Told what the start did with an existing fallback file. */
  onFallback?: (replay: FallbackReplay) => void;
  /** The server whose log this is: a fallback file holding another server's records is not replayed. */
  server?: string;
  /**
   * health() is not ok while the log's file system has fewer bytes free than this (statfs, per call):
   * a server started on a full volume is unready before its first call fails, and ready again once
   * space is freed. 0 (default): only a failed append makes it unready.
   */
  minFreeBytes?: number;
  /**
   * Rotate the log once it holds this many bytes (between batches): it is renamed to
   * `<path>.<YYYYMMDDTHHMMSS.mmmZ>` and a new file starts with a rotation marker chained to its last
   * record. 0 or undefined: never.
   */
  rotateBytes?: number;
  /**
   * Rotated files kept: each rotation first removes the oldest beyond this many minus one, then renames,
   * so there are never more (a crash mid-rotation included). 0 or undefined: all kept.
   */
  keepFiles?: number;
  /** Told about each rotation (and retention), a rotation that failed, and a rotation finished on open. */
  onRotate?: (report: RotationReport) => void;
  /**
   * One writer per file: the sink holds `<path>.lock` from before it touches the log until close, and a
   * second writer (another process, or another sink here) is refused, naming the holder (see
   * audit-lock.ts). Tests shorten the heartbeat here. false: no lock (never for a server's log).
   */
  lock?: Omit<AuditLockOptions, 'server'> | false;
  /** Told, at the start, that a stale lock (left by a crash) was taken over: whose, and why. */
  onLockTakenOver?: (what: string) => void;
  /** Told, at the start, that the log's directory refused the lock file: it is written without one. */
  onLockUnavailable?: (why: string) => void;
  /**
   * Told at the start when rotation with retention may need more than the log's whole file system
   * (rotateBytes × (keepFiles + 1) + minFreeBytes): a warning, the server still starts.
   */
  onCapacity?: (warning: CapacityWarning) => void;
}

/** What a rotation did, for the server's log and metrics. */
export type RotationReport =
  | { kind: 'rotated'; rotatedTo: string; removed: string[]; notRemoved: string[]; ms: number }
  | { kind: 'failed'; reason: string; retryInMs: number }
  | { kind: 'resumed'; from: string };

const lockOptions = (opts: FileAuditSinkOptions): AuditLockOptions => ({
  ...(opts.lock || {}),
  ...(opts.server !== undefined ? { server: opts.server } : {}),
});

const noLock = (err: unknown) => err instanceof RavenhelmError && err.details.noLock === true;

/**
 * The sink's locks: the log's, and the fallback file's (two writers would replay, or remove, each other's
 * records). A directory that refuses the lock file (a read-only directory holding a log file made for the
 * server) leaves the log without one: `missing` says so, for a warning; another writer is refused as usual.
 */
async function lockLog(
  opts: FileAuditSinkOptions,
): Promise<{ log?: AuditLock; missing?: string; release(): Promise<void> }> {
  if (opts.lock === false) return { release: async () => undefined };
  let log: AuditLock | undefined;
  let missing: string | undefined;
  try {
    log = await acquireAuditLock(opts.path, lockOptions(opts));
  } catch (err) {
    if (!noLock(err)) throw err;
    missing = `${(err as Error).message}: it is written without one, and a second writer of this log is not detected`;
  }
  if (log?.tookOver) tell(opts.onLockTakenOver, log.tookOver);
  let fallback: AuditLock | undefined;
  if (opts.fallbackPath !== undefined) {
    try {
      fallback = await acquireAuditLock(opts.fallbackPath, {
        ...lockOptions(opts),
        label: { what: 'audit fallback file', setting: 'RAVENHELM_AUDIT_FALLBACK_FILE (audit.fallbackFile)' },
      });
    } catch (err) {
      if (!noLock(err)) {
        await log?.release().catch(() => undefined);
        throw err;
      }
    }
    if (fallback?.tookOver) tell(opts.onLockTakenOver, fallback.tookOver);
  }
  return {
    ...(log ? { log } : {}),
    ...(missing ? { missing } : {}),
    async release() {
      try {
        await fallback?.release();
      } finally {
        await log?.release();
      }
    },
  };
}

/** A full file with more unsynced bytes than this is fsynced in the background before it is rotated. */
const PRESYNC_BYTES = 256 * 1024;
/** After a rotation that failed and was undone, the next try waits this long (the log keeps growing). */
const ROTATE_RETRY_MS = 30_000;

/** Outcome records kept for a retry while the file system is full: at most this many, and this many chars. */
const MAX_DEFERRED_RECORDS = 1024;
const MAX_DEFERRED_CHARS = 4 * 1024 * 1024;

/**
 * Append-only JSON Lines audit log with a hash chain (hash = sha256(prevHash + canonical JSON of the
 * record without `hash`)). On open it moves a torn last line (a write cut by a crash: never acknowledged)
 * aside to a quarantine file and resumes the chain from the last whole record; it refuses a log whose last
 * whole record does not match its hash (that is not a crash).
 *
 * Group commit: write() builds the record's text (digest, redaction, record cap) at once; the chain is
 * computed in call order when the batch is committed, after the current event-loop turn. A write
 * resolves once its batch is written, a durable one once the batch is fsynced and the file is still the
 * one at `path`. Failures fail closed: a failed append is truncated away (the log stays a valid chain) and
 * its writes reject; if that truncate, an fsync or the identity check (after every batch: records written
 * to a removed or renamed file are not acknowledged) fails, the sink refuses every later write until it is
 * reopened. A full file system (ENOSPC, EDQUOT) is not fatal: the next write tries again, and outcome
 * records that did not fit (their calls already ran) are kept, bounded, and written first once space is
 * back; health() says whether records fit now. One writer per file: replicas each need their own path.
 */
export async function createFileAuditSink(opts: FileAuditSinkOptions): Promise<AuditSink> {
  const { path } = opts;
  const groupCommit = opts.groupCommit ?? true;
  // Before anything touches the log (torn tail, rotation recovery, fallback replay): one writer per file.
  const locks = await lockLog(opts);
  const lock = locks.log;
  const unlock = locks.release;
  const capacity = await rotationCapacity(path, opts, (p) => fileSystemOf(p, 2000));
  if (capacity) tell(opts.onCapacity, capacity);
  let file: AuditFile;
  try {
    file = await (opts.openFile ?? openAuditFile)(path);
  } catch (err) {
    await unlock().catch(() => undefined);
    // (A directory that refused the lock file refuses the log too: this is the error that says what to do.)
    throw unavailable(
      `audit log ${path} cannot be opened (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ${openAdvice(err)}`,
      err,
    );
  }
  if (locks.missing) tell(opts.onLockUnavailable, locks.missing);
  let head: ChainHead;
  let goodSize: number;
  try {
    const torn = await quarantineTornTail(file, path);
    if (torn) opts.onTornTail?.(torn);
    const resumed = (await file.size()) === 0 ? await resumeAfterRotation(file, path, opts.server) : undefined;
    if (resumed) {
      notifyCommitted(opts.onCommit, [resumed.marker]);
      tell(opts.onRotate, { kind: 'resumed', from: resumed.from });
    }
    head = resumed?.head ?? (await resumeHead(file, path));
    goodSize = await file.size();
    const replay = opts.fallbackPath
      ? await replayFallback(file, opts.fallbackPath, { head, size: goodSize }, opts.server)
      : undefined;
    if (replay) {
      ({ head, size: goodSize } = replay);
      notifyCommitted(opts.onCommit, replay.committed);
      opts.onFallback?.(replay.done);
    }
  } catch (err) {
    await file.close().catch(() => undefined);
    await unlock().catch(() => undefined);
    if (err instanceof RavenhelmError) throw err;
    throw unavailable(
      `audit log ${path} cannot be opened: ${whyFailed(err)}${isSpaceError(err) ? '; free space on its file system and start again' : ''}`,
      err,
    );
  }

  const pending: Pending[] = [];
  const memo: ArgsMemo = new WeakMap();
  let pumping: Promise<void> | undefined;
  /** Why every later write is refused (a failed fsync, truncate or identity check): restart to reopen. */
  let broken: { err: Error; what: string } | undefined;
  /** The file system was full at the last append (none has succeeded since), and how many bytes it needed. */
  let full: { needed: number } | undefined;
  /** Outcome records whose append failed on a full file system: written ahead of the next batch. */
  let deferred: Kept[] = [];
  let dirty = false;
  let closing: Promise<void> | undefined;
  const refusing = () =>
    `audit log ${path} refuses every write since ${broken?.what} (${whyFailed(broken?.err)}); restart the server once that is fixed`;

  const takeBatch = (): Pending[] => {
    if (!groupCommit) return pending.splice(0, 1);
    let n = 0;
    let chars = 0;
    while (n < pending.length && n < MAX_BATCH_RECORDS && chars < MAX_BATCH_CHARS) {
      const p = (pending[n] as Pending).prepared;
      chars += p.head.length + p.mid.length + p.tail.length;
      n++;
    }
    return pending.splice(0, n);
  };

  const lineOf = ({ prepared: p }: Kept) => `{${p.head}${p.mid}${p.tail}}`;
  const giveUp = (records: Kept[], reason: string) => {
    if (records.length === 0) return;
    try {
      opts.onUnwritten?.(records.map(lineOf), reason);
    } catch {
      // the caller's logger failing must not reach the writers
    }
  };
  /** giveUp for records refused for lack of space: they also go to the fallback file, when there is one. */
  const spill = async (records: Kept[], reason: string) => {
    const fallback = opts.fallbackPath;
    if (records.length === 0 || fallback === undefined) return giveUp(records, reason);
    try {
      await appendFallback(fallback, records.map(lineOf));
      giveUp(
        records,
        `${reason}; they are also in the fallback file ${fallback}, appended to the log at the next start`,
      );
    } catch (err) {
      giveUp(records, `${reason}; the fallback file ${fallback} could not take them either (${whyFailed(err)})`);
    }
  };
  /** Keeps the outcome records of a failed batch for the next one, within the bound; returns what did not fit. */
  const defer = (records: Kept[]): Kept[] => {
    deferred = [];
    let chars = 0;
    const over: Kept[] = [];
    for (const p of records) {
      const size = p.prepared.head.length + p.prepared.mid.length + p.prepared.tail.length;
      if (deferred.length < MAX_DEFERRED_RECORDS && chars + size <= MAX_DEFERRED_CHARS) {
        deferred.push(p);
        chars += size;
      } else over.push(p);
    }
    return over;
  };

  const outcomesOf = (carried: Kept[], batch: Pending[]): Kept[] => [
    ...carried,
    ...batch.filter((p) => p.prepared.meta.phase === 'outcome').map(({ prepared, durable }) => ({ prepared, durable })),
  ];

  const commit = async (batch: Pending[]) => {
    if (!broken && lock && !lock.stillMine()) {
      try {
        await lock.verify();
      } catch (err) {
        broken = { err: err as Error, what: 'its lock was lost' };
        giveUp(outcomesOf(deferred, batch), `the audit log's lock was lost (${whyFailed(err)})`);
        deferred = [];
      }
    }
    if (broken) {
      for (const p of batch) p.reject(unavailable(refusing(), broken.err));
      return;
    }
    // Outcome records kept from a full disk go first (they are older than this batch).
    const carried = deferred;
    deferred = [];
    let next = head;
    let text = '';
    const committed: CommittedRecord[] = [];
    for (const { prepared } of carried) {
      const c = chain(prepared, next);
      text += c.line;
      next = c.head;
      if (opts.onCommit) committed.push({ line: c.line.slice(0, -1), ...c.head, ...prepared.meta });
    }
    for (const p of batch) {
      const c = chain(p.prepared, next);
      text += c.line;
      next = c.head;
      if (opts.onCommit) committed.push({ line: c.line.slice(0, -1), ...c.head, ...p.prepared.meta });
    }
    const data = Buffer.from(text, 'utf8');
    const { written, err } = await appendAll(file, data);
    if (err !== undefined) {
      let cut = '';
      try {
        // What reached the file (a short write(2) before ENOSPC, or a write that failed after storing some).
        const landed = Math.max(written, (await file.size()) - goodSize);
        await file.truncate(goodSize); // drop a partial line: the chain on disk stays valid
        if (landed > 0) cut = `; a partial write of ${landed} of ${data.length} bytes was cut away`;
      } catch (truncateErr) {
        broken = { err: truncateErr as Error, what: `a partial write could not be cut away` };
      }
      // A full file system is the one failure that mends itself: the next append simply tries again.
      full = isSpaceError(err) ? { needed: data.length } : undefined;
      const outcomes = outcomesOf(carried, batch);
      let kept = '';
      if (full && !broken) {
        const over = defer(outcomes);
        await spill(over, `more than ${MAX_DEFERRED_RECORDS} outcome records waiting for space`);
        kept = `; outcome records are kept (${deferred.length} waiting) and written once space is back`;
      } else giveUp(outcomes, `the audit log cannot be written (${whyFailed(err)})`);
      const advice = broken
        ? refusing()
        : full
          ? 'free space on its file system; writing resumes by itself once a record fits'
          : 'check the file and its disk';
      for (const p of batch) {
        p.reject(unavailable(`audit log ${path} cannot be written (${whyFailed(err)})${cut}${kept}; ${advice}`, err));
      }
      return;
    }
    full = undefined;
    goodSize += data.length;
    unsynced += data.length;
    head = next;
    dirty = true;
    const durableBatch = batch.some((p) => p.durable) || carried.some((k) => k.durable);
    if (durableBatch) {
      try {
        await file.sync();
        dirty = false;
        unsynced = 0;
      } catch (err) {
        // After a failed fsync the kernel may have dropped the pages: nothing later can be trusted.
        broken = { err: err as Error, what: 'an fsync failed' };
        notifyCommitted(opts.onCommit, committed); // written, though maybe not durable: the file has them
        for (const p of batch) {
          if (p.durable) p.reject(unavailable(`audit log ${path} could not be made durable; ${refusing()}`, err));
          else p.resolve();
        }
        return;
      }
    }
    try {
      // Records appended to a removed or renamed file are lost to whoever reads the path, so no batch is
      // acknowledged before the path is checked to still name the open file: one synchronous stat (about
      // 2 µs). Two stats through the thread pool per batch cost a sixth of the server's CPU under load; a
      // directory watch instead could arrive after the next batch was acknowledged.
      await file.checkLinked();
    } catch (err) {
      broken = { err: err as Error, what: 'the file was removed or replaced' };
      const outcomes = outcomesOf(carried, batch);
      giveUp(outcomes, `the audit log was removed or replaced (${whyFailed(err)})`);
      for (const p of batch) p.reject(unavailable(refusing(), err));
      return;
    }
    notifyCommitted(opts.onCommit, committed);
    for (const p of batch) p.resolve();
  };

  const rotateBytes = opts.rotateBytes ?? 0;
  let rotateAfter = 0;
  /**
   * The full file's fsync, started in the background once it reached rotateBytes with more than
   * PRESYNC_BYTES not yet fsynced: the rotation (at a later batch, once it is done) then has little left
   * to fsync, so writers do not wait for a whole file of records to reach the disk.
   */
  let presync: { done: boolean; promise: Promise<void> } | undefined;
  /** Bytes appended since the last fsync (at open: the whole file, which may still be in the page cache). */
  let unsynced = goodSize;
  /** Between batches (the pump runs one thing at a time), on a healthy log that reached the size. */
  const rotationDue = (): boolean => {
    if (rotateBytes <= 0 || goodSize < rotateBytes || broken || full || deferred.length > 0) return false;
    if (Date.now() < rotateAfter) return false;
    if (unsynced <= PRESYNC_BYTES) return true; // the rotation's own fsync is short
    if (presync) return presync.done;
    const target = file;
    const started: { done: boolean; promise: Promise<void> } = { done: false, promise: Promise.resolve() };
    started.promise = target.sync().then(
      () => {
        started.done = true;
      },
      (err: Error) => {
        // After a failed fsync the kernel may have dropped the pages: nothing later can be trusted.
        if (file === target) broken ??= { err, what: 'an fsync failed' };
        started.done = true;
      },
    );
    presync = started;
    return false;
  };
  const rotate = async () => {
    const started = performance.now();
    let rotated: Awaited<ReturnType<typeof rotateAuditFile>>;
    presync = undefined;
    try {
      rotated = await rotateAuditFile(file, path, head, {
        openFile: opts.openFile ?? openAuditFile,
        ...(opts.server !== undefined ? { server: opts.server } : {}),
        // Retention runs inside the rotation, before its rename (see rotateAuditFile).
        ...(opts.keepFiles ? { keepFiles: opts.keepFiles } : {}),
      });
    } catch (err) {
      const e = err as RotationError;
      if (!e.undone || e.fsync) {
        broken = {
          err: e,
          what: e.fsync
            ? 'an fsync failed'
            : 'a rotation failed halfway (the next start continues the chain from the rotated file)',
        };
      } else rotateAfter = Date.now() + ROTATE_RETRY_MS;
      tell(opts.onRotate, {
        kind: 'failed',
        reason: `audit log ${path} could not be rotated: ${e.message}${broken ? `; ${refusing()}` : `; writing goes on in it, the next try in ${ROTATE_RETRY_MS / 1000} s`}${e.removed.length > 0 ? ` (retention had removed ${e.removed.join(', ')} before it: one rotation early)` : ''}`,
        retryInMs: broken ? 0 : ROTATE_RETRY_MS,
      });
      return;
    }
    const old = file;
    ({ file, head, size: goodSize } = rotated);
    dirty = false;
    unsynced = 0;
    await old.close().catch(() => undefined);
    notifyCommitted(opts.onCommit, [markerRecord({ ...rotated.marker, head }, opts.server)]);
    tell(opts.onRotate, {
      kind: 'rotated',
      rotatedTo: basename(rotated.rotatedTo),
      removed: rotated.removed,
      notRemoved: rotated.notRemoved,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  };

  const minFree = opts.minFreeBytes ?? 0;
  const health = async (): Promise<AuditHealth> => {
    if (closing) return { ok: false, reason: `audit log ${path} is closed` };
    if (broken) return { ok: false, reason: refusing() };
    if (!full && minFree <= 0) return { ok: true };
    // After a failed append: ready again once the records it held fit, and the free space is over the
    // threshold.
    let free: number;
    try {
      free = await freeBytes(path, 2000);
    } catch (err) {
      return { ok: false, reason: `audit log ${path}: its file system cannot be checked (${whyFailed(err)})` };
    }
    if (full && free >= full.needed) {
      // The last failed write would fit now: kept outcome records are written without waiting for a call.
      full = undefined;
      pump();
    }
    if (!full && free >= minFree) return { ok: true };
    if (full) {
      return {
        ok: false,
        reason: `audit log ${path} cannot be written: no space left on its file system (${free} bytes free, the last write needed ${full.needed}${
          minFree > full.needed ? `, readiness needs audit.minFreeBytes ${minFree}` : ''
        }); free space there`,
      };
    }
    return {
      ok: false,
      reason: `audit log ${path} is almost out of space: ${free} bytes free on its file system, under audit.minFreeBytes (${minFree}); free space there (records that still fit are written meanwhile)`,
    };
  };

  const pump = () => {
    pumping ??= (async () => {
      try {
        // Let the rest of this turn's calls join the batch (one write for all of them).
        if (groupCommit) await new Promise<void>((resolve) => setImmediate(resolve));
        // Kept outcome records get one try of their own when nothing else is waiting (not a busy loop).
        let retry = deferred.length > 0 && !broken;
        while (pending.length > 0 || retry) {
          retry = false;
          if (rotationDue()) await rotate();
          await commit(takeBatch());
        }
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
        prepared = prepare(event, opts.secretKeys, memo);
      } catch (err) {
        // Only a malformed event (not its arguments: those never throw) gets here.
        return Promise.reject(unavailable('audit record could not be built', err));
      }
      return new Promise<void>((resolve, reject) => {
        pending.push({ prepared, durable, resolve, reject });
        pump();
      });
    },
    health,
    close() {
      closing ??= (async () => {
        while (pumping) await pumping;
        await presync?.promise;
        if (deferred.length > 0 && !broken) await commit([]); // one last try for outcome records kept from a full disk
        await spill(deferred, 'the audit log was still full at close');
        deferred = [];
        try {
          if (dirty && !broken) await file.sync();
        } finally {
          try {
            await file.close();
          } finally {
            await unlock();
          }
        }
      })();
      return closing;
    },
  };
}

/** In-memory sink with the same records (chain included): for tests and throwaway demos. */
export function createMemoryAuditSink(
  opts: { secretKeys?: RegExp; onCommit?: (records: CommittedRecord[]) => void } = {},
): AuditSink & { records: AuditRecord[] } {
  const records: AuditRecord[] = [];
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  let closed = false;
  return {
    records,
    async write(event) {
      if (closed) throw unavailable('audit sink is closed');
      const prepared = prepare(event, opts.secretKeys);
      const c = chain(prepared, head);
      records.push(JSON.parse(c.line) as AuditRecord);
      head = c.head;
      notifyCommitted(opts.onCommit, [{ line: c.line.slice(0, -1), ...c.head, ...prepared.meta }]);
    },
    async close() {
      closed = true;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// checking and repairing a log

/** What verifying one file found, with where its chain starts and ends (for checking a rotated set). */
export interface ChainScan {
  ok: boolean;
  records: number;
  brokenAt?: number;
  reason?: string;
  /** Set when the file starts with a rotation marker: the file it continues, and that file's last hash and seq. */
  continuesFrom?: { file: string; hash: string; seq: number };
  /** The last intact record's seq and hash (the link the next file must continue). */
  last?: ChainHead;
}

/** verifyAuditChain with the chain's ends, for verifying the files of a rotated log in order. */
export async function scanAuditChain(path: string): Promise<ChainScan> {
  let prev: ChainHead = { seq: 0, hash: GENESIS_HASH };
  let n = 0;
  let continuesFrom: ChainScan['continuesFrom'];
  let intact = false;
  const input = createReadStream(path, 'utf8');
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const ends = () => ({
    ...(continuesFrom ? { continuesFrom } : {}),
    ...(intact ? { last: prev } : {}),
  });
  const broken = (reason: string) => ({ ok: false, records: n - 1, brokenAt: n, reason, ...ends() });
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
      const link = n === 1 ? markerLink(rec) : undefined;
      if (link) {
        const fault = recordFault(rec);
        if (fault) return broken(`rotation marker: ${fault}`);
        // The first record of a file after a rotation: the chain continues from the previous file.
        prev = { seq: rec.seq - 1, hash: rec.prevHash };
        continuesFrom = { file: link.previousFile, ...prev };
      }
      if (rec.prevHash !== prev.hash) {
        return broken('prevHash does not match the previous record (a record was removed, inserted or reordered)');
      }
      if (rec.seq !== prev.seq + 1) return broken(`sequence ${rec.seq}, expected ${prev.seq + 1}`);
      const fault = recordFault(rec);
      if (fault) return broken(fault);
      prev = { seq: rec.seq, hash: rec.hash };
      intact = true;
    }
  } finally {
    lines.close();
    input.destroy();
  }
  return { ok: true, records: n, ...ends() };
}

/**
 * Checks every record of a log: well-formed, `seq` counting from 1, `prevHash` equal to the previous
 * record's hash (genesis for the first), `hash` matching the content. A file that starts with a rotation
 * marker continues the chain of the file it names: `continuesFrom` says which (check the set with
 * `verifyAuditSet`). `brokenAt` is the 1-based line of the first bad record; `records` counts the intact
 * records before it. A chain cannot show records cut from the END of a log: compare the count or the last
 * hash with a copy kept elsewhere for that. Throws when the file cannot be read.
 */
export async function verifyAuditChain(path: string): Promise<{
  ok: boolean;
  records: number;
  brokenAt?: number;
  reason?: string;
  continuesFrom?: { file: string; hash: string; seq: number };
}> {
  const { last: _, ...result } = await scanAuditChain(path);
  return result;
}

/**
 * What a server does on open, for a stopped server's log: moves a torn last line to a quarantine file.
 * Never rewrites whole records: a broken chain is evidence, reported by verifyAuditChain, not repaired.
 */
export async function repairAuditLog(path: string): Promise<{ torn?: TornTail }> {
  // It cuts the file: never beside a running server (whose batch in flight would look torn).
  const lock: AuditLock = await acquireAuditLock(path);
  try {
    const file = await openAuditFile(path);
    try {
      const torn = await quarantineTornTail(file, path);
      return torn ? { torn } : {};
    } finally {
      await file.close();
    }
  } finally {
    await lock.release();
  }
}
