import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { TextMethod, ZGrant, ZitadelBackend, ZUser } from '../backend.js';

/** Shapes shared by several tools, defined once. */

export const UserRef = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s]+$/, 'must be a user id, username or login name without spaces')
  .describe('User id, username or login name (user@org-domain)');

export const ProjectRef = z
  .string()
  .min(1)
  .max(200)
  .describe('Project id or exact name; default: the configured MCP project');

export const Limit = z.number().int().min(1).max(100).default(20);
export const Cursor = z.string().max(64).optional().describe('nextCursor from the previous page');

export const Page = {
  total: z.number().int(),
  returned: z.number().int(),
  truncated: z.boolean(),
  nextCursor: z.string().optional(),
};

/** What a page could not show (rows beyond the bound, a listing that changed meanwhile). */
export const Notes = z.array(z.string()).optional();

/** A keyed page's paging fields and notes (none: no field), as the tools answer them. */
export function paging(page: {
  total: number;
  returned: number;
  truncated: boolean;
  nextCursor?: string;
  notes: readonly string[];
}): z.output<z.ZodObject<typeof Page>> & { notes?: string[] } {
  return {
    total: page.total,
    returned: page.returned,
    truncated: page.truncated,
    ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    ...(page.notes.length > 0 ? { notes: [...page.notes] } : {}),
  };
}

export const User = z.object({
  id: z.string(),
  username: z.string(),
  type: z.enum(['human', 'machine']),
  state: z.string(),
  loginName: z.string().optional(),
  orgId: z.string().optional(),
  displayName: z.string().optional(),
  email: z.string().optional(),
  emailVerified: z.boolean().optional(),
  description: z.string().optional(),
  accessTokenType: z.enum(['bearer', 'jwt']).optional(),
  created: z.string().optional(),
});
export type UserOut = z.output<typeof User>;

/** Only on a grant an operator deactivated in Zitadel: it keeps its roles, and they go into no token. */
export const GrantState = z
  .literal('inactive')
  .optional()
  .describe('Deactivated in Zitadel: its roles are in no token');

export const Grant = z.object({
  id: z.string(),
  projectId: z.string(),
  projectName: z.string().optional(),
  orgId: z.string(),
  orgName: z.string().optional(),
  roles: z.array(z.string()),
  state: GrantState,
});

/** `{ state: 'inactive' }` for a deactivated grant, else nothing (as effectiveAccess counts it). */
export function grantState(g: ZGrant): { state?: 'inactive' } {
  return g.state === 'USER_GRANT_STATE_INACTIVE' ? { state: 'inactive' } : {};
}

/** `USER_STATE_ACTIVE` -> `active`. */
export function shortEnum(value: string | undefined, prefix: string): string {
  if (!value) return 'unspecified';
  return value.startsWith(prefix) ? value.slice(prefix.length).toLowerCase() : value.toLowerCase();
}

export function toUser(u: ZUser): UserOut {
  const out: UserOut = {
    id: u.userId,
    username: u.username ?? '',
    type: u.machine ? 'machine' : 'human',
    state: shortEnum(u.state, 'USER_STATE_'),
  };
  if (u.preferredLoginName) out.loginName = u.preferredLoginName;
  if (u.details?.resourceOwner) out.orgId = u.details.resourceOwner;
  const display = u.human?.profile?.displayName ?? u.machine?.name;
  if (display) out.displayName = display;
  if (u.human?.email?.email) {
    out.email = u.human.email.email;
    out.emailVerified = u.human.email.isVerified === true;
  }
  if (u.machine) {
    if (u.machine.description) out.description = u.machine.description;
    // ACCESS_TOKEN_TYPE_BEARER is the enum's zero value: Zitadel leaves it out.
    out.accessTokenType = u.machine.accessTokenType === 'ACCESS_TOKEN_TYPE_JWT' ? 'jwt' : 'bearer';
  }
  if (u.details?.creationDate) out.created = u.details.creationDate;
  return out;
}

