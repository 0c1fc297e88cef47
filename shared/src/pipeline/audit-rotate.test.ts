import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { runAuditCli } from '../audit-cli.js';
import { loadConfig } from '../config.js';
import {
  type AuditEvent,
  type AuditFile,
  type AuditRecord,
  type CommittedRecord,
  createFileAuditSink,
  GENESIS_HASH,
  openAuditFile,
  type RotationReport,
  verifyAuditChain,
} from './audit.js';
import { appendFallback } from './audit-fallback.js';
import { listRotated, nextRotatedName, rotationStamp } from './audit-rotate.js';
import { verifyAuditSet } from './audit-verify.js';

const root = mkdtempSync(join(tmpdir(), 'rh-audit-rotate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** A fresh directory per test: retention and the rotated-file listing look at the whole directory. */
const freshLog = () => {
  const dir = join(root, `t${++counter}`);
  mkdirSync(dir);
  return join(dir, 'audit.jsonl');
};

const event = (i: number, tier: AuditEvent['tier'] = 'MEDIUM'): AuditEvent => ({
  server: 'docker',
  tool: 'containers_restart',
  tier,
  principal: { subject: 'agent', clientId: 'cli' },
  requestId: `r${i}`,
  phase: 'outcome',
  args: { container: `web-${i}`, note: 'x'.repeat(100) },
  outcome: 'success',
  durationMs: i,
});

const recordsOf = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord & { event?: string; previousFile?: string });

/** The log's files in chain order: rotated ones oldest first, then the live one. */
async function filesOf(path: string): Promise<string[]> {
  return [...(await listRotated(path)).map((r) => r.path), ...(existsSync(path) ? [path] : [])];
}

/** openAuditFile, except that the `nth` open (the first is the sink's own, then one per rotation) fails with EMFILE. */
function openFailingAt(nth: number): (path: string) => Promise<AuditFile> {
  let opens = 0;
  return async (p) => {
    if (++opens === nth) throw Object.assign(new Error('EMFILE: too many open files, open'), { code: 'EMFILE' });
    return openAuditFile(p);
  };
}

const cli = async (argv: string[]) => {
  const out: string[] = [];
  const sink = { write: (s: string) => out.push(s) };
  const code = await runAuditCli(argv, sink, sink);
  return { code, out: out.join('') };
};

/** Writes `n` records one after the other (each its own batch) into a log rotating at `rotateBytes`. */
async function rotatedLog(n: number, rotateBytes = 4096, keepFiles = 100): Promise<string> {
  const path = freshLog();
  const sink = await createFileAuditSink({ path, server: 'docker', rotateBytes, keepFiles });
  for (let i = 1; i <= n; i++) await sink.write(event(i), { durable: false });
  await sink.close();
  return path;
}

describe('audit log rotation', () => {
  it('rotates at the threshold between batches under concurrent writes: every record once, the chain unbroken across files', async () => {
    const path = freshLog();
    const rotateBytes = 64 * 1024;
    const reports: RotationReport[] = [];
    const committed: CommittedRecord[] = [];
    const sink = await createFileAuditSink({
      path,
      server: 'docker',
      rotateBytes,
      keepFiles: 100,
      onRotate: (r) => reports.push(r),
      onCommit: (records) => committed.push(...records),
    });
    // 2,000 writes in waves of 100 concurrent ones (group commit: a wave is one or a few batches).
    for (let wave = 0; wave < 20; wave++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, k) => sink.write(event(wave * 100 + k + 1), { durable: k % 10 === 0 })),
      );
    }
    await sink.close();
    const files = await filesOf(path);
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(reports.filter((r) => r.kind === 'rotated')).toHaveLength(files.length - 1);
    for (const f of files.slice(0, -1)) expect(statSync(f).size).toBeGreaterThanOrEqual(rotateBytes);
    const all = files.flatMap(recordsOf);
    const ids = all.filter((r) => r.event === undefined).map((r) => r.requestId);
    expect(ids).toHaveLength(2000);
    expect(new Set(ids).size).toBe(2000);
    // seq runs on across files; each later file starts with a marker naming the file before it.
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    expect(all[0]?.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < files.length; i++) {
      const first = recordsOf(files[i] as string)[0];
      expect(first).toMatchObject({ event: 'audit.rotated', previousFile: basename(files[i - 1] as string) });
    }
    // Shipping saw the same chain, markers included, in order.
    expect(committed.map((c) => c.seq)).toEqual(all.map((r) => r.seq));
    expect(committed.filter((c) => c.phase === 'rotation')).toHaveLength(files.length - 1);
    expect(await verifyAuditSet(path)).toMatchObject({ ok: true, records: all.length });
    expect(await verifyAuditChain(path)).toMatchObject({
      ok: true,
      continuesFrom: { file: basename(files.at(-2) as string) },
    });
  });

  it('keeps exactly keepFiles rotated files, removing only this log’s rotated files', async () => {
    const path = freshLog();
    const dir = join(path, '..');
    const bystanders = [
      'audit.jsonl.torn-2026-01-01T00-00-00-000Z-abcdef',
      'audit.jsonl.20200101T000000.000Z.gz',
      'audit.jsonl.bak',
      'other.jsonl.20200101T000000.000Z',
      'xaudit.jsonl.20200101T000000.000Z',
    ];
    for (const name of bystanders) writeFileSync(join(dir, name), 'keep me\n');
    const reports: RotationReport[] = [];
    const sink = await createFileAuditSink({ path, rotateBytes: 2048, keepFiles: 2, onRotate: (r) => reports.push(r) });
    for (let i = 1; i <= 60; i++) await sink.write(event(i), { durable: false });
    await sink.close();
    const rotations = reports.filter((r) => r.kind === 'rotated');
    expect(rotations.length).toBeGreaterThanOrEqual(5);
    const rotated = await listRotated(path);
    expect(rotated.map((r) => r.name)).toEqual(rotations.slice(-2).map((r) => r.rotatedTo));
    expect(rotations.flatMap((r) => r.removed)).toEqual(rotations.slice(0, -2).map((r) => r.rotatedTo));
    for (const name of bystanders) expect(readFileSync(join(dir, name), 'utf8')).toBe('keep me\n');
    expect(readdirSync(dir).sort()).toEqual([...bystanders, ...rotated.map((r) => r.name), 'audit.jsonl'].sort());
    const verdict = await verifyAuditSet(path);
    expect(verdict.ok).toBe(true);
    expect(verdict.files[0]?.says).toMatch(
      new RegExp(`starts at rotation from ${rotations.at(-3)?.rotatedTo} \\(not present: removed by retention\\)`),
    );
  });

  it('never has more than keepFiles rotated files, even at a crash between the rename and the retention', async () => {
    // A SIGKILL in the middle of a rotation keeps whatever is on disk at that moment, and a start does not
    // run retention: the rotated files counted right after the rename (when the new file is opened) are
    // what such a crash leaves (test/kit/sigkill-rotate.test.ts kills real processes there).
    const path = freshLog();
    const countedAtRename: number[] = [];
    let opened = 0;
    const sink = await createFileAuditSink({
      path,
      rotateBytes: 2048,
      keepFiles: 2,
      openFile: async (p) => {
        if (opened++ > 0) countedAtRename.push((await listRotated(path)).length);
        return openAuditFile(p);
      },
    });
    for (let i = 1; i <= 60; i++) await sink.write(event(i), { durable: false });
    await sink.close();
    expect(countedAtRename.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...countedAtRename)).toBe(2);
    expect(await listRotated(path)).toHaveLength(2);
    expect((await verifyAuditSet(path)).ok).toBe(true);
  });

  it('keepFiles 1 with rotations in one millisecond: every rotated name new, the set verifies', async () => {
    // Retention before the rename must not free the name the rename then takes: the next file's marker
    // would name its own file as the one it continues.
    const path = freshLog();
    const reports: RotationReport[] = [];
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-12-05T12:00:00.000Z'));
    try {
      const sink = await createFileAuditSink({
        path,
        rotateBytes: 2048,
        keepFiles: 1,
        onRotate: (r) => reports.push(r),
      });
      for (let i = 1; i <= 60; i++) await sink.write(event(i), { durable: false });
      await sink.close();
    } finally {
      vi.useRealTimers();
    }
    const names = reports.flatMap((r) => (r.kind === 'rotated' ? [r.rotatedTo] : []));
    expect(names.length).toBeGreaterThanOrEqual(5);
    expect(new Set(names).size).toBe(names.length);
    expect((await listRotated(path)).map((r) => r.name)).toEqual(names.slice(-1));
    const verdict = await verifyAuditSet(path);
    expect(verdict.files.filter((f) => !f.ok)).toEqual([]);
  });

  it('removes no rotated file unless keepFiles is set (deleting audit records is never a default)', async () => {
    const path = freshLog();
    const reports: RotationReport[] = [];
    const sink = await createFileAuditSink({ path, rotateBytes: 2048, onRotate: (r) => reports.push(r) });
    for (let i = 1; i <= 200; i++) await sink.write(event(i), { durable: false });
    await sink.close();
    const rotations = reports.filter((r) => r.kind === 'rotated');
    // more rotations than any small default would keep
    expect(rotations.length).toBeGreaterThanOrEqual(15);
    expect(rotations.flatMap((r) => r.removed)).toEqual([]);
    expect((await listRotated(path)).map((r) => r.name)).toEqual(rotations.map((r) => r.rotatedTo));
    const verdict = await verifyAuditSet(path);
    expect(verdict.ok).toBe(true);
    expect(verdict.records).toBe(200 + rotations.length);
  });

  it('fsyncs a durable write in the file it ends up in, on either side of a rotation', async () => {
    const path = freshLog();
    const events: { handle: number; kind: 'append' | 'sync' | 'resolved'; text: string }[] = [];
    let handles = 0;
    const openFile = async (p: string): Promise<AuditFile> => {
      const real = await openAuditFile(p);
      const handle = ++handles;
      return {
        ...real,
        append: async (data) => {
          events.push({ handle, kind: 'append', text: data.toString('utf8') });
          return real.append(data);
        },
        sync: async () => {
          events.push({ handle, kind: 'sync', text: '' });
          return real.sync();
        },
      };
    };
    const sink = await createFileAuditSink({ path, rotateBytes: 3000, openFile });
    const durable: number[] = [];
    for (let i = 1; i <= 80; i++) {
      const isDurable = i % 3 === 0;
      if (isDurable) durable.push(i);
      // Pairs of writes share a batch: a durable record sometimes lands in the batch right after a rotation.
      const writes = [sink.write(event(i, isDurable ? 'HIGH' : 'MEDIUM'), { durable: isDurable })];
      if (i % 2 === 0) writes.push(sink.write(event(1000 + i), { durable: false }));
      await Promise.all(
        writes.map((w, k) => w.then(() => k === 0 && events.push({ handle: 0, kind: 'resolved', text: `r${i}"` }))),
      );
    }
    await sink.close();
    expect(handles).toBeGreaterThanOrEqual(4);
    for (const i of durable) {
      const appended = events.findIndex((e) => e.kind === 'append' && e.text.includes(`"requestId":"r${i}"`));
      const resolved = events.findIndex((e) => e.kind === 'resolved' && e.text === `r${i}"`);
      const handle = events[appended]?.handle;
      const synced = events.slice(appended + 1, resolved).some((e) => e.kind === 'sync' && e.handle === handle);
      expect({ i, appended: appended >= 0, synced }).toEqual({ i, appended: true, synced: true });
    }
    expect(await verifyAuditSet(path)).toMatchObject({ ok: true });
  });

  it('fsyncs a large full file in the background first: writers are not held by it, the rotation follows', async () => {
    const path = freshLog();
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = 0;
    let opens = 0;
    const openFile = async (p: string): Promise<AuditFile> => {
      const real = await openAuditFile(p);
      const first = ++opens === 1;
      return {
        ...real,
        sync: async () => {
          if (first) {
            held++;
            await gate;
          }
          return real.sync();
        },
      };
    };
    const reports: RotationReport[] = [];
    const sink = await createFileAuditSink({
      path,
      rotateBytes: 300 * 1024,
      openFile,
      onRotate: (r) => reports.push(r),
    });
    const big = (i: number) => ({ ...event(i), args: { container: `web-${i}`, note: 'x'.repeat(600) } });
    let i = 0;
    while (statSync(path).size < 300 * 1024) await sink.write(big(++i), { durable: false });
    // Past the size: the next batches start the background fsync and go on while it is held.
    for (let k = 0; k < 50; k++) await sink.write(big(++i), { durable: false });
    expect({ held, reports }).toEqual({ held: 1, reports: [] });
    release();
    for (let k = 0; k < 200 && reports.length === 0; k++) {
      await sink.write(big(++i), { durable: false });
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await sink.close();
    expect(reports.map((r) => r.kind)).toEqual(['rotated']);
    expect(held).toBe(2); // the background fsync, then the rotation's own (short) one
    const verdict = await verifyAuditSet(path);
    expect(verdict).toMatchObject({ ok: true, records: i + 1 });
  });

  it('names rotated files in chain order even for two rotations in one millisecond or a clock set back', () => {
    const at = new Date('2026-12-05T11:46:23.123Z');
    expect(rotationStamp(at)).toBe('20261205T114623.123Z');
    const first = nextRotatedName('/x/audit.jsonl', [], at);
    expect(first).toBe('audit.jsonl.20261205T114623.123Z');
    const existing = [{ name: first, path: `/x/${first}`, stamp: '20261205T114623.123Z', n: 0 }];
    expect(nextRotatedName('/x/audit.jsonl', existing, at)).toBe('audit.jsonl.20261205T114623.123Z-1');
    const back = new Date('2026-12-05T11:00:00.000Z');
    expect(nextRotatedName('/x/audit.jsonl', [...existing, { ...existing[0], n: 1 } as never], back)).toBe(
      'audit.jsonl.20261205T114623.123Z-2',
    );
    expect(nextRotatedName('/x/audit.jsonl', existing, new Date('2026-12-05T11:46:23.124Z'))).toBe(
      'audit.jsonl.20261205T114623.124Z',
    );
  });
});

