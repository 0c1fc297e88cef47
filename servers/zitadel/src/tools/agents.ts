import { scopesFromRoles } from '@ravenhelm/auth';
import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { ZitadelBackend } from '../backend.js';
import { effectiveAccess } from './capabilities.js';
import { ADMIN, defineTool, READ, type RoleMapping, WRITE, type ZitadelServices } from './define.js';
import { rolesGrant, rolesRevoke } from './grants.js';
import {
  accountScopes,
  membershipSummary,
  membershipsOf,
  refuseAccountBeyondCaller,
  refuseAdministrators,
  refuseBeyondCallerScopes,
} from './guards.js';
import { idOr, listWhole } from './keyset.js';
import {
  Cursor,
  itemBudget,
  Limit,
  Notes,
  Page,
  paging,
  resolveUser,
  toUser,
  User,
  UserRef,
  userLabel,
} from './shapes.js';

const Username = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'letters, digits, ".", "_", "@" and "-"')
  .describe('Username of the new service account (unique in the organisation)');
const ExpiresInDays = z.number().int().min(1).max(365).default(90);

/**
 * A new key: with a key store configured, only where it was stored; otherwise the key file, shown once
 * (the pipeline never logs or audits results, and this server never logs it).
 */
const NewKey = z.object({
  keyId: z.string(),
  userId: z.string(),
  expirationDate: z.string(),
  keyFile: z.string().optional().describe('Only without a key store: the JSON key file, shown once'),
  shownOnce: z.literal(true).optional(),
  stored: z
    .object({
      store: z.literal('secretsmanager'),
      secretName: z.string(),
      secretArn: z.string(),
      versionId: z.string(),
      created: z.boolean().describe('false: a new version of an existing secret'),
    })
    .optional()
    .describe('With a key store: where the key file went; the key itself is never returned'),
});

/** Removes a key that could not be stored; says exactly what was left when even that fails. */
async function dropUnstored(zitadel: ZitadelBackend, userId: string, keyId: string, err: unknown): Promise<never> {
  const why = err instanceof ToolError ? err : new ToolError('ERR_BACKEND_ERROR', 'the key store failed');
  // Cleanup gets its own deadline: the caller's signal may be the reason the store failed.
  const cleanup = AbortSignal.timeout(10_000);
  try {
    await zitadel.removeMachineKey(userId, keyId, cleanup);
  } catch (cleanupErr) {
    const said = cleanupErr instanceof ToolError ? cleanupErr.message : 'unknown error';
    throw new ToolError(
      why.code,
      `${why.message}; key ${keyId} of user ${userId} was left in Zitadel unstored and could not be removed (${said}): delete it with keys_delete`,
      { ...why.details, orphanKeyId: keyId, userId },
    );
  }
  throw new ToolError(why.code, `${why.message}; key ${keyId} was removed from Zitadel again, nothing was kept`, {
    ...why.details,
    removedKeyId: keyId,
    userId,
  });
}

async function createKey(
  { zitadel, keyStore, mapping }: Pick<ZitadelServices, 'zitadel' | 'keyStore' | 'mapping'>,
  user: { userId: string; username?: string | undefined },
  days: number,
  signal: AbortSignal,
) {
  // Right before the write, every time (keys_add and agents_onboard alike): no key of an administrator.
  await refuseAdministrators(zitadel, user, signal, mapping.allowedOrgIds);
  const expirationDate = new Date(Date.now() + days * 86_400_000).toISOString();
  const { keyId, keyFile } = await zitadel.addMachineKey(user.userId, expirationDate, signal);
  const base = { keyId, userId: user.userId, expirationDate };
  if (!keyStore) return { ...base, keyFile, shownOnce: true as const };
  try {
    const stored = await keyStore.put(keyStore.nameFor(user, keyId), keyFile, { userId: user.userId, keyId }, signal);
    return { ...base, stored };
  } catch (err) {
    return dropUnstored(zitadel, user.userId, keyId, err);
  }
}

export const serviceAccountsCreate = defineTool({
  name: 'service_accounts_create',
  toolset: 'agents',
  tier: 'HIGH',
  scopes: ADMIN,
  title: 'Create a service account',
  description: 'Create a Zitadel machine user for an agent (no key, no roles yet); JWT access tokens by default.',
  annotations: WRITE,
  input: z.object({
    username: Username,
    name: z.string().min(1).max(200).describe('Display name'),
    description: z.string().max(500).default('').describe('What the agent is for'),
    tokenType: z.enum(['jwt', 'bearer']).default('jwt').describe('jwt: self-contained access tokens; bearer: opaque'),
  }),
  output: z.object({ user: User }),
  handler: async ({ username, name, description, tokenType }, { zitadel, signal }) => {
    const userId = await zitadel.addMachineUser(
      {
        userName: username,
        name,
        description,
        accessTokenType: tokenType === 'jwt' ? 'ACCESS_TOKEN_TYPE_JWT' : 'ACCESS_TOKEN_TYPE_BEARER',
      },
      signal,
    );
    return { user: toUser(await zitadel.getUser(userId, signal)) };
  },
});

