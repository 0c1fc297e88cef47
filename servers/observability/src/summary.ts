/**
 * Server-side summaries of range results (PromQL, and LogQL metric queries, whose matrix has the same
 * shape): a few numbers per series and a downsampled shape instead of thousands of points. Agents read
 * trends and outliers; they rarely need every sample.
 */
import { jsonBytes } from '@ravenhelm/kit';
import { z } from 'zod';
import type { PromSeries } from './backends/prometheus.js';
import { StringMap } from './labels.js';

export const STATS = ['max', 'avg', 'last', 'p95', 'min'] as const;
export type StatName = (typeof STATS)[number];

export const SeriesStats = z.object({
  min: z.number().nullable(),
  max: z.number().nullable(),
  avg: z.number().nullable(),
  last: z.number().nullable(),
  p95: z.number().nullable(),
  samples: z.number().int(),
  nonFinite: z.number().int(),
});
export type SeriesStats = z.output<typeof SeriesStats>;

export const SeriesSummary = z.object({
  labels: StringMap,
  stats: SeriesStats,
  // A two-item array, not a tuple: tuple schemas (prefixItems + items:false) fail in the SDK client.
  downsampled: z.array(z.array(z.number().nullable()).min(2).max(2)),
});
export type SeriesSummary = z.output<typeof SeriesSummary>;

/** Rounds to 6 significant digits: enough to read, fewer bytes. */
export function round(v: number): number {
  return Number(v.toPrecision(6));
}

export function statsOf(values: readonly [number, string][]): SeriesStats {
  const nums: number[] = [];
  let nonFinite = 0;
  for (const [, raw] of values) {
    const n = Number(raw);
    if (Number.isFinite(n)) nums.push(n);
    else nonFinite++;
  }
  if (nums.length === 0) return { min: null, max: null, avg: null, last: null, p95: null, samples: 0, nonFinite };
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let avg = 0;
  let count = 0;
  for (const n of nums) {
    if (n < min) min = n;
    if (n > max) max = n;
    avg = meanWith(avg, ++count, n);
  }
  const sorted = [...nums].sort((a, b) => a - b);
  const p95 = sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)] as number;
  return {
    min: round(min),
    max: round(max),
    avg: round(avg),
    last: round(nums[nums.length - 1] as number),
    p95: round(p95),
    samples: nums.length,
    nonFinite,
  };
}

/**
 * The running mean after its `count`-th value: stays between the values' min and max, where a sum of finite
 * values near Number.MAX_VALUE (Prometheus serves 1.7e308) overflows to Infinity, which no answer can carry.
 */
function meanWith(mean: number, count: number, v: number): number {
  return mean + (v / count - mean / count);
}

/** `buckets` evenly sized index buckets; each keeps its first timestamp and the average of its finite values. */
export function downsample(values: readonly [number, string][], buckets: number): [number, number | null][] {
  if (buckets <= 0 || values.length === 0) return [];
  const n = Math.min(buckets, values.length);
  const out: [number, number | null][] = [];
  for (let b = 0; b < n; b++) {
    const from = Math.floor((b * values.length) / n);
    const to = Math.floor(((b + 1) * values.length) / n);
    let mean = 0;
    let count = 0;
    for (let i = from; i < to; i++) {
      const v = Number((values[i] as [number, string])[1]);
      if (Number.isFinite(v)) mean = meanWith(mean, ++count, v);
    }
    out.push([(values[from] as [number, string])[0], count > 0 ? round(mean) : null]);
  }
  return out;
}

export interface SummarizeOptions {
  sortBy: StatName;
  order: 'desc' | 'asc';
  offset: number;
  topK: number;
  points: number;
  maxBytes: number;
}

export interface SummaryResult {
  series: SeriesSummary[];
  total: number;
  nextOffset: number | undefined;
  pointsPerSeries: number;
  /** Stats over every series left out of this page. */
  rest: { series: number; min: number | null; max: number | null };
}

/**
 * Ranks every series by a stat, takes `topK` from `offset`, and shrinks the downsampled shapes (then the
 * number of series) until the JSON fits `maxBytes`. The series left out are counted, never hidden.
 */
export function summarizeMatrix(result: readonly PromSeries[], opts: SummarizeOptions): SummaryResult {
  const ranked = result.map((s) => ({ s, stats: statsOf(s.values ?? []) }));
  const dir = opts.order === 'desc' ? -1 : 1;
  ranked.sort((a, b) => {
    const av = a.stats[opts.sortBy];
    const bv = b.stats[opts.sortBy];
    if (av === null) return bv === null ? 0 : 1;
    if (bv === null) return -1;
    return (av - bv) * dir;
  });
  let take = Math.max(0, Math.min(opts.topK, ranked.length - opts.offset));
  let points = opts.points;
  const build = () =>
    ranked.slice(opts.offset, opts.offset + take).map(({ s, stats }) => ({
      labels: s.metric,
      stats,
      downsampled: downsample(s.values ?? [], points),
    }));
  let series = build();
  // Bounded: each round halves the points or drops a series.
  for (let round = 0; round < 64 && jsonBytes(series) > opts.maxBytes; round++) {
    if (points > 4) points = Math.floor(points / 2);
    else if (take > 1) take = Math.max(1, Math.floor(take * 0.75));
    else if (points > 0) points = 0;
    else break;
    series = build();
  }
  const shown = new Set(series.map((_, i) => opts.offset + i));
  let restMin: number | null = null;
  let restMax: number | null = null;
  ranked.forEach(({ stats }, i) => {
    if (shown.has(i)) return;
    if (stats.min !== null) restMin = restMin === null ? stats.min : Math.min(restMin, stats.min);
    if (stats.max !== null) restMax = restMax === null ? stats.max : Math.max(restMax, stats.max);
  });
  const end = opts.offset + series.length;
  return {
    series,
    total: ranked.length,
    nextOffset: end < ranked.length ? end : undefined,
    pointsPerSeries: Math.max(0, ...result.map((s) => s.values?.length ?? 0)),
    rest: { series: ranked.length - series.length, min: restMin, max: restMax },
  };
}

/** The smallest readable step that keeps a range within `maxPoints` per series. */
export function suggestStep(rangeSeconds: number, maxPoints: number): number {
  const needed = rangeSeconds / Math.max(1, maxPoints - 1);
  const nice = [
    0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
  ];
  return nice.find((s) => s >= needed) ?? Math.ceil(needed);
}
