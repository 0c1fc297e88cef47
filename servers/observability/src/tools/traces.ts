import { clipChars, jsonBytes, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { OtlpAttribute, OtlpResourceSpans, OtlpSpan } from '../backends/tempo.js';
import { putLabel, StringMap } from '../labels.js';
import { EndInput, isoOfNanos, resolveRange, startInput } from '../time.js';
import { defineTool, listBudget, READ_ANNOTATIONS } from './define.js';

/** Tempo's JSON carries ids as base64 (protobuf bytes) or hex; the caller always sees lowercase hex. */
export function hexId(id: string | undefined): string {
  if (!id) return '';
  if (/^[0-9a-fA-F]+$/.test(id) && (id.length === 16 || id.length === 32)) return id.toLowerCase();
  return Buffer.from(id, 'base64').toString('hex');
}

/** An attribute's value as text; an array or key-value list as its JSON, bounded (and the cut stated) by the caller. */
function attrValue(v: Record<string, unknown>): string {
  const raw = v.stringValue ?? v.intValue ?? v.doubleValue ?? v.boolValue;
  if (raw !== undefined) return String(raw);
  // OTLP values nest (arrayValue, kvlistValue hold values) to any depth Tempo stores; JSON.stringify recurses
  // and overflowed the stack on some thousands of levels, which failed the whole call as an internal error.
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '(a value nested too deeply to show)';
  }
}

const KINDS = ['internal', 'server', 'client', 'producer', 'consumer'] as const;
type Kind = (typeof KINDS)[number];

/** OTLP span kind by name (`SPAN_KIND_SERVER`, Tempo's jsonpb) or number (2, OTLP/JSON); unspecified is undefined. */
export function kindOf(kind: string | number | undefined): Kind | undefined {
  if (typeof kind === 'number') return KINDS[kind - 1];
  const name = kind?.replace(/^SPAN_KIND_/, '').toLowerCase();
  return KINDS.find((k) => k === name);
}

function statusOf(span: OtlpSpan): 'error' | 'ok' | 'unset' {
  const code = span.status?.code;
  if (code === 'STATUS_CODE_ERROR' || code === 2) return 'error';
  if (code === 'STATUS_CODE_OK' || code === 1) return 'ok';
  return 'unset';
}

/** Bounds of the free text Tempo hands us; every cut is stated in the answer's `cut`. */
export const TRACE_BOUNDS = {
  nameChars: 200,
  attributeKeyChars: 100,
  attributeValueChars: 200,
  attributesPerSpan: 20,
  statusMessageChars: 300,
  services: 50,
} as const;

/** Attributes worth showing in a summary: what the call was and how it failed. */
const KEY_ATTRIBUTES =
  /^(http\.(method|route|status_code|url|target)|http\.request\.method|http\.response\.status_code|url\.(path|full)|db\.(system|operation|statement)|rpc\.(service|method)|messaging\.(system|destination)|exception\.(type|message)|error(\..+)?|peer\.service|net\.peer\.name|server\.address)$/;

const SpanSummary = z.object({
  spanId: z.string(),
  parentSpanId: z.string().nullable(),
  depth: z.number().int(),
  service: z.string(),
  operation: z.string(),
  kind: z.enum(KINDS).optional(),
  orphan: z.literal(true).optional(),
  startOffsetMs: z.number(),
  durationMs: z.number(),
  status: z.enum(['error', 'ok', 'unset']),
  statusMessage: z.string().optional(),
  attributes: StringMap,
});
type SpanSummary = z.output<typeof SpanSummary>;

interface FlatSpan {
  span: OtlpSpan;
  service: string;
  id: string;
  parent: string;
}

