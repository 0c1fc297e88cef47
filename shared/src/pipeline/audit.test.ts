import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AuditEvent,
  type AuditFile,
  type AuditRecord,
  CLIPPED_MARKER,
  canonicalJson,
  createFileAuditSink,
  createMemoryAuditSink,
  digestArgs,
  GENESIS_HASH,
  openAuditFile,
  redactArgs,
  type TornTail,
  verifyAuditChain,
} from './audit.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (i: number, args: unknown = { container: `web-${i}` }): AuditEvent => ({
  server: 'docker',
  tool: 'containers_restart',
  tier: 'MEDIUM',
  principal: { subject: 'agent', clientId: 'cli' },
  requestId: `r${i}`,
  phase: 'outcome',
  args,
  outcome: 'success',
  durationMs: i,
});

/** An attempt record: unlike outcome records, one that did not fit is not kept for later (its call did not run). */
const attempt = (i: number): AuditEvent => ({ ...event(i), phase: 'attempt', outcome: undefined });

let counter = 0;
const fresh = (name: string) => join(dir, `${++counter}-${name}.jsonl`);

async function writeLog(name: string, n: number): Promise<string> {
  const path = fresh(name);
  const sink = await createFileAuditSink({ path });
  for (let i = 1; i <= n; i++) await sink.write(event(i), { durable: i % 2 === 0 });
  await sink.close();
  return path;
}

const linesOf = (path: string) => readFileSync(path, 'utf8').trim().split('\n');
const recordsOf = (path: string) => linesOf(path).map((l) => JSON.parse(l) as AuditRecord);

/** The real file with hooks: counts fsyncs, and lets a test fail or delay one operation. */
function faulty(hooks: {
  append?: (data: Buffer, real: AuditFile) => Promise<number>;
  sync?: (real: AuditFile) => Promise<void>;
  truncate?: (length: number, real: AuditFile) => Promise<void>;
}) {
  const calls = { sync: 0, truncate: [] as number[] };
  const openFile = async (path: string): Promise<AuditFile> => {
    const real = await openAuditFile(path);
    return {
      ...real,
      append: (data) => (hooks.append ? hooks.append(data, real) : real.append(data)),
      sync: async () => {
        calls.sync++;
        return hooks.sync ? hooks.sync(real) : real.sync();
      },
      truncate: async (length) => {
        calls.truncate.push(length);
        return hooks.truncate ? hooks.truncate(length, real) : real.truncate(length);
      },
    };
  };
  return { openFile, calls };
}

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

/**
 * The real file on a disk that fills up: while `disk.full`, an append stores the first `keep(data)` bytes and
 * then fails with ENOSPC; with `disk.once` only the next append does.
 */
function fillingDisk(keep: (data: Buffer) => number) {
  const disk = { full: false, once: false };
  const { openFile, calls } = faulty({
    append: async (data, real) => {
      if (!disk.full) return real.append(data);
      if (disk.once) disk.full = false;
      await real.append(data.subarray(0, keep(data)));
      throw enospc();
    },
  });
  return { disk, openFile, calls };
}

