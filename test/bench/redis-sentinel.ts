/**
 * Benchmark: what Redis through Sentinel costs the confirmation store, whose redeem then waits for a
 * replica (WAIT 1) so that a failover cannot bring a spent token back. Confirmation pairs (issue, then
 * redeem) per second with 32 concurrent callers, and redeem latency percentiles, for:
 *   baseline   redis:// to a standalone redis-server (no replica)
 *   replicated redis:// to the primary of a primary + replica set (replication, no wait)
 *   sentinel   redis+sentinel:// to the same set (redeem waits for the replica's acknowledgement)
 * All on real redis-server processes on loopback, in this process, rounds interleaved; prints ratios
 * against the baseline measured in the same run.
 * Run: npm run bench -- redis-sentinel   (or: node --conditions=@ravenhelm/source --import tsx test/bench/redis-sentinel.ts)
 */
import { connectRedis, createConfirmationStore } from '@ravenhelm/kit';
import { startRedis } from '../fixtures/redis.js';
import { SENTINEL_DATA_PASSWORD, SENTINEL_PASSWORD, startSentinelSet } from '../fixtures/redis-sentinel.js';
import { runIfMain } from './common.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = 2;

type Store = ReturnType<typeof createConfirmationStore>;

export async function measure(store: Store): Promise<{ pairs: number; perSecond: number; p50: number; p99: number }> {
  const binding = { subject: 'bench', tool: 'echo_delete', argsDigest: 'd' };
  const latencies: number[] = [];
  const until = performance.now() + SECONDS * 1000;
  let pairs = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const { token } = await store.issue(binding, 60);
        const started = performance.now();
        if (!(await store.redeem(token, binding))) throw new Error('a fresh token was refused');
        latencies.push(performance.now() - started);
        pairs++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { pairs, perSecond: pairs / SECONDS, p50: at(0.5), p99: at(0.99) };
}

async function main(): Promise<void> {
  const standalone = await startRedis({ password: SENTINEL_DATA_PASSWORD });
  const set = await startSentinelSet();
  const primary = await set.primaryPort();
  const clients = {
    baseline: await connectRedis(standalone.url),
    replicated: await connectRedis(`redis://:${SENTINEL_DATA_PASSWORD}@127.0.0.1:${primary}`),
    sentinel: await connectRedis(set.url, { sentinelPassword: SENTINEL_PASSWORD }),
  };
  try {
    const best: Record<string, Awaited<ReturnType<typeof measure>>> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, client] of Object.entries(clients)) {
        const r = await measure(createConfirmationStore({ redis: client, keyPrefix: `bench:${name}` }));
        if (!best[name] || r.perSecond > (best[name]?.perSecond ?? 0)) best[name] = r;
      }
    }
    const base = best.baseline?.perSecond ?? Number.NaN;
    console.log(`confirmation pairs (issue + redeem), ${CONCURRENCY} concurrent, best of ${ROUNDS} x ${SECONDS} s:`);
    for (const [name, r] of Object.entries(best)) {
      console.log(
        `  ${name.padEnd(10)} ${Math.round(r.perSecond).toLocaleString('en-US').padStart(7)} pairs/s  ` +
          `(x${(r.perSecond / base).toFixed(2)} of baseline)  redeem p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`,
      );
    }
  } finally {
    for (const c of Object.values(clients)) await c.quit();
    await set.stop();
    await standalone.stop();
  }
}

runIfMain(import.meta, main);
