import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis } from '../fixtures/redis.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, type SecretsBin, startBin } from './harness.js';

// Two replicas of the bin sharing one Redis (RAVENHELM_REDIS_URL): a reveal token issued by one is
// redeemed by the other, exactly once.
const VALUE = 'Replica-Shared-Value-7d21c0';
const sim = new SecretsManagerSimulator();
let redis: Awaited<ReturnType<typeof startRedis>>;
let a: SecretsBin;
let b: SecretsBin;

beforeAll(async () => {
  await sim.start();
  sim.seed('replica/db', VALUE);
  redis = await startRedis();
  const env = { RAVENHELM_REDIS_URL: redis.url };
  [a, b] = await Promise.all([startBin({ sim, env }), startBin({ sim, env })]);
}, 90_000);

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await redis?.stop();
  await sim.close();
});

describe('reveal across replicas', () => {
  it('a token issued by one replica is redeemed once by another', async () => {
    const first = await a.call('secrets_get', { name: 'replica/db', reveal: true });
    const token = first.structured?.revealToken as string;
    expect(token).toMatch(/^cfm_/);
    const second = await b.call('secrets_get', { name: 'replica/db', reveal: true, revealToken: token });
    expect(second.structured).toMatchObject({ revealed: true, value: VALUE });
    const replay = await a.call('secrets_get', { name: 'replica/db', reveal: true, revealToken: token });
    expect(replay.text).toMatch(/ERR_CONFIRMATION_INVALID/);
    assertNowhere([VALUE], { stderrA: a.stderr(), stderrB: b.stderr(), auditA: a.auditText(), auditB: b.auditText() });
  });
});
