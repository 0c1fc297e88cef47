// The read tools through the real SDK Client over stdio (default output-schema validation) against
// the Zitadel simulator.
import { toolSpecs } from '@ravenhelm/mcp-zitadel';
import { readAnnotations } from '@ravenhelm/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, type StdioSession, startZitadelFixture, type ZitadelFixture } from './harness.js';

let fx: ZitadelFixture;
let s: StdioSession;

beforeAll(async () => {
  fx = await startZitadelFixture();
  // 23 more service accounts, so paging has three pages of 10.
  for (let i = 0; i < 23; i++) {
    fx.sim.users.push({
      id: `9${String(i).padStart(17, '0')}`,
      orgId: fx.ids.orgId,
      username: `bulk-${String(i).padStart(2, '0')}`,
      state: 'USER_STATE_ACTIVE',
      created: new Date().toISOString(),
      machine: { name: `Bulk ${i}`, description: '', accessTokenType: 'ACCESS_TOKEN_TYPE_BEARER' },
    });
  }
  s = await connectStdio(fx.env);
}, 60_000);

afterAll(async () => {
  await s?.close();
  await fx?.stop();
});

// biome-ignore lint/suspicious/noExplicitAny: results are checked field by field below
type Loose = Record<string, any>;

async function call(name: string, args: Record<string, unknown> = {}) {
  const r = await s.client.callTool({ name, arguments: args });
  const text = (r.content as { type: string; text: string }[])[0]?.text ?? '';
  return { isError: r.isError === true, data: r.structuredContent as Loose, text };
}

describe('tools/list', () => {
  it('lists every tool with an output schema and explicit annotations', async () => {
    const { tools } = await s.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      [
        'agents_get_capabilities',
        'agents_onboard',
        'events_list',
        'keys_add',
        'keys_delete',
        'keys_list',
        'orgs_list',
        'projects_list',
        'roles_create',
        'roles_grant',
        'roles_list',
        'roles_revoke',
        'service_accounts_create',
        'users_disable',
        'users_enable',
        'users_get',
        'users_list_grants',
        'users_search',
      ].sort(),
    );
    const declared = new Map(toolSpecs.map((s) => [s.name, s.annotations]));
    for (const t of tools) {
      expect(t.outputSchema?.type, t.name).toBe('object');
      expect(t.description?.length ?? 0, t.name).toBeLessThanOrEqual(200);
      // The hints as sent (defaults left out) read back as the declaration.
      expect(readAnnotations(t.annotations ?? {}), t.name).toEqual(declared.get(t.name));
    }
  });
});

describe('users', () => {
  it('pages machine users by cursor with exact totals and no overlap', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    const totals: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call('users_search', {
        type: 'machine',
        username: 'bulk',
        limit: 10,
        ...(cursor ? { cursor } : {}),
      });
      expect(r.isError).toBe(false);
      totals.push(r.data.total);
      seen.push(...r.data.users.map((u: { username: string }) => u.username));
      cursor = r.data.nextCursor;
      expect(r.data.truncated).toBe(cursor !== undefined);
      if (!cursor) break;
    }
    expect(totals).toEqual([23, 23, 23]);
    expect(seen).toHaveLength(23);
    expect(new Set(seen).size).toBe(23);
    // Zitadel gets offset/limit in its own ListQuery form; each page reads the search whole (see keyset.ts).
    const last = fx.sim.control.requests.filter((r) => r.url.pathname === '/v2/users').at(-1);
    expect(JSON.parse(last?.body ?? '{}').query).toEqual({ offset: '0', limit: 100, asc: true });
  });

  it('filters by email, type and state', async () => {
    const people = await call('users_search', { type: 'human' });
    expect(people.data.users.map((u: { username: string }) => u.username).sort()).toEqual(['alice', 'bob', 'bobby']);
    const locked = await call('users_search', { state: 'locked' });
    expect(locked.data).toMatchObject({ total: 1, users: [{ username: 'bobby', state: 'locked', type: 'human' }] });
    const byMail = await call('users_search', { email: 'ALICE@' });
    expect(byMail.data.users).toEqual([
      expect.objectContaining({ username: 'alice', email: 'alice@ravenhelm.test', emailVerified: true }),
    ]);
  });

  it("gets a user by id, username or login name, in the server's organisation only", async () => {
    const alice = fx.sim.users.find((u) => u.username === 'alice');
    const byId = await call('users_get', { user: alice?.id });
    expect(byId.data.user).toMatchObject({ id: alice?.id, username: 'alice', type: 'human', state: 'active' });
    expect((await call('users_get', { user: 'alice' })).data.user.id).toBe(alice?.id);
    const login = await call('users_get', { user: 'agent-oncall@ravenhelm.zitadel.test' });
    expect(login.data.user).toMatchObject({ username: 'agent-oncall', type: 'machine', accessTokenType: 'jwt' });
    // the same username in the other organisation is out of reach: the name is not ambiguous here
    const byName = await call('users_get', { user: 'agent-oncall' });
    expect(byName.data.user).toMatchObject({ id: login.data.user.id, orgId: fx.ids.orgId });
    const search = fx.sim.control.requests.filter((r) => r.url.pathname === '/v2/users').at(-1);
    expect(JSON.parse(search?.body ?? '{}').queries).toContainEqual({
      organizationIdQuery: { organizationId: fx.ids.orgId },
    });
    const missing = await call('users_get', { user: 'nobody' });
    expect(missing.text).toBe(
      `ERR_NOT_FOUND: no user of organisation ${fx.ids.orgId} is named 'nobody'; search with users_search (this server acts in that organisation only)`,
    );
    const badId = await call('users_get', { user: '123456789' });
    expect(badId.text).toMatch(/^ERR_NOT_FOUND: /);
  });

  it("lists a user's grants across projects", async () => {
    const r = await call('users_list_grants', { user: 'agent-oncall@ravenhelm.zitadel.test' });
    expect(r.data.total).toBe(2);
    expect(r.data.grants).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ projectName: 'ravenhelm-mcp', roles: ['docker.operator', 'observability.reader'] }),
        expect.objectContaining({ projectName: 'billing', roles: ['docker.admin'] }),
      ]),
    );
    expect(r.data.grants[0].orgId).toBe(fx.ids.orgId);
  });
});

