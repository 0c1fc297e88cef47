import client from 'prom-client';
import type { Semaphore } from './semaphore.js';

/**
 * How one backend call ended, a closed set (no paths, ids or arguments ever become label values):
 * ok: the backend answered 1xx/2xx (or 304); http_4xx / http_5xx: it answered with that class of error;
 * timeout: its deadline passed while the backend was called (no answer, or a stalled body);
 * queue_timeout: the deadline passed while the call waited for a slot, the backend was never asked;
 * unavailable: no connection, or it broke before an answer; cancelled: the caller went away;
 * too_large: the answer was over the call's byte cap; error: anything else (a refused redirect, no credentials).
 */
export const BACKEND_OUTCOMES = [
  'ok',
  'http_4xx',
  'http_5xx',
  'timeout',
  'queue_timeout',
  'unavailable',
  'cancelled',
  'too_large',
  'error',
] as const;
export type BackendOutcome = (typeof BACKEND_OUTCOMES)[number];

/** The metric series of one backend (label children made once): what a backend client records into. */
export interface BackendSeries {
  /** Seconds one call waited for a slot (0 when one was free), for every call that asked for a slot. */
  waited(seconds: number): void;
  /** One call ended: its outcome and its seconds on the backend (none when it never reached the backend). */
  done(outcome: BackendOutcome, seconds?: number): void;
}

/** What a server's backend clients get (createServices' `ctx.metrics`) to report their calls and slots. */
export interface BackendRecorder {
  /** The series of one backend: a short stable name (`prometheus`, `docker`); make it once per client. */
  backend(name: string): BackendSeries;
  /**
   * Counts a semaphore's slots in the slot gauges (read at scrape time, nothing per call). `share`: a
   * per-backend sub-limit inside a shared one: only its waiters count (its holders hold the shared slots).
   */
  watchSlots(slots: Semaphore, kind?: 'slots' | 'share'): void;
}

const NAME = /^[a-z][a-z0-9_]{0,31}$/;

/** A short stable backend name from a display name: "Traefik API" -> "traefik_api", "GitLab" -> "gitlab". */
export function backendLabel(displayName: string): string {
  const slug = displayName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 32);
  return NAME.test(slug) ? slug : 'backend';
}

/** The outcome of a finished backend call from the HTTP status it got. */
export function outcomeOfStatus(status: number): BackendOutcome {
  if (status < 300 || status === 304) return 'ok';
  if (status >= 500) return 'http_5xx';
  if (status >= 400) return 'http_4xx';
  return 'error';
}

/**
 * The outcome of a failed backend call from the ToolError it became (`code`, `details.status`) and whether
 * the caller's own signal was what aborted it.
 */
export function outcomeOfError(err: unknown, cancelled = false): BackendOutcome {
  if (cancelled) return 'cancelled';
  const e = err as { code?: unknown; details?: { status?: unknown } } | undefined;
  switch (e?.code) {
    case 'ERR_CANCELLED':
      return 'cancelled';
    case 'ERR_BACKEND_TIMEOUT':
      return 'timeout';
    case 'ERR_OUTPUT_TOO_LARGE':
      return 'too_large';
  }
  const status = e?.details?.status;
  if (typeof status === 'number') return outcomeOfStatus(status);
  return e?.code === 'ERR_BACKEND_UNAVAILABLE' ? 'unavailable' : 'error';
}

/** Seconds since `start` (a performance.now() reading). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

/**
 * One backend call's clock, from asking for a slot to its end: what a backend client records into its series
 * (when metrics are on) and the wait it reports in a queue timeout's message (always). Usage: `gaveUp` when
 * no slot was had, else `sent` once the slot is held and `done` when the call ended.
 */
export class BackendCall {
  readonly #series: BackendSeries | undefined;
  readonly #start = performance.now();
  #sentAt = 0;

  constructor(series: BackendSeries | undefined) {
    this.#series = series;
  }

  /** Whether the call is recorded (a server without metrics skips the work of naming an outcome). */
  get recording(): boolean {
    return this.#series !== undefined;
  }