describe('file audit sink: the chain', () => {
  it('writes a hash chain that verifies, seq from 1, genesis first', async () => {
    const path = await writeLog('ok', 5);
    const records = recordsOf(path);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(records[0]?.prevHash).toBe(GENESIS_HASH);
    expect(records[1]?.prevHash).toBe(records[0]?.hash);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 5 });
  });

  it('creates the log with mode 0600 and tightens an existing looser file', async () => {
    const path = await writeLog('mode', 1);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    chmodSync(path, 0o644);
    const sink = await createFileAuditSink({ path });
    await sink.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('continues the chain after reopening', async () => {
    const path = await writeLog('resume', 2);
    const sink = await createFileAuditSink({ path });
    await sink.write(event(3), { durable: true });
    await sink.close();
    expect(recordsOf(path).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 3 });
  });

  it('resumes from a last record larger than one read chunk', async () => {
    const path = fresh('big');
    let sink = await createFileAuditSink({ path });
    // 300 keys of ~400 chars: one record of ~120 KiB, read back in several 64 KiB chunks.
    const big = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'x'.repeat(400)]));
    await sink.write(event(1), { durable: false });
    await sink.write(event(2, big), { durable: true });
    await sink.close();
    sink = await createFileAuditSink({ path });
    await sink.write(event(3), { durable: true });
    await sink.close();
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 3 });
  });

  it('keeps call order under concurrent writes (group commit)', async () => {
    const path = fresh('order');
    const sink = await createFileAuditSink({ path });
    await Promise.all(Array.from({ length: 40 }, (_, i) => sink.write(event(i), { durable: i % 7 === 0 })));
    await sink.close();
    expect(recordsOf(path).map((r) => r.requestId)).toEqual(Array.from({ length: 40 }, (_, i) => `r${i}`));
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 40 });
  });

  it('group commit: the records of one event-loop turn share one write and one fsync', async () => {
    const { openFile, calls } = faulty({});
    let appends = 0;
    const counting = async (p: string) => {
      const f = await openFile(p);
      return {
        ...f,
        append: (d: Buffer) => {
          appends++;
          return f.append(d);
        },
      };
    };
    const path = fresh('group');
    const sink = await createFileAuditSink({ path, openFile: counting });
    await Promise.all(Array.from({ length: 50 }, (_, i) => sink.write(event(i), { durable: i === 7 })));
    expect([appends, calls.sync]).toEqual([1, 1]);
    await sink.close();
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 50 });
    // The baseline path, kept for the benchmark: one write and one fsync per record.
    appends = 0;
    calls.sync = 0;
    const single = await createFileAuditSink({ path: fresh('single'), openFile: counting, groupCommit: false });
    await Promise.all(Array.from({ length: 10 }, (_, i) => single.write(event(i), { durable: true })));
    expect([appends, calls.sync]).toEqual([10, 10]);
    await single.close();
  });

  it.each([
    ['an edited field', (l: string[]) => l.splice(2, 1, (l[2] as string).replace('"agent"', '"mallory"')), 3],
    ['a deleted record', (l: string[]) => l.splice(2, 1), 3],
    ['reordered records', (l: string[]) => l.splice(1, 2, l[2] as string, l[1] as string), 2],
    ['an inserted copy', (l: string[]) => l.splice(4, 0, l[1] as string), 5],
    ['a deleted first record', (l: string[]) => l.splice(0, 1), 1],
    ['a blank line', (l: string[]) => l.splice(3, 0, ''), 4],
    ['a JSON null', (l: string[]) => l.splice(3, 1, 'null'), 4],
  ])('detects %s at the right record', async (name, tamper, at) => {
    const path = await writeLog(`tamper-${name.replace(/\W/g, '')}`, 5);
    const lines = linesOf(path);
    tamper(lines);
    writeFileSync(path, `${lines.join('\n')}\n`);
    const result = await verifyAuditChain(path);
    expect(result).toMatchObject({ ok: false, brokenAt: at, records: at - 1 });
    expect(result.reason).toBeTruthy();
  });

  it('detects an edit whose hash was recomputed: the next record no longer links', async () => {
    const path = await writeLog('rehash', 4);
    const records = recordsOf(path);
    const { hash: _old, ...body } = { ...records[1], requestId: 'forged' } as AuditRecord;
    const { createHash } = await import('node:crypto');
    const hash = `sha256:${createHash('sha256').update(body.prevHash).update(canonicalJson(body)).digest('hex')}`;
    records[1] = { ...body, hash };
    writeFileSync(path, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
    expect(await verifyAuditChain(path)).toMatchObject({ ok: false, brokenAt: 3 });
  });

  it('moves a torn last line (a write cut by a crash) to a quarantine file and continues the chain', async () => {
    const path = await writeLog('cut', 2);
    const whole = readFileSync(path, 'utf8');
    const torn = '{"args":{"container":"web-3"},"argsDigest":"sha256:12';
    writeFileSync(path, `${whole}${torn}`);
    const told: TornTail[] = [];
    const sink = await createFileAuditSink({ path, onTornTail: (t) => told.push(t) });
    await sink.write(event(3), { durable: true });
    await sink.close();
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ bytes: Buffer.byteLength(torn), at: Buffer.byteLength(whole) });
    expect(readFileSync(told[0]?.quarantine as string, 'utf8')).toBe(torn);
    expect(statSync(told[0]?.quarantine as string).mode & 0o777).toBe(0o600);
    expect(recordsOf(path).map((r) => [r.seq, r.requestId])).toEqual([
      [1, 'r1'],
      [2, 'r2'],
      [3, 'r3'],
    ]);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 3 });
  });

  it('quarantines a torn FIRST line too (the crash hit the very first write)', async () => {
    const path = fresh('cut-first');
    writeFileSync(path, '{"args":{}', { mode: 0o600 });
    const told: TornTail[] = [];
    const sink = await createFileAuditSink({ path, onTornTail: (t) => told.push(t) });
    await sink.write(event(1), { durable: true });
    await sink.close();
    expect(told[0]).toMatchObject({ bytes: 10, at: 0 });
    expect(recordsOf(path)[0]).toMatchObject({ seq: 1, prevHash: GENESIS_HASH });
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 1 });
  });

  it('says which file cannot be opened and what to set', async () => {
    await expect(createFileAuditSink({ path: dir })).rejects.toMatchObject({
      code: 'ERR_AUDIT_UNAVAILABLE',
      message: expect.stringMatching(/cannot be opened \(EISDIR\); set audit.file \(RAVENHELM_AUDIT_FILE\)/),
    });
  });

  it('refuses to append to a log whose last record was edited', async () => {
    const path = await writeLog('edited-tail', 3);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"r3"', '"r9"'));
    await expect(createFileAuditSink({ path })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    await expect(createFileAuditSink({ path })).rejects.toThrow(/corrupt record/);
  });
});

