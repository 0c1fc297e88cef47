import { type BackendHttp, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import {
  type BackendOptions,
  boundedNotes,
  expectObject,
  httpFor,
  LabelSet,
  parseAnswer,
  queryPosition,
  statusError,
  vendorMessage,
} from './common.js';

export type Labels = Record<string, string>;
export type PromPoint = [number, string];

export interface PromSeries {
  metric: Labels;
  values?: PromPoint[];
  value?: PromPoint;
  /** Native histogram samples (vector, matrix): never passed on, see refuseHistograms. */
  histogram?: unknown;
  histograms?: unknown;
}

/**
 * What Prometheus said beside the data: `warnings` (a Thanos or Mimir partial response: "partial response:
 * store gateway unavailable") and `infos` (PromQL hints, Prometheus 2.50+). Each list is at most
 * MAX_NOTES clipped lines, the last one counting what was left out; absent when Prometheus said nothing.
 */
export interface PromNotes {
  warnings?: string[];
  infos?: string[];
}

export type PromQueryData = (
  | { resultType: 'vector'; result: PromSeries[] }
  | { resultType: 'matrix'; result: PromSeries[] }
  | { resultType: 'scalar' | 'string'; result: PromPoint }
) &
  PromNotes;

/** A sample pair `[unix seconds, "value"]`. */
function isPoint(p: unknown): p is PromPoint {
  return (
    Array.isArray(p) && p.length >= 2 && typeof p[0] === 'number' && Number.isFinite(p[0]) && typeof p[1] === 'string'
  );
}

const Point = z.custom<PromPoint>(isPoint, { message: 'not a [unix seconds, "value"] sample' });
const Points = z.custom<PromPoint[]>((v) => Array.isArray(v) && v.every(isPoint), {
  message: 'not a list of [unix seconds, "value"] samples',
});

/**
 * `data` of /api/v1/query and /api/v1/query_range (prometheus web/api/v1/api.go QueryData). A native histogram
 * sample comes as `histogram` instead of `value` (vector), `histograms` beside or instead of `values` (matrix):
 * read here, refused by refuseHistograms.
 */
const QueryData = z.discriminatedUnion('resultType', [
  z.looseObject({
    resultType: z.literal('vector'),
    result: z.array(
      z
        .looseObject({ metric: LabelSet, value: Point.optional(), histogram: z.unknown().optional() })
        .refine((s) => s.value !== undefined || s.histogram !== undefined, { message: 'missing', path: ['value'] }),
    ),
  }),
  z.looseObject({
    resultType: z.literal('matrix'),
    result: z.array(z.looseObject({ metric: LabelSet, values: Points.optional(), histograms: z.unknown().optional() })),
  }),
  z.looseObject({ resultType: z.enum(['scalar', 'string']), result: Point }),
]);

const StringList = z.array(z.string());

const MetadataEntries = z.array(z.looseObject({ type: z.string(), help: z.string(), unit: z.string() }));

/**
 * Metadata by metric name. Not a z.record: its parse skips a key named `__proto__`, a valid metric name
 * ([a-zA-Z_:][a-zA-Z0-9_:]*) that Prometheus scrapes and serves; the object is checked and kept as parsed.
 */
const MetadataData = z
  .custom<Record<string, z.output<typeof MetadataEntries>>>(
    (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
    'not an object of metric names',
  )
  .superRefine((data, ctx) => {
    for (const [name, entries] of Object.entries(data)) {
      const issue = MetadataEntries.safeParse(entries).error?.issues[0];
      if (issue) {
        ctx.addIssue({ code: 'custom', path: [name, ...issue.path], message: issue.message });
        return;
      }
    }
  });

const TargetsData = z.looseObject({
  activeTargets: z
    .array(
      z.looseObject({
        labels: LabelSet,
        scrapePool: z.string(),
        scrapeUrl: z.string(),
        lastError: z.string(),
        lastScrape: z.string(),
        lastScrapeDuration: z.number(),
        health: z.enum(['up', 'down', 'unknown']),
      }),
    )
    .default([]),
});

const RulesData = z.looseObject({
  groups: z.array(
    z.looseObject({
      name: z.string(),
      file: z.string(),
      interval: z.number(),
      rules: z.array(
        z.looseObject({
          type: z.enum(['alerting', 'recording']),
          name: z.string(),
          query: z.string(),
          health: z.enum(['ok', 'err', 'unknown']),
          lastError: z.string().optional(),
          labels: LabelSet.optional(),
          annotations: LabelSet.optional(),
          alerts: z.array(z.looseObject({ labels: LabelSet, state: z.string() })).optional(),
        }),
      ),
    }),
  ),
});

export interface PromTarget {
  discoveredLabels?: Labels;
  labels: Labels;
  scrapePool: string;
  scrapeUrl: string;
  globalUrl?: string;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
  health: 'up' | 'down' | 'unknown';
  scrapeInterval?: string;
  scrapeTimeout?: string;
}

export interface PromMetadataEntry {
  type: string;
  help: string;
  unit: string;
}

/** Label names or values, and the warnings Prometheus gave with them (bounded). */
export interface LabelList {
  values: string[];
  warnings?: string[];
}

/** One rule of `GET /api/v1/rules` (prometheus/prometheus web/api/v1/api.go: AlertingRule, RecordingRule). */
export interface PromRule {
  type: 'alerting' | 'recording';
  name: string;
  query: string;
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
  evaluationTime?: number;
  lastEvaluation?: string;
  labels?: Labels;
  /** Alerting rules only: firing, pending, inactive; "unknown" before the first evaluation (Prometheus 3). */
  state?: string;
  duration?: number;
  keepFiringFor?: number;
  annotations?: Labels;
  alerts?: { labels: Labels; state: string; activeAt?: string; value?: string }[];
}

export interface PromRuleGroup {
  name: string;
  file: string;
  interval: number;
  rules: PromRule[];
  evaluationTime?: number;
  lastEvaluation?: string;
}

/** Prometheus (and API-compatible Mimir/Thanos) HTTP API v1. */
export class PrometheusBackend {
  readonly http: BackendHttp;
  /** Sent as the API's `timeout` so Prometheus stops evaluating once we have stopped waiting. */
  readonly #evalTimeout: string;

  constructor(opts: BackendOptions) {
    this.http = httpFor('Prometheus', opts);
    this.#evalTimeout = `${Math.max(1, Math.floor(opts.timeoutMs / 1000))}s`;
  }

  /**
   * Calls an API v1 endpoint, unwraps `{status, data}` and checks `data` against `shape`;
   * `{status:'error'}` becomes a ToolError. The answer's warnings and infos come back beside the data.
   */
  async #api<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    what: string,
    query: Record<string, string | number | string[] | undefined>,
    shape: S,
    signal?: AbortSignal,
  ): Promise<{ data: z.output<S>; notes: PromNotes }> {
    let res: Awaited<ReturnType<BackendHttp['request']>>;
    if (method === 'POST') {
      // A form body keeps long PromQL out of URLs (and out of proxy logs); the API accepts both.
      const form: Record<string, string> = {};
      for (const [k, v] of Object.entries(query)) if (v !== undefined && !Array.isArray(v)) form[k] = String(v);
      res = await this.http.request('POST', path, { form, signal });
    } else {
      res = await this.http.request('GET', path, { query, signal });
    }
    const body = res.body as { status?: string; errorType?: string; error?: string; data?: unknown } | string;
    if (typeof body === 'object' && body?.status === 'error') throw promError(body, what, res.status);
    if (res.status < 200 || res.status >= 300) throw statusError('Prometheus', res, what);
    const obj = expectObject('Prometheus', body, what);
    const data = parseAnswer('Prometheus', z.looseObject({ data: shape }), obj, what).data as z.output<S>;
    return { data, notes: notesOf(obj) };
  }

  async query(expr: string, time: number | undefined, signal?: AbortSignal): Promise<PromQueryData> {
    const { data, notes } = await this.#api(
      'POST',
      '/api/v1/query',
      'the query',
      { query: expr, time, timeout: this.#evalTimeout },
      QueryData,
      signal,
    );
    refuseHistograms(data as PromQueryData, 'the query');
    return { ...(data as PromQueryData), ...notes };
  }

  async queryRange(
    expr: string,
    start: number,
    end: number,
    step: number,
    signal?: AbortSignal,
  ): Promise<PromQueryData> {
    const { data, notes } = await this.#api(
      'POST',
      '/api/v1/query_range',
      'the range query',
      { query: expr, start, end, step, timeout: this.#evalTimeout },
      QueryData,
      signal,
    );
    // A range query is always evaluated to a matrix (promql Engine.NewRangeQuery; a scalar expression too): an
    // answer of another type was read as "no series", a wrong answer given as an empty one.
    if ((data as PromQueryData).resultType !== 'matrix') {
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        `Prometheus answered the range query with a ${(data as PromQueryData).resultType}, not the matrix a range query gives; check that the URL points at Prometheus (or a compatible API)`,
        { backend: 'Prometheus', field: 'data.resultType' },
      );
    }
    refuseHistograms(data as PromQueryData, 'the range query');
    return { ...(data as PromQueryData), ...notes };
  }

  /**
   * Label names, with the answer's warnings: a store that did not answer (a Thanos or Mimir partial response, a
   * remote read: Prometheus warns "not implemented" for it) leaves its names out.
   */
  async labelNames(
    match: string[] | undefined,
    start?: number,
    end?: number,
    signal?: AbortSignal,
  ): Promise<LabelList> {
    const query = { 'match[]': match ?? [], start, end };
    const { data, notes } = await this.#api(
      'GET',
      '/api/v1/labels',
      'the label-names request',
      query,
      StringList,
      signal,
    );
    return { values: data, ...(notes.warnings ? { warnings: notes.warnings } : {}) };
  }

  async labelValues(
    name: string,
    match: string[] | undefined,
    start?: number,
    end?: number,
    signal?: AbortSignal,
  ): Promise<LabelList> {
    const { data, notes } = await this.#api(
      'GET',
      `/api/v1/label/${encodeURIComponent(name)}/values`,
      `the values of label ${name}`,
      { 'match[]': match ?? [], start, end },
      StringList,
      signal,
    );
    return { values: data, ...(notes.warnings ? { warnings: notes.warnings } : {}) };
  }

  async metadata(metric: string | undefined, signal?: AbortSignal): Promise<Record<string, PromMetadataEntry[]>> {
    return (await this.#api('GET', '/api/v1/metadata', 'the metadata request', { metric }, MetadataData, signal)).data;
  }

  async targets(state: 'active' | 'dropped' | 'any', signal?: AbortSignal): Promise<{ activeTargets: PromTarget[] }> {
    const { data } = await this.#api('GET', '/api/v1/targets', 'the targets request', { state }, TargetsData, signal);
    return data as { activeTargets: PromTarget[] };
  }

  async ready(signal?: AbortSignal): Promise<void> {
    const res = await this.http.request('GET', '/-/ready', { signal });
    if (res.status !== 200) throw statusError('Prometheus', res, 'the readiness check');
  }

  /**
   * Rule groups with their rules' health and active alerts. `type` is understood by 2.42; the newer filters
   * (rule_name[], group_limit, exclude_alerts...) are not, so callers filter the answer themselves.
   */
  async rules(type: 'alert' | 'record' | undefined, signal?: AbortSignal): Promise<{ groups: PromRuleGroup[] }> {
    const { data } = await this.#api('GET', '/api/v1/rules', 'the rules request', { type }, RulesData, signal);
    return data as { groups: PromRuleGroup[] };
  }
}

