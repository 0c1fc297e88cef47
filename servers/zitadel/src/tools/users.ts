import { z } from 'zod';
import { defineTool, READ } from './define.js';
import { idOr, listWhole } from './keyset.js';
import {
  Cursor,
  Grant,
  inOrg,
  itemBudget,
  Limit,
  Notes,
  Page,
  paging,
  resolveUser,
  toGrant,
  toUser,
  User,
  UserRef,
} from './shapes.js';
import { type ReadGrant, userGrantsPage } from './user-grants.js';

const STATES = ['active', 'inactive', 'locked', 'initial'] as const;

/** Users read per page (each page reads them all: see keyset.ts); more are not paged, and the answer says so. */
const MAX_USERS = 1000;

export const usersSearch = defineTool({
  name: 'users_search',
  toolset: 'users',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: 'Search users',
  description: "Search this organisation's users and service accounts by username or email (substring), type, state.",
  annotations: READ,
  input: z.object({
    username: z.string().min(1).max(200).optional().describe('Substring of the username, any case'),
    email: z.string().min(1).max(200).optional().describe('Substring of the email, any case'),
    type: z.enum(['human', 'machine']).optional(),
    state: z.enum(STATES).optional(),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ users: z.array(User), ...Page, notes: Notes }),
  handler: async ({ username, email, type, state, limit, cursor }, { zitadel, signal, maxOutputBytes }) => {
    const queries: object[] = [];
    if (username)
      queries.push({ userNameQuery: { userName: username, method: 'TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE' } });
    if (email) queries.push({ emailQuery: { emailAddress: email, method: 'TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE' } });
    if (type) queries.push({ typeQuery: { type: type === 'human' ? 'TYPE_HUMAN' : 'TYPE_MACHINE' } });
    if (state) queries.push({ stateQuery: { state: `USER_STATE_${state.toUpperCase()}` } });
    const home = await zitadel.homeOrgId(signal);
    queries.push(inOrg(home));
    const page = await listWhole((window) => zitadel.searchUsers(queries, window, signal), {
      idOf: (u, n) => idOr(u.userId, n),
      show: toUser,
      // the search asks for the home organisation's users; one Zitadel says is another's is not shown
      keep: {
        row: (u) => (u.details?.resourceOwner ?? home) === home,
        dropped: `they belong to another organisation than this server's ${home}`,
      },
      max: MAX_USERS,
      what: 'users',
      narrow: 'narrow it with username, email, type or state',
      tool: 'users_search',
      bind: JSON.stringify(queries),
      cursor,
      limit,
      maxBytes: itemBudget(maxOutputBytes),
    });
    return { users: page.items, ...paging(page) };
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
    notes: Notes,
  }),
  handler: async ({ user, limit, cursor }, { zitadel, mapping, signal, maxOutputBytes }) => {
    const u = await resolveUser(zitadel, user, signal);
    const page = await userGrantsPage(
      zitadel,
      u.userId,
      mapping.allowedOrgIds,
      { limit, cursor, maxBytes: itemBudget(maxOutputBytes), show: toGrantOf },
      signal,
    );
    return {
      user: { id: u.userId, username: u.username ?? '' },
      grants: page.items,
      total: page.total,
      returned: page.returned,
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