describe('file audit sink: what is written', () => {
  it('never writes secret values, only their digest', async () => {
    const path = fresh('secrets');
    const sink = await createFileAuditSink({ path, secretKeys: /^vaultPath$/ });
    const args = {
      name: 'db',
      password: 'hunter2-planted',
      nested: { apiKey: 'ak-planted', list: [{ client_secret: 'cs-planted' }] },
      newValue: 'nv-planted',
      vaultPath: 'vp-planted',
      header: 'Bearer bearer-planted',
    };
    await sink.write({ ...event(1, args), sensitiveKeys: ['newValue'] }, { durable: true });
    await sink.close();
    const text = readFileSync(path, 'utf8');
    for (const planted of ['hunter2', 'ak-planted', 'cs-planted', 'nv-planted', 'vp-planted', 'bearer-planted']) {
      expect(text).not.toContain(planted);
    }
    const record = recordsOf(path)[0] as AuditRecord;
    expect(record.argsDigest).toBe(digestArgs(args));
    expect((record.args as Record<string, unknown>).name).toBe('db');
  });

  it('copies only subject, clientId and spiffeId from the principal', async () => {
    const path = fresh('principal');
    const sink = await createFileAuditSink({ path });
    const principal = { subject: 's', clientId: 'c', spiffeId: 'spiffe://td/a', token: 'tok-planted', scopes: ['x'] };
    await sink.write({ ...event(1), principal }, { durable: true });
    await sink.close();
    expect(readFileSync(path, 'utf8')).not.toContain('tok-planted');
    expect(recordsOf(path)[0]?.principal).toEqual({ subject: 's', clientId: 'c', spiffeId: 'spiffe://td/a' });
  });

  it('caps the size of one record: huge arguments are clipped with a marker, the digest covers them all', async () => {
    const path = fresh('cap');
    const sink = await createFileAuditSink({ path });
    const wide = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, 'x'.repeat(5000)]));
    const keys = { ['K'.repeat(100_000)]: 1 };
    const fanout = Array.from({ length: 200 }, () => Array.from({ length: 200 }, () => 'y'.repeat(400)));
    const escapes = Array.from({ length: 150 }, () => '\u0001'.repeat(500));
    const cjk = Array.from({ length: 150 }, () => '鴉'.repeat(500));
    for (const [i, args] of [wide, keys, fanout, escapes, cjk].entries()) {
      await sink.write(event(i, args), { durable: false });
    }
    await sink.close();
    const lines = linesOf(path);
    for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThan(34 * 1024);
    expect(lines[0]).toContain(CLIPPED_MARKER);
    expect(lines[1]).toContain('…[clipped 99872 chars]');
    expect(lines[2]).toContain(CLIPPED_MARKER);
    expect(recordsOf(path)[0]?.argsDigest).toBe(digestArgs(wide));
    expect(lines[4]).toMatch(/\[clipped: arguments of \d+ bytes after redaction; record size cap\]/);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 5 });
  });

  it('always writes a record, whatever the arguments (deep nesting, throwing getters)', async () => {
    const path = fresh('pathological');
    const sink = await createFileAuditSink({ path });
    const deep = JSON.parse(`${'['.repeat(5000)}${']'.repeat(5000)}`) as unknown;
    const hostile = {
      get boom(): string {
        throw new Error('getter exploded');
      },
    };
    await sink.write(event(1, deep), { durable: true });
    await sink.write(event(2, hostile), { durable: true });
    await sink.close();
    const records = recordsOf(path);
    expect(records.map((r) => r.requestId)).toEqual(['r1', 'r2']);
    expect(records[0]?.argsDigest).toBe(digestArgs(deep));
    expect(JSON.stringify(records[0]?.args)).toContain('[too deep]');
    expect(records[1]?.argsDigest).toMatch(/^unavailable: getter exploded/);
    expect(records[1]?.args).toMatch(/^\[unrecordable arguments: getter exploded/);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 2 });
  });

  it('records the arguments as they were at write() time', async () => {
    const path = fresh('snapshot');
    const sink = await createFileAuditSink({ path });
    const args = { container: 'before' };
    const done = sink.write(event(1, args), { durable: false });
    args.container = 'after';
    await done;
    await sink.close();
    expect(recordsOf(path)[0]?.args).toEqual({ container: 'before' });
    expect(recordsOf(path)[0]?.argsDigest).toBe(digestArgs({ container: 'before' }));
  });
});

