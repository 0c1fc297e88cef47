/**
 * The confirmation store through Sentinel when the primary loses its only replica (SIGKILL): a redeem
 * waits for a replica's acknowledgement, so with none it fails closed (ERR_BACKEND_UNAVAILABLE) instead of
 * spending a token a failover could bring back; after the first unanswered WAIT the next redeems are
 * refused at once (WAIT blocks the shared connection: it must not stall every command behind it); after
 * REPLICA_GRACE_MS the primary counts as a lone one and redeems work again without a replica.
 */
import { connectRedis, createConfirmationStore, ToolError } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { sleep } from '../fixtures/redis-faults.js';
import { SENTINEL_DATA_PASSWORD, SENTINEL_PASSWORD, useSentinelSet } from '../fixtures/redis-sentinel.js';

/** REPLICA_GRACE_MS in shared/src/pipeline/redis.ts. */
const GRACE_MS = 10_000;

describe('Redis Sentinel: the primary loses its only replica', () => {
  const s = useSentinelSet();

  it('redeems fail closed, then at once, then work again once the primary counts as a lone one', async () => {
    const { set } = s;
    const client = await connectRedis(set.url, { sentinelPassword: SENTINEL_PASSWORD });
    const store = createConfirmationStore({ redis: client, keyPrefix: 'rh:cfm' });
    const binding = { subject: 's', tool: 't', argsDigest: 'd' };
    const timedRedeem = async () => {
      const { token } = await store.issue(binding, 60);
      const started = performance.now();
      const outcome = await store.redeem(token, binding).catch((e: unknown) => e);
      return { outcome, ms: performance.now() - started, token };
    };
    try {
      expect((await timedRedeem()).outcome).toBe(true);
      const primary = await set.primaryPort();
      const replica = [...set.nodes.keys()].find((p) => p !== primary) as number;
      await set.nodes.get(replica)?.kill();
      for (let i = 0; i < 50 && !/connected_slaves:0/.test(await set.cli(primary, 'INFO', 'replication')); i++) {
        await sleep(100);
      }

      const firstAt = Date.now(); // the grace counts from the first unanswered WAIT
      const first = await timedRedeem();
      expect(first.outcome).toBeInstanceOf(ToolError);
      expect((first.outcome as ToolError).code).toBe('ERR_BACKEND_UNAVAILABLE');
      expect((first.outcome as Error).message).toMatch(
        /^the confirmation store \(Redis at redis\+sentinel:\/\/127\.0\.0\.1:\d+,.*\/m\) did not answer: (no replica acknowledged the write within 500 ms|the primary lost its replicas)/,
      );
      expect((first.outcome as Error).message).not.toContain(SENTINEL_DATA_PASSWORD);
      expect(first.ms).toBeLessThan(1000);
      const next = await timedRedeem();
      expect((next.outcome as Error).message).toContain('the primary lost its replicas');
      expect(next.ms).toBeLessThan(100);
      console.log(
        `lost replica: first redeem refused in ${Math.round(first.ms)} ms, the next in ${next.ms.toFixed(1)} ms`,
      );

      await sleep(Math.max(0, firstAt + first.ms + GRACE_MS - Date.now()) + 200);
      const later = await timedRedeem();
      expect(later.outcome).toBe(true);
      // Spent for good: the refused redeems used their tokens up on the primary, never twice.
      expect(await store.redeem(later.token, binding)).toBe(false);
    } finally {
      await client.quit();
    }
  }, 60_000);
});
