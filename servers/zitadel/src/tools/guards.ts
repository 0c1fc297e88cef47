import { ToolError } from '@ravenhelm/kit';
import { missingScopes } from '@ravenhelm/registry';
import { z } from 'zod';
import type { ZAdministrator, ZitadelBackend, ZMembership } from '../backend.js';
import { allGrants, effectiveAccess } from './capabilities.js';
import type { RoleMapping } from './define.js';

/**
 * What a HIGH caller may not do with this server's power: make itself an account that administers
 * Zitadel (keys of administrators, checked against Zitadel's own answer right before the write), or give
 * an agent scopes it does not hold itself.
 */

/** Memberships read per account; more are summarised ("and N more"), never a reason to allow. */
const MEMBERSHIP_PAGE = 20;

/** `ORG_OWNER on organisation Ravenhelm (id 1)`: which power, over what. */
export function describeMembership(m: ZMembership): string {
  const roles = m.roles?.length ? m.roles.join('+') : 'a membership without roles';
  const named = (kind: string, id: string) => `${kind} ${m.displayName ? `${m.displayName} ` : ''}(id ${id})`;
  const on = m.iam
    ? 'the instance'
    : m.orgId
      ? named('organisation', m.orgId)
      : m.projectId
        ? named('project', m.projectId)
        : m.projectGrantId
          ? named('project grant', m.projectGrantId)
          : `an object Zitadel did not name (owner ${m.details?.resourceOwner ?? 'unknown'})`;
  return `${roles} on ${on}`;
}

/** The permissions v2 ListAdministrators checks per membership it lists (none for the caller's own). */
export const MEMBER_READ_PERMISSIONS =
  'iam.member.read, org.member.read, project.member.read and project.grant.member.read';

/**
 * A v2 ListAdministrators entry in the management API's membership form, for one description of both. The name
 * of an organisation, project or grant owned outside `bound` (the server's organisation and roles.allowedOrgIds)
 * is left out: the caller learns that the account administers something there, and its id, not what it is called.
 */
function membershipOfAdministrator(userId: string, a: ZAdministrator, bound: ReadonlySet<string>): ZMembership {
  const owner = a.organization?.id ?? a.project?.organizationId ?? a.projectGrant?.organizationId;
  const displayName =
    owner !== undefined && bound.has(owner)
      ? (a.organization?.name ?? a.project?.name ?? a.projectGrant?.projectName)
      : undefined;
  return {
    userId,
    ...(a.roles ? { roles: a.roles } : {}),
    ...(displayName ? { displayName } : {}),
    ...(a.instance ? { iam: true } : {}),
    ...(a.organization?.id ? { orgId: a.organization.id } : {}),
    ...(a.project?.id ? { projectId: a.project.id } : {}),
    ...(a.projectGrant?.id ? { projectGrantId: a.projectGrant.id } : {}),
  };
}

/** What the two APIs' entries for one membership share: the object and the roles. */
function membershipKey(m: ZMembership): string {
  const on = m.iam ? 'iam' : `${m.orgId ?? ''}/${m.projectId ?? ''}/${m.projectGrantId ?? ''}`;
  return `${on}|${[...(m.roles ?? [])].sort().join('+')}`;
}

/**
 * The account's Zitadel memberships as Zitadel lists them: every membership is administrative (IAM_*,
 * ORG_*, PROJECT_* manager roles), so each one counts. Two reads, and a failure of either fails the call
 * (closed: the caller is told the memberships could not be checked, and nothing is written):
 * - management ListUserMemberships in the server's organisation and each of `allowedOrgIds` (it lists the
 *   instance's memberships and those of the organisation the call acts in only: ListUserMembershipsRequestToModel),
 *   which Zitadel refuses outright (PERMISSION_DENIED) when the server's account may not read them;
 * - v2 ListAdministrators, every organisation's, project's and project grant's memberships and the instance's,
 *   so a membership in an organisation off the allowlist counts too. It leaves out of its page, silently, those
 *   the server's account may not read, but counts them: `hidden`, which no caller may take as "none".
 * A membership listed by several reads counts once; `total` is the most any read counted.
 */