/** Spans in tree order (parents before children, siblings by start), each with its depth. */
export function summarizeTrace(batches: OtlpResourceSpans[]) {
  const flat: FlatSpan[] = [];
  let namesCut = 0;
  const tally = { attributesCut: 0, textCut: 0 };
  for (const b of batches) {
    const named = b.resource?.attributes?.find((a) => a.key === 'service.name')?.value;
    const fullService = (named ? attrValue(named) : '') || 'unknown';
    const service = clipChars(fullService, TRACE_BOUNDS.nameChars);
    for (const scope of [...(b.scopeSpans ?? []), ...(b.instrumentationLibrarySpans ?? [])]) {
      for (const span of scope.spans ?? []) {
        flat.push({ span, service, id: hexId(span.spanId), parent: hexId(span.parentSpanId) });
        if (fullService.length > TRACE_BOUNDS.nameChars || (span.name?.length ?? 0) > TRACE_BOUNDS.nameChars)
          namesCut++;
      }
    }
  }
  const ns = (v: string | number) => BigInt(String(v));
  // BigInt: nanosecond timestamps are beyond Number precision (and Math.min/max do not take BigInt).
  let t0 = flat.length ? ns(flat[0]?.span.startTimeUnixNano as string) : 0n;
  for (const f of flat) {
    const start = ns(f.span.startTimeUnixNano);
    if (start < t0) t0 = start;
  }
  let tEnd = t0;
  for (const f of flat) {
    const end = ns(f.span.endTimeUnixNano);
    if (end > tEnd) tEnd = end;
  }
  const ids = new Set(flat.map((f) => f.id));
  const children = new Map<string, FlatSpan[]>();
  // The root is the span without a parent id (Tempo's definition). A span whose parent never arrived is an
  // orphan: listed at depth 0 after the true roots, never promoted over them, whatever its start time.
  const roots: FlatSpan[] = [];
  const orphans = new Set<FlatSpan>();
  for (const f of flat) {
    if (f.parent && ids.has(f.parent)) {
      const kids = children.get(f.parent);
      if (kids) kids.push(f);
      else children.set(f.parent, [f]);
    } else if (f.parent) orphans.add(f);
    else roots.push(f);
  }
  const byStart = (a: FlatSpan, b: FlatSpan) => Number(ns(a.span.startTimeUnixNano) - ns(b.span.startTimeUnixNano));
  const ordered: SpanSummary[] = [];
  // Iterative DFS, bounded by the number of spans (a cycle in parent ids cannot loop forever).
  roots.sort(byStart);
  const stack: [FlatSpan, number][] = [...roots, ...[...orphans].sort(byStart)].reverse().map((r) => [r, 0]);
  const visited = new Set<FlatSpan>();
  // Spans whose parents form a cycle are reachable from no root: each such loop starts at its earliest span.
  const unreachable = [...flat].sort(byStart).reverse();
  while (ordered.length < flat.length) {
    if (stack.length === 0) {
      let next = unreachable.pop();
      while (next && visited.has(next)) next = unreachable.pop();
      if (!next) break;
      stack.push([next, 0]);
    }
    const [f, depth] = stack.pop() as [FlatSpan, number];
    if (visited.has(f)) continue;
    visited.add(f);
    ordered.push(toSummary(f, depth, t0, orphans.has(f), tally));
    const kids = (children.get(f.id) ?? []).sort(byStart).reverse();
    for (const k of kids) stack.push([k, depth + 1]);
  }
  const root = roots[0];
  const services = new Map<string, { spans: number; errors: number }>();
  for (const s of ordered) {
    const e = services.get(s.service) ?? { spans: 0, errors: 0 };
    e.spans++;
    if (s.status === 'error') e.errors++;
    services.set(s.service, e);
  }
  return {
    ordered,
    rootService: root?.service ?? null,
    rootOperation: root ? clipChars(root.span.name ?? '', TRACE_BOUNDS.nameChars) : null,
    orphans: orphans.size,
    namesCut,
    attributesCut: tally.attributesCut,
    textCut: tally.textCut,
    startTime: flat.length ? isoOfNanos(t0.toString()) : null,
    durationMs: Number(tEnd - t0) / 1e6,
    services: [...services]
      .map(([name, v]) => ({ name, ...v }))
      .sort((a, b) => b.errors - a.errors || b.spans - a.spans),
  };
}

