/**
 * Benchmark: server CPU time per no-op tool call over Streamable HTTP, the 2025-11-25 wire shape
 * against the 2026-07-28 one (per-request `_meta` envelope and routing headers) on the same long-lived
 * kit. The load generator (autocannon) runs in its own process, so this process's CPU time
 * (`process.cpuUsage`) is the server's alone: unlike calls/s, it barely moves when other work shares
 * the machine. Prints microseconds per call and the ratio 2026/2025 measured in the same run.
 * Run: npm run bench -- cpu-per-call
 */
import { CONCURRENCY, MODERN_NOOP_CALL, MODERN_NOOP_HEADERS, NOOP_CALL, runIfMain, startKit } from './common.js';
import { runLoad } from './load.js';

const legacyHeaders = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
};
async function cpuPerCall(url: string, body: string, headers: Record<string, string>, seconds: number) {
  await runLoad({ url, body, headers, concurrency: CONCURRENCY, maxSeconds: 1 }); // warm-up
  const before = process.cpuUsage();
  const r = await runLoad({ url, body, headers, concurrency: CONCURRENCY, maxSeconds: seconds });
  const used = process.cpuUsage(before);
  if (r.failed > 0) throw new Error(`${r.failed} calls failed`);
  return { microsPerCall: (used.user + used.system) / r.completed, calls: r.completed };
}

export async function main(): Promise<{ legacy: number; modern: number }> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const k = await startKit();
  try {
    const legacy = await cpuPerCall(k.url, NOOP_CALL, legacyHeaders, seconds);
    console.log(`server CPU per no-op call, concurrency ${CONCURRENCY}, ${seconds} s each`);
    console.log(
      `2025-11-25 (SDK v1 server)   ${legacy.microsPerCall.toFixed(0).padStart(6)} us/call  (${legacy.calls} calls)`,
    );
    const modern = await cpuPerCall(k.url, MODERN_NOOP_CALL, MODERN_NOOP_HEADERS, seconds);
    console.log(
      `2026-07-28 (SDK v2 server)   ${modern.microsPerCall.toFixed(0).padStart(6)} us/call  (${modern.calls} calls)`,
    );
    console.log(`ratio 2026/2025: ${(modern.microsPerCall / legacy.microsPerCall).toFixed(2)}x`);
    return { legacy: legacy.microsPerCall, modern: modern.microsPerCall };
  } finally {
    await k.close();
  }
}

runIfMain(import.meta, main);
