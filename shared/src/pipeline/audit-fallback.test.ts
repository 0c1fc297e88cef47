import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AuditEvent,
  type AuditFile,
  type AuditRecord,
  createFileAuditSink,
  openAuditFile,
  verifyAuditChain,
} from './audit.js';
import { readFallback } from './audit-fallback.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-audit-fallback-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
const fresh = (name: string) => join(dir, `${++counter}-${name}`);

const call = (i: number, phase: AuditEvent['phase']): AuditEvent => ({
  server: 'secrets',
  tool: 'secrets_rotate',
  tier: 'HIGH',
  principal: { subject: 'agent' },
  requestId: `r${i}`,
  phase,
  args: { name: `db-${i}`, password: 'pw-SECRET-77' },
  ...(phase === 'outcome' ? { outcome: 'success' as const, durationMs: i } : {}),
});

/** The real file, whose appends fail with ENOSPC while `disk.full`. */
function diskThatFills() {
  const disk = { full: false };
  const openFile = async (path: string): Promise<AuditFile> => {
    const real = await openAuditFile(path);
    return {
      ...real,
      append: async (data) => {
        if (disk.full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return real.append(data);
      },
    };
  };
  return { disk, openFile };
}

const recordsOf = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord);

/** A log whose 3 calls ran (attempts written) and whose outcomes went to the fallback file at close. */
async function stoppedWhileFull(): Promise<{ path: string; fallbackPath: string; unwritten: string[] }> {
  const path = fresh('audit.jsonl');
  const fallbackPath = fresh('fallback.jsonl');
  const { disk, openFile } = diskThatFills();
  const unwritten: string[] = [];
  const sink = await createFileAuditSink({
    path,
    openFile,
    fallbackPath,
    onUnwritten: (_, why) => unwritten.push(why),
  });
  for (const i of [1, 2, 3]) await sink.write(call(i, 'attempt'), { durable: true });
  disk.full = true;
  for (const i of [1, 2, 3]) await expect(sink.write(call(i, 'outcome'), { durable: true })).rejects.toThrow(/kept/);
  await sink.close();
  return { path, fallbackPath, unwritten };
}