function toSummary(
  f: FlatSpan,
  depth: number,
  t0: bigint,
  orphan: boolean,
  tally: { attributesCut: number; textCut: number },
): SpanSummary {
  const start = BigInt(String(f.span.startTimeUnixNano));
  const end = BigInt(String(f.span.endTimeUnixNano));
  const attributes: Record<string, string> = {};
  let shown = 0;
  let textCut = false;
  for (const a of (f.span.attributes ?? []) as OtlpAttribute[]) {
    if (!KEY_ATTRIBUTES.test(a.key)) continue;
    if (shown++ < TRACE_BOUNDS.attributesPerSpan) {
      const value = attrValue(a.value);
      if (a.key.length > TRACE_BOUNDS.attributeKeyChars || value.length > TRACE_BOUNDS.attributeValueChars)
        textCut = true;
      putLabel(
        attributes,
        clipChars(a.key, TRACE_BOUNDS.attributeKeyChars),
        clipChars(value, TRACE_BOUNDS.attributeValueChars),
      );
    } else if (shown === TRACE_BOUNDS.attributesPerSpan + 1) tally.attributesCut++;
  }
  const status = statusOf(f.span);
  const message = f.span.status?.message;
  if (message && message.length > TRACE_BOUNDS.statusMessageChars) textCut = true;
  if (textCut) tally.textCut++;
  const kind = kindOf(f.span.kind);
  return {
    spanId: f.id,
    parentSpanId: f.parent || null,
    depth,
    service: f.service,
    operation: clipChars(f.span.name ?? '', TRACE_BOUNDS.nameChars),
    ...(kind ? { kind } : {}),
    ...(orphan ? { orphan } : {}),
    startOffsetMs: Number(start - t0) / 1e6,
    durationMs: Number(end - start) / 1e6,
    status,
    ...(message ? { statusMessage: clipChars(message, TRACE_BOUNDS.statusMessageChars) } : {}),
    attributes,
  };
}

export const TraceId = z
  .string()
  .regex(/^[0-9a-fA-F]{1,32}$/, 'must be a trace id: up to 32 hex digits')
  .describe('Hex');

export const tracesGet = defineTool({
  name: 'traces_get',
  toolset: 'traces',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Get a trace',
  description: 'One Tempo trace as a span tree, error spans first.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    traceId: TraceId,
    maxSpans: z.number().int().min(1).max(500).default(50),
    maxDepth: z.number().int().min(0).max(100).default(10).describe('Error spans always listed'),
  }),
  output: z.object({
    traceId: z.string(),
    partial: z.string().optional(),
    rootService: z.string().nullable(),
    rootOperation: z.string().nullable(),
    orphans: z.number().int(),
    startTime: z.string().nullable(),
    durationMs: z.number(),
    errorCount: z.number().int(),
    services: z.array(z.object({ name: z.string(), spans: z.number().int(), errors: z.number().int() })),
    spans: z.array(SpanSummary),
    maxDepthInTrace: z.number().int(),
    belowMaxDepth: z.number().int(),
    total: z.number().int(),
    returned: z.number().int(),
    truncated: z.boolean(),
    cut: z.array(z.string()).optional(),
  }),
  handler: async (input, { tempo, signal, maxOutputBytes }) => {
    const { resourceSpans, partial } = await tempo.trace(input.traceId.toLowerCase(), signal);
    const s = summarizeTrace(resourceSpans);
    if (s.ordered.length === 0) {
      throw new ToolError('ERR_NOT_FOUND', `Tempo returned trace ${input.traceId} without spans`, { backend: 'Tempo' });
    }
    const errors = s.ordered.filter((x) => x.status === 'error');
    const rest = s.ordered.filter((x) => x.status !== 'error' && x.depth <= input.maxDepth);
    const belowMaxDepth = s.ordered.length - errors.length - rest.length;
    let take = Math.min(input.maxSpans, errors.length + rest.length);
    const services = s.services.slice(0, TRACE_BOUNDS.services);
    const budget = listBudget(maxOutputBytes) - jsonBytes(services) - 2048;
    let spans = [...errors, ...rest].slice(0, take);
    while (take > 1 && jsonBytes(spans) > budget) {
      take = Math.floor(take * 0.8);
      spans = spans.slice(0, take);
    }
    const cut = traceCuts(s, services.length);
    return {
      traceId: input.traceId.toLowerCase().padStart(32, '0'),
      ...(partial ? { partial } : {}),
      rootService: s.rootService,
      rootOperation: s.rootOperation,
      orphans: s.orphans,
      startTime: s.startTime,
      durationMs: s.durationMs,
      errorCount: errors.length,
      services,
      spans,
      maxDepthInTrace: s.ordered.reduce((d, x) => Math.max(d, x.depth), 0),
      belowMaxDepth,
      total: s.ordered.length,
      returned: spans.length,
      truncated: spans.length < s.ordered.length,
      ...(cut.length ? { cut } : {}),
    };
  },
});