export async function membershipsOf(
  zitadel: ZitadelBackend,
  userId: string,
  signal: AbortSignal,
  allowedOrgIds: readonly string[] = [],
): Promise<{ total: number; shown: string[]; hidden: number }> {
  const home = await zitadel.homeOrgId(signal);
  const shown = new Map<string, string>();
  const note = (m: ZMembership) => {
    const key = membershipKey(m);
    if (!shown.has(key)) shown.set(key, describeMembership(m));
  };
  let unseen = 0;
  for (const orgId of [home, ...new Set(allowedOrgIds.filter((o) => o !== home))]) {
    let res: Awaited<ReturnType<ZitadelBackend['listUserMemberships']>>;
    try {
      res = await zitadel.listUserMemberships(
        userId,
        { offset: 0, limit: MEMBERSHIP_PAGE },
        signal,
        orgId === home ? undefined : orgId,
      );
    } catch (err) {
      throw uncheckable(
        err,
        userId,
        orgId === home ? '' : ` in organisation ${orgId} (allowed: roles.allowedOrgIds)`,
        orgId === home ? {} : { orgId },
      );
    }
    for (const m of res.result) note(m);
    // A total below what was sent is a broken answer: count what is there.
    unseen += Math.max(0, res.total - res.result.length);
  }
  const fromOrgs = shown.size + unseen;
  let all: Awaited<ReturnType<ZitadelBackend['listAdministrators']>>;
  try {
    all = await zitadel.listAdministrators(userId, { offset: 0, limit: MEMBERSHIP_PAGE }, signal);
  } catch (err) {
    throw uncheckable(
      err,
      userId,
      ' across the instance (v2 ListAdministrators, which this check needs; Zitadel versions without zitadel.internal_permission.v2 lack it)',
      { api: 'ListAdministrators' },
    );
  }
  const named = new Set<string>();
  const bound = new Set([home, ...allowedOrgIds]);
  for (const a of all.result) {
    const m = membershipOfAdministrator(userId, a, bound);
    named.add(membershipKey(m));
    note(m);
  }
  // counted as the management reads are: the distinct ones named, and every one left off the page (hidden or beyond it)
  const fromInstance = named.size + Math.max(0, all.total - all.result.length);
  const total = Math.max(fromOrgs, fromInstance, shown.size);
  return { total, shown: [...shown.values()].slice(0, MEMBERSHIP_PAGE), hidden: all.hidden };
}

/** The memberships could not be read: nothing is done, and the error says where and why. */
function uncheckable(err: unknown, userId: string, where: string, details: Record<string, unknown>): ToolError {
  const e = err instanceof ToolError ? err : new ToolError('ERR_BACKEND_ERROR', 'reading them failed');
  return new ToolError(
    e.code,
    `could not check the Zitadel memberships of user ${userId}${where}, so nothing was done (a key is only made for an account known to administer nothing): ${e.message}`,
    { ...e.details, ...details },
  );
}

/** `none`, or the memberships with a count of those left out and of those hidden from this server. */
export function membershipSummary(m: { total: number; shown: string[]; hidden?: number }): string {
  if (m.total === 0) return 'none';
  const more = m.total - m.shown.length;
  const hidden = m.hidden ? `, ${m.hidden} of them hidden from this server's service account` : '';
  if (m.shown.length === 0) return `${m.total} membership${m.total === 1 ? '' : 's'}${hidden}`;
  return `${m.shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}${hidden}`;
}

/**
 * Refuses a key for an account that administers anything in Zitadel: whoever holds the key is that
 * administrator, past this server's tiers, policy and audit.
 */
export async function refuseAdministrators(
  zitadel: ZitadelBackend,
  user: { userId: string; username?: string | undefined },
  signal: AbortSignal,
  allowedOrgIds: readonly string[] = [],
): Promise<void> {
  const m = await membershipsOf(zitadel, user.userId, signal, allowedOrgIds);
  if (m.total === 0) return;
  // Memberships Zitadel counted but would not show this server: unknown power is refused as power is.
  const grant =
    m.hidden > 0
      ? `. To see the ${m.hidden} hidden from it, grant this server's service account ${MEMBER_READ_PERMISSIONS} on the instance (the IAM_OWNER_VIEWER role has them)`
      : '';
  throw new ToolError(
    'ERR_NOT_ALLOWED',
    `${user.username ?? 'the account'} (id ${user.userId}) administers Zitadel through its memberships (${membershipSummary(m)}): a key would hand that power to the caller outside this server's tiers, policy and audit. Keys of such accounts are made by an operator in Zitadel; for an agent, use an account with project grants only (agents_onboard)${grant}`,
    { userId: user.userId, memberships: m.total, ...(m.hidden > 0 ? { hiddenMemberships: m.hidden } : {}) },
  );
}

/**
 * Refuses roles that would give scopes the caller does not hold itself: `mcp:zitadel:admin` lets a caller
 * hand out what it has, never more (admin > write > read, as the registry compares scopes). Only roles of
 * the MCP project map to scopes; a role no mapping names gives no scope and is not refused here.
 */
