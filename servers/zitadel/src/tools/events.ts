import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { ZEvent } from '../backend.js';
import { defineTool, READ } from './define.js';
import { Cursor, itemBudget, pageOf, resolveUser, UserRef } from './shapes.js';

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
  grants: ['user.grant.added', 'user.grant.changed', 'user.grant.removed', 'user.grant.cascade.removed'],
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

const Event = z.object({
  sequence: z.string(),
  at: z.string(),
  type: z.string(),
  category: z.string(),
  userId: z.string().optional(),
  editorId: z.string().optional(),
  editor: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});

function categoryOf(type: string): string {
  for (const [name, types] of Object.entries(CATEGORIES)) if ((types as readonly string[]).includes(type)) return name;
  return 'other';
}

function toEvent(e: ZEvent): z.output<typeof Event> {
  const type = e.type?.type ?? '';
  const details = Object.fromEntries(
    SAFE_PAYLOAD.filter((k) => e.payload && Object.hasOwn(e.payload, k)).map((k) => [k, e.payload?.[k]]),
  );
  return {
    sequence: String(e.sequence ?? ''),
    at: e.creationDate ?? '',
    type,
    category: categoryOf(type),
    ...(e.aggregate?.type?.type === 'user' && e.aggregate.id ? { userId: e.aggregate.id } : {}),
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

/** A cursor this tool issued: the creation time of the last event shown, and how many of that time were. */
function readCursor(cursor: string): { micros: bigint; shown: number } {
  const m = /^t:(\d{1,17}):(\d{1,6})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m)
    throw new ToolError('ERR_INVALID_INPUT', 'cursor is not one this server issued; omit it to start from the newest');
  const shown = Number(m[2]);
  if (shown >= ZITADEL_MAX_EVENTS) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `more than ${ZITADEL_MAX_EVENTS} events share one creation time (one transaction wrote them): Zitadel's ListEvents cannot page past them; narrow the listing with categories`,
    );
  }
  return { micros: BigInt(m[1] as string), shown };
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
  }),
  handler: async ({ user, orgId, categories, limit, cursor }, { zitadel, signal, maxOutputBytes }) => {
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
    // A page continues from the creation time of the last event shown: events created up to and including
    // that microsecond are asked for (several share it when one transaction wrote them), and those of it
    // already shown are skipped, so nothing is listed twice or left out. One more than asked: whether an
    // older page exists is then known, not guessed.
    const asked = Math.min(limit + 1 + (at?.shown ?? 0), ZITADEL_MAX_EVENTS);
    const raw = await zitadel.listEvents(
      {
        ...(userId ? { aggregateId: userId } : {}),
        ...(orgId ? { resourceOwner: orgId } : {}),
        ...(eventTypes ? { eventTypes } : {}),
        ...(at ? { createdBefore: isoOfMicros(at.micros + 1n) } : {}),
        limit: asked,
      },
      signal,
    );
    let skip = 0;
    while (at && skip < at.shown && microsOf(raw[skip]?.creationDate) === at.micros) skip++;
    const rest = raw.slice(skip);
    const wanted = rest.slice(0, limit).map(toEvent);
    // cut to the output budget: the cursor then continues right below the last event shown
    const page = pageOf({ total: wanted.length }, { offset: 0 }, wanted, itemBudget(maxOutputBytes)).items;
    // all that was asked for came: there is more (rest then holds one more than limit, unless Zitadel's cap cut it)
    const truncated = raw.length >= asked || page.length < wanted.length;
    const lastAt = microsOf(page.at(-1)?.at);
    let next: string | undefined;
    if (truncated && lastAt !== undefined) {
      const shown = page.filter((e) => microsOf(e.at) === lastAt).length;
      next = Buffer.from(`t:${lastAt}:${shown + (at?.micros === lastAt ? skip : 0)}`).toString('base64url');
    }
    return {
      events: page,
      returned: page.length,
      truncated,
      ...(next ? { nextCursor: next } : {}),
    };
  },
});

export const eventTools = [eventsList];