export const keysAdd = defineTool({
  name: 'keys_add',
  toolset: 'agents',
  tier: 'HIGH',
  scopes: ADMIN,
  title: 'Add a key to a service account',
  description:
    'Creates a JSON key for a service account: put in the key store when configured, else returned exactly once.',
  annotations: WRITE,
  input: z.object({ user: UserRef, expiresInDays: ExpiresInDays }),
  output: NewKey,
  // The memberships are part of the plan: an account made an administrator after the plan was shown makes
  // the confirmed call a different plan (ERR_CONFLICT), and the handler checks them again anyway.
  plan: async ({ user, expiresInDays }, { zitadel, mapping, signal }) => {
    const u = await resolveUser(zitadel, user, signal);
    const memberships = membershipSummary(await membershipsOf(zitadel, u.userId, signal, mapping.allowedOrgIds));
    // The key outlives today's grant states: whoever confirms sees what its deactivated grants would add.
    const { held, dormant } = await accountScopes(zitadel, mapping, u.userId, signal);
    const scopes = `${held.join(' ') || 'none'}${dormant.length > 0 ? `, and ${dormant.join(' ')} once its deactivated grants are reactivated` : ''}`;
    // Zitadel makes the key whatever the account's state (AddMachineKey checks only that it exists), but a
    // locked or deactivated account gets no token with it until it is enabled again.
    const dormantAccount =
      u.state === 'USER_STATE_LOCKED' || u.state === 'USER_STATE_INACTIVE'
        ? ` The account is ${u.state === 'USER_STATE_LOCKED' ? 'locked' : 'deactivated'}: the key gets no token until users_enable enables it.`
        : '';
    return `Add a JSON key valid ${expiresInDays} days to ${userLabel(u, user)}; its Zitadel memberships: ${memberships}; its MCP scopes: ${scopes}.${dormantAccount}`;
  },
  handler: async ({ user, expiresInDays }, { zitadel, keyStore, mapping, principal, signal }) => {
    const u = await resolveUser(zitadel, user, signal);
    // A key of the server's own account is the server itself: every manager role it holds, with no
    // tier, policy or audit in between. keys_delete and users_disable refuse it for the same reason.
    if (u.userId === zitadel.serviceAccountId)
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        "this is the server's own service account: its keys are made in Zitadel by an operator, never handed to a caller",
      );
    if (!u.machine)
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `${u.username ?? user} is a human user: only service accounts have keys`,
      );
    await refuseAccountBeyondCaller(zitadel, mapping, principal, u, signal);
    return createKey({ zitadel, keyStore, mapping }, u, expiresInDays, signal);
  },
});

export const keysList = defineTool({
  name: 'keys_list',
  toolset: 'agents',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: "List a service account's keys",
  description: "A service account's keys with their expiry (never the key material).",
  annotations: READ,
  input: z.object({ user: UserRef, limit: Limit, cursor: Cursor }),
  output: z.object({
    keys: z.array(
      z.object({
        id: z.string(),
        type: z.string(),
        expirationDate: z.string(),
        expired: z.literal(true).optional(),
        created: z.string().optional(),
      }),
    ),
    ...Page,
    notes: Notes,
  }),
  handler: async ({ user, limit, cursor }, { zitadel, signal, maxOutputBytes }) => {
    const u = await resolveUser(zitadel, user, signal);
    const page = await listWhole((window) => zitadel.listMachineKeys(u.userId, window, signal), {
      idOf: (k, n) => idOr(k.id, n),
      show: (k) => ({
        id: k.id,
        type: k.type === 'KEY_TYPE_JSON' ? 'json' : (k.type ?? 'unspecified'),
        expirationDate: k.expirationDate ?? '',
        // Zitadel lists expired keys too, and refuses their logins (Errors.AuthNKey.Expired)
        ...(isPast(k.expirationDate) ? { expired: true as const } : {}),
        ...(k.details?.creationDate ? { created: k.details.creationDate } : {}),
      }),
      max: MAX_KEYS,
      what: 'keys',
      narrow: 'delete expired ones with keys_delete',
      tool: 'keys_list',
      bind: u.userId,
      cursor,
      limit,
      maxBytes: itemBudget(maxOutputBytes),
    });
    return { keys: page.items, ...paging(page) };
  },
});

/** Keys read per page (each page reads them all: see keyset.ts); more are not paged, and the answer says so. */
const MAX_KEYS = 1000;

/** Whether an RFC 3339 time lies in the past; a missing or unreadable one is not called so. */
function isPast(iso: string | undefined): boolean {
  const at = iso === undefined ? Number.NaN : Date.parse(iso);
  return Number.isFinite(at) && at <= Date.now();
}

/**
 * The fewest MCP-project roles whose scopes are exactly `wanted` under the mapping, or an error that
 * names the scopes no role combination yields.
 */
