import { AsyncLocalStorage } from 'node:async_hooks';
import { hash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KitConfig } from '../config.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { type OtlpKeyValue, otlpAttributes, otlpResource, postWithTimeout, unixNano } from './otlp.js';

// Tool-call traces without an OpenTelemetry SDK: W3C trace context in and out, spans exported as OTLP/HTTP
// JSON in batches from a bounded queue. Spans are dropped (and counted) rather than slowing a call.
// W3C Trace Context: https://www.w3.org/TR/trace-context/#traceparent-header (version 00:
// `00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`, all-zero ids invalid, flag 01 = sampled).

export interface TraceContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The caller's trace context, or undefined when the header is absent or malformed (then a new trace starts). */
export function parseTraceparent(header: unknown): TraceContext | undefined {
  if (typeof header !== 'string' || header.length > 512) return undefined;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string?];
  // Version ff is invalid; version 00 has nothing after the flags; later versions may add fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (Number.parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`;
}

/** OTLP SpanKind. */
export const SpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;
type Attr = string | number | boolean | undefined;

const nowMs = () => performance.timeOrigin + performance.now();

export class Span {
  readonly context: TraceContext;
  readonly #attributes: Record<string, Attr>;
  readonly #start = nowMs();
  #status: { code: 0 | 1 | 2; message?: string } = { code: 0 };
  #ended = false;

  constructor(
    readonly tracer: Tracer,
    readonly name: string,
    readonly kind: number,
    readonly parentSpanId: string | undefined,
    context: TraceContext,
    attributes: Record<string, Attr>,
  ) {
    this.context = context;
    this.#attributes = { ...attributes };
  }

  setAttributes(attrs: Record<string, Attr>): this {
    Object.assign(this.#attributes, attrs);
    return this;
  }

  /** Status ERROR with a short, secret-free reason (an error code, not a message). */
  fail(reason: string): this {
    this.#status = { code: 2, message: reason };
    return this;
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.context.sampled) return; // parent-based sampling: the caller did not sample this trace
    this.tracer.exporter.add({
      traceId: this.context.traceId,
      spanId: this.context.spanId,
      ...(this.parentSpanId ? { parentSpanId: this.parentSpanId } : {}),
      name: this.name,
      kind: this.kind,
      startTimeUnixNano: unixNano(this.#start),
      endTimeUnixNano: unixNano(nowMs()),
      attributes: otlpAttributes(this.#attributes),
      status: this.#status,
    });
  }
}

const active = new AsyncLocalStorage<Span>();

/** Runs fn with `span` as the current span (backend calls made inside become its children). */
export function withSpan<T>(span: Span | undefined, fn: () => T): T {
  return span ? active.run(span, fn) : fn();
}

/** The span of the tool call running here, if traces are on. */
export function activeSpan(): Span | undefined {
  return active.getStore();
}

/** A child span of the current one, or undefined when no call is being traced here. */
export function startChildSpan(name: string, kind: number, attributes: () => Record<string, Attr>): Span | undefined {
  const parent = active.getStore();
  return parent?.tracer.startSpan(name, kind, parent.context, attributes());
}

/** A principal subject as a short one-way hash: spans can group by caller without naming one. */
export function hashSubject(subject: string): string {
  return hash('sha256', subject, 'hex').slice(0, 16);
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpKeyValue[];
  status: { code: number; message?: string };
}

export interface SpanExporterOptions {
  url: string;
  headers: Record<string, string>;
  resource: { attributes: OtlpKeyValue[] };
  timeoutMs: number;
  maxQueue: number;
  batch: number;
  flushIntervalMs: number;
  metrics: Metrics;
  logger: Logger;
}

/** Batches spans from a bounded queue; one export in flight at a time; no retries (spans are expendable). */
export class SpanExporter {
  readonly #o: SpanExporterOptions;
  #queue: OtlpSpan[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #lastWarn = 0;

  constructor(opts: SpanExporterOptions) {
    this.#o = opts;
  }

  add(span: OtlpSpan): void {
    if (this.#queue.length >= this.#o.maxQueue) {
      this.#o.metrics.traceSpans.inc({ server: this.#server, outcome: 'dropped' });
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= this.#o.batch) this.#kick();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#kick(), this.#o.flushIntervalMs);
      this.#timer.unref();
    }
  }

  get #server(): string {
    return this.#o.metrics.server;
  }

  #kick(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#inFlight ??= this.#drain().finally(() => {
      this.#inFlight = undefined;
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const spans = this.#queue.splice(0, this.#o.batch);
      const body = JSON.stringify({
        resourceSpans: [{ resource: this.#o.resource, scopeSpans: [{ scope: { name: 'ravenhelm.kit' }, spans }] }],
      });
      const res = await postWithTimeout(
        this.#o.url,
        body,
        { ...this.#o.headers, 'content-type': 'application/json' },
        this.#o.timeoutMs,
      );
      this.#o.metrics.traceSpans.inc({ server: this.#server, outcome: res.ok ? 'exported' : 'failed' }, spans.length);
      if (!res.ok && Date.now() - this.#lastWarn > 10_000) {
        this.#lastWarn = Date.now();
        this.#o.logger.warn({ spans: spans.length }, `trace export failed (${res.reason}); spans dropped`);
      }
    }
  }

  /** Exports what is queued (each export bounded by the timeout). */
  async close(): Promise<void> {
    if (this.#queue.length > 0) this.#kick();
    while (this.#inFlight) await this.#inFlight;
  }
}

export class Tracer {
  constructor(readonly exporter: SpanExporter) {}

  /** A span joining `parent` (the caller's traceparent, or the current span), or starting a new trace. */
  startSpan(name: string, kind: number, parent: TraceContext | undefined, attributes: Record<string, Attr>): Span {
    const context: TraceContext = {
      traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      sampled: parent?.sampled ?? true,
    };
    return new Span(this, name, kind, parent?.spanId, context, attributes);
  }

  close(): Promise<void> {
    return this.exporter.close();
  }
}

/** The tracer the configuration asks for (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT); undefined when traces are off. */
export function createTracer(
  config: KitConfig,
  ctx: { server: string; metrics: Metrics; logger: Logger },
): Tracer | undefined {
  const t = config.traces;
  const url = t.endpoint ?? (t.baseEndpoint ? `${t.baseEndpoint.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!url) return undefined;
  const instance = config.auditShip.instance ?? hostname();
  ctx.logger.info({ instance }, 'tool-call traces are exported over OTLP/HTTP');
  return new Tracer(
    new SpanExporter({
      url,
      headers: { ...t.baseHeaders, ...t.headers },
      resource: otlpResource(t.serviceName ?? `ravenhelm-mcp-${ctx.server}`, instance),
      timeoutMs: t.timeoutMs,
      maxQueue: t.maxQueueSpans,
      batch: t.batchSpans,
      flushIntervalMs: t.flushIntervalMs,
      metrics: ctx.metrics,
      logger: ctx.logger,
    }),
  );
}
