// roles_grant and roles_revoke called at the same time on one user grant, through the real SDK Client over
// stdio. Zitadel's UpdateUserGrant replaces the whole role list with no version check
// (internal/command/user_grant.go ChangeUserGrant), so two calls that read the same list and each write it
// back with their own change drop the other's. The simulator pairs the two grant reads (grantReadPairingMs)
// so that both calls read the same list before either writes.
import { afterEach, describe, expect, it } from 'vitest';
import { callTool, connectStdio, useZitadelSession } from './harness.js';

const session = useZitadelSession();

afterEach(() => {
  session.fx.sim.grantReadPairingMs = 0;
  session.fx.sim.afterGrantWrite = undefined;
});

/** A new service account holding `roles` on the MCP project; returns its id. */
async function accountWith(username: string, roles: string[]): Promise<string> {
  const made = await callTool(session.s, 'service_accounts_create', { username, name: username });
  const id = (made.data?.user as { id?: string } | undefined)?.id;
  if (!id) throw new Error(`service_accounts_create failed: ${made.text}`);
  const granted = await callTool(session.s, 'roles_grant', { user: id, roles });
  if (granted.isError) throw new Error(`roles_grant failed: ${granted.text}`);
  return id;
}

const rolesOf = (userId: string) =>
  session.fx.sim.grants.find((g) => g.userId === userId && g.projectId === session.fx.ids.projectId)?.roleKeys;

describe('concurrent changes to one grant, through one server', () => {
  it('two roles_grant calls both keep their roles', async () => {
    const id = await accountWith('race-grant-1', ['docker.reader']);
    session.fx.sim.grantReadPairingMs = 300;
    const [a, b] = await Promise.all([
      callTool(session.s, 'roles_grant', { user: id, roles: ['docker.operator'] }),
      callTool(session.s, 'roles_grant', { user: id, roles: ['observability.reader'] }),
    ]);
    expect(a.text).not.toMatch(/^ERR_/);
    expect(b.text).not.toMatch(/^ERR_/);
    expect([...(rolesOf(id) ?? [])].sort()).toEqual(['docker.operator', 'docker.reader', 'observability.reader']);
  });

  it('roles_revoke neither drops a role granted meanwhile nor lets the revoked one come back', async () => {
    const id = await accountWith('race-revoke-1', ['docker.reader', 'observability.reader']);
    session.fx.sim.grantReadPairingMs = 300;
    const [granted, revoked] = await Promise.all([
      callTool(session.s, 'roles_grant', { user: id, roles: ['docker.operator'] }),
      callTool(session.s, 'roles_revoke', { user: id, roles: ['docker.reader'] }),
    ]);
    expect(granted.text).not.toMatch(/^ERR_/);
    expect(revoked.text).not.toMatch(/^ERR_/);
    expect([...(rolesOf(id) ?? [])].sort()).toEqual(['docker.operator', 'observability.reader']);
  });
});

describe('concurrent changes to one grant, through two servers (replicas)', () => {
  it('roles_grant reads back what it wrote and writes again what another writer replaced', async () => {
    const id = await accountWith('race-grant-2', ['docker.reader']);
    const other = await connectStdio(session.fx.env);
    try {
      session.fx.sim.grantReadPairingMs = 500;
      const [a, b] = await Promise.all([
        callTool(session.s, 'roles_grant', { user: id, roles: ['docker.operator'] }),
        callTool(other, 'roles_grant', { user: id, roles: ['observability.reader'] }),
      ]);
      expect(a.text).not.toMatch(/^ERR_/);
      expect(b.text).not.toMatch(/^ERR_/);
      expect([...(rolesOf(id) ?? [])].sort()).toEqual(['docker.operator', 'docker.reader', 'observability.reader']);

      // a revoke on one replica, a grant on the other: each change holds, whichever write lands last
      session.fx.sim.grantReadPairingMs = 0;
      await callTool(session.s, 'roles_revoke', { user: id, roles: ['docker.operator'] });
      session.fx.sim.grantReadPairingMs = 500;
      const [granted, revoked] = await Promise.all([
        callTool(session.s, 'roles_grant', { user: id, roles: ['docker.operator'] }),
        callTool(other, 'roles_revoke', { user: id, roles: ['docker.reader'] }),
      ]);
      expect(granted.text).not.toMatch(/^ERR_/);
      expect(revoked.text).not.toMatch(/^ERR_/);
      expect([...(rolesOf(id) ?? [])].sort()).toEqual(['docker.operator', 'observability.reader']);
    } finally {
      await other.close();
    }
  });

  it('a write another writer keeps replacing is not reported as done: the error says so', async () => {
    const id = await accountWith('race-grant-3', ['docker.reader']);
    // another writer puts the grant back to what it held after each of our writes
    session.fx.sim.afterGrantWrite = (g) => {
      g.roleKeys = ['docker.reader'];
    };
    const r = await callTool(session.s, 'roles_grant', { user: id, roles: ['docker.operator'] });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      new RegExp(
        `^ERR_CONFLICT: could not confirm the change to user ${id}'s grant on project ${session.fx.ids.projectId}: another writer kept replacing its roles, and after 4 writes read back without docker\\.operator \\(it now holds docker\\.reader\\)\\. Check users_list_grants, then repeat the call$`,
      ),
    );
    expect(rolesOf(id)).toEqual(['docker.reader']);
  });
});