export function rolesForScopes(wanted: readonly string[], mapping: RoleMapping): string[] {
  const want = new Set(wanted);
  const fitting = Object.entries(mapping.roleScopes).filter(
    ([, scopes]) => scopes.length > 0 && scopes.every((s) => want.has(s)),
  );
  const chosen: string[] = [];
  const covered = new Set<string>();
  while (covered.size < want.size) {
    let best: [string, readonly string[]] | undefined;
    let gain = 0;
    for (const entry of fitting) {
      const g = entry[1].filter((s) => !covered.has(s)).length;
      if (g > gain || (g === gain && g > 0 && best && entry[0] < best[0])) {
        best = entry;
        gain = g;
      }
    }
    if (!best || gain === 0) break;
    chosen.push(best[0]);
    for (const s of best[1]) covered.add(s);
  }
  const missing = [...want].filter((s) => !covered.has(s));
  if (missing.length > 0) {
    const offered = [...new Set(Object.values(mapping.roleScopes).flat())].sort().join(', ') || 'none';
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `no MCP-project role grants exactly ${missing.join(', ')} without more; roles can grant: ${offered}`,
    );
  }
  return chosen.sort();
}

/** A step of onboarding failed: the error says what is already made in Zitadel and how to finish. */
function cutShort(err: unknown, made: string, finish: string, userId: string): never {
  if (!(err instanceof ToolError)) throw err;
  throw new ToolError(err.code, `${made}: ${err.message}; ${finish}`, { ...err.details, userId });
}

export const agentsOnboard = defineTool({
  name: 'agents_onboard',
  toolset: 'agents',
  tier: 'HIGH',
  scopes: ADMIN,
  title: 'Onboard an agent',
  description:
    'Service account, its key (to the key store, else returned once) and role grants yielding exactly the given scopes.',
  annotations: WRITE,
  input: z.object({
    username: Username,
    name: z.string().min(1).max(200).optional().describe('Display name; default: the username'),
    scopes: z
      .array(z.string().regex(/^mcp:[a-z0-9-]+:(read|write|admin)$/, 'must be mcp:<server>:<read|write|admin>'))
      .min(1)
      .max(50)
      .describe('mcp:<server>:<read|write|admin>'),
    expiresInDays: ExpiresInDays,
  }),
  output: z.object({ user: User, roles: z.array(z.string()), scopes: z.array(z.string()), key: NewKey }),
  plan: ({ username, scopes }, { mapping }) =>
    `Create service account ${username} with a key, granted roles ${rolesForScopes(scopes, mapping).join(', ')} on the MCP project: it will hold scopes ${[...new Set(scopes)].sort().join(' ')}.`,
  handler: async ({ username, name, scopes, expiresInDays }, { zitadel, keyStore, mapping, principal, signal }) => {
    // Decide everything before the first write: an impossible scope set, or one beyond the caller's own, creates nothing.
    if (!mapping.projectId) {
      throw new ToolError('ERR_INVALID_INPUT', 'no MCP project is configured (roles.projectId): nothing to grant');
    }
    const roles = rolesForScopes(scopes, mapping);
    const projectId = mapping.projectId as string;
    refuseBeyondCallerScopes(principal, roles, projectId, mapping);
    const granted = [...new Set(scopesFromRoles(roles, mapping.roleScopes as Record<string, string[]>))].sort();
    const userId = await zitadel.addMachineUser(
      {
        userName: username,
        name: name ?? username,
        description: 'MCP agent',
        accessTokenType: 'ACCESS_TOKEN_TYPE_JWT',
      },
      signal,
    );
    const made = `the account ${username} (id ${userId})`;
    const grantId = await zitadel
      .addUserGrant(userId, projectId, roles, signal)
      .catch((err: unknown) =>
        cutShort(
          err,
          `${made} was created, but without its grant of ${roles.join(', ')} nor a key`,
          'once the cause is fixed, finish with roles_grant and keys_add',
          userId,
        ),
      );
    const withoutKey = `${made} and its grant of ${roles.join(', ')} were created, but no key`;
    // Read back what a token would carry, through the same mapping the auth package applies. The new
    // account has this one grant; a listing could still miss it, a read by id cannot.
    const grant = await zitadel
      .getUserGrant(userId, grantId, signal)
      .catch((err: unknown) => cutShort(err, withoutKey, 'add one with keys_add', userId));
    const access = effectiveAccess([grant], mapping);
    if (access.scopes.join(' ') !== granted.join(' ')) {
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        `the account ${username} (id ${userId}) was created without a key: it would hold ${access.scopes.join(' ') || 'no scopes'} instead of ${granted.join(' ')}; check roles.allowedOrgIds and ZITADEL_ORG_ID`,
      );
    }
    const key = await createKey({ zitadel, keyStore, mapping }, { userId, username }, expiresInDays, signal).catch(
      (err: unknown) => cutShort(err, withoutKey, 'add one with keys_add', userId),
    );
    return { user: toUser(await zitadel.getUser(userId, signal)), roles, scopes: access.scopes, key };
  },
});

export const agentTools = [serviceAccountsCreate, keysAdd, keysList, rolesGrant, rolesRevoke, agentsOnboard];
