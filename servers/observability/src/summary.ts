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

/** Series with their stats, ranked by one stat (`order`); series without a finite sample last. */
export function rankSeries(
  result: readonly PromSeries[],
  sortBy: StatName,
  order: 'desc' | 'asc',
): { s: PromSeries; stats: SeriesStats }[] {
  const ranked = result.map((s) => ({ s, stats: statsOf(s.values ?? []) }));
  const dir = order === 'desc' ? -1 : 1;
  return ranked.sort((a, b) => {
    const av = a.stats[sortBy];
    const bv = b.stats[sortBy];
    if (av === null) return bv === null ? 0 : 1;
    if (bv === null) return -1;
    return (av - bv) * dir;
  });
}

/**
 * Summaries of `candidates` (in order), their downsampled shapes shrunk (then the number of series) until the
 * JSON fits `maxBytes`: the first ones that fit.
 */
export function fitSummaries(
  candidates: readonly { s: PromSeries; stats: SeriesStats }[],
  points: number,
  maxBytes: number,
): SeriesSummary[] {
  let take = candidates.length;
  let shape = points;
  const build = () =>
    candidates.slice(0, take).map(({ s, stats }) => ({
      labels: s.metric,
      stats,
      downsampled: downsample(s.values ?? [], shape),
    }));
  let series = build();
  // Bounded: each round halves the points or drops a series.
  for (let round = 0; round < 64 && jsonBytes(series) > maxBytes; round++) {
    if (shape > 4) shape = Math.floor(shape / 2);
    else if (take > 1) take = Math.max(1, Math.floor(take * 0.75));
    else if (shape > 0) shape = 0;
    else break;
    series = build();
  }
  return series;
}

/** Stats over the series not shown: how many, their lowest min and highest max. */
export function restOf(
  ranked: readonly { stats: SeriesStats }[],
  shown: ReadonlySet<unknown>,
): { series: number; min: number | null; max: number | null } {
  let min: number | null = null;
  let max: number | null = null;
  let series = 0;
  for (const r of ranked) {
    if (shown.has(r)) continue;
    series++;
    if (r.stats.min !== null) min = min === null ? r.stats.min : Math.min(min, r.stats.min);
    if (r.stats.max !== null) max = max === null ? r.stats.max : Math.max(max, r.stats.max);
  }
  return { series, min, max };
}

/**
 * Ranks every series by a stat, takes `topK` from `offset`, and shrinks the downsampled shapes (then the
 * number of series) until the JSON fits `maxBytes`. The series left out are counted, never hidden.
 */
export function summarizeMatrix(result: readonly PromSeries[], opts: SummarizeOptions): SummaryResult {
  const ranked = rankSeries(result, opts.sortBy, opts.order);
  const candidates = ranked.slice(opts.offset, opts.offset + opts.topK);
  const series = fitSummaries(candidates, opts.points, opts.maxBytes);
  const end = opts.offset + series.length;
  return {
    series,
    total: ranked.length,
    nextOffset: end < ranked.length ? end : undefined,
    pointsPerSeries: Math.max(0, ...result.map((s) => s.values?.length ?? 0)),
    rest: restOf(ranked, new Set(candidates.slice(0, series.length))),
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
