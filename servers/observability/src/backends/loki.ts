import { type BackendHttp, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { isoOfNanosExact, sumOfParts } from '../time.js';
import {
  type BackendOptions,
  boundedNotes,
  expectObject,
  httpFor,
  isNanos,
  LabelSet,
  parseAnswer,
  statusError,
  vendorMessage,
} from './common.js';

export interface LokiStream {
  stream: Record<string, string>;
  values: [string, string, ...unknown[]][];
}

/** A metric sample series: `[float seconds, "value"]` pairs, the same shape as Prometheus's. */
export interface LokiSeries {
  metric: Record<string, string>;
  values: [number, string][];
}

type LokiStats = { summary?: { totalLinesProcessed?: number; totalBytesProcessed?: number; execTime?: number } };

/**
 * Loki answers a log query with `streams` and a metric query with `matrix` (range) or `vector` (instant);
 * every reader handles all three (a vector is read as one-point series). `warnings` are Loki's own
 * (`pkg/util/marshal/query.go` writes them beside `data`, e.g. a partial answer), bounded.
 */
export type LokiQueryResult = (
  | { resultType: 'streams'; streams: LokiStream[]; stats: LokiStats }
  | { resultType: 'matrix' | 'vector'; series: LokiSeries[]; stats: LokiStats }
) & { warnings?: string[] };

export interface LokiQueryRange {
  query: string;
  /** Unix nanoseconds as decimal strings (beyond Number precision). */
  startNs: string;
  endNs: string;
  limit: number;
  direction: 'backward' | 'forward';
  /** Seconds between evaluations of a metric query; Loki's default (range/250) when absent. */
  step?: number;
}

/** A log line `[nanoseconds, line]` (Loki 3 may add a third item, structured metadata). */
function isLogEntry(e: unknown): boolean {
  return Array.isArray(e) && e.length >= 2 && isNanos(e[0]) && typeof e[0] === 'string' && typeof e[1] === 'string';
}

function isSample(p: unknown): p is [number, string] {
  return (
    Array.isArray(p) && p.length >= 2 && typeof p[0] === 'number' && Number.isFinite(p[0]) && typeof p[1] === 'string'
  );
}

const Streams = z.array(
  z.looseObject({
    stream: LabelSet,
    values: z.custom<LokiStream['values']>((v) => Array.isArray(v) && v.every(isLogEntry), {
      message: 'not a list of ["<unix nanoseconds>", "<line>"] entries',
    }),
  }),
);

const Matrix = z.array(
  z.looseObject({
    metric: LabelSet,
    values: z.custom<[number, string][]>((v) => Array.isArray(v) && v.every(isSample), {
      message: 'not a list of [unix seconds, "value"] samples',
    }),
  }),
);

const Vector = z.array(
  z.looseObject({
    metric: LabelSet,
    value: z.custom<[number, string]>(isSample, { message: 'not a [unix seconds, "value"] sample' }),
  }),
);

const KNOWN_TYPE = /^[a-z]{1,20}$/;

/** A Prometheus model.Duration's parts, as Loki prints its limits ("30d1h", "1w", "12h"). */
const PROMETHEUS_UNITS = { y: 31_536_000, w: 604_800, d: 86_400, h: 3600, m: 60, s: 1, ms: 1e-3 };

/**
 * Loki's per-tenant limits are plain-text 400s (pkg/util/validation/validate.go ErrQueryTooLong,
 * ErrMaxEntriesLimit), configured per installation and often below the defaults our inputs allow. Neither is a
 * fault of the query: said as the argument to change and the value Loki takes.
 */
function limitError(message: string, q: LokiQueryRange): void {
  const length = /the query time range exceeds the limit \(query length: ([^,]+), limit: ([^)]+)\)/.exec(message);
  if (length) {
    const max = sumOfParts(length[2] as string, PROMETHEUS_UNITS);
    const newest =
      max !== undefined && max > 0
        ? `, e.g. start="${isoOfNanosExact((BigInt(q.endNs) - BigInt(max) * 1_000_000_000n).toString())}" for the newest part, then earlier windows in turn`
        : '';
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `Loki reads at most ${length[2]} per query (its max_query_length) and this range is ${length[1]}: narrow start and end to ${length[2]} or less${newest}`,
      { backend: 'Loki', status: 400, field: 'start' },
    );
  }
  const entries = /max_entries_limit_per_query \((\d+) > (\d+)\)/.exec(message);
  if (entries) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `Loki returns at most ${entries[2]} lines per query (its max_entries_limit_per_query) and limit was ${entries[1]}: ask again with limit=${entries[2]} or less`,
      { backend: 'Loki', status: 400, field: 'limit' },
    );
  }
}

