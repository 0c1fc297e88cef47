import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { constants, type FileHandle, link, open, readdir, readFile, realpath, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { RavenhelmError } from '../errors.js';
import { isSpaceError, whyFailed } from './audit-file.js';

// One writer per audit log. Two processes appending to one file interleave their records, each chained to
// its own previous hash: the chain breaks silently (verify fails only later), and with rotation both
// rename the same file. Node has no flock (and flock is advisory and unreliable on network volumes), so
// the writer holds `<log>.lock`, created with O_CREAT|O_EXCL, naming it (pid, host, server, start) and
// kept fresh by a heartbeat (its mtime, every heartbeatMs). A lock left by a crash is taken over:
//   - on the same host (same boot, same pid namespace), at once when its pid is gone, or now belongs to
//     another process (its start time differs), or is this process's own pid (a previous run: in a
//     restarted container every server is pid 1; a lock this process holds itself is never taken);
//   - otherwise (another host, another pid namespace) once its heartbeat is older than staleAfterMs.
// Taking over removes the stale lock under a takeover guard, after reading it again (racing starters
// cannot both win: nobody removes a lock created since it was judged). The holder checks
// before each batch that the lock file is still its own, so a holder that was frozen past the bound and
// taken over refuses to write instead of interleaving.

/** How often the holder refreshes its lock; one whose holder cannot be checked directly is stale after 3 beats. */
export const LOCK_HEARTBEAT_MS = 5_000;
/** A holder's own staleAfterMs above this is not believed (a lock file cannot keep a log locked for days). */
const MAX_STALE_AFTER_MS = 3_600_000;
/** Rounds of create / judge / take over before giving up (a busy takeover guard costs one, and 10-50 ms). */
const TAKEOVER_TRIES = 40;

export interface AuditLockOptions {
  /** The server whose log this is (written into the lock, shown to a refused second writer). */
  server?: string;
  /** How often the holder refreshes the lock's mtime. Default 5 s. */
  heartbeatMs?: number;
  /** Heartbeat age after which another host may take the lock over. Default 3 × heartbeatMs. */
  staleAfterMs?: number;
  /**
   * What the file is and the setting that names it, for the messages. Default: the audit log,
   * RAVENHELM_AUDIT_FILE (audit.file); the fallback file's lock names its own.
   */
  label?: { what: string; setting: string };
  /** @internal Tests: awaited between judging a lock stale and taking it over (to interleave two starters). */
  beforeTakeover?: () => Promise<void>;
}

/** What the lock file says about its holder. */
export interface LockHolder {
  pid: number;
  hostname: string;
  server?: string;
  startedAt: string;
  /** Random per acquisition: tells this lock from a later one at the same path. */
  token: string;
  staleAfterMs: number;
  /** Linux: the boot and pid namespace the pid belongs to, and the process's start (clock ticks after boot). */
  bootId?: string;
  pidNs?: string;
  pidStart?: string;
}

export interface AuditLock {
  readonly lockPath: string;
  readonly holder: LockHolder;
  /** Set when a stale lock was taken over at the start: whose, and why it was stale. */
  readonly tookOver?: string;
  /** Whether the lock file is still this holder's: one synchronous stat (the check before every batch). */
  stillMine(): boolean;
  /**
   * Resolves while the lock file is still this holder's; rejects (naming who has it now) when it was
   * taken over or removed (after looking again: a racing starter may move it away for a moment).
   */
  verify(): Promise<void>;
  /** Stops the heartbeat and removes the lock file (when it is still this holder's). */
  release(): Promise<void>;
}

/** Tokens of the locks this process holds: a lock naming this process's pid is stale unless listed here. */
const heldHere = new Set<string>();

const readOr = <T>(read: () => T): T | undefined => {
  try {
    return read();
  } catch {
    return undefined;
  }
};

/** Field 22 of /proc/<pid>/stat (start time in clock ticks after boot); undefined off Linux or when gone. */
function processStart(pid: number | 'self'): string | undefined {
  const text = readOr(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return text?.slice(text.lastIndexOf(')') + 2).split(' ')[19];
}

function myIdentity(): Omit<LockHolder, 'server' | 'startedAt' | 'token' | 'staleAfterMs'> {
  const bootId = readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  const pidNs = readOr(() => readlinkSync('/proc/self/ns/pid'));
  const pidStart = processStart('self');
  return {
    pid: process.pid,
    hostname: hostname(),
    ...(bootId ? { bootId } : {}),
    ...(pidNs ? { pidNs } : {}),
    ...(pidStart ? { pidStart } : {}),
  };
}

interface Found {
  holder?: LockHolder;
  ino: number;
  dev: number;
  mtimeMs: number;
}

function parseHolder(text: string): LockHolder | undefined {
  const h = readOr(() => JSON.parse(text) as Partial<LockHolder>);
  if (!h || typeof h !== 'object' || typeof h.hostname !== 'string') return undefined;
  // (A pid of 0 or below would make the liveness check signal a process group: such a lock names nobody.)
  if (!Number.isSafeInteger(h.pid) || (h.pid as number) <= 0) return undefined;
  if (typeof h.token !== 'string') return undefined;
  return h as LockHolder;
}

async function readLock(lockPath: string): Promise<Found | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(lockPath, constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await fh.stat();
    const text = (await fh.readFile({ encoding: 'utf8' })).slice(0, 4096);
    const holder = parseHolder(text);
    return { ...(holder ? { holder } : {}), ino: st.ino, dev: st.dev, mtimeMs: st.mtimeMs };
  } finally {
    await fh.close();
  }
}

function boundOf(found: Found, mine: number): number {
  const theirs = found.holder?.staleAfterMs;
  return typeof theirs === 'number' && theirs > 0 && theirs <= MAX_STALE_AFTER_MS ? theirs : mine;
}

/** Why the lock is stale (it may be taken over), or undefined while its holder may be writing. */
export function staleBecause(found: Found, staleAfterMs: number, now = Date.now()): string | undefined {
  const h = found.holder;
  const me = myIdentity();
  const age = Math.max(0, now - found.mtimeMs);
  const beat = `its heartbeat is ${(age / 1000).toFixed(1)} s old (over ${boundOf(found, staleAfterMs) / 1000} s)`;
  if (!h) return age > boundOf(found, staleAfterMs) ? `it names no holder and ${beat}` : undefined;
  const sameHost =
    h.hostname === me.hostname && (h.bootId === undefined || me.bootId === undefined || h.bootId === me.bootId);
  const samePids = sameHost && (h.pidNs === undefined || me.pidNs === undefined || h.pidNs === me.pidNs);
  if (sameHost && h.pid === me.pid && !heldHere.has(h.token)) {
    return `its pid ${h.pid} is this process's own (a previous run, as in a restarted container)`;
  }
  if (samePids && h.pid !== me.pid) {
    try {
      process.kill(h.pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return `its process ${h.pid} is gone`;
    }
    const start = processStart(h.pid);
    if (h.pidStart !== undefined && start !== undefined && start !== h.pidStart) {
      return `its pid ${h.pid} now belongs to another process`;
    }
    return undefined; // alive on this host: whatever its heartbeat says, it may write
  }
  if (samePids) return undefined; // this process holds it
  return age > boundOf(found, staleAfterMs) ? beat : undefined;
}

function whoHolds(h: LockHolder | undefined): string {
  if (!h) return 'nobody it names (the lock file is empty or cut short)';
  return `pid ${h.pid} on host ${h.hostname}${h.server ? ` (server ${h.server})` : ''} since ${h.startedAt}`;
}

const AUDIT_LOG = { what: 'audit log', setting: 'RAVENHELM_AUDIT_FILE (audit.file)' };

function refused(
  auditPath: string,
  lockPath: string,
  found: Found,
  staleAfterMs: number,
  label = AUDIT_LOG,
): RavenhelmError {
  const h = found.holder;
  const bound = boundOf(found, staleAfterMs);
  const local = h !== undefined && h.hostname === hostname();
  const age = Math.round(Math.max(0, Date.now() - found.mtimeMs) / 100) / 10;
  const takeover = local
    ? `it is taken over at the next start once its process ${h.pid} is gone, or after ${bound / 1000} s without a heartbeat when it runs in another container`
    : `it is taken over after ${bound / 1000} s without a heartbeat`;
  return new RavenhelmError(
    'ERR_AUDIT_UNAVAILABLE',
    `${label.what} ${auditPath} is locked: ${lockPath} is held by ${whoHolds(h)}, heartbeat ${age} s ago. Another process writes this ${label.what}: give each server its own ${label.setting}, or stop that process; if it is gone, ${takeover}`,
    { lockFile: lockPath, holder: h ? { pid: h.pid, hostname: h.hostname, server: h.server } : undefined },
  );
}

const sameFile = (a: { ino: number; dev: number }, b: { ino: number; dev: number }) =>
  a.ino === b.ino && a.dev === b.dev;

/** A takeover guard older than this was left by a starter that died while taking a lock over. */
const GUARD_STALE_MS = 10_000;

/**
 * Removes the lock judged stale, under the takeover guard `<lock>.takeover` (created exclusively): only
 * its holder removes a lock, after reading it again, so a lock that a racing starter created since it was
 * judged is never touched. (Moving the lock aside and putting back a newer one had a window: while it was
 * aside, a third starter could create its own, and two starters held "the" lock.) 'taken': the judged lock
 * is gone; 'changed': another lock is there now; 'busy': another starter holds the guard (try again).
 */
async function takeOver(lockPath: string, judged: Found): Promise<'taken' | 'changed' | 'busy'> {
  const guard = `${lockPath}.takeover`;
  let fh: FileHandle;
  try {
    fh = await open(guard, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = statSync(guard, { throwIfNoEntry: false });
    // A guard left by a starter that died in its takeover (a few milliseconds of work) is removed.
    if (st && Date.now() - st.mtimeMs > GUARD_STALE_MS) await unlink(guard).catch(() => undefined);
    return 'busy';
  }
  try {
    const now = await readLock(lockPath);
    if (now === undefined) return 'taken';
    const same = sameFile(now, judged) && now.holder?.token === judged.holder?.token && now.mtimeMs === judged.mtimeMs;
    if (!same) return 'changed';
    await unlink(lockPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    return 'taken';
  } finally {
    await fh.close().catch(() => undefined);
    await unlink(guard).catch(() => undefined);
  }
}

/**
 * The log's path with symbolic links and `..` resolved (the file's, or when it does not exist yet its
 * directory's): two servers reaching one log by different paths (a symlinked directory, a relative path)
 * must meet at one lock file. Unresolvable: the path as given (the open that follows says what is wrong).
 */
async function canonicalPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    try {
      return join(await realpath(dirname(path)), basename(path));
    } catch {
      return path;
    }
  }
}

/**
 * Takes the lock of the audit log at `auditPath` (`<auditPath>.lock`) for this process, taking over a
 * stale one; rejects with ERR_AUDIT_UNAVAILABLE naming the holder when another writer holds it.
 */
export async function acquireAuditLock(auditPath: string, opts: AuditLockOptions = {}): Promise<AuditLock> {
  const lockPath = `${await canonicalPath(auditPath)}.lock`;
  const heartbeatMs = opts.heartbeatMs ?? LOCK_HEARTBEAT_MS;
  const staleAfterMs = opts.staleAfterMs ?? 3 * heartbeatMs;
  let tookOver: string | undefined;
  for (let attempt = 1; attempt <= TAKEOVER_TRIES; attempt++) {
    const holder: LockHolder = {
      ...myIdentity(),
      ...(opts.server !== undefined ? { server: opts.server } : {}),
      startedAt: new Date().toISOString(),
      token: randomBytes(16).toString('hex'),
      staleAfterMs,
    };
    const created = await create(lockPath, holder).catch((err) => {
      throw lockError(auditPath, lockPath, err, opts.label);
    });
    if (created) {
      const { fh } = created;
      try {
        const st = await fh.stat();
        await sweepStrays(lockPath);
        return holding(lockPath, created, holder, { ino: st.ino, dev: st.dev }, heartbeatMs, tookOver);
      } catch (err) {
        await fh.close().catch(() => undefined);
        await unlink(lockPath).catch(() => undefined);
        throw lockError(auditPath, lockPath, err, opts.label);
      }
    }
    const found = await readLock(lockPath).catch((err) => {
      // A lock that exists but cannot be read may well be held: refused, never written past.
      const label = opts.label ?? AUDIT_LOG;
      throw new RavenhelmError(
        'ERR_AUDIT_UNAVAILABLE',
        `${label.what} ${auditPath}: its lock file ${lockPath} exists but cannot be read (${whyFailed(err)}); another process may write this ${label.what}: give each server its own ${label.setting}`,
        { lockFile: lockPath },
        { cause: err },
      );
    });
    if (!found) continue; // released meanwhile
    const why = staleBecause(found, staleAfterMs);
    if (why === undefined) throw refused(auditPath, lockPath, found, staleAfterMs, opts.label);
    await opts.beforeTakeover?.();
    const outcome = await takeOver(lockPath, found);
    if (outcome === 'taken') tookOver = `took over the lock of ${whoHolds(found.holder)}: ${why}`;
    else if (outcome === 'busy') await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 40));
  }
  const label = opts.label ?? AUDIT_LOG;
  throw new RavenhelmError(
    'ERR_AUDIT_UNAVAILABLE',
    `${label.what} ${auditPath}: its lock ${lockPath} could not be taken in ${TAKEOVER_TRIES} tries (it changed hands, or other starters were taking it over): other processes are starting on this ${label.what}; give each server its own ${label.setting}`,
  );
}

