import { ToolError } from '@ravenhelm/kit';

export interface RestartBudgetOptions {
  /** Restarts allowed per container within the window. */
  maxRestarts: number;
  windowSeconds: number;
}

export interface BudgetStatus {
  used: number;
  remaining: number;
  /** Seconds until the oldest restart leaves the window (0 when budget remains). */
  retryAfterSeconds: number;
}

/**
 * An in-memory sliding-window budget of restarts per container. It keeps an agent from restarting a
 * crash-looping container forever: past the budget the tools refuse and ask for a human.
 * Per process; replicas each keep their own window.
 */
export class RestartBudget {
  readonly options: RestartBudgetOptions;
  readonly #events = new Map<string, number[]>();
  readonly #now: () => number;

  constructor(options: Partial<RestartBudgetOptions> = {}, now: () => number = Date.now) {
    this.options = { maxRestarts: options.maxRestarts ?? 3, windowSeconds: options.windowSeconds ?? 600 };
    this.#now = now;
  }

  status(key: string): BudgetStatus {
    const recent = this.#recent(key);
    const used = recent.length;
    const remaining = Math.max(0, this.options.maxRestarts - used);
    const oldest = recent[0];
    const retryAfterSeconds =
      remaining > 0 || oldest === undefined
        ? 0
        : Math.max(1, Math.ceil((oldest + this.options.windowSeconds * 1000 - this.#now()) / 1000));
    return { used, remaining, retryAfterSeconds };
  }

  /** Throws ERR_RESTART_BUDGET when `key` has no restart left; does not record anything. */
  check(key: string, label = key): void {
    const s = this.status(key);
    if (s.remaining > 0) return;
    throw new ToolError(
      'ERR_RESTART_BUDGET',
      `${label} was already restarted ${s.used} times in the last ${this.options.windowSeconds} s (budget ${this.options.maxRestarts}); ` +
        'restarting again will not fix it: stop here and escalate to a human operator with the diagnosis (containers_diagnose, logs_get)',
      {
        container: label,
        used: s.used,
        maxRestarts: this.options.maxRestarts,
        windowSeconds: this.options.windowSeconds,
        retryAfterSeconds: s.retryAfterSeconds,
      },
    );
  }

  /** Records one restart; call after `check` passed and right before the engine is asked. */
  record(key: string): BudgetStatus {
    const recent = this.#recent(key);
    recent.push(this.#now());
    this.#events.set(key, recent);
    return this.status(key);
  }

  #recent(key: string): number[] {
    const cutoff = this.#now() - this.options.windowSeconds * 1000;
    const kept = (this.#events.get(key) ?? []).filter((t) => t > cutoff);
    if (kept.length === 0) this.#events.delete(key);
    else this.#events.set(key, kept);
    return kept;
  }
}
