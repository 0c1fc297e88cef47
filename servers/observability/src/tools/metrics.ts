import { changedNote, clipChars, jsonBytes, ListPage, safeUrl, sliceChars, ToolError, tupleKey } from '@ravenhelm/kit';
import { z } from 'zod';
import type { PromNotes, PromSeries } from '../backends/prometheus.js';
import { StringMap } from '../labels.js';
import { DurationInput, EndInput, parseDuration, parseTime, resolveRange, startInput, TimeInput } from '../time.js';
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
import {
  boundSeriesLabels,
  checkPointsPerSeries,
  DEFAULT_MAX_RAW_POINTS,
  labelsKey,
  MaxPointsPerSeries,
  MaxRawPoints,
  numberKey,
  RangeAnswerInput,
  RangeAnswerOutput,
  RawSeries,
  rangeAnswer,
  rawPage,
} from './range.js';

const PromQL = z.string().min(1).max(4000).describe('PromQL');
const Labels = StringMap;
const SeriesSelector = z.array(z.string().min(1).max(1000)).max(10).optional().describe('Series selectors');
const LabelName = z
  .string()
  .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a Prometheus label name')
  .max(200)
  .describe('e.g. "job"');
const PromValue = z.string();

export const metricsQuery = defineTool({
  name: 'metrics_query',
  toolset: 'metrics',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Query metrics',
  description: 'Instant PromQL query (default now).',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    query: PromQL,
    time: TimeInput.optional(),
    // desc/asc: by value; none: as the query orders its result (sort_desc, topk), else by labels
    sort: z.enum(['none', 'desc', 'asc']).default('none'),
    limit: z.number().int().min(1).max(500).default(100),
    cursor: Cursor,
  }),
  output: z.object({
    resultType: z.enum(['vector', 'matrix', 'scalar', 'string']),
    time: z.number().optional(),
    samples: z.array(z.object({ labels: Labels, value: PromValue })).optional(),
    series: z.array(RawSeries).optional(),
    warnings: z.array(z.string()).optional(),
    infos: z.array(z.string()).optional(),
    cut: z.array(z.string()).optional(),
    ...ListPage,
    note: PageNote,
  }),
  handler: async (input, { prometheus, signal, maxOutputBytes }) => {
    const listing = {
      tool: 'metrics_query',
      bind: [input.query, input.time ?? null, input.sort],
      cursor: input.cursor,
    };
    // every page of one listing is evaluated at the first page's instant (carried in the cursor)
    const { nowMs, state } = pagingNow(listing, readsNow(input.time));
    const time = parseTime(input.time ?? 'now', 'time', nowMs);
    const data = await prometheus.query(input.query, time, signal);
    const { result: bounded, cut } =
      data.resultType === 'vector' || data.resultType === 'matrix'
        ? boundSeriesLabels(data.result as PromSeries[])
        : { result: [], cut: undefined };
    const said = cut ? { cut } : {};
    const warnings = notesOf(data);
    const opts = { cursor: input.cursor, limit: input.limit, maxBytes: listBudget(maxOutputBytes) };
    if (data.resultType === 'scalar' || data.resultType === 'string') {
      const [ts, value] = data.result;
      return {
        resultType: data.resultType,
        time: ts,
        samples: [{ labels: {}, value: String(value) }],
        total: 1,
        returned: 1,
        truncated: false,
        ...warnings,
      };
    }
    if (data.resultType === 'matrix') {
      // A range selector's samples, the newest of each series, up to the raw-point and byte budgets; a series
      // cut has fewer t/v than its `points` and the answer says truncated (it used to keep 20 silently).
      const {
        raw,
        pointsPerSeries: _most,
        changed,
        ...page
      } = rawPage(bounded, { ...listing, state }, input.limit, DEFAULT_MAX_RAW_POINTS, opts.maxBytes);
      const note = changed ? { note: changedNote('The series') } : {};
      return { resultType: 'matrix' as const, series: raw, ...page, ...note, ...warnings, ...said };
    }
    const vector = bounded;
    // An instant vector is evaluated at one time: it is said once, not on every sample.
    const at = vector[0]?.value?.[0];
    const samples = vector.map((s) => ({ labels: s.metric, value: String(s.value?.[1] ?? 'NaN') }));
    // Paged by key: by labels, or by value then labels. A value moves between calls, so a sample can also move
    // across the cursor: the page's note says when the ones before it changed.
    const byValue = input.sort !== 'none';
    // A query that orders its result itself (sort_desc(...), topk(...)) keeps Prometheus's order, by position.
    const asAnswered = !byValue && ORDERING_QUERY.test(input.query);
    const entries = samples.map((item, i) => {
      const labels = labelsKey(item.labels);
      const key = byValue
        ? tupleKey(valueKey(item.value, input.sort === 'desc'), labels)
        : asAnswered
          ? tupleKey(String(i).padStart(6, '0'), labels)
          : labels;
      return { key, item };
    });
    const page = keyPage(entries, {
      ...listing,
      ...opts,
      state,
      what: 'The samples',
      why: byValue || asAnswered ? ' (a sample whose value changed can also show again, or be passed over)' : '',
    });
    return {
      resultType: 'vector' as const,
      ...(at !== undefined ? { time: at } : {}),
      samples: page.items,
      ...withoutItems(page),
      ...warnings,
      ...said,
    };
  },
});