describe('audit log rotation: a crash at any point, then the next start', () => {
  /** A log of `n` records that the crash left renamed to its rotated name (a rename that reached the disk). */
  async function renamedLog(n: number) {
    const path = freshLog();
    const sink = await createFileAuditSink({ path });
    for (let i = 1; i <= n; i++) await sink.write(event(i), { durable: true });
    await sink.close();
    const rotated = `${path}.20261205T114623.123Z`;
    renameSync(path, rotated);
    return { path, rotated, last: recordsOf(rotated).at(-1) as AuditRecord };
  }

  async function expectResumed(path: string, rotated: string, last: AuditRecord) {
    const reports: RotationReport[] = [];
    const sink = await createFileAuditSink({ path, server: 'docker', onRotate: (r) => reports.push(r) });
    await sink.write(event(99), { durable: true });
    await sink.close();
    expect(reports).toEqual([{ kind: 'resumed', from: basename(rotated) }]);
    const [marker, next] = recordsOf(path);
    expect(marker).toMatchObject({
      event: 'audit.rotated',
      previousFile: basename(rotated),
      prevHash: last.hash,
      seq: last.seq + 1,
    });
    expect(next).toMatchObject({ requestId: 'r99', seq: last.seq + 2 });
    expect(await verifyAuditSet(path)).toMatchObject({ ok: true, records: last.seq + 2 });
  }

  it('renamed, but no new file yet: the start writes the marker continuing from the rotated file', async () => {
    const { path, rotated, last } = await renamedLog(3);
    await expectResumed(path, rotated, last);
  });

  it('new file created, marker not written: the same', async () => {
    const { path, rotated, last } = await renamedLog(3);
    writeFileSync(path, '', { mode: 0o600 });
    await expectResumed(path, rotated, last);
  });

  it('marker torn: it is moved aside, and a whole marker written', async () => {
    const { path, rotated, last } = await renamedLog(3);
    writeFileSync(path, `{"event":"audit.rotated","previousFile":"${basename(rotated)}","prevH`, { mode: 0o600 });
    const torn: string[] = [];
    const sink = await createFileAuditSink({ path, onTornTail: (t) => torn.push(t.quarantine) });
    await sink.close();
    expect(torn).toHaveLength(1);
    expect(recordsOf(path)).toHaveLength(1);
    expect(recordsOf(path)[0]).toMatchObject({ event: 'audit.rotated', prevHash: last.hash });
    expect(await verifyAuditSet(path)).toMatchObject({ ok: true, records: last.seq + 1 });
  });

  it('a marker written whole before the crash: the start simply continues', async () => {
    const path = await rotatedLog(40);
    const before = await verifyAuditSet(path);
    const sink = await createFileAuditSink({ path, rotateBytes: 4096 });
    await sink.write(event(500), { durable: true });
    await sink.close();
    expect(await verifyAuditSet(path)).toMatchObject({ ok: true, records: before.records + 1 });
  });

  it('a fallback file waiting at that start is appended after the marker; health stays ok', async () => {
    const { path, rotated, last } = await renamedLog(2);
    const fallbackPath = join(root, `fallback-${counter}.jsonl`);
    const kept = { ...event(7), phase: 'outcome', time: new Date().toISOString(), argsDigest: 'sha256:00', args: {} };
    await appendFallback(fallbackPath, [JSON.stringify({ ...kept, principal: { subject: 'agent' } })]);
    const replays: unknown[] = [];
    const sink = await createFileAuditSink({
      path,
      server: 'docker',
      fallbackPath,
      minFreeBytes: 1024,
      onFallback: (r) => replays.push(r),
    });
    expect(await sink.health?.()).toEqual({ ok: true });
    await sink.close();
    expect(replays).toEqual([{ kind: 'replayed', records: 1, torn: '' }]);
    expect(recordsOf(path).map((r) => [r.event ?? r.requestId, r.seq])).toEqual([
      ['audit.rotated', last.seq + 1],
      ['r7', last.seq + 2],
    ]);
    expect(await verifyAuditSet(path)).toMatchObject({ ok: true, records: last.seq + 2 });
    expect(basename(rotated)).toBe(recordsOf(path)[0]?.previousFile);
  });

  it('refuses to start from a rotated file whose end is torn or edited, saying what to run', async () => {
    const { path, rotated } = await renamedLog(2);
    const whole = readFileSync(rotated, 'utf8');
    writeFileSync(rotated, `${whole}{"torn`);
    await expect(createFileAuditSink({ path })).rejects.toThrow(
      `does not end with a whole record; run 'ravenhelm-audit repair ${rotated}'`,
    );
    const lines = whole.trim().split('\n');
    lines.push((lines.pop() as string).replace('"outcome":"success"', '"outcome":"error"'));
    writeFileSync(rotated, `${lines.join('\n')}\n`);
    await expect(createFileAuditSink({ path })).rejects.toThrow(
      /its last record is corrupt \(record content does not match/,
    );
    expect(readFileSync(path, 'utf8')).toBe('');
  });

  it('a rotation that fails to start the new file is undone: the log stays the full file and writing goes on', async () => {
    const path = freshLog();
    const openFile = openFailingAt(2);
    const reports: RotationReport[] = [];
    const sink = await createFileAuditSink({ path, rotateBytes: 1024, openFile, onRotate: (r) => reports.push(r) });
    for (let i = 1; i <= 12; i++) await sink.write(event(i), { durable: i % 4 === 0 });
    await sink.close();
    expect(reports).toEqual([
      {
        kind: 'failed',
        reason: expect.stringMatching(
          /could not be rotated: the new file could not be started \(EMFILE.*the next try in 30 s/,
        ),
        retryInMs: 30_000,
      },
    ]);
    expect(await listRotated(path)).toEqual([]);
    expect(recordsOf(path).map((r) => r.requestId)).toEqual(Array.from({ length: 12 }, (_, i) => `r${i + 1}`));
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 12 });
  });

  it('a rotation that fails after its retention says which file retention removed (one rotation early)', async () => {
    const path = freshLog();
    const openFile = openFailingAt(3);
    const reports: RotationReport[] = [];
    const sink = await createFileAuditSink({
      path,
      rotateBytes: 1024,
      keepFiles: 1,
      openFile,
      onRotate: (r) => reports.push(r),
    });
    for (let i = 1; i <= 16; i++) await sink.write(event(i), { durable: false });
    await sink.close();
    const [first, failed] = reports;
    expect(first?.kind).toBe('rotated');
    const removedEarly = first?.kind === 'rotated' ? first.rotatedTo : '';
    expect(failed).toEqual({
      kind: 'failed',
      reason: expect.stringContaining(`(retention had removed ${removedEarly} before it: one rotation early)`),
      retryInMs: 30_000,
    });
    expect(await listRotated(path)).toEqual([]);
    const verdict = await verifyAuditSet(path);
    expect(verdict.ok).toBe(true);
    expect(verdict.files[0]?.says).toContain(
      `starts at rotation from ${removedEarly} (not present: removed by retention)`,
    );
  });

  it('a marker that cannot be made durable is undone too', async () => {
    const path = freshLog();
    let opens = 0;
    const openFile = async (p: string): Promise<AuditFile> => {
      const real = await openAuditFile(p);
      if (++opens !== 2) return real;
      return {
        ...real,
        sync: async () => Promise.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })),
      };
    };
    const reports: RotationReport[] = [];
    const sink = await createFileAuditSink({ path, rotateBytes: 1024, openFile, onRotate: (r) => reports.push(r) });
    for (let i = 1; i <= 12; i++) await sink.write(event(i), { durable: true });
    await sink.close();
    expect(reports.map((r) => r.kind)).toEqual(['failed']);
    expect(await listRotated(path)).toEqual([]);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 12 });
  });
});

