import { createHash } from 'node:crypto';
import { jsonBytes, ownRecord, pageList, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { ZEvent, ZitadelBackend } from '../backend.js';
import { defineTool, READ } from './define.js';
import { Cursor, itemBudget, resolveUser, UserRef } from './shapes.js';
import { readUserGrants } from './user-grants.js';

/** Event types per category, as Zitadel's eventstore names them. */
const CATEGORIES = {
  logins: [
    'user.human.password.check.succeeded',
    'user.human.password.check.failed',
    'user.token.added',
    'user.token.v2.added',
    'user.machine.secret.check.succeeded',
    'user.machine.secret.check.failed',
  ],
  grants: [
    'user.grant.added',
    'user.grant.changed',
    'user.grant.cascade.changed',
    'user.grant.removed',
    'user.grant.cascade.removed',
    'user.grant.deactivated',
    'user.grant.reactivated',
  ],
  keys: ['user.machine.key.added', 'user.machine.key.removed'],
  lifecycle: [
    'user.machine.added',
    'user.human.added',
    'user.locked',
    'user.unlocked',
    'user.deactivated',
    'user.reactivated',
    'user.removed',
  ],
} as const;
type Category = keyof typeof CATEGORIES;

/** Payload fields safe to show; anything else (hashes, public keys, profile data) stays out. */
const SAFE_PAYLOAD = ['projectId', 'roleKeys', 'grantId', 'keyId', 'expirationDate', 'userName'] as const;

/**
 * A user grant's events are on the grant's own aggregate (type `usergrant`, id the grant's id), not the
 * user's; only `user.grant.added` names the user, in its payload `userId`, and its payload `grantId` is a
 * project grant's id (internal/repository/usergrant/aggregate.go, user_grant.go).
 */
const GRANT_AGGREGATE = 'usergrant';

const Event = z.object({
  sequence: z.string(),
  at: z.string(),
  type: z.string(),
  category: z.string(),
  userId: z.string().optional(),
  editorId: z.string().optional(),
  editor: z.string().optional(),
  details: ownRecord(z.unknown()).optional(),
});

function categoryOf(type: string): string {
  for (const [name, types] of Object.entries(CATEGORIES)) if ((types as readonly string[]).includes(type)) return name;
  return 'other';
}

/** `userOfGrant`: the user whose grant this event is on, when the caller knows it. */
function toEvent(e: ZEvent, userOfGrant?: string): z.output<typeof Event> {
  const type = e.type?.type ?? '';
  const onGrant = e.aggregate?.type?.type === GRANT_AGGREGATE;
  const details: Record<string, unknown> = Object.fromEntries(
    SAFE_PAYLOAD.filter((k) => e.payload && Object.hasOwn(e.payload, k)).map((k) => [k, e.payload?.[k]]),
  );
  if (onGrant) {
    if (details.grantId !== undefined) details.projectGrantId = details.grantId;
    if (e.aggregate?.id) details.grantId = e.aggregate.id;
    else delete details.grantId;
  }
  const payloadUser = typeof e.payload?.userId === 'string' ? e.payload.userId : undefined;
  const userId = onGrant
    ? (userOfGrant ?? payloadUser)
    : e.aggregate?.type?.type === 'user'
      ? e.aggregate.id
      : undefined;
  return {
    sequence: String(e.sequence ?? ''),
    at: e.creationDate ?? '',
    type,
    category: categoryOf(type),
    ...(userId ? { userId } : {}),
    ...(e.editor?.userId ? { editorId: e.editor.userId } : {}),
    ...(e.editor?.displayName ? { editor: e.editor.displayName } : {}),
    ...(Object.keys(details).length > 0 ? { details } : {}),
  };
}

/** Microseconds since the epoch of an event's creationDate (Postgres keeps microseconds), or undefined. */
function microsOf(iso: string | undefined): bigint | undefined {
  const m = iso === undefined ? null : /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(iso);
  const whole = m ? Date.parse(`${m[1]}Z`) : Number.NaN;
  return m && Number.isFinite(whole)
    ? BigInt(whole) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0').slice(0, 6))
    : undefined;
}

const isoOfMicros = (us: bigint) =>
  `${new Date(Number(us / 1000n)).toISOString().slice(0, 19)}.${(us % 1_000_000n).toString().padStart(6, '0')}Z`;

/** The most events one ListEvents call returns (internal/api/grpc/admin/event.go, maxLimit). */
const ZITADEL_MAX_EVENTS = 1000;

/**
 * How far past the last event shown a next page reads again (microseconds). Zitadel lists events in the
 * order they were written (`position`, the clock when the row went in) but filters by `creationDate`, the
 * start of the writing transaction (internal/eventstore/v3/push_funcs.sql: created_at NOW(), position
 * clock_timestamp()); a page that asked only for events created before the last one shown would skip an
 * event written after it whose transaction began later. The next page reads this much newer again and
 * continues right after the last event shown; only a transaction that took longer than this from its start
 * to its write can still be missed.
 */
const OVERLAP_MICROS = 5_000_000n;

/** An event's identity in the store (aggregate type, id and its sequence there), short, for a cursor. */
function identityOf(e: ZEvent): string {
  const id = `${e.aggregate?.type?.type ?? ''}/${e.aggregate?.id ?? ''}/${String(e.sequence ?? '')}`;
  return createHash('sha256').update(id).digest('base64url').slice(0, 12);
}

/** A cursor this tool issued: the creation time and identity of the last event shown. */
function readCursor(cursor: string): { micros: bigint; last: string } {
  const m = /^p:(\d{1,17}):([A-Za-z0-9_-]{12})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m)
    throw new ToolError('ERR_INVALID_INPUT', 'cursor is not one this server issued; omit it to start from the newest');
  return { micros: BigInt(m[1] as string), last: m[2] as string };
}

