import { createPrivateKey, type KeyObject } from 'node:crypto';
import { BackendHttp, type BackendRecorder, raceAbort, sliceChars, ToolError } from '@ravenhelm/kit';
import { SignJWT } from 'jose';
import {
  type ListResult,
  recordOf,
  type SHAPES,
  type TextMethod,
  totalOf,
  withoutSecrets,
  type ZAdministrator,
  type ZEvent,
  type ZGrant,
  type ZitadelKeyFile,
  type ZKey,
  type ZMembership,
  type ZOrg,
  type ZProject,
  type ZRole,
  type ZUser,
  zitadelError,
} from './api.js';

export type {
  ListResult,
  TextMethod,
  ZAdministrator,
  ZEvent,
  ZGrant,
  ZitadelKeyFile,
  ZKey,
  ZMembership,
  ZOrg,
  ZProject,
  ZRole,
  ZUser,
} from './api.js';
export { parseKeyFile, zitadelError } from './api.js';

export interface ZitadelBackendOptions {
  /** Zitadel's base URL, which is also its issuer. */
  url: string;
  keyFile: ZitadelKeyFile;
  /** Sent as `x-zitadel-orgid`: the organisation management calls act in. */
  orgId?: string | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
  /** Scopes requested with the JWT-profile grant. */
  scope: string;
  /** Where API calls are recorded (ravenhelm_backend_*{backend="zitadel"}). */
  metrics?: BackendRecorder | undefined;
}

/** A result several calls wait on: one caller giving up stops its own wait; the work goes on for the others. */
function waitShared<T>(shared: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return signal
    ? raceAbort(shared, signal, () => new ToolError('ERR_BACKEND_TIMEOUT', 'the call to Zitadel was cancelled'))
    : shared;
}

/** A token is renewed this long before Zitadel says it expires. */
const TOKEN_MARGIN_SECONDS = 60;

/**
 * Zitadel's REST APIs (v2 user and organisation services; management v1 where v2 lacks the call),
 * authenticated as the server's own service account through the JWT-profile grant. The access token
 * is cached until shortly before it expires; a 401 drops it and retries once.
 */
export class ZitadelBackend {
  readonly #http: BackendHttp;
  readonly #opts: ZitadelBackendOptions;
  readonly #key: KeyObject;
  #token: { value: string; renewAt: number } | undefined;
  #pending: Promise<string> | undefined;
  /** Token grants performed (for tests and metrics). */
  tokenFetches = 0;

