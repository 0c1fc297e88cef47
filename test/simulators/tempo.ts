/**
 * A Tempo simulator (tests only), built from Tempo's own material, not from what our client expects:
 *
 * - API reference: grafana/tempo `docs/sources/tempo/api_docs/_index.md` (Query, Query V2, Search: paths,
 *   parameters, the search example bodies with `spanSet`/`spanSets`, `matched`, `metrics.inspectedBytes` as a
 *   string).
 * - Encoding: responses are tempopb messages written by gogo `jsonpb.Marshaler{}` (modules/frontend/combiner/
 *   common.go `internalMarshalAs`): zero values are omitted (no `status` on a COMPLETE v2 trace, no `kind` for
 *   SPAN_KIND_UNSPECIFIED, no `durationMs` when it is 0, no `traces` when the search found none, no
 *   `parentSpanId` on a root), enums by name, 64-bit integers as strings, ids as base64 bytes
 *   (pkg/tempopb/tempo.pb.go json tags; pkg/tempopb/trace/v1/trace.pb.go).
 * - Trace by id v1: modules/frontend/combiner/trace_by_id.go: 404 with an empty body when no querier has the
 *   trace; 422 with the body `trace exceeds max size` (pkg/model/trace/combine.go ErrTraceTooLarge).
 * - Trace by id v2: modules/frontend/combiner/trace_by_id_v2.go and modules/querier/http.go
 *   (TraceByIDHandlerV2 never answers 404: an unknown id is 200 with an empty `trace`); over the size limit
 *   the spans consumed so far are returned with `status: "PARTIAL"` and the message
 *   `Trace exceeds maximum size of N bytes, a partial trace is returned`.
 * - Search metadata: pkg/traceql/engine.go `asTraceSearchMetadata` (`durationMs` = trace duration in ns / 1e6,
 *   floored, uint32), modules/frontend/combiner/search.go (`<root span not yet received>` when the root span
 *   has not arrived), util.TraceIDToHexString (leading zeros stripped).
 * - Traces really contain orphan spans (a parent that never arrived) and clock skew between services (a
 *   child that starts before its parent); the store keeps whatever it is given.
 *
 * TraceQL is a small subset: `{ cond && cond }`, cond is `field op value` over resource.service.name, name,
 * status, kind, duration, span.<attr> or .<attr>; ops = != > < >= <= =~ (RE2 via re2js, anchored as Tempo does).
 */
import { RE2JS } from 're2js';
import { type Reply, type SimServer, serve, type Token, tokenize } from './http.js';

export type SpanKind = 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';

export interface SimSpan {
  spanId: string;
  parentSpanId?: string;
  service: string;
  name: string;
  /** Omitted (SPAN_KIND_UNSPECIFIED) when not given. */
  kind?: SpanKind;
  /** Milliseconds since the epoch; fractions are kept to the nanosecond. */
  startMs: number;
  durationMs: number;
  status?: 'ok' | 'error' | 'unset';
  statusMessage?: string;
  attributes?: Record<string, string | number | boolean>;
}

type Cond = { field: string; op: string; value: string | number };

class TraceQLError extends Error {
  constructor(
    message: string,
    readonly col: number,
  ) {
    super(message);
  }
}

const DURATION_NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

export function parseTraceQL(q: string): Cond[] & { hints?: Record<string, string> } {
  const toks = tokenize(q, ['&&', '!=', '>=', '<=', '=~', '=', '>', '<']);
  if (!Array.isArray(toks)) throw new TraceQLError(`syntax error: ${toks.error}`, toks.col);
  let i = 0;
  const next = (pred: (t: Token) => boolean, what: string): Token => {
    const t = toks[i];
    if (!t || !pred(t)) {
      throw new TraceQLError(
        `syntax error: unexpected ${t ? t.text : '$end'}, expecting ${what}`,
        t?.col ?? q.length + 1,
      );
    }
    i++;
    return t;
  };
  next((t) => t.text === '{', '{');
  const conds: Cond[] = [];
  while (toks[i]?.text !== '}') {
    if (conds.length > 0) next((t) => t.text === '&&', '&& or }');
    const field = next((t) => t.kind === 'ident', 'an attribute').text;
    const op = next((t) => t.kind === 'op' && t.text !== '&&', 'an operator').text;
    const v = next((t) => ['string', 'number', 'ident'].includes(t.kind), 'a value');
    let value: string | number = v.text;
    if (v.kind === 'number') {
      const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)?$/.exec(v.text) as RegExpExecArray;
      value = Number(m[1]) * (m[2] ? (DURATION_NS[m[2]] as number) : 1);
    }
    if (field === 'status' && !['error', 'ok', 'unset'].includes(String(value))) {
      throw new TraceQLError('syntax error: status must be error, ok or unset', v.col);
    }
    if (op === '=~') {
      try {
        RE2JS.compile(String(value));
      } catch (err) {
        throw new TraceQLError(`error parsing regexp: ${(err as Error).message}`, v.col);
      }
    }
    conds.push({ field, op, value });
  }
  next((t) => t.text === '}', '}');
  // Query hints after the query: `with (name=value, ...)` (pkg/traceql/expr.y `hints`), e.g. most_recent=true.
  const hints: Record<string, string> = {};
  if (toks[i]?.text === 'with') {
    i++;
    next((t) => t.text === '(', '(');
    do {
      if (Object.keys(hints).length > 0) next((t) => t.text === ',', ', or )');
      const name = next((t) => t.kind === 'ident', 'a hint name').text;
      next((t) => t.text === '=', '=');
      hints[name] = next((t) => ['string', 'number', 'ident'].includes(t.kind), 'a value').text;
    } while (toks[i]?.text !== ')');
    next((t) => t.text === ')', ')');
  }
  if (i < toks.length) throw new TraceQLError(`syntax error: unexpected ${toks[i]?.text}`, toks[i]?.col ?? 1);
  return Object.assign(conds, { hints });
}