/** What one ListEvents read asks for (besides its time bound and limit). */
interface Source {
  filter: { aggregateType?: 'user' | 'usergrant'; aggregateId?: string; resourceOwner?: string; eventTypes?: string[] };
  /** The user whose grant this stream is, named on its events (only the added one names it). */
  userOfGrant?: string;
}

/** The most grants of one user whose events a page reads: one ListEvents call each. */
const MAX_GRANTS = 10;
/** The most ListEvents calls spent looking for a user's removed grants among the grants added. */
const MAX_GRANT_SCANS = 3;

function tooManyGrants(what: string): ToolError {
  return new ToolError(
    'ERR_INVALID_INPUT',
    `${what}; events_list reads the grant events of a user with at most ${MAX_GRANTS} grants (current and removed). Leave 'grants' out of categories for the user's own events, or list orgId with categories ['grants'] for the organisation's grant events`,
  );
}

/** The grants whose events a user's page reads, and what the page cannot show when that is not all of them. */
interface UserGrants {
  /** Each grant's id and the organisation that owns it (made it). */
  grants: { id: string; owner: string }[];
  /** Said in the answer's notes: which grant events are missing, and how to read them. */
  notes: string[];
}

/**
 * The ids of a user's grants, current and removed. The current ones are listed; a removed one is found
 * by its `user.grant.added` event, the only one naming the user, which ListEvents cannot filter on: the
 * grants added are read, newest first, and their payload's userId compared; only grants owned by the server's
 * organisation or one of allowedOrgIds count (the grant's aggregate belongs to the organisation that made it,
 * and another's grant events are that organisation's). More grants than a page reads
 * are refused when grant events were asked for by name (`strict`); otherwise the page goes on without them
 * (or without the removed ones, when the instance has too many grants to search) and says so.
 */
