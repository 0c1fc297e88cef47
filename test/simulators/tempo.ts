/**
 * A Tempo simulator (tests only): stored traces served by id as OTLP JSON `batches` (ids base64, as Tempo's
 * JSON does), 404 for unknown ids, and /api/search with a small TraceQL subset:
 * `{ cond && cond }` where cond is `field op value`, fields resource.service.name, name, status, duration,
 * span.<attr> or .<attr>; ops = != > < >= <= =~. Parse errors answer 400 like Tempo.
 */
import { type Reply, type SimServer, serve, type Token, tokenize } from './http.js';

export interface SimSpan {
  spanId: string;
  parentSpanId?: string;
  service: string;
  name: string;
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

export function parseTraceQL(q: string): Cond[] {
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
    if (!/^(resource\.|span\.|\.)?[a-zA-Z_][a-zA-Z0-9_.]*$/.test(field) && !field.startsWith('.')) {
      throw new TraceQLError(`syntax error: unknown attribute ${field}`, toks[i - 1]?.col ?? 1);
    }
    const op = next((t) => t.kind === 'op' && t.text !== '&&', 'an operator').text;
    const v = next((t) => ['string', 'number', 'ident'].includes(t.kind), 'a value');
    let value: string | number = v.text;
    if (v.kind === 'number') {
      const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)?$/.exec(v.text) as RegExpExecArray;
      value = Number(m[1]) * (m[2] ? (DURATION_NS[m[2]] as number) : 1);
    }
    if (field === 'status' && !['error', 'ok', 'unset'].includes(String(value))) {
      throw new TraceQLError(`syntax error: status must be error, ok or unset`, v.col);
    }
    conds.push({ field, op, value });
  }
  next((t) => t.text === '}', '}');
  if (i < toks.length) throw new TraceQLError(`syntax error: unexpected ${toks[i]?.text}`, toks[i]?.col ?? 1);
  return conds;
}

function spanValue(span: SimSpan, field: string): string | number | boolean | undefined {
  if (field === 'resource.service.name' || field === '.service.name') return span.service;
  if (field === 'name') return span.name;
  if (field === 'status') return span.status ?? 'unset';
  if (field === 'duration') return span.durationMs * 1e6;
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
      return new RegExp(`^(?:${c.value})$`).test(String(v));
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

function attr(key: string, v: string | number | boolean) {
  if (typeof v === 'number') return { key, value: Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v } };
  if (typeof v === 'boolean') return { key, value: { boolValue: v } };
  return { key, value: { stringValue: v } };
}

/**
 * How /api/traces/{id} wraps the resource spans: `batches` (Tempo's v1 JSON), `resourceSpans` (the OTLP
 * JSON export shape) or `v2` (`{trace: {resourceSpans}}` as /api/v2/traces answers). `legacy` uses the
 * pre-1.0 OTLP field `instrumentationLibrarySpans` inside `batches`.
 */
export type TraceShape = 'batches' | 'resourceSpans' | 'v2' | 'legacy';