export function toGrant(g: ZGrant): z.output<typeof Grant> {
  return {
    id: g.id,
    projectId: g.projectId ?? '',
    ...(g.projectName ? { projectName: g.projectName } : {}),
    orgId: g.orgId ?? '',
    ...(g.orgName ? { orgName: g.orgName } : {}),
    roles: g.roleKeys ?? [],
    ...grantState(g),
  };
}

/** Bytes of a page's items: the output budget less room for the fields around them. */
export const itemBudget = (maxOutputBytes: number) => maxOutputBytes - 512;

const NUMERIC_ID = /^\d{1,30}$/;

/**
 * A user of the server's organisation by id, username or login name: names are searched there only, and a
 * user of another organisation (by id) is refused. A name that matches several users is an error listing
 * the candidates, never a guess.
 */
export async function resolveUser(zitadel: ZitadelBackend, ref: string, signal: AbortSignal): Promise<ZUser> {
  const home = await zitadel.homeOrgId(signal);
  let denied: ToolError | undefined;
  if (NUMERIC_ID.test(ref)) {
    let byId: ZUser | undefined;
    try {
      byId = await zitadel.getUser(ref, signal);
    } catch (err) {
      // A purely numeric username is possible: fall back to a name search only on "not found".
      if (!(err instanceof ToolError) || (err.code !== 'ERR_NOT_FOUND' && err.code !== 'ERR_NOT_ALLOWED')) throw err;
      // Zitadel checks user.read on the user's organisation after finding it (GetUserByIDWithPermission):
      // PERMISSION_DENIED is a user of an organisation this server's account does not manage, unless the
      // user turns out to be of the server's own (then the account lacks a role there, and that is the answer).
      if (err.code === 'ERR_NOT_ALLOWED') denied = err;
    }
    if (byId) return inOrganisation(byId, home);
    if (denied) {
      const own = await zitadel.searchUsers([{ inUserIdsQuery: { userIds: [ref] } }, inOrg(home)], ONE, signal);
      if (own.result.length > 0) throw denied;
    }
  }
  const hits = await zitadel.searchUsers([byName(ref), inOrg(home)], { offset: 0, limit: 10 }, signal);
  // Only users the reference names: Zitadel versions before NewTextQuery escaped LIKE wildcards
  // (internal/query/search_query.go, database.EscapeLikeWildcards) read `_` and `%` in an ignore-case match
  // as wildcards, so `agent_x` also found agent-x. A reference is a name, never a pattern.
  const wanted = ref.toLowerCase();
  const named = hits.result.filter(
    (u) => u.username?.toLowerCase() === wanted || u.loginNames?.some((n) => n.toLowerCase() === wanted),
  );
  if (named.length === 0 && hits.total > hits.result.length) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `Zitadel's search for '${ref}' matched ${hits.total} users, none of the first ${hits.result.length} named so; pass the id`,
    );
  }
  const found = { total: named.length === hits.result.length ? hits.total : named.length, result: named };
  if (found.result.length === 0) {
    if (denied) {
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        `user ${ref} is not among the users of this server's organisation ${home} (ZITADEL_ORG_ID), and Zitadel does not let this server's account read it: it belongs to another organisation, and the server acts on users of its own organisation only (find them with users_search). Only if it is of ${home} does the account lack a role there (e.g. ORG_USER_MANAGER)`,
      );
    }
    throw new ToolError(
      'ERR_NOT_FOUND',
      `no user of organisation ${home} is named '${ref}'; search with users_search (this server acts in that organisation only)`,
    );
  }
  // names match in any case, as Zitadel's logins do; of several, the one spelled exactly so is no guess
  const exact = found.result.filter((u) => u.username === ref || u.loginNames?.includes(ref));
  if (exact.length === 1) return inOrganisation(exact[0] as ZUser, home);
  if (found.result.length > 1 || found.total > 1) {
    const candidates = found.result.map((u) => `${u.preferredLoginName ?? u.username} (id ${u.userId})`).join(', ');
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `'${ref}' matches ${found.total} users: ${candidates}; pass the id or the full login name`,
      { candidates: found.result.map((u) => u.userId) },
    );
  }
  return inOrganisation(found.result[0] as ZUser, home);
}