async function grantsOf(
  zitadel: ZitadelBackend,
  userId: string,
  allowedOrgIds: readonly string[],
  strict: boolean,
  signal: AbortSignal,
): Promise<UserGrants> {
  // grant id -> the organisation that made it (owns its aggregate)
  const ids = new Map<string, string>();
  // Another organisation the project is granted to may grant it to our user too: its grant's events (its
  // project, roles, administrators) are that organisation's, out of bounds as its orgId is
  const bound = new Set([await zitadel.homeOrgId(signal), ...allowedOrgIds]);
  const grants = () => [...ids].map(([id, owner]) => ({ id, owner }));
  const withoutGrants = (what: string): UserGrants => {
    if (strict) throw tooManyGrants(what);
    return {
      grants: [],
      notes: [
        `${what}, more than the ${MAX_GRANTS} whose events a page reads: no grant events are shown. List orgId with categories ['grants'] for the organisation's grant events`,
      ],
    };
  };
  // the current grants of every organisation whose grants count (each listed in its own organisation)
  const current = await readUserGrants(zitadel, userId, allowedOrgIds, signal);
  for (const g of current.grants) if (g.grant.id) ids.set(g.grant.id, g.orgId);
  if (current.cut || ids.size > MAX_GRANTS)
    return withoutGrants(`user ${userId} has ${current.cut ? 'more than ' : ''}${ids.size} grants`);
  const unlisted = current.unreadable.map(
    ({ orgId, error }) =>
      `the grants user ${userId} holds from organisation ${orgId} could not be listed (${error.code}: ${error.message}): their events are shown only where found among the grant additions read`,
  );
  let before: bigint | undefined;
  for (let call = 1; ; call++) {
    const added = await zitadel.listEvents(
      {
        aggregateType: GRANT_AGGREGATE,
        eventTypes: ['user.grant.added'],
        ...(before !== undefined ? { createdBefore: isoOfMicros(before) } : {}),
        limit: ZITADEL_MAX_EVENTS,
      },
      signal,
    );
    for (const e of added) {
      const owner = e.aggregate?.resourceOwner;
      if (e.payload?.userId === userId && e.aggregate?.id && owner && bound.has(owner)) ids.set(e.aggregate.id, owner);
    }
    if (ids.size > MAX_GRANTS) return withoutGrants(`user ${userId} has had more than ${MAX_GRANTS} grants`);
    if (added.length < ZITADEL_MAX_EVENTS) return { grants: grants(), notes: unlisted };
    // older ones: created before the oldest read, OVERLAP_MICROS newer again (see there)
    const oldest = added.reduce<bigint | undefined>((min, e) => {
      const us = microsOf(e.creationDate);
      return us !== undefined && (min === undefined || us < min) ? us : min;
    }, undefined);
    const next = oldest === undefined ? undefined : oldest + OVERLAP_MICROS;
    if (call >= MAX_GRANT_SCANS || next === undefined || (before !== undefined && next >= before)) {
      // The current grants are known; only grants removed before the newest additions read may be missed.
      const since = oldest === undefined ? '' : ` before ${isoOfMicros(oldest)}`;
      return {
        grants: grants(),
        notes: [
          ...unlisted,
          `the events of user ${userId}'s current grants are shown, and of grants removed since the newest ${MAX_GRANT_SCANS * ZITADEL_MAX_EVENTS} grant additions of this Zitadel instance; a grant added${since} and removed since is not found. List orgId with categories ['grants'] for the organisation's grant events`,
        ],
      };
    }
    before = next;
  }
}

interface Merged {
  events: { event: ZEvent; userOfGrant?: string | undefined }[];
  /** A read was cut at its limit: older events exist, and the merge stops where that read ran out. */
  cut: boolean;
}

/**
 * The reads of several streams as one, newest first. Each read keeps Zitadel's own order (see
 * OVERLAP_MICROS); at each step the read whose next event was created latest goes first (ties: by
 * identity, so every page merges alike). A read cut at its limit may hold older events that belong before
 * the others' next ones: the merge stops when such a read runs out.
 */
function merge(sources: Source[], reads: ZEvent[][], asked: number): Merged {
  const next = reads.map(() => 0);
  const events: Merged['events'] = [];
  for (;;) {
    if (reads.some((r, i) => r.length >= asked && next[i] === r.length)) return { events, cut: true };
    let pick = -1;
    for (let i = 0; i < reads.length; i++) {
      const e = reads[i]?.[next[i] as number];
      if (!e) continue;
      const p = pick < 0 ? undefined : reads[pick]?.[next[pick] as number];
      if (!p || newer(e, p)) pick = i;
    }
    if (pick < 0) return { events, cut: false };
    const event = reads[pick]?.[next[pick] as number] as ZEvent;
    next[pick] = (next[pick] as number) + 1;
    events.push({ event, userOfGrant: sources[pick]?.userOfGrant });
  }
}

function newer(a: ZEvent, b: ZEvent): boolean {
  const ua = microsOf(a.creationDate) ?? 0n;
  const ub = microsOf(b.creationDate) ?? 0n;
  return ua !== ub ? ua > ub : identityOf(a) < identityOf(b);
}

