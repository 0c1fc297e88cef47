/**
 * A Zitadel simulator (tests only): organisations, projects with roles, human and machine users,
 * machine keys, user grants, and the OAuth token endpoint for the JWT-profile grant, answered over
 * loopback HTTP as Zitadel's REST gateway answers them.
 *
 * Built from Zitadel's own API reference and protos:
 * - v2 user service: github.com/zitadel/zitadel proto/zitadel/user/v2/user_service.proto (ListUsers
 *   `POST /v2/users`, GetUserByID `GET /v2/users/{user_id}`), user.proto (User, HumanUser,
 *   MachineUser, UserState, AccessTokenType), query.proto (SearchQuery oneof: userNameQuery,
 *   emailQuery, typeQuery TYPE_HUMAN/TYPE_MACHINE, stateQuery, loginNameQuery, inUserIdsQuery,
 *   organizationIdQuery; TextQueryMethod), DeactivateUser/LockUser `POST /v2/users/{user_id}/deactivate|lock`
 *   (FAILED_PRECONDITION when already in that state), object/v2 ListQuery {offset, limit, asc} and
 *   ListDetails {totalResult, timestamp}; https://zitadel.com/docs/apis/resources/user_service_v2
 *   The v2 user service is instance-wide: x-zitadel-orgid does not bound it (the caller's permissions on
 *   the user's organisation do); the simulated manager account may act in every organisation, as an
 *   IAM-level manager may, unless it is one of orgBoundManagers (an ORG_OWNER of its own organisation only).
 * - v2 organisation service: ListOrganizations `POST /v2/organizations/_search`
 *   (https://zitadel.com/docs/apis/resources/org_service_v2)
 * - list order: ListUsers orders by user id unless a sorting column is given (internal/api/grpc/user/v2/query.go
 *   userFieldNameToSortingColumn); ListOrganizations without one (fieldNameToOrganizationColumn,
 *   internal/api/grpc/org/v2/query.go), ListProjects, ListProjectRoles (internal/api/grpc/management/
 *   project_converter.go), ListMachineKeys (user_converter.go ListMachineKeysRequestToQuery) and ListUserGrants
 *   set none, and internal/query/search_query.go adds an ORDER BY only for a column: their rows come in the
 *   table's order, here the order of the state's arrays.
 * - management v1 (where v2 lacks the call), https://zitadel.com/docs/apis/resources/mgmt:
 *   ListProjects `POST /management/v1/projects/_search`, ListProjectRoles
 *   `POST /management/v1/projects/{project_id}/roles/_search`, ListUserGrants
 *   `POST /management/v1/users/grants/_search` (userIdQuery, projectIdQuery), AddUserGrant
 *   `POST /management/v1/users/{user_id}/grants` -> {userGrantId, details} (the user may belong to any
 *   organisation, the project must be the granting one's: internal/command/user_grant.go
 *   checkUserGrantPreCondition), GetUserGrantByID `GET .../grants/{grant_id}` -> {userGrant},
 *   UpdateUserGrant `PUT .../grants/{grant_id}`, RemoveUserGrant `DELETE .../grants/{grant_id}`, AddMachineUser
 *   `POST /management/v1/users/machine` -> {userId, details}, AddMachineKey `POST
 *   /management/v1/users/{user_id}/keys` -> {keyId, keyDetails (base64 of the JSON key file), details},
 *   ListMachineKeys `POST /management/v1/users/{user_id}/keys/_search`, GetMachineKeyByIDs `GET
 *   .../keys/{key_id}` -> {key}, RemoveMachineKey `DELETE .../keys/{key_id}`, AddProjectRole `POST /management/v1/projects/{project_id}/roles`; the `x-zitadel-orgid`
 *   header selects the organisation management calls act in.
 * - management v1 ListUserMemberships `POST /management/v1/users/{user_id}/memberships/_search`
 *   (https://zitadel.com/docs/reference/api/management/zitadel.management.v1.ManagementService.ListUserMemberships,
 *   deprecated there in favour of ListAdministrators but served): request {query: ListQuery, queries:
 *   MembershipQuery[]} with the oneof orgQuery {orgId} | projectQuery {projectId} | projectGrantQuery
 *   {projectGrantId} | iamQuery {iam} (proto/zitadel/user.proto; any other query: INVALID_ARGUMENT
 *   `Errors.List.Query.Invalid (USER-dsg3z)`, internal/api/grpc/user/membership.go); answer {details:
 *   ListDetails, result: Membership[]}, Membership {userId, details {sequence, creationDate, changeDate,
 *   resourceOwner}, roles, displayName (the org's or project's name), oneof iam: true | orgId | projectId |
 *   projectGrantId}. Zitadel adds two filters of its own (internal/api/grpc/management/user_converter.go
 *   ListUserMembershipsRequestToModel): the user id, and resource owner IN (the instance, the request's
 *   organisation): instance memberships and those of the header's organisation only, never another
 *   organisation's. An unknown user is an empty list, not NOT_FOUND (it is a query, not a lookup).
 * - v2 ListAdministrators, connect only (no REST mapping in the proto): `POST
 *   /zitadel.internal_permission.v2.InternalPermissionService/ListAdministrators` with `Content-Type:
 *   application/json` and `Connect-Protocol-Version: 1`
 *   (https://zitadel.com/docs/reference/api/internal_permission/zitadel.internal_permission.v2.InternalPermissionService.ListAdministrators;
 *   proto/zitadel/internal_permission/v2/internal_permission_service.proto, query.proto, filter/v2/filter.proto):
 *   request {pagination {offset, limit, asc}, sortingColumn, filters: AdministratorSearchFilter[]}; answer
 *   {pagination {totalResult, appliedLimit}, administrators: Administrator[]}, Administrator {creationDate,
 *   changeDate, user {id, preferredLoginName, displayName, organizationId}, oneof instance: true | organization
 *   {id, name} | project {id, name, organizationId} | projectGrant {id, projectId, projectName, organizationId,
 *   grantedOrganizationId}, roles}. Every organisation's memberships, the instance's, projects' and project
 *   grants' (internal/query/administrator.go searchAdministrators: only the instance id bounds the query; no
 *   x-zitadel-orgid). Its auth option is "authenticated": no permission is checked up front; the rows the caller
 *   may not read (iam.member.read, org.member.read on the organisation, project.member.read,
 *   project.grant.member.read) are dropped AFTER the query, the caller's own always kept
 *   (administratorsCheckPermission), so `totalResult` (COUNT(*) OVER () of the query) still counts them.
 *   Default order: creation date, descending unless `asc` (administratorFieldNameToSortingColumn); limit 0: the
 *   default 100; above 1000: INVALID_ARGUMENT Errors.Query.LimitExceeded (QUERY-4M0fs, filter/v2
 *   PaginationPbToQuery). Filters handled by Zitadel: inUserIdsFilter, creationDate, changeDate,
 *   userOrganizationId, userPreferredLoginName, userDisplayName, resource; any other (role, and, or, not):
 *   INVALID_ARGUMENT List.Query.Invalid (ORG-vR9nC, administratorFilterToModel). Errors in connect's form
 *   (zitadel-proto.ts connectError).
 * - admin v1 ListEvents `POST /admin/v1/events/_search` (https://zitadel.com/docs/guides/integrate/event-api,
 *   zitadel.event.v1 Event {editor {userId, displayName, service}, aggregate {id, type, resourceOwner},
 *   sequence, creationDate, payload, type {type, localized}}): filters sequence (greater than, whatever
 *   `asc`; counted per aggregate), creationDate/from (before it when descending, after it when `asc`) or
 *   range {since, until}, limit (at most 1000), editorUserId, eventTypes, aggregateId (one id, a string:
 *   ListEventsRequest aggregate_id; event.go makes a list of it or of nothing), aggregateTypes,
 *   resourceOwner; no total (internal/api/grpc/admin/event.go eventRequestToFilter,
 *   internal/eventstore/search_query.go, internal/eventstore/v3/push.sql). A user grant's events are on
 *   the grant's own aggregate, type `usergrant`, id the grant's id, owned by the granting organisation
 *   (internal/repository/usergrant/aggregate.go, internal/command/user_grant.go), not on the user's:
 *   `user.grant.added` carries {userId, projectId, grantId (the project grant's, when there is one),
 *   roleKeys}, `user.grant.changed` {roleKeys}, removed, cascade.removed, deactivated and reactivated no
 *   payload (internal/repository/usergrant/user_grant.go).
 * - errors: the grpc-gateway body `{code, message, details}` with the gRPC code number and the
 *   gateway's HTTP status (3 INVALID_ARGUMENT 400, 5 NOT_FOUND 404, 6 ALREADY_EXISTS 409,
 *   7 PERMISSION_DENIED 403, 9 FAILED_PRECONDITION 400, 16 UNAUTHENTICATED 401); messages are
 *   Zitadel's i18n keys translated into English with the call site's id, e.g. `User could not be found
 *   (QUERY-Dfbg2)`, the key itself where en.yaml has no text for it (see zitadel-proto.ts grpcError).
 * - JSON encoding as protojson does it for the gateway: camelCase names, 64-bit integers as strings
 *   (`totalResult: "3"`), unpopulated fields (false, "", 0, empty lists, enum 0) omitted.
 * - token endpoint `POST /oauth/v2/token` with grant_type urn:ietf:params:oauth:grant-type:jwt-bearer
 *   (RFC 7523; https://zitadel.com/docs/guides/integrate/service-users/private-key-jwt): assertion
 *   iss = sub = user id, aud = the issuer, kid = key id, RS256, signature checked against the key's
 *   registered public key; errors as RFC 6749 5.2 `{error, error_description}`. Users whose access
 *   token type is JWT get a signed JWT (typ JWT, as Zitadel signs them) with `aud` = the projects
 *   requested by `urn:zitadel:iam:org:project:id:{id}:aud`, and, with the scope
 *   `urn:zitadel:iam:org:projects:roles`, one `urn:zitadel:iam:org:project:{id}:roles` claim
 *   `{ role: { orgId: orgDomain } }` per audience project (https://zitadel.com/docs/apis/openidoauth/scopes,
 *   /claims); others get an opaque token. Discovery at /.well-known/openid-configuration, keys at
 *   /oauth/v2/keys.
 *
 * The encoding helpers live in zitadel-proto.ts and the sample organisation in zitadel-seed.ts; the
 * endpoints stay together here because they share one closure over the simulated state.
 */
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { decodeProtectedHeader, exportJWK, jwtVerify, SignJWT } from 'jose';
import { type Reply, type SimRequest, type SimServer, serve } from './http.js';
import {
  BadRequest,
  compact,
  connectError,
  grpcError,
  listWindow,
  nextId,
  parseBody,
  textMatch,
} from './zitadel-proto.js';

