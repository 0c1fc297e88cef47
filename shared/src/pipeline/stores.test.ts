import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis } from '../../../test/fixtures/redis.js';
import { RavenhelmError } from '../errors.js';
import { createConfirmationStore } from './confirm.js';
import { createRateLimiter } from './rate-limit.js';
import { connectRedis, type RedisLike } from './redis.js';

const binding = { subject: 'agent-a', tool: 'containers_stop', argsDigest: 'sha256:abc' };

describe('in-memory rate limiter', () => {
  it('isolates agents and says when to retry', async () => {
    const rl = createRateLimiter({ points: 2, durationSeconds: 30 });
    await rl.consume('a');
    await rl.consume('a');
    const err = await rl.consume('a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RavenhelmError);
    expect((err as RavenhelmError).code).toBe('ERR_RATE_LIMITED');
    const retry = (err as RavenhelmError).details.retryAfterSeconds as number;
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(30);
    await expect(rl.consume('b')).resolves.toBeUndefined();
  });
});

describe('in-memory confirmation store', () => {
  it('redeems once, only with the same binding, and not after expiry', async () => {
    const store = createConfirmationStore();
    const { token } = await store.issue(binding, 60);
    expect(await store.redeem(token, { ...binding, argsDigest: 'sha256:other' })).toBe(false);
    expect(await store.redeem(token, { ...binding, subject: 'agent-b' })).toBe(false);
    const results = await Promise.all([store.redeem(token, binding), store.redeem(token, binding)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.redeem('cfm_forged', binding)).toBe(false);
    const short = await store.issue(binding, 1);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await store.redeem(short.token, binding)).toBe(false);
  });
});

describe('Redis-backed stores (real redis-server)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let a: RedisLike;
  let b: RedisLike;
  beforeAll(async () => {
    redis = await startRedis();
    a = await connectRedis(redis.url);
    b = await connectRedis(redis.url);
  }, 30_000);
  afterAll(async () => {
    await a?.quit();
    await b?.quit();
    await redis?.stop();
  });

  it('two processes share one agent quota', async () => {
    const one = createRateLimiter({ points: 3, durationSeconds: 30, keyPrefix: 'test:rl', redis: a });
    const two = createRateLimiter({ points: 3, durationSeconds: 30, keyPrefix: 'test:rl', redis: b });
    await one.consume('agent');
    await two.consume('agent');
    await one.consume('agent');
    await expect(two.consume('agent')).rejects.toMatchObject({ code: 'ERR_RATE_LIMITED' });
    await expect(two.consume('other-agent')).resolves.toBeUndefined();
  });

  it('a confirmation token is single use across instances, and only its hash is stored', async () => {
    const s1 = createConfirmationStore({ redis: a, keyPrefix: 'test:cfm' });
    const s2 = createConfirmationStore({ redis: b, keyPrefix: 'test:cfm' });
    const { token } = await s1.issue(binding, 60);
    const keys = await a.keys('test:cfm:*');
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toContain(token.slice(4));
    expect(await s2.redeem(token, { ...binding, tool: 'other' })).toBe(false);
    const results = await Promise.all([
      s1.redeem(token, binding),
      s2.redeem(token, binding),
      s2.redeem(token, binding),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('names the host, not the password, when Redis is unreachable', async () => {
    const err = await connectRedis('redis://:topsecret@127.0.0.1:1', { connectTimeoutMs: 500 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(RavenhelmError);
    expect((err as Error).message).toContain('127.0.0.1:1');
    expect((err as Error).message).not.toContain('topsecret');
  });
});
