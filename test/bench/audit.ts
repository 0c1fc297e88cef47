/**
 * Benchmark: the audit log's cost per record and per call, one write per record (the baseline, kept
 * selectable as `groupCommit: false`) vs group commit (the records of one event-loop turn, and those
 * arriving while a write is in flight, share one write and at most one fsync).
 *   1. per-record cost: records written through the file sink by 32 concurrent writers;
 *      non-durable (MEDIUM/LOW) and durable (HIGH: fsync before the write resolves).
 *   2. calls/s of the audited no-op pipeline (Pipeline.call, in process, 32 concurrent callers):
 *      a side-effecting no-op (attempt + outcome record) and a HIGH no-op (both fsynced).
 *   3. the same side-effecting no-op end to end over Streamable HTTP (autocannon, 32 connections).
 *   4. cost vs history: µs per record early (median of 10,000-record chunks 2-4) and late (chunks 8-10)
 *      in 100,000 records on one log, and the time to open (resume) that log vs an empty one: neither may
 *      grow with the log.
 * Both modes run in this process, one after the other, on the same disk; prints the ratios.
 * The log files go under .ravenhelm/bench (a real disk: tmpfs would make fsync free).
 * Run: npm run bench -- audit   (or: node --conditions=@ravenhelm/source --import tsx test/bench/audit.ts)
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Principal } from '@ravenhelm/auth';
import {
  createFileAuditSink,
  createRuntime,
  createToolDefiner,
  defineServer,
  loadConfig,
  localAuthenticator,
  silentLogger,
  startHttp,
  verifyAuditChain,
} from '@ravenhelm/kit';
import { z } from 'zod';
import { REPO_ROOT } from '../fixtures/spawn.js';
import { auditBenchEvent, runIfMain } from './common.js';
import { runLoad } from './load.js';

const SECONDS = Number(process.env.BENCH_AUDIT_SECONDS ?? 3);
const WRITERS = Number(process.env.BENCH_CONCURRENCY ?? 32);

const defineTool = createToolDefiner<object>();
const RW = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };
const tools = [
  defineTool({
    name: 'bench_write',
    title: 'No-op write',
    description: 'A side-effecting no-op: attempt and outcome records.',
    toolset: 'bench',
    tier: 'LOW',
    scopes: ['mcp:bench:write'],
    annotations: RW,
    input: z.object({ item: z.string() }),
    output: z.object({ ok: z.boolean() }),
    handler: async () => ({ ok: true }),
  }),
  defineTool({
    name: 'bench_high',
    title: 'No-op HIGH write',
    description: 'A HIGH no-op: durable attempt and outcome records.',
    toolset: 'bench',
    tier: 'HIGH',
    scopes: ['mcp:bench:admin'],
    annotations: RW,
    input: z.object({ item: z.string() }),
    output: z.object({ ok: z.boolean() }),
    handler: async () => ({ ok: true }),
  }),
];
const server = defineServer({
  name: 'bench',
  version: '0.0.0',
  description: 'audit bench',
  tools,
  backendConfig: z.object({}),
  createServices: () => ({}),
});

const principal: Principal = { subject: 'agent', clientId: 'bench', scopes: [], roles: [], source: 'oauth' };
const event = auditBenchEvent;

let dir = '';
let files = 0;
const logPath = () => join(dir, `audit-${++files}.jsonl`);

/** µs per record for `n` records written by WRITERS concurrent writers. */
async function perRecord(groupCommit: boolean, durable: boolean, n: number): Promise<number> {
  const path = logPath();
  const sink = await createFileAuditSink({ path, groupCommit });
  let next = 0;
  const writer = async () => {
    while (next < n) await sink.write(event(next++), { durable });
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: WRITERS }, writer));
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  await sink.close();
  const check = await verifyAuditChain(path);
  if (!check.ok || check.records !== n) throw new Error(`chain check failed: ${JSON.stringify(check)}`);
  return us;
}

/** Calls/s of Pipeline.call on `tool` for SECONDS with WRITERS concurrent callers. */
async function pipelineCalls(groupCommit: boolean, tool: string): Promise<{ perSecond: number; bytes: number }> {
  const path = logPath();
  const audit = await createFileAuditSink({ path, groupCommit });
  const config = loadConfig({ backendSchema: server.backendConfig, env: { RAVENHELM_LOCAL_ALLOW_HIGH: 'true' } });
  const rt = await createRuntime(server as never, config, silentLogger(), { audit });
  let calls = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const caller = async (w: number) => {
    while (performance.now() < deadline) {
      const r = await rt.pipeline.call(principal, tool, { item: `i${w}-${calls}` }, { preflighted: true });
      if (r.isError) throw new Error(`call failed: ${JSON.stringify(r.content)}`);
      calls++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => caller(w)));
  const seconds = (performance.now() - t0) / 1000;
  await rt.close();
  const check = await verifyAuditChain(path);
  if (!check.ok || check.records !== calls * 2) throw new Error(`chain check failed: ${JSON.stringify(check)}`);
  return { perSecond: calls / seconds, bytes: statSync(path).size };
}