export { seedZitadel } from './zitadel-seed.js';

export type UserState = 'USER_STATE_ACTIVE' | 'USER_STATE_INACTIVE' | 'USER_STATE_LOCKED' | 'USER_STATE_INITIAL';

export interface SimUser {
  id: string;
  orgId: string;
  username: string;
  state: UserState;
  created: string;
  human?: { givenName: string; familyName: string; displayName: string; email: string; emailVerified: boolean };
  machine?: {
    name: string;
    description: string;
    accessTokenType: 'ACCESS_TOKEN_TYPE_BEARER' | 'ACCESS_TOKEN_TYPE_JWT';
  };
}

export interface SimGrant {
  id: string;
  userId: string;
  projectId: string;
  /** The organisation the grant was made in (its resource owner). */
  orgId: string;
  roleKeys: string[];
  /**
   * Absent: active. An operator can deactivate a grant (management v1 DeactivateUserGrant); its roles then
   * stay on it but go into no token (internal/query/userinfo_by_id.sql reads user grants `state = 1` only).
   */
  state?: 'USER_GRANT_STATE_INACTIVE' | undefined;
}

export interface SimEvent {
  sequence: number;
  creationDate: string;
  type: string;
  aggregateId: string;
  aggregateType: string;
  resourceOwner: string;
  editorUserId: string;
  payload?: Record<string, unknown>;
}

/** A Zitadel membership ("manager"): roles on the instance, an organisation, a project or a project grant. */
export interface SimMembership {
  userId: string;
  kind: 'iam' | 'org' | 'project' | 'projectGrant';
  /** The org, project or project-grant id (the instance id for `iam`). */
  objectId: string;
  /** The instance id for `iam`; the owning organisation otherwise (a project grant's: the project's). */
  resourceOwner: string;
  roles: string[];
  created: string;
  /** A project grant's project and the organisation it is granted to (projectGrant only). */
  projectId?: string;
  grantedOrgId?: string;
}

interface SimKey {
  id: string;
  userId: string;
  publicKey: KeyObject;
  expiration: string;
  created: string;
}

export interface ZitadelSim extends SimServer {
  /** The issuer (= base URL), which JWT-profile assertions must name as `aud`. */
  issuer: string;
  /**
   * Organisations with their primary domain, and a custom domain policy's userLoginMustBeDomain when the
   * organisation has one (absent: the instance's default, userLoginMustBeDomain below).
   */
  orgs: {
    id: string;
    name: string;
    domain: string;
    userLoginMustBeDomain?: boolean;
    /**
     * Every domain of the organisation, in the order they were added, the primary (`domain`) among them
     * (absent: `domain` alone). An organisation may add several (management v1 AddOrgDomain), each counting
     * for login names once verified (the login_names3_domains table takes a domain on org.domain.verified,
     * internal/query/projection/login_name.go reduceDomainVerified); one verified domain is primary
     * (SetPrimaryOrgDomain refuses others: Errors.Org.DomainNotVerified, internal/static/i18n/en.yaml);
     * https://zitadel.com/docs/apis/resources/mgmt/management-service-validate-org-domain.
     */
    domains?: { name: string; verified: boolean }[];
  }[];
  /**
   * The instance's default domain policy (cmd/defaults.yaml DefaultInstance.DomainPolicy.UserLoginMustBeDomain,
   * true unless the operator changed it). It decides login names (projections.login_names3 view,
   * internal/query/projection/login_name.go): with it, `username@domain` for each of the organisation's
   * domains, the primary one preferred; without it, the bare username, the only and preferred login name.
   * It also scopes username uniqueness (internal/repository/user/user.go NewAddUsernameUniqueConstraint:
   * username + organisation with it, the bare username instance-wide without it).
   */
  userLoginMustBeDomain: boolean;
  projects: { id: string; orgId: string; name: string; roles: { key: string; displayName: string; group: string }[] }[];
  users: SimUser[];
  grants: SimGrant[];
  keys: SimKey[];
  /** The instance's id: the resource owner of instance (IAM) memberships. */
  instanceId: string;
  /** Memberships: who administers the instance, an organisation, a project or a project grant. */
  memberships: SimMembership[];
  /** Access tokens issued, by token. */
  tokens: Map<string, { userId: string; expiresAt: number }>;
  /** The event store, oldest first (admin ListEvents reads it). */
  events: SimEvent[];
  /** Records an event as Zitadel's eventstore would (tests use it to seed logins). */
  record(e: Omit<SimEvent, 'sequence' | 'creationDate'> & { creationDate?: string }): void;
  /** Users allowed to call the management and user APIs (an ORG_OWNER/IAM_OWNER stand-in). */
  managers: Set<string>;
  /**
   * Managers whose rights stop at their own organisation (an ORG_OWNER there and nothing instance-wide):
   * the v2 user service checks `user.read` / `user.write` on the user's organisation, so a user of another
   * one is PERMISSION_DENIED `Errors.PermissionDenied (AUTHZ-HKJD33)` by id (GetUserByID:
   * query.GetUserByIDWithPermission, NOT_FOUND first when there is no such user; Lock/Deactivate/...UserV2:
   * checkPermissionUpdateUser after the state checks, internal/command/user_v2.go) and left out of ListUsers
   * (query.SearchUsers with the permission check). Other managers reach every organisation.
   */
  orgBoundManagers: Set<string>;
  /**
   * Permissions (Zitadel's RolePermissionMappings names, e.g. `user.membership.read`) every caller's
   * roles lack: the calls that need them answer PERMISSION_DENIED as Zitadel's authz interceptor does.
   */
  withheld: Set<string>;
  /**
   * How long the user-grant projection lags a write to a grant (ms): until then ListUserGrants shows the
   * grant as it was before (a new one not at all, a changed one with its old roles, a removed one still).
   * Zitadel's queries read projections, which lag the eventstore ("eventually consistent and may fall
   * behind", zitadel.com/docs/self-hosting/manage/tuning; scheduled every Projections.RequeueEvery, 60s by
   * default); management ListUserGrants reads the user-grant projection without triggering it
   * (internal/api/grpc/management/user_grant.go: UserGrants(ctx, queries, false, false)), GetUserGrantByID
   * triggers it first (internal/query/user_grant.go UserGrant(ctx, true, ...): Trigger with
   * WithAwaitRunning, before the read and whatever it finds), which brings the projection up to date for
   * every grant: the next ListUserGrants shows every write made before it.
   */
  grantProjectionLagMs: number;
  /**
   * Test hook, not Zitadel behaviour: how long (ms) each GetUserGrantByID waits for another one to arrive
   * (0: none); a pair is answered together, from the same state. Two callers then read the same role list
   * before either writes: the interleaving that a read-modify-write of a grant has to survive.
   */
  grantReadPairingMs: number;
  /**
   * Test hook, not Zitadel behaviour: runs when a ListUserGrants arrives, before it reads, with the organisation
   * it acts in, as another writer's change landing between two pages would.
   */
  beforeGrantList: ((orgId: string) => void) | undefined;
  /** Test hook: runs after every grant write (AddUserGrant, UpdateUserGrant), e.g. as another writer would. */
  afterGrantWrite: ((g: SimGrant) => void) | undefined;
  /**
   * Test hook, not Zitadel behaviour: runs when an UpdateUserGrant arrives, before its checks, with the role
   * list it carries, as another writer's change landing just ahead of it would.
   */
  beforeGrantUpdate: ((g: SimGrant, roleKeys: string[]) => void) | undefined;
  /**
   * Test hook, not Zitadel behaviour: runs when a user state change (v2 deactivate, reactivate, lock, unlock)
   * arrives, before its checks, as another writer's change landing just ahead of it would (the console, a
   * second agent).
   */
  beforeUserStateChange: ((u: SimUser) => void) | undefined;
  /**
   * Test hook, not Zitadel behaviour: runs when a RemoveMachineKey arrives, before its checks, as another
   * writer's change landing just ahead of it would (the key or its user removed meanwhile).
   */
  beforeKeyRemove: ((userId: string, keyId: string) => void) | undefined;
  /**
   * An older Zitadel whose user-name queries read `_` and `%` as LIKE wildcards (see zitadel-proto.ts
   * textMatch); false: current versions, which escape them.
   */
  likeWildcards: boolean;
  /**
   * Whether the instance serves v2 ListAdministrators (zitadel.internal_permission.v2); false: an older Zitadel
   * without that service, whose router answers the path as any unknown one (404).
   */
  administratorsApi: boolean;
  /** Token lifetime in seconds. */
  tokenTtlSeconds: number;
  /** Counters for tests. */
  stats: { tokenRequests: number };
  /** Adds a machine user with a key: returns the key file Zitadel would hand out. */
  addServiceAccount(opts: { username: string; orgId?: string; manager?: boolean }): {
    userId: string;
    keyFile: string;
  };
}