describe('file audit sink: durability and failure', () => {
  it('resolves a durable write only after fsync', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { openFile, calls } = faulty({
      sync: async (real) => {
        await gate;
        return real.sync();
      },
    });
    const sink = await createFileAuditSink({ path: fresh('fsync'), openFile });
    let resolved = false;
    const write = sink.write(event(1), { durable: true }).then(() => {
      resolved = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(calls.sync).toBe(1);
    expect(resolved).toBe(false);
    release();
    await write;
    expect(resolved).toBe(true);
    await sink.close();
  });

  it('does not fsync non-durable writes, but close() flushes and fsyncs them', async () => {
    const path = fresh('close');
    const { openFile, calls } = faulty({});
    const sink = await createFileAuditSink({ path, openFile });
    const writes = [1, 2, 3].map((i) => sink.write(event(i), { durable: false }));
    await sink.close();
    await Promise.all(writes);
    expect(calls.sync).toBe(1);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 3 });
    await expect(sink.write(event(4), { durable: false })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
  });

  it('rejects a durable write that cannot reach the disk (/dev/full), so HIGH calls fail closed', async () => {
    const before = statSync('/dev/full').mode;
    const sink = await createFileAuditSink({ path: '/dev/full' });
    await expect(sink.write(event(1), { durable: true })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    await expect(sink.write(event(2), { durable: true })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    await sink.close().catch(() => undefined);
    expect(statSync('/dev/full').mode).toBe(before);
  });

  it('rejects a durable write when the log file was removed while open', async () => {
    const path = fresh('removed');
    const sink = await createFileAuditSink({ path });
    await sink.write(event(1), { durable: true });
    unlinkSync(path);
    await expect(sink.write(event(2), { durable: true })).rejects.toThrow(/removed or replaced.*restart/);
    await sink.close().catch(() => undefined);
  });

  it('cuts a partial append away and keeps the chain valid (disk full, then space again)', async () => {
    const path = fresh('partial');
    const { disk, openFile, calls } = fillingDisk(() => 10); // half a line reaches the file, then the disk is full
    const sink = await createFileAuditSink({ path, openFile });
    await sink.write(event(1), { durable: true });
    const sizeAfterFirst = statSync(path).size;
    Object.assign(disk, { full: true, once: true });
    await expect(sink.write(attempt(2), { durable: true })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(calls.truncate).toEqual([sizeAfterFirst]);
    expect(statSync(path).size).toBe(sizeAfterFirst);
    await sink.write(event(3), { durable: true });
    await sink.close();
    expect(recordsOf(path).map((r) => [r.seq, r.requestId])).toEqual([
      [1, 'r1'],
      [2, 'r3'],
    ]);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 2 });
  });

  it('a batch whose append fails is cut away whole: every write in it rejects, the chain stays valid', async () => {
    const path = fresh('batch-partial');
    const { disk, openFile } = fillingDisk((data) => Math.floor(data.length / 2)); // two and a half records land
    const sink = await createFileAuditSink({ path, openFile });
    await sink.write(event(1), { durable: true });
    const size = statSync(path).size;
    Object.assign(disk, { full: true, once: true });
    const batch = await Promise.allSettled([2, 3, 4, 5, 6].map((i) => sink.write(attempt(i), { durable: i === 4 })));
    expect(batch.map((r) => r.status)).toEqual(Array(5).fill('rejected'));
    expect(statSync(path).size).toBe(size);
    await sink.write(event(7), { durable: true });
    await sink.close();
    expect(recordsOf(path).map((r) => r.requestId)).toEqual(['r1', 'r7']);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 2 });
  });

  it('refuses every later write once an fsync failed', async () => {
    const { openFile } = faulty({
      sync: async () => {
        throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      },
    });
    const sink = await createFileAuditSink({ path: fresh('eio'), openFile });
    await expect(sink.write(event(1), { durable: true })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    await expect(sink.write(event(2), { durable: false })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    await sink.close();
  });

  it('refuses every later write when a failed append cannot be cut away', async () => {
    const path = fresh('notruncate');
    const { openFile } = faulty({
      append: async () => {
        throw enospc();
      },
      truncate: async () => {
        throw new Error('EROFS');
      },
    });
    const sink = await createFileAuditSink({ path, openFile });
    await expect(sink.write(event(1), { durable: false })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    await expect(sink.write(event(2), { durable: true })).rejects.toThrow(
      /refuses every write since a partial write could not be cut away \(EROFS\); restart the server/,
    );
    expect(await sink.health?.()).toMatchObject({ ok: false, reason: expect.stringMatching(/refuses every write/) });
    await sink.close();
  });

  it('keeps outcome records that did not fit on a full disk and writes them first once space is back', async () => {
    const path = fresh('deferred');
    const { disk, openFile, calls } = fillingDisk(() => 7);
    const sink = await createFileAuditSink({ path, openFile });
    await sink.write(attempt(1), { durable: true });
    disk.full = true;
    // The call ran; its outcome does not fit: the write rejects (the pipeline logs it) but the record is kept.
    await expect(sink.write(event(1), { durable: true })).rejects.toThrow(
      /no space left on device\).*partial write of 7 of \d+ bytes was cut away; outcome records are kept \(1 waiting\).*free space/,
    );
    await expect(sink.write(attempt(2), { durable: true })).rejects.toMatchObject({ details: { diskFull: true } });
    expect(await sink.health?.()).toEqual({ ok: true }); // the test's file system is not full: records fit
    disk.full = false;
    const syncs = calls.sync;
    await sink.write(attempt(3), { durable: false });
    expect(calls.sync).toBe(syncs + 1); // the kept outcome was a durable (HIGH) write: fsynced with it
    await sink.close();
    expect(recordsOf(path).map((r) => [r.requestId, r.phase])).toEqual([
      ['r1', 'attempt'],
      ['r1', 'outcome'],
      ['r3', 'attempt'],
    ]);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 3 });
  });

  it('hands kept outcome records to onUnwritten past the bound and when the log is still full at close', async () => {
    const { openFile } = faulty({
      append: async () => {
        throw enospc();
      },
    });
    const unwritten: { records: string[]; reason: string }[] = [];
    const sink = await createFileAuditSink({
      path: fresh('unwritten'),
      openFile,
      onUnwritten: (records, reason) => unwritten.push({ records, reason }),
    });
    const writes = Array.from({ length: 1030 }, (_, i) =>
      sink.write(event(i, { token: 'tok-SECRET-1' }), { durable: false }).catch(() => 'rejected'),
    );
    expect(new Set(await Promise.all(writes))).toEqual(new Set(['rejected']));
    expect(unwritten.map((u) => [u.records.length, u.reason])).toEqual([
      [6, 'more than 1024 outcome records waiting for space'],
    ]);
    await sink.close();
    expect(unwritten.map((u) => u.records.length)).toEqual([6, 1024]);
    expect(unwritten[1]?.reason).toBe('the audit log was still full at close');
    const lines = unwritten.flatMap((u) => u.records);
    expect(new Set(lines.map((l) => (JSON.parse(l) as AuditRecord).requestId)).size).toBe(1030);
    expect(lines.join('\n')).not.toContain('tok-SECRET-1');
  });

  it('health: not ok while free space is under minFreeBytes, though records that fit are written', async () => {
    const path = fresh('minfree');
    const free = (await statfs(dir)).bavail * (await statfs(dir)).bsize;
    const starved = await createFileAuditSink({ path, minFreeBytes: free * 2 + 2 ** 40 });
    const health = await starved.health?.();
    expect(health?.ok).toBe(false);
    expect(health?.reason).toMatch(/almost out of space: \d+ bytes free on its file system, under audit\.minFreeBytes/);
    await starved.write(attempt(1), { durable: true }); // it fits: written, not refused
    await starved.close();
    const roomy = await createFileAuditSink({ path, minFreeBytes: 1024 });
    expect(await roomy.health?.()).toEqual({ ok: true });
    await roomy.close();
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 1 });
  });
});

