import { raceAbort, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { ZGrant, ZitadelBackend } from '../backend.js';
import { ADMIN, defineTool, WRITE } from './define.js';
import { otherProjectsOf, refuseBeyondCallerScopes, refuseOtherProject } from './guards.js';
import { GrantState, grantState, ProjectRef, planUser, resolveProject, resolveUser, UserRef } from './shapes.js';

const RoleKeys = z
  .array(z.string().min(1).max(200))
  .min(1)
  .max(50)
  .describe('Role keys of the project, e.g. docker.operator');

const GrantResult = z.object({
  userId: z.string(),
  projectId: z.string(),
  grantId: z.string().optional(),
  roles: z.array(z.string()),
  changed: z.boolean(),
  state: GrantState,
});

/**
 * Writes a grant change may take: UpdateUserGrant replaces the whole role list with no version check
 * (internal/command/user_grant.go ChangeUserGrant), so a writer elsewhere (another replica, the console) can
 * replace the list between this call's read and its write. Each write is read back; a role it added that is
 * missing (or one it removed that is back) is written again, at most this many times in all.
 */
const GRANT_WRITES = 4;

/**
 * Grant changes of this process, one at a time per user and project: two calls that read the same role list
 * and each wrote it back with their own change would drop the other's. Per backend, so two Zitadel
 * instances in one process do not wait on each other.
 */
const grantQueues = new WeakMap<ZitadelBackend, Map<string, Promise<void>>>();

async function oneAtATime<T>(
  zitadel: ZitadelBackend,
  key: string,
  signal: AbortSignal,
  run: () => Promise<T>,
): Promise<T> {
  const queues = grantQueues.get(zitadel) ?? new Map<string, Promise<void>>();
  grantQueues.set(zitadel, queues);
  const before = queues.get(key) ?? Promise.resolve();
  let release = () => {};
  const mine = new Promise<void>((r) => {
    release = r;
  });
  const tail = before.then(() => mine);
  queues.set(key, tail);
  try {
    await raceAbort(
      before,
      signal,
      () => new ToolError('ERR_BACKEND_TIMEOUT', 'the call was cancelled while another change to this grant ran'),
    );
    return await run();
  } finally {
    release();
    if (queues.get(key) === tail) queues.delete(key);
  }
}

/** The user's grant on a project in the server's organisation as ListUserGrants shows it, if any. */
async function listedGrant(zitadel: ZitadelBackend, userId: string, projectId: string, signal: AbortSignal) {
  const res = await zitadel.listUserGrants({ userId, projectId }, { offset: 0, limit: 10 }, signal);
  const own = res.result.filter((g) => g.projectId === projectId);
  if (own.length > 1) {
    throw new ToolError(
      'ERR_CONFLICT',
      `user ${userId} has ${own.length} grants on project ${projectId}; fix them in Zitadel`,
    );
  }
  return own[0];
}

/**
 * The user's grant on a project in the server's organisation, if any, as Zitadel holds it now. ListUserGrants
 * reads a projection that lags the writes (a grant seconds old is missing, a changed one shows its old roles,
 * a removed one is still there): a grant it shows (or `known`, one this call wrote) is read again by id,
 * which brings that projection up to date first; when there is none, or it is gone, the listing is asked
 * again once the projection is up to date.
 */
async function grantOn(
  zitadel: ZitadelBackend,
  userId: string,
  projectId: string,
  signal: AbortSignal,
  known?: string,
): Promise<ZGrant | undefined> {
  const id = known ?? (await listedGrant(zitadel, userId, projectId, signal))?.id;
  if (id === undefined) {
    await zitadel.syncUserGrants(userId, signal);
  } else {
    try {
      return await zitadel.getUserGrant(userId, id, signal);
    } catch (err) {
      if (!(err instanceof ToolError) || err.code !== 'ERR_NOT_FOUND') throw err;
    }
  }
  return listedGrant(zitadel, userId, projectId, signal);
}

/** The error when the grant still differs from what this call wrote after every write it may take. */
function unconfirmed(userId: string, projectId: string, what: string, now: ZGrant | undefined): ToolError {
  const held = now ? `it now holds ${(now.roleKeys ?? []).join(', ') || 'no roles'}` : 'it is now gone';
  return new ToolError(
    'ERR_CONFLICT',
    `could not confirm the change to user ${userId}'s grant on project ${projectId}: another writer kept replacing its roles, and after ${GRANT_WRITES} writes read back ${what} (${held}). Check users_list_grants, then repeat the call`,
  );
}

const sorted = (roles: Iterable<string>) => [...roles].sort();

/**
 * Writes a grant's role list; false when Zitadel found it already holding exactly that list (UpdateUserGrant
 * refuses an unchanged list: internal/command/user_grant.go ChangeUserGrant, Errors.UserGrant.NotChanged),
 * as when another writer made the same change since this call's read: the read that follows confirms it.
 */
async function updateGrant(
  zitadel: ZitadelBackend,
  userId: string,
  grantId: string,
  roles: string[],
  signal: AbortSignal,
): Promise<boolean> {
  try {
    await zitadel.updateUserGrant(userId, grantId, roles, signal);
    return true;
  } catch (err) {
    if (err instanceof ToolError && err.details.refusal === 'Errors.UserGrant.NotChanged') return false;
    throw err;
  }
}

export const rolesGrant = defineTool({
  name: 'roles_grant',
  toolset: 'roles',
  tier: 'HIGH',
  scopes: ADMIN,
  title: 'Grant roles to a user',
  description: "Adds project roles to a user's grant (created if missing): the MCP project, or one the policy opens.",
  annotations: { ...WRITE, idempotentHint: true },
  input: z.object({ user: UserRef, roles: RoleKeys, project: ProjectRef.optional() }),
  output: GrantResult,
  checkOptions: (options) => {
    otherProjectsOf('roles_grant', options);
  },
  handler: async ({ user, roles, project }, { zitadel, mapping, principal, signal, options, noteResult }) => {
    const u = await resolveUser(zitadel, user, signal);
    const p = await resolveProject(zitadel, project, mapping.projectId, signal);
    refuseOtherProject('roles_grant', p, mapping, options);
    refuseBeyondCallerScopes(principal, roles, p.id, mapping);
    const wanted = [...new Set(roles)];
    return oneAtATime(zitadel, `${u.userId}/${p.id}`, signal, async () => {
      let changed = false;
      let grant: ZGrant | undefined;
      // Read, write what is missing, read back; until the grant holds every role asked for.
      for (let writes = 0; ; writes++) {
        grant = await grantOn(zitadel, u.userId, p.id, signal, grant?.id);
        if (grant?.state === 'USER_GRANT_STATE_INACTIVE') {
          // Roles added to a deactivated grant would read as granted and go into no token.
          throw new ToolError(
            'ERR_CONFLICT',
            `user ${u.userId}'s grant ${grant.id} on project ${p.id} is deactivated in Zitadel, so its roles give nothing; reactivate it in Zitadel, then grant again`,
          );
        }
        const held = grant?.roleKeys ?? [];
        if (grant && wanted.every((r) => held.includes(r))) {
          if (!changed) noteResult?.({ kind: 'noop', reason: 'grant already holds every role asked for' });
          return { userId: u.userId, projectId: p.id, grantId: grant.id, roles: sorted(held), changed };
        }
        if (writes === GRANT_WRITES) throw unconfirmed(u.userId, p.id, `without ${wanted.join(', ')}`, grant);
        if (grant) {
          changed =
            (await updateGrant(zitadel, u.userId, grant.id, sorted(new Set([...held, ...wanted])), signal)) || changed;
          continue;
        }
        try {
          grant = { id: await zitadel.addUserGrant(u.userId, p.id, wanted, signal) };
          changed = true;
        } catch (err) {
          // Zitadel checks "already exists" against its events, not the projection: made meanwhile, look again
          if (!(err instanceof ToolError) || err.code !== 'ERR_CONFLICT') throw err;
          grant = await grantOn(zitadel, u.userId, p.id, signal);
          if (!grant) {
            throw new ToolError(
              'ERR_CONFLICT',
              `Zitadel says user ${u.userId} already has a grant on project ${p.id} but does not list it yet (it may be seconds old); repeat roles_grant in a moment`,
            );
          }
        }
      }
    });
  },
});

export const rolesRevoke = defineTool({
  name: 'roles_revoke',
  toolset: 'roles',
  tier: 'HIGH',
  scopes: ADMIN,
  title: 'Revoke roles from a user',
  description:
    "Removes project roles from a user's grant, deleting it when none is left: the MCP project, or one the policy opens.",
  annotations: { ...WRITE, destructiveHint: true, idempotentHint: true },
  input: z.object({ user: UserRef, roles: RoleKeys, project: ProjectRef.optional() }),
  output: GrantResult,
  plan: async ({ user, roles, project }, { zitadel, mapping, signal, options }) => {
    if (project !== undefined) {
      const p = await resolveProject(zitadel, project, mapping.projectId, signal);
      refuseOtherProject('roles_revoke', p, mapping, options);
    }
    return `Remove roles ${roles.join(', ')} from ${await planUser(zitadel, user, signal)} on ${project ?? 'the MCP project'}.`;
  },
  checkOptions: (options) => {
    otherProjectsOf('roles_revoke', options);
  },
  handler: async ({ user, roles, project }, { zitadel, mapping, signal, options, noteResult }) => {
    const u = await resolveUser(zitadel, user, signal);
    const p = await resolveProject(zitadel, project, mapping.projectId, signal);
    refuseOtherProject('roles_revoke', p, mapping, options);
    const unchanged = (changed: boolean) => {
      if (!changed) noteResult?.({ kind: 'noop', reason: 'none of the roles was held' });
    };
    return oneAtATime(zitadel, `${u.userId}/${p.id}`, signal, async () => {
      let changed = false;
      let grant: ZGrant | undefined;
      // Read, remove what is still there, read back; until none of the roles is on the grant.
      for (let writes = 0; ; writes++) {
        grant = await grantOn(zitadel, u.userId, p.id, signal, grant?.id);
        if (!grant) {
          unchanged(changed);
          return { userId: u.userId, projectId: p.id, roles: [], changed };
        }
        const held = grant.roleKeys ?? [];
        const next = held.filter((r) => !roles.includes(r));
        if (next.length === held.length) {
          unchanged(changed);
          return {
            userId: u.userId,
            projectId: p.id,
            grantId: grant.id,
            roles: sorted(next),
            changed,
            ...grantState(grant),
          };
        }
        if (writes === GRANT_WRITES) throw unconfirmed(u.userId, p.id, `with ${roles.join(', ')}`, grant);
        try {
          // the list written is the one just read: roles another caller added since are kept
          if (next.length === 0) await zitadel.removeUserGrant(u.userId, grant.id, signal);
          else if (!(await updateGrant(zitadel, u.userId, grant.id, sorted(next), signal))) continue;
        } catch (err) {
          // removed meanwhile: the next read says what is left
          if (!(err instanceof ToolError) || err.code !== 'ERR_NOT_FOUND') throw err;
        }
        changed = true;
      }
    });
  },
});
