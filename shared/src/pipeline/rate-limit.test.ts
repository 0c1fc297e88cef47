import { afterEach, describe, expect, it, vi } from 'vitest';
import { startRedis, useRedisPair } from '../../../test/fixtures/redis.js';
import { RavenhelmError } from '../errors.js';
import { createRateLimiter, MemoryWindows } from './rate-limit.js';
import { connectRedis, type RedisLike } from './redis.js';

const rejection = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as RavenhelmError,
  );

function recordingLogger() {
  const warnings: { obj: object; msg: string }[] = [];
  return { warnings, warn: (obj: object, msg: string) => warnings.push({ obj, msg }) };
}

describe('in-memory windows stay bounded', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never holds more than maxKeys keys, however many agents call', async () => {
    const rl = createRateLimiter({ points: 5, durationSeconds: 60, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) await rl.consume(`agent-${i}`);
    expect(rl.memoryKeys).toBe(100);
  });

  it('holds only open windows: ended ones are dropped when a window opens', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const w = new MemoryWindows(10, 1000, 1000);
    for (let i = 0; i < 50; i++) w.consume(`early-${i}`, 1);
    vi.advanceTimersByTime(1001);
    w.consume('late', 1);
    expect(w.size).toBe(1);
  });

  it('drops ended windows first, and only then the oldest open one', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const w = new MemoryWindows(1, 1000, 2);
    w.consume('a', 1);
    vi.advanceTimersByTime(600);
    w.consume('b', 1);
    vi.advanceTimersByTime(500); // a's window has ended, b's has not
    w.consume('c', 1);
    expect(w.size).toBe(2);
    expect(() => w.consume('b', 1)).toThrow(); // b kept its spent window
    w.consume('d', 1); // full of open windows: the oldest (b) goes
    expect(w.size).toBe(2);
    expect(() => w.consume('c', 1)).toThrow(); // c kept
    expect(() => w.consume('b', 1)).not.toThrow(); // b starts a fresh window
  });

  it('refuses a nonsense bound', () => {
    expect(() => createRateLimiter({ points: 1, durationSeconds: 1, maxKeys: 0 })).toThrow(RangeError);
  });
});

describe('in-memory rate limiter', () => {
  it('isolates keys and says when to retry', async () => {
    const rl = createRateLimiter({ points: 2, durationSeconds: 30 });
    await rl.consume('a');
    await rl.consume('a');
    const err = await rejection(rl.consume('a'));
    expect(err).toBeInstanceOf(RavenhelmError);
    expect(err.code).toBe('ERR_RATE_LIMITED');
    expect(err.details).toMatchObject({ limit: 2, windowSeconds: 30 });
    const retry = err.details.retryAfterSeconds as number;
    expect(retry).toBeGreaterThanOrEqual(29);
    expect(retry).toBeLessThanOrEqual(30);
    expect(err.message).toMatch(/2 calls per 30 s.*retry in (29|30) s/);
    await expect(rl.consume('b')).resolves.toBeUndefined();
  });

  it('charges the cost and serves the key again after the window', async () => {
    const rl = createRateLimiter({ points: 3, durationSeconds: 1 });
    await rl.consume('k', 3);
    await expect(rl.consume('k')).rejects.toMatchObject({
      code: 'ERR_RATE_LIMITED',
      details: { retryAfterSeconds: 1 },
    });
    await new Promise((r) => setTimeout(r, 1100));
    await expect(rl.consume('k')).resolves.toBeUndefined();
  });

  it('refuses nonsense limits and costs', async () => {
    expect(() => createRateLimiter({ points: 0, durationSeconds: 1 })).toThrow(RangeError);
    expect(() => createRateLimiter({ points: 1, durationSeconds: 0.5 })).toThrow(RangeError);
    const rl = createRateLimiter({ points: 5, durationSeconds: 10 });
    await expect(rl.consume('k', 0)).rejects.toThrow(RangeError);
    await expect(rl.consume('k', 1.5)).rejects.toThrow(RangeError);
  });

  it('falls back to in-memory limits, with a warning, when Redis does not answer in time', async () => {
    // A client that says it is ready but never answers: a hung Redis.
    const hung = {
      status: 'ready',
      defineCommand(name: string) {
        (this as unknown as Record<string, unknown>)[name] = () => new Promise(() => undefined);
      },
    } as unknown as RedisLike;
    const logger = recordingLogger();
    const rl = createRateLimiter({ points: 2, durationSeconds: 30, redis: hung, storeTimeoutMs: 50, logger });
    const started = Date.now();
    await rl.consume('agent');
    await rl.consume('agent');
    await expect(rl.consume('agent')).rejects.toMatchObject({ code: 'ERR_RATE_LIMITED' });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(logger.warnings).toHaveLength(1); // throttled: one warning for three fallbacks
    expect(logger.warnings[0]?.msg).toMatch(/in-memory/);
    expect(JSON.stringify(logger.warnings[0]?.obj)).toMatch(/did not answer within 50 ms/);
  });
});

describe('Redis rate limiter (real redis-server)', () => {
  const pair = useRedisPair((url) => connectRedis(url));

  it('two processes share one key quota; other keys are served', async () => {
    const one = createRateLimiter({ points: 3, durationSeconds: 30, keyPrefix: 'test:rl', redis: pair.a });
    const two = createRateLimiter({ points: 3, durationSeconds: 30, keyPrefix: 'test:rl', redis: pair.b });
    await one.consume('agent');
    await two.consume('agent');
    await one.consume('agent');
    const err = await rejection(two.consume('agent'));
    expect(err.code).toBe('ERR_RATE_LIMITED');
    expect(err.details.retryAfterSeconds).toBeGreaterThanOrEqual(29);
    await expect(one.consume('agent')).rejects.toMatchObject({ code: 'ERR_RATE_LIMITED' });
    await expect(two.consume('other-agent')).resolves.toBeUndefined();
    expect(Number(await pair.a.get('test:rl:agent'))).toBeGreaterThanOrEqual(4);
    expect(await pair.a.ttl('test:rl:agent')).toBeGreaterThan(25);
  });

  it('goes on with per-process limits, without hanging, when Redis goes away', async () => {
    const own = await startRedis();
    const client = await connectRedis(own.url);
    try {
      const logger = recordingLogger();
      const rl = createRateLimiter({ points: 2, durationSeconds: 30, keyPrefix: 'test:down', redis: client, logger });
      await rl.consume('agent');
      expect(await client.get('test:down:agent')).toBe('1');
      await own.stop();
      const started = Date.now();
      await rl.consume('agent'); // memory: 1 of 2 (the Redis count is not carried over)
      await rl.consume('agent');
      await expect(rl.consume('agent')).rejects.toMatchObject({ code: 'ERR_RATE_LIMITED' });
      expect(Date.now() - started).toBeLessThan(3000);
      expect(logger.warnings.length).toBe(1);
    } finally {
      client.disconnect();
      await own.stop();
    }
  });
});
