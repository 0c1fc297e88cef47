import { connectRedis, ToolError } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { startRedis, useRedisPair } from '../../../test/fixtures/redis.js';
import { RedisRestartStore, RestartBudget } from './restart-budget.js';

async function refusal(p: Promise<unknown>): Promise<ToolError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ToolError);
  return err as ToolError;
}

describe('RestartBudget in memory', () => {
  it('defaults to 3 restarts in 600 s', () => {
    expect(new RestartBudget().options).toEqual({ maxRestarts: 3, windowSeconds: 600 });
  });

  it('refuses after maxRestarts within the window with ERR_RESTART_BUDGET asking for a human', async () => {
    let now = 1_000_000;
    const b = new RestartBudget({ maxRestarts: 2, windowSeconds: 60 }, { now: () => now });
    await b.check('web');
    await b.take(['web']);
    now += 1000;
    await b.check('web');
    expect(await b.take(['web'])).toEqual([{ used: 2, remaining: 0, retryAfterSeconds: 59 }]);
    const err = await refusal(b.check('web', 'container "web"'));
    expect(err.code).toBe('ERR_RESTART_BUDGET');
    expect(err.message).toMatch(/container "web".*escalate to a human/);
    expect(err.details).toMatchObject({ used: 2, maxRestarts: 2, windowSeconds: 60, retryAfterSeconds: 59 });
    expect((await refusal(b.take(['web'], (k) => `container "${k}"`))).message).toMatch(/^container "web" was/);
    expect((await b.status('web')).used).toBe(2);
  });

  it('keeps containers apart', async () => {
    const b = new RestartBudget({ maxRestarts: 1, windowSeconds: 60 });
    await b.take(['a']);
    expect((await refusal(b.check('a'))).code).toBe('ERR_RESTART_BUDGET');
    await expect(b.check('b')).resolves.toBeUndefined();
  });

  it('takes several containers all or none', async () => {
    const b = new RestartBudget({ maxRestarts: 1, windowSeconds: 60 });
    await b.take(['db']);
    const err = await refusal(b.take(['web', 'db', 'cache']));
    expect(err.details).toMatchObject({ container: 'db' });
    expect((await b.status('web')).used).toBe(0);
    expect((await b.status('cache')).used).toBe(0);
    expect(await b.take(['web', 'cache'])).toHaveLength(2);
  });

  it('gives back exactly the restarts named by their receipts, once', async () => {
    const b = new RestartBudget({ maxRestarts: 2, windowSeconds: 60 });
    const [web, db] = await b.takeEach(['web', 'db']);
    const [again] = await b.takeEach(['web']);
    expect(again?.status).toEqual({ used: 2, remaining: 0, retryAfterSeconds: 60 });
    await b.giveBack([web as NonNullable<typeof web>]);
    expect((await b.status('web')).used).toBe(1);
    expect((await b.status('db')).used).toBe(1);
    // a receipt given back twice (or never taken) changes nothing
    await b.giveBack([web as NonNullable<typeof web>, { key: 'web', receipt: 'no-such' }]);
    expect((await b.status('web')).used).toBe(1);
    await b.giveBack([db as NonNullable<typeof db>]);
    expect((await b.status('db')).used).toBe(0);
  });

  it('slides: old restarts leave the window', async () => {
    let now = 0;
    const b = new RestartBudget({ maxRestarts: 2, windowSeconds: 10 }, { now: () => now });
    await b.take(['x']);
    now = 5_000;
    await b.take(['x']);
    await refusal(b.check('x'));
    now = 10_001; // the first restart is now older than 10 s
    expect(await b.status('x')).toEqual({ used: 1, remaining: 1, retryAfterSeconds: 0 });
    await b.check('x');
    now = 20_000;
    expect((await b.status('x')).used).toBe(0);
  });
});

