// Users the server cannot act on, as Zitadel answers for them, through the real SDK Client over stdio: a
// user of another organisation when the server's account manages its own organisation only, and state
// changes Zitadel refuses (lock a deactivated user, deactivate one still in its initial setup).
import { describe, expect, it } from 'vitest';
import type { SimUser } from '../simulators/zitadel.js';
import { callTool, useZitadelSession } from './harness.js';

const session = useZitadelSession();

describe('a user of another organisation, when the server is an ORG_OWNER of its own only', () => {
  const elsewhere = () => {
    const { sim, ids } = session.fx;
    const u = sim.users.find((x) => x.username === 'agent-oncall' && x.orgId === ids.otherOrgId);
    if (!u) throw new Error('seed changed: no agent-oncall in the other organisation');
    return u;
  };

  // v2 GetUserByID answers PERMISSION_DENIED "Errors.PermissionDenied (AUTHZ-HKJD33)" for a user it found in
  // an organisation the caller may not read (query.GetUserByIDWithPermission).
  it.each([
    ['users_get', {}],
    ['users_disable', { mode: 'lock' }],
    ['keys_add', {}],
    ['events_list', {}],
  ])('%s by id says the user is out of the server organisation, not "grant the server a role"', async (tool, args) => {
    const { fx } = session;
    fx.sim.orgBoundManagers.add(fx.serviceAccountId);
    try {
      const u = elsewhere();
      const keysBefore = fx.sim.keys.length;
      const r = await callTool(session.s, tool, { user: u.id, ...args });
      // before the fix: "Zitadel denied this server's service account access to user …: Errors.PermissionDenied
      // (AUTHZ-HKJD33); grant it a manager role (e.g. ORG_USER_MANAGER, PROJECT_OWNER) in the organisation"
      expect(r.text).toMatch(
        new RegExp(
          `^ERR_NOT_ALLOWED: user ${u.id} is not among the users of this server's organisation ${fx.ids.orgId} \\(ZITADEL_ORG_ID\\).* it belongs to another organisation, and the server acts on users of its own organisation only`,
        ),
      );
      expect(r.text).not.toMatch(/grant it a manager role/);
      expect(u.state).toBe('USER_STATE_ACTIVE');
      expect(fx.sim.keys.length).toBe(keysBefore);
    } finally {
      fx.sim.orgBoundManagers.delete(fx.serviceAccountId);
    }
  });

  it('a user of its own organisation is still found by id, and an unknown id is not found', async () => {
    const { fx } = session;
    fx.sim.orgBoundManagers.add(fx.serviceAccountId);
    try {
      const alice = fx.sim.users.find((u) => u.username === 'alice') as SimUser;
      const r = await callTool(session.s, 'users_get', { user: alice.id });
      expect(r.data?.user).toMatchObject({ id: alice.id, username: 'alice' });
      const none = await callTool(session.s, 'users_get', { user: '123456789012345678' });
      expect(none.text).toMatch(/^ERR_NOT_FOUND: no user of organisation \d+ is named '123456789012345678'/);
    } finally {
      fx.sim.orgBoundManagers.delete(fx.serviceAccountId);
    }
  });
});

describe('users_disable where Zitadel refuses the change (FAILED_PRECONDITION)', () => {
  const add = (username: string, state: SimUser['state']): SimUser => {
    const u: SimUser = {
      id: String(920_000_000_000_000_000n + BigInt(session.fx.sim.users.length)),
      orgId: session.fx.ids.orgId,
      username,
      state,
      created: new Date().toISOString(),
      machine: { name: username, description: '', accessTokenType: 'ACCESS_TOKEN_TYPE_JWT' },
    };
    session.fx.sim.users.push(u);
    return u;
  };

  it('lock of a deactivated user says it already cannot log in, and changes nothing', async () => {
    const u = add('agent-retired-inactive', 'USER_STATE_INACTIVE');
    const events = session.fx.sim.events.length;
    const r = await callTool(session.s, 'users_disable', { user: u.username, mode: 'lock' });
    // before the fix: "Zitadel refused user … as invalid: Errors.User.ShouldBeActiveOrInitial (COMMAND-lgws8wtsqf)"
    expect(r.text).toMatch(
      new RegExp(
        `^ERR_CONFLICT: agent-retired-inactive@ravenhelm\\.zitadel\\.test \\(id ${u.id}, service account, inactive\\) is deactivated: it already cannot log in or get tokens, and Zitadel locks only active or initial users`,
      ),
    );
    expect(u.state).toBe('USER_STATE_INACTIVE');
    expect(session.fx.sim.events.length).toBe(events);
  });

  it('deactivate of a user in its initial setup points at lock, which Zitadel allows', async () => {
    const u = add('new-hire-initial', 'USER_STATE_INITIAL');
    const r = await callTool(session.s, 'users_disable', { user: u.id });
    // before the fix: "Zitadel refused user … as invalid: Errors.User.CantDeactivateInitial (COMMAND-gvx4kct9r2)"
    expect(r.text).toMatch(/^ERR_CONFLICT: .*\(id \d+, service account, initial\) has not finished its initial setup/);
    expect(r.text).toMatch(/use mode 'lock'/);
    expect(u.state).toBe('USER_STATE_INITIAL');
    const locked = await callTool(session.s, 'users_disable', { user: u.id, mode: 'lock' });
    expect(locked.data?.user).toMatchObject({ id: u.id, state: 'locked' });
  });
});
