import { jsonBytes } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import type { PromSeries } from './backends/prometheus.js';
import { downsample, statsOf, suggestStep, summarizeMatrix } from './summary.js';

const points = (values: (number | string)[], t0 = 1000): [number, string][] =>
  values.map((v, i) => [t0 + i, String(v)]);

describe('statsOf', () => {
  it('computes min, max, avg, last and nearest-rank p95 over finite samples', () => {
    const s = statsOf(points(Array.from({ length: 100 }, (_, i) => i + 1)));
    expect(s).toEqual({ min: 1, max: 100, avg: 50.5, last: 100, p95: 95, samples: 100, nonFinite: 0 });
  });

  it('leaves NaN and ±Inf out and counts them', () => {
    expect(statsOf(points(['NaN', 2, '+Inf', 4, '-Inf']))).toEqual({
      min: 2,
      max: 4,
      avg: 3,
      last: 4,
      p95: 4,
      samples: 2,
      nonFinite: 3,
    });
    expect(statsOf(points(['NaN']))).toMatchObject({ min: null, max: null, last: null, samples: 0, nonFinite: 1 });
  });

  it('rounds to 6 significant digits', () => {
    expect(statsOf(points([1 / 3])).avg).toBe(0.333333);
  });
});

describe('downsample', () => {
  it('averages evenly sized buckets and keeps each bucket start time', () => {
    expect(downsample(points([1, 3, 5, 7, 9, 11]), 3)).toEqual([
      [1000, 2],
      [1002, 6],
      [1004, 10],
    ]);
    expect(downsample(points([1, 'NaN', 'NaN', 4]), 2)).toEqual([
      [1000, 1],
      [1002, 4],
    ]);
    expect(downsample(points(['NaN', 'NaN']), 1)).toEqual([[1000, null]]);
  });

  it('never returns more buckets than points', () => {
    expect(downsample(points([1, 2]), 10)).toHaveLength(2);
    expect(downsample([], 10)).toEqual([]);
    expect(downsample(points([1, 2]), 0)).toEqual([]);
  });
});

function matrix(n: number, length: number): PromSeries[] {
  return Array.from({ length: n }, (_, i) => ({
    metric: { __name__: 'm', i: String(i), pad: 'x'.repeat(40) },
    values: points(Array.from({ length }, (_, j) => i * 10 + (j % 7))),
  }));
}

describe('summarizeMatrix', () => {
  const base = { sortBy: 'max' as const, order: 'desc' as const, offset: 0, topK: 5, points: 10, maxBytes: 1e6 };

  it('ranks by the chosen stat, pages, and accounts for the rest', () => {
    const r = summarizeMatrix(matrix(20, 50), base);
    expect(r.series.map((s) => s.labels.i)).toEqual(['19', '18', '17', '16', '15']);
    expect(r).toMatchObject({ total: 20, nextOffset: 5, pointsPerSeries: 50 });
    expect(r.rest).toEqual({ series: 15, min: 0, max: 146 });
    const asc = summarizeMatrix(matrix(20, 50), { ...base, order: 'asc', sortBy: 'min', offset: 5 });
    expect(asc.series.map((s) => s.labels.i)).toEqual(['5', '6', '7', '8', '9']);
    const last = summarizeMatrix(matrix(20, 50), { ...base, offset: 15 });
    expect(last.nextOffset).toBeUndefined();
  });

  it('puts series without finite samples last', () => {
    const result: PromSeries[] = [
      { metric: { i: 'nan' }, values: points(['NaN', 'NaN']) },
      { metric: { i: 'one' }, values: points([1]) },
    ];
    for (const order of ['asc', 'desc'] as const) {
      expect(summarizeMatrix(result, { ...base, order }).series.map((s) => s.labels.i)).toEqual(['one', 'nan']);
    }
  });

  it('shrinks shapes, then series, until the JSON fits the budget', () => {
    const r = summarizeMatrix(matrix(50, 500), { ...base, topK: 50, points: 200, maxBytes: 3000 });
    expect(jsonBytes(r.series)).toBeLessThanOrEqual(3000);
    expect(r.series.length).toBeGreaterThan(0);
    expect(r.series.length).toBeLessThan(50);
    expect(r.series.length + r.rest.series).toBe(50);
    expect(r.nextOffset).toBe(r.series.length);
  });
});

describe('suggestStep', () => {
  it('picks the smallest readable step within the limit', () => {
    expect(suggestStep(3600, 1500)).toBe(5);
    expect(suggestStep(86_400, 11_000)).toBe(10);
    expect(suggestStep(60, 1000)).toBe(0.1);
    expect(suggestStep(400 * 86_400, 10)).toBe(Math.ceil((400 * 86_400) / 9));
    for (const [range, max] of [
      [3600, 1500],
      [7 * 86_400, 1000],
      [90, 30],
    ] as const) {
      expect(Math.floor(range / suggestStep(range, max)) + 1).toBeLessThanOrEqual(max);
    }
  });
});
