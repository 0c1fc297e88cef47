import { type BackendHttp, ToolError } from '@ravenhelm/kit';
import { type BackendOptions, expectObject, httpFor, statusError } from './common.js';

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
 * every reader handles all three (a vector is read as one-point series).
 */
export type LokiQueryResult =
  | { resultType: 'streams'; streams: LokiStream[]; stats: LokiStats }
  | { resultType: 'matrix' | 'vector'; series: LokiSeries[]; stats: LokiStats };

export interface LokiQueryRange {
  query: string;
  /** Unix nanoseconds as decimal strings (beyond Number precision). */
  startNs: string;
  endNs: string;
  limit: number;
  direction: 'backward' | 'forward';
}

/** Loki HTTP API (/loki/api/v1). */
export class LokiBackend {
  readonly http: BackendHttp;

  constructor(opts: BackendOptions) {
    this.http = httpFor('Loki', opts);
  }

  async queryRange(q: LokiQueryRange, signal?: AbortSignal): Promise<LokiQueryResult> {
    const res = await this.http.request('GET', '/loki/api/v1/query_range', {
      query: { query: q.query, start: q.startNs, end: q.endNs, limit: q.limit, direction: q.direction },
      signal,
    });
    if (res.status !== 200) throw statusError('Loki', res, 'the LogQL query');
    const data = expectObject('Loki', expectObject('Loki', res.body, 'the query').data, 'the query data');
    const result = Array.isArray(data.result) ? data.result : [];
    const stats = (data.stats as LokiStats) ?? {};
    switch (data.resultType) {
      case 'streams':
        return { resultType: 'streams', streams: result as LokiStream[], stats };
      case 'matrix':
        return { resultType: 'matrix', series: result as LokiSeries[], stats };
      case 'vector':
        return {
          resultType: 'vector',
          series: (result as { metric: Record<string, string>; value: [number, string] }[]).map((v) => ({
            metric: v.metric,
            values: [v.value],
          })),
          stats,
        };
      default:
        throw new ToolError(
          'ERR_BACKEND_ERROR',
          `Loki answered the LogQL query with resultType ${JSON.stringify(data.resultType)}, not streams, matrix or vector`,
          { backend: 'Loki' },
        );
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
