import { hash } from 'node:crypto';

/**
 * The cache key of a token: its sha256, so the cache never holds a usable token. One-shot `crypto.hash`
 * (no Hash object per call): this runs on every authenticated request.
 */
export function tokenKey(token: string): string {
  return hash('sha256', token, 'base64url');
}

/**
 * A bounded LRU map whose entries expire at a given time (any unit, the same for `until` and `now`; the
 * authenticator uses epoch milliseconds, so a lifetime of N seconds is N seconds, not N minus the fraction
 * of the second it began in). When full, the least recently used entry is evicted first, so a flood of new
 * tokens cannot grow memory nor push out tokens in use.
 */
export class ExpiringCache<V> {
  readonly #entries = new Map<string, { value: V; until: number }>();
  readonly #max: number;

  constructor(maxEntries: number) {
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.until <= now) return undefined;
    this.#entries.set(key, entry); // most recently used goes last
    return entry.value;
  }

  set(key: string, value: V, until: number, now: number): void {
    if (this.#max === 0 || until <= now) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, until });
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** Milliseconds a failed discovery is remembered, so an outage does not turn every request into a fetch. */
export const DISCOVERY_RETRY_MS = 5000;

/** Memoizes an async lookup; a failure is remembered for `retryMs`, then retried. */
export function memoizeWithRetry<T>(load: () => Promise<T>, retryMs: number): () => Promise<T> {
  let pending: Promise<T> | undefined;
  let failedAt = 0;
  return () => {
    if (pending && failedAt !== 0 && Date.now() - failedAt >= retryMs) pending = undefined;
    if (!pending) {
      failedAt = 0;
      const attempt = load();
      pending = attempt;
      attempt.catch(() => {
        if (pending === attempt) failedAt = Date.now();
      });
    }
    return pending;
  };
}
