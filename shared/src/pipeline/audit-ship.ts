import { hostname } from 'node:os';
import { safeUrl } from '../backend-http.js';
import type { KitConfig } from '../config.js';
import { RavenhelmError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { postWithTimeout } from '../telemetry/otlp.js';
import type { AuditSink, CommittedRecord } from './audit.js';
import { AUDIT_LOG_EVERY_MS, limitLines } from './audit-log-limit.js';
import {
  type GapMarker,
  lokiEncoder,
  otlpLogsEncoder,
  type ShipEncoder,
  type ShipIdentity,
} from './audit-ship-encode.js';

// Audit shipping: committed records (after the local write, in chain order) go to Loki and/or an OTLP
// collector. The local hash-chained file stays the source of truth; a sink is a copy for the fleet.

export interface AuditShipperOptions {
  sink: string;
  url: string;
  headers: Record<string, string>;
  encoder: ShipEncoder;
  identity: ShipIdentity;
  /** HIGH calls are refused while this sink is saturated or failing for longer than highMaxLagMs. */
  required: boolean;
  timeoutMs: number;
  maxRecords: number;
  maxBytes: number;
  batchRecords: number;
  flushIntervalMs: number;
  maxBackoffMs: number;
  highMaxLagMs: number;
  metrics: Metrics;
  logger: Logger;
}

interface Buffered {
  rec: CommittedRecord;
  bytes: number;
}

/** One batch's body stays under this, whatever the buffer holds. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
const FIRST_BACKOFF_MS = 100;

function mergeGap(a: GapMarker | undefined, b: GapMarker | undefined): GapMarker | undefined {
  if (!a || !b) return a ?? b;
  return {
    ...a,
    dropped: a.dropped + b.dropped,
    droppedHigh: a.droppedHigh + b.droppedHigh,
    fromSeq: Math.min(a.fromSeq, b.fromSeq),
    toSeq: Math.max(a.toSeq, b.toSeq),
    reasons: [...new Set([...a.reasons, ...b.reasons])],
    time: b.time,
  };
}

/**
 * One sink: a bounded buffer (records and bytes), batches by size or time, a deadline on every push,
 * retries with capped exponential backoff. When the buffer is full, LOW and MEDIUM records are dropped;
 * HIGH records may use a reserve of a tenth more before they are dropped too. Every drop is counted,
 * logged (at most every 10 s per sink) and reported to the sink by a gap marker shipped with the next
 * successful push, so nothing is lost silently. Record contents are never logged.
 */
export class AuditShipper {
  readonly #o: AuditShipperOptions;
  readonly #url: string;
  readonly #labels: { server: string; sink: string };
  #buf: Buffered[] = [];
  #bytes = 0;
  #gap: GapMarker | undefined;
  /** Lines about drops: the first at once, then one per interval with the counts (HIGH ones too). */
  readonly #dropLines = limitLines<string>(AUDIT_LOG_EVERY_MS, (reason, counts) =>
    ((counts.droppedHigh ?? 0) > 0 ? this.#o.logger.error : this.#o.logger.warn).call(
      this.#o.logger,
      { sink: this.#o.sink, url: this.#url, dropped: counts.dropped, droppedHigh: counts.droppedHigh, reason },
      `audit records not shipped to ${this.#o.sink} (${reason}); they are in the local audit log and a gap marker will be shipped`,
    ),
  );
  #failingSince: number | undefined;
  #failures = 0;
  #closing = false;
  #deadline = Number.POSITIVE_INFINITY;
  #wake: (() => void) | undefined;
  #wakeOnData = false;
  readonly #done: Promise<void>;

  constructor(opts: AuditShipperOptions) {
    this.#o = opts;
    this.#url = safeUrl(opts.url);
    this.#labels = { server: opts.identity.server, sink: opts.sink };
    this.#done = this.#run();
  }

  get sink(): string {
    return this.#o.sink;
  }

  get buffered(): number {
    return this.#buf.length;
  }

  accept(rec: CommittedRecord): void {
    if (this.#closing && Date.now() > this.#deadline) {
      this.#drop(rec, 'shutdown');
      return;
    }
    const bytes = rec.line.length;
    const reserve = rec.tier === 'HIGH' ? 1.1 : 1;
    if (
      this.#buf.length + 1 > Math.ceil(this.#o.maxRecords * reserve) ||
      this.#bytes + bytes > this.#o.maxBytes * reserve
    ) {
      this.#drop(rec, 'buffer_full');
      return;
    }
    this.#buf.push({ rec, bytes });
    this.#bytes += bytes;
    this.#o.metrics.auditShipBuffer.set(this.#labels, this.#buf.length);
    if (this.#wakeOnData && (this.#buf.length >= this.#o.batchRecords || this.#buf.length === 1)) this.#wake?.();
  }

  /** Why HIGH calls must be refused now (this sink is required and saturated or failing), or undefined. */
  highRefusal(now = Date.now()): string | undefined {
    if (!this.#o.required) return undefined;
    if (this.#buf.length >= this.#o.maxRecords || this.#bytes >= this.#o.maxBytes) {
      return `the required audit sink ${this.#o.sink} is saturated (${this.#buf.length} records waiting, limit ${this.#o.maxRecords})`;
    }
    if (this.#failingSince !== undefined && now - this.#failingSince >= this.#o.highMaxLagMs) {
      return `the required audit sink ${this.#o.sink} has failed every push for ${Math.round((now - this.#failingSince) / 1000)} s`;
    }
    return undefined;
  }

  /** Pushes what is buffered, retrying until `graceMs` is over; what is left is logged as unshipped. */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    this.#deadline = Date.now() + graceMs;
    this.#wake?.();
    await this.#done;
    this.#dropLines.flush();
  }

  #drop(rec: CommittedRecord, reason: string): void {
    const high = rec.tier === 'HIGH' ? 1 : 0;
    this.#o.metrics.auditShipRecords.inc({ ...this.#labels, outcome: 'dropped' });
    this.#o.metrics.auditShipDropped.inc({ ...this.#labels, tier: rec.tier, reason });
    this.#gap = mergeGap(this.#gap, this.#marker(1, high, rec.seq, rec.seq, reason));
    this.#dropLines.note(reason, { dropped: 1, droppedHigh: high });
  }

  #marker(dropped: number, droppedHigh: number, fromSeq: number, toSeq: number, reason: string): GapMarker {
    const { server, instance } = this.#o.identity;
    return {
      kind: 'ravenhelm.audit.ship_gap',
      sink: this.#o.sink,
      server,
      instance,
      dropped,
      droppedHigh,
      fromSeq,
      toSeq,
      reasons: [reason],
      time: new Date().toISOString(),
    };
  }

  #sleep(ms: number, wakeOnData: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        this.#wakeOnData = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      // Idle waits must not keep the process alive; a retry wait during close() must: with nothing else
      // pending (a collector answering 503 at once) the process would end mid-close, exit code 13 (found by
      // audit-faults-ship.test).
      if (!this.#closing) timer.unref();
      this.#wake = done;
      this.#wakeOnData = wakeOnData;
    });
  }

  async #run(): Promise<void> {
    // Started from the constructor: let it return first.
    await Promise.resolve();
    for (;;) {
      if (this.#buf.length === 0 && !this.#gap) {
        if (this.#closing) return;
        await this.#sleep(2 ** 31 - 1, true);
        continue;
      }
      if (!this.#closing && this.#buf.length < this.#o.batchRecords && this.#failures === 0) {
        await this.#sleep(this.#o.flushIntervalMs, true);
      }
      if (!(await this.#pushOnce()) && !(await this.#backoff())) return;
    }
  }

  /** One push of the oldest records (and the pending gap marker); true when it went through. */
  async #pushOnce(): Promise<boolean> {
    let n = 0;
    let bytes = 0;
    while (n < this.#buf.length && n < this.#o.batchRecords) {
      const b = this.#buf[n] as Buffered;
      if (n > 0 && bytes + b.bytes > MAX_BATCH_BYTES) break;
      bytes += b.bytes;
      n++;
    }
    const batch = this.#buf.slice(0, n).map((b) => b.rec);
    const gap = this.#gap;
    this.#gap = undefined;
    const body = this.#o.encoder.encode(batch, gap ? [gap] : []);
    const headers = { ...this.#o.headers, 'content-type': this.#o.encoder.contentType };
    const timeoutMs = this.#closing
      ? Math.max(1, Math.min(this.#o.timeoutMs, this.#deadline - Date.now()))
      : this.#o.timeoutMs;
    const res = await postWithTimeout(this.#o.url, body, headers, timeoutMs);
    if (res.ok || !res.retry) {
      this.#take(n);
      if (res.ok) {
        this.#o.metrics.auditShipRecords.inc({ ...this.#labels, outcome: 'shipped' }, n);
        if (this.#failingSince !== undefined) {
          this.#o.logger.info(
            { sink: this.#o.sink, url: this.#url, failures: this.#failures },
            'audit sink reachable again',
          );
        }
        this.#failingSince = undefined;
        this.#failures = 0;
        return true;
      }
      // The receiver answered (it is reachable) but refuses this body and would refuse it again: those
      // records become a gap.
      this.#failingSince = undefined;
      this.#failures = 0;
      this.#o.metrics.auditShipRecords.inc({ ...this.#labels, outcome: 'rejected' }, n);
      this.#o.logger.error(
        { sink: this.#o.sink, url: this.#url, status: res.status, records: n },
        `${this.#o.sink} refused a batch of audit records (${res.reason}); they stay in the local audit log, a gap marker follows`,
      );
      const high = batch.filter((r) => r.tier === 'HIGH').length;
      const first = batch[0];
      const last = batch[batch.length - 1];
      this.#gap = mergeGap(
        gap,
        first && last ? this.#marker(n, high, first.seq, last.seq, `rejected_${res.status ?? 'unknown'}`) : undefined,
      );
      for (const r of batch) {
        this.#o.metrics.auditShipDropped.inc({ ...this.#labels, tier: r.tier, reason: 'rejected' });
      }
      return true;
    }
    this.#gap = mergeGap(gap, this.#gap);
    this.#failingSince ??= Date.now();
    this.#failures++;
    this.#o.metrics.auditShipPushFailures.inc(this.#labels);
    if (this.#failures === 1 || this.#failures % 10 === 0) {
      this.#o.logger.warn(
        { sink: this.#o.sink, url: this.#url, failures: this.#failures, buffered: this.#buf.length },
        `audit shipping to ${this.#o.sink} failed (${res.reason}); retrying with backoff`,
      );
    }
    return false;
  }

  #take(n: number): void {
    for (const b of this.#buf.splice(0, n)) this.#bytes -= b.bytes;
    this.#o.metrics.auditShipBuffer.set(this.#labels, this.#buf.length);
  }

  /** Waits before the next retry; false when shutdown's grace is over (what is left stays unshipped). */
  async #backoff(): Promise<boolean> {
    const wait = Math.min(this.#o.maxBackoffMs, FIRST_BACKOFF_MS * 2 ** Math.min(this.#failures - 1, 20));
    if (this.#closing) {
      const left = this.#deadline - Date.now();
      if (left <= wait) {
        if (this.#buf.length > 0) {
          this.#o.logger.error(
            { sink: this.#o.sink, url: this.#url, unshipped: this.#buf.length },
            `shutting down with audit records not shipped to ${this.#o.sink}; they are in the local audit log`,
          );
        }
        return false;
      }
    }
    await this.#sleep(wait, false);
    return true;
  }
}

/** All configured sinks: fed by the file sink's onCommit, consulted before HIGH calls. */
export class AuditShipping {
  constructor(readonly shippers: readonly AuditShipper[]) {}

  readonly accept = (records: CommittedRecord[]): void => {
    for (const s of this.shippers) for (const r of records) s.accept(r);
  };

  /** The first required sink that cannot take HIGH records now, and why. */
  highRefusal(): { sink: string; reason: string } | undefined {
    for (const s of this.shippers) {
      const reason = s.highRefusal();
      if (reason) return { sink: s.sink, reason };
    }
    return undefined;
  }

  /**
   * The sink the pipeline writes to: a HIGH call's attempt record is refused (ERR_AUDIT_UNAVAILABLE, so
   * the call does not run) while a required sink cannot take it. Other records are always written.
   */
  guard(sink: AuditSink): AuditSink {
    return {
      write: (event, opts) => {
        if (event.tier === 'HIGH' && event.phase === 'attempt') {
          const refusal = this.highRefusal();
          if (refusal) {
            return Promise.reject(
              new RavenhelmError(
                'ERR_AUDIT_UNAVAILABLE',
                `${refusal.reason}; HIGH calls are refused until it recovers, retry later`,
                { auditSink: refusal.sink },
              ),
            );
          }
        }
        return sink.write(event, opts);
      },
      close: () => sink.close(),
      ...(sink.health ? { health: () => (sink.health as NonNullable<AuditSink['health']>)() } : {}),
    };
  }

  async close(graceMs: number): Promise<void> {
    await Promise.all(this.shippers.map((s) => s.close(graceMs)));
  }
}

/** The shippers the configuration asks for; undefined when no sink is configured. */
export function createAuditShipping(
  config: KitConfig['auditShip'],
  ctx: { server: string; metrics: Metrics; logger: Logger },
): AuditShipping | undefined {
  const identity: ShipIdentity = {
    server: ctx.server,
    instance: config.instance ?? hostname(),
    serviceName: `ravenhelm-mcp-${ctx.server}`,
  };
  const common = {
    identity,
    timeoutMs: config.timeoutMs,
    maxRecords: config.maxBufferRecords,
    maxBytes: config.maxBufferBytes,
    batchRecords: config.batchRecords,
    flushIntervalMs: config.flushIntervalMs,
    maxBackoffMs: config.maxBackoffMs,
    highMaxLagMs: config.highMaxLagMs,
    metrics: ctx.metrics,
    logger: ctx.logger,
  };
  const shippers: AuditShipper[] = [];
  if (config.lokiUrl) {
    const base = config.lokiUrl.replace(/\/+$/, '');
    shippers.push(
      new AuditShipper({
        ...common,
        sink: 'loki',
        url: base.endsWith('/loki/api/v1/push') ? base : `${base}/loki/api/v1/push`,
        headers: { ...config.lokiHeaders, ...(config.lokiTenant ? { 'X-Scope-OrgID': config.lokiTenant } : {}) },
        encoder: lokiEncoder(identity),
        required: config.lokiRequired,
      }),
    );
  }
  if (config.otlpUrl) {
    shippers.push(
      new AuditShipper({
        ...common,
        sink: 'otlp',
        url: config.otlpUrl,
        headers: config.otlpHeaders,
        encoder: otlpLogsEncoder(identity),
        required: config.otlpRequired,
      }),
    );
  }
  if (shippers.length === 0) return undefined;
  ctx.logger.info(
    { sinks: shippers.map((s) => s.sink), instance: identity.instance },
    'audit records are shipped to the configured sinks besides the local log',
  );
  return new AuditShipping(shippers);
}
