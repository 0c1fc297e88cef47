import { parseZitadelRoles, scopesFromRoles, zitadelRolesClaim } from '@ravenhelm/auth';
import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { ZGrant, ZitadelBackend } from '../backend.js';
import { defineTool, READ, type RoleMapping, type ZitadelServices } from './define.js';
import { resolveUser, UserRef } from './shapes.js';
import { MAX_USER_GRANTS, readUserGrants } from './user-grants.js';

/**
 * Every grant of the user that a token counts (see readUserGrants), for the checks built on it: an allowed
 * organisation whose grants cannot be read, more grants than are read, or a listing that changed while it was
 * read (twice in a row) fails the call (closed: nothing is decided on a partial view).
 */
export async function allGrants(
  zitadel: ZitadelBackend,
  userId: string,
  signal: AbortSignal,
  allowedOrgIds: readonly string[] = [],
): Promise<ZGrant[]> {
  for (let attempt = 0; ; attempt++) {
    const found = await readUserGrants(zitadel, userId, allowedOrgIds, signal);
    const failed = found.unreadable[0];
    if (failed) {
      const { orgId, error: err } = failed;
      if (err.code !== 'ERR_NOT_ALLOWED') throw err;
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        `could not read user ${userId}'s grants made in organisation ${orgId}, which roles.allowedOrgIds lists (its grants count in tokens), so nothing was decided on a partial view: ${err.message}. Give this server's account a role there that reads user grants, or take the organisation off allowedOrgIds`,
        { ...err.details, orgId },
      );
    }
    if (found.cut) {
      throw new ToolError(
        'ERR_OUTPUT_TOO_LARGE',
        `user ${userId} has more than ${MAX_USER_GRANTS} grants; review them in Zitadel`,
      );
    }
    if (found.shifted.length === 0) return found.grants.map((g) => g.grant);
    if (attempt > 0) {
      throw new ToolError(
        'ERR_CONFLICT',
        `user ${userId}'s grants in organisation ${found.shifted.join(', ')} changed while they were read, twice; nothing was decided on a partial view. Repeat the call`,
      );
    }
  }
}

/**
 * The roles and scopes a token for this user would carry, computed by the auth package's own code:
 * the grants become the per-project roles claim Zitadel asserts, then parseZitadelRoles and
 * scopesFromRoles decide, exactly as on every request. A deactivated grant keeps its roles but Zitadel
 * puts them in no token (internal/query/userinfo_by_id.sql reads active grants only), so it counts only
 * with `countDeactivated`: for what the account would hold once an operator reactivates it.
 */
export function effectiveAccess(
  grants: readonly ZGrant[],
  mapping: RoleMapping,
  { countDeactivated = false }: { countDeactivated?: boolean } = {},
) {
  const projectId = mapping.projectId;
  if (!projectId) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      'no MCP project is configured (roles.projectId): no role grants any scope',
    );
  }
  const claim: Record<string, Record<string, string>> = {};
  const ignored: { projectId: string; orgId: string; roles: string[]; reason: string }[] = [];
  for (const g of grants) {
    const roles = g.roleKeys ?? [];
    const orgId = g.orgId ?? '';
    if (g.projectId !== projectId) {
      ignored.push({ projectId: g.projectId ?? '', orgId, roles, reason: 'not the MCP project' });
      continue;
    }
    if (g.state === 'USER_GRANT_STATE_INACTIVE' && !countDeactivated) {
      ignored.push({ projectId, orgId, roles, reason: 'deactivated in Zitadel' });
      continue;
    }
    if (mapping.allowedOrgIds.length > 0 && !mapping.allowedOrgIds.includes(orgId)) {
      ignored.push({ projectId, orgId, roles, reason: 'granted by an organisation off the allowlist' });
    }
    for (const role of roles) claim[role] = { ...claim[role], [orgId]: g.orgName ?? orgId };
  }
  const opts = { projectId, allowedOrgIds: mapping.allowedOrgIds.length > 0 ? mapping.allowedOrgIds : undefined };
  const roles = parseZitadelRoles({ [zitadelRolesClaim(projectId)]: claim }, opts).sort();
  const scopes = [...new Set(scopesFromRoles(roles, mapping.roleScopes as Record<string, string[]>))].sort();
  return { roles, scopes, ignored };
}

/** What those scopes unlock on every server, under the operator's policy. */
export async function toolsFor(scopes: string[], services: ZitadelServices) {
  const found = await services.registry();
  if (!found) return undefined;
  const { registry } = found;
  const servers = [...new Set(registry.all().map((t) => t.server))].sort();
  return servers
    .map((server) => {
      const tools: string[] = [];
      const needSpiffe: string[] = [];
      for (const t of registry.all(server)) {
        const d = registry.decide(server, t.name, { scopes });
        if (d.allowed) tools.push(t.name);
        else if (d.reason === 'spiffe-required') needSpiffe.push(t.name);
      }
      return { server, tools, needSpiffe };
    })
    .filter((s) => s.tools.length > 0 || s.needSpiffe.length > 0);
}

export const ServerAccess = z.object({
  server: z.string(),
  tools: z.array(z.string()),
  needSpiffe: z.array(z.string()),
});

export const agentsGetCapabilities = defineTool({
  name: 'agents_get_capabilities',
  toolset: 'agents',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: 'What can this agent do',
  description: "A user's MCP-project roles, the MCP scopes they grant and the tools those unlock per server.",
  annotations: READ,
  input: z.object({ user: UserRef }),
  output: z.object({
    user: z.object({ id: z.string(), username: z.string() }),
    roles: z.array(z.string()),
    scopes: z.array(z.string()),
    ignoredGrants: z.array(
      z.object({ projectId: z.string(), orgId: z.string(), roles: z.array(z.string()), reason: z.string() }),
    ),
    servers: z.array(ServerAccess).optional(),
    note: z.string().optional(),
  }),
  handler: async ({ user }, ctx) => {
    const u = await resolveUser(ctx.zitadel, user, ctx.signal);
    const access = effectiveAccess(
      await allGrants(ctx.zitadel, u.userId, ctx.signal, ctx.mapping.allowedOrgIds),
      ctx.mapping,
    );
    const servers = await toolsFor(access.scopes, ctx);
    return {
      user: { id: u.userId, username: u.username ?? '' },
      roles: access.roles,
      scopes: access.scopes,
      ignoredGrants: access.ignored,
      ...(servers
        ? { servers, note: 'needSpiffe: HIGH tools these scopes allow that also need a SPIFFE ID on the allowlist' }
        : { note: 'no workspace with servers/* found: tools per server unknown (set registry.workspaceRoot)' }),
    };
  },
});

export const capabilityTools = [agentsGetCapabilities];
