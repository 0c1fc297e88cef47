/**
 * Human approval across two replicas sharing one real redis-server: a request made on one replica is
 * approved on the other and runs on either, exactly once, even when the agent retries on both at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callBody, type EchoHarness, rpc, startEcho } from '../fixtures/kit-harness.js';
import { startRedis } from '../fixtures/redis.js';

const tokens = {
  agent: { subject: 'agent-a', scopes: ['mcp:echo:write'], roles: [] },
  alice: { subject: 'alice', scopes: ['mcp:approvals:approve'], roles: [] },
  bob: { subject: 'bob', scopes: ['mcp:approvals:approve'], roles: [] },
};
const POLICY = `
servers:
  echo:
    tools:
      echo_delete:
        approve: { count: 2, ttl: 5m }
`;
const auth = (t: keyof typeof tokens) => ({ authorization: `Bearer ${t}` });

async function decide(h: EchoHarness, id: string, who: keyof typeof tokens) {
  const res = await fetch(`${h.base}/approvals/${id}/approve`, { method: 'POST', headers: auth(who) });
  return { status: res.status, json: (await res.json()) as { state?: string; error?: { code: string } } };
}

describe('approvals on two replicas sharing one Redis', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let one: EchoHarness;
  let two: EchoHarness;
  beforeAll(async () => {
    redis = await startRedis();
    const env = { RAVENHELM_REDIS_URL: redis.url, RAVENHELM_RATE_LIMIT_POINTS: '1000' };
    one = await startEcho({ tokens, env, policy: POLICY });
    two = await startEcho({ tokens, env, policy: POLICY });
  }, 30_000);
  afterAll(async () => {
    await one?.stop();
    await two?.stop();
    await redis?.stop();
  });

  const deletes = () => [...one.services.calls, ...two.services.calls].filter((c) => c.tool === 'echo_delete');

  it('request on one, approve on both (two people), concurrent retries on both: exactly one runs', async () => {
    const first = await rpc(one.url, callBody('echo_delete', { item: 'shared' }), auth('agent'));
    const id = first.json.result._meta['ravenhelm/approval'].requestId as string;
    expect(first.json.result.content[0].text).toMatch(/^ERR_APPROVAL_PENDING/);

    // The other replica sees it, and the two approvals land on different replicas.
    const listed = await fetch(`${two.base}/approvals`, { headers: auth('alice') }).then((r) => r.json());
    expect((listed as { approvals: { id: string }[] }).approvals.map((a) => a.id)).toContain(id);
    expect((await decide(two, id, 'alice')).json.state).toBe('pending');
    expect((await decide(one, id, 'alice')).status).toBe(409); // same person, other replica
    expect((await decide(one, id, 'bob')).json.state).toBe('approved');

    const retries = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        rpc(
          (i % 2 ? one : two).url,
          callBody('echo_delete', { item: 'shared', approvalRequestId: id }, i),
          auth('agent'),
        ),
      ),
    );
    const texts = retries.map((r) => (r.json.result.structuredContent ? 'ran' : r.json.result.content[0].text));
    expect(texts.filter((t) => t === 'ran')).toHaveLength(1);
    expect(texts.filter((t) => /^ERR_APPROVAL_INVALID: .*already used/.test(t))).toHaveLength(9);
    expect(deletes()).toHaveLength(1);

    // Gone everywhere: neither replica lists it as pending, and the status says consumed on both.
    for (const h of [one, two]) {
      const status = await rpc(h.url, callBody('approvals_get_status', { requestId: id }), auth('agent'));
      expect(status.json.result.structuredContent).toMatchObject({ state: 'consumed' });
    }
    const audits = [...one.audit.records, ...two.audit.records].filter(
      (r) =>
        (r as { approval?: { id: string } }).approval?.id === id &&
        r.outcome === 'success' &&
        r.principal.subject === 'agent-a',
    );
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ approval: { state: 'consumed', approvedBy: ['alice', 'bob'] } });
  });

  it('a rejection on one replica stops the run on the other', async () => {
    const before = deletes().length;
    const first = await rpc(two.url, callBody('echo_delete', { item: 'nope' }), auth('agent'));
    const id = first.json.result._meta['ravenhelm/approval'].requestId as string;
    const res = await fetch(`${one.base}/approvals/${id}/reject`, {
      method: 'POST',
      headers: { ...auth('bob'), 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'no' }),
    });
    expect(((await res.json()) as { state: string }).state).toBe('rejected');
    const retry = await rpc(two.url, callBody('echo_delete', { item: 'nope', approvalRequestId: id }), auth('agent'));
    expect(retry.json.result.content[0].text).toMatch(/^ERR_APPROVAL_INVALID: .* was rejected by bob/);
    expect(deletes()).toHaveLength(before);
  });
});
