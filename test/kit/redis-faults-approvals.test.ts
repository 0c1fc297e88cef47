/**
 * Human approvals while their Redis freezes (SIGSTOP), dies, or stops taking writes at the moment of a
 * state transition (`CLIENT PAUSE WRITE`: reads answer, the compare-and-set waits past the command
 * timeout and lands afterwards). Safety depends on this store: it fails closed, says why (ERR_BACKEND_
 * UNAVAILABLE naming Redis host:port, never the password) and what to do, audits every call and every
 * decision once, and an approved action runs exactly once even when a transition was cut in half.
 */
import { connectRedis } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import {
  answerText,
  callTimed,
  outcomesSince,
  REDIS_PASSWORD,
  sleep,
  type Timed,
  type ToolAnswer,
  timed,
  expectUnavailable as unavailable,
  useFaultServer,
} from '../fixtures/redis-faults.js';

const tokens = {
  agent: { subject: 'agent-a', scopes: ['mcp:echo:write'], roles: [] },
  alice: { subject: 'alice', scopes: ['mcp:approvals:approve'], roles: [] },
};
const POLICY = `
servers:
  echo:
    tools:
      echo_delete:
        approve: { count: 1, ttl: 5m }
      echo_task:
        approve: { count: 1, ttl: 5m }
`;
/** MEDIUM: the rate limiter's store timeout (500 ms), then one Redis command timeout (1000 ms), + slack. */
const BOUND_MS = 500 + 1000 + 1000;
const N = 10;