export const metricsQueryRange = defineTool({
  name: 'metrics_query_range',
  toolset: 'metrics',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Range query',
  description: "Top-k series' stats and shape over a range, or raw points.",
  annotations: READ_ANNOTATIONS,
  input: z.object({
    query: PromQL,
    start: startInput('now-1h'),
    end: EndInput,
    step: DurationInput.optional().describe('Default range/240'),
    ...RangeAnswerInput,
    maxPointsPerSeries: MaxPointsPerSeries,
    maxRawPoints: MaxRawPoints,
    cursor: Cursor,
  }),
  output: z.object({
    ...RangeAnswerOutput,
    warnings: z.array(z.string()).optional(),
    infos: z.array(z.string()).optional(),
    ...ListPage,
  }),
  handler: async (input, { prometheus, signal, maxOutputBytes }) => {
    const listing = {
      tool: 'metrics_query_range',
      bind: [input.query, input.start, input.end ?? null, input.step ?? null, input.mode, input.sortBy, input.order],
    };
    // every page reads the first page's window: its "now" is carried in the cursor
    const { nowMs, state } = pagingNow(
      { ...listing, cursor: input.cursor },
      readsNow(input.end) || (input.start !== undefined && readsNow(input.start)),
    );
    const { start, end } = resolveRange(input.start, input.end, 3600, 400 * 86_400, nowMs);
    const range = end - start;
    const step = input.step ? parseDuration(input.step, 'step') : Math.max(1, Math.ceil(range / 240));
    checkPointsPerSeries(range, step, input.maxPointsPerSeries);
    const data = await prometheus.queryRange(input.query, start, end, step, signal);
    const result: PromSeries[] = data.resultType === 'matrix' ? data.result : [];
    return {
      query: input.query,
      start,
      end,
      step,
      mode: input.mode,
      ...notesOf(data),
      ...rangeAnswer(result, input, listBudget(maxOutputBytes) - 512, { ...listing, state }),
    };
  },
});

/**
 * What Prometheus said beside the data, as the answer carries it: `warnings` (a partial answer: the data
 * may be incomplete) and `infos` (PromQL hints such as "metric might not be a counter", Prometheus 2.50+),
 * each only when there is something to say.
 */
function notesOf(data: PromNotes): PromNotes {
  return { ...(data.warnings ? { warnings: data.warnings } : {}), ...(data.infos ? { infos: data.infos } : {}) };
}

/** Prometheus's warnings beside a list: a store that did not answer left its part out. */
const Warnings = z.array(z.string()).optional();

/** The list budget less what the warnings take (each bounded by the backend). */
function budgetBeside(maxOutputBytes: number, warnings: string[] | undefined): number {
  return listBudget(maxOutputBytes) - jsonBytes(warnings ?? []);
}

const NameFilter = z.string().min(1).max(200).optional().describe('Substring');

