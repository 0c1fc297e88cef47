import { type BaseContext, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { ZitadelBackend } from '../backend.js';
import { ADMIN, defineTool } from './define.js';
import { otherProjectsOf, refuseOtherProject } from './guards.js';
import { ProjectRef, planUser, resolveProject, resolveUser, toUser, User, UserRef, userLabel } from './shapes.js';

const DESTRUCTIVE = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false } as const;

export const rolesCreate = defineTool({
  name: 'roles_create',
  toolset: 'roles',
  tier: 'HIGH',
  scopes: ADMIN,
  title: 'Create a project role',
  description:
    'Adds a role to the MCP project (or one the policy opens); it grants MCP scopes only once roleScopes maps it.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({
    key: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'letters, digits, ".", "_", ":" and "-"')
      .describe('Role key, e.g. docker.operator'),
    displayName: z.string().min(1).max(200).describe('Shown in the Zitadel console'),
    group: z.string().max(200).optional().describe('Role group in the console'),
    project: ProjectRef.optional(),
  }),
  output: z.object({ projectId: z.string(), key: z.string(), scopes: z.array(z.string()) }),
  checkOptions: (options) => {
    otherProjectsOf('roles_create', options);
  },
  handler: async ({ key, displayName, group, project }, { zitadel, mapping, signal, options }) => {
    const p = await resolveProject(zitadel, project, mapping.projectId, signal);
    // Another application decides what its project's roles mean (a new role may be one it grants on sight).
    refuseOtherProject('roles_create', p, mapping, options, 'adds roles to');
    await zitadel.addProjectRole(p.id, { roleKey: key, displayName, ...(group ? { group } : {}) }, signal);
    const mapped = p.id === mapping.projectId && Object.hasOwn(mapping.roleScopes, key);
    return { projectId: p.id, key, scopes: mapped ? [...(mapping.roleScopes[key] ?? [])] : [] };
  },
});

export const keysDelete = defineTool({
  name: 'keys_delete',
  toolset: 'agents',
  tier: 'HIGH',
  scopes: ADMIN,
  title: "Delete a service account's key",
  description: 'Delete one key of a service account: whoever holds that key file can no longer log in with it.',
  annotations: DESTRUCTIVE,
  input: z.object({
    user: UserRef,
    keyId: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_-]+$/, 'a key id')
      .describe('From keys_list'),
  }),
  output: z.object({ userId: z.string(), keyId: z.string(), deleted: z.boolean(), note: z.string().optional() }),
  plan: async ({ user, keyId }, { zitadel, signal }) => {
    const u = await resolveUser(zitadel, user, signal);
    const label = userLabel(u, user);
    // A repeat after a lost answer plans too: an absent key is nothing to delete, not a failed plan.
    return (await zitadel.findMachineKey(u.userId, keyId, signal))
      ? `Delete key ${keyId} of ${label}; logins with that key file stop working.`
      : `Key ${keyId} of ${label} is not there (already deleted or never existed): nothing to delete.`;
  },
  handler: async ({ user, keyId }, { zitadel, signal, logger, noteResult }) => {
    const u = await resolveUser(zitadel, user, signal);
    if (u.userId === zitadel.serviceAccountId) {
      throw new ToolError('ERR_NOT_ALLOWED', "this is the server's own service account: rotate its key in Zitadel");
    }
    try {
      await zitadel.removeMachineKey(u.userId, keyId, signal);
    } catch (err) {
      if (!(err instanceof ToolError) || err.code !== 'ERR_NOT_FOUND') throw err;
      // Zitadel says NOT_FOUND for a key that is gone and for a user that is gone alike (RemoveUserMachineKey
      // reads the key on the user's aggregate, internal/command/user_machine_key.go): reading the user again
      // tells them apart. A gone key is what the call asked for (idempotent, as providers treat a 404 on
      // delete); a gone user stays an error.
      await zitadel.getUser(u.userId, signal);
      logger.info({ userId: u.userId, keyId }, 'keys_delete: key already absent, nothing deleted');
      noteResult?.({ kind: 'noop', reason: 'key already absent' });
      return {
        userId: u.userId,
        keyId,
        deleted: false,
        note: 'no such key (already deleted or never existed): nothing was changed',
      };
    }
    return { userId: u.userId, keyId, deleted: true };
  },
});

