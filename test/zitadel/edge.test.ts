// Users, grants and onboarding as Zitadel answers them at its edges, through the real SDK Client over
// stdio: usernames that hold an "@", user grants an operator deactivated, listings that lag the writes
// (onboarding, roles_grant, roles_revoke), an onboarding cut short.
import { describe, expect, it } from 'vitest';
import { callTool, useZitadelSession } from './harness.js';

const session = useZitadelSession();

describe('a username that holds an "@"', () => {
  it('is found by that username, and still by its login name', async () => {
    const made = await callTool(session.s, 'service_accounts_create', { username: 'deploy@ci', name: 'CI deploy' });
    expect(made.isError).toBe(false);
    const id = (made.data?.user as { id?: string } | undefined)?.id;
    // The organisation's login names are username@org-domain: this one's is deploy@ci@ravenhelm.zitadel.test.
    const byName = await callTool(session.s, 'users_get', { user: 'deploy@ci' });
    expect(byName.text).not.toMatch(/^ERR_/);
    expect(byName.data?.user).toMatchObject({ id, username: 'deploy@ci' });
    const keys = await callTool(session.s, 'keys_list', { user: 'deploy@ci' });
    expect(keys.data).toMatchObject({ keys: [], total: 0 });
    const byLogin = await callTool(session.s, 'users_get', { user: 'deploy@ci@ravenhelm.zitadel.test' });
    expect(byLogin.data?.user).toMatchObject({ id });
  });

  it("that is also another user's login name is ambiguous, never a guess", async () => {
    // username "carol" has the login name carol@ravenhelm.zitadel.test, which is the next one's username
    for (const username of ['carol', 'carol@ravenhelm.zitadel.test']) {
      expect((await callTool(session.s, 'service_accounts_create', { username, name: username })).isError).toBe(false);
    }
    const r = await callTool(session.s, 'users_get', { user: 'carol@ravenhelm.zitadel.test' });
    expect(r.text).toMatch(/^ERR_INVALID_INPUT: 'carol@ravenhelm\.zitadel\.test' matches 2 users: /);
  });
});

describe('a user grant deactivated in Zitadel', () => {
  const deactivateMcpGrant = (username: string) => {
    const user = session.fx.sim.users.find((u) => u.username === username && u.orgId === session.fx.ids.orgId);
    const grant = session.fx.sim.grants.find((g) => g.userId === user?.id && g.projectId === session.fx.ids.projectId);
    if (!grant) throw new Error(`no MCP-project grant of ${username}`);
    grant.state = 'USER_GRANT_STATE_INACTIVE';
    return grant;
  };

  it('gives no scopes: capabilities list it as ignored, as the token leaves its roles out', async () => {
    const grant = deactivateMcpGrant('agent-oncall');
    try {
      const r = await callTool(session.s, 'agents_get_capabilities', { user: 'agent-oncall' });
      expect(r.isError).toBe(false);
      expect(r.data).toMatchObject({ roles: [], scopes: [] });
      expect(r.data?.ignoredGrants).toContainEqual({
        projectId: session.fx.ids.projectId,
        orgId: session.fx.ids.orgId,
        roles: ['docker.operator', 'observability.reader'],
        reason: 'deactivated in Zitadel',
      });
    } finally {
      grant.state = undefined;
    }
  });

  it('is marked inactive where grants are shown: users_list_grants, and roles_revoke on it', async () => {
    const grant = deactivateMcpGrant('agent-oncall');
    try {
      const listed = await callTool(session.s, 'users_list_grants', { user: 'agent-oncall' });
      const grants = listed.data?.grants as { projectId: string; state?: string }[];
      expect(grants.find((g) => g.projectId === session.fx.ids.projectId)).toMatchObject({
        roles: ['docker.operator', 'observability.reader'],
        state: 'inactive',
      });
      // an active grant carries no state
      expect(grants.find((g) => g.projectId === session.fx.ids.otherProjectId)).not.toHaveProperty('state');
      const revoked = await callTool(session.s, 'roles_revoke', { user: 'agent-oncall', roles: ['docker.operator'] });
      expect(revoked.data).toMatchObject({ grantId: grant.id, roles: ['observability.reader'], state: 'inactive' });
    } finally {
      grant.state = undefined;
      grant.roleKeys = ['docker.operator', 'observability.reader'];
    }
  });

  it('is not extended by roles_grant, which says why and what to do', async () => {
    const grant = deactivateMcpGrant('alice');
    try {
      const r = await callTool(session.s, 'roles_grant', { user: 'alice', roles: ['docker.reader'] });
      expect(r.text).toBe(
        `ERR_CONFLICT: user ${grant.userId}'s grant ${grant.id} on project ${session.fx.ids.projectId} is deactivated in Zitadel, so its roles give nothing; reactivate it in Zitadel, then grant again`,
      );
      expect(grant.roleKeys).toEqual(['docker.admin']);
    } finally {
      grant.state = undefined;
    }
  });
});

