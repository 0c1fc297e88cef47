import { clipChars, jsonBytes, ListPage, sliceChars, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { LokiStream } from '../backends/loki.js';
import { StringMap } from '../labels.js';
import { EndInput, isoOfNanos, isoOfNanosExact, nanosOf, resolveRange, startInput, toNanos } from '../time.js';
import {
  Cursor,
  defineTool,
  keyPage,
  listBudget,
  PageNote,
  pagingNow,
  READ_ANNOTATIONS,
  readsNow,
  withoutItems,
} from './define.js';
import { logsQueryMetric } from './logs-metric.js';

const MAX_WINDOW_SECONDS = 30 * 86_400;
/** Loki's `max_entries_limit_per_query` default: the most lines one query returns. */
const LOKI_MAX_LIMIT = 5000;

const SELECTOR_HELP =
  'A LogQL log query starts with a stream selector in braces naming at least one label, e.g. {service_name="api"} |= "error" or {namespace="prod", app=~"web.+"} |~ "timeout|refused"; list label names with logs_list_labels and values with logs_list_label_values.';

/** Refuses queries Loki would reject or that are not log queries, before spending a round trip. */
export function checkStreamSelector(query: string): void {
  const q = query.trim();
  if (!q.startsWith('{')) {
    throw new ToolError(
      'ERR_QUERY_INVALID',
      `the query has no stream selector at its start. ${SELECTOR_HELP} A metric query (rate, count_over_time, sum by, topk) goes to logs_query_metric.`,
    );
  }
  if (!/^\{\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*["`]/.test(q)) {
    throw new ToolError('ERR_QUERY_INVALID', `the stream selector names no label. ${SELECTOR_HELP}`);
  }
}

const LogQL = z.string().min(1).max(4000).describe('e.g. {app="api"} |= "error"');

export const logsSearch = defineTool({
  name: 'logs_search',
  toolset: 'logs',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Search logs',
  description: 'Loki log lines matching a LogQL log query.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    query: LogQL,
    start: startInput('now-1h'),
    end: EndInput,
    limit: z.number().int().min(1).max(LOKI_MAX_LIMIT).default(100),
    direction: z.enum(['backward', 'forward']).default('backward').describe('backward = newest first'),
    maxLineLength: z.number().int().min(80).max(10_000).default(1000).describe('Cut longer lines'),
  }),
  output: z.object({
    streams: z.array(StringMap),
    lines: z.array(
      z.object({
        time: z.string(),
        ns: z.string(),
        stream: z.number().int(),
        line: z.string(),
        cut: z.boolean().optional(),
      }),
    ),
    returned: z.number().int(),
    truncated: z.boolean(),
    reason: z.string().optional(),
    warnings: z.array(z.string()).optional(),
    scannedLines: z.number().int().nullable(),
    scannedBytes: z.number().int().nullable(),
    start: z.string(),
    end: z.string(),
  }),
  handler: async (input, { loki, signal, maxOutputBytes }) => {
    checkStreamSelector(input.query);
    const { start, end } = resolveRange(input.start, input.end, 3600, MAX_WINDOW_SECONDS);
    const res = await loki.queryRange(
      {
        query: input.query,
        startNs: nanosOf(input.start, start),
        endNs: nanosOf(input.end, end),
        limit: input.limit,
        direction: input.direction,
      },
      signal,
    );
    if (res.resultType !== 'streams') {
      throw new ToolError(
        'ERR_QUERY_INVALID',
        `Loki answered with a ${res.resultType}: this is a metric query, which logs_query_metric summarizes per series; for log lines drop the range aggregation. ${SELECTOR_HELP}`,
      );
    }
    const flat = flattenStreams(res.streams, input.direction, input.maxLineLength);
    const limitReached = flat.lines.length >= input.limit;
    const { streams, lines, linesLeftOut, streamsLeftOut, labelsCut, textCut } = fitLines(
      flat.streams,
      flat.lines,
      // Loki's warnings (bounded by the backend) are said whole: they may mean the lines are partial
      listBudget(maxOutputBytes) - 512 - jsonBytes(res.warnings ?? []),
    );
    const reasons: string[] = [];
    const last = lines.at(-1);
    const older = input.direction === 'backward';
    // The next page's bound is exact to the nanosecond (lines are shown to the millisecond, and many can share
    // one): it lists the last line again (Loki's start is inclusive, its end exclusive), so a line with the
    // same timestamp is not skipped and each page moves on.
    const bound = last && isoOfNanosExact(older ? (BigInt(last.ns) + 1n).toString() : last.ns);
    const side = older ? 'end' : 'start';
    // When every line listed shares one nanosecond (one line, or a burst stamped with a whole second), that
    // bound gives this very page again: only a larger page or a narrower query gets past them.
    const oneInstant = last !== undefined && lines[0]?.ns === last.ns;
    const shared = lines.length === 1 ? 'one line is listed' : `all ${lines.length} lines listed share one nanosecond`;
    if (linesLeftOut > 0) {
      reasons.push(
        `output budget: ${linesLeftOut} of ${flat.lines.length} lines left out` +
          (streamsLeftOut > 0 ? ` (and ${streamsLeftOut} of ${flat.streams.length} streams only they use)` : '') +
          (!bound
            ? '; narrow the query or lower limit'
            : oneInstant
              ? `; ${shared}, so ${side}="${bound}" would list this page again: lower maxLineLength to fit more lines, or narrow the query (more labels, a line filter)`
              : `; they are ${older ? 'older' : 'newer'} than the last line listed: repeat with ${side}="${bound}" (it lists that line again), or narrow the query (more labels, a line filter) or lower limit`),
      );
    } else if (limitReached) {
      const larger = Math.min(LOKI_MAX_LIMIT, input.limit * 2);
      reasons.push(
        `limit of ${input.limit} lines reached; more lines may match: for the ${older ? 'older' : 'newer'} ones ` +
          (!oneInstant
            ? `repeat with ${side}="${bound}" (it lists the last line again), or narrow the range or raise limit`
            : input.limit < LOKI_MAX_LIMIT
              ? `repeat with ${side}="${bound}" and limit=${larger} (${shared}: with the same limit that bound lists this page again), or narrow the query`
              : `narrow the query (more labels, a line filter): ${shared} and Loki returns at most ${LOKI_MAX_LIMIT} lines per query`),
      );
    }
    if (textCut) reasons.push('output budget: the first line listed was cut further to fit (cut: true)');
    if (labelsCut > 0) reasons.push(`stream label values cut to ${LABEL_VALUE_CHARS} chars on ${labelsCut} stream(s)`);
    const reason = reasons.length > 0 ? reasons.join('; ') : undefined;
    const summary = res.stats.summary;
    return {
      streams,
      lines,
      returned: lines.length,
      truncated: reason !== undefined,
      ...(reason ? { reason } : {}),
      ...(res.warnings ? { warnings: res.warnings } : {}),
      scannedLines: typeof summary?.totalLinesProcessed === 'number' ? summary.totalLinesProcessed : null,
      scannedBytes: typeof summary?.totalBytesProcessed === 'number' ? summary.totalBytesProcessed : null,
      start: new Date(start * 1000).toISOString(),
      end: new Date(end * 1000).toISOString(),
    };
  },
});

/** One time-ordered list of lines (in the query's direction) with stream label sets listed once. */
export function flattenStreams(result: LokiStream[], direction: 'backward' | 'forward', maxLineLength: number) {
  const streams: Record<string, string>[] = [];
  const lines: { time: string; ns: string; stream: number; line: string; cut?: boolean }[] = [];
  result.forEach((s, idx) => {
    streams.push(s.stream);
    for (const [ns, text] of s.values) {
      const cut = text.length > maxLineLength;
      lines.push({
        time: isoOfNanos(ns),
        ns,
        stream: idx,
        line: clipChars(text, maxLineLength),
        ...(cut ? { cut } : {}),
      });
    }
  });
  const cmp = (a: string, b: string) => {
    const d = BigInt(a) - BigInt(b);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  };
  lines.sort((a, b) => (direction === 'forward' ? cmp(a.ns, b.ns) : cmp(b.ns, a.ns)));
  return { streams, lines };
}

type FlatLine = ReturnType<typeof flattenStreams>['lines'][number];

/** A stream label value longer than this is cut when even one line and its labels would not fit. */
const LABEL_VALUE_CHARS = 200;

/**
 * The lines (in order) that fit `budget` bytes together with the label sets they use: streams no kept line
 * uses are left out and the rest renumbered. The first line always stays, its labels and text cut if needed.
 */
export function fitLines(streams: Record<string, string>[], lines: FlatLine[], budget: number) {
  const kept: FlatLine[] = [];
  const keptStreams: Record<string, string>[] = [];
  const index = new Map<number, number>();
  let labelsCut = 0;
  let textCut = false;
  let used = 4; // the two empty arrays
  for (const l of lines) {
    let at = index.get(l.stream);
    let labels: Record<string, string> | undefined;
    let cost = 0;
    if (at === undefined) {
      labels = streams[l.stream] ?? {};
      at = keptStreams.length;
      cost += jsonBytes(labels) + 1;
    }
    const line = { ...l, stream: at };
    cost += jsonBytes(line) + 1;
    if (used + cost > budget) {
      if (kept.length > 0) break;
      // Not even one line fits as it is: cut its labels, then its text, to what is left.
      if (labels && jsonBytes(labels) > budget / 2) {
        labels = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, clipChars(v, LABEL_VALUE_CHARS)]));
        labelsCut++;
      }
      const room = budget - used - (labels ? jsonBytes(labels) + 1 : 0);
      // 4 bytes kept for the "…" that marks the cut.
      while (line.line.length > 0 && jsonBytes(line) + 5 > room) {
        line.line = sliceChars(line.line, Math.floor(line.line.length * 0.8));
        line.cut = true;
        textCut = true;
      }
      if (textCut) line.line = `${line.line}…`;
      cost = (labels ? jsonBytes(labels) + 1 : 0) + jsonBytes(line) + 1;
    }
    if (labels) {
      index.set(l.stream, at);
      keptStreams.push(labels);
    }
    kept.push(line);
    used += cost;
  }
  return {
    streams: keptStreams,
    lines: kept,
    linesLeftOut: lines.length - kept.length,
    streamsLeftOut: new Set(lines.map((l) => l.stream)).size - keptStreams.length,
    labelsCut,
    textCut,
  };
}