const ONE = { offset: 0, limit: 1 };

/** The v2 user search query for a username or login name. */
function byName(ref: string): object {
  // Zitadel matches login names without regard to case (internal/query/user_by_login_name.sql compares
  // user_name_lower): `Alice` logs in as alice, so it names alice here too
  const byUsername = { userNameQuery: { userName: ref, method: 'TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE' } };
  // An "@" may be a login name (user@org-domain) or part of the username itself (an email as username):
  // where login names must carry the organisation's domain, the login name of `a@b.c` is `a@b.c@org-domain`.
  return ref.includes('@')
    ? {
        orQuery: {
          queries: [{ loginNameQuery: { loginName: ref, method: 'TEXT_QUERY_METHOD_EQUALS_IGNORE_CASE' } }, byUsername],
        },
      }
    : byUsername;
}

/** The v2 user search query for the users of one organisation. */
export function inOrg(orgId: string): object {
  return { organizationIdQuery: { organizationId: orgId } };
}

/**
 * `u`, if it belongs to the server's organisation: v2 user calls reach every organisation the server's
 * account may manage, and x-zitadel-orgid does not bound them, so the tools do.
 */
function inOrganisation(u: ZUser, home: string): ZUser {
  const org = u.details?.resourceOwner;
  if (org === home) return u;
  throw new ToolError(
    'ERR_NOT_ALLOWED',
    `user ${u.userId} belongs to ${org ? `organisation ${org}` : 'an organisation Zitadel did not name'}, not to this server's organisation ${home} (ZITADEL_ORG_ID): the server acts on users of its own organisation only`,
  );
}

/** A project by id or exact name; without a ref, the configured project. */
export async function resolveProject(
  zitadel: ZitadelBackend,
  ref: string | undefined,
  configured: string | undefined,
  signal: AbortSignal,
): Promise<{ id: string; name?: string }> {
  const wanted = ref ?? configured;
  if (!wanted) {
    throw new ToolError('ERR_INVALID_INPUT', 'name a project: no MCP project is configured (roles.projectId)');
  }
  if (NUMERIC_ID.test(wanted)) return { id: wanted };
  const method: TextMethod = 'TEXT_QUERY_METHOD_EQUALS';
  const found = await zitadel.listProjects({ value: wanted, method }, { offset: 0, limit: 10 }, signal);
  if (found.result.length === 0)
    throw new ToolError('ERR_NOT_FOUND', `no project is named '${wanted}'; see projects_list`);
  if (found.result.length > 1) {
    const candidates = found.result.map((p) => `${p.name} (id ${p.id})`).join(', ');
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `'${wanted}' matches ${found.result.length} projects: ${candidates}; pass the id`,
    );
  }
  const p = found.result[0] as { id: string; name?: string };
  return { id: p.id, ...(p.name ? { name: p.name } : {}) };
}

/**
 * How a plan names a user: resolved now, with id, type and state, so whoever confirms sees exactly which
 * account the call will touch (a name alone could be another account by the time it runs).
 */
export async function planUser(zitadel: ZitadelBackend, ref: string, signal: AbortSignal): Promise<string> {
  return userLabel(await resolveUser(zitadel, ref, signal), ref);
}

/** A resolved user as plans name it: login name, id, type and state. */
export function userLabel(u: ZUser, ref: string): string {
  const name = u.preferredLoginName ?? u.username ?? ref;
  return `${name} (id ${u.userId}, ${u.machine ? 'service account' : 'human'}, ${shortEnum(u.state, 'USER_STATE_')})`;
}