/**
 * Native histograms (a count, a sum and buckets per sample) have no one value to list, rank or summarize: a
 * result holding any is refused with the functions that turn them into numbers. Read as values they were
 * series without points, or an answer "in a shape we cannot read".
 */
function refuseHistograms(data: PromQueryData, what: string): void {
  if (data.resultType !== 'vector' && data.resultType !== 'matrix') return;
  const key = data.resultType === 'vector' ? 'histogram' : 'histograms';
  const count = data.result.filter((s) => s[key] !== undefined).length;
  if (count === 0) return;
  throw new ToolError(
    'ERR_QUERY_INVALID',
    `Prometheus answered ${what} with native histograms (${count} of ${data.result.length} series), which have no single value to list; ask for numbers with histogram_quantile(0.99, rate(<metric>[5m])), histogram_count(...), histogram_sum(...) or histogram_fraction(0, 0.5, ...)`,
    { backend: 'Prometheus', histogramSeries: count },
  );
}

/** The answer's `warnings` and `infos`, bounded: a Thanos fan-out can return one per store. */
function notesOf(body: Record<string, unknown>): PromNotes {
  const notes: PromNotes = {};
  for (const key of ['warnings', 'infos'] as const) {
    const lines = boundedNotes(body[key], key);
    if (lines) notes[key] = lines;
  }
  return notes;
}

