import { type BackendHttp, ToolError } from '@ravenhelm/kit';
import { type BackendOptions, expectObject, httpFor, statusError } from './common.js';

export interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}

export interface OtlpSpan {
  traceId?: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: string | number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: OtlpAttribute[];
  status?: { code?: string | number; message?: string };
}

export interface OtlpResourceSpans {
  resource?: { attributes?: OtlpAttribute[] };
  scopeSpans?: { spans?: OtlpSpan[] }[];
  instrumentationLibrarySpans?: { spans?: OtlpSpan[] }[];
}

export interface TempoSearchTrace {
  traceID: string;
  rootServiceName?: string;
  rootTraceName?: string;
  startTimeUnixNano?: string;
  durationMs?: number;
  spanSet?: { spans?: unknown[]; matched?: number };
  spanSets?: { spans?: unknown[]; matched?: number }[];
}

export interface TempoSearchResult {
  traces: TempoSearchTrace[];
  metrics: { inspectedTraces?: number; inspectedBytes?: string | number; totalBlocks?: number };
}

/** Tempo HTTP API: traces by id (OTLP JSON) and TraceQL search. */
export class TempoBackend {
  readonly http: BackendHttp;

  constructor(opts: BackendOptions) {
    this.http = httpFor('Tempo', opts);
  }

  /** The trace's resource spans; Tempo answers `{batches}` (v1) or `{resourceSpans}` / `{trace:{...}}`. */
  async trace(id: string, signal?: AbortSignal): Promise<OtlpResourceSpans[]> {
    const res = await this.http.request('GET', `/api/traces/${encodeURIComponent(id)}`, { signal });
    if (res.status === 404) {
      throw new ToolError(
        'ERR_NOT_FOUND',
        `Tempo has no trace ${id}; check the id (32 hex digits) or search with traces_search`,
        { backend: 'Tempo' },
      );
    }
    if (res.status !== 200) throw statusError('Tempo', res, `trace ${id}`, 'ERR_INVALID_INPUT');
    let body = expectObject('Tempo', res.body, `trace ${id}`);
    if (body.trace && typeof body.trace === 'object') body = body.trace as Record<string, unknown>;
    const batches = body.batches ?? body.resourceSpans;
    return Array.isArray(batches) ? (batches as OtlpResourceSpans[]) : [];
  }

  async search(
    q: string,
    startSec: number,
    endSec: number,
    limit: number,
    spss: number,
    signal?: AbortSignal,
  ): Promise<TempoSearchResult> {
    const res = await this.http.request('GET', '/api/search', {
      query: { q, start: startSec, end: endSec, limit, spss },
      signal,
    });
    if (res.status !== 200) throw statusError('Tempo', res, 'the TraceQL query');
    const body = expectObject('Tempo', res.body, 'the search');
    return {
      traces: Array.isArray(body.traces) ? (body.traces as TempoSearchTrace[]) : [],
      metrics: (body.metrics as TempoSearchResult['metrics']) ?? {},
    };
  }
}
