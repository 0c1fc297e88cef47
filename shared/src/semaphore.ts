import { currentCaller, noteQueued } from './caller-context.js';

/** One caller's slots held and calls waiting (FIFO); `key` undefined: work with no known caller. */
interface Group {
  readonly key: string | undefined;
  held: number;
  readonly queue: Waiter[];
}

interface Waiter {
  /** Arrival order over the whole semaphore: breaks ties between callers holding as many slots. */
  readonly seq: number;
  readonly group: Group;
  readonly grant: () => void;
}

/**
 * Caps how many backend calls run at once (one per server, shared by its backends), so a handful of
 * broad queries cannot hold many large answers in memory together. Waiting calls leave the queue as
 * soon as their signal aborts (caller cancelled, deadline passed), so the queue never outlives them.
 *
 * Slots are shared fairly between callers: a freed slot goes to a waiter of the caller holding the fewest
 * slots (ties: the caller whose oldest waiter came first), FIFO within one caller. One agent flooding the
 * queue therefore cannot make another agent's single call wait behind all of its calls. It stays
 * work-conserving: a caller alone gets every slot, and no slot stays idle while anyone waits. The caller
 * is the `key` argument, by default the caller of the tool call running here (`currentCaller`); work with
 * no caller (probes, background refreshes) forms one group of its own.
 */
export class Semaphore {
  readonly limit: number;
  #active = 0;
  #waiting = 0;
  #arrivals = 0;
  /** Callers holding or waiting for a slot; a caller leaves once it does neither. */
  readonly #groups = new Map<string, Group>();
  readonly #noCaller: Group = { key: undefined, held: 0, queue: [] };
  /** The groups with at least one waiter. */
  readonly #queued: Group[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`semaphore limit must be an integer >= 1, not ${limit}`);
    this.limit = limit;
  }

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Resolves with a release function once a slot is free; rejects with the signal's reason if it
   * aborts first. Call release exactly once (extra calls are ignored). `key`: whose call this is
   * (default: the current tool call's caller, see the class comment).
   */
  acquire(signal?: AbortSignal, key: string | undefined = currentCaller()): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const group = this.#group(key);
    if (this.#active < this.limit) {
      // a free slot means nobody waits (a freed slot passes straight to a waiter)
      this.#active++;
      group.held++;
      return Promise.resolve(this.#releaser(group));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        seq: this.#arrivals++,
        group,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#releaser(group));
        },
      };
      const onAbort = () => {
        const i = group.queue.indexOf(waiter);
        if (i >= 0) {
          group.queue.splice(i, 1);
          this.#waiting--;
          if (group.queue.length === 0) this.#queued.splice(this.#queued.indexOf(group), 1);
          this.#forgetIfIdle(group);
        }
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      noteQueued();
      if (group.queue.length === 0) this.#queued.push(group);
      group.queue.push(waiter);
      this.#waiting++;
    });
  }

  /** Runs `fn` holding a slot. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #group(key: string | undefined): Group {
    if (key === undefined) return this.#noCaller;
    let group = this.#groups.get(key);
    if (!group) {
      group = { key, held: 0, queue: [] };
      this.#groups.set(key, group);
    }
    return group;
  }

  #forgetIfIdle(group: Group): void {
    if (group.held === 0 && group.queue.length === 0 && group.key !== undefined) this.#groups.delete(group.key);
  }

  /** Takes the next waiter: of the caller holding the fewest slots, ties to the longest waiting. */
  #next(): Waiter | undefined {
    const queued = this.#queued;
    if (queued.length === 0) return undefined;
    let best = 0;
    for (let i = 1; i < queued.length; i++) {
      const g = queued[i] as Group;
      const b = queued[best] as Group;
      if (g.held < b.held || (g.held === b.held && (g.queue[0] as Waiter).seq < (b.queue[0] as Waiter).seq)) best = i;
    }
    const group = queued[best] as Group;
    const waiter = group.queue.shift() as Waiter;
    if (group.queue.length === 0) queued.splice(best, 1);
    this.#waiting--;
    return waiter;
  }

  #releaser(group: Group): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      group.held--;
      const next = this.#next();
      // the slot passes straight to the next waiter, so #active stays the same
      if (next) {
        next.group.held++;
        next.grant();
      } else this.#active--;
      this.#forgetIfIdle(group);
    };
  }
}
