/**
 * Callers that hang up while their call waits on a stalled Redis inside the pipeline (confirmation
 * redeem, approval consume), and a shutdown while Redis is frozen. A call whose caller left is never run
 * to its end after Redis wakes up; the in-flight gauge returns to 0; each call has one audit outcome;
 * shutdown finishes in bounded time.
 */
import { describe, expect, it } from 'vitest';
import { callBody } from '../fixtures/kit-harness.js';
import { answerText, callTimed, sleep, startFaultServer, timed, useFaultServer } from '../fixtures/redis-faults.js';

const tokens = {
  writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] },
  alice: { subject: 'alice', scopes: ['mcp:approvals:approve'], roles: [] },
};
const POLICY = `
servers:
  echo:
    confirm: destructive
    tools:
      echo_task:
        approve: { count: 1, ttl: 5m }
`;

/** One tools/call POST whose client gives up (aborts, closing its connection) after `hangUpAfterMs`. */
async function postAndLeave(url: string, body: object, hangUpAfterMs: number): Promise<'hung up' | 'answered'> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        authorization: 'Bearer writer',
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(hangUpAfterMs),
    });
    await res.text();
    return 'answered';
  } catch {
    return 'hung up';
  }
}

describe('callers hanging up while a Redis-backed stage is stalled', () => {
  const s = useFaultServer({ tokens, policy: POLICY, token: 'writer' });
  const ran = (tool: string) => s.h.services.calls.filter((c) => c.tool === tool);

  it('left during a stalled confirmation redeem that then succeeds: the deletes do not run', async () => {
    const issued = await Promise.all(
      Array.from({ length: 10 }, (_, i) => callTimed(s.client, 'echo_delete', { item: `h-${i}` })),
    );
    const toks = issued.map((t) => t.value?._meta?.['ravenhelm/confirmation']?.token as string);
    const from = s.h.audit.records.length;
    s.h.redis.pause();
    // MEDIUM: the rate limiter falls back after 500 ms, then the redeem waits on Redis; they leave then.
    const left = Promise.all(
      toks.map((t, i) =>
        postAndLeave(s.h.url, callBody('echo_delete', { item: `h-${i}`, confirmationToken: t }, `h-${i}`), 700),
      ),
    );
    await left;
    await sleep(100);
    s.h.redis.resume(); // Redis answers the redeems within their command timeout: the tokens are good
    await sleep(1500);
    expect(ran('echo_delete').filter((c) => String((c.args as { item: string }).item).startsWith('h-'))).toEqual([]);
    await expect.poll(() => s.h.inFlight(), { timeout: 5000 }).toBe(0);
    const outcomes = s.h.audit.records.slice(from).filter((r) => r.phase === 'outcome' && r.tool === 'echo_delete');
    expect(new Set(outcomes.map((r) => r.requestId)).size).toBe(outcomes.length);
    expect(outcomes.every((r) => r.outcome !== 'success')).toBe(true);
  }, 30_000);

  it('left during a stalled approval consume that then succeeds: the call does not run', async () => {
    const first = await callTimed(s.client, 'echo_task', { ms: 0, value: 'h-apr' });
    const id = first.value?._meta?.['ravenhelm/approval']?.requestId as string;
    expect(id, answerText(first)).toMatch(/^apr_/);
    const decided = await fetch(`${s.h.base}/approvals/${id}/approve`, {
      method: 'POST',
      headers: { authorization: 'Bearer alice' },
    });
    expect(decided.status).toBe(200);
    s.h.redis.pause();
    await postAndLeave(s.h.url, callBody('echo_task', { ms: 0, value: 'h-apr', approvalRequestId: id }, 'h-apr'), 150);
    await sleep(300);
    s.h.redis.resume();
    await sleep(1500);
    expect(ran('echo_task')).toEqual([]);
    // The consume went through while nobody was there to run the call: the approval is given back (audited
    // as released), so the people's decision is not wasted, and the same call then runs, once.
    const outcome = s.h.audit.records.find((r) => r.tool === 'echo_task' && r.errorCode === 'ERR_CANCELLED');
    expect(outcome?.approval).toMatchObject({ id, state: 'released' });
    const retry = await callTimed(s.client, 'echo_task', { ms: 0, value: 'h-apr', approvalRequestId: id });
    expect(answerText(retry)).not.toMatch(/^ERR_/);
    expect(ran('echo_task')).toHaveLength(1);
    const again = await callTimed(s.client, 'echo_task', { ms: 0, value: 'h-apr', approvalRequestId: id });
    expect(answerText(again)).toMatch(/^ERR_APPROVAL_INVALID: .*already used/);
    expect(ran('echo_task')).toHaveLength(1);
    await expect.poll(() => s.h.inFlight(), { timeout: 5000 }).toBe(0);
  }, 30_000);
});

describe('shutdown while Redis is frozen', () => {
  it('finishes in bounded time and leaves nothing running', async () => {
    const h = await startFaultServer({ tokens, policy: POLICY });
    const c = await h.client('writer');
    expect(answerText(await callTimed(c, 'echo_write', { value: 'before' }))).not.toMatch(/^ERR_/);
    h.redis.pause();
    try {
      const stopped = await timed(() => h.stop());
      expect(stopped.error).toBeUndefined();
      // Each Redis command in shutdown (QUIT) is bounded by the command timeout.
      expect(stopped.ms).toBeLessThan(5000);
      console.log(`shutdown with Redis frozen: ${Math.round(stopped.ms)} ms`);
    } finally {
      h.redis.resume();
      await h.redis.stop();
    }
  }, 30_000);
});