describe('projects, organisations, roles', () => {
  it('lists projects and organisations', async () => {
    const projects = await call('projects_list');
    expect(projects.data).toMatchObject({ total: 2, truncated: false });
    expect(projects.data.projects.map((p: { name: string }) => p.name).sort()).toEqual(['billing', 'ravenhelm-mcp']);
    const orgs = await call('orgs_list', { name: 'contract' });
    expect(orgs.data).toMatchObject({ total: 1, orgs: [{ name: 'Contractors', state: 'active' }] });
  });

  it('lists the MCP project roles with the scopes each grants; another project shows none', async () => {
    const roles = await call('roles_list');
    expect(roles.data.mcpProject).toBe(true);
    expect(roles.data.roles).toContainEqual({
      key: 'docker.operator',
      displayName: 'Docker operator',
      group: 'docker',
      scopes: ['mcp:docker:write'],
    });
    const billing = await call('roles_list', { project: 'billing' });
    expect(billing.data).toMatchObject({ mcpProject: false, roles: [{ key: 'docker.admin', scopes: [] }] });
    const none = await call('roles_list', { project: 'nope' });
    expect(none.text).toBe("ERR_NOT_FOUND: no project is named 'nope'; see projects_list");
  });
});

describe('what can this agent do', () => {
  it("counts only the MCP project's roles, maps them as the auth package does, and names the tools", async () => {
    const r = await call('agents_get_capabilities', { user: 'agent-oncall@ravenhelm.zitadel.test' });
    expect(r.isError).toBe(false);
    expect(r.data.roles).toEqual(['docker.operator', 'observability.reader']);
    expect(r.data.scopes).toEqual(['mcp:docker:write', 'mcp:observability:read']);
    expect(r.data.ignoredGrants).toEqual([
      { projectId: fx.ids.otherProjectId, orgId: fx.ids.orgId, roles: ['docker.admin'], reason: 'not the MCP project' },
    ]);
    const docker = r.data.servers.find((x: { server: string }) => x.server === 'docker');
    expect(docker.tools).toEqual(expect.arrayContaining(['containers_list', 'containers_restart']));
    expect(docker.tools).not.toContain('exec_run');
    const zitadel = r.data.servers.find((x: { server: string }) => x.server === 'zitadel');
    expect(zitadel).toBeUndefined();
  });
});

describe('talking to Zitadel', () => {
  it('logs in once with the JWT-profile grant, reuses the token and sends x-zitadel-orgid', async () => {
    expect(fx.sim.stats.tokenRequests).toBe(1);
    const api = fx.sim.control.requests.filter((r) => r.url.pathname.startsWith('/management/'));
    expect(api.length).toBeGreaterThan(0);
    for (const r of api) expect(r.headers['x-zitadel-orgid']).toBe(fx.ids.orgId);
    const token = fx.sim.control.requests.find((r) => r.url.pathname === '/oauth/v2/token');
    const form = new URLSearchParams(token?.body);
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    expect(form.get('scope')).toBe('openid urn:zitadel:iam:org:project:id:zitadel:aud');
  });

  it('logs in again when Zitadel stops accepting the token', async () => {
    fx.sim.tokens.clear();
    const r = await call('users_get', { user: 'alice' });
    expect(r.isError).toBe(false);
    expect(fx.sim.stats.tokenRequests).toBe(2);
  });

  it('maps permission denied to a clear tool error', async () => {
    fx.sim.managers.clear();
    try {
      const r = await call('projects_list');
      expect(r.text).toMatch(
        /^ERR_NOT_ALLOWED: Zitadel denied this server's service account access to projects: No matching permissions found \(AUTH-5mWD2\); grant it a manager role/,
      );
    } finally {
      fx.sim.managers.add(fx.serviceAccountId);
    }
  });
});