describe("an onboarding while Zitadel's listings lag its writes", () => {
  it('reads back the grant it just made, which ListUserGrants does not show yet', async () => {
    session.fx.sim.grantProjectionLagMs = 60_000;
    try {
      const r = await callTool(session.s, 'agents_onboard', { username: 'agent-quick', scopes: ['mcp:docker:read'] });
      expect(r.text).not.toMatch(/^ERR_/);
      expect(r.data).toMatchObject({ roles: ['docker.reader'], scopes: ['mcp:docker:read'] });
    } finally {
      session.fx.sim.grantProjectionLagMs = 0;
    }
  });
});

describe("roles_grant and roles_revoke while Zitadel's listings lag its writes", () => {
  const lagging = async (run: () => Promise<void>) => {
    session.fx.sim.grantProjectionLagMs = 60_000;
    try {
      await run();
    } finally {
      session.fx.sim.grantProjectionLagMs = 0;
    }
  };
  const newAccount = async (username: string) => {
    const made = await callTool(session.s, 'service_accounts_create', { username, name: username });
    const id = (made.data?.user as { id?: string } | undefined)?.id;
    if (!id) throw new Error(`service_accounts_create failed: ${made.text}`);
    return id;
  };

  it('a repeated roles_grant answers the grant the first one made, and extends it', async () => {
    const userId = await newAccount('agent-repeat');
    await lagging(async () => {
      const first = await callTool(session.s, 'roles_grant', { user: userId, roles: ['docker.reader'] });
      expect(first.data).toMatchObject({ roles: ['docker.reader'], changed: true });
      const again = await callTool(session.s, 'roles_grant', { user: userId, roles: ['docker.reader'] });
      expect(again.text).not.toMatch(/^ERR_/);
      expect(again.data).toEqual({ ...first.data, changed: false });
      const more = await callTool(session.s, 'roles_grant', { user: userId, roles: ['observability.reader'] });
      expect(more.data).toMatchObject({
        grantId: first.data?.grantId,
        roles: ['docker.reader', 'observability.reader'],
        changed: true,
      });
    });
  });

  it('roles_grant keeps the roles a change just before added, which the listing does not show yet', async () => {
    const userId = await newAccount('agent-stacked');
    const first = await callTool(session.s, 'roles_grant', { user: userId, roles: ['docker.reader'] });
    await lagging(async () => {
      await callTool(session.s, 'roles_grant', { user: userId, roles: ['observability.reader'] });
      const next = await callTool(session.s, 'roles_grant', { user: userId, roles: ['docker.operator'] });
      expect(next.data).toEqual({
        userId,
        projectId: session.fx.ids.projectId,
        grantId: first.data?.grantId,
        roles: ['docker.operator', 'docker.reader', 'observability.reader'],
        changed: true,
      });
    });
    const held = session.fx.sim.grants.filter((g) => g.userId === userId).map((g) => [...g.roleKeys].sort());
    expect(held).toEqual([['docker.operator', 'docker.reader', 'observability.reader']]);
  });

  it('users_list_grants and agents_get_capabilities right after a roles_grant show what it granted', async () => {
    const userId = await newAccount('agent-shown');
    await lagging(async () => {
      await callTool(session.s, 'roles_grant', { user: userId, roles: ['docker.reader'] });
      const listed = await callTool(session.s, 'users_list_grants', { user: userId });
      expect(listed.data).toMatchObject({ grants: [{ roles: ['docker.reader'] }], total: 1 });
      const caps = await callTool(session.s, 'agents_get_capabilities', { user: userId });
      expect(caps.data).toMatchObject({ roles: ['docker.reader'], scopes: ['mcp:docker:read'] });
    });
  });

  it('roles_revoke right after a roles_grant finds the grant it made', async () => {
    const userId = await newAccount('agent-revoked');
    await lagging(async () => {
      await callTool(session.s, 'roles_grant', { user: userId, roles: ['docker.reader'] });
      const revoked = await callTool(session.s, 'roles_revoke', { user: userId, roles: ['docker.reader'] });
      expect(revoked.data).toEqual({ userId, projectId: session.fx.ids.projectId, roles: [], changed: true });
    });
    expect(session.fx.sim.grants.some((g) => g.userId === userId)).toBe(false);
  });

  it('roles_grant right after a roles_revoke removed the grant makes a new one', async () => {
    const userId = await newAccount('agent-regranted');
    await callTool(session.s, 'roles_grant', { user: userId, roles: ['docker.reader'] });
    await lagging(async () => {
      const revoked = await callTool(session.s, 'roles_revoke', { user: userId, roles: ['docker.reader'] });
      expect(revoked.data).toMatchObject({ roles: [], changed: true });
      // the listing still shows the removed grant
      const again = await callTool(session.s, 'roles_grant', { user: userId, roles: ['observability.reader'] });
      expect(again.text).not.toMatch(/^ERR_/);
      expect(again.data).toMatchObject({ roles: ['observability.reader'], changed: true });
    });
    const held = session.fx.sim.grants.filter((g) => g.userId === userId).map((g) => g.roleKeys);
    expect(held).toEqual([['observability.reader']]);
  });
});

