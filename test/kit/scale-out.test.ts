/**
 * Scaling out: two server replicas sharing one Redis (a real redis-server) share one agent's rate
 * limit and honour each other's confirmation tokens; another agent is not affected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callBody, type EchoHarness, rpc, startEcho } from '../fixtures/kit-harness.js';
import { startRedis } from '../fixtures/redis.js';

const tokens = {
  a: { subject: 'agent-a', scopes: ['mcp:echo:write'], roles: [] },
  b: { subject: 'agent-b', scopes: ['mcp:echo:write'], roles: [] },
};

describe('two replicas on one Redis', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let one: EchoHarness;
  let two: EchoHarness;
  beforeAll(async () => {
    redis = await startRedis();
    const env = {
      RAVENHELM_REDIS_URL: redis.url,
      RAVENHELM_RATE_LIMIT_POINTS: '4',
      RAVENHELM_RATE_LIMIT_WINDOW_SECONDS: '60',
    };
    const policy = 'servers:\n  echo:\n    confirm: destructive\n';
    one = await startEcho({ tokens, env, policy });
    two = await startEcho({ tokens, env, policy });
  }, 30_000);
  afterAll(async () => {
    await one?.stop();
    await two?.stop();
    await redis?.stop();
  });

  it("share one agent's quota across replicas", async () => {
    const statuses: number[] = [];
    for (const h of [one, two, one, two, one]) {
      statuses.push((await rpc(h.url, callBody('echo_write', { value: 'x' }), { authorization: 'Bearer a' })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    expect((await rpc(two.url, callBody('echo_write', { value: 'y' }), { authorization: 'Bearer b' })).status).toBe(
      200,
    );
  });

  it('redeem a confirmation token on the other replica, once', async () => {
    const first = await rpc(one.url, callBody('echo_delete', { item: 'z' }), { authorization: 'Bearer b' });
    const token = first.json.result._meta['ravenhelm/confirmation'].token as string;
    const second = await rpc(two.url, callBody('echo_delete', { item: 'z', confirmationToken: token }), {
      authorization: 'Bearer b',
    });
    expect(second.json.result.structuredContent).toEqual({ deleted: 'z' });
    const replay = await rpc(one.url, callBody('echo_delete', { item: 'z', confirmationToken: token }), {
      authorization: 'Bearer b',
    });
    expect(replay.json.result.content[0].text).toMatch(/^ERR_CONFIRMATION_INVALID/);
    expect([...one.services.calls, ...two.services.calls].filter((c) => c.tool === 'echo_delete')).toHaveLength(1);
  });
});
