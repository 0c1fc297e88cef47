import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ToolError } from '../errors.js';
import { visible, visibleDeep } from '../visible.js';
import { inRedis, onReplica, type RedisLike, undoLater } from './redis.js';

/**
 * Human approval requests: a call to a tool under an `approve` policy becomes a request that people
 * approve or reject; once approved it can be consumed (run) exactly once, by the requester, with the
 * arguments that were approved. In memory by default; in Redis for replicas, where every state change
 * is a compare-and-set in one Lua script (no WATCH: it is per connection, and one ioredis connection is
 * shared by concurrent calls).
 */

export const APPROVAL_STATES = ['pending', 'approved', 'rejected', 'expired', 'consumed'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

export const APPROVAL_ID = /^apr_[A-Za-z0-9_-]{32}$/;
const MAX_TTL_SECONDS = 24 * 3600;
const MAX_COMMENT = 500;
const MAX_LISTED = 500;

const Principal = z
  .object({ subject: z.string().min(1), clientId: z.string().optional(), spiffeId: z.string().optional() })
  .strict();
const Decision = z.object({ subject: z.string().min(1), at: z.string(), comment: z.string().optional() }).strict();

/** A stored request, as every replica reads it back (validated: the store is shared, not trusted blindly). */
export const ApprovalRequestSchema = z
  .object({
    id: z.string().regex(APPROVAL_ID),
    server: z.string().min(1),
    tool: z.string().min(1),
    requester: Principal,
    /** The digest of the call's arguments (as in audit records and confirmation tokens). */
    argsDigest: z.string().min(1),
    /** The arguments with secret-looking and declared-sensitive fields redacted: for display only. */
    args: z.unknown(),
    plan: z.string(),
    approvers: z.string().min(1),
    count: z.union([z.literal(1), z.literal(2)]),
    createdAt: z.string(),
    expiresAt: z.string(),
    approvals: z.array(Decision),
    rejections: z.array(Decision),
    state: z.enum(APPROVAL_STATES),
    consumedAt: z.string().optional(),
    /** Which consume took it (a random mark): lets that consume give it back if its call never ran. */
    consumedBy: z.string().optional(),
  })
  .strict();
export type ApprovalRequest = z.infer<typeof ApprovalRequestSchema>;
export type ApprovalPrincipal = z.infer<typeof Principal>;

/**
 * A request as people are shown it (console, CLI, webhook): every character that would hide or reorder
 * text is made visible in what came from the requester or other people (plan, arguments, names,
 * comments), so an agent cannot show approvers something other than what runs (see `visible`).
 */
export function asShown(r: ApprovalRequest): ApprovalRequest {
  const line = (s: string) => visible(s, { oneLine: true });
  const decision = (d: z.infer<typeof Decision>) => ({
    ...d,
    subject: line(d.subject),
    ...(d.comment !== undefined ? { comment: line(d.comment) } : {}),
  });
  return {
    ...r,
    requester: Object.fromEntries(
      Object.entries(r.requester).map(([k, v]) => [k, typeof v === 'string' ? line(v) : v]),
    ) as ApprovalPrincipal,
    args: visibleDeep(r.args),
    plan: visible(r.plan),
    approvals: r.approvals.map(decision),
    rejections: r.rejections.map(decision),
  };
}

/** The refusal when a requester already has its limit of pending requests. */
export function tooManyPending(pending: number, soonestExpiryMs: number, now = Date.now()): ToolError {
  return new ToolError(
    'ERR_RATE_LIMITED',
    `you already have ${pending} approval requests pending on this server (the limit); wait for decisions with approvals_get_status or for them to expire`,
    { retryAfterSeconds: Math.max(1, Math.ceil((soonestExpiryMs - now) / 1000)) },
  );
}

export interface NewApproval {
  server: string;
  tool: string;
  requester: ApprovalPrincipal;
  argsDigest: string;
  args: unknown;
  plan: string;
  approvers: string;
  count: 1 | 2;
  ttlSeconds: number;
  /** Refuse (ERR_RATE_LIMITED) when the requester already has this many pending requests; atomic. */
  maxPendingPerRequester?: number;
}

export interface DecisionInput {
  subject: string;
  approve: boolean;
  comment?: string | undefined;
}

export type DecideRefusal = 'not-found' | 'not-pending' | 'self-approval' | 'already-decided';
export type DecideResult =
  | { ok: true; request: ApprovalRequest }
  | { ok: false; reason: DecideRefusal; request?: ApprovalRequest };

/** What must match for an approved request to run: the same server, tool, requester and arguments. */
export interface ApprovalBinding {
  server: string;
  tool: string;
  subject: string;
  argsDigest: string;
}

export type ConsumeRefusal = 'not-found' | 'pending' | 'rejected' | 'consumed' | 'mismatch';
export type ConsumeResult =
  | { ok: true; request: ApprovalRequest }
  | { ok: false; reason: ConsumeRefusal; request?: ApprovalRequest };

export interface ApprovalStore {
  create(input: NewApproval): Promise<ApprovalRequest>;
  /** The request while it lives (expired requests are gone: undefined). */
  get(id: string): Promise<ApprovalRequest | undefined>;
  /** Live requests of this store's server, oldest first (at most 500). */
  list(): Promise<ApprovalRequest[]>;
  /** Approve or reject; refuses self-approval, a second decision by the same person, and decided requests. */
  decide(id: string, decision: DecisionInput): Promise<DecideResult>;
  /**
   * Approved -> consumed, atomically (also across replicas): true for exactly one caller. A binding that
   * does not match (other arguments, tool or requester) is refused and the request is NOT consumed.
   */
  consume(id: string, binding: ApprovalBinding): Promise<ConsumeResult>;
  /**
   * Consumed -> approved again, for the consume marked `mark` only (a call that consumed it and then did
   * not run: its caller left first). Best effort: with Redis down it is retried in the background.
   */
  release(id: string, mark: string): Promise<void>;
  close(): Promise<void>;
}

export function newApprovalId(): string {
  return `apr_${randomBytes(24).toString('base64url')}`;
}

const expired = (r: ApprovalRequest, now: number) => Date.parse(r.expiresAt) <= now;

/** The decision as a pure transition: the new request, or why it is refused. */
export function applyDecision(r: ApprovalRequest, d: DecisionInput, now = Date.now()): DecideResult {
  if (expired(r, now)) return { ok: false, reason: 'not-found' };
  if (r.state !== 'pending') return { ok: false, reason: 'not-pending', request: r };
  if (d.subject === r.requester.subject) return { ok: false, reason: 'self-approval', request: r };
  if ([...r.approvals, ...r.rejections].some((x) => x.subject === d.subject)) {
    return { ok: false, reason: 'already-decided', request: r };
  }
  const entry = {
    subject: d.subject,
    at: new Date(now).toISOString(),
    ...(d.comment ? { comment: d.comment.slice(0, MAX_COMMENT) } : {}),
  };
  if (!d.approve) return { ok: true, request: { ...r, rejections: [...r.rejections, entry], state: 'rejected' } };
  const approvals = [...r.approvals, entry];
  return { ok: true, request: { ...r, approvals, state: approvals.length >= r.count ? 'approved' : 'pending' } };
}

/** Consuming as a pure transition; `mark` records which consume took it. */
export function applyConsume(r: ApprovalRequest, b: ApprovalBinding, now = Date.now(), mark?: string): ConsumeResult {
  if (expired(r, now)) return { ok: false, reason: 'not-found' };
  if (
    r.server !== b.server ||
    r.tool !== b.tool ||
    r.requester.subject !== b.subject ||
    r.argsDigest !== b.argsDigest
  ) {
    return { ok: false, reason: 'mismatch', request: r };
  }
  if (r.state === 'pending' || r.state === 'rejected' || r.state === 'consumed') {
    return { ok: false, reason: r.state, request: r };
  }
  if (r.state !== 'approved') return { ok: false, reason: 'not-found' };
  return {
    ok: true,
    request: {
      ...r,
      state: 'consumed',
      consumedAt: new Date(now).toISOString(),
      ...(mark ? { consumedBy: mark } : {}),
    },
  };
}

/** Giving back an approval whose consume `mark` took it but whose call never ran: consumed -> approved. */
export function applyRelease(r: ApprovalRequest, mark: string, now = Date.now()): ReleaseResult {
  if (expired(r, now)) return { ok: false, reason: 'not-found' };
  if (r.state !== 'consumed' || r.consumedBy !== mark) return { ok: false, reason: 'not-ours', request: r };
  const { consumedAt: _at, consumedBy: _by, ...rest } = r;
  return { ok: true, request: { ...rest, state: 'approved' } };
}
type ReleaseResult =
  | { ok: true; request: ApprovalRequest }
  | { ok: false; reason: 'not-found' | 'not-ours'; request?: ApprovalRequest };

function build(input: NewApproval, now: number): ApprovalRequest {
  if (!Number.isFinite(input.ttlSeconds) || input.ttlSeconds <= 0 || input.ttlSeconds > MAX_TTL_SECONDS) {
    throw new RangeError(`approval ttlSeconds must be in (0, ${MAX_TTL_SECONDS}] (got ${input.ttlSeconds})`);
  }
  return ApprovalRequestSchema.parse({
    id: newApprovalId(),
    server: input.server,
    tool: input.tool,
    requester: input.requester,
    argsDigest: input.argsDigest,
    args: input.args,
    plan: input.plan,
    approvers: input.approvers,
    count: input.count,
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + Math.ceil(input.ttlSeconds) * 1000).toISOString(),
    approvals: [],
    rejections: [],
    state: 'pending',
  });
}