/** The side-effecting no-op over HTTP (auth mode none, local principal) with a file audit sink. */
async function overHttp(groupCommit: boolean): Promise<{ perSecond: number; p99ms: number }> {
  const path = logPath();
  const audit = await createFileAuditSink({ path, groupCommit });
  const config = loadConfig({
    backendSchema: server.backendConfig,
    env: {
      RAVENHELM_HTTP_PORT: '0',
      RAVENHELM_LOCAL_SCOPES: 'mcp:bench:write',
      RAVENHELM_RATE_LIMIT_POINTS: '100000000',
      RAVENHELM_MAX_CALLS_IN_FLIGHT_PER_CALLER: '100000',
      RAVENHELM_MAX_CALLS_IN_FLIGHT: '100000',
    },
  });
  const rt = await createRuntime(server as never, config, silentLogger(), { audit });
  const http = await startHttp(rt, { authenticator: localAuthenticator(rt.localPrincipal), authorizationServers: [] });
  const load = {
    url: http.url,
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'bench_write', arguments: { item: 'x' } },
    }),
    headers: { 'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': '2025-11-25' },
    concurrency: WRITERS,
  };
  await runLoad({ ...load, maxSeconds: 1 }); // warm-up
  const result = await runLoad({ ...load, maxSeconds: SECONDS });
  await http.shutdown();
  await rt.close();
  const check = await verifyAuditChain(path);
  if (!check.ok) throw new Error(`chain check failed: ${JSON.stringify(check)}`);
  if (result.failed > 0) throw new Error(`${result.failed} HTTP calls failed`);
  return result;
}

/** µs per record of the first and last `chunk` of `n` records on one sink, and open times. */
async function history(n: number, chunk: number) {
  const path = logPath();
  const openEmpty = performance.now();
  const sink = await createFileAuditSink({ path });
  const emptyOpenMs = performance.now() - openEmpty;
  const perChunk: number[] = [];
  for (let done = 0; done < n; done += chunk) {
    let next = done;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < done + chunk) await sink.write(event(next++), { durable: false });
      }),
    );
    perChunk.push(Number(process.hrtime.bigint() - t0) / 1000 / chunk);
  }
  await sink.close();
  const openFull = performance.now();
  await (await createFileAuditSink({ path })).close();
  const fullOpenMs = performance.now() - openFull;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  return {
    first: median(perChunk.slice(1, 4)),
    last: median(perChunk.slice(-3)),
    emptyOpenMs,
    fullOpenMs,
    bytes: statSync(path).size,
  };
}

const fmt = (n: number, digits = 1) => n.toFixed(digits).padStart(9);

export async function main(): Promise<void> {
  mkdirSync(join(REPO_ROOT, '.ravenhelm'), { recursive: true });
  dir = mkdtempSync(join(REPO_ROOT, '.ravenhelm', 'bench-audit-'));
  try {
    console.log(`audit log, ${WRITERS} concurrent writers/callers; log files on ${dir}`);
    console.log('1. per record (µs per record, median of 3 alternating rounds, lower is better)');
    await perRecord(true, false, 2000); // warm-up
    const rows: [string, boolean, number][] = [
      ['non-durable (LOW/MEDIUM)', false, 20_000],
      ['durable (HIGH: fsync)', true, 2_000],
    ];
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    for (const [label, durable, n] of rows) {
      // Three alternating rounds, medians: one round on a shared machine is noise.
      const singles: number[] = [];
      const groups: number[] = [];
      for (let round = 0; round < 3; round++) {
        singles.push(await perRecord(false, durable, durable ? Math.min(n, 500) : n));
        groups.push(await perRecord(true, durable, n));
      }
      const single = median(singles);
      const group = median(groups);
      console.log(
        `   ${label.padEnd(26)} one write per record ${fmt(single)} µs   group commit ${fmt(group)} µs   ratio ${(single / group).toFixed(1)}x`,
      );
    }
    console.log(`2. audited no-op pipeline (Pipeline.call, calls/s, higher is better; ${SECONDS} s each)`);
    for (const [label, tool] of [
      ['side-effecting (2 records)', 'bench_write'],
      ['HIGH (2 fsynced records)', 'bench_high'],
    ] as const) {
      const single = await pipelineCalls(false, tool);
      const group = await pipelineCalls(true, tool);
      console.log(
        `   ${label.padEnd(26)} one write per record ${fmt(single.perSecond, 0)}/s   group commit ${fmt(group.perSecond, 0)}/s   ratio ${(group.perSecond / single.perSecond).toFixed(1)}x`,
      );
    }
    console.log(`3. side-effecting no-op over Streamable HTTP (autocannon, ${WRITERS} connections, ${SECONDS} s each)`);
    const single = await overHttp(false);
    const group = await overHttp(true);
    console.log(
      `   ${'calls/s (p99)'.padEnd(26)} one write per record ${fmt(single.perSecond, 0)}/s (${single.p99ms} ms)   group commit ${fmt(group.perSecond, 0)}/s (${group.p99ms} ms)   ratio ${(group.perSecond / single.perSecond).toFixed(1)}x`,
    );
    const h = await history(100_000, 10_000);
    console.log('4. cost vs history (one log, 100,000 records, group commit)');
    console.log(
      `   per record: early ${fmt(h.first)} µs   late ${fmt(h.last)} µs   ratio late/early ${(h.last / h.first).toFixed(2)}`,
    );
    console.log(
      `   open (resume the chain): empty log ${fmt(h.emptyOpenMs, 2)} ms   ${(h.bytes / 1e6).toFixed(1)} MB log ${fmt(h.fullOpenMs, 2)} ms`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta, main);
