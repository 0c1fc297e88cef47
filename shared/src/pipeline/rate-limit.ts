import { type RateLimiterAbstract, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RavenhelmError } from '../errors.js';
import type { RedisLike } from './redis.js';

export interface RateLimiter {
  /** Takes `cost` points from the key's budget; throws ERR_RATE_LIMITED with retryAfterSeconds when empty. */
  consume(key: string, cost?: number): Promise<void>;
  /**
   * Stops using Redis (calls still in flight during shutdown get per-process limits); the Redis client
   * belongs to the caller and stays open.
   */
  close(): Promise<void>;
  /** Keys the in-memory limiter holds now (open windows); at most `maxKeys`. */
  readonly memoryKeys?: number;
}

export interface RateLimiterOptions {
  /** Points per window per key. */
  points: number;
  durationSeconds: number;
  keyPrefix?: string;
  /**
   * Shared counters across replicas. When Redis fails (down, not ready, slower than `storeTimeoutMs`), the
   * limiter does NOT fail closed: an in-memory limiter with the same limits takes over, so service goes on
   * with per-process limits (a replica count times looser) and a warning is logged, at most every 30 s.
   * Rate limiting is a throttle, not an authorization control; refusing every MEDIUM/HIGH call because
   * Redis blinked would turn a cache outage into a platform outage.
   */
  redis?: RedisLike;
  /** Longest wait for Redis before the in-memory fallback answers. Default 500 ms. */
  storeTimeoutMs?: number;
  /**
   * Most keys (agents) the in-memory limiter tracks at once; default 100,000. Windows that have ended are
   * dropped first; if every tracked window is still open, the oldest is dropped (that agent starts a fresh
   * window: a looser limit for one agent, never unbounded memory).
   */
  maxKeys?: number;
  /** Receives the fallback warnings. Default: process.emitWarning. */
  logger?: { warn(obj: object, msg: string): void };
}

const WARN_EVERY_MS = 30_000;

/** Per-key fixed-window limiter: in memory, or in Redis so replicas share one agent's quota. */
export function createRateLimiter(opts: RateLimiterOptions): RateLimiter {
  if (!Number.isSafeInteger(opts.points) || opts.points < 1) {
    throw new RangeError(`rate limit points must be a positive integer (got ${opts.points})`);
  }
  if (!Number.isSafeInteger(opts.durationSeconds) || opts.durationSeconds < 1) {
    throw new RangeError(`rate limit durationSeconds must be a positive integer (got ${opts.durationSeconds})`);
  }
  const base = { points: opts.points, duration: opts.durationSeconds, keyPrefix: opts.keyPrefix ?? 'ravenhelm:rl' };
  const memory = new MemoryWindows(opts.points, opts.durationSeconds * 1000, opts.maxKeys ?? 100_000);
  // rejectIfRedisNotReady: while ioredis reconnects, fail over at once instead of queueing.
  const shared: RateLimiterAbstract | undefined = opts.redis
    ? new RateLimiterRedis({ ...base, storeClient: opts.redis, rejectIfRedisNotReady: true })
    : undefined;
  const timeoutMs = opts.storeTimeoutMs ?? 500;
  let lastWarning = 0;
  let suppressed = 0;
  let closed = false;

  const warn = (err: unknown) => {
    const now = Date.now();
    if (now - lastWarning < WARN_EVERY_MS) {
      suppressed++;
      return;
    }
    const reason = err instanceof Error ? err.message : String(err);
    const msg = 'rate limiter: Redis unavailable, using per-process in-memory limits';
    if (opts.logger) opts.logger.warn({ reason, suppressed }, msg);
    else process.emitWarning(`${msg} (${reason}; ${suppressed} similar suppressed)`, { code: 'RAVENHELM_RL_FALLBACK' });
    lastWarning = now;
    suppressed = 0;
  };

  const viaRedis = async (limiter: RateLimiterAbstract, key: string, cost: number): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        limiter.consume(key, cost),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw err;
      warn(err);
      memory.consume(key, cost);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    async consume(key, cost = 1) {
      if (!Number.isSafeInteger(cost) || cost < 1)
        throw new RangeError(`cost must be a positive integer (got ${cost})`);
      try {
        if (shared && !closed) await viaRedis(shared, key, cost);
        else memory.consume(key, cost);
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
        const retryAfterSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
        throw new RavenhelmError(
          'ERR_RATE_LIMITED',
          `rate limit of ${opts.points} calls per ${opts.durationSeconds} s reached for this agent; retry in ${retryAfterSeconds} s`,
          { retryAfterSeconds, limit: opts.points, windowSeconds: opts.durationSeconds },
        );
      }
    },
    async close() {
      closed = true;
    },
    get memoryKeys() {
      return memory.size;
    },
  };
}

/**
 * Fixed windows per key in one bounded Map (insertion order = window start order), without a timer per
 * key: ended windows are dropped from the front whenever a window opens, so the Map holds the open
 * windows only, and never more than `maxKeys` (the oldest open one goes first).
 * Throws a RateLimiterRes when the key's budget is spent, as rate-limiter-flexible's limiters do.
 */
export class MemoryWindows {
  readonly #windows = new Map<string, { used: number; endsAt: number }>();

  constructor(
    readonly points: number,
    readonly windowMs: number,
    readonly maxKeys: number,
  ) {
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1)
      throw new RangeError(`maxKeys must be a positive integer (got ${maxKeys})`);
  }

  get size(): number {
    return this.#windows.size;
  }

  consume(key: string, cost: number): void {
    const now = Date.now();
    let w = this.#windows.get(key);
    if (!w || w.endsAt <= now) {
      if (w) this.#windows.delete(key); // re-inserted last: the Map stays in window start order
      this.#dropEnded(now);
      if (this.#windows.size >= this.maxKeys) this.#windows.delete(this.#windows.keys().next().value as string);
      w = { used: 0, endsAt: now + this.windowMs };
      this.#windows.set(key, w);
    }
    w.used += cost;
    if (w.used > this.points) throw new RateLimiterRes(0, w.endsAt - now, w.used, false);
  }

  /** Windows start (and so end) in Map order: the ended ones are at the front. Amortized O(1) per call. */
  #dropEnded(now: number): void {
    for (const [k, w] of this.#windows) {
      if (w.endsAt > now) return;
      this.#windows.delete(k);
    }
  }
}