describe('memory audit sink', () => {
  it('keeps the same chained, redacted records', async () => {
    const sink = createMemoryAuditSink();
    await sink.write(event(1, { token: 'tok-planted' }), { durable: true });
    await sink.write(event(2), { durable: false });
    expect(sink.records.map((r) => r.seq)).toEqual([1, 2]);
    expect(sink.records[1]?.prevHash).toBe(sink.records[0]?.hash);
    expect(JSON.stringify(sink.records)).not.toContain('tok-planted');
    await sink.close();
    await expect(sink.write(event(3), { durable: false })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
  });
});

describe('redactArgs, digestArgs, canonicalJson', () => {
  it('redacts secret-looking keys at any depth and clips long strings and arrays', () => {
    const out = redactArgs({
      token: 't',
      list: [{ clientSecret: 's', 'api-key': 'k', Cookie: 'c' }],
      note: 'x'.repeat(600),
      many: Array.from({ length: 250 }, (_, i) => i),
    }) as Record<string, unknown>;
    expect(out.token).toBe('[redacted]');
    expect(out.list).toEqual([{ clientSecret: '[redacted]', 'api-key': '[redacted]', Cookie: '[redacted]' }]);
    expect(out.note).toBe(`${'x'.repeat(512)}…[clipped 88 chars]`);
    expect((out.many as unknown[]).length).toBe(201);
    expect((out.many as unknown[]).at(-1)).toBe('[clipped 50 items]');
  });

  it('redacts credentials by their shape under innocent keys', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
    const out = redactArgs({
      h: 'Bearer abc',
      j: jwt,
      c: `cfm_${'A'.repeat(43)}`,
      k: '-----BEGIN RSA PRIVATE KEY-----\nMII',
      ok: 'bearer of news',
    });
    expect(out).toEqual({ h: '[redacted]', j: '[redacted]', c: '[redacted]', k: '[redacted]', ok: 'bearer of news' });
  });

  it('cuts the password of a URL inside any string, keeping the rest', () => {
    expect(
      redactArgs({
        backend: 'https://svc:pw-1@10.0.0.9:8080/x',
        note: 'mirror redis://:only-pw@cache:6379 then git+ssh://git:tok@host/repo',
        plain: 'http://user@host/path and mailto:a@b',
      }),
    ).toEqual({
      backend: 'https://svc:[redacted]@10.0.0.9:8080/x',
      note: 'mirror redis://:[redacted]@cache:6379 then git+ssh://git:[redacted]@host/repo',
      plain: 'http://user@host/path and mailto:a@b',
    });
  });

  it('adds custom secret keys to the defaults instead of replacing them', () => {
    expect(redactArgs({ password: 'p', pin: '1234', other: 'o' }, /^pin$/)).toEqual({
      password: '[redacted]',
      pin: '[redacted]',
      other: 'o',
    });
  });

  it('survives circular and very deep arguments', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    expect(redactArgs(a)).toEqual({ name: 'a', self: '[circular]' });
    let deep: unknown = 'leaf';
    for (let i = 0; i < 100; i++) deep = { d: deep };
    expect(JSON.stringify(redactArgs(deep))).toContain('[too deep]');
  });

  it('gives the same digest whatever the key order, a different one for other values', () => {
    expect(digestArgs({ a: 1, b: { c: 2, d: 3 } })).toBe(digestArgs({ b: { d: 3, c: 2 }, a: 1 }));
    const nullProto = Object.assign(Object.create(null) as object, { b: 1, a: 2 });
    expect(digestArgs(nullProto)).toBe(digestArgs({ a: 2, b: 1 }));
    expect(digestArgs({ a: 1 })).not.toBe(digestArgs({ a: 2 }));
    expect(digestArgs({ a: [1, 2] })).not.toBe(digestArgs({ a: [2, 1] }));
    expect(digestArgs(undefined)).toBe(digestArgs({}));
    const proto = JSON.parse('{"__proto__":{"x":1},"a":1}') as unknown;
    expect(digestArgs(proto)).not.toBe(digestArgs({ a: 1 }));
    expect(canonicalJson(proto)).toBe('{"__proto__":{"x":1},"a":1}');
    expect(JSON.stringify(redactArgs(proto))).toBe('{"__proto__":{"x":1},"a":1}');
    expect(digestArgs({ a: 1 })).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('writes canonical JSON like JSON.stringify with sorted keys', () => {
    expect(canonicalJson({ b: [3, undefined, Number.NaN], a: { d: undefined, c: 'x' }, e: 10n })).toBe(
      '{"a":{"c":"x"},"b":[3,null,null],"e":"10"}',
    );
    expect(canonicalJson(new Date(0))).toBe('"1970-01-01T00:00:00.000Z"');
    const loop: Record<string, unknown> = {};
    loop.loop = loop;
    expect(canonicalJson(loop)).toBe('{"loop":"[circular]"}');
  });

  it('handles any nesting depth with the same text as the fast path, and never throws', () => {
    const nest = (depth: number, leaf: unknown) => {
      let v: unknown = leaf;
      for (let i = 0; i < depth; i++) v = i % 2 ? [v, undefined, 1n] : { z: v, a: Number.NaN, u: undefined };
      return v;
    };
    // Shallow enough for the recursive path: the iterative one must agree byte for byte.
    const shallow = nest(150, { d: new Date(0), s: 'x' });
    const deep = { wrap: nest(150, { d: new Date(0), s: 'x' }) };
    expect(canonicalJson(deep)).toBe(`{"wrap":${canonicalJson(shallow)}}`);
    const veryDeep = nest(50_000, 'leaf');
    const text = canonicalJson(veryDeep);
    expect(text.length).toBeGreaterThan(50_000);
    expect(text).toContain('"leaf"');
    expect(digestArgs(veryDeep)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(digestArgs(veryDeep)).not.toBe(digestArgs(nest(50_001, 'leaf')));
    // What JSON.parse makes of a deeply nested request body.
    const parsed = JSON.parse(`${'['.repeat(5000)}${']'.repeat(5000)}`) as unknown;
    expect(() => digestArgs(parsed)).not.toThrow();
  });
});

describe('ravenhelm-audit verify', () => {
  it('exits 0 on an intact chain and 1 naming the broken record', async () => {
    const { runAuditCli } = await import('../audit-cli.js');
    const path = await writeLog('cli', 3);
    const out: string[] = [];
    const sink = { write: (s: string) => out.push(s) };
    expect(await runAuditCli(['verify', path], sink, sink)).toBe(0);
    expect(out.join('')).toBe('ok: 3 records, chain intact\n');
    const lines = linesOf(path);
    lines.splice(1, 1);
    writeFileSync(path, `${lines.join('\n')}\n`);
    expect(await runAuditCli(['verify', path], sink, sink)).toBe(1);
    expect(out.at(-1)).toMatch(/^broken at record 2: /);
    expect(await runAuditCli(['verify'], sink, sink)).toBe(2);
    expect(await runAuditCli(['verify', join(dir, 'missing.jsonl')], sink, sink)).toBe(2);
    expect(out.at(-1)).toMatch(/ENOENT/);
  });

  it('repair moves a torn last line aside and verifies; it leaves a broken chain alone', async () => {
    const { runAuditCli } = await import('../audit-cli.js');
    const path = await writeLog('cli-repair', 3);
    const out: string[] = [];
    const sink = { write: (s: string) => out.push(s) };
    expect(await runAuditCli(['repair', path], sink, sink)).toBe(0);
    expect(out.join('')).toBe('nothing to repair: the log ends with a whole record\nok: 3 records, chain intact\n');
    const whole = readFileSync(path, 'utf8');
    writeFileSync(path, `${whole}{"args":{"torn`);
    expect(await runAuditCli(['verify', path], sink, sink)).toBe(1);
    expect(out.at(-1)).toBe(
      `the last line is cut (a crash during a write): 'ravenhelm-audit repair ${path}' moves it aside\n`,
    );
    out.length = 0;
    expect(await runAuditCli(['repair', path], sink, sink)).toBe(0);
    expect(out[0]).toMatch(/^moved a torn last line \(14 bytes, never acknowledged\) to .*cli-repair\.jsonl\.torn-/);
    expect(out[1]).toBe('ok: 3 records, chain intact\n');
    expect(readFileSync(path, 'utf8')).toBe(whole);
    const lines = linesOf(path);
    lines.splice(1, 1);
    writeFileSync(path, `${lines.join('\n')}\n`);
    expect(await runAuditCli(['repair', path], sink, sink)).toBe(1);
    expect(readFileSync(path, 'utf8')).toBe(`${lines.join('\n')}\n`);
    expect(await runAuditCli(['repair', join(dir, 'missing.jsonl')], sink, sink)).toBe(2);
    expect(await runAuditCli(['repair'], sink, sink)).toBe(2);
  });
});