  constructor(opts: ZitadelBackendOptions) {
    this.#opts = opts;
    try {
      this.#key = createPrivateKey(opts.keyFile.key);
    } catch {
      throw new Error('the service-account key file holds no usable private key');
    }
    this.#http = new BackendHttp({
      name: 'Zitadel',
      baseUrl: opts.url,
      timeoutMs: opts.timeoutMs,
      maxResponseBytes: opts.maxResponseBytes,
      maxResponseBytesSetting: 'backend.maxResponseBytes',
      headers: opts.orgId ? { 'x-zitadel-orgid': opts.orgId } : undefined,
      metrics: opts.metrics,
      backend: 'zitadel',
    });
  }

  get serviceAccountId(): string {
    return this.#opts.keyFile.userId;
  }

  get orgId(): string | undefined {
    return this.#opts.orgId;
  }

  #homeOrg: Promise<string> | undefined;

  /**
   * The organisation every tool is bounded to: ZITADEL_ORG_ID, else the one the server's own account
   * belongs to (what Zitadel's management API then acts in), read once. Unknown: the call fails closed.
   */
  homeOrgId(signal?: AbortSignal): Promise<string> {
    if (this.#opts.orgId) return Promise.resolve(this.#opts.orgId);
    // Shared by concurrent calls, so it runs under the client's own timeout, not the first caller's signal.
    this.#homeOrg ??= this.getUser(this.#opts.keyFile.userId).then(
      (self) => {
        const org = self.details?.resourceOwner;
        if (!org) {
          throw new ToolError(
            'ERR_BACKEND_ERROR',
            "Zitadel did not say which organisation this server's account belongs to; set ZITADEL_ORG_ID",
          );
        }
        return org;
      },
      (err: unknown) => {
        this.#homeOrg = undefined; // a failed read is tried again next time
        throw err;
      },
    );
    return waitShared(this.#homeOrg, signal);
  }

  async #fetchToken(): Promise<string> {
    const issuer = this.#opts.url.replace(/\/+$/, '');
    const { keyId, userId } = this.#opts.keyFile;
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: keyId })
      .setIssuer(userId)
      .setSubject(userId)
      .setAudience(issuer)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(this.#key);
    this.tokenFetches++;
    const res = await this.#http.request<{ access_token?: unknown; expires_in?: unknown; error_description?: unknown }>(
      'POST',
      '/oauth/v2/token',
      {
        form: { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion, scope: this.#opts.scope },
        narrowHint: "A token answer this large is not Zitadel's: check that ZITADEL_URL points at Zitadel",
      },
    );
    const body = res.body;
    if (res.status !== 200 || typeof body?.access_token !== 'string') {
      const said =
        typeof body?.error_description === 'string' ? withoutSecrets(body.error_description, [assertion]) : '';
      const why = said ? `: ${sliceChars(said, 200)}` : '';
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        `Zitadel refused this server's service-account login (HTTP ${res.status}${why}); check the key file, that the key is not expired and the account is active`,
      );
    }
    const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 300;
    const margin = Math.min(TOKEN_MARGIN_SECONDS, ttl / 10);
    this.#token = { value: body.access_token, renewAt: Date.now() + (ttl - margin) * 1000 };
    return body.access_token;
  }

  async #accessToken(signal?: AbortSignal): Promise<string> {
    if (this.#token && Date.now() < this.#token.renewAt) return this.#token.value;
    // Concurrent calls share one grant. It runs under the client's own timeout, not the first caller's
    // signal: that caller giving up must not fail every call waiting on the same login.
    this.#pending ??= this.#fetchToken().finally(() => {
      this.#pending = undefined;
    });
    return waitShared(this.#pending, signal);
  }

  /**
   * One API call; non-2xx becomes a tool error naming `what`. `orgId`: the organisation a management call
   * acts in, instead of ZITADEL_ORG_ID (x-zitadel-orgid).
   */
  async call<T>(
    method: string,
    path: string,
    what: string,
    json?: unknown,
    signal?: AbortSignal,
    orgId?: string,
    headers?: Record<string, string>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.#accessToken(signal);
      const res = await this.#http.request<T>(method, path, {
        ...(json !== undefined ? { json } : {}),
        signal,
        headers: { ...headers, authorization: `Bearer ${token}`, ...(orgId ? { 'x-zitadel-orgid': orgId } : {}) },
        narrowHint: 'Narrow the request (a smaller page, a more specific search)',
      });
      if (res.status === 401 && attempt === 0) {
        this.#token = undefined;
        continue;
      }
      if (res.status < 200 || res.status >= 300) throw zitadelError(res.status, res.body, what, [token]);
      // Every Zitadel API answer is a JSON object (grpc-gateway writes `{}` for an empty message). Anything
      // else (a login page or a proxy's page behind a misrouted ZITADEL_URL) must not read as an empty list:
      // the memberships and grants a write is checked against would come back empty and let it through.
      if (typeof res.body !== 'object' || res.body === null || Array.isArray(res.body)) {
        throw new ToolError(
          'ERR_BACKEND_ERROR',
          `Zitadel's answer to ${what} was not a JSON object (HTTP ${res.status}); check that ZITADEL_URL points at Zitadel's API and not at a login page or another service`,
        );
      }
      return res.body;
    }
  }

  async #list<T>(
    kind: keyof typeof SHAPES,
    path: string,
    what: string,
    body: object,
    signal?: AbortSignal,
    orgId?: string,
  ): Promise<ListResult<T>> {
    const res = await this.call<{ details?: unknown; result?: unknown }>('POST', path, what, body, signal, orgId);
    const result = Array.isArray(res?.result) ? res.result.map((r) => recordOf<T>(kind, r)) : [];
    return { total: totalOf(res?.details), result };
  }

  searchUsers(
    queries: object[],
    window: { offset: number; limit: number },
    signal?: AbortSignal,
  ): Promise<ListResult<ZUser>> {
    return this.#list<ZUser>(
      'user',
      '/v2/users',
      'users',
      { query: { offset: String(window.offset), limit: window.limit, asc: true }, queries },
      signal,
    );
  }

  async getUser(userId: string, signal?: AbortSignal): Promise<ZUser> {
    return this.#getOne<ZUser>(`/v2/users/${encodeURIComponent(userId)}`, 'user', 'user', `user ${userId}`, signal);
  }

  /** One resource Zitadel answers under `field`; an answer without it is a backend error, not an empty record. */
  async #getOne<T>(
    path: string,
    kind: Parameters<typeof recordOf>[0],
    field: string,
    what: string,
    signal?: AbortSignal,
  ): Promise<T> {
    const res = await this.call<Record<string, unknown>>('GET', path, what, undefined, signal);
    const value = res?.[field];
    if (!value || typeof value !== 'object')
      throw new ToolError('ERR_BACKEND_ERROR', `Zitadel answered without the ${what}`);
    return recordOf<T>(kind, value);
  }

  listOrgs(name: string | undefined, window: { offset: number; limit: number }, signal?: AbortSignal) {
    const queries = name ? [{ nameQuery: { name, method: 'TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE' } }] : [];
    return this.#list<ZOrg>(
      'org',
      '/v2/organizations/_search',
      'organisations',
      { query: { offset: String(window.offset), limit: window.limit, asc: true }, queries },
      signal,
    );
  }

  listProjects(
    name: { value: string; method: TextMethod } | undefined,
    window: { offset: number; limit: number },
    signal?: AbortSignal,
  ) {
    const queries = name ? [{ nameQuery: { name: name.value, method: name.method } }] : [];
    return this.#list<ZProject>(
      'project',
      '/management/v1/projects/_search',
      'projects',
      { query: { offset: String(window.offset), limit: window.limit, asc: true }, queries },
      signal,
    );
  }

  listProjectRoles(projectId: string, window: { offset: number; limit: number }, signal?: AbortSignal) {
    return this.#list<ZRole>(
      'role',
      `/management/v1/projects/${encodeURIComponent(projectId)}/roles/_search`,
      `project ${projectId}`,
      { query: { offset: String(window.offset), limit: window.limit, asc: true } },
      signal,
    );
  }

  /**
   * Management v1 ListUserGrants: only the grants made in the organisation the call acts in (Zitadel adds
   * that owner to the query: internal/api/grpc/management/user_grant.go, AppendMyOrgQuery), ZITADEL_ORG_ID's
   * or `orgId`'s. A user's grants from other organisations take one call per organisation.
   */
  listUserGrants(
    filter: { userId?: string; projectId?: string },
    window: { offset: number; limit: number },
    signal?: AbortSignal,
    orgId?: string,
  ) {
    const queries = [
      ...(filter.userId ? [{ userIdQuery: { userId: filter.userId } }] : []),
      ...(filter.projectId ? [{ projectIdQuery: { projectId: filter.projectId } }] : []),
    ];
    return this.#list<ZGrant>(
      'grant',
      '/management/v1/users/grants/_search',
      orgId ? `user grants of organisation ${orgId}` : 'user grants',
      { query: { offset: String(window.offset), limit: window.limit, asc: true }, queries },
      signal,
      orgId,
    );
  }

  async addMachineUser(
    input: { userName: string; name: string; description: string; accessTokenType: string },
    signal?: AbortSignal,
  ): Promise<string> {
    const res = await this.call<{ userId?: string }>(
      'POST',
      '/management/v1/users/machine',
      `service account ${input.userName}`,
      input,
      signal,
    );
    if (!res?.userId) throw new ToolError('ERR_BACKEND_ERROR', 'Zitadel created the service account but sent no id');
    return res.userId;
  }

  /** The new key's id and its key file (the private key: shown once, never logged). */
  async addMachineKey(
    userId: string,
    expirationDate: string,
    signal?: AbortSignal,
  ): Promise<{ keyId: string; keyFile: string }> {
    const res = await this.call<{ keyId?: string; keyDetails?: string }>(
      'POST',
      `/management/v1/users/${encodeURIComponent(userId)}/keys`,
      `a key for user ${userId}`,
      { type: 'KEY_TYPE_JSON', expirationDate },
      signal,
    );
    if (!res?.keyId || !res.keyDetails)
      throw new ToolError('ERR_BACKEND_ERROR', 'Zitadel created a key but sent no key file');
    return { keyId: res.keyId, keyFile: Buffer.from(res.keyDetails, 'base64').toString('utf8') };
  }

  listMachineKeys(userId: string, window: { offset: number; limit: number }, signal?: AbortSignal) {
    return this.#userList<ZKey>('key', userId, 'keys', window, signal);
  }

  /**
   * Management v1 ListUserMemberships: the user's administrative memberships. Zitadel itself limits the
   * answer to the instance's and the organisation the call acts in (`orgId`, else x-zitadel-orgid):
   * internal/api/grpc/management/user_converter.go ListUserMembershipsRequestToModel.
   */
  listUserMemberships(userId: string, window: { offset: number; limit: number }, signal?: AbortSignal, orgId?: string) {
    return this.#userList<ZMembership>('membership', userId, 'memberships', window, signal, orgId);
  }

  /**
   * v2 ListAdministrators (zitadel.internal_permission.v2, served over connect only): the user's memberships
   * in the whole instance, every organisation's, not only the one a call acts in. Zitadel counts every
   * membership in `totalResult` but drops from the page those the caller may not read (iam.member.read,
   * org.member.read, project.member.read, project.grant.member.read: internal/query/administrator.go
   * SearchAdministrators filters after the count), so `hidden` says how many of the page it left out.
   */
  async listAdministrators(
    userId: string,
    window: { offset: number; limit: number },
    signal?: AbortSignal,
  ): Promise<ListResult<ZAdministrator> & { hidden: number }> {
    const res = await this.call<{ pagination?: unknown; administrators?: unknown }>(
      'POST',
      '/zitadel.internal_permission.v2.InternalPermissionService/ListAdministrators',
      `administrators (memberships) of user ${userId}`,
      {
        pagination: { offset: String(window.offset), limit: window.limit, asc: true },
        filters: [{ inUserIdsFilter: { ids: [userId] } }],
      },
      signal,
      undefined,
      { 'connect-protocol-version': '1' },
    );
    // Zitadel always sends the pagination, with the limit it applied (filter/v2 QueryToPaginationPb): an answer
    // without it, or with a total that is no number, is not Zitadel's, and must not read as "no memberships"
    const pagination = res.pagination as { appliedLimit?: unknown; totalResult?: unknown } | undefined;
    const totalSaid = pagination?.totalResult ?? '0';
    if (
      typeof pagination !== 'object' ||
      pagination === null ||
      pagination.appliedLimit === undefined ||
      !/^\d{1,15}$/.test(String(totalSaid))
    ) {
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        `Zitadel's answer to ListAdministrators had no readable pagination, which Zitadel always sends; check that ZITADEL_URL points at Zitadel's API and not at a proxy or another service`,
      );
    }
    const all = Array.isArray(res.administrators)
      ? res.administrators.map((a) => recordOf<ZAdministrator>('administrator', a))
      : [];
    // only the asked user's: a filter Zitadel ignored must not put another user's memberships in this count
    const result = all.filter((a) => a.user?.id === undefined || a.user.id === userId);
    const total = Math.max(totalOf(res.pagination), all.length);
    // what this page should hold against what it holds (the total counts the rows the caller may not read)
    const hidden = Math.max(0, Math.min(total - window.offset, window.limit) - all.length);
    return { total, result, hidden };
  }

  /** A management v1 list under one user: `POST /management/v1/users/{id}/{what}/_search`. */
  #userList<T>(
    kind: keyof typeof SHAPES,
    userId: string,
    what: 'keys' | 'memberships',
    window: { offset: number; limit: number },
    signal?: AbortSignal,
    orgId?: string,
  ) {
    return this.#list<T>(
      kind,
      `/management/v1/users/${encodeURIComponent(userId)}/${what}/_search`,
      `${what} of user ${userId}${orgId ? ` in organisation ${orgId}` : ''}`,
      { query: { offset: String(window.offset), limit: window.limit, asc: true } },
      signal,
      orgId,
    );
  }

  async addUserGrant(userId: string, projectId: string, roleKeys: string[], signal?: AbortSignal): Promise<string> {
    const res = await this.call<{ userGrantId?: string }>(
      'POST',
      `/management/v1/users/${encodeURIComponent(userId)}/grants`,
      `a grant on project ${projectId}`,
      { projectId, roleKeys },
      signal,
    );
    if (!res?.userGrantId) throw new ToolError('ERR_BACKEND_ERROR', 'Zitadel created the grant but sent no id');
    return res.userGrantId;
  }

  /**
   * Management v1 GetUserGrantByID. Unlike ListUserGrants, which reads the user-grant projection as it
   * stands (it lags the write that made a grant), it brings the projection up to date first
   * (internal/api/grpc/management/user_grant.go): a grant just made is there.
   */
  async getUserGrant(userId: string, grantId: string, signal?: AbortSignal): Promise<ZGrant> {
    const path = `/management/v1/users/${encodeURIComponent(userId)}/grants/${encodeURIComponent(grantId)}`;
    return this.#getOne<ZGrant>(path, 'grant', 'userGrant', `grant ${grantId}`, signal);
  }

  /**
   * Brings Zitadel's user-grant projection up to date, so that the next ListUserGrants shows every grant
   * write made before this call. GetUserGrantByID triggers that projection before it reads, whatever the
   * read then finds (internal/query/user_grant.go UserGrant(ctx, true, ...)); asked for "0", an id Zitadel
   * never gives, it answers NOT_FOUND, the expected answer here.
   */
  async syncUserGrants(userId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.call(
        'GET',
        `/management/v1/users/${encodeURIComponent(userId)}/grants/0`,
        'user grants',
        undefined,
        signal,
      );
    } catch (err) {
      if (!(err instanceof ToolError) || err.code !== 'ERR_NOT_FOUND') throw err;
    }
  }

  async updateUserGrant(userId: string, grantId: string, roleKeys: string[], signal?: AbortSignal): Promise<void> {
    await this.call(
      'PUT',
      `/management/v1/users/${encodeURIComponent(userId)}/grants/${encodeURIComponent(grantId)}`,
      `grant ${grantId}`,
      { roleKeys },
      signal,
    );
  }

  async removeUserGrant(userId: string, grantId: string, signal?: AbortSignal): Promise<void> {
    await this.call(
      'DELETE',
      `/management/v1/users/${encodeURIComponent(userId)}/grants/${encodeURIComponent(grantId)}`,
      `grant ${grantId}`,
      undefined,
      signal,
    );
  }

  async addProjectRole(
    projectId: string,
    role: { roleKey: string; displayName: string; group?: string | undefined },
    signal?: AbortSignal,
  ): Promise<void> {
    await this.call(
      'POST',
      `/management/v1/projects/${encodeURIComponent(projectId)}/roles`,
      `role ${role.roleKey} on project ${projectId}`,
      role,
      signal,
    );
  }

  /**
   * Management v1 GetMachineKeyByIDs: the key, or undefined when Zitadel finds no such key of the user in
   * this organisation (NOT_FOUND Errors.AuthNKey.NotFound, internal/query/authn_key.go).
   */
  async findMachineKey(userId: string, keyId: string, signal?: AbortSignal): Promise<ZKey | undefined> {
    try {
      return await this.#getOne<ZKey>(
        `/management/v1/users/${encodeURIComponent(userId)}/keys/${encodeURIComponent(keyId)}`,
        'key',
        'key',
        `key ${keyId} of user ${userId}`,
        signal,
      );
    } catch (err) {
      if (err instanceof ToolError && err.code === 'ERR_NOT_FOUND') return undefined;
      throw err;
    }
  }

  async removeMachineKey(userId: string, keyId: string, signal?: AbortSignal): Promise<void> {
    await this.call(
      'DELETE',
      `/management/v1/users/${encodeURIComponent(userId)}/keys/${encodeURIComponent(keyId)}`,
      `key ${keyId} of user ${userId}`,
      undefined,
      signal,
    );
  }

  /** v2 user state changes: `deactivate` or `lock` (and their inverses). */
  async setUserState(
    userId: string,
    action: 'deactivate' | 'lock' | 'reactivate' | 'unlock',
    signal?: AbortSignal,
  ): Promise<void> {
    await this.call('POST', `/v2/users/${encodeURIComponent(userId)}/${action}`, `user ${userId}`, {}, signal);
  }

  /**
   * Admin ListEvents, newest first; `createdBefore` keeps events created strictly before it (an RFC 3339
   * time). Not `sequence`: Zitadel reads it as "greater than" whatever the order, and counts it per
   * aggregate (internal/api/grpc/admin/event.go). One aggregate id at most (ListEventsRequest
   * aggregate_id is a single string), with the aggregate type it belongs to: `user` for a user's own
   * events, `usergrant` for a user grant's (internal/repository/usergrant/aggregate.go). Needs
   * IAM_OWNER_VIEWER.
   */
  async listEvents(
    filter: {
      aggregateType?: 'user' | 'usergrant';
      aggregateId?: string;
      resourceOwner?: string;
      eventTypes?: string[];
      createdBefore?: string;
      limit: number;
    },
    signal?: AbortSignal,
  ): Promise<ZEvent[]> {
    const res = await this.call<{ events?: ZEvent[] }>(
      'POST',
      '/admin/v1/events/_search',
      'events',
      {
        asc: false,
        limit: filter.limit,
        // creationDate (deprecated for `from`, which older versions lack) is strict: created before it
        ...(filter.createdBefore !== undefined ? { creationDate: filter.createdBefore } : {}),
        ...(filter.aggregateId ? { aggregateId: filter.aggregateId } : {}),
        ...(filter.aggregateType ? { aggregateTypes: [filter.aggregateType] } : {}),
        ...(filter.resourceOwner ? { resourceOwner: filter.resourceOwner } : {}),
        ...(filter.eventTypes?.length ? { eventTypes: filter.eventTypes } : {}),
      },
      signal,
    );
    return Array.isArray(res?.events) ? res.events.map((e) => recordOf<ZEvent>('event', e)) : [];
  }

  /** Readiness: the service account can log in and read itself. */
  async ping(signal?: AbortSignal): Promise<void> {
    await this.getUser(this.#opts.keyFile.userId, signal);
  }
}