/** Microseconds since the epoch of an RFC 3339 time (a protobuf Timestamp in JSON), nanoseconds dropped. */
function microsOf(iso: string | undefined): bigint | undefined {
  if (iso === undefined) return undefined;
  const m = /^(.{19})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(iso);
  const whole = m ? Date.parse(`${m[1]}${m[3]}`) : Number.NaN;
  // protojson refuses the body and the gateway answers 3 INVALID_ARGUMENT (400), as for any malformed field
  if (!m || !Number.isFinite(whole)) throw new BadRequest(`proto: invalid google.protobuf.Timestamp value "${iso}"`);
  return BigInt(whole) * 1000n + BigInt((m[2] ?? '').padEnd(9, '0').slice(0, 6));
}

/** RFC 3339 as protojson writes a Timestamp (0, 3, 6 or 9 fraction digits) that Postgres stored (microseconds). */
function isoOfMicros(us: bigint): string {
  const frac = (us % 1_000_000n).toString().padStart(6, '0');
  const digits = frac === '000000' ? '' : frac.endsWith('000') ? `.${frac.slice(0, 3)}` : `.${frac}`;
  return `${new Date(Number(us / 1000n)).toISOString().slice(0, 19)}${digits}Z`;
}

export async function startZitadelSim(): Promise<ZitadelSim> {
  const now = () => new Date().toISOString();
  const created = now();
  const org = { id: nextId(), name: 'Ravenhelm', domain: 'ravenhelm.zitadel.test' };
  const state: Omit<ZitadelSim, keyof SimServer | 'issuer' | 'addServiceAccount' | 'record'> = {
    instanceId: nextId(),
    userLoginMustBeDomain: true,
    memberships: [],
    events: [],
    orgs: [org],
    projects: [],
    users: [],
    grants: [],
    keys: [],
    tokens: new Map(),
    managers: new Set(),
    orgBoundManagers: new Set(),
    withheld: new Set(),
    grantProjectionLagMs: 0,
    grantReadPairingMs: 0,
    afterGrantWrite: undefined,
    beforeGrantList: undefined,
    beforeGrantUpdate: undefined,
    beforeUserStateChange: undefined,
    beforeKeyRemove: undefined,
    likeWildcards: false,
    administratorsApi: true,
    tokenTtlSeconds: 43_200,
    stats: { tokenRequests: 0 },
  };
  let issuer = '';
  // eventstore v3 (internal/eventstore/v3/push.sql): event_sequence counts per aggregate, created_at is a
  // Postgres timestamptz (microseconds), position orders the store (here: the order of recording).
  const aggregateSequence = new Map<string, number>();
  let lastMicros = 0n;
  /** Now to the microsecond, each event later than the one before (as created_at of separate transactions). */
  const nowMicros = () => {
    const t = BigInt(Date.now()) * 1000n;
    lastMicros = t > lastMicros ? t : lastMicros + 1n;
    return isoOfMicros(lastMicros);
  };
  function record(e: Omit<SimEvent, 'sequence' | 'creationDate'> & { creationDate?: string }) {
    const aggregate = `${e.aggregateType}/${e.aggregateId}`;
    const sequence = (aggregateSequence.get(aggregate) ?? 0) + 1;
    aggregateSequence.set(aggregate, sequence);
    const creationDate = e.creationDate ?? nowMicros();
    // a time a test gives moves the clock too: the store's times never go back
    const at = microsOf(creationDate) as bigint;
    if (at > lastMicros) lastMicros = at;
    state.events.push({ ...e, sequence, creationDate });
  }
  const userEvent = (u: SimUser, type: string, editor: string, payload?: Record<string, unknown>) =>
    record({
      type,
      aggregateId: u.id,
      aggregateType: 'user',
      resourceOwner: u.orgId,
      editorUserId: editor,
      ...(payload ? { payload } : {}),
    });
  /** An event on grant `g`'s own aggregate (see the header: usergrant, the grant's id, its organisation). */
  const grantEvent = (g: SimGrant, type: string, editor: string, payload?: Record<string, unknown>) =>
    record({
      type,
      aggregateId: g.id,
      aggregateType: 'usergrant',
      resourceOwner: g.orgId,
      editorUserId: editor,
      ...(payload ? { payload } : {}),
    });

  /**
   * The user-grant projection where it differs from the grants: per grant id with writes it has not
   * projected yet, what it shows until then (undefined: nothing) and when it catches up. Writes in a row
   * keep what it showed before the first of them until the last is projected.
   */
  const grantBacklog = new Map<string, { until: number; shown: SimGrant | undefined }>();
  /** Call before a write to grant `id` (`before`: the grant as it is, undefined when it is being added). */
  function grantWritten(id: string, before: SimGrant | undefined) {
    if (state.grantProjectionLagMs <= 0) return;
    const shown = grantBacklog.has(id) ? grantBacklog.get(id)?.shown : before && structuredClone(before);
    grantBacklog.set(id, { until: Date.now() + state.grantProjectionLagMs, shown });
  }
  /** The grants as the user-grant projection has them (what ListUserGrants reads). */
  function projectedGrants(): SimGrant[] {
    for (const [id, b] of grantBacklog) if (b.until <= Date.now()) grantBacklog.delete(id);
    const shown = (g: SimGrant) => (grantBacklog.has(g.id) ? grantBacklog.get(g.id)?.shown : g);
    const removed = [...grantBacklog.keys()].filter((id) => !state.grants.some((g) => g.id === id));
    return [...state.grants.map(shown), ...removed.map((id) => grantBacklog.get(id)?.shown)].filter(
      (g): g is SimGrant => g !== undefined,
    );
  }

  /** The grant read waiting for a partner (grantReadPairingMs), if any. */
  let unpaired: (() => void) | undefined;
  function pairGrantRead(): Promise<void> {
    const waiting = unpaired;
    if (waiting) {
      unpaired = undefined;
      waiting();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const go = () => {
        if (unpaired === go) unpaired = undefined;
        resolve();
      };
      unpaired = go;
      setTimeout(go, state.grantReadPairingMs);
    });
  }

  function details(resourceOwner: string, at = created) {
    return { sequence: '1', creationDate: at, changeDate: at, resourceOwner };
  }

  /** Whether usernames of `orgId` carry its domain (its custom policy, else the instance's default). */
  function mustBeDomain(orgId: string): boolean {
    return state.orgs.find((o) => o.id === orgId)?.userLoginMustBeDomain ?? state.userLoginMustBeDomain;
  }
  /**
   * A user's login names as the user queries build them from the login_names3 view
   * (internal/query/user_by_id.sql and siblings: `username@domain` per verified domain of the user's
   * organisation when the policy says userLoginMustBeDomain, else the bare username; login_names is an
   * array_agg with no ORDER BY, here in the order the domains were added, so the preferred one need not be
   * first), and the preferred one: the login name on the primary domain (`ln.is_primary`).
   */
  function loginNamesOf(u: SimUser): { loginNames: string[]; preferred: string } {
    if (!mustBeDomain(u.orgId)) return { loginNames: [u.username], preferred: u.username };
    const org = state.orgs.find((o) => o.id === u.orgId);
    const primary = org?.domain ?? 'unknown';
    const verified = (org?.domains ?? [{ name: primary, verified: true }]).filter((d) => d.verified);
    return {
      loginNames: verified.map((d) => `${u.username}@${d.name}`),
      preferred: `${u.username}@${primary}`,
    };
  }

  function userV2(u: SimUser) {
    const { loginNames, preferred } = loginNamesOf(u);
    return compact({
      userId: u.id,
      details: details(u.orgId, u.created),
      state: u.state,
      username: u.username,
      loginNames,
      preferredLoginName: preferred,
      human: u.human && {
        userId: u.id,
        state: u.state,
        username: u.username,
        loginNames,
        preferredLoginName: preferred,
        profile: { givenName: u.human.givenName, familyName: u.human.familyName, displayName: u.human.displayName },
        email: { email: u.human.email, isVerified: u.human.emailVerified },
      },
      machine: u.machine && {
        name: u.machine.name,
        description: u.machine.description,
        // ACCESS_TOKEN_TYPE_BEARER is enum 0: protojson leaves it out.
        accessTokenType:
          u.machine.accessTokenType === 'ACCESS_TOKEN_TYPE_BEARER' ? undefined : u.machine.accessTokenType,
      },
    });
  }

  function userMatches(u: SimUser, q: Record<string, Record<string, unknown>>): boolean {
    const [kind, v] = Object.entries(q)[0] ?? [];
    if (!kind || !v) throw new BadRequest('invalid SearchQuery.Query: value is required');
    switch (kind) {
      case 'userNameQuery':
        return textMatch(u.username, String(v.userName ?? ''), v.method as string, state.likeWildcards);
      case 'emailQuery':
        return !!u.human && textMatch(u.human.email, String(v.emailAddress ?? ''), v.method as string);
      case 'loginNameQuery':
        // any of the user's login names (the login_names3 view), not only the preferred one
        return loginNamesOf(u).loginNames.some((n) => textMatch(n, String(v.loginName ?? ''), v.method as string));
      case 'typeQuery':
        return v.type === 'TYPE_HUMAN' ? !!u.human : v.type === 'TYPE_MACHINE' ? !!u.machine : false;
      case 'stateQuery':
        return u.state === v.state;
      case 'inUserIdsQuery':
        return ((v.userIds as string[]) ?? []).includes(u.id);
      case 'organizationIdQuery':
        return u.orgId === v.organizationId;
      case 'orQuery':
        return ((v.queries as Record<string, Record<string, unknown>>[]) ?? []).some((s) => userMatches(u, s));
      case 'andQuery':
        return ((v.queries as Record<string, Record<string, unknown>>[]) ?? []).every((s) => userMatches(u, s));
      default:
        throw new BadRequest(`unsupported query ${kind}`);
    }
  }

  function list<T>(all: T[], body: Record<string, unknown>, map: (t: T) => unknown): Reply {
    const { offset, limit } = listWindow(body);
    const page = all.slice(offset, offset + limit).map(map);
    return {
      status: 200,
      json: compact({
        details: { totalResult: String(all.length), timestamp: now(), viewTimestamp: now() },
        result: page,
      }),
    };
  }

  /** The caller of an API request, or the error reply. */
  function caller(req: SimRequest): { userId: string; orgId: string } | Reply {
    const auth = req.headers.authorization;
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (!token) return grpcError(16, 'auth header missing', 'AUTH-7mr9d');
    const t = state.tokens.get(token);
    if (!t || t.expiresAt < Date.now() / 1000) return grpcError(16, 'Errors.Token.Invalid', 'AUTH-7fs1e');
    const user = state.users.find((u) => u.id === t.userId);
    if (user?.state !== 'USER_STATE_ACTIVE') return grpcError(16, 'Errors.User.NotActive', 'AUTH-4n8Fs');
    if (!state.managers.has(user.id)) return grpcError(7, 'No matching permissions found', 'AUTH-5mWD2');
    const header = req.headers['x-zitadel-orgid'];
    const orgId = typeof header === 'string' ? header : user.orgId;
    if (!state.orgs.some((o) => o.id === orgId)) return grpcError(5, 'Errors.Org.NotFound', 'QUERY-iTTGJ');
    // A management call acts in the header's organisation and needs the caller's role there: Zitadel's authz
    // interceptor reads the caller's memberships for the context organisation (internal/api/authz/
    // authorization.go CheckUserAuthorization, getUserPermissions), so an ORG_OWNER of its own organisation
    // only is refused another one's ("No matching permissions found", AUTH-5mWD2). IAM-level managers pass.
    if (req.url.pathname.startsWith('/management/') && state.orgBoundManagers.has(user.id) && orgId !== user.orgId)
      return grpcError(7, 'No matching permissions found', 'AUTH-5mWD2');
    return { userId: user.id, orgId };
  }

  /** Whether the v2 user service lets `callerId` read or change users of `orgId` (see orgBoundManagers). */
  function reachesOrg(callerId: string, orgId: string): boolean {
    return !state.orgBoundManagers.has(callerId) || state.users.find((u) => u.id === callerId)?.orgId === orgId;
  }
  const permissionDenied = () => grpcError(7, 'Errors.PermissionDenied', 'AUTHZ-HKJD33');

  function machineKeyPair() {
    return generateKeyPairSync('rsa', { modulusLength: 2048 });
  }

  function addKey(userId: string, expiration: string) {
    const { publicKey, privateKey } = machineKeyPair();
    const key: SimKey = { id: nextId(), userId, publicKey, expiration, created: now() };
    state.keys.push(key);
    const keyFile = JSON.stringify({
      type: 'serviceaccount',
      keyId: key.id,
      key: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      expirationDate: expiration,
      userId,
    });
    return { key, keyFile };
  }

  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKid = nextId();

  async function jwtAccessToken(user: SimUser, scope: string, expiresAt: number): Promise<string> {
    const scopes = scope.split(' ').filter(Boolean);
    const audience = scopes
      .map((s) => /^urn:zitadel:iam:org:project:id:([^:]+):aud$/.exec(s)?.[1])
      .filter((id): id is string => !!id && state.projects.some((p) => p.id === id));
    const claims: Record<string, unknown> = { client_id: user.username, scope: scopes.join(' ') };
    if (scopes.includes('urn:zitadel:iam:org:projects:roles')) {
      for (const projectId of audience) {
        const roles: Record<string, Record<string, string>> = {};
        for (const g of state.grants.filter((x) => x.userId === user.id && x.projectId === projectId && !x.state)) {
          const domain = state.orgs.find((o) => o.id === g.orgId)?.domain ?? '';
          for (const role of g.roleKeys) roles[role] = { ...roles[role], [g.orgId]: domain };
        }
        if (Object.keys(roles).length > 0) claims[`urn:zitadel:iam:org:project:${projectId}:roles`] = roles;
      }
    }
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: signingKid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(user.id)
      .setAudience(audience.length > 0 ? audience : [user.id])
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime(expiresAt)
      .setJti(randomBytes(9).toString('hex'))
      .sign(signing.privateKey);
  }

  async function token(req: SimRequest): Promise<Reply> {
    state.stats.tokenRequests++;
    const oauthError = (error: string, description: string, status = 400): Reply => ({
      status,
      json: { error, error_description: description },
    });
    const form = new URLSearchParams(req.body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return oauthError('unsupported_grant_type', 'grant_type not supported');
    }
    const assertion = form.get('assertion') ?? '';
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(assertion).kid;
    } catch {
      return oauthError('invalid_request', 'assertion is not a JWT');
    }
    const key = state.keys.find((k) => k.id === kid);
    if (!key) return oauthError('invalid_grant', 'Errors.AuthNKey.NotFound');
    if (Date.parse(key.expiration) < Date.now()) return oauthError('invalid_grant', 'Errors.AuthNKey.Expired');
    try {
      const { payload } = await jwtVerify(assertion, key.publicKey, {
        audience: issuer,
        issuer: key.userId,
        subject: key.userId,
        algorithms: ['RS256'],
        requiredClaims: ['exp', 'iat'],
      });
      if (typeof payload.exp !== 'number' || payload.exp - Date.now() / 1000 > 3600) {
        return oauthError('invalid_grant', 'assertion expiration too far in the future');
      }
    } catch {
      return oauthError('invalid_grant', 'assertion invalid');
    }
    const user = state.users.find((u) => u.id === key.userId);
    if (user?.state !== 'USER_STATE_ACTIVE') return oauthError('invalid_grant', 'Errors.User.NotActive');
    const expiresAt = Math.floor(Date.now() / 1000) + state.tokenTtlSeconds;
    const access =
      user.machine?.accessTokenType === 'ACCESS_TOKEN_TYPE_JWT'
        ? await jwtAccessToken(user, form.get('scope') ?? '', expiresAt)
        : randomBytes(24).toString('base64url');
    state.tokens.set(access, { userId: user.id, expiresAt });
    userEvent(user, 'user.token.v2.added', user.id, { keyId: key.id });
    return {
      status: 200,
      json: { access_token: access, token_type: 'Bearer', expires_in: state.tokenTtlSeconds },
    };
  }

  function findUser(id: string, orgId?: string): SimUser | undefined {
    return state.users.find((u) => u.id === id && (orgId === undefined || u.orgId === orgId));
  }

  function grantJson(g: SimGrant) {
    const u = state.users.find((x) => x.id === g.userId);
    const p = state.projects.find((x) => x.id === g.projectId);
    const o = state.orgs.find((x) => x.id === g.orgId);
    return compact({
      id: g.id,
      details: details(g.orgId),
      roleKeys: g.roleKeys,
      state: g.state ?? 'USER_GRANT_STATE_ACTIVE',
      userId: g.userId,
      userName: u?.username,
      email: u?.human?.email,
      displayName: u?.human?.displayName ?? u?.machine?.name,
      orgId: g.orgId,
      orgName: o?.name,
      orgDomain: o?.domain,
      projectId: g.projectId,
      projectName: p?.name,
      userType: u?.machine ? 'TYPE_MACHINE' : 'TYPE_HUMAN',
    });
  }

  function membershipJson(m: SimMembership) {
    const name =
      m.kind === 'org'
        ? state.orgs.find((o) => o.id === m.objectId)?.name
        : m.kind === 'project'
          ? state.projects.find((p) => p.id === m.objectId)?.name
          : m.kind === 'iam'
            ? 'ZITADEL'
            : undefined;
    return compact({
      userId: m.userId,
      details: details(m.resourceOwner, m.created),
      roles: m.roles,
      displayName: name,
      ...(m.kind === 'iam' ? { iam: true } : {}),
      ...(m.kind === 'org' ? { orgId: m.objectId } : {}),
      ...(m.kind === 'project' ? { projectId: m.objectId } : {}),
      ...(m.kind === 'projectGrant' ? { projectGrantId: m.objectId } : {}),
    });
  }

  const MEMBERSHIP_QUERIES = ['iamQuery', 'orgQuery', 'projectQuery', 'projectGrantQuery'];
  function membershipMatches(m: SimMembership, q: Record<string, Record<string, unknown>>): boolean {
    if (q.iamQuery) return m.kind === 'iam';
    if (q.orgQuery) return m.kind === 'org' && m.objectId === q.orgQuery.orgId;
    if (q.projectQuery) return m.kind === 'project' && m.objectId === q.projectQuery.projectId;
    return m.kind === 'projectGrant' && m.objectId === q.projectGrantQuery?.projectGrantId;
  }

  /** Whether `callerId` may read membership `m` in ListAdministrators' check (see withheld, orgBoundManagers). */
  function readsMembership(callerId: string, m: SimMembership): boolean {
    if (m.userId === callerId) return true;
    if (!state.managers.has(callerId)) return false;
    const permission = {
      iam: 'iam.member.read',
      org: 'org.member.read',
      project: 'project.member.read',
      projectGrant: 'project.grant.member.read',
    }[m.kind];
    if (state.withheld.has(permission)) return false;
    if (!state.orgBoundManagers.has(callerId)) return true;
    // an ORG_OWNER of its own organisation only: nothing on the instance; its organisation's memberships, its
    // projects', and grants of its projects or to it
    const own = state.users.find((u) => u.id === callerId)?.orgId;
    if (m.kind === 'iam') return false;
    return m.resourceOwner === own || (m.kind === 'projectGrant' && m.grantedOrgId === own);
  }

  function administratorJson(m: SimMembership) {
    const u = state.users.find((x) => x.id === m.userId);
    const project = state.projects.find((p) => p.id === (m.kind === 'projectGrant' ? m.projectId : m.objectId));
    return compact({
      creationDate: m.created,
      changeDate: m.created,
      user: u
        ? {
            id: u.id,
            preferredLoginName: loginNamesOf(u).preferred,
            displayName: u.human?.displayName ?? u.machine?.name,
            organizationId: u.orgId,
          }
        : undefined,
      ...(m.kind === 'iam' ? { instance: true } : {}),
      ...(m.kind === 'org'
        ? { organization: { id: m.objectId, name: state.orgs.find((o) => o.id === m.objectId)?.name } }
        : {}),
      ...(m.kind === 'project'
        ? { project: { id: m.objectId, name: project?.name, organizationId: project?.orgId ?? m.resourceOwner } }
        : {}),
      ...(m.kind === 'projectGrant'
        ? {
            projectGrant: {
              id: m.objectId,
              projectId: m.projectId,
              projectName: project?.name,
              organizationId: m.resourceOwner,
              grantedOrganizationId: m.grantedOrgId,
            },
          }
        : {}),
      roles: m.roles,
    });
  }

  function administratorMatches(m: SimMembership, f: Record<string, unknown>): boolean {
    const [name, value] = Object.entries(f ?? {})[0] ?? [];
    if (Object.keys(f ?? {}).length !== 1) throw new BadRequest('a filter sets exactly one of its oneof');
    const v = (value ?? {}) as Record<string, unknown>;
    switch (name) {
      case 'inUserIdsFilter':
        return Array.isArray(v.ids) && v.ids.includes(m.userId);
      case 'userOrganizationId':
        return state.users.find((u) => u.id === m.userId)?.orgId === v.id;
      case 'resource': {
        if (v.instance === true) return m.kind === 'iam';
        if (typeof v.organizationId === 'string') return m.kind === 'org' && m.objectId === v.organizationId;
        if (typeof v.projectId === 'string') return m.kind === 'project' && m.objectId === v.projectId;
        const pg = v.projectGrant as { projectId?: string; organizationId?: string } | undefined;
        if (pg)
          return m.kind === 'projectGrant' && m.projectId === pg.projectId && m.grantedOrgId === pg.organizationId;
        return true; // resourceFilterToQuery returns no query for an empty oneof
      }
      case 'creationDate':
      case 'changeDate':
      case 'userPreferredLoginName':
      case 'userDisplayName':
        throw new BadRequest(`filter ${name} is not simulated`);
      default:
        throw new ListQueryInvalid();
    }
  }
  class ListQueryInvalid extends Error {}

  function listAdministrators(req: SimRequest): Reply {
    if (req.method !== 'POST') return { status: 405, json: {} };
    if (!/^application\/json\b/.test(String(req.headers['content-type'] ?? ''))) return { status: 415, json: {} };
    const auth = req.headers.authorization;
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const t = token ? state.tokens.get(token) : undefined;
    if (!t || t.expiresAt < Date.now() / 1000)
      return connectError('unauthenticated', 'Errors.Token.Invalid', 'AUTH-7fs1e');
    const callerId = t.userId;
    if (state.users.find((u) => u.id === callerId)?.state !== 'USER_STATE_ACTIVE')
      return connectError('unauthenticated', 'Errors.User.NotActive', 'AUTH-4n8Fs');
    let body: Record<string, unknown>;
    try {
      body = parseBody(req);
    } catch (err) {
      return connectError('invalid_argument', (err as Error).message, 'CONNECT-1');
    }
    const p = (body.pagination ?? {}) as { offset?: string | number; limit?: number; asc?: boolean };
    const offset = Number(p.offset ?? 0);
    const asked = Number(p.limit ?? 0);
    if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(asked) || asked < 0)
      return connectError('invalid_argument', 'invalid pagination', 'CONNECT-2');
    if (asked > 1000) return connectError('invalid_argument', 'Errors.Query.LimitExceeded', 'QUERY-4M0fs');
    const limit = asked === 0 ? 100 : asked;
    const filters = (Array.isArray(body.filters) ? body.filters : []) as Record<string, unknown>[];
    let hits: SimMembership[];
    try {
      hits = state.memberships.filter((m) => filters.every((f) => administratorMatches(m, f)));
    } catch (err) {
      if (err instanceof ListQueryInvalid) return connectError('invalid_argument', 'List.Query.Invalid', 'ORG-vR9nC');
      return connectError('invalid_argument', (err as Error).message, 'CONNECT-3');
    }
    const byUser = body.sortingColumn === 'ADMINISTRATOR_FIELD_NAME_USER_ID';
    const col = (m: SimMembership) => (byUser ? m.userId : m.created);
    const sorted = [...hits].sort((a, b) => (col(a) < col(b) ? -1 : col(a) > col(b) ? 1 : 0) * (p.asc ? 1 : -1));
    // the page is cut first, then the rows the caller may not read are dropped: the total still counts them
    const page = sorted.slice(offset, offset + limit).filter((m) => readsMembership(callerId, m));
    return {
      status: 200,
      json: compact({
        // protojson leaves out a uint64 of 0
        pagination: { totalResult: hits.length > 0 ? String(hits.length) : undefined, appliedLimit: String(limit) },
        administrators: page.map(administratorJson),
      }),
    };
  }

  async function route(req: SimRequest): Promise<Reply> {
    const path = req.url.pathname;
    if (
      path === '/zitadel.internal_permission.v2.InternalPermissionService/ListAdministrators' &&
      state.administratorsApi
    )
      return listAdministrators(req);
    if (req.method === 'POST' && path === '/oauth/v2/token') return token(req);
    if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
      return {
        status: 200,
        json: {
          issuer,
          token_endpoint: `${issuer}/oauth/v2/token`,
          jwks_uri: `${issuer}/oauth/v2/keys`,
          grant_types_supported: ['urn:ietf:params:oauth:grant-type:jwt-bearer', 'client_credentials'],
          id_token_signing_alg_values_supported: ['RS256'],
        },
      };
    }
    if (req.method === 'GET' && path === '/oauth/v2/keys') {
      const jwk = await exportJWK(signing.publicKey);
      return { status: 200, json: { keys: [{ ...jwk, use: 'sig', alg: 'RS256', kid: signingKid }] } };
    }
    const who = caller(req);
    if ('status' in who) return who;
    let body: Record<string, unknown>;
    try {
      body = req.method === 'GET' || req.method === 'DELETE' ? {} : parseBody(req);
    } catch (err) {
      return grpcError(3, `proto: ${(err as Error).message}`, 'GATEWAY-1');
    }
    const mUser = /^\/v2\/users\/([^/]+)$/.exec(path);
    const mRoles = /^\/management\/v1\/projects\/([^/]+)\/roles\/_search$/.exec(path);
    const mKeys = /^\/management\/v1\/users\/([^/]+)\/keys(\/_search)?$/.exec(path);
    const mKey = /^\/management\/v1\/users\/([^/]+)\/keys\/([^/_][^/]*)$/.exec(path);
    const mAddRole = /^\/management\/v1\/projects\/([^/]+)\/roles$/.exec(path);
    const mState = /^\/v2\/users\/([^/]+)\/(deactivate|reactivate|lock|unlock)$/.exec(path);
    const mGrants = /^\/management\/v1\/users\/([^/]+)\/grants(?:\/([^/]+))?$/.exec(path);
    const mMemberships = /^\/management\/v1\/users\/([^/]+)\/memberships\/_search$/.exec(path);
    try {
      // v2 user service
      if (req.method === 'POST' && path === '/v2/users') {
        const queries = (body.queries ?? []) as Record<string, Record<string, unknown>>[];
        const hits = state.users.filter(
          (u) => reachesOrg(who.userId, u.orgId) && queries.every((q) => userMatches(u, q)),
        );
        // ORDER BY the user id when no sorting column is asked for (internal/api/grpc/user/v2/query.go
        // userFieldNameToSortingColumn: USER_FIELD_NAME_UNSPECIFIED is query.UserIDCol), DESC unless `asc`
        // (internal/query/search_query.go SearchRequest.toQuery); ids are text, compared as such
        const sorting = body.sortingColumn;
        if (sorting !== undefined && sorting !== 'USER_FIELD_NAME_UNSPECIFIED' && sorting !== 0)
          throw new BadRequest(`sortingColumn ${String(sorting)} is not simulated`);
        const asc = (body.query as { asc?: unknown } | undefined)?.asc === true;
        hits.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) * (asc ? 1 : -1));
        return list(hits, body, userV2);
      }
      if (req.method === 'GET' && mUser) {
        const u = findUser(mUser[1] as string);
        if (!u) return grpcError(5, 'Errors.User.NotFound', 'QUERY-Dfbg2');
        if (!reachesOrg(who.userId, u.orgId)) return permissionDenied();
        return { status: 200, json: { details: details(u.orgId, u.created), user: userV2(u) } };
      }
      if (req.method === 'POST' && mState) {
        const u = findUser(mState[1] as string);
        if (!u) return grpcError(5, 'Errors.User.NotFound', 'COMMAND-5gp2p62iin');
        state.beforeUserStateChange?.(u);
        const action = mState[2];
        // The states each action starts from, with Zitadel's refusals (internal/command/user_v2.go
        // DeactivateUserV2, ReactivateUserV2, LockUserV2, UnlockUserV2): a locked user can be deactivated, an
        // initial one locked but not deactivated, an inactive one not locked.
        const [from, to, [refused, id]]: [UserState[], UserState, [string, string]] =
          action === 'deactivate'
            ? [
                ['USER_STATE_ACTIVE', 'USER_STATE_LOCKED'],
                'USER_STATE_INACTIVE',
                u.state === 'USER_STATE_INITIAL'
                  ? ['Errors.User.CantDeactivateInitial', 'COMMAND-gvx4kct9r2']
                  : ['Errors.User.AlreadyInactive', 'COMMAND-5gunjw0cd7'],
              ]
            : action === 'reactivate'
              ? [['USER_STATE_INACTIVE'], 'USER_STATE_ACTIVE', ['Errors.User.NotInactive', 'COMMAND-s5qqcz97hf']]
              : action === 'lock'
                ? [
                    ['USER_STATE_ACTIVE', 'USER_STATE_INITIAL'],
                    'USER_STATE_LOCKED',
                    ['Errors.User.ShouldBeActiveOrInitial', 'COMMAND-lgws8wtsqf'],
                  ]
                : [['USER_STATE_LOCKED'], 'USER_STATE_ACTIVE', ['Errors.User.NotLocked', 'COMMAND-olb9vb0oca']];
        if (!from.includes(u.state)) return grpcError(9, refused, id);
        if (!reachesOrg(who.userId, u.orgId)) return permissionDenied();
        u.state = to;
        userEvent(
          u,
          `user.${action === 'lock' ? 'locked' : action === 'unlock' ? 'unlocked' : action === 'deactivate' ? 'deactivated' : 'reactivated'}`,
          who.userId,
        );
        return { status: 200, json: { details: details(u.orgId, now()) } };
      }
      if (req.method === 'POST' && path === '/admin/v1/events/_search') {
        // ListEvents (internal/api/grpc/admin/event.go eventRequestToFilter): filters AND together; `sequence`
        // is SequenceGreater whatever the order; creationDate (deprecated) or from is CreationDateAfter when
        // asc and CreationDateBefore when not, range {since, until} replaces it; both bounds are strict
        // (repository/sql OperationGreater / OperationLess) and compared as Postgres does, to the microsecond
        // (pgx drops the nanoseconds of a time it sends).
        const asc = body.asc === true;
        const seq = body.sequence === undefined ? undefined : Number(body.sequence);
        const limit = Math.min(Number(body.limit ?? 0) || 1000, 1000);
        const types = (body.eventTypes ?? []) as string[];
        const aggTypes = (body.aggregateTypes ?? []) as string[];
        const range = body.range as { since?: string; until?: string } | undefined;
        const from = range ? undefined : ((body.from ?? body.creationDate) as string | undefined);
        const after = microsOf(range ? range.since : asc ? from : undefined);
        const before = microsOf(range ? range.until : asc ? undefined : from);
        let hits = state.events.filter(
          (e) =>
            (seq === undefined || e.sequence > seq) &&
            (after === undefined || (microsOf(e.creationDate) as bigint) > after) &&
            (before === undefined || (microsOf(e.creationDate) as bigint) < before) &&
            (!body.editorUserId || e.editorUserId === body.editorUserId) &&
            (types.length === 0 || types.includes(e.type)) &&
            (!body.aggregateId || e.aggregateId === body.aggregateId) &&
            (aggTypes.length === 0 || aggTypes.includes(e.aggregateType)) &&
            (!body.resourceOwner || e.resourceOwner === body.resourceOwner),
        );
        hits = asc ? hits : [...hits].reverse();
        const editorName = (id: string) => {
          const u = state.users.find((x) => x.id === id);
          return u?.human?.displayName ?? u?.machine?.name ?? '';
        };
        return {
          status: 200,
          json: compact({
            events: hits.slice(0, limit).map((e) => ({
              editor: { userId: e.editorUserId, displayName: editorName(e.editorUserId), service: 'MANAGEMENT' },
              aggregate: { id: e.aggregateId, type: { type: e.aggregateType }, resourceOwner: e.resourceOwner },
              sequence: String(e.sequence),
              creationDate: e.creationDate,
              payload: e.payload,
              type: { type: e.type, localized: { key: `EventTypes.${e.type}`, localizedMessage: e.type } },
            })),
          }),
        };
      }
      if (req.method === 'POST' && path === '/v2/organizations/_search') {
        const queries = (body.queries ?? []) as Record<string, Record<string, unknown>>[];
        const hits = state.orgs.filter((o) =>
          queries.every((q) => {
            const name = q.nameQuery;
            if (!name) throw new BadRequest('unsupported organisation query');
            return textMatch(o.name, String(name.name ?? ''), name.method as string);
          }),
        );
        return list(hits, body, (o) =>
          compact({
            id: o.id,
            details: details(o.id),
            state: 'ORGANIZATION_STATE_ACTIVE',
            name: o.name,
            primaryDomain: o.domain,
          }),
        );
      }
      // management v1: acts in the organisation of the x-zitadel-orgid header (else the caller's)
      if (req.method === 'POST' && path === '/management/v1/projects/_search') {
        const queries = (body.queries ?? []) as Record<string, Record<string, unknown>>[];
        const hits = state.projects.filter(
          (p) =>
            p.orgId === who.orgId &&
            queries.every((q) => {
              if (!q.nameQuery) throw new BadRequest('unsupported project query');
              return textMatch(p.name, String(q.nameQuery.name ?? ''), q.nameQuery.method as string);
            }),
        );
        return list(hits, body, (p) =>
          compact({
            id: p.id,
            details: details(p.orgId),
            name: p.name,
            state: 'PROJECT_STATE_ACTIVE',
            projectRoleAssertion: true,
          }),
        );
      }
      if (req.method === 'POST' && mRoles) {
        const p = state.projects.find((x) => x.id === mRoles[1] && x.orgId === who.orgId);
        if (!p) return grpcError(5, 'Errors.Project.NotFound', 'PROJECT-3M9sd');
        return list(p.roles, body, (r) =>
          compact({ key: r.key, details: details(p.orgId), displayName: r.displayName, group: r.group }),
        );
      }
      if (req.method === 'POST' && mAddRole) {
        const p = state.projects.find((x) => x.id === mAddRole[1] && x.orgId === who.orgId);
        if (!p) return grpcError(5, 'Errors.Project.NotFound', 'PROJECT-3M9sd');
        const roleKey = String(body.roleKey ?? '');
        const displayName = String(body.displayName ?? '');
        if (roleKey.length < 1 || roleKey.length > 200 || displayName.length < 1 || displayName.length > 200) {
          return grpcError(
            3,
            'invalid AddProjectRoleRequest.RoleKey: value length must be between 1 and 200 runes',
            'GATEWAY-5',
          );
        }
        if (p.roles.some((r) => r.key === roleKey))
          return grpcError(6, 'Errors.Project.Role.AlreadyExists', 'COMMAND-4m0fs');
        p.roles.push({ key: roleKey, displayName, group: String(body.group ?? '') });
        return { status: 200, json: { details: details(p.orgId, now()) } };
      }
      if (req.method === 'GET' && mKey) {
        // GetMachineKeyByIDs (internal/api/grpc/management/user.go): the key by id, bounded to the user as
        // aggregate and the request's organisation as resource owner; none: NOT_FOUND from the query
        // (internal/query/authn_key.go, Errors.AuthNKey.NotFound QUERY-Dgr3g, a key en.yaml has no text for), for
        // an unknown user alike.
        const key = state.keys.find((k) => k.id === mKey[2] && k.userId === mKey[1]);
        const owner = key && findUser(key.userId, who.orgId);
        if (!key || !owner) return grpcError(5, 'Errors.AuthNKey.NotFound', 'QUERY-Dgr3g');
        return {
          status: 200,
          json: {
            key: compact({
              id: key.id,
              details: details(owner.orgId, key.created),
              type: 'KEY_TYPE_JSON',
              expirationDate: key.expiration,
            }),
          },
        };
      }
      if (req.method === 'DELETE' && mKey) {
        state.beforeKeyRemove?.(mKey[1] as string, mKey[2] as string);
        const key = state.keys.find((k) => k.id === mKey[2] && k.userId === mKey[1]);
        if (!key || !findUser(key.userId, who.orgId))
          return grpcError(5, 'Errors.User.Machine.Key.NotFound', 'COMMAND-4m77G');
        state.keys.splice(state.keys.indexOf(key), 1);
        userEvent(findUser(key.userId) as SimUser, 'user.machine.key.removed', who.userId, { keyId: key.id });
        return { status: 200, json: { details: details(who.orgId, now()) } };
      }
      if (req.method === 'POST' && mMemberships) {
        if (state.withheld.has('user.membership.read'))
          return grpcError(7, 'No matching permissions found', 'AUTH-5mWD2');
        // Zitadel's own filters: this user, owned by the instance or by the request's organisation.
        const queries = (body.queries ?? []) as Record<string, Record<string, unknown>>[];
        if (
          !queries.every(
            (q) => Object.keys(q ?? {}).length === 1 && MEMBERSHIP_QUERIES.includes(Object.keys(q)[0] ?? ''),
          )
        )
          return grpcError(3, 'Errors.List.Query.Invalid', 'USER-dsg3z');
        const hits = state.memberships.filter(
          (m) =>
            m.userId === mMemberships[1] &&
            (m.resourceOwner === state.instanceId || m.resourceOwner === who.orgId) &&
            queries.every((q) => membershipMatches(m, q)),
        );
        return list(hits, body, membershipJson);
      }
      if (req.method === 'POST' && path === '/management/v1/users/grants/_search') {
        // Offset and limit with no ORDER BY (ListUserGrantsRequestToQuery sets no sorting column, and
        // internal/query/search_query.go orders only by one): rows come in the table's order, here state.grants'
        state.beforeGrantList?.(who.orgId);
        const queries = (body.queries ?? []) as Record<string, Record<string, unknown>>[];
        const hits = projectedGrants().filter(
          (g) =>
            g.orgId === who.orgId &&
            queries.every((q) => {
              if (q.userIdQuery) return g.userId === q.userIdQuery.userId;
              if (q.projectIdQuery) return g.projectId === q.projectIdQuery.projectId;
              throw new BadRequest('unsupported user grant query');
            }),
        );
        return list(hits, body, grantJson);
      }
      if (req.method === 'POST' && path === '/management/v1/users/machine') {
        const userName = String(body.userName ?? '');
        const name = String(body.name ?? '');
        if (!/^[^\s]{1,200}$/.test(userName) || name.length < 1 || name.length > 200) {
          return grpcError(
            3,
            'invalid AddMachineUserRequest.UserName: value length must be between 1 and 200 runes',
            'GATEWAY-2',
          );
        }
        // the username unique constraint (see userLoginMustBeDomain), checked as the event is pushed:
        // ALREADY_EXISTS with the constraint's key (internal/eventstore/v3/unique_constraints.go V3-DKcYh)
        const scoped = mustBeDomain(who.orgId);
        const taken = state.users.some(
          (u) => u.username === userName && (scoped ? u.orgId === who.orgId : !mustBeDomain(u.orgId)),
        );
        if (taken) return grpcError(6, 'Errors.User.AlreadyExists', 'V3-DKcYh');
        const att =
          body.accessTokenType === 'ACCESS_TOKEN_TYPE_JWT' ? 'ACCESS_TOKEN_TYPE_JWT' : 'ACCESS_TOKEN_TYPE_BEARER';
        const u: SimUser = {
          id: nextId(),
          orgId: who.orgId,
          username: userName,
          state: 'USER_STATE_ACTIVE',
          created: now(),
          machine: { name, description: String(body.description ?? ''), accessTokenType: att },
        };
        state.users.push(u);
        userEvent(u, 'user.machine.added', who.userId, { userName: u.username });
        return { status: 200, json: { userId: u.id, details: details(u.orgId, u.created) } };
      }
      if (mKeys && req.method === 'POST' && !mKeys[2]) {
        // AddMachineKey: the request's own validation (proto: type defined_only, not_in [0]; JSON is the only
        // type), then (internal/command/user_machine_key.go prepareAddUserMachineKey) the expiration
        // (domain.ValidateExpirationDate: none is 9999-12-31T23:59:59Z, a past one INVALID_ARGUMENT; no upper
        // bound), then the user in the request's organisation (ExistsUser with that resource owner: a
        // FAILED_PRECONDITION, not NOT_FOUND, for a user of another organisation or none).
        if (body.type !== 'KEY_TYPE_JSON')
          return grpcError(3, 'invalid AddMachineKeyRequest.Type: value must not be in list [0]', 'GATEWAY-3');
        const exp = typeof body.expirationDate === 'string' ? body.expirationDate : '9999-12-31T23:59:59Z';
        if (Number.isNaN(Date.parse(exp)) || Date.parse(exp) < Date.now()) {
          return grpcError(3, 'Errors.AuthNKey.ExpireBeforeNow', 'DOMAIN-dv3t5');
        }
        if (!findUser(mKeys[1] as string, who.orgId)) return grpcError(9, 'Errors.User.NotFound', 'COMMAND-bnipwm1');
      }
      if (mKeys && req.method === 'POST') {
        const u = findUser(mKeys[1] as string, who.orgId);
        if (!u) return grpcError(5, 'Errors.User.NotFound', 'COMMAND-bp0Ds');
        if (mKeys[2]) {
          const keys = state.keys.filter((k) => k.userId === u.id);
          return list(keys, body, (k) =>
            compact({
              id: k.id,
              details: details(u.orgId, k.created),
              type: 'KEY_TYPE_JSON',
              expirationDate: k.expiration,
            }),
          );
        }
        // no check of the user's type: checkAggregate's ExistsUser counts human and machine users alike
        // (internal/command/user.go ExistsUser), so Zitadel makes a key for a human too
        const exp = typeof body.expirationDate === 'string' ? body.expirationDate : '9999-12-31T23:59:59Z';
        const { key, keyFile } = addKey(u.id, new Date(Date.parse(exp)).toISOString());
        userEvent(u, 'user.machine.key.added', who.userId, { keyId: key.id, type: 1, expirationDate: key.expiration });
        return {
          status: 200,
          json: {
            keyId: key.id,
            keyDetails: Buffer.from(keyFile).toString('base64'),
            details: details(u.orgId, key.created),
          },
        };
      }
      if (mGrants && req.method === 'GET' && mGrants[2]) {
        // GetUserGrantByID triggers the user-grant projection first (whatever the read then finds), and reads
        // the grant id in the request's organisation; the user id of the path takes no part in it.
        if (state.grantReadPairingMs > 0) await pairGrantRead();
        grantBacklog.clear();
        const g = state.grants.find((x) => x.id === mGrants[2] && x.orgId === who.orgId);
        if (!g) return grpcError(5, 'Errors.UserGrant.NotFound', 'QUERY-wIPkA');
        return { status: 200, json: { userGrant: grantJson(g) } };
      }
      if (mGrants) {
        const u = findUser(mGrants[1] as string);
        const grantId = mGrants[2];
        // AddUserGrant: checkUserExists (internal/command/user.go) answers a missing user FAILED_PRECONDITION
        if (!u && req.method === 'POST' && !grantId) return grpcError(9, 'Errors.User.NotFound', 'COMMAND-uXHNj');
        if (!u) return grpcError(5, 'Errors.User.NotFound', 'COMMAND-2M0fs');
        if (req.method === 'POST' && !grantId) {
          const projectId = String(body.projectId ?? '');
          const roleKeys = (body.roleKeys ?? []) as string[];
          // The user may be of any organisation (checkUserExists with no owner); the project must be the
          // granting organisation's own (project grants are not simulated): COMMAND-3n77S otherwise.
          const p = state.projects.find((x) => x.id === projectId && x.orgId === who.orgId);
          if (!p) return grpcError(9, 'Errors.Project.NotFound', 'COMMAND-3n77S');
          const unknown = roleKeys.find((k) => !p.roles.some((r) => r.key === k));
          if (unknown) return grpcError(9, 'Errors.Project.Role.NotFound', 'COMMAND-mm9F4');
          // the eventstore's unique constraint (resource owner, user, project, project grant), checked as the
          // event is pushed, not against a projection (internal/eventstore/v3/unique_constraints.go)
          if (state.grants.some((g) => g.userId === u.id && g.projectId === p.id && g.orgId === who.orgId)) {
            return grpcError(6, 'Errors.UserGrant.AlreadyExists', 'V3-DKcYh');
          }
          const g: SimGrant = {
            id: nextId(),
            userId: u.id,
            projectId: p.id,
            orgId: who.orgId,
            roleKeys: [...roleKeys],
          };
          grantWritten(g.id, undefined);
          state.grants.push(g);
          // roleKeys is omitempty; grantId would be a project grant's id (project grants are not simulated)
          grantEvent(g, 'user.grant.added', who.userId, {
            userId: u.id,
            projectId: p.id,
            ...(g.roleKeys.length > 0 ? { roleKeys: [...g.roleKeys] } : {}),
          });
          state.afterGrantWrite?.(g);
          return { status: 200, json: { userGrantId: g.id, details: details(who.orgId) } };
        }
        const g = state.grants.find((x) => x.id === grantId && x.userId === u.id && x.orgId === who.orgId);
        if (!g) return grpcError(5, 'Errors.UserGrant.NotFound', 'COMMAND-3M9sd');
        if (req.method === 'PUT') {
          const roleKeys = (body.roleKeys ?? []) as string[];
          state.beforeGrantUpdate?.(g, roleKeys);
          const p = state.projects.find((x) => x.id === g.projectId);
          const unknown = roleKeys.find((k) => !p?.roles.some((r) => r.key === k));
          if (unknown) return grpcError(9, 'Errors.Project.Role.NotFound', 'COMMAND-mm9F4');
          // the same list in the same order is refused (internal/command/user_grant.go ChangeUserGrant:
          // slices.Equal(existing.RoleKeys, new) -> PreconditionFailed COMMAND-Rs8fy); no version is checked:
          // the list sent replaces whatever the grant holds now
          if (roleKeys.length === g.roleKeys.length && roleKeys.every((k, i) => g.roleKeys[i] === k))
            return grpcError(9, 'Errors.UserGrant.NotChanged', 'COMMAND-Rs8fy');
          grantWritten(g.id, g);
          g.roleKeys = [...roleKeys];
          // Postgres writes an updated row as a new row version, placed where there is room (often the end of
          // the table); a query without ORDER BY then returns it there: the grant moves in the listing
          state.grants.push(...state.grants.splice(state.grants.indexOf(g), 1));
          grantEvent(g, 'user.grant.changed', who.userId, { roleKeys: [...g.roleKeys] });
          state.afterGrantWrite?.(g);
          return { status: 200, json: { details: details(who.orgId) } };
        }
        if (req.method === 'DELETE') {
          grantWritten(g.id, g);
          state.grants.splice(state.grants.indexOf(g), 1);
          grantEvent(g, 'user.grant.removed', who.userId);
          return { status: 200, json: { details: details(who.orgId) } };
        }
      }
    } catch (err) {
      if (err instanceof BadRequest) return grpcError(3, err.message, 'GATEWAY-4');
      throw err;
    }
    return { status: 404, json: { code: 5, message: 'Not Found', details: [] } };
  }

  const server = await serve(route);
  issuer = server.url;
  const sim = Object.assign(state, server, {
    issuer,
    record,
    addServiceAccount(opts: { username: string; orgId?: string; manager?: boolean }) {
      const u: SimUser = {
        id: nextId(),
        orgId: opts.orgId ?? org.id,
        username: opts.username,
        state: 'USER_STATE_ACTIVE' as const,
        created: now(),
        machine: { name: opts.username, description: '', accessTokenType: 'ACCESS_TOKEN_TYPE_BEARER' as const },
      };
      state.users.push(u);
      // The stand-in for the manager role the server's account needs: an ORG_OWNER membership.
      if (opts.manager !== false) {
        state.managers.add(u.id);
        state.memberships.push({
          userId: u.id,
          kind: 'org',
          objectId: u.orgId,
          resourceOwner: u.orgId,
          roles: ['ORG_OWNER'],
          created: now(),
        });
      }
      const { keyFile } = addKey(u.id, new Date(Date.now() + 365 * 86_400_000).toISOString());
      return { userId: u.id, keyFile };
    },
  });
  return sim;
}
