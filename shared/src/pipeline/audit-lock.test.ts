import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AuditEvent, type AuditSink, createFileAuditSink, verifyAuditChain } from './audit.js';
import { acquireAuditLock, type LockHolder, readAuditLock } from './audit-lock.js';
import { rotationCapacity } from './audit-rotate.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-auditlock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
const fresh = (name: string) => join(dir, `${++counter}-${name}.jsonl`);

const event = (i: number, server = 'docker'): AuditEvent => ({
  server,
  tool: 'containers_restart',
  tier: 'MEDIUM',
  principal: { subject: 'agent' },
  requestId: `r${i}`,
  phase: 'outcome',
  args: { container: `web-${i}` },
  outcome: 'success',
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes a lock file as another holder would have left it, its mtime `ageMs` in the past. */
function plantLock(path: string, holder: Partial<LockHolder>, ageMs: number): void {
  const lock = `${path}.lock`;
  writeFileSync(
    lock,
    JSON.stringify({
      pid: 4242,
      hostname: 'other-host',
      server: 'docker',
      startedAt: '2026-12-01T10:00:00.000Z',
      token: 'planted',
      staleAfterMs: 15_000,
      ...holder,
    }),
  );
  const at = new Date(Date.now() - ageMs);
  utimesSync(lock, at, at);
}

/** A pid that belonged to a process that has exited (this host, this pid namespace). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

describe('two writers on one audit log', () => {
  it('without the lock (the defect): two sinks interleave and the chain breaks silently', async () => {
    const path = fresh('unlocked');
    const a = await createFileAuditSink({ path, lock: false });
    const b = await createFileAuditSink({ path, lock: false });
    for (let i = 1; i <= 4; i++) {
      await a.write(event(i, 'a'), { durable: false });
      await b.write(event(i, 'b'), { durable: false }); // every write was acknowledged
    }
    await a.close();
    await b.close();
    const v = await verifyAuditChain(path);
    expect(v.ok).toBe(false);
    expect(v.brokenAt).toBe(2);
  });

  it('refuses a second sink on the same path, naming the lock file, the holder and what to do; the first keeps writing', async () => {
    const path = fresh('two');
    const first = await createFileAuditSink({ path, server: 'docker' });
    await first.write(event(1), { durable: true });
    const second = createFileAuditSink({ path, server: 'gitlab' });
    await expect(second).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    const message = (await second.catch((e: Error) => e)) as Error;
    expect(message.message).toContain(
      `${path}.lock is held by pid ${process.pid} on host ${hostname()} (server docker) since 20`,
    );
    expect(message.message).toContain(
      'Another process writes this audit log: give each server its own RAVENHELM_AUDIT_FILE',
    );
    expect(message.message).toMatch(/if it is gone, it is taken over at the next start once its process \d+ is gone/);
    for (let i = 2; i <= 5; i++) await first.write(event(i), { durable: i === 5 });
    await first.close();
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 5 });
  });

  it("refuses a second server sharing only the fallback file (it would replay, or remove, the other's records)", async () => {
    const fallbackPath = fresh('shared-fallback');
    const first = await createFileAuditSink({ path: fresh('fb-a'), fallbackPath, server: 'docker' });
    const otherLog = fresh('fb-b');
    await expect(createFileAuditSink({ path: otherLog, fallbackPath, server: 'gitlab' })).rejects.toThrow(
      `audit fallback file ${fallbackPath} is locked: ${fallbackPath}.lock is held by pid ${process.pid}`,
    );
    expect(existsSync(`${otherLog}.lock`)).toBe(false); // its own log's lock was given back
    await first.close();
    expect(existsSync(`${fallbackPath}.lock`)).toBe(false);
    await (await createFileAuditSink({ path: otherLog, fallbackPath, server: 'gitlab' })).close();
  });

  it('meets a writer that reaches the same log through a symlinked directory or a relative path', async () => {
    const real = fresh('linked');
    const linkDir = join(dir, `${++counter}-link`);
    symlinkSync(dir, linkDir);
    const first = await createFileAuditSink({ path: real });
    const viaLink = join(linkDir, basename(real));
    await expect(createFileAuditSink({ path: viaLink })).rejects.toThrow(`${real}.lock is held by pid ${process.pid}`);
    await expect(createFileAuditSink({ path: relative(process.cwd(), real) })).rejects.toThrow(/is locked/);
    await first.close();
  });

  it('a lock naming pid 0 or below names nobody (never signals a process group): judged by its age', async () => {
    const path = fresh('pid0');
    plantLock(path, { pid: 0, hostname: hostname() }, 60_000);
    const told: string[] = [];
    const sink = await createFileAuditSink({ path, onLockTakenOver: (what) => told.push(what) });
    expect(told[0]).toMatch(/took over the lock of nobody it names .*heartbeat is 60\.\d s old/);
    await sink.close();
  });

  it('holds <file>.lock (0600, naming this process) while open; close releases it and the next writer starts', async () => {
    const path = fresh('release');
    const sink = await createFileAuditSink({ path, server: 'docker' });
    const holder = await readAuditLock(path);
    expect(holder).toMatchObject({ pid: process.pid, hostname: hostname(), server: 'docker' });
    expect(statSync(`${path}.lock`).mode & 0o777).toBe(0o600);
    await sink.write(event(1), { durable: true });
    await sink.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
    const next = await createFileAuditSink({ path });
    await next.write(event(2), { durable: true });
    expect((await readAuditLock(path))?.token).not.toBe(holder?.token);
    await next.close();
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 2 });
  });

  it("removes the half-made lock files of starters killed before linking theirs, but not another starter's fresh one", async () => {
    const path = fresh('strays');
    const old = `${path}.lock.new-0123456789abcdef`;
    const inProgress = `${path}.lock.new-fedcba9876543210`;
    const otherLog = `${fresh('other')}.lock.new-0123456789abcdef`;
    for (const f of [old, inProgress, otherLog]) writeFileSync(f, '{"pid":4242}\n');
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(old, longAgo, longAgo);
    utimesSync(otherLog, longAgo, longAgo);
    const lock = await acquireAuditLock(path);
    try {
      expect(existsSync(old)).toBe(false);
      expect(existsSync(inProgress)).toBe(true);
      expect(existsSync(otherLog)).toBe(true);
    } finally {
      await lock.release();
    }
  });

  it('a sink that cannot start (corrupt log) releases the lock', async () => {
    const path = fresh('corrupt');
    writeFileSync(path, '{"seq":1,"hash":"x","prevHash":"y"}\n');
    await expect(createFileAuditSink({ path })).rejects.toThrow(/ends with a corrupt record/);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('refreshes the lock mtime every heartbeat', async () => {
    const path = fresh('beat');
    const sink = await createFileAuditSink({ path, lock: { heartbeatMs: 40 } });
    const past = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, past, past);
    await sleep(200);
    expect(Date.now() - statSync(`${path}.lock`).mtimeMs).toBeLessThan(1_000);
    await sink.close();
  });

  it('a holder whose lock was taken over refuses to write (no interleaving) and leaves the new lock alone', async () => {
    const path = fresh('lost');
    const sink: AuditSink = await createFileAuditSink({ path, lock: { heartbeatMs: 60_000 } });
    await sink.write(event(1), { durable: true });
    // What a starter elsewhere does once it judged this holder stale: moves the lock away and takes its own.
    renameSync(`${path}.lock`, `${path}.lock.stale-test`);
    plantLock(path, { token: 'new-holder' }, 0);
    await expect(sink.write(event(2), { durable: true })).rejects.toThrow(
      /refuses every write since its lock was lost .*no longer this server's \(it is now held by pid 4242 on host other-host/,
    );
    await sink.close();
    expect((await readAuditLock(path))?.token).toBe('new-holder');
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 1 });
  });
});

describe('taking over a lock left by a crash', () => {
  it('this host, its process gone: taken over at once, however fresh its heartbeat', async () => {
    const path = fresh('dead');
    const pid = await deadPid();
    plantLock(path, { pid, hostname: hostname() }, 0);
    const told: string[] = [];
    const sink = await createFileAuditSink({ path, onLockTakenOver: (what) => told.push(what) });
    expect(told).toEqual([expect.stringContaining(`took over the lock of pid ${pid} on host ${hostname()}`)]);
    expect(told[0]).toContain(`its process ${pid} is gone`);
    expect((await readAuditLock(path))?.pid).toBe(process.pid);
    await sink.close();
  });

  it("this host, the lock names this process's own pid but not a lock it holds (a restarted container, pid 1 again): taken over", async () => {
    const path = fresh('mypid');
    plantLock(path, { pid: process.pid, hostname: hostname() }, 0);
    const told: string[] = [];
    const sink = await createFileAuditSink({ path, onLockTakenOver: (what) => told.push(what) });
    expect(told[0]).toContain(`its pid ${process.pid} is this process's own`);
    await sink.close();
  });

  it.runIf(existsSync('/proc/self/stat'))(
    'this host, its pid alive but now another process (start time differs): taken over; the same process: refused',
    async () => {
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
      try {
        const pid = child.pid as number;
        await sleep(50);
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;

        const reused = fresh('reused');
        plantLock(reused, { pid, hostname: hostname(), pidStart: String(Number(start) - 1) }, 0);
        const told: string[] = [];
        const sink = await createFileAuditSink({ path: reused, onLockTakenOver: (what) => told.push(what) });
        expect(told[0]).toContain(`its pid ${pid} now belongs to another process`);
        await sink.close();

        const alive = fresh('alive');
        plantLock(alive, { pid, hostname: hostname(), pidStart: start }, 10 * 60_000); // even with an old heartbeat
        await expect(createFileAuditSink({ path: alive })).rejects.toThrow(
          new RegExp(`held by pid ${pid} on host ${hostname()} \\(server docker\\) since 2026-12-01T10:00:00.000Z`),
        );
      } finally {
        child.kill();
      }
    },
  );

  it('another host, heartbeat older than its bound: taken over', async () => {
    const path = fresh('stale');
    plantLock(path, { staleAfterMs: 15_000 }, 16_000);
    const told: string[] = [];
    const sink = await createFileAuditSink({ path, onLockTakenOver: (what) => told.push(what) });
    expect(told[0]).toMatch(
      /took over the lock of pid 4242 on host other-host \(server docker\) since .*: its heartbeat is 1[67]\.\d s old \(over 15 s\)/,
    );
    await sink.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('another host, fresh heartbeat: refused, saying when it would be taken over', async () => {
    const path = fresh('fresh');
    plantLock(path, { staleAfterMs: 15_000 }, 5_000);
    const err = (await createFileAuditSink({ path }).catch((e: unknown) => e)) as Error & { details: unknown };
    expect(err.message).toMatch(
      /is locked: .*\.lock is held by pid 4242 on host other-host \(server docker\) since 2026-12-01T10:00:00.000Z, heartbeat 5(\.\d)? s ago/,
    );
    expect(err.message).toContain('if it is gone, it is taken over after 15 s without a heartbeat');
    expect(err.details).toMatchObject({ lockFile: `${path}.lock`, holder: { pid: 4242, hostname: 'other-host' } });
    expect(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).token).toBe('planted'); // left as it was
    expect(existsSync(path)).toBe(false); // the log was not touched
  });

  it("two starters judging one stale lock together: the one that moves the winner's new lock puts it back and is refused", async () => {
    const path = fresh('race');
    plantLock(path, {}, 60_000);
    let judged = 0;
    let bothJudged: () => void = () => undefined;
    const together = new Promise<void>((resolve) => {
      bothJudged = resolve;
    });
    let letLateGo: () => void = () => undefined;
    const lateMayGo = new Promise<void>((resolve) => {
      letLateGo = resolve;
    });
    const arrive = async (late: boolean) => {
      if (++judged === 2) bothJudged();
      await together;
      if (late) await lateMayGo;
    };
    const early = acquireAuditLock(path, { beforeTakeover: () => arrive(false) });
    const late = acquireAuditLock(path, { beforeTakeover: () => arrive(true) });
    const winner = await early; // took over the planted lock and created its own
    const winnerToken = winner.holder.token;
    letLateGo(); // now moves the winner's lock aside, thinking it is the planted one
    await expect(late).rejects.toThrow(new RegExp(`is locked: .* held by pid ${process.pid} on host`));
    expect((await readAuditLock(path))?.token).toBe(winnerToken);
    await expect(winner.verify()).resolves.toBeUndefined(); // the same file as before: its lock never changed
    await winner.release();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('an unreadable lock (a start cut between create and write) is judged by its age alone', async () => {
    const young = fresh('torn-young');
    writeFileSync(`${young}.lock`, '{"pid":');
    await expect(createFileAuditSink({ path: young })).rejects.toThrow(
      /held by nobody it names \(the lock file is empty or cut short\)/,
    );
    const old = fresh('torn-old');
    writeFileSync(`${old}.lock`, '');
    const past = new Date(Date.now() - 20_000);
    utimesSync(`${old}.lock`, past, past);
    const told: string[] = [];
    const sink = await createFileAuditSink({ path: old, onLockTakenOver: (what) => told.push(what) });
    expect(told[0]).toMatch(/took over the lock of nobody it names .*: it names no holder and its heartbeat is/);
    await sink.close();
  });

  it('repairAuditLog refuses a log whose writer holds the lock', async () => {
    const path = fresh('repair');
    const sink = await createFileAuditSink({ path });
    const { repairAuditLog } = await import('./audit.js');
    await expect(repairAuditLog(path)).rejects.toThrow(/is locked/);
    await sink.close();
    await expect(repairAuditLog(path)).resolves.toEqual({});
  });

  it('a lock that exists but cannot be read is refused, never written past', async () => {
    const path = fresh('unreadable-lock');
    mkdirSync(`${path}.lock`);
    await expect(createFileAuditSink({ path })).rejects.toThrow(
      `audit log ${path}: its lock file ${path}.lock exists but cannot be read (EISDIR: illegal operation on a directory`,
    );
    expect(existsSync(path)).toBe(false);
  });

  it('acquireAuditLock on a directory that cannot take a file says what is wrong', async () => {
    await expect(acquireAuditLock(join(dir, 'missing', 'audit.jsonl'))).rejects.toThrow(
      /its lock file .*missing\/audit\.jsonl\.lock cannot be created \(ENOENT: no such file or directory/,
    );
  });
});

describe('capacity at start', () => {
  const fs = { blocks: 1_000, bsize: 4_096 }; // 4,096,000 bytes
  it('warns when rotateBytes × (keepFiles + 1) + minFreeBytes is over the whole file system, with the numbers', async () => {
    const w = await rotationCapacity(
      '/x/audit.jsonl',
      { rotateBytes: 1_048_576, keepFiles: 3, minFreeBytes: 1 },
      async () => fs,
    );
    expect(w).toEqual({
      needed: 4_194_305,
      total: 4_096_000,
      message: expect.stringContaining(
        'audit log /x/audit.jsonl may need 4194305 bytes (audit.rotateBytes 1048576 × (audit.keepFiles 3 + 1) + audit.minFreeBytes 1), more than its whole file system (4096000 bytes)',
      ),
    });
    expect(w?.message).toContain('lower audit.rotateBytes or audit.keepFiles, or give the log a larger volume');
  });

  it('no warning when it fits, when keepFiles is 0 (unbounded: nothing to compare), without rotation, or when statfs fails', async () => {
    const fits = { rotateBytes: 1_000_000, keepFiles: 3, minFreeBytes: 96_000 };
    expect(await rotationCapacity('/x', fits, async () => fs)).toBeUndefined();
    expect(await rotationCapacity('/x', { rotateBytes: 10 ** 9, keepFiles: 0 }, async () => fs)).toBeUndefined();
    expect(await rotationCapacity('/x', { rotateBytes: 0, keepFiles: 5 }, async () => fs)).toBeUndefined();
    const failing = async () => Promise.reject(new Error('EIO'));
    expect(await rotationCapacity('/x', { rotateBytes: 10 ** 9, keepFiles: 5 }, failing)).toBeUndefined();
  });

  it('the sink tells at start against the real file system (huge keepFiles), and still starts', async () => {
    const told: string[] = [];
    const path = fresh('capacity');
    const sink = await createFileAuditSink({
      path,
      rotateBytes: 64 * 1024 * 1024,
      keepFiles: 100_000_000,
      onCapacity: (w) => told.push(w.message),
    });
    await sink.write(event(1), { durable: true });
    await sink.close();
    expect(told).toEqual([expect.stringContaining('audit.keepFiles 100000000')]);
    const small = await createFileAuditSink({
      path,
      rotateBytes: 16_384,
      keepFiles: 2,
      onCapacity: (w) => told.push(w.message),
    });
    await small.close();
    expect(told).toHaveLength(1);
  });
});