/** Says, once per kind, what free text of the trace was cut or left out. */
function traceCuts(s: ReturnType<typeof summarizeTrace>, servicesListed: number): string[] {
  const cut: string[] = [];
  if (s.namesCut)
    cut.push(`span and service names cut to ${TRACE_BOUNDS.nameChars} chars on ${s.namesCut} span(s), marked with …`);
  if (s.textCut)
    cut.push(
      `attribute keys/values and status messages cut (${TRACE_BOUNDS.attributeKeyChars}/${TRACE_BOUNDS.attributeValueChars}/${TRACE_BOUNDS.statusMessageChars} chars) on ${s.textCut} span(s), marked with …`,
    );
  if (s.attributesCut)
    cut.push(`attributes beyond ${TRACE_BOUNDS.attributesPerSpan} per span left out on ${s.attributesCut} span(s)`);
  if (servicesListed < s.services.length)
    cut.push(`services: ${servicesListed} of ${s.services.length} listed (most errors, then most spans, first)`);
  return cut;
}

const ROOT_NOT_RECEIVED = '<root span not yet received>';

/**
 * Whether Tempo's parse error lies in the query as written rather than in the hint appended after it. Tempo
 * gives the line and column (1-based, in characters: Go's text/scanner) of the error; without them, or past
 * the query's end, the hint may be what it refused.
 */
function errorInQuery(err: ToolError, query: string): boolean {
  const { line, column } = err.details as { line?: unknown; column?: unknown };
  if (typeof line !== 'number' || typeof column !== 'number') return false;
  const lines = query.split('\n');
  return line < lines.length || (line === lines.length && column <= Array.from(lines.at(-1) ?? '').length);
}

/** The version, when it is one that parses query hints but ignores most_recent (2.4 to 2.7). */
function ignoresMostRecent(version: string | undefined): string | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(version ?? '');
  return m && Number(m[1]) === 2 && Number(m[2]) >= 4 && Number(m[2]) < 8 ? version : undefined;
}

