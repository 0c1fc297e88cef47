import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { ACCESS_LEVELS, checkGrant, LEVEL_NAMES } from '../access.js';
import {
  type Api,
  decodeOffsetCursor,
  encodeOffsetCursor,
  fitPage,
  type GitLabBackend,
  type OffsetCursor,
} from '../backend.js';
import { defineTool } from './define.js';
import {
  Cursor,
  clip,
  fitItems,
  GroupPath,
  Limit,
  num,
  Paging,
  pagingOf,
  type Rec,
  Search,
  str,
  strOrNull,
} from './shapes.js';

const levelName = (n: unknown) => LEVEL_NAMES.find((k) => ACCESS_LEVELS[k] === n) ?? `level ${String(n)}`;

export const Username = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9_.-]+$/, 'a GitLab username')
  .describe('GitLab username');

const GroupSummary = z.object({
  path: z.string(),
  name: z.string(),
  visibility: z.string(),
  parent: z.string().nullable(),
});
const groupOf = (g: Rec) => {
  const full = str(g.full_path);
  return {
    path: full,
    name: str(g.name),
    visibility: str(g.visibility),
    parent: full.includes('/') ? full.slice(0, full.lastIndexOf('/')) : null,
  };
};

export const groupsList = defineTool({
  name: 'groups_list',
  toolset: 'groups',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List groups',
  description: 'List or search the groups the server may see (allowlisted paths only); paged.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ search: Search, limit: Limit, cursor: Cursor }),
  output: z.object({ groups: z.array(GroupSummary), hiddenByAllowlist: z.number(), ...Paging }),
  handler: async ({ search, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    if (gitlab.allowlist.restricted) return scanAllowedGroups(gitlab, signal, search, limit, cursor, maxOutputBytes);
    const page = await gitlab.page<Rec>('the group list', signal, cursor, limit, (api, req) =>
      api.Groups.all({ ...req, ...(search ? { search } : {}) } as never),
    );
    const visible = page.items.filter((g) => gitlab.allowlist.allows(str(g.full_path)));
    const fitted = fitPage({ ...page, items: visible.map(groupOf) }, cursor, limit, maxOutputBytes - 512);
    return { groups: fitted.items, hiddenByAllowlist: page.items.length - visible.length, ...pagingOf(fitted) };
  },
});

/** GitLab pages of 100 read for one call when the allowlist hides part of the list. */
const SCAN_PAGES = 5;

/**
 * groups_list under an allowlist that is not "**": GitLab's search would make the hidden count and
 * the paging an oracle for the names of groups outside it, so the list is read unfiltered and the
 * search applies here, to the allowed groups only.
 */
async function scanAllowedGroups(
  gitlab: GitLabBackend,
  signal: AbortSignal,
  search: string | undefined,
  limit: number,
  cursor: string | undefined,
  maxOutputBytes: number,
) {
  const needle = search?.toLowerCase();
  const at = decodeOffsetCursor(cursor) ?? { page: 1, perPage: 100, skip: 0 };
  const found: { group: ReturnType<typeof groupOf>; page: number; index: number; hiddenBefore: number }[] = [];
  let hidden = 0;
  let page = at.page;
  let skip = at.skip;
  let next: OffsetCursor | undefined;
  for (let n = 0; n < SCAN_PAGES && found.length < limit; n++) {
    const res = await gitlab.page<Rec>(
      'the group list',
      signal,
      encodeOffsetCursor({ ...at, page, skip }),
      0,
      (api, req) => api.Groups.all(req as never),
    );
    res.items.forEach((g, i) => {
      if (found.length >= limit) return;
      if (!gitlab.allowlist.allows(str(g.full_path))) hidden++;
      else if (!needle || [g.full_path, g.name].some((v) => str(v).toLowerCase().includes(needle)))
        found.push({ group: groupOf(g), page, index: skip + i, hiddenBefore: hidden });
    });
    const last = found.at(-1);
    if (found.length >= limit && last) {
      // continue on this page after the last group taken, or on GitLab's next page, or nowhere
      const restOfPage = last.index + 1 < skip + res.items.length;
      next = restOfPage ? { page, perPage: at.perPage, skip: last.index + 1 } : decodeOffsetCursor(res.nextCursor);
      break;
    }
    if (!res.nextCursor) break;
    const after = decodeOffsetCursor(res.nextCursor) as OffsetCursor;
    page = after.page;
    skip = 0;
    next = n + 1 === SCAN_PAGES ? after : undefined;
  }
  // what fits the output budget; a cut continues right after the last group shown
  const groups = fitItems(
    found.map((f) => f.group),
    maxOutputBytes - 512,
  );
  const lastShown = found[groups.length - 1];
  if (groups.length < found.length && lastShown) {
    next = { page: lastShown.page, perPage: at.perPage, skip: lastShown.index + 1 };
    hidden = lastShown.hiddenBefore;
  }
  return {
    groups,
    hiddenByAllowlist: hidden,
    // GitLab's count includes the hidden groups: not a count of what this list can show
    total: null,
    truncated: next !== undefined,
    ...(next ? { nextCursor: encodeOffsetCursor(next) } : {}),
  };
}

export const groupsGet = defineTool({
  name: 'groups_get',
  toolset: 'groups',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Get a group',
  description: 'One group by full path: name, visibility, parent, description, URL.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ group: GroupPath }),
  output: GroupSummary.extend({
    id: z.number(),
    description: z.string(),
    webUrl: z.string(),
    createdAt: z.string().nullable(),
  }),
  handler: async ({ group }, { gitlab, signal }) => {
    const path = gitlab.group(group);
    const g = (await gitlab.call(`group "${group}"`, signal, (api) =>
      api.Groups.show(path, { withProjects: false } as never),
    )) as unknown as Rec;
    gitlab.same('group', group, g.full_path);
    return {
      ...groupOf(g),
      id: num(g.id),
      description: clip(g.description, 1000),
      webUrl: str(g.web_url),
      createdAt: strOrNull(g.created_at),
    };
  },
});

const Member = z.object({
  username: z.string(),
  name: z.string(),
  accessLevel: z.string(),
  state: z.string(),
  expiresAt: z.string().nullable(),
});
const memberOf = (m: Rec) => ({
  username: str(m.username),
  name: str(m.name),
  accessLevel: levelName(m.access_level),
  state: str(m.state),
  expiresAt: strOrNull(m.expires_at),
});

export const groupsListMembers = defineTool({
  name: 'groups_list_members',
  toolset: 'groups',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List group members',
  description: "List a group's direct members with their access level; paged.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ group: GroupPath, limit: Limit, cursor: Cursor }),
  output: z.object({ members: z.array(Member), ...Paging }),
  handler: async ({ group, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    const page = await gitlab.page<Rec>(`members of group "${group}"`, signal, cursor, limit, (api, req) =>
      api.GroupMembers.all(gitlab.group(group), req as never),
    );
    const fitted = fitPage({ ...page, items: page.items.map(memberOf) }, cursor, limit, maxOutputBytes - 512);
    return { members: fitted.items, ...pagingOf(fitted) };
  },
});

/** GitLab's member APIs take user ids; agents know usernames. */
export async function userIdOf(api: Api, username: string): Promise<number> {
  const found = (await api.Users.all({ username, page: 1, perPage: 1, maxPages: 1 } as never)) as unknown as Rec[];
  const u = found[0];
  if (!u) throw new ToolError('ERR_NOT_FOUND', `no GitLab user "${username}"; search with users_list`);
  return num(u.id);
}

export const groupsAddMember = defineTool({
  name: 'groups_add_member',
  toolset: 'groups',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Add a group member',
  description:
    'Add a user to a group with a role up to the configured ceiling (default maintainer); fails if a member.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({
    group: GroupPath,
    username: Username,
    accessLevel: z.enum(LEVEL_NAMES).describe('Role to grant'),
    expiresAt: z.iso.date().optional().describe('Membership end date, YYYY-MM-DD'),
  }),
  output: Member,
  handler: async ({ group, username, accessLevel, expiresAt }, { gitlab, signal }) => {
    // membership reaches every subgroup and project of the group: all of it must be allowed
    const path = gitlab.allowlist.checkSubtree(group);
    const level = checkGrant(accessLevel, gitlab.memberMaxAccess, `adding ${username} to "${group}"`);
    const m = (await gitlab.call(`adding ${username} to group "${group}"`, signal, async (api) =>
      api.GroupMembers.add(path, level, {
        userId: await userIdOf(api, username),
        ...(expiresAt ? { expiresAt } : {}),
      } as never),
    )) as unknown as Rec;
    return memberOf(m);
  },
});

export const groupsRemoveMember = defineTool({
  name: 'groups_remove_member',
  toolset: 'groups',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Remove a group member',
  description: 'Remove a user from a group (their access through it ends at once).',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.object({ group: GroupPath, username: Username }),
  output: z.object({ removed: z.boolean(), username: z.string(), group: z.string() }),
  plan: ({ group, username }) => `remove ${username} from group ${group}; they lose the access the group gave them`,
  handler: async ({ group, username }, { gitlab, signal }) => {
    const path = gitlab.allowlist.checkSubtree(group);
    await gitlab.call(`removing ${username} from group "${group}"`, signal, async (api) =>
      api.GroupMembers.remove(path, await userIdOf(api, username)),
    );
    return { removed: true, username, group };
  },
});

export const groupTools = [groupsList, groupsGet, groupsListMembers, groupsAddMember, groupsRemoveMember] as const;
