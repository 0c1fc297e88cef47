/**
 * The answer both range tools give (metrics_query_range for PromQL, logs_query_metric for LogQL metric
 * queries): the same inputs after query/start/end/step, the same guard against too many points per series,
 * and the same summary or raw page of a matrix, fitted to the output budget.
 */
import { changedNote, clipChars, jsonBytes, pageByKey, ToolError, tupleKey } from '@ravenhelm/kit';
import { z } from 'zod';
import type { PromSeries } from '../backends/prometheus.js';
import { StringMap } from '../labels.js';
import { fitSummaries, rankSeries, restOf, SeriesSummary, STATS, type StatName, suggestStep } from '../summary.js';
import { formatDuration } from '../time.js';
import { distinctKeys, withoutItems } from './define.js';

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

/** Which listing a range answer pages (the tool and its arguments): a cursor of another is refused. */
export interface RangeListing {
  tool: string;
  bind: unknown;
  cursor: string | undefined;
  /** From pagingNow: the instant the range's relative times were read at, carried to the next page. */
  state?: Buffer | undefined;
}

/**
 * A matrix as a page of series summaries (ranked by a stat, the rest counted) or of raw points, the series
 * within `budget` bytes. Paged by key (the stat, then the labels; raw: the labels), so a series that appears or
 * goes between two calls makes the next page neither repeat nor skip one; `cut` says when the ones before the
 * cursor changed (a stat that moved can also carry a series across it).
 */
export function rangeAnswer(
  matrix: readonly PromSeries[],
  input: RangeAnswerOptions,
  budget: number,
  listing: Omit<RangeListing, 'cursor'>,
) {
  const { result, cut } = boundSeriesLabels(matrix);
  const at = { ...listing, cursor: input.cursor };
  if (input.mode === 'raw') {
    const { changed, ...page } = rawPage(result, at, input.topK, input.maxRawPoints, budget);
    const notes = [...(cut ?? []), ...(changed ? [changedNote('The series')] : [])];
    return { ...page, ...(notes.length ? { cut: notes } : {}) };
  }
  const ranked = rankSeries(result, input.sortBy, input.order);
  const desc = input.order === 'desc';
  const entries = ranked.map((r) => ({
    key: tupleKey(numberKey(r.stats[input.sortBy] ?? Number.NaN, desc), labelsKey(r.s.metric)),
    item: r,
  }));
  const candidates = byKey(entries, at, input.topK);
  const series = fitSummaries(candidates.items, input.points, budget);
  const { changed, ...page } =
    series.length === candidates.items.length ? candidates : byKey(entries, at, series.length);
  const notes = [
    ...(cut ?? []),
    ...(changed
      ? [`${changedNote('The series')} (a series whose ${input.sortBy} changed can also show again, or be passed over)`]
      : []),
  ];
  return {
    ...(notes.length ? { cut: notes } : {}),
    pointsPerSeries: Math.max(0, ...result.map((s) => s.values?.length ?? 0)),
    series,
    rest: restOf(ranked, new Set(page.items)),
    ...withoutItems(page),
  };
}

/** A page of `entries` by key after the listing's cursor, at most `limit` of them (bytes are fitted after). */
function byKey<T>(entries: readonly { key: string; item: T }[], at: RangeListing, limit: number) {
  return pageByKey(distinctKeys(entries), {
    tool: at.tool,
    bind: JSON.stringify(at.bind),
    cursor: at.cursor,
    limit,
    maxBytes: Number.POSITIVE_INFINITY,
    state: at.state,
  });
}

/**
 * Raw points, bounded by a point budget and a byte budget; the newest points of each series are kept. A series
 * cut this way has fewer `t`/`v` than its `points`, and the page says `truncated`. Series page by their labels.
 */
export function rawPage(
  result: readonly PromSeries[],
  at: RangeListing,
  topK: number,
  maxRawPoints: number,
  maxBytes: number,
) {
  const entries = result.map((s, i) => ({ key: labelsKey(s.metric), item: i }));
  const candidates = byKey(entries, at, topK);
  const slice = candidates.items.map((i) => result[i] as PromSeries);
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
  const { items: _items, ...page } =
    raw.length === candidates.items.length ? candidates : byKey(entries, at, raw.length);
  const pointsPerSeries = Math.max(0, ...result.map((s) => s.values?.length ?? 0));
  return { pointsPerSeries, raw, ...page, truncated: page.truncated || clipped };
}

/** A label set as a key: its pairs in label-name order (the order Prometheus keeps a series' labels in). */
export function labelsKey(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return tupleKey(...pairs.flat());
}

/**
 * A number as a fixed-width key that sorts in numeric order (descending when `desc`): the IEEE-754 bits with
 * the sign flipped (negatives: all bits), as hex. NaN sorts last either way.
 */
export function numberKey(n: number, desc: boolean): string {
  if (Number.isNaN(n)) return 'z';
  const buf = Buffer.alloc(8);
  buf.writeDoubleBE(n === 0 ? 0 : n); // -0 and 0 are one value
  let hi = buf.readUInt32BE(0);
  let lo = buf.readUInt32BE(4);
  if (hi & 0x80000000) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
  } else {
    hi = (hi | 0x80000000) >>> 0;
  }
  if (desc) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}
