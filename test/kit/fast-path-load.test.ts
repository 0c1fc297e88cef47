/**
 * The tools/call fast path under concurrent load, with callers hanging up at random: every caller that
 * stays gets its own answer (no cross-talk between concurrent calls), every caller that leaves has its
 * own call cancelled and audited (and nobody else's), every call leaves exactly one outcome record, and
 * nothing stays in flight afterwards. Bounded: 60 calls, about a second.
 */
import { request as httpRequest } from 'node:http';
import { MultiplexTransport } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { callBody, type EchoHarness, startEcho } from '../fixtures/kit-harness.js';
import { startRedis } from '../fixtures/redis.js';

const tokens = {
  reader: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] },
  writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] },
};
const EACH = 20;

type Recorded = { tool: string; args: unknown };
/** echo_slow calls as the echo services record them: how long they were asked to wait, whether aborted. */
const slowCalls = (calls: Recorded[]) =>
  calls.filter((c) => c.tool === 'echo_slow').map((c) => c.args as { ms: number; aborted: boolean });

type Answer = { status: number; json: { id: unknown; result?: { structuredContent?: Record<string, unknown> } } };

/** One POST on its own connection; with `hangUpAfterMs`, the client closes it before any answer. */
function post(url: string, body: object, hangUpAfterMs?: number, token = 'reader'): Promise<Answer | 'hung up'> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'mcp-protocol-version': '2025-11-25',
          authorization: `Bearer ${token}`,
          'content-length': Buffer.byteLength(text),
        },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          data += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) }));
      },
    );
    req.on('error', (err) => (hangUpAfterMs === undefined ? reject(err) : resolve('hung up')));
    req.end(text);
    if (hangUpAfterMs !== undefined) {
      setTimeout(() => {
        req.destroy();
        resolve('hung up');
      }, hangUpAfterMs);
    }
  });
}

describe('tools/call fast path under load with callers hanging up', () => {
  let h: EchoHarness;
  beforeAll(async () => {
    // 60 calls of one principal at once: above the default per-caller bound (test/kit/admission.test.ts).
    h = await startEcho({ tokens, env: { RAVENHELM_MAX_CALLS_IN_FLIGHT_PER_CALLER: '100' } });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('answers each caller with its own result, cancels only the calls whose callers left, leaves nothing in flight', async () => {
    const run = vi.spyOn(MultiplexTransport.prototype, 'run');
    const before = h.audit.records.length;
    const stay = Array.from({ length: EACH }, (_, i) =>
      post(h.url, callBody('echo_slow', { ms: 250 }, `stay-${i}`) as object),
    );
    const say = Array.from({ length: EACH }, (_, i) =>
      post(h.url, callBody('echo_say', { message: `only-mine-${i}` }, `say-${i}`) as object),
    );
    const leave = Array.from({ length: EACH }, (_, i) =>
      post(h.url, callBody('echo_slow', { ms: 5000 }, `leave-${i}`) as object, 60 + Math.floor(Math.random() * 200)),
    );
    const [stayed, said, left] = await Promise.all([Promise.all(stay), Promise.all(say), Promise.all(leave)]);

    for (const [i, a] of stayed.entries()) {
      expect(a).not.toBe('hung up');
      const answer = a as Answer;
      expect(answer.status).toBe(200);
      expect(answer.json.id).toBe(`stay-${i}`);
      // Another caller's hang-up never reaches this call.
      expect(answer.json.result?.structuredContent?.aborted, `stay-${i}`).toBe(false);
    }
    for (const [i, a] of said.entries()) {
      const answer = a as Answer;
      expect(answer.json.id).toBe(`say-${i}`);
      expect(answer.json.result?.structuredContent).toEqual({ message: `only-mine-${i}` });
    }
    expect(left.every((a) => a === 'hung up')).toBe(true);

    // A caller that left before its request was read never started a call (the body read fails); every
    // one that started was cancelled. Under a quiet machine that is all of them.
    const inFlight = async () =>
      (await (await fetch(`${h.base}/metrics`)).text()).match(/^ravenhelm_tool_calls_in_flight\{[^}]*\} (\d+)$/m)?.[1];
    let started = 0;
    await vi.waitFor(
      async () => {
        const aborted = slowCalls(h.services.calls).filter((c) => c.ms === 5000);
        started = aborted.length;
        expect(aborted.every((c) => c.aborted)).toBe(true);
        const outcomes = h.audit.records.slice(before).filter((r) => r.phase === 'outcome');
        expect(outcomes).toHaveLength(2 * EACH + started);
        expect(await inFlight(), 'in-flight gauge after the load').toBe('0');
      },
      { timeout: 8000, interval: 100 },
    );
    expect(started, 'callers that left mid-call').toBeGreaterThan(0);
    expect(run).toHaveBeenCalledTimes(2 * EACH + started);
    run.mockRestore();
    const outcomes = h.audit.records.slice(before).filter((r) => r.phase === 'outcome');
    expect(new Set(outcomes.map((r) => r.requestId)).size).toBe(outcomes.length);
    const slow = outcomes.filter((r) => r.tool === 'echo_slow');
    expect(slow.filter((r) => r.outcome === 'success')).toHaveLength(EACH);
    expect(slow.filter((r) => r.errorCode === 'ERR_CANCELLED')).toHaveLength(started);
    expect(outcomes.filter((r) => r.tool === 'echo_say' && r.outcome === 'success')).toHaveLength(EACH);
  }, 20_000);

  it('a caller that hangs up while it is still being authenticated never has its call run to its end', async () => {
    // A slow identity step (a remote check, a store round trip): the client leaves during it.
    const slowPeer = async () => {
      await new Promise((r) => setTimeout(r, 200));
      return {};
    };
    const g = await startEcho({ tokens, peer: slowPeer });
    try {
      const gone = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          post(g.url, callBody('echo_slow', { ms: 1000 }, `early-${i}`) as object, 50),
        ),
      );
      expect(gone.every((a) => a === 'hung up')).toBe(true);
      // Long enough for an uncancelled call to have run to its end.
      await new Promise((r) => setTimeout(r, 1500));
      expect(slowCalls(g.services.calls).filter((c) => !c.aborted)).toEqual([]);
      // Nothing was audited either: no call started (the body read fails when the client is gone).
      expect(g.audit.records.filter((r) => r.tool === 'echo_slow' && r.outcome === 'success')).toEqual([]);
    } finally {
      await g.stop();
    }
  }, 20_000);

  it('a caller that hangs up while its call waits for a stalled rate limiter (Redis) never has it run', async () => {
    const redis = await startRedis();
    const g = await startEcho({ tokens, env: { RAVENHELM_REDIS_URL: redis.url } });
    try {
      const warm = await post(g.url, callBody('echo_write', { value: 'warm' }, 'warm') as object, undefined, 'writer');
      expect((warm as Answer).json.result?.structuredContent).toBeDefined();
      redis.pause();
      // MEDIUM: preflight waits on the Redis rate limiter; the caller gives up meanwhile.
      const left = await post(g.url, callBody('echo_write', { value: 'left' }, 'left') as object, 150, 'writer');
      expect(left).toBe('hung up');
      await new Promise((r) => setTimeout(r, 100));
      redis.resume();
      await new Promise((r) => setTimeout(r, 600));
      expect(g.services.calls.filter((c) => c.tool === 'echo_write').map((c) => c.args)).toEqual([{ value: 'warm' }]);
      expect(g.audit.records.filter((r) => r.tool === 'echo_write' && r.phase === 'attempt')).toHaveLength(1);
    } finally {
      await g.stop();
      await redis.stop();
    }
  }, 20_000);
});
