import { createHash, randomBytes } from 'node:crypto';
import { inRedis, onReplica, type RedisLike } from './redis.js';

export interface ConfirmationBinding {
  subject: string;
  tool: string;
  argsDigest: string;
}

export interface ConfirmationStore {
  /** `expiresAt` is in epoch SECONDS. */
  issue(binding: ConfirmationBinding, ttlSeconds: number): Promise<{ token: string; expiresAt: number }>;
  /**
   * True exactly once for a valid, unexpired token issued for exactly this binding; atomic, also across
   * processes sharing a Redis. A token presented with another binding (other caller, tool or arguments)
   * fails and is NOT consumed: otherwise anyone who saw a token could burn it with a bogus call.
   * Rejects with ERR_BACKEND_UNAVAILABLE (naming Redis host:port) when Redis cannot be reached: the caller
   * refuses the call. A redeem that timed out may still consume the token once Redis answers again.
   */
  redeem(token: string, binding: ConfirmationBinding): Promise<boolean>;
  close(): Promise<void>;
}

const STORE = 'confirmation store';
const REDEEM_NEXT =
  'nothing was run; retry with the same token shortly, and if it is then refused as used, call the tool again without it to get a new one';
const TOKEN = /^cfm_[A-Za-z0-9_-]{43}$/;
const PURGE_EVERY_MS = 1000;
const MAX_TTL_SECONDS = 24 * 3600;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/**
 * Only hashes are stored, of the token and of the binding: a dump of the store can neither replay a
 * token nor tell who confirmed what (argument digests of low-entropy arguments can be guessed).
 */
const tokenKey = (token: string) => sha256(token);
const bindingHash = (b: ConfirmationBinding) => sha256(JSON.stringify([b.subject, b.tool, b.argsDigest]));

// Atomic check-and-delete: consume only when the stored binding matches.
const REDEEM_LUA = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`;

/**
 * Single-use confirmation tokens: 'cfm_' + 32 random bytes (base64url). In memory by default (expired
 * entries purged as new tokens are issued); in Redis, for replicas, with SET NX EX to issue and a Lua
 * compare-and-delete to redeem.
 */
export function createConfirmationStore(opts: { redis?: RedisLike; keyPrefix?: string } = {}): ConfirmationStore {
  const prefix = opts.keyPrefix ?? 'ravenhelm:cfm';
  const redis = opts.redis;
  const memory = new Map<string, { binding: string; expiresAtMs: number }>();
  let lastPurge = 0;
  const purge = (now: number) => {
    if (now - lastPurge < PURGE_EVERY_MS) return;
    lastPurge = now;
    for (const [k, v] of memory) if (v.expiresAtMs <= now) memory.delete(k);
  };
  let closed = false;

  return {
    async issue(binding, ttlSeconds) {
      if (closed) throw new Error('confirmation store is closed');
      if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TTL_SECONDS) {
        throw new RangeError(`confirmation ttlSeconds must be in (0, ${MAX_TTL_SECONDS}] (got ${ttlSeconds})`);
      }
      const ttl = Math.ceil(ttlSeconds);
      const token = `cfm_${randomBytes(32).toString('base64url')}`;
      const now = Date.now();
      const expiresAtMs = now + ttl * 1000;
      if (redis) {
        const set = await inRedis(redis, STORE, 'nothing was run and no token was issued; retry shortly', () =>
          redis.set(`${prefix}:${tokenKey(token)}`, bindingHash(binding), 'EX', ttl, 'NX'),
        );
        if (set !== 'OK') throw new Error('confirmation token collision in Redis; refusing to reuse a key');
      } else {
        purge(now);
        memory.set(tokenKey(token), { binding: bindingHash(binding), expiresAtMs });
      }
      return { token, expiresAt: Math.floor(expiresAtMs / 1000) };
    },

    async redeem(token, binding) {
      if (closed || typeof token !== 'string' || !TOKEN.test(token)) return false;
      const key = tokenKey(token);
      if (redis) {
        // Fails closed. A command that timed out may still run once Redis answers again, using the token up:
        // the retry is then refused as used, and the caller needs a new token (never a second run).
        // Through Sentinel, spent only once a replica has it: a failover then cannot bring the token back.
        const answer = await inRedis(redis, STORE, REDEEM_NEXT, async () => {
          const spent = await redis.eval(REDEEM_LUA, 1, `${prefix}:${key}`, bindingHash(binding));
          if (spent === 1) await onReplica(redis);
          return spent;
        });
        return answer === 1;
      }
      // Check and delete with no await in between: single use within this process.
      const entry = memory.get(key);
      if (!entry) return false;
      if (entry.expiresAtMs <= Date.now()) {
        memory.delete(key);
        return false;
      }
      if (entry.binding !== bindingHash(binding)) return false;
      memory.delete(key);
      return true;
    },

    async close() {
      closed = true;
      memory.clear();
    },
  };
}