describe('the audit fallback file', () => {
  it('takes the outcome records still kept at a stop on a full disk; the next start appends them to the chain', async () => {
    const { path, fallbackPath, unwritten } = await stoppedWhileFull();
    expect(unwritten).toEqual([
      `the audit log was still full at close; they are also in the fallback file ${fallbackPath}, appended to the log at the next start`,
    ]);
    const fallback = await readFallback(fallbackPath);
    expect(fallback?.records.map((r) => [r.requestId, r.phase])).toEqual([
      ['r1', 'outcome'],
      ['r2', 'outcome'],
      ['r3', 'outcome'],
    ]);
    expect(readFileSync(fallbackPath, 'utf8')).not.toContain('pw-SECRET-77');
    expect(recordsOf(path)).toHaveLength(3);

    const replays: unknown[] = [];
    const sink = await createFileAuditSink({ path, fallbackPath, onFallback: (r) => replays.push(r) });
    expect(replays).toEqual([{ kind: 'replayed', records: 3, torn: '' }]);
    expect(existsSync(fallbackPath)).toBe(false);
    await sink.write(call(4, 'attempt'), { durable: true }); // the chain continues after them
    await sink.close();
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 7 });
    const records = recordsOf(path);
    expect(records.map((r) => `${r.requestId}/${r.phase}`)).toEqual([
      'r1/attempt',
      'r2/attempt',
      'r3/attempt',
      'r1/outcome',
      'r2/outcome',
      'r3/outcome',
      'r4/attempt',
    ]);
    expect(records.slice(3, 6).map((r) => r.fallbackDigest)).toEqual(Array(3).fill(fallback?.digest));
    expect(records[6]?.fallbackDigest).toBeUndefined();
  });

  it('a start cut short after the replay (the file not yet removed) removes it without appending twice', async () => {
    const { path, fallbackPath } = await stoppedWhileFull();
    const content = readFileSync(fallbackPath);
    await (await createFileAuditSink({ path, fallbackPath })).close();
    writeFileSync(fallbackPath, content); // as if the process died between the fsync and the unlink
    const replays: unknown[] = [];
    await (await createFileAuditSink({ path, fallbackPath, onFallback: (r) => replays.push(r) })).close();
    expect(replays).toEqual([{ kind: 'already-replayed', records: 3 }]);
    expect(existsSync(fallbackPath)).toBe(false);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 6 });
  });

  it('leaves a fallback file that is not all outcome records without chain fields, and the log as it was', async () => {
    const { path, fallbackPath } = await stoppedWhileFull();
    const lines = readFileSync(fallbackPath, 'utf8').split('\n');
    writeFileSync(fallbackPath, [lines[0], '{"phase":"outcome","seq":9}', ''].join('\n'));
    const replays: { kind: string; reason?: string }[] = [];
    await (await createFileAuditSink({ path, fallbackPath, onFallback: (r) => replays.push(r) })).close();
    expect(replays).toEqual([
      {
        kind: 'not-replayed',
        reason: `the fallback file ${fallbackPath} line 2 has 'seq' (a fallback record has no chain fields); it is left as it is`,
      },
    ]);
    expect(existsSync(fallbackPath)).toBe(true);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 3 });
  });

  it("leaves a fallback file holding another server's records (one path given to two servers)", async () => {
    const { path, fallbackPath } = await stoppedWhileFull();
    const replays: { kind: string; reason?: string }[] = [];
    await (
      await createFileAuditSink({ path, fallbackPath, server: 'docker', onFallback: (r) => replays.push(r) })
    ).close();
    expect(replays).toEqual([
      {
        kind: 'not-replayed',
        reason: `the fallback file ${fallbackPath} line 1 is a record of server "secrets", not of docker; it is left as it is (give each server its own audit.fallbackFile)`,
      },
    ]);
    expect(existsSync(fallbackPath)).toBe(true);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 3 });
    // Its own server takes them.
    await (await createFileAuditSink({ path, fallbackPath, server: 'secrets' })).close();
    expect(existsSync(fallbackPath)).toBe(false);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 6 });
  });

  it('keeps the file for the next start when the log still cannot take the records', async () => {
    const { path, fallbackPath } = await stoppedWhileFull();
    const { disk, openFile } = diskThatFills();
    disk.full = true;
    const replays: { kind: string; reason?: string }[] = [];
    const sink = await createFileAuditSink({ path, fallbackPath, openFile, onFallback: (r) => replays.push(r) });
    expect(replays[0]?.reason).toMatch(
      /cannot take the fallback file's records \(ENOSPC.*they stay in .*for the next start/,
    );
    disk.full = false;
    await sink.write(call(4, 'attempt'), { durable: true });
    await sink.close();
    expect(existsSync(fallbackPath)).toBe(true);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 4 });
    await (await createFileAuditSink({ path, fallbackPath })).close();
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 7 });
    expect(existsSync(fallbackPath)).toBe(false);
  });

  it('says so when the fallback file cannot take them either (/dev/full): they are still in the server log', async () => {
    const path = fresh('audit.jsonl');
    const { disk, openFile } = diskThatFills();
    const unwritten: { records: string[]; why: string }[] = [];
    const sink = await createFileAuditSink({
      path,
      openFile,
      fallbackPath: '/dev/full',
      onUnwritten: (records, why) => unwritten.push({ records, why }),
    });
    await sink.write(call(1, 'attempt'), { durable: true });
    disk.full = true;
    await expect(sink.write(call(1, 'outcome'), { durable: true })).rejects.toThrow(/kept/);
    await sink.close();
    expect(unwritten.map((u) => u.records.length)).toEqual([1]);
    expect(unwritten[0]?.why).toMatch(
      /still full at close; the fallback file \/dev\/full could not take them either \(ENOSPC/,
    );
  });
});
