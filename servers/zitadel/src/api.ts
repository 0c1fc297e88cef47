import { type ErrorCode, sliceChars, ToolError, withoutValues } from '@ravenhelm/kit';
import { z } from 'zod';

/** Zitadel's REST shapes as this server reads them, its key file, and its error answers. */

/** The JSON key file Zitadel hands out for a service account (AddMachineKey, KEY_TYPE_JSON). */
export interface ZitadelKeyFile {
  keyId: string;
  userId: string;
  /** PEM private key: never logged, never shown. */
  key: string;
}

const KeyFileSchema = z.object({
  type: z.literal('serviceaccount'),
  keyId: z.string().min(1),
  userId: z.string().min(1),
  key: z.string().includes('PRIVATE KEY'),
});

/** Parses a key file; the error names what is wrong, never the content. */
export function parseKeyFile(text: string, where: string): ZitadelKeyFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${where} is not JSON: use the key file Zitadel created for the service account`);
  }
  const parsed = KeyFileSchema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ');
    throw new Error(`${where} is not a Zitadel service-account key file (check: ${fields})`);
  }
  return { keyId: parsed.data.keyId, userId: parsed.data.userId, key: parsed.data.key };
}

/** Zitadel lists: `details.totalResult` is a uint64 (a string in JSON); `result` is left out when empty. */
export interface ListResult<T> {
  total: number;
  result: T[];
}

export interface ZUser {
  userId: string;
  state?: string;
  username?: string;
  loginNames?: string[];
  preferredLoginName?: string;
  details?: { creationDate?: string; changeDate?: string; resourceOwner?: string };
  human?: {
    profile?: { givenName?: string; familyName?: string; displayName?: string };
    email?: { email?: string; isVerified?: boolean };
  };
  machine?: { name?: string; description?: string; hasSecret?: boolean; accessTokenType?: string };
}

export interface ZGrant {
  id: string;
  roleKeys?: string[];
  state?: string;
  userId?: string;
  userName?: string;
  orgId?: string;
  orgName?: string;
  projectId?: string;
  projectName?: string;
  projectGrantId?: string;
}

export interface ZProject {
  id: string;
  name?: string;
  state?: string;
  details?: { resourceOwner?: string };
}

export interface ZRole {
  key: string;
  displayName?: string;
  group?: string;
}

export interface ZOrg {
  id: string;
  name?: string;
  state?: string;
  primaryDomain?: string;
}

export interface ZKey {
  id: string;
  type?: string;
  expirationDate?: string;
  details?: { creationDate?: string };
}

/**
 * A Zitadel membership (management v1 ListUserMemberships, zitadel.user.v1.Membership): administrative
 * roles (IAM_*, ORG_*, PROJECT_*) on exactly one of the instance, an organisation, a project or a
 * project grant. displayName is the object's name.
 */
export interface ZMembership {
  userId: string;
  roles?: string[];
  displayName?: string;
  iam?: boolean;
  orgId?: string;
  projectId?: string;
  projectGrantId?: string;
  details?: { resourceOwner?: string };
}

/**
 * A membership as v2 ListAdministrators lists it (zitadel.internal_permission.v2.Administrator): roles on
 * exactly one of the instance, an organisation, a project or a project grant, named.
 */
export interface ZAdministrator {
  roles?: string[];
  user?: { id?: string };
  instance?: boolean;
  organization?: { id?: string; name?: string };
  project?: { id?: string; name?: string; organizationId?: string };
  projectGrant?: { id?: string; projectName?: string; organizationId?: string };
}

export interface ZEvent {
  editor?: { userId?: string; displayName?: string; service?: string };
  aggregate?: { id?: string; type?: { type?: string }; resourceOwner?: string };
  sequence?: string | number;
  creationDate?: string;
  payload?: Record<string, unknown>;
  type?: { type?: string };
}

/**
 * What a record of each kind may hold, field by field: anything else (a number where a string belongs,
 * an object where a list belongs) is dropped when the answer is read, so a broken or hostile answer
 * gives blank fields, never an output the tools cannot shape (which the kit reports as a server bug).
 */
type Shape = 'string' | 'boolean' | 'strings' | 'scalar' | 'object' | { readonly [field: string]: Shape };

const DETAILS = { creationDate: 'string', changeDate: 'string', resourceOwner: 'string' } as const;
export const SHAPES = {
  user: {
    userId: 'string',
    state: 'string',
    username: 'string',
    loginNames: 'strings',
    preferredLoginName: 'string',
    details: DETAILS,
    human: {
      profile: { givenName: 'string', familyName: 'string', displayName: 'string' },
      email: { email: 'string', isVerified: 'boolean' },
    },
    machine: { name: 'string', description: 'string', hasSecret: 'boolean', accessTokenType: 'string' },
  },
  grant: {
    id: 'string',
    roleKeys: 'strings',
    state: 'string',
    userId: 'string',
    userName: 'string',
    orgId: 'string',
    orgName: 'string',
    projectId: 'string',
    projectName: 'string',
    projectGrantId: 'string',
  },
  project: { id: 'string', name: 'string', state: 'string', details: DETAILS },
  role: { key: 'string', displayName: 'string', group: 'string' },
  org: { id: 'string', name: 'string', state: 'string', primaryDomain: 'string' },
  key: { id: 'string', type: 'string', expirationDate: 'string', details: DETAILS },
  membership: {
    userId: 'string',
    roles: 'strings',
    displayName: 'string',
    iam: 'boolean',
    orgId: 'string',
    projectId: 'string',
    projectGrantId: 'string',
    details: DETAILS,
  },
  administrator: {
    roles: 'strings',
    user: { id: 'string' },
    instance: 'boolean',
    organization: { id: 'string', name: 'string' },
    project: { id: 'string', name: 'string', organizationId: 'string' },
    projectGrant: { id: 'string', projectName: 'string', organizationId: 'string' },
  },
  event: {
    editor: { userId: 'string', displayName: 'string', service: 'string' },
    aggregate: { id: 'string', type: { type: 'string' }, resourceOwner: 'string' },
    sequence: 'scalar',
    creationDate: 'string',
    payload: 'object',
    type: { type: 'string' },
  },
} as const satisfies Record<string, Shape>;

/** The id field each kind always has (blank when the answer lacks it). */
const ID_OF: Partial<Record<keyof typeof SHAPES, string>> = {
  user: 'userId',
  grant: 'id',
  project: 'id',
  role: 'key',
  org: 'id',
  key: 'id',
  membership: 'userId',
};

function conform(value: unknown, shape: Shape): unknown {
  switch (shape) {
    case 'string':
      return typeof value === 'string' ? value : undefined;
    case 'boolean':
      return typeof value === 'boolean' ? value : undefined;
    case 'strings':
      return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
    case 'scalar':
      return typeof value === 'string' || typeof value === 'number' ? value : undefined;
    case 'object':
      return value && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [field, sub] of Object.entries(shape)) {
    const v = conform((value as Record<string, unknown>)[field], sub);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/** One record of `kind` as the tools read it: only fields of the expected types, the id always a string. */
export function recordOf<T>(kind: keyof typeof SHAPES, value: unknown): T {
  const id = ID_OF[kind];
  return { ...(id ? { [id]: '' } : {}), ...(conform(value, SHAPES[kind]) as object) } as T;
}

/** A text query in Zitadel's form. */
export type TextMethod = 'TEXT_QUERY_METHOD_EQUALS' | 'TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE';

const GRPC_NAMES: Record<number, string> = {
  3: 'invalid argument',
  4: 'deadline exceeded',
  5: 'not found',
  6: 'already exists',
  7: 'permission denied',
  8: 'resource exhausted',
  9: 'failed precondition',
  10: 'aborted',
  12: 'unimplemented',
  13: 'internal',
  14: 'unavailable',
  16: 'unauthenticated',
};

/**
 * Zitadel's FAILED_PRECONDITION answers to the writes this server makes: the state the object is in and
 * what to do, where the gRPC code alone reads as "invalid". Zitadel translates an error's i18n key into the
 * instance's language before it answers (`User already inactive (COMMAND-5gunjw0cd7)`; a key its
 * internal/static/i18n/en.yaml lacks stays as it is), so a refusal is known by the id of the call site that
 * raised it, whatever the language, or by the key when it was left untranslated. Ids from the command layer
 * of github.com/zitadel/zitadel: internal/command/user_v2.go (Lock/Unlock/Deactivate/ReactivateUserV2),
 * user.go checkUserExists and user_machine_key.go checkAggregate, user_grant.go (checkUserGrantPreCondition,
 * the old and the new path; ChangeUserGrant; Deactivate/ReactivateUserGrant; removeRoleFromUserGrant),
 * project.go checkProjectExists (AddProjectRole).
 */
const REFUSALS: readonly { key: string; ids: readonly string[]; code: ErrorCode; says: string }[] = [
  {
    key: 'Errors.User.AlreadyInactive',
    ids: ['COMMAND-5gunjw0cd7'],
    code: 'ERR_CONFLICT',
    says: 'the user is already deactivated (someone may have just done it); nothing was changed. users_get shows its state, users_enable reactivates it',
  },
  {
    key: 'Errors.User.NotInactive',
    ids: ['COMMAND-s5qqcz97hf'],
    code: 'ERR_CONFLICT',
    says: 'the user is not deactivated (it is active, locked or in its initial setup), so there is nothing to reactivate; nothing was changed. users_get shows its state',
  },
  {
    key: 'Errors.User.NotLocked',
    ids: ['COMMAND-olb9vb0oca'],
    code: 'ERR_CONFLICT',
    says: 'the user is not locked, so there is nothing to unlock; nothing was changed. users_get shows its state',
  },
  {
    key: 'Errors.User.ShouldBeActiveOrInitial',
    ids: ['COMMAND-lgws8wtsqf'],
    code: 'ERR_CONFLICT',
    says: 'the user is already locked or deactivated, and Zitadel locks only active or initial users; nothing was changed. users_get shows its state',
  },
  {
    key: 'Errors.User.CantDeactivateInitial',
    ids: ['COMMAND-gvx4kct9r2'],
    code: 'ERR_CONFLICT',
    says: "the user has not finished its initial setup, and Zitadel cannot deactivate such a user; nothing was changed. Use users_disable with mode 'lock'",
  },
  {
    key: 'Errors.User.NotFound',
    ids: ['COMMAND-uXHNj', 'COMMAND-4f8sg', 'COMMAND-bnipwm1'],
    code: 'ERR_NOT_FOUND',
    says: "the user does not exist, or not in this server's organisation (it may have just been removed); find it with users_search",
  },
  {
    key: 'Errors.Project.NotFound',
    ids: ['COMMAND-m9gsd', 'COMMAND-3n77S', 'COMMA-VCnwD', 'COMMAND-EbFMN'],
    code: 'ERR_NOT_FOUND',
    says: "the project does not exist in this server's organisation (it may have been removed); see projects_list",
  },
  {
    key: 'Errors.Project.Grant.NotFound',
    ids: ['COMMAND-huvKF', 'COMMAND-4m9ff'],
    code: 'ERR_NOT_FOUND',
    says: "the project is neither this server's organisation's own nor granted to it; see projects_list",
  },
  {
    key: 'Errors.Org.NotFound',
    ids: ['COMMAND-3m9gg'],
    code: 'ERR_NOT_FOUND',
    says: "the organisation does not exist or is not active; check ZITADEL_ORG_ID and the organisation's state in Zitadel",
  },
  {
    key: 'Errors.Project.Role.NotFound',
    ids: ['COMMAND-mm9F4'],
    code: 'ERR_INVALID_INPUT',
    says: 'a role key is not defined on the project (keys are case-sensitive); see roles_list, or add it with roles_create',
  },
  {
    key: 'Errors.UserGrant.NotChanged',
    ids: ['COMMAND-Rs8fy'],
    code: 'ERR_CONFLICT',
    says: 'the grant already holds exactly these roles; nothing was changed',
  },
  {
    key: 'Errors.UserGrant.NotActive',
    ids: ['COMMAND-1S9gx'],
    code: 'ERR_CONFLICT',
    says: 'the grant is already deactivated; nothing was changed',
  },
  {
    key: 'Errors.UserGrant.NotInactive',
    ids: ['COMMAND-1ML0v'],
    code: 'ERR_CONFLICT',
    says: 'the grant is not deactivated; nothing was changed',
  },
  {
    key: 'Errors.UserGrant.RoleKeyNotFound',
    ids: ['COMMAND-5m8g9'],
    code: 'ERR_CONFLICT',
    says: 'the grant no longer holds that role; users_list_grants shows what it holds',
  },
];

/** The refusal a FAILED_PRECONDITION answer names: by its error id (details or `(ID)`), else its untranslated key. */
function refusalOf(message: string, details: unknown): (typeof REFUSALS)[number] | undefined {
  const detailId = Array.isArray(details)
    ? details
        .map((d) => (d && typeof d === 'object' ? (d as { id?: unknown }).id : undefined))
        .find((id) => typeof id === 'string')
    : undefined;
  const id = (detailId as string | undefined) ?? /\(([A-Za-z]+-[A-Za-z0-9]+)\)\s*$/.exec(message)?.[1];
  const key = /^\s*(Errors(?:\.[A-Za-z]+)+)/.exec(message)?.[1];
  return REFUSALS.find((r) => (id !== undefined && r.ids.includes(id)) || r.key === key);
}

/**
 * Maps a Zitadel error answer (grpc-gateway `{code, message, details}`, or an OAuth `{error,
 * error_description}` from the token endpoint) to a tool error that says what to do.
 */
export function zitadelError(status: number, body: unknown, what: string, secrets: readonly string[] = []): ToolError {
  const b = (body && typeof body === 'object' ? body : {}) as { code?: unknown; message?: unknown; details?: unknown };
  const code = typeof b.code === 'number' ? b.code : undefined;
  const raw = typeof b.message === 'string' ? b.message : typeof body === 'string' ? body : '';
  // an answer may echo the request (a proxy, a debug page): the credentials it carried go before the cut
  const said = sliceChars(withoutSecrets(raw, secrets).replace(/\s+/g, ' '), 200);
  const detail = said ? `: ${said}` : '';
  // FAILED_PRECONDITION names the object's state: said as that state, with what to do
  const refusal = code === 9 ? refusalOf(raw, b.details) : undefined;
  if (refusal)
    return new ToolError(refusal.code, `Zitadel refused ${what}: ${refusal.says} (${said})`, { refusal: refusal.key });
  if (code === 5 || (code === undefined && status === 404)) {
    return new ToolError('ERR_NOT_FOUND', `Zitadel found no ${what}${detail}; check the id or name`);
  }
  // ABORTED is HTTP 409 at the gateway too (grpc-gateway HTTPStatusFromCode), but names no existing object:
  // a concurrent change cut the call short (Zitadel itself never sends it: internal/api/grpc/gerrors
  // zitadel_errors.go; a proxy or another gRPC hop in front may)
  if (code === 10) {
    return new ToolError(
      'ERR_CONFLICT',
      `Zitadel aborted the call on ${what} (a concurrent change)${detail}; read the current state, then repeat the call`,
    );
  }
  // RESOURCE_EXHAUSTED: the instance's request quota is used up (QUOTA-vjAy8 Quota.Access.Exhausted, from the
  // access interceptor, internal/api/grpc/server/middleware/quota_interceptor.go): every call fails until the
  // quota's period renews or an operator raises it, so an immediate retry only adds to it
  if (code === 8 || (code === undefined && status === 429)) {
    return new ToolError(
      'ERR_BACKEND_ERROR',
      `Zitadel refused ${what}: resource exhausted (its request quota or a limit is used up)${detail}; retrying at once does not help: wait for the quota period to renew, or ask an operator to raise it`,
    );
  }
  if (code === 6 || (code === undefined && status === 409)) {
    return new ToolError(
      'ERR_CONFLICT',
      `${what} already exists in Zitadel${detail}; pick another name or use the existing one`,
    );
  }
  if (code === 3 || code === 9 || (code === undefined && status === 400)) {
    return new ToolError('ERR_INVALID_INPUT', `Zitadel refused ${what} as invalid${detail}`);
  }
  if (code === 7 || status === 403) {
    return new ToolError(
      'ERR_NOT_ALLOWED',
      `Zitadel denied this server's service account access to ${what}${detail}; grant it a manager role (e.g. ORG_USER_MANAGER, PROJECT_OWNER) in the organisation`,
    );
  }
  if (code === 16 || status === 401) {
    return new ToolError(
      'ERR_BACKEND_ERROR',
      `Zitadel did not accept this server's credentials${detail}; check the service-account key file and that the account is active`,
    );
  }
  // UNAVAILABLE, or a gateway in front saying Zitadel is down: the code other servers use for a backend that
  // cannot answer now (Prometheus' and GitLab's 503s), so an agent handles every server's outage alike
  if (code === 14 || (code === undefined && (status === 502 || status === 503))) {
    return new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `Zitadel is not able to answer ${what} right now (${code === 14 ? 'UNAVAILABLE' : `HTTP ${status}`})${detail}; try again shortly, or check that Zitadel is up`,
    );
  }
  const name = code !== undefined ? (GRPC_NAMES[code] ?? `gRPC code ${code}`) : `HTTP ${status}`;
  return new ToolError('ERR_BACKEND_ERROR', `Zitadel failed on ${what} (${name})${detail}; try again or check Zitadel`);
}

/** `text` with each secret (8+ characters) replaced by [redacted]. */
export function withoutSecrets(text: string, secrets: readonly string[]): string {
  return withoutValues(text, secrets, 8);
}

export function totalOf(details: unknown): number {
  const t = (details as { totalResult?: unknown } | undefined)?.totalResult;
  const n = typeof t === 'string' ? Number(t) : typeof t === 'number' ? t : 0;
  return Number.isFinite(n) ? n : 0;
}