  /** Whole milliseconds since the call asked for a slot. */
  waitedMs(): number {
    return Math.round(performance.now() - this.#start);
  }

  /** No slot was had: its deadline passed in the queue (`timedOut`) or the caller went away. */
  gaveUp(timedOut: boolean): void {
    if (!this.#series) return;
    this.#series.waited(secondsSince(this.#start));
    this.#series.done(timedOut ? 'queue_timeout' : 'cancelled');
  }

  /** The slot is held and the call goes to the backend now. */
  sent(): void {
    this.#sentAt = performance.now();
    this.#series?.waited((this.#sentAt - this.#start) / 1000);
  }

  /** The call ended with this outcome, after `sent`. */
  done(outcome: BackendOutcome): void {
    this.#series?.done(outcome, secondsSince(this.#sentAt));
  }
}

/**
 * The backend metrics of one server, in its registry: per-backend calls by outcome, time on the backend,
 * time waiting for a slot, and the slots in use and waited for. Labels: server, backend, outcome only.
 */
export class BackendMetrics implements BackendRecorder {
  readonly requests: client.Counter<'server' | 'backend' | 'outcome'>;
  readonly duration: client.Histogram<'server' | 'backend'>;
  readonly slotWait: client.Histogram<'server' | 'backend'>;
  readonly #series = new Map<string, BackendSeries>();
  readonly #slots = new Set<Semaphore>();
  readonly #shares = new Set<Semaphore>();

  constructor(
    readonly server: string,
    registers: client.Registry[],
  ) {
    this.requests = new client.Counter({
      name: 'ravenhelm_backend_requests_total',
      help: 'Calls to a backend by outcome (ok, http_4xx, http_5xx, timeout, queue_timeout, unavailable, cancelled, too_large, error)',
      labelNames: ['server', 'backend', 'outcome'],
      registers,
    });
    this.duration = new client.Histogram({
      name: 'ravenhelm_backend_request_duration_seconds',
      help: 'Time a call spent on the backend (sent to answer read), slot wait excluded; calls that reached it',
      labelNames: ['server', 'backend'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.slotWait = new client.Histogram({
      name: 'ravenhelm_backend_slot_wait_seconds',
      help: 'Time a call waited for a backend slot; every call that asked for one (0 when one was free)',
      labelNames: ['server', 'backend'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const slots = this.#slots;
    const shares = this.#shares;
    const gauge = (name: string, help: string, read: () => number) =>
      new client.Gauge({
        name,
        help,
        labelNames: ['server'],
        registers,
        collect() {
          this.set({ server }, read());
        },
      });
    const sum = (sems: Iterable<Semaphore>, of: (s: Semaphore) => number) => {
      let n = 0;
      for (const s of sems) n += of(s);
      return n;
    };
    gauge(
      'ravenhelm_backend_slots_in_use',
      "Backend slots held by calls now (all of the server's backend limiters)",
      () => sum(slots, (s) => s.active),
    );
    gauge(
      'ravenhelm_backend_slots_limit',
      'Backend slots the server has (all of its backend limiters): saturation is slots_in_use / slots_limit',
      () => sum(slots, (s) => s.limit),
    );
    gauge(
      'ravenhelm_backend_slots_waiting',
      "Backend calls queued for a slot now (for the shared limit or for their backend's share of it)",
      () => sum(slots, (s) => s.waiting) + sum(shares, (s) => s.waiting),
    );
  }

  backend(name: string): BackendSeries {
    if (!NAME.test(name)) throw new RangeError(`backend metric name must match ${NAME}, not "${name}"`);
    let series = this.#series.get(name);
    if (!series) {
      series = this.#makeSeries(name);
      this.#series.set(name, series);
    }
    return series;
  }

  watchSlots(slots: Semaphore, kind: 'slots' | 'share' = 'slots'): void {
    (kind === 'share' ? this.#shares : this.#slots).add(slots);
  }

  #makeSeries(backend: string): BackendSeries {
    const labels = { server: this.server, backend };
    const duration = this.duration.labels(labels);
    const wait = this.slotWait.labels(labels);
    const counters = new Map<BackendOutcome, { inc: () => void }>();
    for (const outcome of BACKEND_OUTCOMES) counters.set(outcome, this.requests.labels({ ...labels, outcome }));
    // the ok series exists from the start, so rate() over it has a zero before the first call
    this.requests.inc({ ...labels, outcome: 'ok' }, 0);
    return {
      waited: (seconds) => wait.observe(seconds),
      done: (outcome, seconds) => {
        (counters.get(outcome) ?? (counters.get('error') as { inc: () => void })).inc();
        if (seconds !== undefined) duration.observe(seconds);
      },
    };
  }
}
