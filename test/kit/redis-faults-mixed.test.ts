/**
 * Every Redis-backed stage at once: 40 concurrent callers (LOW reads, rate-limited writes, confirmation
 * tokens, approval requests, status polls, tasks, toolset checks) while Redis freezes mid-load and
 * resumes. Each call is answered within the bound (limiter store timeout + Redis command timeout +
 * slack) with a result or a clear ERR_BACKEND_UNAVAILABLE; nothing stays in flight; no call is audited
 * twice; afterwards every stage works again.
 */
import { CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import {
  answerText,
  callTimed,
  REDIS_PASSWORD,
  sleep,
  type Timed,
  timed,
  useFaultServer,
} from '../fixtures/redis-faults.js';

const tokens = {
  agent: { subject: 'agent-a', scopes: ['mcp:echo:read', 'mcp:echo:write'], roles: [] },
};
const POLICY = `
servers:
  echo:
    confirm: destructive
    tools:
      echo_say:
        approve: { count: 1, ttl: 5m }
`;
/** A MEDIUM call: limiter store timeout (500 ms) + one Redis command timeout (1000 ms), + slack. */
const BOUND_MS = 500 + 1000 + 1500;
const WORKERS = 40;

describe('all Redis-backed stages under one load while Redis freezes', () => {
  const s = useFaultServer({
    tokens,
    policy: POLICY,
    token: 'agent',
    env: { RAVENHELM_TOOLSETS: 'echo' },
  });

  /** One call of kind `k`: a plain tool call, or a task-augmented one. */
  const call = (k: number, i: number): Promise<Timed<unknown>> => {
    switch (k % 6) {
      case 0:
        return callTimed(s.client, 'echo_slow', { ms: 5 }); // LOW, initial toolset: no Redis
      case 1:
        return callTimed(s.client, 'echo_write', { value: `w-${i}` }); // toolset check + limiter
      case 2:
        return callTimed(s.client, 'echo_delete', { item: `d-${i}` }); // + confirmation token
      case 3:
        return callTimed(s.client, 'echo_say', { message: `a-${i}` }); // approval request
      case 4:
        return callTimed(s.client, 'toolsets_list', {});
      default:
        return timed(() =>
          s.client.request(
            { method: 'tools/call', params: { name: 'echo_task', arguments: { ms: 10, value: `t-${i}` }, task: {} } },
            CreateTaskResultSchema,
            { timeout: 15_000 },
          ),
        );
    }
  };
  const ok = (t: Timed<unknown>) => !t.error && !(t.value as { isError?: boolean }).isError;
  /** Refusals that say nothing ran: Redis unavailable, a plan to confirm, a pending approval, or a limit (20
   * pending approvals, 10 working tasks per caller: this load reaches both). */
  const expected = (t: Timed<unknown>) =>
    /ERR_(BACKEND_UNAVAILABLE|CONFIRMATION_REQUIRED|APPROVAL_PENDING|RATE_LIMITED)/.test(answerText(t));

  it('every call answered within the bound, clearly; nothing in flight; every stage works after', async () => {
    expect(answerText(await callTimed(s.client, 'toolsets_enable', { toolset: 'writes' }))).not.toMatch(/^ERR_/);
    const results: Timed<unknown>[] = [];
    const until = Date.now() + 3000;
    const load = Promise.all(
      Array.from({ length: WORKERS }, async (_, w) => {
        for (let i = 0; Date.now() < until; i++) results.push(await call(w, w * 1000 + i));
      }),
    );
    await sleep(700);
    s.h.redis.pause();
    await sleep(1500);
    s.h.redis.resume();
    await load;
    const unexpected = results.filter((r) => !ok(r) && !expected(r)).map(answerText);
    expect(unexpected).toEqual([]);
    const slowest = Math.max(...results.map((r) => r.ms));
    expect(slowest).toBeLessThan(BOUND_MS);
    const unavailable = results.filter((r) => /ERR_BACKEND_UNAVAILABLE/.test(answerText(r))).length;
    expect(unavailable).toBeGreaterThan(0);
    console.log(
      `mixed load: ${results.length} calls, ${unavailable} ERR_BACKEND_UNAVAILABLE during the freeze, slowest ${Math.round(slowest)} ms`,
    );
    for (const r of results) expect(answerText(r)).not.toContain(REDIS_PASSWORD);
    await expect.poll(() => s.h.inFlight(), { timeout: 5000 }).toBe(0);
    const outcomes = s.h.audit.records.filter((r) => r.phase === 'outcome' && r.count === undefined);
    expect(new Set(outcomes.map((r) => r.requestId)).size).toBe(outcomes.length);
    // Recovery: each stage end to end.
    const first = await callTimed(s.client, 'echo_delete', { item: 'after' });
    const token = first.value?._meta?.['ravenhelm/confirmation']?.token as string;
    expect(
      answerText(await callTimed(s.client, 'echo_delete', { item: 'after', confirmationToken: token })),
    ).not.toMatch(/^ERR_/);
    expect(answerText(await callTimed(s.client, 'echo_write', { value: 'after' }))).not.toMatch(/^ERR_/);
    // The approval store answers again (a new request, or the pending limit this load reached).
    expect(answerText(await callTimed(s.client, 'echo_say', { message: 'after' }))).toMatch(
      /^ERR_(APPROVAL_PENDING|RATE_LIMITED): .*approval/,
    );
    expect(s.h.logs()).not.toContain(REDIS_PASSWORD);
  }, 30_000);
});