describe('RestartBudget shared in Redis (real redis-server)', () => {
  const pair = useRedisPair((url) => connectRedis(url));
  let n = 0;
  const fresh = () => `c${++n}-${Date.now()}`;
  const budgets = (limits: { maxRestarts: number; windowSeconds: number }) =>
    [
      new RestartBudget(limits, { store: new RedisRestartStore(pair.a) }),
      new RestartBudget(limits, { store: new RedisRestartStore(pair.b) }),
    ] as const;

  it('two replicas share one window per container', async () => {
    const [a, b] = budgets({ maxRestarts: 2, windowSeconds: 60 });
    const key = fresh();
    await a.take([key]);
    expect(await b.take([key])).toEqual([{ used: 2, remaining: 0, retryAfterSeconds: 60 }]);
    const err = await refusal(a.check(key, `container "${key}"`));
    expect(err.code).toBe('ERR_RESTART_BUDGET');
    expect(err.details).toMatchObject({ used: 2, maxRestarts: 2 });
    await b.check(fresh());
  });

  it('stores a sorted set per container that expires with the window', async () => {
    const [a] = budgets({ maxRestarts: 3, windowSeconds: 30 });
    const key = fresh();
    await a.take([key]);
    const redisKey = `ravenhelm:rb:{docker}:${key}`;
    expect(await pair.a.type(redisKey)).toBe('zset');
    const ttl = await pair.a.pttl(redisKey);
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('slides on the Redis clock: a restart older than the window no longer counts', async () => {
    const [a, b] = budgets({ maxRestarts: 1, windowSeconds: 1 });
    const key = fresh();
    await a.take([key]);
    await refusal(b.take([key]));
    await new Promise((r) => setTimeout(r, 1100));
    expect(await b.take([key])).toEqual([{ used: 1, remaining: 0, retryAfterSeconds: 1 }]);
  });

  it('takes several containers all or none across replicas', async () => {
    const [a, b] = budgets({ maxRestarts: 1, windowSeconds: 60 });
    const [web, db] = [fresh(), fresh()];
    await a.take([db]);
    expect((await refusal(b.take([web, db]))).details).toMatchObject({ container: db });
    expect((await a.status(web)).used).toBe(0);
  });

  it('a restart given back by one replica is given back for all, and only that one', async () => {
    const [a, b] = budgets({ maxRestarts: 2, windowSeconds: 60 });
    const [web, db] = [fresh(), fresh()];
    const taken = await a.takeEach([web, db]);
    await b.take([web]);
    expect((await b.status(web)).used).toBe(2);
    await a.giveBack(taken.filter((t) => t.key === web));
    expect((await b.status(web)).used).toBe(1);
    expect((await b.status(db)).used).toBe(1);
    await a.giveBack(taken.filter((t) => t.key === web));
    expect((await b.status(web)).used).toBe(1);
  });

  it('many parallel check-and-record calls from two replicas: exactly maxRestarts succeed', async () => {
    const maxRestarts = 5;
    const [a, b] = budgets({ maxRestarts, windowSeconds: 60 });
    const key = fresh();
    const attempts = Array.from({ length: 60 }, (_, i) => ((i % 2 === 0 ? a : b) as RestartBudget).take([key]));
    const settled = await Promise.allSettled(attempts);
    const ok = settled.filter((s) => s.status === 'fulfilled');
    const refused = settled.filter(
      (s) => s.status === 'rejected' && (s.reason as ToolError).code === 'ERR_RESTART_BUDGET',
    );
    expect(ok).toHaveLength(maxRestarts);
    expect(refused).toHaveLength(60 - maxRestarts);
    expect((await a.status(key)).used).toBe(maxRestarts);
  });

  it('fails closed when Redis is down: restarts are refused with a clear error, never counted per replica', async () => {
    const redis = await startRedis();
    const client = await connectRedis(redis.url);
    try {
      const budget = new RestartBudget({ maxRestarts: 3, windowSeconds: 60 }, { store: new RedisRestartStore(client) });
      await budget.take(['web']);
      await redis.stop();
      for (const call of [budget.take(['web']), budget.check('web'), budget.status('web')]) {
        const err = await refusal(call);
        expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
        expect(err.message).toMatch(/restart budget in Redis.*restarts are refused until Redis answers/);
        expect(err.message).not.toMatch(/redis:\/\//);
      }
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });

  it('bounds a hung Redis by the store timeout', async () => {
    const hung = {
      eval: () => new Promise(() => undefined),
    } as unknown as ConstructorParameters<typeof RedisRestartStore>[0];
    const budget = new RestartBudget({}, { store: new RedisRestartStore(hung, { timeoutMs: 50 }) });
    const started = Date.now();
    const err = await refusal(budget.take(['web']));
    expect(err.message).toMatch(/no answer within 50 ms/);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('RestartBudget with its Redis frozen (SIGSTOP) under concurrent restarts', () => {
  it('refuses every restart at once, naming Redis host:port, and no refused restart uses up the budget', async () => {
    const password = 'rb-pw-9f2Lq';
    const redis = await startRedis({ password });
    const client = await connectRedis(redis.url);
    try {
      const budget = new RestartBudget({ maxRestarts: 3, windowSeconds: 60 }, { store: new RedisRestartStore(client) });
      redis.pause();
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 20 }, () => refusal(budget.take(['web']))));
      const slowest = Date.now() - started;
      redis.resume();
      expect(slowest).toBeLessThan(1000 + 1000);
      for (const err of answers) {
        expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
        expect(err.message).toContain(`127.0.0.1:${redis.port}`);
        expect(err.message).not.toContain(password);
      }
      // The takes sent before the freeze run once Redis wakes up; none of those restarts happened, so
      // none may count: the whole budget is there for the agent's retry.
      await new Promise((r) => setTimeout(r, 500));
      await expect.poll(async () => (await budget.status('web')).used, { timeout: 5000 }).toBe(0);
      expect((await budget.take(['web']))[0]?.used).toBe(1);
    } finally {
      client.disconnect();
      await redis.stop();
    }
  }, 30_000);
});