function spanValue(span: SimSpan, field: string): string | number | boolean | undefined {
  if (field === 'resource.service.name' || field === '.service.name') return span.service;
  if (field === 'name') return span.name;
  if (field === 'status') return span.status ?? 'unset';
  if (field === 'kind') return span.kind ?? 'unspecified';
  if (field === 'duration') return Math.round(span.durationMs * 1e6);
  const key = field.replace(/^(span|resource)?\./, '');
  return span.attributes?.[key];
}

function holds(c: Cond, span: SimSpan): boolean {
  const v = spanValue(span, c.field);
  if (v === undefined) return c.op === '!=';
  switch (c.op) {
    case '=':
      return String(v) === String(c.value);
    case '!=':
      return String(v) !== String(c.value);
    case '=~':
      return RE2JS.compile(`^(?:${c.value})$`).matches(String(v));
    case '>':
      return Number(v) > Number(c.value);
    case '<':
      return Number(v) < Number(c.value);
    case '>=':
      return Number(v) >= Number(c.value);
    case '<=':
      return Number(v) <= Number(c.value);
    default:
      return false;
  }
}

const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const nanos = (ms: number) => BigInt(Math.round(ms * 1e6));

function attr(key: string, v: string | number | boolean) {
  if (typeof v === 'number') return { key, value: Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v } };
  if (typeof v === 'boolean') return { key, value: { boolValue: v } };
  return { key, value: { stringValue: v } };
}

/** One span as jsonpb writes it: zero values omitted. */
function encodeSpan(traceId: string, s: SimSpan): Record<string, unknown> {
  const status =
    s.status === 'error'
      ? { code: 'STATUS_CODE_ERROR', ...(s.statusMessage ? { message: s.statusMessage } : {}) }
      : s.status === 'ok'
        ? { code: 'STATUS_CODE_OK' }
        : {};
  const start = nanos(s.startMs);
  return {
    traceId: b64(traceId),
    spanId: b64(s.spanId),
    ...(s.parentSpanId ? { parentSpanId: b64(s.parentSpanId) } : {}),
    name: s.name,
    ...(s.kind && s.kind !== 'unspecified' ? { kind: `SPAN_KIND_${s.kind.toUpperCase()}` } : {}),
    startTimeUnixNano: start.toString(),
    endTimeUnixNano: (start + nanos(s.durationMs)).toString(),
    ...(s.attributes && Object.keys(s.attributes).length > 0
      ? { attributes: Object.entries(s.attributes).map(([k, v]) => attr(k, v)) }
      : {}),
    status,
  };
}

/** Go's time.Duration String() for whole seconds: 168h0m0s, 30m0s, 45s. */
function goDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}

/** `batches` is the field name of Tempo 1.x and early 2.x v1 answers; current Tempo writes `resourceSpans`. */
export type V1Field = 'resourceSpans' | 'batches';

