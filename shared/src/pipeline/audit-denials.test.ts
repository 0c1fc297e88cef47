import { describe, expect, it } from 'vitest';
import { type AuditEvent, createMemoryAuditSink } from './audit.js';
import { DenialAggregator } from './audit-denials.js';

const denial = (subject: string, tool = 't', errorCode = 'ERR_RATE_LIMITED', i = 0): AuditEvent => ({
  server: 's',
  tool,
  tier: 'MEDIUM',
  principal: { subject },
  requestId: `${subject}-${i}`,
  phase: 'outcome',
  args: { i },
  outcome: 'denied',
  errorCode,
});

describe('DenialAggregator', () => {
  it('writes the first denial per principal, tool and reason, counts the rest, flushes one summary each', async () => {
    const sink = createMemoryAuditSink();
    const agg = new DenialAggregator({ sink, windowMs: 60_000, onError: () => undefined });
    for (let i = 0; i < 50; i++) await agg.record(denial('a', 't', 'ERR_RATE_LIMITED', i));
    await agg.record(denial('a', 't', 'ERR_INSUFFICIENT_SCOPE'));
    await agg.record(denial('a', 'u'));
    await agg.record(denial('b'));
    expect(sink.records).toHaveLength(4);
    await agg.flush();
    expect(sink.records.map((r) => [r.principal.subject, r.tool, r.errorCode, r.count ?? 1])).toEqual([
      ['a', 't', 'ERR_RATE_LIMITED', 1],
      ['a', 't', 'ERR_INSUFFICIENT_SCOPE', 1],
      ['a', 'u', 'ERR_RATE_LIMITED', 1],
      ['b', 't', 'ERR_RATE_LIMITED', 1],
      ['a', 't', 'ERR_RATE_LIMITED', 49],
    ]);
    expect(sink.records[4]).toMatchObject({ requestId: 'a-49', args: { i: 49 } });
    expect(agg.size).toBe(0);
  });

  it('stays bounded with many principals: the oldest window is summarized early', async () => {
    const sink = createMemoryAuditSink();
    const agg = new DenialAggregator({ sink, windowMs: 60_000, maxKeys: 3, onError: () => undefined });
    for (let round = 0; round < 2; round++) for (const s of ['a', 'b', 'c', 'd']) await agg.record(denial(s));
    expect(agg.size).toBeLessThanOrEqual(3);
    await agg.flush();
    const total = sink.records.reduce((n, r) => n + (r.count ?? 1), 0);
    expect(total).toBe(8);
  });

  it('reports a summary that cannot be written instead of throwing from a timer', async () => {
    const errors: unknown[] = [];
    let fail = false;
    const inner = createMemoryAuditSink();
    const sink = {
      write: (e: AuditEvent, o: { durable: boolean }) => (fail ? Promise.reject(new Error('disk')) : inner.write(e, o)),
      close: () => inner.close(),
    };
    const agg = new DenialAggregator({ sink, windowMs: 20, onError: (err) => errors.push(err) });
    await agg.record(denial('a'));
    await agg.record(denial('a'));
    fail = true;
    await expect.poll(() => errors.length, { timeout: 1000, interval: 10 }).toBe(1);
    expect(agg.size).toBe(0);
  });
});
