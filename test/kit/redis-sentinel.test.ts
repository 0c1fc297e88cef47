/**
 * connectRedis against a real Redis Sentinel deployment (test/fixtures/redis-sentinel.ts): it finds the
 * master through the sentinels with both passwords, says clearly when the master name is wrong or no
 * sentinel answers (never a password), and a plain redis:// client whose primary is demoted (REPLICAOF)
 * fails writes at once and clearly instead of hanging, and is not "ready" while only a replica answers.
 */
import { connectRedis, loadConfig, RavenhelmError, redactConfig } from '@ravenhelm/kit';
import { secretsServer } from '@ravenhelm/mcp-secrets';
import { describe, expect, it } from 'vitest';
import { freePort } from '../fixtures/redis.js';
import { SENTINEL_DATA_PASSWORD, SENTINEL_PASSWORD, useSentinelSet } from '../fixtures/redis-sentinel.js';

const noSecret = (text: string) => {
  expect(text).not.toContain(SENTINEL_DATA_PASSWORD);
  expect(text).not.toContain(SENTINEL_PASSWORD);
};

describe('Sentinel configuration', () => {
  it('reads the URL and the sentinel password from the environment, and redacts both (kit and secrets server)', () => {
    const env = {
      RAVENHELM_REDIS_URL: `redis+sentinel://:${SENTINEL_DATA_PASSWORD}@s1:26379,s2:26379/mymaster`,
      RAVENHELM_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
    };
    const config = loadConfig({
      backendSchema: secretsServer.backendConfig,
      backendEnv: secretsServer.backendEnv,
      env,
    });
    expect(config.redis).toEqual({ url: env.RAVENHELM_REDIS_URL, sentinelPassword: SENTINEL_PASSWORD });
    expect(config.backend).toMatchObject({
      revealRedisUrl: env.RAVENHELM_REDIS_URL,
      revealRedisSentinelPassword: SENTINEL_PASSWORD,
    });
    noSecret(JSON.stringify(redactConfig(config, secretsServer.secretPaths)));
  });
});

describe('connectRedis through Sentinel', () => {
  const s = useSentinelSet();

  it('reaches the master the sentinels name, with the data and sentinel passwords', async () => {
    const client = await connectRedis(s.set.url, {
      sentinelPassword: SENTINEL_PASSWORD,
      connectionName: 'rh-sentinel',
    });
    try {
      expect(client.status).toBe('ready');
      expect(await client.set('rh:k', 'v')).toBe('OK');
      const primary = await s.set.primaryPort();
      expect(await s.set.cli(primary, 'GET', 'rh:k')).toBe('v');
      expect(await client.client('GETNAME')).toBe('rh-sentinel');
    } finally {
      await client.quit();
    }
  });

  it('without the sentinel password: refused clearly, no password in the error', async () => {
    const started = Date.now();
    const err = (await connectRedis(s.set.url, { connectAttempts: 2 }).catch((e: unknown) => e)) as RavenhelmError;
    expect(err).toBeInstanceOf(RavenhelmError);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/^no sentinel at 127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+ answered/);
    expect(err.message).toContain('because NOAUTH Authentication required.');
    expect(err.message).toContain('RAVENHELM_REDIS_SENTINEL_PASSWORD');
    expect(Date.now() - started).toBeLessThan(5000);
    noSecret(`${err.message} ${JSON.stringify(err.details)}`);
  });

  it('a wrong master name: the sentinels know no master by that name', async () => {
    const wrong = s.set.url.replace(/\/m$/, '/not-m');
    const started = Date.now();
    const err = (await connectRedis(wrong, { sentinelPassword: SENTINEL_PASSWORD, connectAttempts: 2 }).catch(
      (e: unknown) => e,
    )) as RavenhelmError;
    expect(err).toBeInstanceOf(RavenhelmError);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    const hosts = s.set.sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',');
    expect(err.message).toContain(`the sentinels at ${hosts} know no master named "not-m"`);
    expect(Date.now() - started).toBeLessThan(5000);
    noSecret(`${err.message} ${JSON.stringify(err.details)}`);
  });

  it('no sentinel reachable: bounded, names every sentinel, no password', async () => {
    const ports = [await freePort(), await freePort()];
    const url = `redis+sentinel://:${SENTINEL_DATA_PASSWORD}@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}/m`;
    const started = Date.now();
    const err = (await connectRedis(url, { sentinelPassword: SENTINEL_PASSWORD, connectAttempts: 2 }).catch(
      (e: unknown) => e,
    )) as RavenhelmError;
    expect(err).toBeInstanceOf(RavenhelmError);
    expect(err.message).toMatch(
      new RegExp(
        `^no sentinel at 127\\.0\\.0\\.1:${ports[0]},127\\.0\\.0\\.1:${ports[1]} answered \\(2 round\\(s\\)\\): failed to connect to sentinel 127\\.0\\.0\\.1:\\d+`,
      ),
    );
    expect(err.details).toEqual({ redis: `redis+sentinel://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}/m` });
    expect(Date.now() - started).toBeLessThan(5000);
    noSecret(`${err.message} ${JSON.stringify(err.details)}`);
  });

  it('a plain redis:// URL to a replica is not taken as ready', async () => {
    const primary = await s.set.primaryPort();
    const replica = [...s.set.nodes.keys()].find((p) => p !== primary) as number;
    const err = (await connectRedis(`redis://:${SENTINEL_DATA_PASSWORD}@127.0.0.1:${replica}`, {
      connectAttempts: 2,
    }).catch((e: unknown) => e)) as RavenhelmError;
    expect(err).toBeInstanceOf(RavenhelmError);
    expect(err.message).toBe(
      `cannot connect to Redis at redis://127.0.0.1:${replica} after 2 attempt(s): Redis at redis://127.0.0.1:${replica} answers as a read-only slave, not a primary`,
    );
  });
  // Last: it kills the primary of the shared s.set.
  it('a reconnect aborted by a +switch-master announcement does not end the client for good', async () => {
    const client = await connectRedis(s.set.url, { sentinelPassword: SENTINEL_PASSWORD });
    try {
      const old = await s.set.primaryPort();
      await s.set.nodes.get(old)?.kill();
      // What ioredis's failover detector does on +switch-master: close the connector, here while a
      // reconnect is asking the sentinels (they still name the dead primary for a second or two).
      const connector = (client as unknown as { connector: { disconnect(): void } }).connector;
      let aborted = 0;
      for (let i = 0; i < 400 && aborted < 3; i++) {
        if (client.status === 'connecting') {
          connector.disconnect();
          aborted++;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(aborted).toBeGreaterThan(0);
      const fresh = await s.set.waitForNewPrimary(old, 20_000);
      for (let i = 0; i < 100 && client.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 100));
      expect(client.status).toBe('ready');
      expect(await client.set('rh:after', '1')).toBe('OK');
      expect(await s.set.cli(fresh, 'GET', 'rh:after')).toBe('1');
    } finally {
      client.disconnect();
    }
  }, 40_000);
});
