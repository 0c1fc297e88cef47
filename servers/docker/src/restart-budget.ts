import { randomUUID } from 'node:crypto';
import { type RedisLike, ToolError, undoLater } from '@ravenhelm/kit';

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

/** What a store knows about one key: restarts inside the window and when the oldest of them leaves it. */
export interface WindowState {
  used: number;
  /** Epoch ms at which the oldest restart in the window leaves it; undefined when none is recorded. */
  oldestExpiresAtMs: number | undefined;
  /** The store's clock (epoch ms) when it answered; retry-after is computed against it. */
  nowMs: number;
}

/** `receipts[i]` names the restart recorded for `keys[i]`, for `giveBack`. */
export type TakeResult = { ok: true; after: WindowState[]; receipts: string[] } | { ok: false; states: WindowState[] };

/** One restart a take recorded: its key and the receipt the take answered for it. */
export interface TakenRestart {
  key: string;
  receipt: string;
}

/**
 * Where restarts are counted. `take` is atomic: for every key at once it either records one restart (each
 * key had one left) or records nothing. Two callers, in one process or in two replicas sharing a Redis,
 * can never both use a key's last restart. `giveBack` removes restarts a take recorded that never
 * happened (the container was removed before the engine got the action).
 */
export interface RestartBudgetStore {
  state(key: string, limits: RestartBudgetOptions): Promise<WindowState>;
  take(keys: readonly string[], limits: RestartBudgetOptions): Promise<TakeResult>;
  /** Removes these recorded restarts; one already gone (given back, or out of the window) is ignored. */
  giveBack(taken: readonly TakenRestart[]): Promise<void>;
}

