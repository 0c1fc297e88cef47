import type { AuditEvent, AuditSink } from './audit.js';

/**
 * Keeps denials from flooding the audit log. Per principal, tool and reason (error code), the first
 * denial of a window is written at once, like any outcome record; the ones after it in the same window
 * are only counted, and one summary record (`count` = how many, `firstAt`, the last one's requestId and
 * arguments) is written when the window ends, when too many keys are open, or on close. An agent
 * hammering a refused tool costs at most two records per window; /metrics still counts every refusal.
 */
export class DenialAggregator {
  readonly #sink: AuditSink;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #onError: (err: unknown) => void;
  readonly #windows = new Map<string, Window>();

  constructor(opts: { sink: AuditSink; windowMs: number; maxKeys?: number; onError: (err: unknown) => void }) {
    this.#sink = opts.sink;
    this.#windowMs = opts.windowMs;
    this.#maxKeys = opts.maxKeys ?? 10_000;
    this.#onError = opts.onError;
  }

  /** Open windows (for tests and metrics). */
  get size(): number {
    return this.#windows.size;
  }

  /** Records one denial (an outcome event with outcome 'denied'); resolves once it is written or counted. */
  async record(event: AuditEvent): Promise<void> {
    const p = event.principal;
    const key = JSON.stringify([p.subject, p.clientId ?? '', p.spiffeId ?? '', event.tool, event.errorCode ?? '']);
    const open = this.#windows.get(key);
    if (open) {
      open.count++;
      open.last = event;
      return;
    }
    if (this.#windows.size >= this.#maxKeys) {
      const oldest = this.#windows.keys().next().value as string;
      this.#close(oldest);
    }
    const window: Window = { firstAt: new Date().toISOString(), count: 0, last: event, timer: undefined };
    window.timer = setTimeout(() => this.#close(key), this.#windowMs);
    window.timer.unref();
    this.#windows.set(key, window);
    await this.#sink.write(event, { durable: event.tier === 'HIGH' });
  }

  /** Writes the summary of every open window (shutdown); resolves when they are written. */
  async flush(): Promise<void> {
    await Promise.all([...this.#windows.keys()].map((key) => this.#close(key)));
  }

  #close(key: string): Promise<void> {
    const window = this.#windows.get(key);
    if (!window) return Promise.resolve();
    this.#windows.delete(key);
    clearTimeout(window.timer);
    if (window.count === 0) return Promise.resolve();
    return this.#sink
      .write({ ...window.last, count: window.count, firstAt: window.firstAt }, { durable: window.last.tier === 'HIGH' })
      .catch(this.#onError);
  }
}

interface Window {
  firstAt: string;
  /** Denials after the first one, not yet written. */
  count: number;
  last: AuditEvent;
  timer: NodeJS.Timeout | undefined;
}