export const tracesSearch = defineTool({
  name: 'traces_search',
  toolset: 'traces',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Search traces',
  description: 'Tempo traces matching TraceQL, newest first.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    query: z.string().min(2).max(2000).describe('e.g. { status = error }'),
    start: startInput('now-1h'),
    end: EndInput,
    limit: z.number().int().min(1).max(100).default(20),
  }),
  output: z.object({
    traces: z.array(
      z.object({
        traceId: z.string(),
        rootService: z.string().nullable(),
        rootOperation: z.string().nullable(),
        startTime: z.string().nullable(),
        durationMs: z.number(),
        matchedSpans: z.number().int(),
      }),
    ),
    returned: z.number().int(),
    truncated: z.boolean(),
    cut: z.array(z.string()).optional(),
    inspectedTraces: z.number().int().nullable(),
  }),
  handler: async (input, { tempo, signal, maxOutputBytes }) => {
    if (!input.query.trim().startsWith('{')) {
      throw new ToolError(
        'ERR_QUERY_INVALID',
        'TraceQL queries start with a spanset filter in braces, e.g. { resource.service.name = "api" && status = error } or { span.http.status_code >= 500 }',
      );
    }
    const { start, end } = resolveRange(input.start, input.end, 3600, 30 * 86_400);
    // Tempo keeps the first `limit` traces its search jobs find, not the newest, unless the query asks for the
    // most recent (the query hint `with (most_recent=true)`, honoured since Tempo 2.8, CHANGELOG #4238;
    // modules/frontend/combiner/search.go). Tempo 2.4 to 2.7 parse hints and ignore unknown ones; a Tempo
    // before 2.4 has no hints and refuses the query: it is asked again without, and the answer says so.
    const hinted = /\bwith\s*\(/.test(input.query) ? undefined : `${input.query} with (most_recent=true)`;
    const ask = (q: string) => tempo.search(q, Math.floor(start), Math.ceil(end), input.limit, 3, signal);
    let res: Awaited<ReturnType<typeof ask>>;
    let notNewest = false;
    try {
      res = await ask(hinted ?? input.query);
    } catch (err) {
      if (hinted === undefined || !(err instanceof ToolError) || err.code !== 'ERR_QUERY_INVALID') throw err;
      if (errorInQuery(err, input.query)) throw err; // the query as written is wrong: one call, Tempo's message
      res = await ask(input.query);
      notNewest = true;
    }
    let namesCut = 0;
    const found = res.traces.slice(0, input.limit).map((t) => {
      const sets = t.spanSets ?? (t.spanSet ? [t.spanSet] : []);
      // Tempo writes this placeholder (never a service name) while the root span is missing.
      const rootReceived = t.rootServiceName !== undefined && t.rootServiceName !== ROOT_NOT_RECEIVED;
      const rootService = rootReceived ? (t.rootServiceName as string) : null;
      const rootOperation = rootReceived ? (t.rootTraceName ?? null) : null;
      if ((rootService?.length ?? 0) > TRACE_BOUNDS.nameChars || (rootOperation?.length ?? 0) > TRACE_BOUNDS.nameChars)
        namesCut++;
      return {
        traceId: clipChars(t.traceID.toLowerCase().padStart(32, '0'), 32),
        rootService: rootService === null ? null : clipChars(rootService, TRACE_BOUNDS.nameChars),
        rootOperation: rootOperation === null ? null : clipChars(rootOperation, TRACE_BOUNDS.nameChars),
        startTime: t.startTimeUnixNano ? isoOfNanos(t.startTimeUnixNano) : null,
        // jsonpb omits a zero uint32: an absent durationMs is a trace shorter than 1 ms.
        durationMs: typeof t.durationMs === 'number' ? t.durationMs : 0,
        matchedSpans: sets.reduce((n, s) => n + (s.matched ?? s.spans?.length ?? 0), 0),
      };
    });
    // Bounded: the newest traces that fit; the rest are counted and the way to them named.
    const budget = listBudget(maxOutputBytes) - 2048;
    const traces: typeof found = [];
    let used = 2;
    for (const t of found) {
      const size = jsonBytes(t) + 1;
      if (traces.length > 0 && used + size > budget) break;
      traces.push(t);
      used += size;
    }
    const cut: string[] = [];
    const leftOut = found.length - traces.length;
    if (leftOut > 0) {
      // Tempo's search window is in whole seconds: a next page from the oldest trace's second lists that second
      // again, so it moves on only when the page spans more than one second.
      const oldest = traces.at(-1)?.startTime;
      const moves = oldest && !notNewest && oldest.slice(0, 19) !== traces[0]?.startTime?.slice(0, 19);
      cut.push(
        `output budget: ${leftOut} of ${found.length} traces left out` +
          (moves ? `; for the older ones repeat with end="${oldest}" (it lists the traces of that second again)` : '') +
          ', or lower limit or narrow the query',
      );
    }
    // With `limit` traces found, which ones Tempo kept matters: on a Tempo that ignores the hint, say so.
    if (found.length >= input.limit) {
      const ignored = notNewest ? undefined : ignoresMostRecent(await tempo.version(signal));
      if (notNewest || ignored) {
        cut.push(
          `${notNewest ? 'this Tempo refuses query hints (it is older than 2.4)' : `Tempo ${ignored} ignores the most_recent query hint (2.8 and later honour it)`}: these are the first ${found.length} traces it found in the window, not necessarily the newest; narrow start and end to see them all`,
        );
      }
    }
    if (namesCut)
      cut.push(
        `root service and operation names cut to ${TRACE_BOUNDS.nameChars} chars on ${namesCut} trace(s), marked with …`,
      );
    return {
      traces,
      returned: traces.length,
      truncated: leftOut > 0 || found.length >= input.limit,
      ...(cut.length ? { cut } : {}),
      inspectedTraces: typeof res.metrics.inspectedTraces === 'number' ? res.metrics.inspectedTraces : null,
    };
  },
});

export const traceTools = [tracesGet, tracesSearch];
