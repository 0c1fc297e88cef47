import { type BackendHttp, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { formatDuration, sumOfParts } from '../time.js';
import {
  type BackendOptions,
  expectObject,
  httpFor,
  Nanos,
  parseAnswer,
  statusError,
  vendorMessage,
} from './common.js';

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

export interface TempoTrace {
  resourceSpans: OtlpResourceSpans[];
  /** Tempo's message when it returned only part of the trace (v2 `status: "PARTIAL"`), else null. */
  partial: string | null;
}

function notFound(id: string): ToolError {
  return new ToolError(
    'ERR_NOT_FOUND',
    `Tempo has no trace ${id}; check the id (32 hex digits) or search with traces_search`,
    {
      backend: 'Tempo',
    },
  );
}

/** A Go time.Duration's parts, as Tempo prints its limits ("168h0m0s", "1h30m0s", "1.5s"). */
const GO_UNITS = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };

/**
 * Tempo's search frontend refuses a window longer than its `max_duration` (default 168h) and a limit above
 * `max_result_limit` with plain-text 400s (modules/frontend/search_sharder.go, search_handlers.go adjustLimit).
 * Neither is a fault of the TraceQL query: said as the argument to change, never retried without the hint.
 */
function searchLimitError(message: string, windowSec: number, endSec: number, limit: number): void {
  const longest = /range specified by start and end exceeds (\S+?)\.? received/.exec(message)?.[1];
  if (longest) {
    const seconds = sumOfParts(longest, GO_UNITS, '\\d+(?:\\.\\d+)?');
    const newest =
      seconds !== undefined && seconds > 0
        ? `, e.g. start="${new Date((endSec - Math.floor(seconds)) * 1000).toISOString()}" for the newest part of it, then earlier windows in turn`
        : '';
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `Tempo searches at most ${longest} per query (its max_duration) and this window is ${formatDuration(Math.round(windowSec / 60) * 60)}: narrow start and end to ${longest} or less${newest}`,
      { backend: 'Tempo', status: 400, field: 'start' },
    );
  }
  const max = /limit (\d+) exceeds max limit (\d+)/.exec(message)?.[2];
  if (max) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `Tempo returns at most ${max} traces per search (its max_result_limit) and limit was ${limit}: ask again with limit=${max} or less`,
      { backend: 'Tempo', status: 400, field: 'limit' },
    );
  }
}

/** What the span tree reads of a span; attributes, events and the rest pass through unchecked. */
const Span = z.looseObject({
  spanId: z.string(),
  parentSpanId: z.string().optional(),
  name: z.string(),
  startTimeUnixNano: Nanos,
  endTimeUnixNano: Nanos,
});
const SpanList = z.looseObject({ spans: z.array(Span).optional() });
const ResourceSpansList = z.array(
  z.looseObject({
    scopeSpans: z.array(SpanList).optional(),
    instrumentationLibrarySpans: z.array(SpanList).optional(),
  }),
);

/** Current Tempo writes `resourceSpans`; Tempo 1.x and early 2.x v1 answers used `batches`. */
function spansOf(trace: Record<string, unknown>, id: string, at: string): OtlpResourceSpans[] {
  const key = trace.resourceSpans !== undefined ? 'resourceSpans' : 'batches';
  const list = trace[key];
  if (list === undefined || list === null) return [];
  return parseAnswer('Tempo', ResourceSpansList, list, `trace ${id}`, `${at}${key}`) as OtlpResourceSpans[];
}

const SearchAnswer = z.looseObject({
  traces: z
    .array(
      z.looseObject({
        traceID: z.string().regex(/^[0-9a-fA-F]{1,32}$/, 'not a trace id of hex digits'),
        rootServiceName: z.string().optional(),
        rootTraceName: z.string().optional(),
        startTimeUnixNano: Nanos.optional(),
        durationMs: z.number().optional(),
      }),
    )
    .nullish(),
  metrics: z.looseObject({}).nullish(),
});