describe('ravenhelm-audit verify across rotated files', () => {
  it('verify --all passes an intact set; verify of one file says which file it continues from', async () => {
    const path = await rotatedLog(60, 4096, 2);
    const rotated = await listRotated(path);
    expect(rotated).toHaveLength(2);
    const all = await cli(['verify', path, '--all']);
    expect(all.code).toBe(0);
    const lines = all.out.trim().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(
        `^${rotated[0]?.name}: \\d+ records, seq \\d+\\.\\.\\d+, starts at rotation from audit\\.jsonl\\.\\d{8}T\\d{6}\\.\\d{3}Z(-\\d+)? \\(not present: removed by retention\\)$`,
      ),
    );
    expect(lines[1]).toMatch(new RegExp(`^${rotated[1]?.name}: .*, continues ${rotated[0]?.name}$`));
    expect(lines[2]).toMatch(new RegExp(`^audit\\.jsonl: .*, continues ${rotated[1]?.name}$`));
    expect(lines[3]).toMatch(/^ok: 3 files, \d+ records, chain intact across files$/);
    const one = await cli(['verify', path]);
    expect(one).toMatchObject({
      code: 0,
      out: expect.stringContaining(`chain intact; continues from ${rotated[1]?.name}`),
    });
    expect((await cli(['repair', path, '--all'])).code).toBe(2);
  });

  it('reports a tampered middle file with exit code 1', async () => {
    const path = await rotatedLog(60);
    const rotated = await listRotated(path);
    const middle = rotated[1]?.path as string;
    const text = readFileSync(middle, 'utf8');
    writeFileSync(middle, text.replace('"container":"web-', '"container":"evil-'));
    const { code, out } = await cli(['verify', path, '--all']);
    expect(code).toBe(1);
    expect(out).toContain(`FAILED ${rotated[1]?.name}: broken at record `);
    expect(out).toContain('record content does not match its hash (edited)');
    expect(out).toMatch(/broken: \d+ files? failed/);
  });

  it('reports a missing middle file, and records cut from the end of one, with exit code 1', async () => {
    const path = await rotatedLog(100);
    const rotated = await listRotated(path);
    expect(rotated.length).toBeGreaterThanOrEqual(4);
    rmSync(rotated[1]?.path as string);
    const missing = await cli(['verify', path, '--all']);
    expect(missing.code).toBe(1);
    expect(missing.out).toContain(
      `FAILED ${rotated[2]?.name}: gap: ${rotated[1]?.name} is missing between ${rotated[0]?.name} and this file`,
    );
    const cut = readFileSync(rotated[3]?.path as string, 'utf8')
      .split('\n')
      .filter(Boolean);
    writeFileSync(rotated[3]?.path as string, `${cut.slice(0, -1).join('\n')}\n`);
    const shortened = await cli(['verify', path, '--all']);
    expect(shortened.code).toBe(1);
    expect(shortened.out).toContain(
      `FAILED ${rotated[4]?.name ?? 'audit.jsonl'}: does not continue ${rotated[3]?.name}`,
    );
  });

  it('names an edited rotation marker, and points at repair for a live file cut by a crash', async () => {
    const path = await rotatedLog(30);
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('"previousFile":"audit.jsonl.');
    writeFileSync(path, text.replace('"previousFile":"audit.jsonl.', '"previousFile":"audit.jsonl.1'));
    const edited = await cli(['verify', path, '--all']);
    expect(edited.code).toBe(1);
    expect(edited.out).toContain(
      'FAILED audit.jsonl: broken at record 1: rotation marker: record content does not match its hash (edited)',
    );
    writeFileSync(path, `${text}{"args":{"to`);
    const torn = await cli(['verify', path, '--all']);
    expect(torn.code).toBe(1);
    expect(torn.out).toContain(
      `its last line is cut (a crash during a write): 'ravenhelm-audit repair ${path}' moves it aside`,
    );
  });

  it('verify --all on a log that never rotated checks its one file', async () => {
    const path = await rotatedLog(3, 0);
    expect(await cli(['verify', path, '--all'])).toEqual({
      code: 0,
      out: 'audit.jsonl: 3 records, seq 1..3, starts at genesis\nok: 1 file, 3 records, chain intact across files\n',
    });
  });

  it('says when the live file is absent after a rotation cut short, and exits 2 when there is no log at all', async () => {
    const path = await rotatedLog(30);
    rmSync(path);
    const { code, out } = await cli(['verify', path, '--all']);
    expect(code).toBe(0);
    expect(out).toContain('audit.jsonl: not present (a rotation cut short: the next start continues the chain)');
    expect((await cli(['verify', join(root, 'nothing.jsonl'), '--all'])).code).toBe(2);
  });
});

describe('audit.rotateBytes and audit.keepFiles settings', () => {
  const backendSchema = z.object({});
  it('default to 64 MiB and keeping every file, read the environment, and refuse values out of range by name', () => {
    expect(loadConfig({ backendSchema, env: {} }).audit).toMatchObject({
      rotateBytes: 64 * 1024 * 1024,
      keepFiles: 0,
    });
    const set = loadConfig({
      backendSchema,
      env: { RAVENHELM_AUDIT_ROTATE_BYTES: '0', RAVENHELM_AUDIT_KEEP_FILES: '3' },
    });
    expect(set.audit).toMatchObject({ rotateBytes: 0, keepFiles: 3 });
    expect(() => loadConfig({ backendSchema, env: { RAVENHELM_AUDIT_ROTATE_BYTES: '4096' } })).toThrow(
      /audit\.rotateBytes.*must be 0 \(no rotation\) or from 16384 bytes/s,
    );
    expect(() => loadConfig({ backendSchema, env: { RAVENHELM_AUDIT_KEEP_FILES: '-1' } })).toThrow(
      /audit\.keepFiles.*must be 0 \(keep every file\) or more/s,
    );
  });
});
