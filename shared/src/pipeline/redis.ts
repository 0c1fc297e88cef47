import { Redis } from 'ioredis';
import { safeUrl } from '../backend-http.js';
import { RavenhelmError } from '../errors.js';

/** The subset of ioredis the stores use. */
export type RedisLike = Redis;

/** Connects with a bounded timeout and retries; the error names the host, never the password. */
export async function connectRedis(url: string, opts: { connectTimeoutMs?: number } = {}): Promise<Redis> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: opts.connectTimeoutMs ?? 3000,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (times) => (times > 20 ? null : Math.min(times * 200, 2000)),
  });
  client.on('error', () => undefined); // reported through failed commands, not as unhandled events
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new RavenhelmError(
      'ERR_BACKEND_UNAVAILABLE',
      `cannot reach Redis at ${safeUrl(url)}: ${(err as Error).message.replace(url, safeUrl(url))}`,
    );
  }
  return client;
}