/**
 * Creates the lock file with its content in one step: written and fsynced under a name of its own, then
 * linked to `lockPath` (fails when it exists, like O_EXCL, also on NFS). A lock file created empty and
 * written after would be read, by a racing starter, as a lock that does not say who holds it.
 * Undefined when the lock exists.
 */
async function create(lockPath: string, holder: LockHolder): Promise<{ fh: FileHandle; empty: boolean } | undefined> {
  const own = `${lockPath}.new-${holder.token}`;
  const fh = await open(own, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
  let empty = false;
  try {
    try {
      await writeHolder(fh, holder);
    } catch (err) {
      // A full file system still takes an empty file (an inode, no block): a lock others judge by its
      // heartbeat alone, until the holder can write its name into it (at a later heartbeat).
      if (!isSpaceError(err)) throw err;
      await fh.truncate(0);
      empty = true;
    }
    await link(own, lockPath);
  } catch (err) {
    await fh.close().catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  } finally {
    await unlink(own).catch(() => undefined);
  }
  return { fh, empty };
}

/**
 * Removes `<lock>.new-<token>` files left by starters killed between writing their lock and linking it
 * (a SIGKILL, an OOM kill in those milliseconds): nothing else would, and each crash left one more. Run by
 * the lock's holder; a file younger than GUARD_STALE_MS may be another starter's attempt in progress and
 * is left alone. Best effort: a file that cannot be listed or removed stays, and the lock is held anyway.
 */
async function sweepStrays(lockPath: string): Promise<void> {
  const prefix = `${basename(lockPath)}.new-`;
  const names = await readdir(dirname(lockPath)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const path = join(dirname(lockPath), name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (st?.isFile() && Date.now() - st.mtimeMs > GUARD_STALE_MS) await unlink(path).catch(() => undefined);
  }
}

async function writeHolder(fh: FileHandle, holder: LockHolder): Promise<void> {
  const data = Buffer.from(`${JSON.stringify(holder)}\n`);
  let off = 0;
  while (off < data.length) off += (await fh.write(data, off, data.length - off, off)).bytesWritten;
  await fh.sync();
}

/** The lock file could not be made (details.noLock): the file system refused it, not another writer. */
function lockError(auditPath: string, lockPath: string, err: unknown, label = AUDIT_LOG): RavenhelmError {
  return new RavenhelmError(
    'ERR_AUDIT_UNAVAILABLE',
    `${label.what} ${auditPath}: its lock file ${lockPath} cannot be created (${whyFailed(err)}); the server needs write access to its directory`,
    { noLock: true },
    { cause: err },
  );
}

function holding(
  lockPath: string,
  created: { fh: FileHandle; empty: boolean },
  holder: LockHolder,
  id: { ino: number; dev: number },
  heartbeatMs: number,
  tookOver: string | undefined,
): AuditLock {
  const { fh } = created;
  let empty = created.empty;
  heldHere.add(holder.token);
  let lost: string | undefined;
  let released = false;
  const isMine = () => {
    const st = statSync(lockPath, { throwIfNoEntry: false });
    return st !== undefined && sameFile(st, id);
  };
  /** Who holds the lock now, for the error: a racing starter may have moved it for a moment (then it is back). */
  const confirmLost = async (): Promise<string | undefined> => {
    for (const wait of [20, 100]) {
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (isMine()) return undefined;
    }
    const now = await readLock(lockPath).catch(() => undefined);
    return now ? `it is now held by ${whoHolds(now.holder)}` : 'it was removed';
  };
  let beating = false;
  const timer = setInterval(async () => {
    if (beating || released || lost) return;
    beating = true;
    try {
      if (isMine()) {
        const now = new Date();
        await fh.utimes(now, now);
        if (empty) {
          await writeHolder(fh, holder); // space is back: say who holds it
          empty = false;
        }
      } else lost = await confirmLost();
    } catch {
      // a failed touch is retried at the next beat; only losing the file means losing the lock
    } finally {
      beating = false;
    }
  }, heartbeatMs);
  timer.unref();
  return {
    lockPath,
    holder,
    ...(tookOver ? { tookOver } : {}),
    stillMine: () => !lost && isMine(),
    async verify() {
      if (!lost && isMine()) return;
      lost ??= await confirmLost();
      if (lost) {
        throw new Error(
          `its lock ${lockPath} is no longer this server's (${lost}): another process may be writing the log`,
        );
      }
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      heldHere.delete(holder.token);
      try {
        if (!lost && isMine()) await unlink(lockPath);
      } finally {
        await fh.close();
      }
    },
  };
}

/** Reads the lock of the log at `auditPath` without taking it (for tools and tests); undefined when none. */
export async function readAuditLock(auditPath: string): Promise<LockHolder | undefined> {
  const text = await readFile(`${auditPath}.lock`, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return text === undefined ? undefined : parseHolder(text);
}