describe('an onboarding cut short', () => {
  it('says which account it left behind when the grant fails, and how to finish', async () => {
    const project = session.fx.sim.projects.find((p) => p.id === session.fx.ids.projectId);
    const roles = project?.roles ?? [];
    // the role mapping names a role the project does not have (yet)
    const at = roles.findIndex((r) => r.key === 'observability.reader');
    const [missing] = roles.splice(at, 1);
    try {
      const r = await callTool(session.s, 'agents_onboard', {
        username: 'agent-halfway',
        scopes: ['mcp:observability:read'],
      });
      const made = session.fx.sim.users.find((u) => u.username === 'agent-halfway');
      expect(made).toBeDefined();
      expect(r.text).toBe(
        `ERR_INVALID_INPUT: the account agent-halfway (id ${made?.id}) was created, but without its grant of observability.reader nor a key: Zitadel refused a grant on project ${session.fx.ids.projectId}: a role key is not defined on the project (keys are case-sensitive); see roles_list, or add it with roles_create (Errors.Project.Role.NotFound (COMMAND-mm9F4)); once the cause is fixed, finish with roles_grant and keys_add`,
      );
    } finally {
      if (missing) roles.splice(at, 0, missing);
    }
  });
});

describe('user states as Zitadel moves them', () => {
  it('deactivates a locked user, and reactivates it', async () => {
    const disabled = await callTool(session.s, 'users_disable', { user: 'bobby' });
    expect(disabled.text).not.toMatch(/^ERR_/);
    expect(disabled.data?.user).toMatchObject({ username: 'bobby', state: 'inactive' });
    const enabled = await callTool(session.s, 'users_enable', { user: 'bobby' });
    expect(enabled.data?.user).toMatchObject({ username: 'bobby', state: 'active' });
  });
});

describe("keys_add's plan under a confirmation policy", () => {
  const confirming = useZitadelSession({ confirmTools: ['keys_add'] });

  it("names the scopes deactivated grants would add: a key outlives today's grant states", async () => {
    const user = confirming.fx.sim.users.find((u) => u.username === 'agent-oncall');
    const grant = confirming.fx.sim.grants.find(
      (g) => g.userId === user?.id && g.projectId === confirming.fx.ids.projectId,
    );
    if (!grant) throw new Error('no MCP-project grant of agent-oncall');
    const planOf = async () =>
      (await callTool(confirming.s, 'keys_add', { user: 'agent-oncall' })).meta?.['ravenhelm/confirmation']?.plan;
    const active = await planOf();
    expect(active).toMatch(/its MCP scopes: \S*mcp:docker:write\S*( \S+)*\.$/);
    grant.state = 'USER_GRANT_STATE_INACTIVE';
    try {
      expect(await planOf()).toBe(
        active?.replace(
          /its MCP scopes: (.*)\.$/,
          'its MCP scopes: none, and $1 once its deactivated grants are reactivated.',
        ),
      );
    } finally {
      grant.state = undefined;
    }
  });

  it('says a locked account gets no token with the key until it is enabled', async () => {
    const user = confirming.fx.sim.users.find((u) => u.username === 'agent-oncall');
    if (!user) throw new Error('no agent-oncall');
    const planOf = async () =>
      (await callTool(confirming.s, 'keys_add', { user: 'agent-oncall' })).meta?.['ravenhelm/confirmation']?.plan;
    const active = await planOf();
    expect(active).not.toContain('users_enable');
    const before = user.state;
    user.state = 'USER_STATE_LOCKED';
    try {
      expect(await planOf()).toMatch(
        /, locked\);.*\. The account is locked: the key gets no token until users_enable enables it\.$/,
      );
    } finally {
      user.state = before;
    }
  });
});
