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
    let before: number | undefined;
    if (cursor !== undefined) {
      const m = /^s:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (!m)
        throw new ToolError(
          'ERR_INVALID_INPUT',
          'cursor is not one this server issued; omit it to start from the newest',
        );
      before = Number(m[1]);
    }
    const home = await zitadel.homeOrgId(signal);
    if (orgId !== undefined && orgId !== home) {
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        `organisation ${orgId} is not this server's organisation ${home} (ZITADEL_ORG_ID): the server reads its own organisation's events only`,
      );
    }
    const userId = user ? (await resolveUser(zitadel, user, signal)).userId : undefined;
    const eventTypes = (categories as Category[] | undefined)?.flatMap((c) => [...CATEGORIES[c]]);
    // One more than asked: whether an older page exists is then known, not guessed.
    const raw = await zitadel.listEvents(
      {
        ...(userId ? { aggregateId: userId } : {}),
        ...(orgId ? { resourceOwner: orgId } : {}),
        ...(eventTypes ? { eventTypes } : {}),
        ...(before !== undefined ? { before } : {}),
        limit: limit + 1,
      },
      signal,
    );
    const wanted = raw.slice(0, limit).map(toEvent);
    // cut to the output budget: the cursor then continues right below the last event shown
    const page = pageOf({ total: wanted.length }, { offset: 0 }, wanted, itemBudget(maxOutputBytes)).items;
    const truncated = raw.length > limit || page.length < wanted.length;
    const last = page.at(-1)?.sequence;
    return {
      events: page,
      returned: page.length,
      truncated,
      ...(truncated && last ? { nextCursor: Buffer.from(`s:${last}`).toString('base64url') } : {}),
    };
  },
});

export const eventTools = [eventsList];
