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

/**
 * ABBA order (2025, 2026, 2026, 2025), summed per shape: the in-memory audit sink grows during the
 * run, so whichever shape ran last would pay more garbage collection.
 */
export async function main(): Promise<{ legacy: number; modern: number }> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 4);
  const k = await startKit();
  try {
    const legacy = { micros: 0, calls: 0 };
    const modern = { micros: 0, calls: 0 };
    for (const shape of ['legacy', 'modern', 'modern', 'legacy'] as const) {
      const r =
        shape === 'legacy'
          ? await cpuPerCall(k.url, NOOP_CALL, legacyHeaders, seconds / 2)
          : await cpuPerCall(k.url, MODERN_NOOP_CALL, MODERN_NOOP_HEADERS, seconds / 2);
      const sum = shape === 'legacy' ? legacy : modern;
      sum.micros += r.microsPerCall * r.calls;
      sum.calls += r.calls;
    }
    const perCall = (x: { micros: number; calls: number }) => x.micros / x.calls;
    console.log(`server CPU per no-op call, concurrency ${CONCURRENCY}, ${seconds} s each (ABBA)`);
    console.log(
      `2025-11-25 (SDK v1 server)   ${perCall(legacy).toFixed(0).padStart(6)} us/call  (${legacy.calls} calls)`,
    );
    console.log(
      `2026-07-28 (SDK v2 server)   ${perCall(modern).toFixed(0).padStart(6)} us/call  (${modern.calls} calls)`,
    );
    console.log(`ratio 2026/2025: ${(perCall(modern) / perCall(legacy)).toFixed(2)}x`);
    return { legacy: perCall(legacy), modern: perCall(modern) };
  } finally {
    await k.close();
  }
}

runIfMain(import.meta, main);
