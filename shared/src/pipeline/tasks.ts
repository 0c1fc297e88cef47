import { createHash, randomUUID } from 'node:crypto';
import type { Principal } from '@ravenhelm/auth';
import { z } from 'zod';
import { inRedis, type RedisLike, undoLater } from './redis.js';

/**
 * MCP Tasks (2025-11-25, experimental): the state of task-augmented tool calls, shared by every replica.
 * A task belongs to the principal that created it (subject + client); every read names the owner, so
 * another principal's task id is simply "not found". State, result and index expire with the task's ttl.
 */
export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

export interface TaskView {
  taskId: string;
  status: TaskStatus;
  createdAt: string;
  lastUpdatedAt: string;
  ttl: number;
  pollInterval: number;
  statusMessage?: string;
}

/** What tasks/result returns: the tool result, or the JSON-RPC error the plain call would have given. */
export type TaskOutcome =
  | { result: Record<string, unknown> }
  | { error: { code: number; message: string; data?: Record<string, unknown> } };

export interface TaskLimits {
  /** Tasks per principal that may be working at once. */
  maxRunning: number;
  /** Tasks per principal kept (any status); the oldest finished ones make room. */
  maxStored: number;
  /** Bounds for the ttl a client asks for (ms). */
  minTtlMs: number;
  maxTtlMs: number;
  defaultTtlMs: number;
  pollIntervalMs: number;
  /** A working task not finished by then is reported failed (its replica stopped). */
  runDeadlineMs: number;
}

export interface TaskStore {
  /** Creates a working task; `undefined` when the principal already has `maxRunning` working tasks. */
  create(owner: Principal, requestedTtlMs: number | undefined, tool: string): Promise<TaskView | undefined>;
  get(owner: Principal, taskId: string): Promise<TaskView | undefined>;
  outcome(owner: Principal, taskId: string): Promise<TaskOutcome | undefined>;
  /** Ends a working task; false when it was already terminal (cancelled) or is gone. */
  finish(
    owner: Principal,
    taskId: string,
    status: 'completed' | 'failed',
    message: string,
    outcome: TaskOutcome,
  ): Promise<boolean>;
  /** 'terminal' when it had already finished; undefined when not found. */
  cancel(owner: Principal, taskId: string): Promise<TaskView | 'terminal' | undefined>;
  /** Newest first, `pageSize` per page; the cursor is opaque (an offset). */
  list(owner: Principal, cursor: string | undefined): Promise<{ tasks: TaskView[]; nextCursor?: string }>;
  readonly limits: TaskLimits;
  close(): Promise<void>;
}

export const TERMINAL: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);
const PAGE_SIZE = 50;

/** What is stored per task: the view plus its expiry and run deadline (epoch ms). */
const Stored = z.object({
  taskId: z.string(),
  status: z.enum(['working', 'input_required', 'completed', 'failed', 'cancelled']),
  createdAt: z.string(),
  lastUpdatedAt: z.string(),
  ttl: z.number(),
  pollInterval: z.number(),
  statusMessage: z.string().optional(),
  tool: z.string(),
  expiresAt: z.number(),
  runDeadline: z.number(),
});
type Stored = z.infer<typeof Stored>;

const OutcomeSchema = z.union([
  z.object({ result: z.record(z.string(), z.unknown()) }),
  z.object({
    error: z.object({ code: z.number(), message: z.string(), data: z.record(z.string(), z.unknown()).optional() }),
  }),
]);

/** Subject and client, hashed: keys never carry identities. */
export function ownerKey(p: Principal): string {
  return createHash('sha256')
    .update(JSON.stringify([p.subject, p.clientId ?? null]))
    .digest('hex')
    .slice(0, 32);
}