export function refuseBeyondCallerScopes(
  caller: { scopes: readonly string[] },
  roles: readonly string[],
  projectId: string,
  mapping: RoleMapping,
): void {
  if (projectId !== mapping.projectId) return;
  const lacking: string[] = [];
  for (const role of new Set(roles)) {
    const scopes = Object.hasOwn(mapping.roleScopes, role) ? (mapping.roleScopes[role] ?? []) : [];
    const missing = missingScopes(caller.scopes, scopes);
    if (missing.length > 0) lacking.push(`${role} (${missing.join(' ')})`);
  }
  if (lacking.length === 0) return;
  throw new ToolError(
    'ERR_NOT_ALLOWED',
    `these roles give scopes you do not hold yourself: ${lacking.join(', ')}; a caller grants at most its own scopes (you hold: ${[...caller.scopes].sort().join(' ') || 'none'}). Ask someone who holds them, or an operator in Zitadel`,
    { lacking },
  );
}

/**
 * The MCP scopes a token of this account carries now (none without an MCP project), and those its
 * deactivated grants add: reactivated in Zitadel, they hand their roles to whoever holds the account's key.
 */
export async function accountScopes(
  zitadel: ZitadelBackend,
  mapping: RoleMapping,
  userId: string,
  signal: AbortSignal,
): Promise<{ held: string[]; dormant: string[] }> {
  if (!mapping.projectId) return { held: [], dormant: [] };
  const grants = await allGrants(zitadel, userId, signal, mapping.allowedOrgIds);
  const held = effectiveAccess(grants, mapping).scopes;
  const all = effectiveAccess(grants, mapping, { countDeactivated: true }).scopes;
  return { held, dormant: all.filter((s) => !held.includes(s)) };
}

/**
 * Refuses a key for an account whose roles give scopes the caller does not hold: the key would make the
 * caller that account, the same escalation roles_grant refuses.
 */
export async function refuseAccountBeyondCaller(
  zitadel: ZitadelBackend,
  mapping: RoleMapping,
  caller: { scopes: readonly string[] },
  user: { userId: string; username?: string | undefined },
  signal: AbortSignal,
): Promise<void> {
  const { held, dormant } = await accountScopes(zitadel, mapping, user.userId, signal);
  const missing = missingScopes(caller.scopes, [...held, ...dormant].sort());
  if (missing.length === 0) return;
  throw new ToolError(
    'ERR_NOT_ALLOWED',
    `${user.username ?? 'the account'} (id ${user.userId}) holds scopes you do not hold yourself (${missing.join(' ')}): its key would give them to you. A caller gets keys only of accounts within its own scopes; ask someone who holds them, or an operator in Zitadel`,
    { userId: user.userId, lacking: missing },
  );
}

/**
 * Projects besides the MCP project whose grants a tool may change (`servers.zitadel.tools.<tool>.options.
 * otherProjects`, project ids: a name can be given to another project later). Roles of other projects are
 * trusted by other applications, so by default only the MCP project's grants change.
 */
const ProjectOptions = z
  .object({ otherProjects: z.array(z.string().regex(/^\d{1,30}$/, 'a Zitadel project id (digits)')).max(100) })
  .partial()
  .strict();

/** The policy option's project ids; throws (at start, from checkOptions) on a malformed entry. */
export function otherProjectsOf(tool: string, options: Readonly<Record<string, unknown>>): string[] {
  const parsed = ProjectOptions.safeParse(options ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      `the policy file entry servers.zitadel.tools.${tool}.options is invalid (${issue?.path.join('.') || 'options'}: ${issue?.message}); it takes otherProjects: a list of project ids`,
    );
  }
  return parsed.data.otherProjects ?? [];
}

/** Refuses a change on a project that is neither the MCP project nor listed for this tool. */
export function refuseOtherProject(
  tool: string,
  project: { id: string; name?: string },
  mapping: RoleMapping,
  options: Readonly<Record<string, unknown>>,
  change = 'changes grants on',
): void {
  if (project.id === mapping.projectId || otherProjectsOf(tool, options).includes(project.id)) return;
  const named = `project ${project.name ? `${project.name} ` : ''}(id ${project.id})`;
  throw new ToolError(
    'ERR_NOT_ALLOWED',
    `${tool} ${change} the MCP project${mapping.projectId ? ` (id ${mapping.projectId})` : ' (none is configured: ZITADEL_PROJECT_ID)'} only, and ${named} is not listed for it: other applications trust that project's roles. An operator can add its id under servers.zitadel.tools.${tool}.options.otherProjects in the policy file`,
  );
}
