/**
 * The Zitadel server attacked from outside (attackgz), privilege escalation: a HIGH caller must not end up
 * with more power than its own scopes give it. Through the real bin over stdio, the SDK Client and the
 * stateful Zitadel simulator (memberships, grants and keys as Zitadel keeps them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimMembership } from '../simulators/zitadel.js';
import { callTool as call, connectStdio, readAudit, type StdioSession, useZitadelSession } from '../zitadel/harness.js';

// The caller administers Zitadel through this server and holds no scope of another server.
const main = useZitadelSession({ scopes: ['mcp:zitadel:admin'] });

const userId = (username: string) => {
  const u = main.fx.sim.users.find((x) => x.username === username && x.orgId === main.fx.ids.orgId);
  if (!u) throw new Error(`seed changed: no ${username}`);
  return u.id;
};
const keysOf = (id: string) => main.fx.sim.keys.filter((k) => k.userId === id).length;

describe('keys_add for an account that administers Zitadel (memberships)', () => {
  it.each([
    ['an organisation user manager', 'agent-orgadmin', /ORG_USER_MANAGER on organisation Ravenhelm \(id \d+\)/],
    ['a project owner', 'agent-release', /PROJECT_OWNER on project ravenhelm-mcp \(id \d+\)/],
    ['an instance viewer', 'agent-auditor', /IAM_OWNER_VIEWER on the instance/],
  ])('refuses %s: the key would make the caller that administrator', async (_who, username, named) => {
    const id = userId(username);
    const before = keysOf(id);
    const r = await call(main.s, 'keys_add', { user: username });
    // before the fix: a fresh private key of the administrator, returned to the caller
    expect(r.isError, r.text.slice(0, 200)).toBe(true);
    expect(r.text).toMatch(new RegExp(`^ERR_NOT_ALLOWED: ${username} \\(id ${id}\\) administers Zitadel`));
    expect(r.text).toMatch(named);
    expect(r.text).toContain('Keys of such accounts are made by an operator in Zitadel');
    expect(r.text).not.toContain('PRIVATE KEY');
    expect(keysOf(id)).toBe(before);
  });

  it('an account made for an agent (project grants, no memberships) still gets its key', async () => {
    const made = await call(main.s, 'service_accounts_create', { username: 'agent-plain', name: 'Plain agent' });
    expect(made.isError, made.text).toBe(false);
    const r = await call(main.s, 'keys_add', { user: 'agent-plain', expiresInDays: 1 });
    expect(r.isError, r.text.slice(0, 200)).toBe(false);
    expect(r.data).toMatchObject({ shownOnce: true, userId: userId('agent-plain') });
  });

  it('an account that becomes an administrator later is refused then', async () => {
    const id = userId('agent-plain');
    main.fx.sim.memberships.push({
      userId: id,
      kind: 'org',
      objectId: main.fx.ids.orgId,
      resourceOwner: main.fx.ids.orgId,
      roles: ['ORG_OWNER'],
      created: new Date().toISOString(),
    });
    try {
      const before = keysOf(id);
      const r = await call(main.s, 'keys_add', { user: id });
      expect(r.text).toMatch(/^ERR_NOT_ALLOWED: agent-plain .* \(ORG_OWNER on organisation Ravenhelm \(id \d+\)\)/);
      expect(keysOf(id)).toBe(before);
    } finally {
      main.fx.sim.memberships = main.fx.sim.memberships.filter((m) => m.userId !== id);
    }
  });

  it('memberships Zitadel cannot be asked about fail closed: no key', async () => {
    const id = userId('agent-plain');
    const before = keysOf(id);
    main.fx.sim.withheld.add('user.membership.read');
    try {
      const r = await call(main.s, 'keys_add', { user: 'agent-plain' });
      // Zitadel's PERMISSION_DENIED for the server's account: said, and nothing made
      expect(r.text).toMatch(
        /^ERR_NOT_ALLOWED: could not check the Zitadel memberships of user \d+, so nothing was done .*: Zitadel denied this server's service account access to memberships of user \d+: No matching permissions found \(AUTH-5mWD2\)/,
      );
      expect(keysOf(id)).toBe(before);
    } finally {
      main.fx.sim.withheld.delete('user.membership.read');
    }
  });

  it('many memberships are named up to a page and counted beyond it', async () => {
    const id = userId('agent-orgadmin');
    const extra: SimMembership[] = Array.from({ length: 25 }, () => ({
      userId: id,
      kind: 'project' as const,
      objectId: main.fx.ids.otherProjectId,
      resourceOwner: main.fx.ids.orgId,
      roles: ['PROJECT_OWNER_VIEWER'],
      created: new Date().toISOString(),
    }));
    main.fx.sim.memberships.push(...extra);
    try {
      const r = await call(main.s, 'keys_add', { user: 'agent-orgadmin' });
      expect(r.text).toMatch(/^ERR_NOT_ALLOWED: .* and 6 more\): /);
    } finally {
      main.fx.sim.memberships = main.fx.sim.memberships.filter((m) => !extra.includes(m));
    }
  });
});

describe('keys_add under a confirmation policy: the plan shows the memberships', () => {
  const confirming = useZitadelSession({ confirmTools: ['keys_add'] });

  it('an account made an administrator between plan and confirmation gets no key (ERR_CONFLICT)', async () => {
    const made = await call(confirming.s, 'service_accounts_create', { username: 'agent-swap', name: 'Swap agent' });
    const id = confirming.fx.sim.users.find((u) => u.username === 'agent-swap')?.id as string;
    expect(made.isError, made.text).toBe(false);
    const first = await call(confirming.s, 'keys_add', { user: 'agent-swap' });
    const confirmation = first.meta?.['ravenhelm/confirmation'];
    expect(confirmation?.plan).toMatch(
      new RegExp(
        `^Add a JSON key valid 90 days to agent-swap@\\S+ \\(id ${id}, service account, active\\); its Zitadel memberships: none; its MCP scopes: none\\.$`,
      ),
    );
    // between plan and confirmation, the account is made an organisation owner
    confirming.fx.sim.memberships.push({
      userId: id,
      kind: 'org',
      objectId: confirming.fx.ids.orgId,
      resourceOwner: confirming.fx.ids.orgId,
      roles: ['ORG_OWNER'],
      created: new Date().toISOString(),
    });
    const confirmed = await call(confirming.s, 'keys_add', {
      user: 'agent-swap',
      confirmationToken: confirmation?.token,
    });
    expect(confirmed.isError).toBe(true);
    expect(confirmed.text).toMatch(/^ERR_CONFLICT: /);
    expect(confirmed.text).toContain('its Zitadel memberships: ORG_OWNER on organisation Ravenhelm');
    expect(confirming.fx.sim.keys.filter((k) => k.userId === id)).toHaveLength(0);
    expect(readAudit(confirming.fx.auditFile)).not.toContain('PRIVATE KEY');
  });
});

describe("roles_grant and agents_onboard give at most the caller's own scopes", () => {
  const grantsOf = (id: string) => main.fx.sim.grants.filter((g) => g.userId === id);

  it('roles_grant refuses a role whose scopes the caller lacks, naming them; nothing is granted', async () => {
    const made = await call(main.s, 'service_accounts_create', { username: 'agent-grantee', name: 'Grantee' });
    expect(made.isError, made.text).toBe(false);
    const id = userId('agent-grantee');
    const r = await call(main.s, 'roles_grant', { user: 'agent-grantee', roles: ['docker.reader', 'docker.admin'] });
    // before the fix: the grant is made, and the agent holds mcp:docker:admin which the caller never had
    expect(r.isError, r.text.slice(0, 200)).toBe(true);
    expect(r.text).toBe(
      'ERR_NOT_ALLOWED: these roles give scopes you do not hold yourself: docker.reader (mcp:docker:read), docker.admin (mcp:docker:admin); a caller grants at most its own scopes (you hold: mcp:zitadel:admin). Ask someone who holds them, or an operator in Zitadel',
    );
    expect(grantsOf(id)).toEqual([]);
  });

  it('agents_onboard refuses scopes the caller lacks before creating anything', async () => {
    const users = main.fx.sim.users.length;
    const r = await call(main.s, 'agents_onboard', { username: 'agent-escalated', scopes: ['mcp:docker:admin'] });
    expect(r.text).toBe(
      'ERR_NOT_ALLOWED: these roles give scopes you do not hold yourself: docker.admin (mcp:docker:admin); a caller grants at most its own scopes (you hold: mcp:zitadel:admin). Ask someone who holds them, or an operator in Zitadel',
    );
    expect(main.fx.sim.users.length).toBe(users);
    expect(main.fx.sim.users.some((u) => u.username === 'agent-escalated')).toBe(false);
  });

  it('roles that give no scope (unmapped roles of the MCP project) are granted', async () => {
    const id = userId('agent-grantee');
    const role = await call(main.s, 'roles_create', { key: 'ops.pager', displayName: 'Pager rota' });
    expect(role.data).toMatchObject({ key: 'ops.pager', scopes: [] });
    const unmapped = await call(main.s, 'roles_grant', { user: 'agent-grantee', roles: ['ops.pager'] });
    expect(unmapped.isError, unmapped.text).toBe(false);
    // Another project's roles give no MCP scope, but its own application trusts them: refused unless the
    // policy opens that project (attackgz-zitadel-projects.test.ts).
    const other = await call(main.s, 'roles_grant', {
      user: 'agent-grantee',
      roles: ['docker.admin'],
      project: 'billing',
    });
    expect(other.text).toMatch(/^ERR_NOT_ALLOWED: roles_grant changes grants on the MCP project \(id \d+\) only/);
    expect(grantsOf(id).map((g) => [g.projectId, g.roleKeys])).toEqual([[main.fx.ids.projectId, ['ops.pager']]]);
  });

  it('keys_add refuses an account whose roles give scopes the caller lacks: the key would be those scopes', async () => {
    const oncall = userId('agent-oncall');
    const before = keysOf(oncall);
    const r = await call(main.s, 'keys_add', { user: 'agent-oncall' });
    // before the fix: the key of an agent holding mcp:docker:write and mcp:observability:read
    expect(r.text).toBe(
      `ERR_NOT_ALLOWED: agent-oncall (id ${oncall}) holds scopes you do not hold yourself (mcp:docker:write mcp:observability:read): its key would give them to you. A caller gets keys only of accounts within its own scopes; ask someone who holds them, or an operator in Zitadel`,
    );
    expect(keysOf(oncall)).toBe(before);
  });

  describe('a caller that holds mcp:docker:admin', () => {
    let docker: StdioSession;
    beforeAll(async () => {
      docker = await connectStdio({
        ...main.fx.env,
        RAVENHELM_LOCAL_SCOPES: 'mcp:zitadel:admin,mcp:docker:admin',
        RAVENHELM_AUDIT_FILE: `${main.fx.dir}/docker-admin-audit.jsonl`, // one writer per log
      });
    }, 60_000);
    afterAll(() => docker?.close());

    it('grants the Docker roles (admin covers write and read) and onboards with them, but not observability', async () => {
      const r = await call(docker, 'roles_grant', {
        user: 'agent-grantee',
        roles: ['docker.operator', 'docker.reader'],
      });
      expect(r.isError, r.text).toBe(false);
      expect(r.data).toMatchObject({ roles: ['docker.operator', 'docker.reader', 'ops.pager'], changed: true });
      const onboard = await call(docker, 'agents_onboard', {
        username: 'agent-dockhand',
        scopes: ['mcp:docker:write'],
      });
      expect(onboard.isError, onboard.text.slice(0, 200)).toBe(false);
      expect(onboard.data).toMatchObject({ roles: ['docker.operator'], scopes: ['mcp:docker:write'] });
      const obs = await call(docker, 'roles_grant', { user: 'agent-grantee', roles: ['observability.reader'] });
      // keys: of an account within its scopes, yes; of one beyond them, no
      const dockhand = await call(docker, 'keys_add', { user: 'agent-dockhand', expiresInDays: 1 });
      expect(dockhand.isError, dockhand.text.slice(0, 200)).toBe(false);
      const oncall = await call(docker, 'keys_add', { user: 'agent-oncall' });
      expect(oncall.text).toMatch(/^ERR_NOT_ALLOWED: agent-oncall .* \(mcp:observability:read\): its key/);
      expect(obs.text).toMatch(
        /^ERR_NOT_ALLOWED: these roles give scopes you do not hold yourself: observability\.reader \(mcp:observability:read\);/,
      );
    });
  });
});

describe('ZITADEL_ORG_ID bounds every tool: users of another organisation are out of reach', () => {
  const elsewhere = () => {
    const u = main.fx.sim.users.find((x) => x.username === 'agent-oncall' && x.orgId === main.fx.ids.otherOrgId);
    if (!u) throw new Error('seed changed: no agent-oncall in the other organisation');
    return u;
  };
  const refused = (id: string) =>
    new RegExp(
      `^ERR_NOT_ALLOWED: user ${id} belongs to organisation ${main.fx.ids.otherOrgId}, not to this server's organisation ${main.fx.ids.orgId} \\(ZITADEL_ORG_ID\\)`,
    );

  it('users_disable by id leaves a user of another organisation alone', async () => {
    const u = elsewhere();
    const r = await call(main.s, 'users_disable', { user: u.id, mode: 'lock' });
    // before the fix: the other organisation's agent was locked through the instance-wide v2 user API
    expect(r.text).toMatch(refused(u.id));
    expect(u.state).toBe('USER_STATE_ACTIVE');
  });

  it('roles_grant by id gives a user of another organisation nothing', async () => {
    const u = elsewhere();
    const r = await call(main.s, 'roles_grant', { user: u.id, roles: ['docker.admin'], project: 'billing' });
    expect(r.text).toMatch(refused(u.id));
    expect(main.fx.sim.grants.filter((g) => g.userId === u.id)).toEqual([]);
  });

  it.each([
    ['users_get', {}],
    ['keys_list', {}],
    ['users_list_grants', {}],
    ['agents_get_capabilities', {}],
    ['events_list', {}],
  ])('%s by id is refused for a user of another organisation', async (tool, extra) => {
    const u = elsewhere();
    const r = await call(main.s, tool, { user: u.id, ...extra });
    expect(r.text).toMatch(refused(u.id));
  });

  it("names resolve in the server's organisation only; searches and events stay there", async () => {
    const got = await call(main.s, 'users_get', { user: 'agent-oncall' });
    expect(got.data?.user).toMatchObject({ orgId: main.fx.ids.orgId, username: 'agent-oncall' });
    const other = await call(main.s, 'users_get', { user: 'agent-oncall@contractors.zitadel.test' });
    expect(other.text).toMatch(/^ERR_NOT_FOUND: no user of organisation \d+ is named 'agent-oncall@contractors/);
    const search = await call(main.s, 'users_search', { username: 'agent-oncall' });
    expect(search.data).toMatchObject({ total: 1, users: [{ orgId: main.fx.ids.orgId }] });
    const events = await call(main.s, 'events_list', { orgId: main.fx.ids.otherOrgId });
    expect(events.text).toBe(
      `ERR_NOT_ALLOWED: organisation ${main.fx.ids.otherOrgId} is not this server's organisation ${main.fx.ids.orgId} (ZITADEL_ORG_ID): the server reads its own organisation's events only`,
    );
  });

  it("without ZITADEL_ORG_ID the bound is the organisation of the server's own account", async () => {
    const { ZITADEL_ORG_ID: _, ...env } = main.fx.env;
    const unset = await connectStdio({ ...env, RAVENHELM_AUDIT_FILE: `${main.fx.dir}/no-org-audit.jsonl` });
    try {
      const u = elsewhere();
      const r = await call(unset, 'users_disable', { user: u.id });
      expect(r.text).toMatch(refused(u.id));
      expect(u.state).toBe('USER_STATE_ACTIVE');
      const own = await call(unset, 'users_get', { user: 'agent-oncall' });
      expect(own.data?.user).toMatchObject({ orgId: main.fx.ids.orgId });
    } finally {
      await unset.close();
    }
  });
});