// A new request and its index entry (score: expiry), both or neither: 1 written, 0 id taken. Expired index
// entries are dropped here, so listing stays a read (it answers while Redis refuses writes).
// With a limit (ARGV[7] > 0), counts the requester's (ARGV[6]) pending requests in the same script, so
// concurrent creates cannot all pass the check: {-1, pending, soonest expiry} when at the limit.
const CREATE_LUA = `
local limit = tonumber(ARGV[7])
if limit > 0 then
  local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[5], '+inf', 'WITHSCORES')
  local n, soonest = 0, ''
  for i = 1, #live, 2 do
    local raw = redis.call('GET', ARGV[8] .. live[i])
    if raw then
      local r = cjson.decode(raw)
      if r.state == 'pending' and r.requester.subject == ARGV[6] then
        n = n + 1
        if soonest == '' then soonest = live[i + 1] end
      end
    end
  end
  if n >= limit then return { -1, n, soonest } end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1`;

// Forgets one request and its index entry.
const FORGET_LUA = `
redis.call('DEL', KEYS[1]) redis.call('ZREM', KEYS[2], ARGV[1])
return 1`;

// Compare-and-set that keeps the key's expiry: -1 gone, 0 changed meanwhile (retry), 1 written.
const CAS_LUA = `
local v = redis.call('GET', KEYS[1])
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1`;
const CAS_ATTEMPTS = 16;

