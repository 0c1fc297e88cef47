import type { Redis } from 'ioredis';
import { RavenhelmError, ToolError } from '../errors.js';

/**
 * The Redis client the stateful stages accept: an ioredis client. The caller owns it (connects it,
 * and quits it after closing every stage that uses it).
 */
export type RedisLike = Redis;

export interface ConnectRedisOptions {
  /** Time allowed for one TCP/TLS connect attempt. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** Connect attempts at startup before giving up. Default 3. */
  connectAttempts?: number;
  /** Time allowed for one command; a hung Redis fails the command instead of the request. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Shown in `CLIENT LIST` on the Redis side. */
  connectionName?: string;
}

/** `redis://user:pw@host:6379/0` -> `redis://host:6379/0`: safe for logs and error messages. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    const port = u.port || '6379';
    const db = u.pathname && u.pathname !== '/' ? u.pathname : '';
    return `${u.protocol}//${u.hostname}:${port}${db}`;
  } catch {
    return '<unparseable Redis URL>';
  }
}

/**
 * Connects an ioredis client and waits until it is ready. Startup is bounded (`connectAttempts` x
 * `connectTimeoutMs` plus short back-offs); once it has been ready the client reconnects forever with a
 * capped back-off, and while it is disconnected commands fail at once (no offline queue), so the rate
 * limiter falls back to its in-memory limits and the confirmation store refuses instead of hanging.
 *
 * Errors name the host and port, never the password.
 */
export async function connectRedis(url: string, opts: ConnectRedisOptions = {}): Promise<Redis> {
  const where = describeRedisUrl(url);
  if (!/^rediss?:\/\//i.test(url)) {
    throw new RavenhelmError(
      'ERR_BACKEND_UNAVAILABLE',
      `Redis URL must start with redis:// or rediss:// (got ${where})`,
    );
  }
  const attempts = Math.max(1, opts.connectAttempts ?? 3);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
  let everReady = false;
  // Loaded here, not at module load: a server without a Redis URL never pays for ioredis (~130 ms).
  const { Redis: RedisClient } = await import('ioredis');
  const client = new RedisClient(url, {
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    commandTimeout: opts.commandTimeoutMs ?? 1000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Never replay, after a reconnect, commands sent before the connection dropped: their callers were
    // already answered (timed out, refused), so a replayed SET or compare-and-set would change state that
    // nobody is told about (a ghost confirmation token, approval decision or task).
    autoResendUnfulfilledCommands: false,
    connectionName: opts.connectionName,
    retryStrategy: (times) => {
      if (!everReady && times >= attempts) return null;
      return Math.min(100 * 2 ** Math.min(times, 5), 2000);
    },
  });
  let lastError: Error | undefined;
  // Without a listener ioredis prints every reconnect error to the console.
  client.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    // connect() itself rejects on the first failed attempt while ioredis keeps retrying in the background,
    // so wait for the outcome of all attempts: 'ready', or 'end' once retryStrategy gives up.
    // A server that accepts but never answers the handshake is only caught by an overall deadline.
    const deadlineMs = attempts * (connectTimeoutMs + 1000);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        client.off('end', onEnd);
        reject(new Error(`no ready answer within ${deadlineMs} ms`));
      }, deadlineMs);
      const onReady = () => {
        clearTimeout(timer);
        client.off('end', onEnd);
        resolve();
      };
      const onEnd = () => {
        clearTimeout(timer);
        client.off('ready', onReady);
        reject(lastError ?? new Error('connection closed'));
      };
      client.once('ready', onReady);
      client.once('end', onEnd);
      client.connect().catch((err: Error) => {
        lastError = err;
      });
    });
    everReady = true;
    return client;
  } catch (err) {
    client.disconnect();
    throw new RavenhelmError(
      'ERR_BACKEND_UNAVAILABLE',
      `cannot connect to Redis at ${where} after ${attempts} attempt(s): ${describeCause(err)}`,
      { redis: where },
      { cause: err },
    );
  }
}

function describeCause(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  // ioredis messages carry host:port at most; strip anything that looks like URL credentials anyway.
  return msg.replace(/\/\/[^@/\s]*@/g, '//');
}

/** `redis://host:port/db` of a connected client, from its options: never its password. */
export function describeRedisClient(redis: RedisLike): string {
  const o = (redis as { options?: { host?: string; port?: number; db?: number; tls?: unknown } }).options ?? {};
  const db = o.db ? `/${o.db}` : '';
  return `${o.tls ? 'rediss' : 'redis'}://${o.host ?? 'localhost'}:${o.port ?? 6379}${db}`;
}

/**
 * Runs one store operation against Redis; a failure of Redis itself (timeout, connection down, refused
 * command) becomes ERR_BACKEND_UNAVAILABLE that names the store, the Redis host:port (never the password)
 * and what the caller should do (`next`). Errors the store raised on purpose pass through unchanged.
 */
export async function inRedis<T>(redis: RedisLike, store: string, next: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof RavenhelmError) throw err;
    const where = describeRedisClient(redis);
    throw new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `the ${store} (Redis at ${where}) did not answer: ${describeCause(err)}; ${next}`,
      { store, redis: where },
      { cause: err },
    );
  }
}

/**
 * Undoing, in the background, a write that timed out but may still run once Redis answers (it waits in
 * the connection's queue; commands on one connection run in order, so `undo` runs after it). Retried with
 * a back-off (250 ms doubling to 5 s) until `undo` resolves, `attempts` are spent, or `stopped()`.
 * Returns at once; `onGiveUp` is told when every attempt failed.
 */
export function undoLater(
  undo: () => Promise<unknown>,
  opts: { attempts: number; stopped?: () => boolean; onGiveUp?: () => void },
): void {
  let attempt = 0;
  const tryOnce = () => {
    if (opts.stopped?.()) return;
    undo().then(
      () => undefined,
      () => {
        if (++attempt < opts.attempts) setTimeout(tryOnce, Math.min(250 * 2 ** attempt, 5000)).unref();
        else opts.onGiveUp?.();
      },
    );
  };
  tryOnce();
}