/** Loki HTTP API (/loki/api/v1). */
export class LokiBackend {
  readonly http: BackendHttp;

  constructor(opts: BackendOptions) {
    this.http = httpFor('Loki', opts);
  }

  async queryRange(q: LokiQueryRange, signal?: AbortSignal): Promise<LokiQueryResult> {
    const res = await this.http.request('GET', '/loki/api/v1/query_range', {
      query: { query: q.query, start: q.startNs, end: q.endNs, limit: q.limit, direction: q.direction, step: q.step },
      signal,
    });
    if (res.status === 400) limitError(vendorMessage(res.body), q);
    if (res.status !== 200) throw statusError('Loki', res, 'the LogQL query');
    const body = expectObject('Loki', res.body, 'the query');
    const warnings = boundedNotes(body.warnings, 'warnings');
    const answer = this.#read(body);
    return warnings ? { ...answer, warnings } : answer;
  }

  #read(body: Record<string, unknown>): LokiQueryResult {
    const data = expectObject('Loki', body.data, 'the query data');
    const result = data.result ?? [];
    const stats = (data.stats && typeof data.stats === 'object' ? data.stats : {}) as LokiStats;
    const what = 'the LogQL query';
    switch (data.resultType) {
      case 'streams':
        return { resultType: 'streams', streams: parseAnswer('Loki', Streams, result, what, 'data.result'), stats };
      case 'matrix':
        return { resultType: 'matrix', series: parseAnswer('Loki', Matrix, result, what, 'data.result'), stats };
      case 'vector':
        return {
          resultType: 'vector',
          series: parseAnswer('Loki', Vector, result, what, 'data.result').map((v) => ({
            metric: v.metric,
            values: [v.value],
          })),
          stats,
        };
      default: {
        // the type is quoted only when it is a plain word: the rest of the answer is never echoed
        const type =
          typeof data.resultType === 'string' && KNOWN_TYPE.test(data.resultType)
            ? JSON.stringify(data.resultType)
            : 'that is not a plain word';
        throw new ToolError(
          'ERR_BACKEND_ERROR',
          `Loki answered the LogQL query with resultType ${type}, not streams, matrix or vector`,
          { backend: 'Loki', field: 'data.resultType' },
        );
      }
    }
  }

  async labels(startNs: string, endNs: string, signal?: AbortSignal): Promise<string[]> {
    const res = await this.http.request('GET', '/loki/api/v1/labels', {
      query: { start: startNs, end: endNs },
      signal,
    });
    if (res.status !== 200) throw statusError('Loki', res, 'the label names');
    const data = expectObject('Loki', res.body, 'the label names').data;
    return Array.isArray(data) ? data.map(String) : [];
  }

  async labelValues(
    name: string,
    startNs: string,
    endNs: string,
    query: string | undefined,
    signal?: AbortSignal,
  ): Promise<string[]> {
    const res = await this.http.request('GET', `/loki/api/v1/label/${encodeURIComponent(name)}/values`, {
      query: { start: startNs, end: endNs, query },
      signal,
    });
    if (res.status !== 200) throw statusError('Loki', res, `the values of label ${name}`);
    const data = expectObject('Loki', res.body, 'the label values').data;
    return Array.isArray(data) ? data.map(String) : [];
  }
}