const STORE = 'approval store';
const RETRY = 'retry shortly';
/** Attempts at undoing a write that timed out (backing off to 5 s: about 3 minutes in all). */
const UNDO_ATTEMPTS = 40;

export function createApprovalStore(opts: {
  server: string;
  redis?: RedisLike;
  keyPrefix?: string;
  /** Told when an approval taken by a failed consume is given back (or cannot be). */
  logger?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}): ApprovalStore {
  const prefix = opts.keyPrefix ?? `ravenhelm:apr:${opts.server}`;
  const redis = opts.redis;
  const memory = new Map<string, ApprovalRequest>();
  let closed = false;
  const check = () => {
    if (closed) throw new Error('approval store is closed');
  };
  const keyOf = (id: string) => `${prefix}:req:${id}`;
  const indexKey = `${prefix}:index`;

  const parse = (text: string | null): ApprovalRequest | undefined => {
    if (text === null) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return undefined;
    }
    const parsed = ApprovalRequestSchema.safeParse(json);
    return parsed.success ? parsed.data : undefined;
  };

  const purgeMemory = (now: number) => {
    for (const [id, r] of memory) if (expired(r, now)) memory.delete(id);
  };

  /** Read, transition, write back; in Redis a compare-and-set retried while others change the request. */
  /** Redis failures of a transition become ERR_BACKEND_UNAVAILABLE saying what to do (`next`). */
  const inRedisOr = <T>(next: string, op: () => Promise<T>): Promise<T> =>
    redis ? inRedis(redis, STORE, next, op) : op();

  /** Gives back an approval a failed consume (`mark`) may have taken, once Redis answers. */
  const releaseLater = (id: string, mark: string) =>
    undoLater(
      async () => {
        const out = await transition(id, (r, now) => applyRelease(r, mark, now));
        if (out.ok)
          opts.logger?.warn({ approvalId: id }, 'approval given back: its consume timed out and the call never ran');
      },
      {
        attempts: UNDO_ATTEMPTS,
        stopped: () => closed,
        onGiveUp: () =>
          opts.logger?.error(
            { approvalId: id },
            'approval could not be given back after a failed consume; it reads as used',
          ),
      },
    );

  /** Forgets a request whose create timed out, once Redis answers: nobody was told its id. */
  const forgetLater = (client: RedisLike, id: string) =>
    undoLater(() => client.eval(FORGET_LUA, 2, keyOf(id), indexKey, id), {
      attempts: UNDO_ATTEMPTS,
      stopped: () => closed,
    });

  async function transition<R extends { ok: boolean; request?: ApprovalRequest }>(
    id: string,
    step: (r: ApprovalRequest, now: number) => R,
  ): Promise<R | { ok: false; reason: 'not-found' }> {
    check();
    if (!APPROVAL_ID.test(id)) return { ok: false, reason: 'not-found' };
    if (!redis) {
      const now = Date.now();
      const r = memory.get(id);
      if (!r || expired(r, now)) {
        memory.delete(id);
        return { ok: false, reason: 'not-found' };
      }
      const out = step(r, now);
      if (out.ok && out.request) memory.set(id, out.request);
      return out;
    }
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const raw = await redis.get(keyOf(id));
      const r = parse(raw);
      if (!r || raw === null) return { ok: false, reason: 'not-found' };
      const out = step(r, Date.now());
      if (!out.ok || !out.request) return out;
      const written = await redis.eval(CAS_LUA, 1, keyOf(id), raw, JSON.stringify(out.request));
      if (written === 1) return out;
      if (written === -1) return { ok: false, reason: 'not-found' };
    }
    throw new Error(`approval ${id} kept changing under ${CAS_ATTEMPTS} concurrent updates; try again`);
  }

  return {
    async create(input) {
      check();
      const now = Date.now();
      const r = build(input, now);
      const limit = input.maxPendingPerRequester ?? 0;
      if (redis) {
        const ttlMs = Date.parse(r.expiresAt) - now;
        let set: unknown;
        try {
          set = await inRedis(redis, STORE, 'nothing was run and no approval was requested; retry shortly', () =>
            redis.eval(
              CREATE_LUA,
              2,
              keyOf(r.id),
              indexKey,
              JSON.stringify(r),
              ttlMs,
              Date.parse(r.expiresAt),
              r.id,
              now,
              r.requester.subject,
              limit,
              keyOf(''),
            ),
          );
        } catch (err) {
          // No approver may be asked about a request whose requester was told it failed.
          forgetLater(redis, r.id);
          throw err;
        }
        if (Array.isArray(set)) throw tooManyPending(Number(set[1]), Number(set[2]), now);
        if (set !== 1) throw new Error('approval id collision in Redis; refusing to reuse a key');
      } else {
        purgeMemory(now);
        if (limit > 0) {
          // No await between this count and the insert: atomic within the process.
          const mine = [...memory.values()].filter(
            (x) => x.state === 'pending' && x.requester.subject === r.requester.subject,
          );
          if (mine.length >= limit) {
            throw tooManyPending(mine.length, Math.min(...mine.map((x) => Date.parse(x.expiresAt))), now);
          }
        }
        memory.set(r.id, r);
      }
      return r;
    },

    async get(id) {
      check();
      if (!APPROVAL_ID.test(id)) return undefined;
      const r = redis ? parse(await inRedis(redis, STORE, RETRY, () => redis.get(keyOf(id)))) : memory.get(id);
      return r && !expired(r, Date.now()) ? r : undefined;
    },

    async list() {
      check();
      const now = Date.now();
      if (!redis) {
        purgeMemory(now);
        return [...memory.values()].slice(0, MAX_LISTED);
      }
      const raws = await inRedis(redis, STORE, RETRY, async () => {
        const ids = await redis.zrangebyscore(indexKey, `(${now}`, '+inf', 'LIMIT', 0, MAX_LISTED);
        return ids.length === 0 ? [] : redis.mget(...ids.map(keyOf));
      });
      return raws
        .map((raw) => parse(raw))
        .filter((r): r is ApprovalRequest => r !== undefined && !expired(r, now))
        .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },

    decide(id, decision) {
      const next = `the decision may or may not have been recorded: check the request (GET /approvals/${id}) before deciding again`;
      return inRedisOr(next, () => transition(id, (r, now) => applyDecision(r, decision, now)));
    },

    async consume(id, binding) {
      const mark = randomBytes(12).toString('base64url');
      try {
        return await inRedisOr(
          'nothing was run and the approval stays usable: retry with the same approvalRequestId shortly',
          async () => {
            const out = await transition(id, (r, now) => applyConsume(r, binding, now, mark));
            // Through Sentinel, consumed only once a replica has it: a failover then cannot bring the
            // approval back for a second run (a failed wait gives it back below).
            if (out.ok && redis) await onReplica(redis);
            return out;
          },
        );
      } catch (err) {
        // The compare-and-set may still land once Redis answers (it waits in the connection's queue): give
        // the approval back then, so a call that never ran does not use it up.
        if (redis) releaseLater(id, mark);
        throw err;
      }
    },

    async release(id, mark) {
      try {
        await inRedisOr('the approval is given back once Redis answers', () =>
          transition(id, (r, now) => applyRelease(r, mark, now)),
        );
      } catch {
        if (redis) releaseLater(id, mark);
      }
    },

    async close() {
      closed = true;
      memory.clear();
    },
  };
}