/** Tempo HTTP API: traces by id (OTLP JSON) and TraceQL search. */
export class TempoBackend {
  readonly http: BackendHttp;

  constructor(opts: BackendOptions) {
    this.http = httpFor('Tempo', opts);
  }

  #version: Promise<string | undefined> | undefined;

  /**
   * Tempo's version from `GET /api/status/buildinfo` (api_docs: `version`, `revision`, ...), read once; undefined
   * when it cannot be read (that is not an error for the call that wanted it).
   */
  version(signal?: AbortSignal): Promise<string | undefined> {
    this.#version ??= this.http
      .request('GET', '/api/status/buildinfo', { signal })
      .then((res) => {
        const v =
          res.status === 200 && res.body && typeof res.body === 'object'
            ? (res.body as { version?: unknown }).version
            : undefined;
        return typeof v === 'string' && v.length <= 64 ? v : undefined;
      })
      .catch(() => {
        this.#version = undefined; // a call cut short is asked again next time
        return undefined;
      });
    return this.#version;
  }

  /**
   * A trace by id through Tempo's v2 API, which returns what it has when the trace is over the per-trace size
   * limit (`status: "PARTIAL"` and a message) where v1 refuses with 422. A Tempo without the v2 route (its
   * router answers `404 page not found`) is asked through v1.
   */
  async trace(id: string, signal?: AbortSignal): Promise<TempoTrace> {
    const res = await this.http.request('GET', `/api/v2/traces/${encodeURIComponent(id)}`, { signal });
    if (res.status === 404 && /404 page not found/.test(String(res.body))) return this.#traceV1(id, signal);
    if (res.status === 404) throw notFound(id);
    if (res.status !== 200) throw statusError('Tempo', res, `trace ${id}`, 'ERR_INVALID_INPUT');
    const body = expectObject('Tempo', res.body, `trace ${id}`);
    const trace = (body.trace && typeof body.trace === 'object' ? body.trace : {}) as Record<string, unknown>;
    const resourceSpans = spansOf(trace, id, 'trace.');
    // v2 answers 200 with an empty trace when no querier has the id.
    if (resourceSpans.length === 0) throw notFound(id);
    const partial =
      body.status === 'PARTIAL'
        ? typeof body.message === 'string' && body.message !== ''
          ? body.message
          : 'Tempo returned part of the trace'
        : null;
    return { resourceSpans, partial };
  }

  async #traceV1(id: string, signal?: AbortSignal): Promise<TempoTrace> {
    const res = await this.http.request('GET', `/api/traces/${encodeURIComponent(id)}`, { signal });
    if (res.status === 404) throw notFound(id);
    if (res.status === 422) {
      throw new ToolError(
        'ERR_OUTPUT_TOO_LARGE',
        `Tempo holds trace ${id} but it is over Tempo's per-trace size limit, and this Tempo has no /api/v2 to return it in part (Tempo said: ${vendorMessage(res.body)}); raise max_bytes_per_trace or upgrade Tempo to 2.5+`,
        { backend: 'Tempo', status: 422 },
      );
    }
    if (res.status !== 200) throw statusError('Tempo', res, `trace ${id}`, 'ERR_INVALID_INPUT');
    const resourceSpans = spansOf(expectObject('Tempo', res.body, `trace ${id}`), id, '');
    if (resourceSpans.length === 0) throw notFound(id);
    return { resourceSpans, partial: null };
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
    if (res.status === 400) searchLimitError(vendorMessage(res.body), endSec - startSec, endSec, limit);
    if (res.status !== 200) throw statusError('Tempo', res, 'the TraceQL query');
    const body = parseAnswer('Tempo', SearchAnswer, expectObject('Tempo', res.body, 'the search'), 'the search');
    return {
      traces: (body.traces ?? []) as TempoSearchTrace[],
      metrics: (body.metrics ?? {}) as TempoSearchResult['metrics'],
    };
  }
}
