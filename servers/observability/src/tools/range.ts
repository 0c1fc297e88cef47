/**
 * The answer both range tools give (metrics_query_range for PromQL, logs_query_metric for LogQL metric
 * queries): the same inputs after query/start/end/step, the same guard against too many points per series,
 * and the same summary or raw page of a matrix, fitted to the output budget.
 */
import { clipChars, decodeCursor, encodeCursor, jsonBytes, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { PromSeries } from '../backends/prometheus.js';
import { StringMap } from '../labels.js';
import { SeriesSummary, STATS, type StatName, suggestStep, summarizeMatrix } from '../summary.js';
import { formatDuration } from '../time.js';

/**
 * Raw points as two columns, `t` (Unix seconds) and `v` (the backend's value text, "NaN"/"+Inf" kept): no
 * tuple schema (the SDK client rejects prefixItems + items:false), no mixed-type arrays, fewer bytes than pairs.
 */
export const RawSeries = z.object({
  labels: StringMap,
  points: z.number().int(),
  t: z.array(z.number()),
  v: z.array(z.string()),
});

/**
 * Bounds of one series' labels in answers. A query within its 4,000 chars can build a label value of any length
 * (label_join names one label as often as it likes), and one such series made the whole answer too large for
 * any filter or limit to narrow. Each value is cut to `valueChars`, then all of a series' values share
 * `seriesChars`; the answer's `cut` says so (the cut values end in "…").
 */
export const LABEL_BOUNDS = { valueChars: 500, seriesChars: 4000 } as const;

/** `result` with every series' labels within LABEL_BOUNDS, and the statement of the cut when one was made. */
export function boundSeriesLabels(result: readonly PromSeries[]): { result: PromSeries[]; cut?: string[] } {
  let cutSeries = 0;
  const bounded = result.map((s) => {
    const entries = Object.entries(s.metric);
    let chars = 0;
    for (const [k, v] of entries) chars += k.length + v.length;
    const long = entries.some(([, v]) => v.length > LABEL_BOUNDS.valueChars);
    if (!long && chars <= LABEL_BOUNDS.seriesChars) return s;
    cutSeries++;
    const each = Math.max(20, Math.min(LABEL_BOUNDS.valueChars, Math.floor(LABEL_BOUNDS.seriesChars / entries.length)));
    // Object.fromEntries keeps every key as its own (a `__proto__` label too)
    return { ...s, metric: Object.fromEntries(entries.map(([k, v]) => [k, clipChars(v, each)])) };
  });
  if (cutSeries === 0) return { result: bounded };
  return {
    result: bounded,
    cut: [
      `label values cut on ${cutSeries} series (ending in "…"): ${LABEL_BOUNDS.valueChars} chars each, ${LABEL_BOUNDS.seriesChars} per series in all`,
    ],
  };
}

/** A series' last `n` points as columns. */
export function columns(s: PromSeries, n: number): z.output<typeof RawSeries> {
  const values = (s.values ?? []).slice(-n);
  return { labels: s.metric, points: s.values?.length ?? 0, t: values.map((p) => p[0]), v: values.map((p) => p[1]) };
}

/** How a range answer is shaped; the tool's own inputs (query, start, end, step) come before these. */
export const RangeAnswerInput = {
  mode: z.enum(['summary', 'raw']).default('summary'),
  sortBy: z.enum(STATS).default('max'),
  order: z.enum(['desc', 'asc']).default('desc'),
  topK: z.number().int().min(1).max(100).default(10),
  points: z.number().int().min(0).max(200).default(24).describe('Points per shape'),
};

/**
 * A range and step giving more points per series are refused with a suggested step (checkPointsPerSeries).
 * 11,000 is both Prometheus's and Loki's own limit (Loki: pkg/loghttp/query.go, errStepTooSmall).
 */
/** Points per series a range answer reads at most unless the caller raises it (metrics_query_range). */
export const DEFAULT_MAX_POINTS_PER_SERIES = 1500;
export const MaxPointsPerSeries = z.number().int().min(10).max(11_000).default(DEFAULT_MAX_POINTS_PER_SERIES);
export const DEFAULT_MAX_RAW_POINTS = 2000;
export const MaxRawPoints = z.number().int().min(1).max(20_000).default(DEFAULT_MAX_RAW_POINTS);

export interface RangeAnswerOptions {
  mode: 'summary' | 'raw';
  sortBy: StatName;
  order: 'desc' | 'asc';
  topK: number;
  points: number;
  maxRawPoints: number;
  cursor?: string | undefined;
}

/** The answer's fields before the tool's own notes; the page fields (ListPage) come after them. */
export const RangeAnswerOutput = {
  query: z.string(),
  start: z.number(),
  end: z.number(),
  step: z.number(),
  mode: z.enum(['summary', 'raw']),
  pointsPerSeries: z.number().int(),
  series: z.array(SeriesSummary).optional(),
  rest: z.object({ series: z.number().int(), min: z.number().nullable(), max: z.number().nullable() }).optional(),
  raw: z.array(RawSeries).optional(),
  cut: z.array(z.string()).optional(),
};

/** Refuses, before the backend is called, a range and step that give more than `max` points per series. */
export function checkPointsPerSeries(range: number, step: number, max: number): void {
  const perSeries = Math.floor(range / step) + 1;
  if (perSeries <= max) return;
  const suggested = suggestStep(range, max);
  throw new ToolError(
    'ERR_INVALID_INPUT',
    `a ${formatDuration(range)} range at step ${formatDuration(step)} gives ${perSeries} points per series, over the limit of ${max}; use step "${formatDuration(suggested)}" or larger, or a shorter range`,
    { pointsPerSeries: perSeries, maxPointsPerSeries: max, suggestedStep: formatDuration(suggested) },
  );
}

/**
 * A matrix as a page of series summaries (ranked by a stat, the rest counted) or of raw points, the series
 * within `budget` bytes.
 */
export function rangeAnswer(series: readonly PromSeries[], input: RangeAnswerOptions, budget: number) {
  const offset = decodeCursor(input.cursor);
  const { result, cut } = boundSeriesLabels(series);
  const said = cut ? { cut } : {};
  if (input.mode === 'raw') return { ...rawPage(result, offset, input.topK, input.maxRawPoints, budget), ...said };
  const s = summarizeMatrix(result, { ...input, offset, maxBytes: budget });
  return {
    ...said,
    pointsPerSeries: s.pointsPerSeries,
    series: s.series,
    rest: s.rest,
    total: s.total,
    returned: s.series.length,
    truncated: s.nextOffset !== undefined,
    ...(s.nextOffset !== undefined ? { nextCursor: encodeCursor(s.nextOffset) } : {}),
  };
}

/**
 * Raw points, bounded by a point budget and a byte budget; the newest points of each series are kept. A series
 * cut this way has fewer `t`/`v` than its `points`, and the page says `truncated`.
 */
export function rawPage(
  result: readonly PromSeries[],
  offset: number,
  topK: number,
  maxRawPoints: number,
  maxBytes: number,
) {
  const slice = result.slice(offset, offset + topK);
  let perSeries = Math.max(1, Math.floor(maxRawPoints / Math.max(1, slice.length)));
  let take = slice.length;
  let clipped = false;
  const build = () =>
    slice.slice(0, take).map((s) => {
      if ((s.values?.length ?? 0) > perSeries) clipped = true;
      return columns(s, perSeries);
    });
  let raw = build();
  for (let i = 0; i < 64 && jsonBytes(raw) > maxBytes; i++) {
    if (perSeries > 2) perSeries = Math.floor(perSeries * 0.7);
    else if (take > 1) take--;
    else break;
    clipped = false;
    raw = build();
  }
  const end = offset + raw.length;
  const pointsPerSeries = Math.max(0, ...result.map((s) => s.values?.length ?? 0));
  return {
    pointsPerSeries,
    raw,
    total: result.length,
    returned: raw.length,
    truncated: end < result.length || clipped,
    ...(end < result.length ? { nextCursor: encodeCursor(end) } : {}),
  };
}
