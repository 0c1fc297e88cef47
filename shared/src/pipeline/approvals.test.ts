import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis } from '../../../test/fixtures/redis.js';
import {
  APPROVAL_ID,
  ApprovalRequestSchema,
  type ApprovalStore,
  applyConsume,
  applyDecision,
  applyRelease,
  createApprovalStore,
  type NewApproval,
  newApprovalId,
} from './approvals.js';
import { connectRedis, type RedisLike } from './redis.js';

const input = (over: Partial<NewApproval> = {}): NewApproval => ({
  server: 'echo',
  tool: 'echo_delete',
  requester: { subject: 'agent-a', clientId: 'client-a', spiffeId: 'spiffe://td/agent/a' },
  argsDigest: 'sha256:aaa',
  args: { item: 'x', password: '[REDACTED]' },
  plan: 'Delete x',
  approvers: 'mcp:approvals:approve',
  count: 1,
  ttlSeconds: 60,
  ...over,
});
const binding = { server: 'echo', tool: 'echo_delete', subject: 'agent-a', argsDigest: 'sha256:aaa' };

let redisServer: Awaited<ReturnType<typeof startRedis>>;
const clients: RedisLike[] = [];
beforeAll(async () => {
  redisServer = await startRedis();
}, 30_000);
afterAll(async () => {
  for (const c of clients) await c.quit();
  await redisServer?.stop();
});

async function redisStore(prefix: string): Promise<ApprovalStore> {
  const client = await connectRedis(redisServer.url);
  clients.push(client);
  return createApprovalStore({ server: 'echo', redis: client, keyPrefix: prefix });
}

let n = 0;
const kinds: [string, () => Promise<ApprovalStore>][] = [
  ['memory', async () => createApprovalStore({ server: 'echo' })],
  ['redis', () => redisStore(`t:${++n}`)],
];

describe.each(kinds)('approval store (%s)', (_kind, make) => {
  it('creates a pending request with an unguessable id and lists it', async () => {
    const s = await make();
    const r = await s.create(input());
    expect(r.id).toMatch(APPROVAL_ID);
    expect(r.id).not.toBe((await s.create(input())).id);
    expect(r).toMatchObject({ state: 'pending', approvals: [], rejections: [], count: 1, plan: 'Delete x' });
    expect(Date.parse(r.expiresAt) - Date.parse(r.createdAt)).toBe(60_000);
    expect(await s.get(r.id)).toEqual(r);
    expect((await s.list()).map((x) => x.id)).toContain(r.id);
  });

  it('concurrent requests never pass the pending limit (40 at once, limit 20)', async () => {
    const s = await make();
    const answers = await Promise.allSettled(
      Array.from({ length: 40 }, () => s.create(input({ maxPendingPerRequester: 20 }))),
    );
    expect(answers.filter((a) => a.status === 'fulfilled')).toHaveLength(20);
    const refused = answers.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    expect(refused).toHaveLength(20);
    for (const r of refused) {
      expect(r.reason).toMatchObject({ code: 'ERR_RATE_LIMITED', details: { retryAfterSeconds: 60 } });
    }
    // Another requester is not held back by this one's requests.
    const other = await s.create(input({ requester: { subject: 'agent-b' }, maxPendingPerRequester: 20 }));
    expect(other.state).toBe('pending');
  });

  it('approves with one approver, then consumes exactly once', async () => {
    const s = await make();
    const r = await s.create(input());
    const d = await s.decide(r.id, { subject: 'alice', approve: true, comment: 'ok' });
    expect(d.ok && d.request.state).toBe('approved');
    expect((await s.get(r.id))?.approvals).toEqual([{ subject: 'alice', at: expect.any(String), comment: 'ok' }]);
    expect((await s.consume(r.id, binding)).ok).toBe(true);
    expect(await s.consume(r.id, binding)).toMatchObject({ ok: false, reason: 'consumed' });
    expect(await s.decide(r.id, { subject: 'bob', approve: true })).toMatchObject({ ok: false, reason: 'not-pending' });
  });

  it('needs two distinct approvers for count 2; the same person cannot approve twice', async () => {
    const s = await make();
    const r = await s.create(input({ count: 2 }));
    expect((await s.decide(r.id, { subject: 'alice', approve: true })).ok).toBe(true);
    expect(await s.consume(r.id, binding)).toMatchObject({ ok: false, reason: 'pending' });
    expect(await s.decide(r.id, { subject: 'alice', approve: true })).toMatchObject({
      ok: false,
      reason: 'already-decided',
    });
    expect((await s.get(r.id))?.state).toBe('pending');
    const second = await s.decide(r.id, { subject: 'bob', approve: true });
    expect(second.ok && second.request.state).toBe('approved');
    expect((await s.consume(r.id, binding)).ok).toBe(true);
  });

  it('refuses self-approval', async () => {
    const s = await make();
    const r = await s.create(input());
    expect(await s.decide(r.id, { subject: 'agent-a', approve: true })).toMatchObject({
      ok: false,
      reason: 'self-approval',
    });
    expect((await s.get(r.id))?.approvals).toEqual([]);
  });

  it('a rejection ends the request: it never runs', async () => {
    const s = await make();
    const r = await s.create(input({ count: 2 }));
    await s.decide(r.id, { subject: 'alice', approve: true });
    const d = await s.decide(r.id, { subject: 'bob', approve: false, comment: 'not now' });
    expect(d.ok && d.request.state).toBe('rejected');
    expect(await s.consume(r.id, binding)).toMatchObject({ ok: false, reason: 'rejected' });
    expect(await s.decide(r.id, { subject: 'carol', approve: true })).toMatchObject({
      ok: false,
      reason: 'not-pending',
    });
  });

  it('refuses other arguments, tool or requester without consuming the request', async () => {
    const s = await make();
    const r = await s.create(input());
    await s.decide(r.id, { subject: 'alice', approve: true });
    for (const other of [
      { ...binding, argsDigest: 'sha256:bbb' },
      { ...binding, tool: 'echo_write' },
      { ...binding, subject: 'agent-b' },
      { ...binding, server: 'docker' },
    ]) {
      expect(await s.consume(r.id, other)).toMatchObject({ ok: false, reason: 'mismatch' });
    }
    expect((await s.consume(r.id, binding)).ok).toBe(true);
  });

  it('expired requests are gone: no decision, no run, not listed', async () => {
    const s = await make();
    const r = await s.create(input({ ttlSeconds: 1 }));
    await s.decide(r.id, { subject: 'alice', approve: true });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await s.get(r.id)).toBeUndefined();
    expect(await s.consume(r.id, binding)).toEqual({ ok: false, reason: 'not-found' });
    expect(await s.decide(r.id, { subject: 'bob', approve: true })).toEqual({ ok: false, reason: 'not-found' });
    expect((await s.list()).map((x) => x.id)).not.toContain(r.id);
  });

  it('unknown and malformed ids are not found', async () => {
    const s = await make();
    expect(await s.get('apr_nope')).toBeUndefined();
    expect(await s.get(`apr_${'A'.repeat(32)}`)).toBeUndefined();
    expect(await s.decide('../../etc', { subject: 'x', approve: true })).toEqual({ ok: false, reason: 'not-found' });
  });

  it('rejects a ttl out of range', async () => {
    const s = await make();
    await expect(s.create(input({ ttlSeconds: 0 }))).rejects.toThrow(/ttlSeconds must be in/);
    await expect(s.create(input({ ttlSeconds: 90_000 }))).rejects.toThrow(/ttlSeconds must be in/);
  });
});