export const metricsListNames = defineTool({
  name: 'metrics_list_names',
  toolset: 'metrics',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'List metric names',
  description: 'Prometheus metric names.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    filter: NameFilter,
    match: SeriesSelector,
    limit: z.number().int().min(1).max(2000).default(200),
    cursor: Cursor,
  }),
  output: z.object({ names: z.array(z.string()), warnings: Warnings, ...ListPage, note: PageNote }),
  handler: async (input, { prometheus, signal, maxOutputBytes }) => {
    const { values: all, warnings } = await prometheus.labelValues(
      '__name__',
      input.match,
      undefined,
      undefined,
      signal,
    );
    const needle = input.filter?.toLowerCase();
    const names = needle ? all.filter((n) => n.toLowerCase().includes(needle)) : all;
    const page = keyPage(byName(names), {
      tool: 'metrics_list_names',
      bind: [input.filter ?? null, input.match ?? []],
      cursor: input.cursor,
      limit: input.limit,
      maxBytes: budgetBeside(maxOutputBytes, warnings),
      what: 'The metric names',
    });
    return { names: page.items, ...(warnings ? { warnings } : {}), ...withoutItems(page) };
  },
});

export const metricsListLabels = defineTool({
  name: 'metrics_list_labels',
  toolset: 'metrics',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'List label names',
  description: 'Prometheus label names.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    match: SeriesSelector,
    limit: z.number().int().min(1).max(2000).default(500),
    cursor: Cursor,
  }),
  output: z.object({ labels: z.array(z.string()), warnings: Warnings, ...ListPage, note: PageNote }),
  handler: async (input, { prometheus, signal, maxOutputBytes }) => {
    const { values: all, warnings } = await prometheus.labelNames(input.match, undefined, undefined, signal);
    const page = keyPage(byName(all), {
      tool: 'metrics_list_labels',
      bind: input.match ?? [],
      cursor: input.cursor,
      limit: input.limit,
      maxBytes: budgetBeside(maxOutputBytes, warnings),
      what: 'The label names',
    });
    return { labels: page.items, ...(warnings ? { warnings } : {}), ...withoutItems(page) };
  },
});

export const metricsListLabelValues = defineTool({
  name: 'metrics_list_label_values',
  toolset: 'metrics',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Label values',
  description: 'Values of one Prometheus label.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    label: LabelName,
    filter: NameFilter.describe('Substring'),
    match: SeriesSelector,
    limit: z.number().int().min(1).max(2000).default(200),
    cursor: Cursor,
  }),
  output: z.object({
    label: z.string(),
    values: z.array(z.string()),
    warnings: Warnings,
    ...ListPage,
    note: PageNote,
  }),
  handler: async (input, { prometheus, signal, maxOutputBytes }) => {
    const { values: all, warnings } = await prometheus.labelValues(
      input.label,
      input.match,
      undefined,
      undefined,
      signal,
    );
    const needle = input.filter?.toLowerCase();
    const values = needle ? all.filter((n) => n.toLowerCase().includes(needle)) : all;
    const page = keyPage(byName(values), {
      tool: 'metrics_list_label_values',
      bind: [input.label, input.filter ?? null, input.match ?? []],
      cursor: input.cursor,
      limit: input.limit,
      maxBytes: budgetBeside(maxOutputBytes, warnings),
      what: 'The label values',
    });
    return { label: input.label, values: page.items, ...(warnings ? { warnings } : {}), ...withoutItems(page) };
  },
});

export const metricsGetMetadata = defineTool({
  name: 'metrics_get_metadata',
  toolset: 'metrics',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Metric metadata',
  description: 'Type, help and unit of metrics.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    metric: z
      .string()
      .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a metric name')
      .max(200)
      .optional()
      .describe('Exact name; default all'),
    filter: NameFilter,
    limit: z.number().int().min(1).max(500).default(100),
    cursor: Cursor,
  }),
  output: z.object({
    metrics: z.array(z.object({ metric: z.string(), type: z.string(), help: z.string(), unit: z.string() })),
    ...ListPage,
    note: PageNote,
  }),
  handler: async (input, { prometheus, signal, maxOutputBytes }) => {
    const meta = await prometheus.metadata(input.metric, signal);
    const needle = input.filter?.toLowerCase();
    const rows = Object.entries(meta)
      .filter(([name]) => !needle || name.toLowerCase().includes(needle))
      .map(([metric, entries]) => ({
        metric,
        type: entries[0]?.type ?? 'unknown',
        help: clipChars(entries[0]?.help ?? '', 300),
        unit: entries[0]?.unit ?? '',
      }));
    if (input.metric && rows.length === 0) {
      throw new ToolError(
        'ERR_NOT_FOUND',
        `Prometheus has no metadata for ${input.metric}; check the name with metrics_list_names`,
      );
    }
    const page = keyPage(
      rows.map((item) => ({ key: item.metric, item })),
      {
        tool: 'metrics_get_metadata',
        bind: [input.metric ?? null, input.filter ?? null],
        cursor: input.cursor,
        limit: input.limit,
        maxBytes: listBudget(maxOutputBytes),
        what: 'The metric list',
      },
    );
    return { metrics: page.items, ...withoutItems(page) };
  },
});

