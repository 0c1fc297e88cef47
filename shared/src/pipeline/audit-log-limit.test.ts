import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { limitLines } from './audit-log-limit.js';

describe('limitLines', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('n failures give the first line at once, then one line per interval, and counts that add up to n', () => {
    const lines: { fields: string; counts: Record<string, number> }[] = [];
    const limit = limitLines<string>(10_000, (fields, counts) => lines.push({ fields, counts }));
    limit.note('f1', { count: 1, high: 1 });
    expect(lines).toEqual([{ fields: 'f1', counts: { count: 1, high: 1 } }]);
    for (let i = 2; i <= 500; i++) {
      limit.note(`f${i}`, { count: 1, high: i % 2 });
      vi.advanceTimersByTime(50); // 25 s in all
    }
    limit.flush();
    expect(lines.length).toBeLessThanOrEqual(1 + Math.ceil(25_000 / 10_000) + 1);
    expect(lines.reduce((n, l) => n + (l.counts.count ?? 0), 0)).toBe(500);
    expect(lines.reduce((n, l) => n + (l.counts.high ?? 0), 0)).toBe(250);
    expect(lines.at(-1)?.fields).toBe('f500'); // a summary carries the latest failure
  });

  it('held failures are logged when the interval ends, without another failure or a flush', () => {
    const counts: number[] = [];
    const limit = limitLines<null>(1000, (_, c) => counts.push(c.count ?? 0));
    for (let i = 0; i < 5; i++) limit.note(null, { count: 1 });
    expect(counts).toEqual([1]);
    vi.advanceTimersByTime(999);
    expect(counts).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(counts).toEqual([1, 4]);
    limit.flush(); // nothing held: no line
    vi.advanceTimersByTime(5000);
    limit.note(null, { count: 1 }); // quiet for an interval: at once again
    expect(counts).toEqual([1, 4, 1]);
  });

  it('a throwing logger does not reach the caller', () => {
    const limit = limitLines<null>(1000, () => {
      throw new Error('logger down');
    });
    expect(() => limit.note(null, { count: 1 })).not.toThrow();
  });
});