export class TempoSimulator {
  readonly traces = new Map<string, SimSpan[]>();
  server: SimServer | undefined;
  /** The field holding the resource spans in v1 answers. */
  v1Field: V1Field = 'resourceSpans';
  /** False: a Tempo before the v2 API (its router answers `404 page not found` for /api/v2/...). */
  v2Available = true;
  /** The per-trace size limit (max_bytes_per_trace), measured on the encoded spans. */
  maxTraceBytes = Number.POSITIVE_INFINITY;
  /** False: a Tempo before query hints (2.4, #3275 in pkg/traceql/expr.y), whose grammar refuses `with (...)`. */
  hintsAvailable = true;
  /** What `GET /api/status/buildinfo` says; most_recent=true is honoured from 2.8 (CHANGELOG #4238). */
  version = '2.8.2';
  /**
   * query_frontend.search.max_duration in seconds: a longer search window is refused (modules/frontend/config.go
   * default 168h; 0 is no limit).
   */
  maxSearchSeconds = 168 * 3600;
  /** query_frontend.search.max_result_limit: a larger `limit` is refused (default 0, no limit). */
  maxSearchLimit = 0;

  get url(): string {
    if (!this.server) throw new Error('Tempo simulator not started');
    return this.server.url;
  }

  get control() {
    if (!this.server) throw new Error('Tempo simulator not started');
    return this.server.control;
  }

  async start(): Promise<this> {
    this.server = await serve((req) => this.route(req.method, req.url));
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  addTrace(traceId: string, spans: SimSpan[]): void {
    this.traces.set(traceId.toLowerCase().padStart(32, '0'), spans);
  }

  route(method: string, url: URL): Reply {
    if (method !== 'GET') return { status: 405, text: 'method not allowed' };
    if (url.pathname === '/ready') return { status: 200, text: 'ready' };
    if (url.pathname === '/api/status/buildinfo') {
      // api_docs "List build information": version, revision, branch, buildDate, buildUser, goVersion
      const [major = 0, minor = 0] = this.version.split('.').map(Number);
      return {
        status: 200,
        json: {
          version: this.version,
          revision: 'a1b2c3d4e',
          branch: `release-v${major}.${minor}`,
          buildDate: '2025-06-01T00:00:00Z',
          buildUser: 'root@builder',
          goVersion: 'go1.24.3',
        },
      };
    }
    const byId = /^\/api\/traces\/([^/]+)$/.exec(url.pathname);
    if (byId) return this.getTraceV1(decodeURIComponent(byId[1] as string));
    const byIdV2 = /^\/api\/v2\/traces\/([^/]+)$/.exec(url.pathname);
    if (byIdV2 && this.v2Available) return this.getTraceV2(decodeURIComponent(byIdV2[1] as string));
    if (url.pathname === '/api/search') return this.search(url.searchParams);
    return { status: 404, text: '404 page not found\n' };
  }

  /** Resource spans grouped by service, plus whether the size limit cut them (spans kept in arrival order). */
  #encode(traceId: string, spans: SimSpan[]): { resourceSpans: unknown[]; partial: boolean } {
    const byService = new Map<string, Record<string, unknown>[]>();
    let bytes = 0;
    let partial = false;
    for (const s of spans) {
      const encoded = encodeSpan(traceId, s);
      bytes += JSON.stringify(encoded).length;
      if (bytes > this.maxTraceBytes) {
        partial = true;
        break;
      }
      byService.set(s.service, [...(byService.get(s.service) ?? []), encoded]);
    }
    const resourceSpans = [...byService].map(([service, list]) => ({
      resource: { attributes: [attr('service.name', service)] },
      scopeSpans: [{ scope: { name: 'simulator' }, spans: list }],
    }));
    return { resourceSpans, partial };
  }

  getTraceV1(id: string): Reply {
    if (!/^[0-9a-fA-F]{1,32}$/.test(id)) return { status: 400, text: `invalid trace id: ${id}` };
    const traceId = id.toLowerCase().padStart(32, '0');
    const spans = this.traces.get(traceId);
    if (!spans) return { status: 404, text: '' };
    const { resourceSpans, partial } = this.#encode(traceId, spans);
    if (partial) return { status: 422, text: 'trace exceeds max size' };
    return { status: 200, json: { [this.v1Field]: resourceSpans } };
  }

  getTraceV2(id: string): Reply {
    if (!/^[0-9a-fA-F]{1,32}$/.test(id)) return { status: 400, text: `invalid trace id: ${id}` };
    const traceId = id.toLowerCase().padStart(32, '0');
    const spans = this.traces.get(traceId);
    if (!spans) return { status: 200, json: { trace: {}, metrics: {} } };
    const { resourceSpans, partial } = this.#encode(traceId, spans);
    const inspectedBytes = String(JSON.stringify(resourceSpans).length);
    return {
      status: 200,
      json: {
        trace: { resourceSpans },
        metrics: { inspectedBytes },
        ...(partial
          ? {
              status: 'PARTIAL',
              message: `Trace exceeds maximum size of ${this.maxTraceBytes} bytes, a partial trace is returned`,
            }
          : {}),
      },
    };
  }

