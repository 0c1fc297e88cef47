/**
 * The server the full-stack benchmarks drive: the real bin path (`runMain`: config from the environment,
 * OAuth, registry, rate limit, file audit, metrics, optional mTLS), with no-op tools so that only the kit
 * is measured. `bench_noop` is LOW; `bench_write` is MEDIUM (rate limited, attempt + outcome records).
 * With BENCH_CPU_PROFILE_DIR set it profiles itself; with BENCH_STATS_MS set it writes one JSON line of its state sizes to stdout that often (the soak bench).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { createToolDefiner, defineServer, runMain } from '@ravenhelm/kit';
import { z } from 'zod';

const defineTool = createToolDefiner<object>();
const RO = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const RW = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

export const stackServer = defineServer({
  name: 'bench',
  version: '0.0.0',
  description: 'full-stack benchmark server',
  tools: [
    defineTool({
      name: 'bench_noop',
      title: 'No-op read',
      description: 'Returns immediately.',
      toolset: 'bench',
      tier: 'LOW',
      scopes: ['mcp:bench:read'],
      annotations: RO,
      input: z.object({ item: z.string().max(200).optional() }),
      output: z.object({ ok: z.boolean() }),
      handler: async () => ({ ok: true }),
    }),
    defineTool({
      name: 'bench_write',
      title: 'No-op write',
      description: 'A side-effecting no-op (MEDIUM: rate limited, attempt and outcome records).',
      toolset: 'bench',
      tier: 'MEDIUM',
      scopes: ['mcp:bench:write'],
      annotations: RW,
      input: z.object({ item: z.string().max(200).optional() }),
      output: z.object({ ok: z.boolean() }),
      handler: async () => ({ ok: true }),
    }),
  ],
  backendConfig: z.object({}),
  createServices: () => ({}),
});

const statsMs = Number(process.env.BENCH_STATS_MS ?? 0);
if (statsMs > 0) {
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    process.stdout.write(
      `${JSON.stringify({ t: Date.now(), rss: m.rss, heapUsed: m.heapUsed, external: m.external, ...benchProbe() })}\n`,
    );
  }, statsMs);
  timer.unref();
}

/** State sizes the kit exposes to a probe (set by the soak bench's preload); empty when none is installed. */
function benchProbe(): Record<string, number> {
  const probe = (globalThis as { __ravenhelmBenchProbe?: () => Record<string, number> }).__ravenhelmBenchProbe;
  return probe ? probe() : {};
}

// BENCH_CPU_PROFILE_DIR: the V8 CPU profile of the whole run (node --cpu-prof cannot be set through
// NODE_OPTIONS), written when the server has shut down.
const profileDir = process.env.BENCH_CPU_PROFILE_DIR;
const session = profileDir ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
await runMain(stackServer);
if (session && profileDir) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(join(profileDir, `stack-${process.pid}.cpuprofile`), JSON.stringify(profile));
}
