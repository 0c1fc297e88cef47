import { createHash, randomBytes } from 'node:crypto';
import type { RedisLike } from './redis.js';

export interface ConfirmationBinding {
  subject: string;
  tool: string;
  argsDigest: string;
}

export interface ConfirmationStore {
  issue(binding: ConfirmationBinding, ttlSeconds: number): Promise<{ token: string; expiresAt: number }>;
  /**
   * True exactly once for a valid, unexpired token issued for exactly this binding. A token presented
   * with another binding (other caller, tool or arguments) fails and stays unused.
   */
  redeem(token: string, binding: ConfirmationBinding): Promise<boolean>;
  close(): Promise<void>;
}

const TOKEN = /^cfm_[A-Za-z0-9_-]{43}$/;
const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');
const bindingOf = (b: ConfirmationBinding) => JSON.stringify([b.subject, b.tool, b.argsDigest]);

// Atomic check-and-delete: consume only when the stored binding matches.
const REDEEM_LUA = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`;

/**
 * Single-use confirmation tokens. Only sha256(token) is stored, so a dump of the store cannot be
 * replayed. In memory by default; in Redis (SET NX EX + an atomic Lua redeem) when shared by replicas.
 */
export function createConfirmationStore(opts: { redis?: RedisLike; keyPrefix?: string } = {}): ConfirmationStore {
  const prefix = opts.keyPrefix ?? 'ravenhelm:cfm';
  const redis = opts.redis;
  const memory = new Map<string, { binding: string; expiresAt: number }>();
  const purge = () => {
    const now = Date.now();
    for (const [k, v] of memory) if (v.expiresAt <= now) memory.delete(k);
  };
  return {
    async issue(binding, ttlSeconds) {
      const token = `cfm_${randomBytes(32).toString('base64url')}`;
      const expiresAt = Date.now() + ttlSeconds * 1000;
      if (redis) {
        await redis.set(`${prefix}:${hashOf(token)}`, bindingOf(binding), 'EX', ttlSeconds, 'NX');
      } else {
        purge();
        memory.set(hashOf(token), { binding: bindingOf(binding), expiresAt });
      }
      return { token, expiresAt: Math.floor(expiresAt / 1000) };
    },
    async redeem(token, binding) {
      if (!TOKEN.test(token)) return false;
      const key = hashOf(token);
      if (redis) return (await redis.eval(REDEEM_LUA, 1, `${prefix}:${key}`, bindingOf(binding))) === 1;
      const entry = memory.get(key);
      if (!entry || entry.expiresAt <= Date.now() || entry.binding !== bindingOf(binding)) return false;
      memory.delete(key);
      return true;
    },
    async close() {
      memory.clear();
    },
  };
}
