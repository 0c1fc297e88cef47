import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRedis } from '../../../test/fixtures/redis.js';
import { RavenhelmError, ToolError } from '../errors.js';
import { connectRedis, describeRedisClient, describeRedisUrl, inRedis, parseSentinelUrl } from './redis.js';

describe('describeRedisUrl', () => {
  it('keeps scheme, host, port and db, drops credentials', () => {
    expect(describeRedisUrl('redis://user:pw@cache.internal:6380/2')).toBe('redis://cache.internal:6380/2');
    expect(describeRedisUrl('rediss://:pw@cache')).toBe('rediss://cache:6379');
    expect(describeRedisUrl('not a url :pw@')).not.toContain('pw');
  });
});

describe('connectRedis', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    await redis?.stop();
  });

  it('returns a ready client', async () => {
    const client = await connectRedis(redis.url, { connectionName: 'rh-test' });
    try {
      expect(client.status).toBe('ready');
      expect(await client.set('k', 'v')).toBe('OK');
      expect(await client.client('GETNAME')).toBe('rh-test');
    } finally {
      await client.quit();
    }
  });

  it('names the host, not the password, when Redis is unreachable, within a bounded time', async () => {
    const port = await freePort(); // nothing listens there
    const started = Date.now();
    const err = await connectRedis(`redis://:topsecret@127.0.0.1:${port}`, { connectAttempts: 2 }).catch(
      (e: Error) => e,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err).toBeInstanceOf(RavenhelmError);
    expect((err as RavenhelmError).code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).toContain('2 attempt(s)');
    expect((err as Error).message).not.toContain('topsecret');
  });

  it('gives up on a server that accepts but never answers', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
    });
    const port = await new Promise<number>((resolve) =>
      silent.listen(0, '127.0.0.1', () => resolve((silent.address() as { port: number }).port)),
    );
    try {
      const started = Date.now();
      const err = await connectRedis(`redis://127.0.0.1:${port}`, {
        connectTimeoutMs: 300,
        connectAttempts: 2,
      }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(RavenhelmError);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('refuses a URL that is not redis:// or rediss://, without echoing credentials', async () => {
    const err = await connectRedis('http://u:topsecret@127.0.0.1:1').catch((e: Error) => e);
    expect(err).toBeInstanceOf(RavenhelmError);
    expect((err as Error).message).not.toContain('topsecret');
  });

  it('fails commands at once while disconnected instead of queueing them', async () => {
    const own = await startRedis();
    const client = await connectRedis(own.url, { commandTimeoutMs: 500 });
    try {
      await own.stop();
      const started = Date.now();
      await expect(client.get('k')).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      client.disconnect();
    }
  });

  it('reconnects by itself once Redis is back, however long it was away', async () => {
    const port = await freePort();
    let own = await startRedis({ port });
    const client = await connectRedis(own.url);
    try {
      await own.stop();
      // Longer than the startup attempts: only the after-ready retry policy brings it back.
      await new Promise((r) => setTimeout(r, 1500));
      expect(client.status).not.toBe('end');
      own = await startRedis({ port });
      for (let i = 0; i < 100 && client.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 100));
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
      await own.stop();
    }
  });
});

describe('inRedis', () => {
  it('turns a frozen Redis into ERR_BACKEND_UNAVAILABLE naming host:port and the next step, never the password', async () => {
    const own = await startRedis({ password: 'in-redis-pw-51' });
    const client = await connectRedis(own.url, { commandTimeoutMs: 300 });
    try {
      expect(describeRedisClient(client)).toBe(`redis://127.0.0.1:${own.port}`);
      own.pause();
      const started = Date.now();
      const err = await inRedis(client, 'test store', 'retry shortly', () => client.get('k')).catch((e: Error) => e);
      own.resume();
      expect(Date.now() - started).toBeLessThan(1300);
      expect(err).toBeInstanceOf(ToolError);
      expect((err as ToolError).code).toBe('ERR_BACKEND_UNAVAILABLE');
      expect((err as Error).message).toBe(
        `the test store (Redis at redis://127.0.0.1:${own.port}) did not answer: Command timed out; retry shortly`,
      );
      expect((err as ToolError).details).toEqual({ store: 'test store', redis: `redis://127.0.0.1:${own.port}` });
      // A refusal the store raised on purpose passes through as it is.
      const own2 = new ToolError('ERR_CONFLICT', 'mine');
      await expect(inRedis(client, 'test store', 'x', () => Promise.reject(own2))).rejects.toBe(own2);
    } finally {
      client.disconnect();
      await own.stop();
    }
  });
});

describe('Sentinel URLs', () => {
  it('parses redis+sentinel:// with credentials, several sentinels, default port, db and TLS', () => {
    expect(parseSentinelUrl('redis+sentinel://u:p%40ss@s1:26380,s2,[::1]:26381/my%20master/3')).toEqual({
      tls: false,
      sentinels: [
        { host: 's1', port: 26380 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 26381 },
      ],
      name: 'my master',
      db: 3,
      username: 'u',
      password: 'p@ss',
    });
    expect(parseSentinelUrl('rediss+sentinel://:pw@s1/mymaster')).toEqual({
      tls: true,
      sentinels: [{ host: 's1', port: 26379 }],
      name: 'mymaster',
      db: 0,
      password: 'pw',
    });
    expect(parseSentinelUrl('redis://h:6379')).toBeUndefined();
  });

  it('refuses a malformed one with the form to use, never the password', () => {
    for (const bad of [
      'redis+sentinel://:topsecret@s1:26379',
      'redis+sentinel://:topsecret@s1:99999/m',
      'redis+sentinel://:topsecret@s1:26379,/m',
      'redis+sentinel://:topsecret@s1/m/x',
      'redis+sentinel://:top/secret@s1:26379/m',
      'redis+sentinel://:top@secret@s1:26379/m',
      'redis+sentinel://u:topsecret@s1:26379/m?x=1',
    ]) {
      const err = (() => {
        try {
          parseSentinelUrl(bad);
        } catch (e) {
          return e as RavenhelmError;
        }
      })();
      expect(err, bad).toBeInstanceOf(RavenhelmError);
      expect(err?.message).toContain('redis+sentinel://[user:password@]host1:26379,host2:26379/<masterName>[/<db>]');
      for (const part of ['topsecret', 'top', 'secret']) expect(err?.message).not.toContain(part);
      expect(describeRedisUrl(bad)).not.toMatch(/top|secret/);
    }
  });

  it('describes the sentinel form without credentials, for URLs and clients', async () => {
    expect(describeRedisUrl('redis+sentinel://u:pw@s1:26380,[::1]/m/2')).toBe(
      'redis+sentinel://s1:26380,[::1]:26379/m/2',
    );
    expect(describeRedisUrl('rediss+sentinel://:pw@s1/m')).toBe('rediss+sentinel://s1:26379/m');
    expect(describeRedisUrl('redis+sentinel://:pw@bad')).toBe('<unparseable Redis URL>');
    const { Redis } = await import('ioredis');
    const client = new Redis({
      lazyConnect: true,
      sentinels: [{ host: 's1', port: 26380 }],
      name: 'm',
      password: 'pw',
    });
    expect(describeRedisClient(client)).toBe('redis+sentinel://s1:26380/m');
    client.disconnect();
  });
});
