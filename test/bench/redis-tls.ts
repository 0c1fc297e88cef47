/**
 * Benchmark: what TLS with a client certificate costs the Redis-backed stages. Confirmation pairs (issue,
 * then redeem) per second with 32 concurrent callers and redeem latency, and the time one connect takes
 * (where the TLS files are read again and the handshake is made, as at every reconnect), for:
 *   baseline  redis:// to a plaintext redis-server
 *   tls       rediss:// to a TLS-only redis-server (tls-auth-clients yes), private CA + client certificate
 * Real redis-server processes on loopback, in this process, rounds interleaved; prints ratios against the
 * baseline measured in the same run.
 * Run: npm run bench -- redis-tls   (or: node --conditions=@ravenhelm/source --import tsx test/bench/redis-tls.ts)
 */
import { connectRedis, createConfirmationStore, type RedisTlsFiles } from '@ravenhelm/kit';
import { startRedis } from '../fixtures/redis.js';
import { REDIS_PASSWORD } from '../fixtures/redis-faults.js';
import { clientTls, makeRedisPki, startTlsRedis } from '../fixtures/redis-tls.js';
import { runIfMain } from './common.js';
import { measure } from './redis-sentinel.js';

const ROUNDS = 2;
const CONNECTS = 40;

/** Median time of `CONNECTS` connects (ready, then quit), in ms. */
async function connectMs(url: string, tls?: RedisTlsFiles): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < CONNECTS; i++) {
    const started = performance.now();
    const c = await connectRedis(url, tls ? { tls } : {});
    times.push(performance.now() - started);
    await c.quit();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

async function main(): Promise<void> {
  const pki = await makeRedisPki();
  const plain = await startRedis({ password: REDIS_PASSWORD });
  const tls = await startTlsRedis(pki, { password: REDIS_PASSWORD });
  const targets = { baseline: { url: plain.url }, tls: { url: tls.url, tls: clientTls(pki) } };
  const clients = {
    baseline: await connectRedis(plain.url),
    tls: await connectRedis(tls.url, { tls: clientTls(pki) }),
  };
  try {
    const best: Record<string, Awaited<ReturnType<typeof measure>> & { connectMs: number }> = {};
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, client] of Object.entries(clients)) {
        const r = await measure(createConfirmationStore({ redis: client, keyPrefix: `bench:${name}` }));
        const target = targets[name as keyof typeof targets];
        const ms = await connectMs(target.url, 'tls' in target ? target.tls : undefined);
        const prev = best[name];
        best[name] = {
          ...(!prev || r.perSecond > prev.perSecond ? r : prev),
          connectMs: Math.min(ms, prev?.connectMs ?? Number.POSITIVE_INFINITY),
        };
      }
    }
    const base = best.baseline;
    if (!base) throw new Error('no baseline');
    console.log(
      `confirmation pairs (issue + redeem), 32 concurrent, best of ${ROUNDS} rounds; connect: median of ${CONNECTS}:`,
    );
    for (const [name, r] of Object.entries(best)) {
      console.log(
        `  ${name.padEnd(9)} ${Math.round(r.perSecond).toLocaleString('en-US').padStart(7)} pairs/s (x${(r.perSecond / base.perSecond).toFixed(2)})  ` +
          `redeem p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms  connect ${r.connectMs.toFixed(2)} ms (x${(r.connectMs / base.connectMs).toFixed(2)})`,
      );
    }
  } finally {
    for (const c of Object.values(clients)) await c.quit();
    await tls.stop();
    await plain.stop();
    pki.remove();
  }
}

runIfMain(import.meta, main);