export const logsListLabels = defineTool({
  name: 'logs_list_labels',
  toolset: 'logs',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Log labels',
  description: 'Loki label names.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    start: startInput('now-6h'),
    end: EndInput,
    limit: z.number().int().min(1).max(1000).default(200),
    cursor: Cursor,
  }),
  output: z.object({ labels: z.array(z.string()), ...ListPage, note: PageNote }),
  handler: async (input, { loki, signal, maxOutputBytes }) => {
    const listing = { tool: 'logs_list_labels', bind: [input.start, input.end ?? null], cursor: input.cursor };
    const { nowMs, state } = pagingNow(
      listing,
      readsNow(input.end) || (input.start !== undefined && readsNow(input.start)),
    );
    const { start, end } = resolveRange(input.start, input.end, 6 * 3600, MAX_WINDOW_SECONDS, nowMs);
    const all = await loki.labels(toNanos(start), toNanos(end), signal);
    const page = keyPage(
      all.map((n) => ({ key: n, item: n })),
      {
        ...listing,
        state,
        limit: input.limit,
        maxBytes: listBudget(maxOutputBytes),
        what: 'The label names',
      },
    );
    return { labels: page.items, ...withoutItems(page) };
  },
});

export const logsListLabelValues = defineTool({
  name: 'logs_list_label_values',
  toolset: 'logs',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Log label values',
  description: 'Values of one Loki label.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    label: z
      .string()
      .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a label name')
      .max(200)
      .describe('e.g. "app"'),
    query: LogQL.optional().describe('Stream selector'),
    start: startInput('now-6h'),
    end: EndInput,
    limit: z.number().int().min(1).max(1000).default(200),
    cursor: Cursor,
  }),
  output: z.object({ label: z.string(), values: z.array(z.string()), ...ListPage, note: PageNote }),
  handler: async (input, { loki, signal, maxOutputBytes }) => {
    if (input.query !== undefined) checkStreamSelector(input.query);
    const listing = {
      tool: 'logs_list_label_values',
      bind: [input.label, input.query ?? null, input.start, input.end ?? null],
      cursor: input.cursor,
    };
    const { nowMs, state } = pagingNow(
      listing,
      readsNow(input.end) || (input.start !== undefined && readsNow(input.start)),
    );
    const { start, end } = resolveRange(input.start, input.end, 6 * 3600, MAX_WINDOW_SECONDS, nowMs);
    const all = await loki.labelValues(input.label, toNanos(start), toNanos(end), input.query, signal);
    const page = keyPage(
      all.map((v) => ({ key: v, item: v })),
      {
        ...listing,
        state,
        limit: input.limit,
        maxBytes: listBudget(maxOutputBytes),
        what: 'The label values',
      },
    );
    return { label: input.label, values: page.items, ...withoutItems(page) };
  },
});

export const logTools = [logsSearch, logsQueryMetric, logsListLabels, logsListLabelValues];