function view(s: Stored, now: number): TaskView {
  // A replica that stopped mid-run never finishes its task: report it, do not let it look alive forever.
  const lost = !TERMINAL.has(s.status) && now > s.runDeadline;
  return {
    taskId: s.taskId,
    status: lost ? 'failed' : s.status,
    createdAt: s.createdAt,
    lastUpdatedAt: lost ? new Date(s.runDeadline).toISOString() : s.lastUpdatedAt,
    ttl: s.ttl,
    pollInterval: s.pollInterval,
    ...(lost
      ? {
          statusMessage: 'ERR_OUTCOME_UNKNOWN: the replica running this task stopped; check the target before retrying',
        }
      : s.statusMessage
        ? { statusMessage: s.statusMessage }
        : {}),
  };
}

const LOST_OUTCOME: TaskOutcome = {
  error: {
    code: -32000,
    message: 'the replica running this task stopped before it finished; its outcome is unknown, check before retrying',
    data: { code: 'ERR_OUTCOME_UNKNOWN' },
  },
};

function newTask(limits: TaskLimits, requestedTtlMs: number | undefined, tool: string): Stored {
  const now = Date.now();
  const ttl = Math.min(limits.maxTtlMs, Math.max(limits.minTtlMs, Math.round(requestedTtlMs ?? limits.defaultTtlMs)));
  const at = new Date(now).toISOString();
  return {
    taskId: randomUUID(),
    status: 'working',
    createdAt: at,
    lastUpdatedAt: at,
    ttl,
    pollInterval: limits.pollIntervalMs,
    tool,
    expiresAt: now + ttl,
    runDeadline: now + limits.runDeadlineMs,
  };
}

const parseCursor = (cursor: string | undefined) => {
  if (cursor === undefined) return 0;
  if (!/^[0-9]{1,6}$/.test(cursor)) throw new RangeError(`invalid tasks/list cursor '${cursor.slice(0, 40)}'`);
  return Number(cursor);
};

// Redis: per owner, a hash of task records (`t:<id>`), a hash of outcomes (`r:<id>`, opaque to Lua, so
// empty arrays survive) and a sorted set of ids by creation time. One hash tag per owner keeps them on one slot.
const CREATE_LUA = `
local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGE', KEYS[3], 0, -1)
local running, finished = 0, {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[1], 't:'..id)
  local t = raw and cjson.decode(raw)
  if (not t) or t.expiresAt <= now then
    redis.call('HDEL', KEYS[1], 't:'..id) redis.call('HDEL', KEYS[2], 'r:'..id) redis.call('ZREM', KEYS[3], id)
  elseif t.status == 'working' or t.status == 'input_required' then
    if t.runDeadline > now then running = running + 1 end
  else finished[#finished + 1] = id end
end
if running >= tonumber(ARGV[4]) then return 0 end
local stored = redis.call('ZCARD', KEYS[3])
local i = 1
while stored >= tonumber(ARGV[5]) and i <= #finished do
  local id = finished[i]
  redis.call('HDEL', KEYS[1], 't:'..id) redis.call('HDEL', KEYS[2], 'r:'..id) redis.call('ZREM', KEYS[3], id)
  stored = stored - 1 i = i + 1
end
redis.call('HSET', KEYS[1], 't:'..ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
local score = now
if last[2] and tonumber(last[2]) >= now then score = tonumber(last[2]) + 1 end
redis.call('ZADD', KEYS[3], score, ARGV[2])
for k = 1, 3 do
  if redis.call('PTTL', KEYS[k]) < tonumber(ARGV[6]) then redis.call('PEXPIRE', KEYS[k], ARGV[6]) end
end
return 1`;

// Moves a non-terminal task to ARGV[2] (JSON record); stores ARGV[3] as its outcome when given.
const TRANSITION_LUA = `
local raw = redis.call('HGET', KEYS[1], 't:'..ARGV[1])
if not raw then return nil end
local t = cjson.decode(raw)
if t.status ~= 'working' and t.status ~= 'input_required' then return {0, raw} end
redis.call('HSET', KEYS[1], 't:'..ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], 'r:'..ARGV[1], ARGV[3]) end
return {1, ARGV[2]}`;

