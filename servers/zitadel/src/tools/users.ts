import { pageList } from '@ravenhelm/kit';
import { z } from 'zod';
import { defineTool, READ } from './define.js';
import {
  Cursor,
  Grant,
  inOrg,
  itemBudget,
  Limit,
  Page,
  pageOf,
  resolveUser,
  toGrant,
  toUser,
  User,
  UserRef,
  windowOf,
} from './shapes.js';
import { type ReadGrant, userGrantsPage } from './user-grants.js';

const STATES = ['active', 'inactive', 'locked', 'initial'] as const;

export const usersSearch = defineTool({
  name: 'users_search',
  toolset: 'users',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: 'Search users',
  description:
    "Search this organisation's users and service accounts by username or email (substring), type, state; exact total.",
  annotations: READ,
  input: z.object({
    username: z.string().min(1).max(200).optional().describe('Substring of the username, any case'),
    email: z.string().min(1).max(200).optional().describe('Substring of the email, any case'),
    type: z.enum(['human', 'machine']).optional(),
    state: z.enum(STATES).optional(),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ users: z.array(User), ...Page }),
  handler: async ({ username, email, type, state, limit, cursor }, { zitadel, signal, maxOutputBytes }) => {
    const queries: object[] = [];
    if (username)
      queries.push({ userNameQuery: { userName: username, method: 'TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE' } });
    if (email) queries.push({ emailQuery: { emailAddress: email, method: 'TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE' } });
    if (type) queries.push({ typeQuery: { type: type === 'human' ? 'TYPE_HUMAN' : 'TYPE_MACHINE' } });
    if (state) queries.push({ stateQuery: { state: `USER_STATE_${state.toUpperCase()}` } });
    queries.push(inOrg(await zitadel.homeOrgId(signal)));
    const window = windowOf(cursor, limit);
    const res = await zitadel.searchUsers(queries, window, signal);
    const page = pageOf(res, window, res.result.map(toUser), itemBudget(maxOutputBytes));
    return { users: page.items, ...page.paging };
  },
});

export const usersGet = defineTool({
  name: 'users_get',
  toolset: 'users',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: 'Get a user',
  description:
    'One Zitadel user or service account by id, username or login name; an ambiguous name lists the candidates.',
  annotations: READ,
  input: z.object({ user: UserRef }),
  output: z.object({ user: User }),
  handler: async ({ user }, { zitadel, signal }) => ({ user: toUser(await resolveUser(zitadel, user, signal)) }),
});

export const usersListGrants = defineTool({
  name: 'users_list_grants',
  toolset: 'users',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: "List a user's role grants",
  description:
    "Grants from the user's org and each allowed org, with project and granting org; deactivated: state inactive.",
  annotations: READ,
  input: z.object({ user: UserRef, limit: Limit, cursor: Cursor }),
  output: z.object({
    user: z.object({ id: z.string(), username: z.string() }),
    grants: z.array(Grant),
    ...Page,
    unreadableOrgs: z.array(z.string()).optional(),
    notes: z.array(z.string()).optional(),
  }),
  handler: async ({ user, limit, cursor }, { zitadel, mapping, signal, maxOutputBytes }) => {
    const u = await resolveUser(zitadel, user, signal);
    const fits = (items: ReadGrant[], reserved: number) =>
      pageList(items.map(toGrantOf), { maxBytes: itemBudget(maxOutputBytes) - reserved }).items.length;
    const page = await userGrantsPage(zitadel, u.userId, mapping.allowedOrgIds, { limit, cursor, fits }, signal);
    return {
      user: { id: u.userId, username: u.username ?? '' },
      grants: page.shown.map(toGrantOf),
      total: page.total,
      returned: page.shown.length,
      truncated: page.truncated,
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      ...(page.unreadableOrgs.length > 0 ? { unreadableOrgs: page.unreadableOrgs } : {}),
      ...(page.notes.length > 0 ? { notes: page.notes } : {}),
    };
  },
});

/** A grant as listed; the organisation whose listing showed it when Zitadel left its own field out. */
const toGrantOf = (g: ReadGrant) => ({ ...toGrant(g.grant), orgId: g.grant.orgId || g.orgId });

export const userTools = [usersSearch, usersGet, usersListGrants];
