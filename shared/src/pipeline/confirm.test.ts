import { describe, expect, it } from 'vitest';
import { startRedis, useRedisPair } from '../../../test/fixtures/redis.js';
import { type ConfirmationBinding, type ConfirmationStore, createConfirmationStore } from './confirm.js';
import { connectRedis } from './redis.js';

const binding: ConfirmationBinding = { subject: 'agent-a', tool: 'containers_stop', argsDigest: 'sha256:abc' };
const others: ConfirmationBinding[] = [
  { ...binding, subject: 'agent-b' },
  { ...binding, tool: 'containers_remove' },
  { ...binding, argsDigest: 'sha256:other' },
];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The behaviour both stores must have. */
function contract(name: string, make: () => ConfirmationStore) {
  describe(`${name} confirmation store`, () => {
    it('issues cfm_ tokens of 32 random bytes with an expiry in epoch seconds', async () => {
      const store = make();
      const now = Math.floor(Date.now() / 1000);
      const { token, expiresAt } = await store.issue(binding, 60);
      const second = await store.issue(binding, 60);
      expect(token).toMatch(/^cfm_[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token.slice(4), 'base64url')).toHaveLength(32);
      expect(second.token).not.toBe(token);
      expect(expiresAt).toBeGreaterThanOrEqual(now + 59);
      expect(expiresAt).toBeLessThanOrEqual(now + 61);
    });

    it('redeems once', async () => {
      const store = make();
      const { token } = await store.issue(binding, 60);
      expect(await store.redeem(token, binding)).toBe(true);
      expect(await store.redeem(token, binding)).toBe(false);
    });

    it('refuses another caller, tool or arguments, and does not consume the token', async () => {
      const store = make();
      const { token } = await store.issue(binding, 60);
      for (const other of others) expect(await store.redeem(token, other)).toBe(false);
      expect(await store.redeem(token, binding)).toBe(true);
    });

    it('refuses an expired token', async () => {
      const store = make();
      const { token } = await store.issue(binding, 1);
      await sleep(1100);
      expect(await store.redeem(token, binding)).toBe(false);
    });

    it('refuses forged and malformed tokens', async () => {
      const store = make();
      await store.issue(binding, 60);
      for (const t of ['cfm_forged', `cfm_${'A'.repeat(43)}`, '', 'x'.repeat(10_000), 42 as unknown as string]) {
        expect(await store.redeem(t, binding)).toBe(false);
      }
    });

    it('lets exactly one of many concurrent redeems win', async () => {
      const store = make();
      const { token } = await store.issue(binding, 60);
      const results = await Promise.all(Array.from({ length: 20 }, () => store.redeem(token, binding)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('refuses nonsense lifetimes', async () => {
      const store = make();
      await expect(store.issue(binding, 0)).rejects.toThrow(RangeError);
      await expect(store.issue(binding, Number.NaN)).rejects.toThrow(RangeError);
    });
  });
}

contract('in-memory', () => createConfirmationStore());

describe('in-memory confirmation store housekeeping', () => {
  it('forgets everything on close', async () => {
    const store = createConfirmationStore();
    const { token } = await store.issue(binding, 60);
    await store.close();
    expect(await store.redeem(token, binding)).toBe(false);
  });
});

describe('Redis confirmation store (real redis-server)', () => {
  const pair = useRedisPair((url) => connectRedis(url));
  let n = 0;

  contract('Redis', () => createConfirmationStore({ redis: pair.a, keyPrefix: `test:cfm:${++n}` }));

  it('is single use across two instances (two processes), even when they race', async () => {
    const s1 = createConfirmationStore({ redis: pair.a, keyPrefix: 'test:cfm:shared' });
    const s2 = createConfirmationStore({ redis: pair.b, keyPrefix: 'test:cfm:shared' });
    const { token } = await s1.issue(binding, 60);
    expect(await s2.redeem(token, { ...binding, tool: 'other' })).toBe(false);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? s1 : s2).redeem(token, binding)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await pair.a.keys('test:cfm:shared:*')).toEqual([]);
  });

  it('stores only hashes, with the lifetime as a Redis TTL', async () => {
    const store = createConfirmationStore({ redis: pair.a, keyPrefix: 'test:cfm:dump' });
    const { token } = await store.issue(binding, 90);
    const keys = await pair.a.keys('test:cfm:dump:*');
    expect(keys).toHaveLength(1);
    const key = keys[0] as string;
    const value = (await pair.a.get(key)) as string;
    const dump = `${key} ${value}`;
    for (const visible of [token, token.slice(4), binding.subject, binding.tool, binding.argsDigest]) {
      expect(dump).not.toContain(visible);
    }
    expect(key).toMatch(/^test:cfm:dump:[0-9a-f]{64}$/);
    expect(await pair.a.ttl(key)).toBeGreaterThan(85);
  });

  it('rejects (the caller refuses the call) when Redis is gone', async () => {
    const own = await startRedis();
    const client = await connectRedis(own.url);
    try {
      const store = createConfirmationStore({ redis: client });
      const { token } = await store.issue(binding, 60);
      await own.stop();
      await expect(store.redeem(token, binding)).rejects.toThrow();
      await expect(store.issue(binding, 60)).rejects.toThrow();
    } finally {
      client.disconnect();
      await own.stop();
    }
  });
});
