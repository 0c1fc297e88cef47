import { RavenhelmError } from '../errors.js';

export interface AdmissionLimits {
  /** Tool calls this process runs at once, over all callers (tasks included). */
  maxInFlight: number;
  /** Tool calls one caller (principal subject) may have running at once in this process. */
  maxInFlightPerCaller: number;
}

/** The kit's defaults for limits.maxCallsInFlight and limits.maxCallsInFlightPerCaller. */
export const DEFAULT_ADMISSION: AdmissionLimits = { maxInFlight: 256, maxInFlightPerCaller: 32 };

/**
 * Bounds how many tool calls run at once, in all and per caller, so one runaway agent (LOW tools have no
 * rate limit) cannot hold every backend slot and the memory of thousands of pending answers while the
 * other callers wait out their deadlines. A call over a bound is refused at once, before anything runs,
 * with an answer the agent can act on; nothing is queued. Per process: each replica counts its own.
 */
export class CallAdmission {
  readonly #limits: AdmissionLimits;
  readonly #byCaller = new Map<string, number>();
  #total = 0;

  constructor(limits: AdmissionLimits) {
    for (const [key, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${key} must be an integer >= 1, not ${value}`);
    }
    this.#limits = limits;
  }

  /** Calls running now for this caller. */
  runningFor(caller: string): number {
    return this.#byCaller.get(caller) ?? 0;
  }

  get running(): number {
    return this.#total;
  }

  /** Takes a slot for `caller`, or throws the refusal (ERR_SERVER_BUSY / ERR_TOO_MANY_CALLS). Pair with release. */
  admit(caller: string): void {
    const mine = this.#byCaller.get(caller) ?? 0;
    if (mine >= this.#limits.maxInFlightPerCaller) {
      throw new RavenhelmError(
        'ERR_TOO_MANY_CALLS',
        `${mine} of your tool calls are still running, the most one caller may run at once here; wait for one to finish, then call again`,
        { running: mine, limit: this.#limits.maxInFlightPerCaller, retryAfterSeconds: 1 },
      );
    }
    if (this.#total >= this.#limits.maxInFlight) {
      throw new RavenhelmError(
        'ERR_SERVER_BUSY',
        `the server is running ${this.#total} tool calls, its limit; try again in a few seconds`,
        { running: this.#total, limit: this.#limits.maxInFlight, retryAfterSeconds: 1 },
      );
    }
    this.#byCaller.set(caller, mine + 1);
    this.#total++;
  }

  release(caller: string): void {
    const mine = this.#byCaller.get(caller) ?? 0;
    if (mine <= 1) this.#byCaller.delete(caller);
    else this.#byCaller.set(caller, mine - 1);
    if (mine > 0) this.#total--;
  }
}
