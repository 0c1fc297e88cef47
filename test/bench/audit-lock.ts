/**
 * Benchmark: what the audit log's single-writer lock costs, against the same sink without it
 * (`lock: false`) measured in this run.
 *   1. µs per record, 32 concurrent writers, non-durable: one batch per record (groupCommit false: the
 *      worst case, since the lock is checked once per batch) and group commit (the default); median of 3
 *      alternating rounds.
 *   2. ms per start and close of a sink on an existing log (the lock taken, written, fsynced, removed).
 * The log files go under .ravenhelm/bench (a real disk).
 * Run: npm run bench -- audit-lock   (or: node --conditions=@ravenhelm/source --import tsx test/bench/audit-lock.ts)
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFileAuditSink } from '@ravenhelm/kit';
import { REPO_ROOT } from '../fixtures/spawn.js';
import { auditBenchEvent, CONCURRENCY, runIfMain } from './common.js';

let dir = '';
let logs = 0;

async function perRecord(lock: boolean, groupCommit: boolean, n: number): Promise<number> {
  const path = join(dir, `log-${++logs}.jsonl`);
  const sink = await createFileAuditSink({ path, groupCommit, ...(lock ? {} : { lock: false }) });
  let next = 0;
  const writer = async () => {
    while (next < n) await sink.write(auditBenchEvent(next++), { durable: false });
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, writer));
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  await sink.close();
  return us;
}

async function perStart(lock: boolean, n: number): Promise<number> {
  const path = join(dir, `start-${lock}.jsonl`);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await (await createFileAuditSink({ path, ...(lock ? {} : { lock: false }) })).close();
  return (performance.now() - t0) / n;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const fmt = (n: number, digits = 2) => n.toFixed(digits).padStart(8);

export async function main(): Promise<void> {
  mkdirSync(join(REPO_ROOT, '.ravenhelm'), { recursive: true });
  dir = mkdtempSync(join(REPO_ROOT, '.ravenhelm', 'bench-audit-lock-'));
  try {
    console.log(`audit log lock, ${CONCURRENCY} concurrent writers; log files on ${dir}`);
    console.log('1. µs per record (median of 5 alternating rounds; lock on vs off)');
    await perRecord(true, false, 5000); // warm-up
    for (const [label, groupCommit, n] of [
      ['one batch/record', false, 20_000],
      ['group commit', true, 100_000],
    ] as const) {
      const off: number[] = [];
      const on: number[] = [];
      for (let round = 0; round < 5; round++) {
        // Alternating which goes first: a machine shared with other work drifts within a round.
        const first = round % 2 === 0;
        (first ? off : on).push(await perRecord(!first, groupCommit, n));
        (first ? on : off).push(await perRecord(first, groupCommit, n));
      }
      console.log(
        `   ${label.padEnd(16)} ${n} records   off ${fmt(median(off))} µs   locked ${fmt(median(on))} µs   ratio locked/off ${(median(on) / median(off)).toFixed(3)}`,
      );
    }
    console.log('2. ms per sink start + close (200 each, alternating halves)');
    const off: number[] = [];
    const on: number[] = [];
    for (let round = 0; round < 2; round++) {
      off.push(await perStart(false, 100));
      on.push(await perStart(true, 100));
    }
    const offMs = off.reduce((a, b) => a + b) / off.length;
    const onMs = on.reduce((a, b) => a + b) / on.length;
    console.log(
      `   off ${fmt(offMs, 3)} ms   locked ${fmt(onMs, 3)} ms   ratio locked/off ${(onMs / offMs).toFixed(2)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta, main);