// Forgets one task (record, outcome, index entry).
const FORGET_LUA = `
redis.call('HDEL', KEYS[1], 't:'..ARGV[1]) redis.call('HDEL', KEYS[2], 'r:'..ARGV[1]) redis.call('ZREM', KEYS[3], ARGV[1])
return 1`;

const STORE = 'task store';
const RETRY = 'retry shortly';
/** Attempts at forgetting a task whose create timed out (backing off to 5 s: about a minute in all). */
const FORGET_ATTEMPTS = 15;

export function createTaskStore(
  opts: { redis?: RedisLike; keyPrefix?: string; limits?: Partial<TaskLimits> } = {},
): TaskStore {
  const limits: TaskLimits = {
    maxRunning: 10,
    maxStored: 100,
    minTtlMs: 60_000,
    maxTtlMs: 24 * 3600_000,
    defaultTtlMs: 3600_000,
    pollIntervalMs: 1000,
    runDeadlineMs: 60_000,
    ...opts.limits,
  };
  // A task must outlive its run.
  limits.minTtlMs = Math.max(limits.minTtlMs, limits.runDeadlineMs + 60_000);
  const prefix = opts.keyPrefix ?? 'ravenhelm:task';
  const redis = opts.redis;
  const keys = (owner: Principal) => {
    const tag = `{${ownerKey(owner)}}`;
    return [`${prefix}:${tag}:t`, `${prefix}:${tag}:r`, `${prefix}:${tag}:z`] as const;
  };
  const memory = new Map<string, Map<string, { task: Stored; outcome?: string }>>();
  /** This owner's tasks, expired ones dropped; an owner with none is not kept (reads never add one). */
  const mine = (owner: Principal, create = false) => {
    const k = ownerKey(owner);
    const m = memory.get(k) ?? new Map<string, { task: Stored; outcome?: string }>();
    const now = Date.now();
    for (const [id, e] of m) if (e.task.expiresAt <= now) m.delete(id);
    if (m.size > 0 || create) memory.set(k, m);
    else memory.delete(k);
    return m;
  };
  const parse = (raw: string | null | undefined) => (raw ? Stored.parse(JSON.parse(raw)) : undefined);

  async function read(owner: Principal, taskId: string): Promise<Stored | undefined> {
    const task = redis
      ? parse(await inRedis(redis, STORE, RETRY, () => redis.hget(keys(owner)[0], `t:${taskId}`)))
      : mine(owner).get(taskId)?.task;
    return task && task.expiresAt > Date.now() ? task : undefined;
  }

  async function transition(owner: Principal, taskId: string, next: (t: Stored) => Stored, outcome?: string) {
    if (redis) {
      const current = await read(owner, taskId);
      if (!current) return undefined;
      const [t, r] = keys(owner);
      const answer = (await inRedis(redis, STORE, RETRY, () =>
        redis.eval(TRANSITION_LUA, 2, t, r, taskId, JSON.stringify(next(current)), outcome ?? ''),
      )) as [number, string] | null;
      if (!answer) return undefined;
      return { changed: answer[0] === 1, task: Stored.parse(JSON.parse(answer[1])) };
    }
    const entry = mine(owner).get(taskId);
    if (!entry) return undefined;
    if (TERMINAL.has(entry.task.status)) return { changed: false, task: entry.task };
    entry.task = next(entry.task);
    if (outcome !== undefined) entry.outcome = outcome;
    return { changed: true, task: entry.task };
  }

  const forgetLater = (client: RedisLike, k: readonly [string, string, string], taskId: string) =>
    undoLater(() => client.eval(FORGET_LUA, 3, ...k, taskId), { attempts: FORGET_ATTEMPTS, stopped: () => closed });

  const closedCheck = () => {
    if (closed) throw new Error('task store is closed');
  };
  let closed = false;

  return {
    limits,
    async create(owner, requestedTtlMs, tool) {
      closedCheck();
      const task = newTask(limits, requestedTtlMs, tool);
      const now = Date.now();
      if (redis) {
        const [t, r, z] = keys(owner);
        let ok: unknown;
        try {
          ok = await inRedis(redis, STORE, 'nothing was run; retry shortly', () =>
            redis.eval(
              CREATE_LUA,
              3,
              t,
              r,
              z,
              now,
              task.taskId,
              JSON.stringify(task),
              limits.maxRunning,
              limits.maxStored,
              limits.maxTtlMs + 60_000,
            ),
          );
        } catch (err) {
          // The create may still run once Redis answers (it waits in the connection's queue, and commands on
          // one connection run in order): forget the task then, so no task nobody was told of lingers.
          forgetLater(redis, [t, r, z], task.taskId);
          throw err;
        }
        return ok === 1 ? view(task, now) : undefined;
      }
      const m = mine(owner, true);
      const entries = [...m.values()];
      const running = entries.filter((e) => !TERMINAL.has(e.task.status) && e.task.runDeadline > now).length;
      if (running >= limits.maxRunning) return undefined;
      for (const [id, e] of m) {
        if (m.size < limits.maxStored) break;
        if (TERMINAL.has(e.task.status)) m.delete(id); // Map order is creation order: oldest first
      }
      m.set(task.taskId, { task });
      return view(task, now);
    },
    async get(owner, taskId) {
      const t = await read(owner, taskId);
      return t && view(t, Date.now());
    },
    async outcome(owner, taskId) {
      const t = await read(owner, taskId);
      if (!t) return undefined;
      if (view(t, Date.now()).status === 'failed' && !TERMINAL.has(t.status)) return LOST_OUTCOME;
      const raw = redis
        ? await inRedis(redis, STORE, RETRY, () => redis.hget(keys(owner)[1], `r:${taskId}`))
        : mine(owner).get(taskId)?.outcome;
      if (!raw) {
        if (t.status === 'cancelled') {
          return { error: { code: -32000, message: 'the task was cancelled', data: { code: 'ERR_CANCELLED' } } };
        }
        return undefined;
      }
      return OutcomeSchema.parse(JSON.parse(raw));
    },
    async finish(owner, taskId, status, message, outcome) {
      const at = new Date().toISOString();
      const r = await transition(
        owner,
        taskId,
        (t) => ({ ...t, status, lastUpdatedAt: at, statusMessage: message }),
        JSON.stringify(outcome),
      );
      return r?.changed === true;
    },
    async cancel(owner, taskId) {
      const t = await read(owner, taskId);
      if (!t) return undefined;
      if (view(t, Date.now()).status !== t.status) return 'terminal';
      const at = new Date().toISOString();
      const r = await transition(owner, taskId, (x) => ({
        ...x,
        status: 'cancelled',
        lastUpdatedAt: at,
        statusMessage: 'The task was cancelled by request.',
      }));
      if (!r) return undefined;
      return r.changed ? view(r.task, Date.now()) : 'terminal';
    },
    async list(owner, cursor) {
      const offset = parseCursor(cursor);
      const now = Date.now();
      let tasks: Stored[];
      if (redis) {
        const [t, , z] = keys(owner);
        const raws = await inRedis(redis, STORE, RETRY, async () => {
          const ids = await redis.zrevrange(z, offset, offset + PAGE_SIZE - 1);
          return ids.length ? await redis.hmget(t, ...ids.map((id) => `t:${id}`)) : [];
        });
        tasks = raws.map(parse).filter((x): x is Stored => x !== undefined);
      } else {
        tasks = [...mine(owner).values()]
          .map((e) => e.task)
          .reverse()
          .slice(offset, offset + PAGE_SIZE);
      }
      const page = tasks.filter((t) => t.expiresAt > now).map((t) => view(t, now));
      return tasks.length === PAGE_SIZE ? { tasks: page, nextCursor: String(offset + PAGE_SIZE) } : { tasks: page };
    },
    async close() {
      closed = true;
      memory.clear();
    },
  };
}
