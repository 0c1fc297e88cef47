/**
 * The secrets server's reveal tokens (a confirmation store in Redis) while that Redis freezes (SIGSTOP):
 * the real bin, its real logger and durable audit file. A reveal whose token cannot be checked is
 * refused (the value is never shown), names Redis host:port and says what to do; a token is never
 * honoured twice after Redis returns; neither the Redis password nor the secret value appears in any
 * answer, log line or audit record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisProcess, startRedis } from '../fixtures/redis.js';
import { REDIS_PASSWORD } from '../fixtures/redis-faults.js';
import { assertNowhere, type SecretsBin, startBin } from '../secrets/harness.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';

const VALUE = 'Frozen-Reveal-Value-41c9e2';
/** HIGH over stdio: the rate limiter's store timeout (500 ms), one Redis command timeout (1000 ms), + slack. */
const BOUND_MS = 500 + 1000 + 1500;

describe('secrets reveal tokens: Redis frozen', () => {
  const sim = new SecretsManagerSimulator();
  let redis: RedisProcess;
  let bin: SecretsBin;
  beforeAll(async () => {
    await sim.start();
    sim.seed('frozen/db', VALUE);
    redis = await startRedis({ password: REDIS_PASSWORD });
    bin = await startBin({ sim, env: { RAVENHELM_REDIS_URL: redis.url } });
  }, 90_000);
  afterAll(async () => {
    await bin?.close();
    await redis?.stop();
    await sim.close();
  });

  const reveal = async (revealToken?: string) => {
    const started = performance.now();
    const r = await bin.call('secrets_get', {
      name: 'frozen/db',
      reveal: true,
      ...(revealToken ? { revealToken } : {}),
    });
    return { ...r, ms: performance.now() - started };
  };

  it('a reveal redeemed while Redis is frozen is refused clearly; the token never reveals twice', async () => {
    const first = await reveal();
    const token = first.structured?.revealToken as string;
    expect(token, first.text).toMatch(/^cfm_/);
    redis.pause();
    const frozen = await Promise.all([reveal(token), reveal(token), reveal(token)]);
    redis.resume();
    for (const f of frozen) {
      expect(f.isError, f.text).toBe(true);
      expect(f.text).toMatch(/^ERR_BACKEND_UNAVAILABLE: .*127\.0\.0\.1:\d+/);
      expect(f.structured?.value).toBeUndefined();
      expect(f.ms).toBeLessThan(BOUND_MS);
    }
    console.log(`secrets reveal, frozen: slowest ${Math.round(Math.max(...frozen.map((f) => f.ms)))} ms`);
    // After Redis returns, retries of the same token reveal at most once.
    const retries = await Promise.all([reveal(token), reveal(token), reveal(token)]);
    expect(retries.filter((r) => r.structured?.revealed === true).length).toBeLessThanOrEqual(1);
    // A new token works once.
    const again = (await reveal()).structured?.revealToken as string;
    expect((await reveal(again)).structured).toMatchObject({ revealed: true, value: VALUE });
    expect((await reveal(again)).text).toMatch(/ERR_CONFIRMATION_INVALID/);
  }, 60_000);

  it('neither the Redis password nor the secret value leaks into logs or the audit file', () => {
    assertNowhere([REDIS_PASSWORD], { stderr: bin.stderr(), audit: bin.auditText(), answers: bin.results() });
    assertNowhere([VALUE], { stderr: bin.stderr(), audit: bin.auditText() });
  });
});
