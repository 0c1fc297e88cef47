/**
 * Confirmation tokens (destructive tools under `confirm`) while their Redis freezes (SIGSTOP) or dies
 * (SIGKILL), under concurrent load through the real SDK client. Safety depends on this store, so it
 * fails closed: a call whose token cannot be checked is not run, says why (ERR_BACKEND_UNAVAILABLE
 * naming the Redis host:port, never its password) and what to do; a token is never honoured twice, even
 * when Redis comes back and the agent retries; each call leaves one audit outcome; nothing stays in flight.
 */
import { describe, expect, it } from 'vitest';
import {
  answerText,
  callTimed,
  outcomesSince,
  REDIS_PASSWORD,
  sleep,
  type Timed,
  type ToolAnswer,
  expectUnavailable as unavailable,
  useFaultServer,
} from '../fixtures/redis-faults.js';

const tokens = { writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] } };
const POLICY = 'servers:\n  echo:\n    confirm: destructive\n';
/** MEDIUM: the rate limiter's store timeout (500 ms), then one Redis command timeout (1000 ms), + slack. */
const BOUND_MS = 500 + 1000 + 1000;
const N = 20;

const tokenOf = (t: Timed<ToolAnswer>) => t.value?._meta?.['ravenhelm/confirmation']?.token as string;

describe('confirmation tokens: Redis frozen or killed', () => {
  const s = useFaultServer({ tokens, policy: POLICY, token: 'writer' });
  const del = (item: string, confirmationToken?: string) =>
    callTimed(s.client, 'echo_delete', { item, ...(confirmationToken ? { confirmationToken } : {}) });
  const deleted = () =>
    s.h.services.calls.filter((x) => x.tool === 'echo_delete').map((x) => (x.args as { item: string }).item);
  const expectUnavailable = (answers: Timed<ToolAnswer>[]) => {
    for (const a of answers) unavailable(a, s.h.redis.port, BOUND_MS);
  };
  const expectAudited = async (from: number, calls: number) => {
    const outcomes = outcomesSince(s.h, from, 'echo_delete');
    expect(outcomes).toHaveLength(calls);
    expect(new Set(outcomes.map((r) => r.requestId)).size).toBe(calls);
    expect(await s.h.inFlight()).toBe(0);
  };

  it('issuing a token while Redis is frozen: refused at once, clearly; works again after', async () => {
    const from = s.h.audit.records.length;
    s.h.redis.pause();
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => del(`issue-${i}`)));
    s.h.redis.resume();
    expectUnavailable(answers);
    console.log(`confirm issue, frozen: ${N} calls, slowest ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms`);
    await expectAudited(from, N);
    expect(deleted()).toEqual([]);
    const fresh = await del('after-issue');
    expect(tokenOf(fresh)).toMatch(/^cfm_/);
  }, 30_000);

  it('redeeming while Redis is frozen: nothing runs; after Redis returns, no token runs twice', async () => {
    const issued = await Promise.all(Array.from({ length: N }, (_, i) => del(`redeem-${i}`)));
    const toks = issued.map(tokenOf);
    expect(toks.every((t) => /^cfm_/.test(t))).toBe(true);
    const from = s.h.audit.records.length;
    s.h.redis.pause();
    const answers = await Promise.all(toks.map((t, i) => del(`redeem-${i}`, t)));
    await sleep(200);
    s.h.redis.resume();
    expectUnavailable(answers);
    console.log(`confirm redeem, frozen: ${N} calls, slowest ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms`);
    for (const a of answers) expect(answerText(a)).toMatch(/get a new one|without it/);
    expect(deleted().filter((d) => d.startsWith('redeem-'))).toEqual([]);
    // The agent retries with the same tokens, twice over, at once: each item is deleted at most once.
    const retries = await Promise.all([...toks, ...toks].map((t, i) => del(`redeem-${i % N}`, t)));
    const ran = deleted().filter((d) => d.startsWith('redeem-'));
    expect(new Set(ran).size).toBe(ran.length);
    expect(ran.length).toBeLessThanOrEqual(N);
    console.log(
      `confirm redeem retries after the freeze: ${ran.length} of ${N} ran (the others were used up by the queued redeem)`,
    );
    for (const r of retries) expect(r.ms).toBeLessThan(BOUND_MS);
    await expectAudited(from, 3 * N);
  }, 30_000);

  it('killed while tokens are outstanding, restarted: old tokens fail closed, new ones work once', async () => {
    const issued = await Promise.all(Array.from({ length: 5 }, (_, i) => del(`kill-${i}`)));
    await s.h.redis.kill();
    const during = await Promise.all(issued.map((t, i) => del(`kill-${i}`, tokenOf(t))));
    expectUnavailable(during);
    await s.h.redis.restart();
    // The restarted Redis lost every token (no persistence): refused, never run.
    let after: Timed<ToolAnswer>[] = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      after = await Promise.all(issued.map((t, i) => del(`kill-${i}`, tokenOf(t))));
      if (after.every((a) => /ERR_CONFIRMATION_INVALID/.test(answerText(a)))) break;
      await sleep(100);
    }
    for (const a of after) expect(answerText(a)).toMatch(/^ERR_CONFIRMATION_INVALID/);
    expect(deleted().filter((d) => d.startsWith('kill-'))).toEqual([]);
    // Recovery: a new token runs exactly once.
    const t = tokenOf(await del('kill-new'));
    const [one, two] = await Promise.all([del('kill-new', t), del('kill-new', t)]);
    expect([one, two].filter((a) => !a.value?.isError)).toHaveLength(1);
    expect(deleted().filter((d) => d === 'kill-new')).toEqual(['kill-new']);
  }, 30_000);

  it('the Redis password appears in no log line or audit record', () => {
    expect(s.h.logs()).not.toContain(REDIS_PASSWORD);
    expect(JSON.stringify(s.h.audit.records)).not.toContain(REDIS_PASSWORD);
  });
});
