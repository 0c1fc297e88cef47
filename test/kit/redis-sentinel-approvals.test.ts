/**
 * Human approvals across a graceful Sentinel failover (SENTINEL FAILOVER), through the real SDK client:
 * 300 requests approved before it, consumed by 10 callers while the primary switches, then every one
 * retried twice at once. An approved action runs exactly once: a consume that only the old primary took
 * (between the replica's promotion and the client's switch) is not acknowledged, so the approval is still
 * there on the new primary for the retry, never run a second time. Each consume answer is bounded and a
 * failure is a clear ERR_BACKEND_UNAVAILABLE tool error.
 */
import { describe, expect, it } from 'vitest';
import { answerText, callTimed, sleep, type Timed, type ToolAnswer } from '../fixtures/redis-faults.js';
import { SENTINEL_DATA_PASSWORD, SENTINEL_PASSWORD, useSentinelServer } from '../fixtures/redis-sentinel.js';

const tokens = {
  agent: { subject: 'agent-a', scopes: ['mcp:echo:write'], roles: [] },
  alice: { subject: 'alice', scopes: ['mcp:approvals:approve'], roles: [] },
};
const POLICY = 'servers:\n  echo:\n    tools:\n      echo_delete:\n        approve: { count: 1, ttl: 10m }\n';
/** A MEDIUM call: limiter store timeout (500 ms) + one Redis command timeout (1000 ms) + slack. */
const BOUND_MS = 500 + 1000 + 1500;
const REQUESTS = 300;
const WORKERS = 10;

describe('Redis Sentinel: approvals consumed during a graceful failover', () => {
  const s = useSentinelServer({ tokens, policy: POLICY });

  it('every approved action runs exactly once, however the consumes and retries fall', async () => {
    const { set, h } = s;
    const clients = await Promise.all(Array.from({ length: WORKERS }, () => h.client('agent')));
    const del = (item: string, approvalRequestId: string | undefined, w: number) =>
      callTimed(clients[w % WORKERS] ?? (clients[0] as never), 'echo_delete', {
        item,
        ...(approvalRequestId ? { approvalRequestId } : {}),
      });
    const approve = async (id: string) => {
      const res = await fetch(`${h.base}/approvals/${id}/approve`, {
        method: 'POST',
        headers: { authorization: 'Bearer alice' },
      });
      expect(res.status, await res.text()).toBe(200);
    };

    // Requested and approved in batches (at most 20 pending per requester).
    const ids: string[] = [];
    for (let b = 0; b < REQUESTS; b += 20) {
      const asked = await Promise.all(Array.from({ length: 20 }, (_, i) => del(`ap-${b + i}`, undefined, i)));
      const batch = asked.map((a) => a.value?._meta?.['ravenhelm/approval']?.requestId as string);
      expect(
        batch.every((id) => /^apr_/.test(id ?? '')),
        answerText(asked[0] as Timed<ToolAnswer>),
      ).toBe(true);
      await Promise.all(batch.map(approve));
      ids.push(...batch);
    }
    const oldPrimary = await set.primaryPort();

    // Consumes paced over the switch: about 100 a second from 200 ms before it.
    const answers: Timed<ToolAnswer>[] = [];
    let next = 0;
    const consume = Promise.all(
      Array.from({ length: WORKERS }, async (_, w) => {
        for (let i = next++; i < REQUESTS; i = next++) {
          answers.push(await del(`ap-${i}`, ids[i], w));
          await sleep(100);
        }
      }),
    );
    await sleep(200);
    const triggered = performance.now();
    await set.failover();
    await set.waitForNewPrimary(oldPrimary, 20_000);
    const switchedMs = performance.now() - triggered;
    await consume;

    const unexpected = answers.filter((a) => a.value?.isError && !/^ERR_BACKEND_UNAVAILABLE: /.test(answerText(a)));
    expect(unexpected.map(answerText)).toEqual([]);
    expect(answers.filter((a) => a.error).map(answerText)).toEqual([]);
    for (const a of answers) expect(a.ms).toBeLessThan(BOUND_MS);
    const refused = answers.filter((a) => a.value?.isError).length;

    // Every request retried twice at once, after the switch: each item runs exactly once in all.
    await sleep(1000);
    for (let b = 0; b < REQUESTS; b += 20) {
      await Promise.all(
        ids.slice(b, b + 20).flatMap((id, i) => [del(`ap-${b + i}`, id, i), del(`ap-${b + i}`, id, i + 1)]),
      );
    }
    const ran = h.services.calls.filter((c) => c.tool === 'echo_delete').map((c) => (c.args as { item: string }).item);
    const twice = ran.filter((d, i) => ran.indexOf(d) !== i);
    console.log(
      `sentinel approvals: ${answers.length} consumes across the switch (${Math.round(switchedMs)} ms), ${refused} refused ERR_BACKEND_UNAVAILABLE; ` +
        `after retries ${new Set(ran).size} of ${REQUESTS} ran, ${twice.length} twice`,
    );
    expect(twice).toEqual([]);
    expect(new Set(ran).size).toBe(REQUESTS);
    const everything = `${answers.map(answerText).join('\n')}\n${h.logs()}\n${JSON.stringify(h.audit.records)}`;
    expect(everything).not.toContain(SENTINEL_DATA_PASSWORD);
    expect(everything).not.toContain(SENTINEL_PASSWORD);
  }, 120_000);
});