/**
 * Prometheus's own error answer. bad_data (a PromQL parse error, a bad parameter) is the caller's to fix
 * and keeps the vendor's position ("1:5: parse error: ..."); timeouts and cancellations are ours to report.
 */
function promError(body: { errorType?: string; error?: string }, what: string, status: number): ToolError {
  const message = vendorMessage(body.error ?? '');
  const type = body.errorType ?? 'unknown';
  if (type === 'bad_data') {
    const details: Record<string, unknown> = { backend: 'Prometheus', errorType: type, ...queryPosition(message) };
    const hint = /maximum resolution/.test(message) ? '' : ' Fix the PromQL and try again.';
    return new ToolError('ERR_QUERY_INVALID', `Prometheus refused ${what}: ${message}.${hint}`, details);
  }
  if (type === 'timeout') {
    return new ToolError(
      'ERR_BACKEND_TIMEOUT',
      `Prometheus gave up on ${what}: ${message}; narrow the selector or the range`,
      {
        backend: 'Prometheus',
        errorType: type,
      },
    );
  }
  if (type === 'canceled') {
    return new ToolError('ERR_CANCELLED', `Prometheus cancelled ${what}: ${message}`, { backend: 'Prometheus' });
  }
  if (type === 'execution') {
    return new ToolError(
      'ERR_QUERY_INVALID',
      `Prometheus could not execute ${what}: ${message}; narrow the selector, range or step`,
      {
        backend: 'Prometheus',
        errorType: type,
      },
    );
  }
  return new ToolError('ERR_BACKEND_ERROR', `Prometheus failed on ${what} (HTTP ${status}, ${type}): ${message}`, {
    backend: 'Prometheus',
    errorType: type,
  });
}