describe('approvals: Redis frozen, killed, or cut mid-transition', () => {
  const s = useFaultServer({ tokens, policy: POLICY, token: 'agent' });
  const withId = (approvalRequestId?: string) => (approvalRequestId ? { approvalRequestId } : {});
  const del = (item: string, approvalRequestId?: string) =>
    callTimed(s.client, 'echo_delete', { item, ...withId(approvalRequestId) });
  /** A LOW tool under approval: no rate limiter (its Redis write would queue every later command). */
  const low = (item: string, approvalRequestId?: string) =>
    callTimed(s.client, 'echo_task', { ms: 0, value: item, ...withId(approvalRequestId) });
  const request = async (item: string, call = del) => {
    const first = await call(item);
    const id = first.value?._meta?.['ravenhelm/approval']?.requestId;
    expect(id, answerText(first)).toMatch(/^apr_/);
    return id as string;
  };
  const decide = (id: string) =>
    timed(async () => {
      const res = await fetch(`${s.h.base}/approvals/${id}/approve`, {
        method: 'POST',
        headers: { authorization: 'Bearer alice' },
      });
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
    });
  const approved = async (item: string, call = del) => {
    const id = await request(item, call);
    expect((await decide(id)).value?.status).toBe(200);
    return id;
  };
  const ran = (prefix: string) =>
    s.h.services.calls
      .map((x) => x.args as { item?: string; value?: string })
      .map((a) => a.item ?? a.value ?? '')
      .filter((i) => i.startsWith(prefix));
  /** Stops Redis taking writes for `ms` (reads still answer), from a client of its own. */
  const pauseWrites = async (ms: number) => {
    const r = await connectRedis(s.h.redis.url);
    try {
      await r.call('CLIENT', 'PAUSE', String(ms), 'WRITE');
    } finally {
      r.disconnect();
    }
  };

  const expectUnavailable = (a: Timed<ToolAnswer>) => unavailable(a, s.h.redis.port, BOUND_MS);
  const outcomes = (from: number) => outcomesSince(s.h, from, 'echo_delete');

  it('requests and status polls while Redis is frozen: refused at once, clearly; nothing pending is left', async () => {
    const from = s.h.audit.records.length;
    s.h.redis.pause();
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => del(`frozen-${i}`)));
    s.h.redis.resume();
    for (const a of answers) expectUnavailable(a);
    console.log(
      `approval request, frozen: ${N} calls, slowest ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms`,
    );
    expect(outcomes(from)).toHaveLength(N);
    expect(await s.h.inFlight()).toBe(0);
    const listed = (await fetch(`${s.h.base}/approvals`, { headers: { authorization: 'Bearer alice' } }).then((r) =>
      r.json(),
    )) as { approvals: { tool: string }[] };
    expect(listed.approvals).toEqual([]);
    // The status tool (LOW) polls the same store.
    const id = await request('poll');
    s.h.redis.pause();
    const status = await timed(
      () => s.client.callTool({ name: 'approvals_get_status', arguments: { requestId: id } }) as Promise<ToolAnswer>,
    );
    s.h.redis.resume();
    const text = answerText(status);
    expect(status.value?.isError, text).toBe(true);
    expect(text).toMatch(/^ERR_BACKEND_UNAVAILABLE: .*127\.0\.0\.1/);
    expect(status.ms).toBeLessThan(1000 + 1000);
  }, 30_000);

  it('approved requests consumed while Redis is frozen: nothing runs; each runs exactly once after', async () => {
    const ids = await Promise.all(Array.from({ length: N }, (_, i) => approved(`consume-${i}`)));
    const from = s.h.audit.records.length;
    s.h.redis.pause();
    const answers = await Promise.all(ids.map((id, i) => del(`consume-${i}`, id)));
    await sleep(200);
    s.h.redis.resume();
    for (const a of answers) expectUnavailable(a);
    expect(ran('consume-')).toEqual([]);
    // Retries, twice over and at once: each approved call runs exactly once.
    const retries = await Promise.all([...ids, ...ids].map((id, i) => del(`consume-${i % N}`, id)));
    expect(ran('consume-').sort()).toEqual(ids.map((_, i) => `consume-${i}`).sort());
    expect(retries.filter((r) => !r.value?.isError)).toHaveLength(N);
    expect(outcomes(from)).toHaveLength(3 * N);
    expect(await s.h.inFlight()).toBe(0);
  }, 30_000);

  it('consume cut mid-transition (the compare-and-set lands after the call gave up): it still runs once', async () => {
    // CLIENT PAUSE WRITE: the consume's read answers, its compare-and-set waits past the command timeout and
    // runs when the pause ends. The call was refused and never ran: the approval must not be used up.
    const id = await approved('cut-consume', low);
    await pauseWrites(2500);
    const cut = await low('cut-consume', id);
    expect(answerText(cut)).toMatch(/^ERR_BACKEND_UNAVAILABLE: .*127\.0\.0\.1.*stays usable/);
    expect(cut.ms).toBeLessThan(1000 + 1000);
    expect(ran('cut-consume')).toEqual([]);
    await sleep(2500); // the pause ends; the queued compare-and-set runs
    let retry: Timed<ToolAnswer> | undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      retry = await low('cut-consume', id);
      if (!/ERR_BACKEND_UNAVAILABLE/.test(answerText(retry))) break;
      await sleep(200);
    }
    expect(answerText(retry as Timed<ToolAnswer>)).not.toMatch(/^ERR_/);
    expect(ran('cut-consume')).toEqual(['cut-consume']);
    const again = await low('cut-consume', id);
    expect(answerText(again)).toMatch(/^ERR_APPROVAL_INVALID: .*already used/);
    expect(ran('cut-consume')).toEqual(['cut-consume']);
  }, 30_000);

  it('a request cut mid-write (its write lands after the call gave up): no approver is ever asked about it', async () => {
    await pauseWrites(2500);
    // The pending-limit check reads (answers); the create waits past the command timeout, then lands.
    const cut = await low('cut-create');
    expect(answerText(cut)).toMatch(/^ERR_BACKEND_UNAVAILABLE: .*127\.0\.0\.1.*no approval was requested/);
    expect(cut.ms).toBeLessThan(1000 + 1000);
    await sleep(2500);
    const all = (await fetch(`${s.h.base}/approvals?state=all`, { headers: { authorization: 'Bearer alice' } }).then(
      (r) => r.json(),
    )) as { approvals: { args: { value?: string } }[] };
    expect(all.approvals.filter((a) => a.args.value === 'cut-create')).toEqual([]);
  }, 30_000);

  it('a decision cut mid-transition: the approver is told it may have landed, and it is audited', async () => {
    const id = await request('cut-decide');
    const from = s.h.audit.records.length;
    await pauseWrites(2500);
    const cut = await decide(id);
    expect(cut.ms).toBeLessThan(1000 + 1000);
    expect(cut.value?.status).toBe(503);
    expect(cut.value?.body).toMatch(/ERR_BACKEND_UNAVAILABLE/);
    expect(cut.value?.body).toContain(`127.0.0.1:${s.h.redis.port}`);
    expect(cut.value?.body).toMatch(/check/i);
    // Exactly one audit record of this decision attempt, whose outcome is unknown.
    const decisions = outcomes(from).filter((r) => r.approval?.decision === 'approve');
    expect(decisions).toHaveLength(1);
    expect(decisions[0]?.outcome).toBe('unknown');
    await sleep(2000);
    // It landed once Redis took writes again: the request is approved and runs once.
    const view = await fetch(`${s.h.base}/approvals/${id}`, { headers: { authorization: 'Bearer alice' } }).then((r) =>
      r.json(),
    );
    expect((view as { state: string }).state).toBe('approved');
    expect(answerText(await del('cut-decide', id))).not.toMatch(/^ERR_/);
    expect(ran('cut-decide')).toEqual(['cut-decide']);
  }, 30_000);

  it('a decision while Redis is frozen: a clear refusal (not HTTP 500); nothing changed, so nothing audited', async () => {
    const id = await request('frozen-decide');
    const from = s.h.audit.records.length;
    s.h.redis.pause();
    const d = await decide(id);
    s.h.redis.resume();
    expect(d.ms).toBeLessThan(1000 + 1000);
    // The server's trouble, not a bad request: 503 with Retry-After, as for any unavailable dependency.
    expect(d.value).toMatchObject({ status: 503, retryAfter: '2' });
    expect(d.value?.body).toMatch(/ERR_BACKEND_UNAVAILABLE.*127\.0\.0\.1.*retry/);
    // The request could not even be read: no decision was sent, as for an unknown request.
    expect(outcomes(from).filter((r) => r.approval?.decision === 'approve')).toHaveLength(0);
    expect((await decide(id)).value?.status).toBe(200);
  }, 30_000);

  it('killed and restarted: pending and approved requests are gone (no persistence) and fail closed', async () => {
    const id = await approved('kill');
    await s.h.redis.kill();
    const during = await del('kill', id);
    expectUnavailable(during);
    await s.h.redis.restart();
    let after: Timed<ToolAnswer> | undefined;
    for (let attempt = 0; attempt < 50; attempt++) {
      after = await del('kill', id);
      if (!/ERR_BACKEND_UNAVAILABLE/.test(answerText(after))) break;
      await sleep(100);
    }
    expect(answerText(after as Timed<ToolAnswer>)).toMatch(/^ERR_APPROVAL_INVALID: .*unknown or expired/);
    expect(ran('kill')).toEqual([]);
    // Recovery: a new request goes the whole way.
    const fresh = await approved('kill-new');
    expect(answerText(await del('kill-new', fresh))).not.toMatch(/^ERR_/);
  }, 30_000);

  it('30 concurrent requests by one agent never leave more than the 20 pending it may have', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => low(`limit-${i}`)));
    const pending = answers.filter((a) => /^ERR_APPROVAL_PENDING/.test(answerText(a)));
    const refused = answers.filter((a) => /^ERR_RATE_LIMITED: .*approval requests pending/.test(answerText(a)));
    const listed = (await fetch(`${s.h.base}/approvals`, { headers: { authorization: 'Bearer alice' } }).then((r) =>
      r.json(),
    )) as { approvals: { requester: { subject: string } }[] };
    expect(listed.approvals.filter((a) => a.requester.subject === 'agent-a').length).toBeLessThanOrEqual(20);
    expect(pending.length + refused.length).toBe(30);
    expect(refused.length).toBeGreaterThanOrEqual(10);
  }, 30_000);

  it('the Redis password appears in no log line or audit record', () => {
    expect(s.h.logs()).not.toContain(REDIS_PASSWORD);
    expect(JSON.stringify(s.h.audit.records)).not.toContain(REDIS_PASSWORD);
  });
});