export const metricsListTargets = defineTool({
  name: 'metrics_list_targets',
  toolset: 'metrics',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Scrape targets',
  description: "Prometheus targets' health and last error, unhealthy first.",
  annotations: READ_ANNOTATIONS,
  input: z.object({
    health: z.enum(['up', 'down', 'unknown']).optional(),
    job: z.string().min(1).max(200).optional().describe('Scrape job name'),
    limit: z.number().int().min(1).max(500).default(100),
    cursor: Cursor,
  }),
  output: z.object({
    counts: z.object({ up: z.number().int(), down: z.number().int(), unknown: z.number().int() }),
    targets: z.array(
      z.object({
        job: z.string(),
        instance: z.string(),
        scrapeUrl: z.string(),
        health: z.string(),
        lastError: z.string(),
        lastScrape: z.string(),
        lastScrapeDurationSeconds: z.number(),
        labels: Labels,
      }),
    ),
    ...ListPage,
    note: PageNote,
  }),
  handler: async (input, { prometheus, signal, maxOutputBytes }) => {
    const data = await prometheus.targets('active', signal);
    const all = (data.activeTargets ?? []).filter((t) => !input.job || t.scrapePool === input.job);
    const counts = { up: 0, down: 0, unknown: 0 };
    for (const t of all) counts[t.health in counts ? t.health : 'unknown']++;
    const rank = { down: 0, unknown: 1, up: 2 } as const;
    const rows = all
      .filter((t) => !input.health || t.health === input.health)
      .map((t) => ({
        job: t.scrapePool,
        instance: t.labels.instance ?? '',
        scrapeUrl: safeUrl(t.scrapeUrl),
        health: t.health,
        lastError: sliceChars(t.lastError, 300),
        lastScrape: t.lastScrape,
        lastScrapeDurationSeconds: t.lastScrapeDuration,
        labels: t.labels,
      }));
    // unhealthy first, then by scrape URL (one URL scraped by two jobs: by job, then by labels)
    const page = keyPage(
      rows.map((item) => ({
        key: tupleKey(String(rank[item.health] ?? 1), item.scrapeUrl, item.job, labelsKey(item.labels)),
        item,
      })),
      {
        tool: 'metrics_list_targets',
        bind: [input.health ?? null, input.job ?? null],
        cursor: input.cursor,
        limit: input.limit,
        maxBytes: listBudget(maxOutputBytes),
        what: 'The target list',
        why: ' (a target whose health changed moves)',
      },
    );
    return { counts, targets: page.items, ...withoutItems(page) };
  },
});

/** Names as pageByKey entries: each its own key (Prometheus lists them sorted, each once). */
function byName(names: readonly string[]): { key: string; item: string }[] {
  return names.map((n) => ({ key: n, item: n }));
}

/**
 * A query whose outermost function orders its result: Prometheus keeps that order in an instant vector (sort,
 * sort_desc, sort_by_label, sort_by_label_desc; topk and bottomk come back ranked), and the caller asked for it.
 */
const ORDERING_QUERY = /^\s*(?:sort|sort_desc|sort_by_label|sort_by_label_desc|topk|bottomk)\s*\(/;

/** A sample value as numberKey: Prometheus writes infinities "+Inf"/"-Inf"; what does not parse sorts last. */
function valueKey(value: string, desc: boolean): string {
  const n = value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : value.trim() === '' ? NaN : Number(value);
  return numberKey(n, desc);
}

export const metricsTools = [
  metricsQuery,
  metricsQueryRange,
  metricsListNames,
  metricsListLabels,
  metricsListLabelValues,
  metricsGetMetadata,
  metricsListTargets,
];