export const eventsList = defineTool({
  name: 'events_list',
  toolset: 'users',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: 'Recent security events',
  description:
    'Newest events for a user or an organisation: logins, grants, key changes, lock/deactivate; paged by cursor.',
  annotations: READ,
  input: z.object({
    user: UserRef.optional(),
    orgId: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_-]+$/, 'an organisation id')
      .optional()
      .describe('Instead of user: all events of this organisation'),
    categories: z
      .array(z.enum(['logins', 'grants', 'keys', 'lifecycle']))
      .min(1)
      .max(4)
      .optional(),
    limit: z.number().int().min(1).max(100).default(50),
    cursor: Cursor,
  }),
  output: z.object({
    events: z.array(Event),
    returned: z.number().int(),
    truncated: z.boolean(),
    nextCursor: z.string().optional(),
    notes: z.array(z.string()).optional(),
  }),
  handler: async ({ user, orgId, categories, limit, cursor }, { zitadel, mapping, signal, maxOutputBytes }) => {
    if ((user === undefined) === (orgId === undefined)) {
      throw new ToolError('ERR_INVALID_INPUT', 'name exactly one of user or orgId');
    }
    const at = cursor === undefined ? undefined : readCursor(cursor);
    const home = await zitadel.homeOrgId(signal);
    if (orgId !== undefined && orgId !== home) {
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        `organisation ${orgId} is not this server's organisation ${home} (ZITADEL_ORG_ID): the server reads its own organisation's events only`,
      );
    }
    const userId = user ? (await resolveUser(zitadel, user, signal)).userId : undefined;
    const eventTypes = (categories as Category[] | undefined)?.flatMap((c) => [...CATEGORIES[c]]);
    const types = eventTypes ? { eventTypes } : {};
    // One stream per aggregate: the user's own, and each of the user's grants (their events are on the
    // grant's aggregate); an organisation's events are one stream.
    const sources: Source[] = [];
    const notes: string[] = [];
    if (userId !== undefined) {
      sources.push({ filter: { aggregateType: 'user', aggregateId: userId, ...types } });
      if (!categories || categories.includes('grants')) {
        const grants = await grantsOf(zitadel, userId, mapping.allowedOrgIds, categories !== undefined, signal);
        notes.push(...grants.notes);
        for (const { id, owner } of grants.grants)
          sources.push({
            filter: { aggregateType: GRANT_AGGREGATE, aggregateId: id, resourceOwner: owner, ...types },
            userOfGrant: userId,
          });
      }
    } else sources.push({ filter: { resourceOwner: orgId, ...types } });
    // A page continues right after the last event shown, found again by its identity in a read that reaches
    // OVERLAP_MICROS newer than it (see there). One more than asked: whether an older page exists is then
    // known, not guessed. The events read again before it are skipped; when they fill the read, it is
    // asked again with a larger limit, up to Zitadel's cap.
    let asked = Math.min(at ? 4 * (limit + 1) : limit + 1, ZITADEL_MAX_EVENTS);
    let read: Merged;
    let rest: Merged['events'];
    for (;;) {
      const createdBefore = at ? isoOfMicros(at.micros + OVERLAP_MICROS) : undefined;
      const reads = await Promise.all(
        sources.map((src) =>
          zitadel.listEvents({ ...src.filter, ...(createdBefore ? { createdBefore } : {}), limit: asked }, signal),
        ),
      );
      read = merge(sources, reads, asked);
      if (!at) {
        rest = read.events;
        break;
      }
      const lastAt = read.events.findIndex((m) => identityOf(m.event) === at.last);
      rest = lastAt >= 0 ? read.events.slice(lastAt + 1) : [];
      // done when the page is full, or the reads held every event there is
      if (rest.length > limit || !read.cut) {
        if (lastAt >= 0) break;
        throw new ToolError(
          'ERR_INVALID_INPUT',
          'Zitadel no longer lists the event this cursor continues from; omit the cursor to start from the newest',
        );
      }
      if (asked === ZITADEL_MAX_EVENTS) {
        if (rest.length > 0) break;
        throw new ToolError(
          'ERR_INVALID_INPUT',
          `more than ${ZITADEL_MAX_EVENTS} events were created within ${OVERLAP_MICROS / 1_000_000n} s of this cursor's last event, and a page reads them again to miss none (Zitadel cannot page past them otherwise); narrow the listing with categories`,
        );
      }
      asked = Math.min(asked * 4, ZITADEL_MAX_EVENTS);
    }
    const shown = rest.slice(0, limit);
    const wanted = shown.map((m) => toEvent(m.event, m.userOfGrant));
    // cut to the output budget (its offset cursor unused): this tool's cursor continues right below the last
    // event shown, by creation time and identity, wherever newer events have pushed it meanwhile
    const page = pageList(wanted, {
      maxBytes: itemBudget(maxOutputBytes) - (notes.length > 0 ? jsonBytes(notes) : 0),
    }).items;
    // more than the page: one more came, a read was cut at its limit, or the budget cut the page
    const truncated = rest.length > limit || read.cut || page.length < wanted.length;
    const last = shown[page.length - 1]?.event;
    const lastMicros = microsOf(last?.creationDate);
    const next =
      truncated && last && lastMicros !== undefined
        ? Buffer.from(`p:${lastMicros}:${identityOf(last)}`).toString('base64url')
        : undefined;
    return {
      events: page,
      returned: page.length,
      truncated,
      ...(next ? { nextCursor: next } : {}),
      ...(notes.length > 0 ? { notes } : {}),
    };
  },
});

export const eventTools = [eventsList];