/** Today's behaviour: a sliding window per container in this process (replicas each keep their own). */
export class MemoryRestartStore implements RestartBudgetStore {
  readonly #events = new Map<string, { at: number; receipt: string }[]>();
  readonly #now: () => number;
  #takes = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async state(key: string, limits: RestartBudgetOptions): Promise<WindowState> {
    return this.#stateNow(key, limits);
  }

  // No await between check and record: atomic within the process.
  async take(keys: readonly string[], limits: RestartBudgetOptions): Promise<TakeResult> {
    const states = keys.map((k) => this.#stateNow(k, limits));
    if (states.some((s) => s.used >= limits.maxRestarts)) return { ok: false, states };
    const at = this.#now();
    const take = ++this.#takes;
    const receipts = keys.map((_, i) => `${take}:${i + 1}`);
    for (const [i, k] of keys.entries()) {
      this.#events.set(k, [...(this.#events.get(k) ?? []), { at, receipt: receipts[i] as string }]);
    }
    return { ok: true, after: keys.map((k) => this.#stateNow(k, limits)), receipts };
  }

  async giveBack(taken: readonly TakenRestart[]): Promise<void> {
    for (const { key, receipt } of taken) {
      const kept = (this.#events.get(key) ?? []).filter((e) => e.receipt !== receipt);
      if (kept.length === 0) this.#events.delete(key);
      else this.#events.set(key, kept);
    }
  }

  #stateNow(key: string, limits: RestartBudgetOptions): WindowState {
    const now = this.#now();
    const windowMs = limits.windowSeconds * 1000;
    const kept = (this.#events.get(key) ?? []).filter((e) => e.at > now - windowMs);
    if (kept.length === 0) this.#events.delete(key);
    else this.#events.set(key, kept);
    const oldest = kept[0]?.at;
    return { used: kept.length, oldestExpiresAtMs: oldest === undefined ? undefined : oldest + windowMs, nowMs: now };
  }
}

// One sorted set per container (score = restart time in ms), trimmed to the window, expiring with it.
// The Redis server's clock is used so replicas with skewed clocks still share one window.
const STATE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return { redis.call('ZCARD', KEYS[1]), oldest[2] or '', tostring(now) }`;

const TAKE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local out = {}
local refused = false
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local used = redis.call('ZCARD', key)
  if used >= max then refused = true end
  out[i] = used
end
if not refused then
  for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, ARGV[3] .. ':' .. i)
    redis.call('PEXPIRE', key, window)
    out[i] = out[i] + 1
  end
end
local res = { refused and 0 or 1, tostring(now) }
for i, key in ipairs(KEYS) do
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  res[#res + 1] = out[i]
  res[#res + 1] = oldest[2] or ''
end
return res`;

// Undoes one take: the members it added (ARGV[1]:i), if it ran at all.
const GIVE_BACK_LUA = `
for i, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[1] .. ':' .. i) end
return 1`;

// Removes recorded restarts by their members (the receipts a take answered), ARGV[i] from KEYS[i].
const GIVE_BACK_MEMBERS_LUA = `
for i, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[i]) end
return 1`;

/** Attempts at giving back a refused take (backing off to 5 s: about a minute in all). */
const GIVE_BACK_ATTEMPTS = 15;

export interface RedisRestartStoreOptions {
  /** Default `ravenhelm:rb:{docker}`; the braces keep a project's keys in one Redis Cluster slot. */
  keyPrefix?: string;
  /** Longest wait for one Redis answer. Default 1000 ms. */
  timeoutMs?: number;
}

/**
 * The budget shared by replicas. When Redis cannot be reached it fails closed: the restart is refused
 * with ERR_BACKEND_UNAVAILABLE. A per-replica fallback would hand every replica a fresh budget, which is
 * exactly the crash-loop the budget exists to stop.
 */
export class RedisRestartStore implements RestartBudgetStore {
  readonly #redis: RedisLike;
  readonly #prefix: string;
  readonly #timeoutMs: number;

  constructor(redis: RedisLike, opts: RedisRestartStoreOptions = {}) {
    this.#redis = redis;
    this.#prefix = opts.keyPrefix ?? 'ravenhelm:rb:{docker}';
    this.#timeoutMs = opts.timeoutMs ?? 1000;
  }

  async state(key: string, limits: RestartBudgetOptions): Promise<WindowState> {
    const r = await this.#eval(STATE_LUA, [key], [limits.windowSeconds * 1000]);
    return windowState(Number(r[0]), r[1], Number(r[2]), limits);
  }

  async take(keys: readonly string[], limits: RestartBudgetOptions): Promise<TakeResult> {
    const mark = randomUUID();
    let r: unknown[];
    try {
      r = await this.#eval(TAKE_LUA, keys, [limits.windowSeconds * 1000, limits.maxRestarts, mark]);
    } catch (err) {
      // The take may still run once Redis answers (it waits in the connection's queue; commands on one
      // connection run in order): the restart was refused, so give back what it recorded then.
      this.#giveBackLater(keys, mark);
      throw err;
    }
    const now = Number(r[1]);
    const states = keys.map((_, i) => windowState(Number(r[2 + 2 * i]), r[3 + 2 * i], now, limits));
    // The members TAKE_LUA added: the mark and the key's place in the take (Lua counts from 1).
    const receipts = keys.map((_, i) => `${mark}:${i + 1}`);
    return Number(r[0]) === 1 ? { ok: true, after: states, receipts } : { ok: false, states };
  }

  async giveBack(taken: readonly TakenRestart[]): Promise<void> {
    if (taken.length === 0) return;
    const keys = taken.map((t) => t.key);
    const members = taken.map((t) => t.receipt);
    try {
      await this.#eval(GIVE_BACK_MEMBERS_LUA, keys, members);
    } catch {
      // Redis did not answer: keep trying in the background (ZREM is idempotent). Until then the budget
      // counts a restart that never happened, which errs on the side the budget exists for.
      undoLater(
        () =>
          this.#redis.eval(GIVE_BACK_MEMBERS_LUA, keys.length, ...keys.map((k) => `${this.#prefix}:${k}`), ...members),
        { attempts: GIVE_BACK_ATTEMPTS },
      );
    }
  }

  #giveBackLater(keys: readonly string[], mark: string): void {
    undoLater(() => this.#redis.eval(GIVE_BACK_LUA, keys.length, ...keys.map((k) => `${this.#prefix}:${k}`), mark), {
      attempts: GIVE_BACK_ATTEMPTS,
    });
  }

  /** host:port of the client, from its options: never the password (nor a URL that could carry one). */
  #where(): string {
    const o = (this.#redis as { options?: { host?: string; port?: number } }).options ?? {};
    return `${o.host ?? 'localhost'}:${o.port ?? 6379}`;
  }

  async #eval(script: string, keys: readonly string[], args: (string | number)[]): Promise<unknown[]> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = await Promise.race([
        this.#redis.eval(script, keys.length, ...keys.map((k) => `${this.#prefix}:${k}`), ...args),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
        }),
      ]);
      return answer as unknown[];
    } catch (err) {
      throw new ToolError(
        'ERR_BACKEND_UNAVAILABLE',
        `the shared restart budget in Redis cannot be read (Redis at ${this.#where()}: ${(err as Error).message}); restarts are refused until Redis answers, ` +
          'so no replica can exceed the budget. Check the Redis the server is configured with (RAVENHELM_REDIS_URL), then retry',
        { store: 'redis', redis: this.#where() },
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

function windowState(used: number, oldest: unknown, nowMs: number, limits: RestartBudgetOptions): WindowState {
  const score = oldest === '' || oldest === undefined || oldest === null ? undefined : Number(oldest);
  return { used, oldestExpiresAtMs: score === undefined ? undefined : score + limits.windowSeconds * 1000, nowMs };
}

export interface RestartBudgetDeps {
  /** Default: a MemoryRestartStore on `now`. */
  store?: RestartBudgetStore;
  /** Clock of the default memory store (tests). */
  now?: () => number;
}

/**
 * A sliding-window budget of restarts per container. It keeps an agent from restarting a crash-looping
 * container forever: past the budget the tools refuse and ask for a human. In memory per process by
 * default; in Redis (RedisRestartStore) when replicas share one.
 */
export class RestartBudget {
  readonly options: RestartBudgetOptions;
  readonly store: RestartBudgetStore;

  constructor(options: Partial<RestartBudgetOptions> = {}, deps: RestartBudgetDeps = {}) {
    this.options = { maxRestarts: options.maxRestarts ?? 3, windowSeconds: options.windowSeconds ?? 600 };
    this.store = deps.store ?? new MemoryRestartStore(deps.now);
  }

  async status(key: string): Promise<BudgetStatus> {
    return this.#statusOf(await this.store.state(key, this.options));
  }

  /** Throws ERR_RESTART_BUDGET when `key` has no restart left; records nothing (an early refusal before any plan). */
  async check(key: string, label = key): Promise<void> {
    const s = await this.status(key);
    if (s.remaining <= 0) throw this.#refusal(label, s);
  }

  /**
   * Checks and records one restart for every key, atomically: all or none. Call right before the engine
   * is asked. Throws ERR_RESTART_BUDGET (naming the containers without budget) when any key has none left.
   */
  async take(keys: readonly string[], labelOf: (key: string) => string = (k) => k): Promise<BudgetStatus[]> {
    return (await this.takeEach(keys, labelOf)).map((t) => t.status);
  }

  /** `take`, with each key's receipt: what `giveBack` needs when the engine never got the action. */
  async takeEach(
    keys: readonly string[],
    labelOf: (key: string) => string = (k) => k,
  ): Promise<(TakenRestart & { status: BudgetStatus })[]> {
    if (keys.length === 0) return [];
    const r = await this.store.take(keys, this.options);
    if (r.ok) {
      return r.after.map((s, i) => ({
        key: keys[i] as string,
        receipt: r.receipts[i] as string,
        status: this.#statusOf(s),
      }));
    }
    const statuses = r.states.map((s) => this.#statusOf(s));
    const i = statuses.findIndex((s) => s.remaining <= 0);
    throw this.#refusal(labelOf(keys[i] ?? ''), statuses[i] ?? { used: 0, remaining: 0, retryAfterSeconds: 0 });
  }

  /**
   * Gives back restarts taken for actions that never happened: the container was removed between the take
   * and the engine call (the engine answered 404). Never throws: a store that cannot be reached keeps the
   * restart counted (the store retries in the background where it can), which errs on the budget's side.
   */
  async giveBack(taken: readonly TakenRestart[]): Promise<void> {
    await this.store.giveBack(taken.map(({ key, receipt }) => ({ key, receipt }))).catch(() => undefined);
  }

  #statusOf(s: WindowState): BudgetStatus {
    const remaining = Math.max(0, this.options.maxRestarts - s.used);
    const retryAfterSeconds =
      remaining > 0 || s.oldestExpiresAtMs === undefined
        ? 0
        : Math.max(1, Math.ceil((s.oldestExpiresAtMs - s.nowMs) / 1000));
    return { used: s.used, remaining, retryAfterSeconds };
  }

  #refusal(label: string, s: BudgetStatus): ToolError {
    return new ToolError(
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
}
