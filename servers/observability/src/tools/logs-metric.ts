import { clipChars, jsonBytes, ListPage, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { LokiSeries } from '../backends/loki.js';
import { DurationInput, EndInput, formatDuration, parseDuration, resolveRange, startInput, toNanos } from '../time.js';
import { Cursor, defineTool, pagingNow, READ_ANNOTATIONS, readsNow } from './define.js';
import {
  checkPointsPerSeries,
  DEFAULT_MAX_POINTS_PER_SERIES,
  DEFAULT_MAX_RAW_POINTS,
  RangeAnswerInput,
  RangeAnswerOutput,
  rangeAnswer,
} from './range.js';

/**
 * Loki refuses a query longer than `max_query_length`, 30d1h by default (grafana/loki
 * docs/sources/shared/configuration.md; "the query time range exceeds the limit"): refused here first.
 */
const MAX_RANGE_SECONDS = 721 * 3600;

const EXAMPLE = 'sum by (app) (count_over_time({env="prod"} |= "error" [5m]))';

/** Loki's default step for query_range (pkg/loghttp/params.go defaultQueryRangeStep). */
export function lokiDefaultStep(rangeSeconds: number): number {
  return Math.max(Math.floor(rangeSeconds / 250), 1);
}

/** Refuses what is not a metric query before spending a round trip, saying where a log query goes. */
export function checkMetricQuery(query: string): void {
  const q = query.trim();
  if (q.startsWith('{')) {
    const shown = clipChars(q, 200);
    throw new ToolError(
      'ERR_QUERY_INVALID',
      `this is a log query (it starts with a stream selector): logs_search returns its lines. To count them, wrap it in a range aggregation, e.g. sum(count_over_time(${shown} [5m])), rate(... [5m]), bytes_over_time(... [5m]) or ${EXAMPLE}`,
    );
  }
  if (!q.includes('{')) {
    throw new ToolError(
      'ERR_QUERY_INVALID',
      `a LogQL metric query applies a function to a log query and a range, e.g. ${EXAMPLE}; it needs a stream selector in braces naming at least one label (logs_list_labels lists them)`,
    );
  }
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };

/** The `[5m]` ranges a query's range aggregations read, in seconds (Prometheus durations, "1h30m" too). */
export function rangesOf(query: string): number[] {
  const out = new Set<number>();
  for (const m of query.matchAll(/\[\s*((?:\d+(?:ms|s|m|h|d|w|y))+)\s*\]/g)) {
    let seconds = 0;
    for (const part of (m[1] as string).matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) {
      seconds += Number(part[1]) * (UNIT_SECONDS[part[2] as string] as number);
    }
    out.add(seconds);
  }
  return [...out];
}

/**
 * What an agent must know to read the points right: how each point's window relates to the step (points
 * that overlap must not be added up; points farther apart than their window leave lines uncounted) and
 * that Loki leaves out a step where a series had no sample.
 */
function notesOf(query: string, step: number, steps: number, result: readonly LokiSeries[]): string[] {
  const notes: string[] = [];
  const ranges = rangesOf(query);
  if (ranges.length === 1) {
    const range = ranges[0] as number;
    const r = formatDuration(range);
    if (step < range) {
      notes.push(
        `each point covers the [${r}] before it and points are ${formatDuration(step)} apart, so windows overlap: do not add points up; for a total use step "${r}" (windows then tile the range)`,
      );
    } else if (step > range) {
      notes.push(
        `each point covers only the [${r}] before it and points are ${formatDuration(step)} apart, so lines between windows are not counted; use step "${r}" or a range of [${formatDuration(step)}]`,
      );
    }
  }
  const gappy = result.filter((s) => s.values.length < steps).length;
  if (gappy > 0 && steps > 1) {
    notes.push(
      `${gappy} of ${result.length} series have fewer than the ${steps} points the range has: Loki leaves out a step with no sample (no matching line for count_over_time, rate, bytes_*: read it as 0); stats cover the points there are`,
    );
  }
  return notes;
}

export const logsQueryMetric = defineTool({
  name: 'logs_query_metric',
  toolset: 'logs',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Log metrics',
  description: "LogQL metric query (counts, rates): top-k series' stats and shape over a range.",
  annotations: READ_ANNOTATIONS,
  input: z.object({
    query: z.string().min(1).max(4000).describe('e.g. sum by (app) (rate({env="prod"}[5m]))'),
    start: startInput('now-1h'),
    end: EndInput,
    step: DurationInput.optional().describe('Default range/250'),
    ...RangeAnswerInput,
    cursor: Cursor,
  }),
  output: z.object({
    ...RangeAnswerOutput,
    /** Loki's own warnings ("Loki: ..."), then how to read the points. */
    notes: z.array(z.string()).optional(),
    /** What Loki read, from its query statistics (absent when it sent none). */
    scanned: z.object({ lines: z.number().int(), bytes: z.number().int() }).optional(),
    ...ListPage,
  }),
  handler: async (input, { loki, signal, maxOutputBytes }) => {
    checkMetricQuery(input.query);
    const listing = {
      tool: 'logs_query_metric',
      bind: [input.query, input.start, input.end ?? null, input.step ?? null, input.mode, input.sortBy, input.order],
    };
    // every page reads the first page's window: its "now" is carried in the cursor
    const { nowMs, state } = pagingNow(
      { ...listing, cursor: input.cursor },
      readsNow(input.end) || (input.start !== undefined && readsNow(input.start)),
    );
    const { start, end } = resolveRange(input.start, input.end, 3600, MAX_RANGE_SECONDS, nowMs);
    const range = end - start;
    const step = input.step ? parseDuration(input.step, 'step') : lokiDefaultStep(range);
    // A fixed bound here (metrics_query_range lets the caller raise it): a finer range is one larger step away.
    checkPointsPerSeries(range, step, DEFAULT_MAX_POINTS_PER_SERIES);
    let res: Awaited<ReturnType<typeof loki.queryRange>>;
    try {
      res = await loki.queryRange(
        { query: input.query, startNs: toNanos(start), endNs: toNanos(end), limit: 100, direction: 'backward', step },
        signal,
      );
    } catch (err) {
      if (err instanceof ToolError && err.code === 'ERR_QUERY_INVALID' && /parse error/.test(err.message)) {
        throw new ToolError(
          err.code,
          `${err.message}; a metric query reads like ${EXAMPLE} (functions: count_over_time, rate, bytes_over_time, bytes_rate; sum, topk around them)`,
          { ...err.details },
        );
      }
      throw err;
    }
    if (res.resultType === 'streams') {
      throw new ToolError(
        'ERR_QUERY_INVALID',
        `Loki answered with log lines: this is a log query, which logs_search reads; to count lines wrap it in a range aggregation, e.g. ${EXAMPLE}`,
      );
    }
    const steps = res.resultType === 'vector' ? 1 : Math.floor(range / step) + 1;
    const notes = [
      ...(res.warnings ?? []).map((w) => `Loki: ${w}`),
      ...(res.resultType === 'vector' ? ['Loki answered an instant vector: one point per series'] : []),
      ...notesOf(input.query, step, steps, res.series),
    ];
    const head = { query: input.query, start, end, step, mode: input.mode };
    // The series get what the fields around them leave; 512 bytes for the page fields, `rest` and `scanned`.
    const answer = rangeAnswer(
      res.series,
      { ...input, maxRawPoints: DEFAULT_MAX_RAW_POINTS },
      maxOutputBytes - 512 - jsonBytes(head) - jsonBytes(notes),
      { ...listing, state },
    );
    if ('series' in answer) {
      const shown = Math.max(0, ...answer.series.map((s) => s.downsampled.length));
      const asked = Math.min(
        input.points,
        Math.max(0, ...answer.series.map((s) => s.stats.samples + s.stats.nonFinite)),
      );
      if (answer.series.length > 0 && shown < asked) {
        notes.push(`output budget: shapes cut to ${shown} points per series (asked for ${asked})`);
      }
    }
    const summary = res.stats.summary;
    const lines = summary?.totalLinesProcessed;
    const bytes = summary?.totalBytesProcessed;
    return {
      ...head,
      ...answer,
      ...(notes.length > 0 ? { notes } : {}),
      ...(typeof lines === 'number' && typeof bytes === 'number' ? { scanned: { lines, bytes } } : {}),
    };
  },
});
