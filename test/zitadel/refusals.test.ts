// Zitadel's FAILED_PRECONDITION refusals, through the real SDK Client over stdio against the simulator:
// said as the state the object is in and what to do, never as "refused as invalid"; and a state change
// another writer made first (between the tool's read and its write) answered as done, not as an error.
// Zitadel translates the refusal's key into the instance's language (`User already inactive
// (COMMAND-5gunjw0cd7)`): the server knows it by its error id.
import { zitadelError } from '@ravenhelm/mcp-zitadel';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimUser } from '../simulators/zitadel.js';
import { callTool, useZitadelSession } from './harness.js';

const session = useZitadelSession();

const add = (username: string, state: SimUser['state']): SimUser => {
  const u: SimUser = {
    id: String(930_000_000_000_000_000n + BigInt(session.fx.sim.users.length)),
    orgId: session.fx.ids.orgId,
    username,
    state,
    created: new Date().toISOString(),
    machine: { name: username, description: '', accessTokenType: 'ACCESS_TOKEN_TYPE_JWT' },
  };
  session.fx.sim.users.push(u);
  return u;
};

afterEach(() => {
  session.fx.sim.beforeUserStateChange = undefined;
  session.fx.sim.beforeGrantUpdate = undefined;
});

describe('a state change another writer made first', () => {
  it('users_disable: deactivated by someone else meanwhile is the answer, not an error', async () => {
    const u = add('agent-race-deactivate', 'USER_STATE_ACTIVE');
    session.fx.sim.beforeUserStateChange = (x) => {
      if (x.id === u.id) x.state = 'USER_STATE_INACTIVE';
    };
    const r = await callTool(session.s, 'users_disable', { user: u.id });
    // before the fix: "ERR_INVALID_INPUT: Zitadel refused user … as invalid: User already inactive (COMMAND-5gunjw0cd7)"
    expect(r.isError, r.text).toBe(false);
    expect(r.data?.user).toMatchObject({ id: u.id, state: 'inactive' });
  });

  it('users_enable: unlocked by someone else meanwhile is the answer, not an error', async () => {
    const u = add('agent-race-unlock', 'USER_STATE_LOCKED');
    session.fx.sim.beforeUserStateChange = (x) => {
      if (x.id === u.id) x.state = 'USER_STATE_ACTIVE';
    };
    const r = await callTool(session.s, 'users_enable', { user: u.id });
    expect(r.isError, r.text).toBe(false);
    expect(r.data?.user).toMatchObject({ id: u.id, state: 'active' });
  });

  it('users_disable lock: deactivated meanwhile says the state it is in, and changes nothing', async () => {
    const u = add('agent-race-lock', 'USER_STATE_ACTIVE');
    session.fx.sim.beforeUserStateChange = (x) => {
      if (x.id === u.id) x.state = 'USER_STATE_INACTIVE';
    };
    const r = await callTool(session.s, 'users_disable', { user: u.id, mode: 'lock' });
    // before the fix: "ERR_INVALID_INPUT: Zitadel refused user … as invalid: User is not active or initial (COMMAND-lgws8wtsqf)"
    expect(r.text).toMatch(
      new RegExp(
        `^ERR_CONFLICT: Zitadel refused user ${u.id}: the user is already locked or deactivated, and Zitadel locks only active or initial users; nothing was changed\\. users_get shows its state \\(User is not active or initial \\(COMMAND-lgws8wtsqf\\)\\)$`,
      ),
    );
    expect(u.state).toBe('USER_STATE_INACTIVE');
  });
});

describe('refusals of grant writes', () => {
  it('roles_grant with a role the project lacks names where the roles are', async () => {
    const bob = session.fx.sim.users.find((u) => u.username === 'bob') as SimUser;
    const r = await callTool(session.s, 'roles_grant', { user: 'bob', roles: ['Docker.Reader'] });
    // before the fix: "ERR_INVALID_INPUT: Zitadel refused a grant on project … as invalid: Errors.Project.Role.NotFound (COMMAND-mm9F4)"
    expect(r.text).toMatch(
      /^ERR_INVALID_INPUT: Zitadel refused a grant on project \d+: a role key is not defined on the project \(keys are case-sensitive\); see roles_list, or add it with roles_create \(Errors\.Project\.Role\.NotFound \(COMMAND-mm9F4\)\)$/,
    );
    expect(session.fx.sim.grants.some((g) => g.userId === bob.id)).toBe(false);
  });
});

describe('a grant another writer changed the same way first', () => {
  // UpdateUserGrant refuses a list equal to the grant's (Errors.UserGrant.NotChanged, COMMAND-Rs8fy)
  const sameChangeFirst = () => {
    session.fx.sim.beforeGrantUpdate = (g, roleKeys) => {
      g.roleKeys = [...roleKeys];
    };
  };

  it('roles_grant finds the roles there and says so, not a failure', async () => {
    const alice = session.fx.sim.users.find((u) => u.username === 'alice') as SimUser;
    sameChangeFirst();
    const r = await callTool(session.s, 'roles_grant', { user: 'alice', roles: ['docker.reader'] });
    // before the fix: "ERR_INVALID_INPUT: Zitadel refused grant … as invalid: User grant has not been changed (COMMAND-Rs8fy)"
    expect(r.isError, r.text).toBe(false);
    expect(r.data).toMatchObject({ userId: alice.id, roles: ['docker.admin', 'docker.reader'], changed: false });
  });

  it('roles_revoke finds the roles gone and says so, not a failure', async () => {
    const alice = session.fx.sim.users.find((u) => u.username === 'alice') as SimUser;
    sameChangeFirst();
    const r = await callTool(session.s, 'roles_revoke', { user: 'alice', roles: ['docker.reader'] });
    expect(r.isError, r.text).toBe(false);
    expect(r.data).toMatchObject({ userId: alice.id, roles: ['docker.admin'], changed: false });
  });
});

describe('a refusal in another language is known by its error id', () => {
  it('an instance answering in German still reads as the user being deactivated', () => {
    const body = {
      code: 9,
      message: 'Benutzer ist bereits deaktiviert (COMMAND-5gunjw0cd7)',
      details: [{ '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id: 'COMMAND-5gunjw0cd7', message: 'x' }],
    };
    const err = zitadelError(400, body, 'user 1');
    expect(err.code).toBe('ERR_CONFLICT');
    expect(err.message).toMatch(/^Zitadel refused user 1: the user is already deactivated/);
    // an unknown precondition keeps the generic wording
    const other = zitadelError(400, { code: 9, message: 'Something else (COMMAND-zzzz)' }, 'user 1');
    expect(other.code).toBe('ERR_INVALID_INPUT');
  });
});
