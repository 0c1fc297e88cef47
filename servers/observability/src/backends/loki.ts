import type { BackendHttp } from '@ravenhelm/kit';
import { type BackendOptions, expectObject, httpFor, statusError } from './common.js';

export interface LokiStream {
  stream: Record<string, string>;
  values: [string, string, ...unknown[]][];
}

export interface LokiQueryResult {
  resultType: string;
  result: LokiStream[];
  stats: { summary?: { totalLinesProcessed?: number; totalBytesProcessed?: number; execTime?: number } };
}

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
    return {
      resultType: String(data.resultType ?? ''),
      result: Array.isArray(data.result) ? (data.result as LokiStream[]) : [],
      stats: (data.stats as LokiQueryResult['stats']) ?? {},
    };
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