export const usersDisable = defineTool({
  name: 'users_disable',
  toolset: 'users',
  tier: 'HIGH',
  scopes: ADMIN,
  title: 'Deactivate or lock a user',
  description:
    'Deactivate (until reactivated) or lock a user or service account; it can no longer log in or get tokens.',
  annotations: DESTRUCTIVE,
  input: z.object({ user: UserRef, mode: z.enum(['deactivate', 'lock']).default('deactivate') }),
  output: z.object({ user: User }),
  plan: async ({ user, mode }, { zitadel, signal }) =>
    `${mode === 'lock' ? 'Lock' : 'Deactivate'} ${await planUser(zitadel, user, signal)}: no more logins or new tokens.`,
  handler: async ({ user, mode }, { zitadel, signal, noteResult }) => {
    const u = await resolveUser(zitadel, user, signal);
    if (u.userId === zitadel.serviceAccountId) {
      throw new ToolError('ERR_NOT_ALLOWED', "refusing to disable this server's own service account");
    }
    // A repeat (an agent retrying after a lost answer) finds the user as asked: that is the answer, not
    // Zitadel's refusal to deactivate an inactive user or lock a locked one.
    if (u.state === (mode === 'lock' ? 'USER_STATE_LOCKED' : 'USER_STATE_INACTIVE')) {
      noteResult?.({ kind: 'noop', reason: `user already ${mode === 'lock' ? 'locked' : 'deactivated'}` });
      return { user: toUser(await zitadel.getUser(u.userId, signal)) };
    }
    // What Zitadel refuses as a failed precondition (internal/command/user_v2.go LockUserV2: active or
    // initial users only; DeactivateUserV2: never an initial one), said with what to do instead; the same
    // ERR_CONFLICT as Zitadel's own refusal when the state changed after this read (api.ts REFUSALS).
    const label = userLabel(u, user);
    if (mode === 'lock' && u.state === 'USER_STATE_INACTIVE')
      throw new ToolError(
        'ERR_CONFLICT',
        `${label} is deactivated: it already cannot log in or get tokens, and Zitadel locks only active or initial users. Nothing was changed; leave it deactivated`,
      );
    if (mode === 'deactivate' && u.state === 'USER_STATE_INITIAL')
      throw new ToolError(
        'ERR_CONFLICT',
        `${label} has not finished its initial setup, and Zitadel cannot deactivate such a user. Nothing was changed; use mode 'lock' to stop its logins`,
      );
    return {
      user: toUser(
        await changeState(
          zitadel,
          u.userId,
          mode,
          mode === 'lock' ? 'USER_STATE_LOCKED' : 'USER_STATE_INACTIVE',
          signal,
          noteResult,
        ),
      ),
    };
  },
});

/**
 * Asks Zitadel for a state change and reads the user back. Zitadel refuses a change the user's state no
 * longer allows (FAILED_PRECONDITION, e.g. User already inactive): when another writer (the console, a
 * second agent) made the same change between this call's read and its write, the user is as asked and
 * that is the answer; otherwise the refusal stands, saying the state the user is in.
 */
async function changeState(
  zitadel: ZitadelBackend,
  userId: string,
  action: 'deactivate' | 'lock' | 'reactivate' | 'unlock',
  wanted: string,
  signal: AbortSignal,
  noteResult: BaseContext['noteResult'],
) {
  try {
    await zitadel.setUserState(userId, action, signal);
  } catch (err) {
    if (!(err instanceof ToolError) || err.code !== 'ERR_CONFLICT') throw err;
    const now = await zitadel.getUser(userId, signal);
    if (now.state === wanted) {
      noteResult?.({ kind: 'noop', reason: `user already in state ${wanted} (changed by another writer)` });
      return now;
    }
    throw err;
  }
  return zitadel.getUser(userId, signal);
}

export const usersEnable = defineTool({
  name: 'users_enable',
  toolset: 'users',
  tier: 'HIGH',
  scopes: ADMIN,
  title: 'Reactivate or unlock a user',
  description: 'Undo users_disable: reactivate a deactivated user or unlock a locked one.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ user: UserRef }),
  output: z.object({ user: User }),
  handler: async ({ user }, { zitadel, signal, noteResult }) => {
    const u = await resolveUser(zitadel, user, signal);
    // Already active (a repeat): nothing to undo, the user as it is answers the call.
    if (u.state === 'USER_STATE_ACTIVE') {
      noteResult?.({ kind: 'noop', reason: 'user already active' });
      return { user: toUser(await zitadel.getUser(u.userId, signal)) };
    }
    const action =
      u.state === 'USER_STATE_INACTIVE' ? 'reactivate' : u.state === 'USER_STATE_LOCKED' ? 'unlock' : undefined;
    if (!action) {
      throw new ToolError(
        'ERR_CONFLICT',
        `${u.username ?? user} is neither deactivated nor locked (state ${u.state ?? 'unknown'})`,
      );
    }
    return { user: toUser(await changeState(zitadel, u.userId, action, 'USER_STATE_ACTIVE', signal, noteResult)) };
  },
});

export const adminTools = [rolesCreate, keysDelete, usersDisable, usersEnable];