describe('approval store on one Redis from two clients', () => {
  it('concurrent consumes from both: exactly one wins', async () => {
    const a = await redisStore('shared');
    const b = await redisStore('shared');
    const r = await a.create(input());
    expect((await b.decide(r.id, { subject: 'alice', approve: true })).ok).toBe(true);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).consume(r.id, binding)));
    expect(results.filter((x) => x.ok)).toHaveLength(1);
    expect(results.filter((x) => !x.ok && x.reason === 'consumed')).toHaveLength(19);
  });

  it('concurrent approvals by two people on two clients both count', async () => {
    const a = await redisStore('shared2');
    const b = await redisStore('shared2');
    const r = await a.create(input({ count: 2 }));
    const [x, y] = await Promise.all([
      a.decide(r.id, { subject: 'alice', approve: true }),
      b.decide(r.id, { subject: 'bob', approve: true }),
    ]);
    expect(x.ok && y.ok).toBe(true);
    const now = await a.get(r.id);
    expect(now?.state).toBe('approved');
    expect(now?.approvals.map((d) => d.subject).sort()).toEqual(['alice', 'bob']);
  });

  it('ignores an entry that is not a valid request', async () => {
    const client = await connectRedis(redisServer.url);
    clients.push(client);
    const s = createApprovalStore({ server: 'echo', redis: client, keyPrefix: 'bad' });
    const id = `apr_${'B'.repeat(32)}`;
    await client.set(`bad:req:${id}`, JSON.stringify({ id, state: 'approved' }));
    expect(await s.get(id)).toBeUndefined();
    expect(await s.consume(id, binding)).toEqual({ ok: false, reason: 'not-found' });
  });
});

describe('giving back an approval a failed consume took', () => {
  const approvedRequest = () => {
    const r = applyDecision(
      { ...ApprovalRequestSchema.parse({ ...pendingOf(), id: newApprovalId() }) },
      { subject: 'alice', approve: true },
    );
    if (!r.ok) throw new Error('not approved');
    return r.request;
  };
  const pendingOf = () => ({
    server: 'echo',
    tool: 'echo_delete',
    requester: { subject: 'agent-a' },
    argsDigest: 'sha256:aaa',
    args: {},
    plan: 'Delete x',
    approvers: 'mcp:approvals:approve',
    count: 1,
    createdAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
    approvals: [],
    rejections: [],
    state: 'pending',
  });

  it('only the consume that took it can give it back, and only while it is consumed', () => {
    const consumed = applyConsume(approvedRequest(), binding, Date.now(), 'mark-1');
    if (!consumed.ok) throw new Error('not consumed');
    expect(consumed.request.consumedBy).toBe('mark-1');
    expect(applyRelease(consumed.request, 'mark-2')).toMatchObject({ ok: false, reason: 'not-ours' });
    const back = applyRelease(consumed.request, 'mark-1');
    expect(back.ok && back.request.state).toBe('approved');
    expect(back.ok && 'consumedBy' in back.request).toBe(false);
    expect(back.ok && 'consumedAt' in back.request).toBe(false);
    // Given back, it is no longer consumed: a second release changes nothing.
    if (back.ok) expect(applyRelease(back.request, 'mark-1')).toMatchObject({ ok: false, reason: 'not-ours' });
  });
});