  search(params: URLSearchParams): Reply {
    const q = params.get('q') ?? '{}';
    let conds: Cond[] & { hints?: Record<string, string> };
    try {
      conds = parseTraceQL(q);
      if (!this.hintsAvailable && conds.hints && Object.keys(conds.hints).length > 0) {
        const col = q.search(/\bwith\b/) + 1;
        throw new TraceQLError('syntax error: unexpected IDENTIFIER', col);
      }
    } catch (err) {
      if (err instanceof TraceQLError) {
        return { status: 400, text: `invalid TraceQL query: parse error at line 1, col ${err.col}: ${err.message}` };
      }
      throw err;
    }
    const limit = Number(params.get('limit') ?? 20);
    const spss = Number(params.get('spss') ?? 3);
    // After the TraceQL validator, the search sharder checks the limit, then the window (search_sharder.go
    // RoundTrip, search_handlers.go adjustLimit): plain-text 400s (pipeline.NewBadRequest writes err.Error()).
    if (this.maxSearchLimit > 0 && limit > this.maxSearchLimit) {
      return { status: 400, text: `limit ${limit} exceeds max limit ${this.maxSearchLimit}` };
    }
    const startSec = Number(params.get('start') ?? 0);
    const endSec = Number(params.get('end') ?? 0);
    if (this.maxSearchSeconds > 0 && endSec - startSec > this.maxSearchSeconds) {
      return {
        status: 400,
        text: `range specified by start and end exceeds ${goDuration(this.maxSearchSeconds)}. received start=${startSec} end=${endSec}`,
      };
    }
    const startMs = params.get('start') ? Number(params.get('start')) * 1000 : Number.NEGATIVE_INFINITY;
    const endMs = params.get('end') ? Number(params.get('end')) * 1000 : Number.POSITIVE_INFINITY;
    const found: { traceID: string; root: SimSpan | undefined; start: number; end: number; matched: SimSpan[] }[] = [];
    let inspectedBytes = 0;
    for (const [traceID, spans] of this.traces) {
      inspectedBytes += JSON.stringify(spans).length;
      const start = Math.min(...spans.map((s) => s.startMs));
      const end = Math.max(...spans.map((s) => s.startMs + s.durationMs));
      if (end < startMs || start > endMs) continue;
      const matched = spans.filter((s) => conds.every((c) => holds(c, s)));
      if (matched.length === 0) continue;
      found.push({ traceID, root: spans.find((s) => !s.parentSpanId), start, end, matched });
    }
    // Which `limit` traces: the first ones the search jobs find, unless the query asks for the most recent
    // (modules/frontend/combiner/search.go NewSearch(limit, keepMostRecent), pkg/traceql/combine.go
    // NewMetadataCombiner: without keepMostRecent it keeps traces as they come until it has `limit`).
    // Here jobs find traces in the order they were written; the answer lists those kept newest first.
    const [major = 0, minor = 0] = this.version.split('.').map(Number);
    const honoured = major > 2 || (major === 2 && minor >= 8); // 2.4 to 2.7 parse hints and ignore this one
    const mostRecent = honoured && conds.hints?.most_recent === 'true';
    const kept = mostRecent ? [...found].sort((a, b) => b.start - a.start) : found;
    const traces = kept
      .slice(0, limit)
      .sort((a, b) => b.start - a.start)
      .map((t) => {
        const spanSet = {
          spans: t.matched.slice(0, spss).map((s) => ({
            spanID: s.spanId.replace(/^0+/, ''),
            name: s.name,
            startTimeUnixNano: nanos(s.startMs).toString(),
            durationNanos: nanos(s.durationMs).toString(),
            attributes: [attr('service.name', s.service)],
          })),
          matched: t.matched.length,
        };
        const durationMs = Number((nanos(t.end) - nanos(t.start)) / 1_000_000n);
        return {
          traceID: t.traceID.replace(/^0+/, ''),
          rootServiceName: t.root?.service ?? '<root span not yet received>',
          ...(t.root ? { rootTraceName: t.root.name } : {}),
          startTimeUnixNano: nanos(t.start).toString(),
          ...(durationMs > 0 ? { durationMs } : {}),
          spanSet,
          spanSets: [spanSet],
        };
      });
    const inspectedTraces = this.traces.size;
    return {
      status: 200,
      json: {
        ...(traces.length > 0 ? { traces } : {}),
        metrics: {
          ...(inspectedTraces > 0 ? { inspectedTraces } : {}),
          ...(inspectedBytes > 0 ? { inspectedBytes: String(inspectedBytes) } : {}),
          totalBlocks: 1,
        },
      },
    };
  }
}