export class TempoSimulator {
  readonly traces = new Map<string, SimSpan[]>();
  server: SimServer | undefined;
  shape: TraceShape = 'batches';

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
    const byId = /^\/api\/traces\/([^/]+)$/.exec(url.pathname);
    if (byId) return this.getTrace(decodeURIComponent(byId[1] as string), this.shape);
    const byIdV2 = /^\/api\/v2\/traces\/([^/]+)$/.exec(url.pathname);
    if (byIdV2) return this.getTrace(decodeURIComponent(byIdV2[1] as string), 'v2');
    if (url.pathname === '/api/search') return this.search(url.searchParams);
    return { status: 404, text: '404 page not found' };
  }

  getTrace(id: string, shape: TraceShape): Reply {
    if (!/^[0-9a-fA-F]{1,32}$/.test(id)) return { status: 400, text: 'invalid trace id' };
    const traceId = id.toLowerCase().padStart(32, '0');
    const spans = this.traces.get(traceId);
    if (!spans) return { status: 404, text: 'trace not found' };
    const byService = new Map<string, SimSpan[]>();
    for (const s of spans) byService.set(s.service, [...(byService.get(s.service) ?? []), s]);
    const batches = [...byService].map(([service, list]) => ({
      resource: { attributes: [attr('service.name', service)] },
      [shape === 'legacy' ? 'instrumentationLibrarySpans' : 'scopeSpans']: [
        {
          [shape === 'legacy' ? 'instrumentationLibrary' : 'scope']: { name: 'simulator' },
          spans: list.map((s) => ({
            traceId: b64(traceId),
            spanId: b64(s.spanId),
            ...(s.parentSpanId ? { parentSpanId: b64(s.parentSpanId) } : {}),
            name: s.name,
            kind: 'SPAN_KIND_SERVER',
            startTimeUnixNano: String(BigInt(s.startMs) * 1_000_000n),
            endTimeUnixNano: String(BigInt(s.startMs) * 1_000_000n + BigInt(Math.round(s.durationMs * 1e6))),
            attributes: Object.entries(s.attributes ?? {}).map(([k, v]) => attr(k, v)),
            status:
              s.status === 'error'
                ? { code: 'STATUS_CODE_ERROR', message: s.statusMessage ?? '' }
                : s.status === 'ok'
                  ? { code: 'STATUS_CODE_OK' }
                  : {},
          })),
        },
      ],
    }));
    if (shape === 'resourceSpans') return { status: 200, json: { resourceSpans: batches } };
    if (shape === 'v2') return { status: 200, json: { trace: { resourceSpans: batches }, status: 'COMPLETE' } };
    return { status: 200, json: { batches } };
  }

  search(params: URLSearchParams): Reply {
    const q = params.get('q') ?? '{}';
    let conds: Cond[];
    try {
      conds = parseTraceQL(q);
    } catch (err) {
      if (err instanceof TraceQLError) {
        return { status: 400, text: `invalid TraceQL query: parse error at line 1, col ${err.col}: ${err.message}` };
      }
      throw err;
    }
    const limit = Number(params.get('limit') ?? 20);
    const spss = Number(params.get('spss') ?? 3);
    const startMs = params.get('start') ? Number(params.get('start')) * 1000 : Number.NEGATIVE_INFINITY;
    const endMs = params.get('end') ? Number(params.get('end')) * 1000 : Number.POSITIVE_INFINITY;
    const found: { traceID: string; root: SimSpan; start: number; end: number; matched: SimSpan[] }[] = [];
    let inspectedBytes = 0;
    for (const [traceID, spans] of this.traces) {
      inspectedBytes += JSON.stringify(spans).length;
      const start = Math.min(...spans.map((s) => s.startMs));
      const end = Math.max(...spans.map((s) => s.startMs + s.durationMs));
      if (end < startMs || start > endMs) continue;
      const matched = spans.filter((s) => conds.every((c) => holds(c, s)));
      if (matched.length === 0) continue;
      const root = spans.find((s) => !s.parentSpanId) ?? (spans[0] as SimSpan);
      found.push({ traceID, root, start, end, matched });
    }
    found.sort((a, b) => b.start - a.start);
    const traces = found.slice(0, limit).map((t) => {
      const spanSet = {
        spans: t.matched.slice(0, spss).map((s) => ({
          spanID: s.spanId,
          startTimeUnixNano: String(BigInt(s.startMs) * 1_000_000n),
          durationNanos: String(Math.round(s.durationMs * 1e6)),
          attributes: [attr('service.name', s.service)],
        })),
        matched: t.matched.length,
      };
      return {
        traceID: t.traceID.replace(/^0+/, ''),
        rootServiceName: t.root.service,
        rootTraceName: t.root.name,
        startTimeUnixNano: String(BigInt(t.start) * 1_000_000n),
        durationMs: Math.round(t.end - t.start),
        spanSet,
        spanSets: [spanSet],
      };
    });
    return {
      status: 200,
      json: {
        traces,
        metrics: { inspectedTraces: this.traces.size, inspectedBytes: String(inspectedBytes), totalBlocks: 1 },
      },
    };
  }
}
