import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RavenhelmError } from '../errors.js';
import type { RedisLike } from './redis.js';

export interface RateLimiter {
  /** Takes `cost` points from the key's budget; throws ERR_RATE_LIMITED with retryAfterSeconds when empty. */
  consume(key: string, cost?: number): Promise<void>;
  close(): Promise<void>;
}

export interface RateLimiterOptions {
  points: number;
  durationSeconds: number;
  keyPrefix?: string;
  /** Shared counters across replicas. If Redis fails, an in-memory limiter takes over (per-process limits). */
  redis?: RedisLike;
}

/** Per-principal fixed-window limiter: in memory, or in Redis so replicas share one agent's quota. */
export function createRateLimiter(opts: RateLimiterOptions): RateLimiter {
  const base = { points: opts.points, duration: opts.durationSeconds, keyPrefix: opts.keyPrefix ?? 'ravenhelm:rl' };
  const memory = new RateLimiterMemory(base);
  const limiter = opts.redis
    ? new RateLimiterRedis({ ...base, storeClient: opts.redis, insuranceLimiter: new RateLimiterMemory(base) })
    : memory;
  return {
    async consume(key, cost = 1) {
      try {
        await limiter.consume(key, cost);
      } catch (res) {
        if (res instanceof RateLimiterRes) {
          const retryAfterSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
          throw new RavenhelmError(
            'ERR_RATE_LIMITED',
            `rate limit of ${opts.points} calls per ${opts.durationSeconds} s reached for this agent; retry in ${retryAfterSeconds} s`,
            { retryAfterSeconds },
          );
        }
        throw res;
      }
    },
    async close() {},
  };
}
