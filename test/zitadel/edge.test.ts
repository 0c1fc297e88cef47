// Users, grants and onboarding as Zitadel answers them at its edges, through the real SDK Client over
// stdio: usernames that hold an "@", user grants an operator deactivated, listings that lag the writes,
// an onboarding cut short.
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
        `ERR_INVALID_INPUT: the account agent-halfway (id ${made?.id}) was created, but without its grant of observability.reader nor a key: Zitadel refused a grant on project ${session.fx.ids.projectId} as invalid: Errors.Project.Role.NotFound (COMMAND-4m9fs); once the cause is fixed, finish with roles_grant and keys_add`,
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
