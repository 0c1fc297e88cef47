/**
 * Benchmark: what audit log rotation costs, against the same log without rotation measured in this run.
 *   1. µs per record through the file sink, 32 concurrent writers, rotation off (the baseline) vs a small
 *      rotateBytes (1 MiB: a rotation every few thousand records, far more often than the 64 MiB default);
 *      non-durable and durable (fsync per batch); median of 3 alternating rounds; the rotation count and
 *      the share of the run spent inside rotations (the writers wait meanwhile).
 *   2. verifying: `verifyAuditSet` over the rotated files vs `verifyAuditChain` over one file holding the
 *      same records.
 * The log files go under .ravenhelm/bench (a real disk: tmpfs would make fsync and rename free).
 * Run: npm run bench -- audit-rotate   (or: node --conditions=@ravenhelm/source --import tsx test/bench/audit-rotate.ts)
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFileAuditSink, verifyAuditChain, verifyAuditSet } from '@ravenhelm/kit';
import { REPO_ROOT } from '../fixtures/spawn.js';
import { auditBenchEvent, CONCURRENCY, runIfMain } from './common.js';

const ROTATE_BYTES = 1024 * 1024;

const event = auditBenchEvent;

let dir = '';
let logs = 0;

/** µs per record for `n` records by CONCURRENCY writers into a fresh log (in its own directory). */
async function perRecord(rotateBytes: number, durable: boolean, n: number) {
  const logDir = join(dir, `log-${++logs}`);
  mkdirSync(logDir);
  const path = join(logDir, 'audit.jsonl');
  let rotations = 0;
  let rotatingMs = 0;
  const sink = await createFileAuditSink({
    path,
    rotateBytes,
    keepFiles: 100_000,
    onRotate: (r) => {
      if (r.kind !== 'rotated') throw new Error(`rotation ${r.kind}`);
      rotations++;
      rotatingMs += r.ms;
    },
  });
  let next = 0;
  const writer = async () => {
    while (next < n) await sink.write(event(next++), { durable });
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, writer));
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  await sink.close();
  return { us, rotations, rotatingMs, path, totalMs: (us * n) / 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const fmt = (n: number, digits = 2) => n.toFixed(digits).padStart(8);

export async function main(): Promise<void> {
  mkdirSync(join(REPO_ROOT, '.ravenhelm'), { recursive: true });
  dir = mkdtempSync(join(REPO_ROOT, '.ravenhelm', 'bench-audit-rotate-'));
  try {
    console.log(`audit log rotation, ${CONCURRENCY} concurrent writers; log files on ${dir}`);
    console.log(`1. µs per record (median of 3 alternating rounds; rotation at ${ROTATE_BYTES} bytes vs off)`);
    await perRecord(ROTATE_BYTES, false, 5000); // warm-up
    let rotatedPath = '';
    let flatPath = '';
    for (const [label, durable, n] of [
      ['non-durable', false, 100_000],
      ['durable (fsync)', true, 10_000],
    ] as const) {
      const off: number[] = [];
      const on: number[] = [];
      let rotations = 0;
      const share: number[] = [];
      for (let round = 0; round < 3; round++) {
        const a = await perRecord(0, durable, n);
        off.push(a.us);
        const b = await perRecord(ROTATE_BYTES, durable, n);
        on.push(b.us);
        rotations = b.rotations;
        share.push(b.rotatingMs / b.totalMs);
        if (!durable) {
          flatPath = a.path;
          rotatedPath = b.path;
        }
      }
      if (rotations === 0) throw new Error('no rotation happened: the comparison would be void');
      console.log(
        `   ${label.padEnd(16)} ${n} records   off ${fmt(median(off))} µs   rotating ${fmt(median(on))} µs   ratio rotating/off ${(median(on) / median(off)).toFixed(3)}`,
      );
      // The writers wait while a rotation runs (between batches): its share of the run, measured inside.
      console.log(
        `   ${''.padEnd(16)} ${rotations} rotations; time spent rotating: ${(median(share) * 100).toFixed(1)}% of the run`,
      );
    }
    console.log('2. verify (one pass over the same 100,000 records)');
    let t0 = performance.now();
    const flat = await verifyAuditChain(flatPath);
    const flatMs = performance.now() - t0;
    t0 = performance.now();
    const set = await verifyAuditSet(rotatedPath);
    const setMs = performance.now() - t0;
    if (!flat.ok || !set.ok) throw new Error('a chain did not verify');
    console.log(
      `   one file ${fmt(flatMs, 0)} ms   ${set.files.length} files --all ${fmt(setMs, 0)} ms   ratio ${(setMs / flatMs).toFixed(2)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta, main);
