// Login names follow the organisation's domain policy (userLoginMustBeDomain): `username@org-domain` with
// it, the bare username without it. Through the real SDK Client over stdio: users_get / users_search and
// every tool that takes a user reference find users by either form, and show the login name Zitadel has.
import { afterEach, describe, expect, it } from 'vitest';
import type { SimUser } from '../simulators/zitadel.js';
import { callTool, useZitadelSession } from './harness.js';

const session = useZitadelSession();

type SimOrg = {
  domain: string;
  userLoginMustBeDomain?: boolean;
  domains?: { name: string; verified: boolean }[];
};
const home = () => session.fx.sim.orgs.find((o) => o.id === session.fx.ids.orgId) as SimOrg;

const human = (username: string): SimUser => {
  const u: SimUser = {
    id: String(940_000_000_000_000_000n + BigInt(session.fx.sim.users.length)),
    orgId: session.fx.ids.orgId,
    username,
    state: 'USER_STATE_ACTIVE',
    created: new Date().toISOString(),
    human: { givenName: 'C', familyName: 'D', displayName: 'C D', email: 'cd@example.test', emailVerified: true },
  };
  session.fx.sim.users.push(u);
  return u;
};

afterEach(() => {
  delete home().userLoginMustBeDomain;
  delete home().domains;
  home().domain = 'ravenhelm.zitadel.test';
});

describe('an organisation whose login names are bare usernames (userLoginMustBeDomain false)', () => {
  it('users_get by username or bare login name finds the user and shows the bare login name', async () => {
    home().userLoginMustBeDomain = false;
    const alice = session.fx.sim.users.find((u) => u.username === 'alice') as SimUser;
    const r = await callTool(session.s, 'users_get', { user: 'alice' });
    expect(r.data?.user).toMatchObject({ id: alice.id, username: 'alice', loginName: 'alice' });
    const found = await callTool(session.s, 'users_search', { username: 'alic' });
    expect(found.data?.users).toEqual([expect.objectContaining({ id: alice.id, loginName: 'alice' })]);
    // the domain form is no login name there: not found, never another user
    const domainForm = await callTool(session.s, 'users_get', { user: 'alice@ravenhelm.zitadel.test' });
    expect(domainForm.text).toMatch(
      /^ERR_NOT_FOUND: no user of organisation \d+ is named 'alice@ravenhelm\.zitadel\.test'/,
    );
  });

  it('an email as username is the login name itself, found once', async () => {
    home().userLoginMustBeDomain = false;
    const carol = human('carol@example.test');
    const r = await callTool(session.s, 'users_get', { user: 'carol@example.test' });
    expect(r.data?.user).toMatchObject({ id: carol.id, loginName: 'carol@example.test' });
    const disable = await callTool(session.s, 'users_disable', { user: 'carol@example.test', mode: 'lock' });
    expect(disable.data?.user).toMatchObject({ id: carol.id, state: 'locked' });
  });
});

describe('an organisation whose login names carry its domain (userLoginMustBeDomain true)', () => {
  it('finds a user by username and by login name; an email username gets the domain appended', async () => {
    home().userLoginMustBeDomain = true;
    const dave = human('dave@example.test');
    const byLogin = await callTool(session.s, 'users_get', { user: 'dave@example.test@ravenhelm.zitadel.test' });
    expect(byLogin.data?.user).toMatchObject({ id: dave.id, loginName: 'dave@example.test@ravenhelm.zitadel.test' });
    const byName = await callTool(session.s, 'users_get', { user: 'dave@example.test' });
    expect(byName.data?.user).toMatchObject({ id: dave.id });
    const bob = await callTool(session.s, 'users_get', { user: 'BOB@RAVENHELM.ZITADEL.TEST' });
    expect(bob.data?.user).toMatchObject({ username: 'bob', loginName: 'bob@ravenhelm.zitadel.test' });
  });
});

describe('service_accounts_create and the username unique constraint', () => {
  it('a username taken in a bare-login organisation elsewhere is taken here too when ours is bare', async () => {
    const { sim, ids } = session.fx;
    const other = sim.orgs.find((o) => o.id === ids.otherOrgId) as { userLoginMustBeDomain?: boolean };
    other.userLoginMustBeDomain = false;
    home().userLoginMustBeDomain = false;
    try {
      // agent-oncall exists in the other organisation (the seed): instance-wide unique without the domain
      const r = await callTool(session.s, 'service_accounts_create', { username: 'agent-oncall-x', name: 'x' });
      expect(r.isError, r.text).toBe(false);
      sim.users.push({
        ...(sim.users.find((u) => u.orgId === ids.otherOrgId) as SimUser),
        id: '950000000000000001',
        username: 'agent-shared',
      });
      const clash = await callTool(session.s, 'service_accounts_create', { username: 'agent-shared', name: 'x' });
      expect(clash.text).toMatch(
        /^ERR_CONFLICT: service account agent-shared already exists in Zitadel: User already exists \(V3-DKcYh\)/,
      );
    } finally {
      delete other.userLoginMustBeDomain;
    }
  });
});

describe('usernames in another case', () => {
  it('name the user Zitadel would log in, as login names already do', async () => {
    const alice = session.fx.sim.users.find((u) => u.username === 'alice') as SimUser;
    const r = await callTool(session.s, 'users_get', { user: 'ALICE' });
    // before the fix: "ERR_NOT_FOUND: no user of organisation … is named 'ALICE'", while 'ALICE@RAVENHELM.ZITADEL.TEST' was found
    expect(r.data?.user, r.text).toMatchObject({ id: alice.id, username: 'alice' });
    const grants = await callTool(session.s, 'users_list_grants', { user: 'Alice' });
    expect(grants.data?.user).toMatchObject({ id: alice.id });
  });
});

describe('an organisation with several domains', () => {
  // the generated domain first, a verified custom one, one still unverified
  const domains = () => {
    home().domains = [
      { name: 'ravenhelm.zitadel.test', verified: true },
      { name: 'corp.example', verified: true },
      { name: 'pending.example', verified: false },
    ];
  };

  it('finds a user by the login name on a verified non-primary domain and shows the preferred one', async () => {
    domains();
    const bob = session.fx.sim.users.find((u) => u.username === 'bob') as SimUser;
    const r = await callTool(session.s, 'users_get', { user: 'bob@corp.example' });
    expect(r.data?.user, r.text).toMatchObject({ id: bob.id, loginName: 'bob@ravenhelm.zitadel.test' });
    const upper = await callTool(session.s, 'users_get', { user: 'BOB@Corp.Example' });
    expect(upper.data?.user, upper.text).toMatchObject({ id: bob.id });
    const grants = await callTool(session.s, 'users_list_grants', { user: 'bob@corp.example' });
    expect(grants.data?.user, grants.text).toMatchObject({ id: bob.id, username: 'bob' });
    // an unverified domain makes no login name
    const pending = await callTool(session.s, 'users_get', { user: 'bob@pending.example' });
    expect(pending.text).toMatch(/^ERR_NOT_FOUND: no user of organisation \d+ is named 'bob@pending\.example'/);
  });

  it('a custom primary domain is the preferred login name, though not the first of them', async () => {
    domains();
    home().domain = 'corp.example';
    const alice = session.fx.sim.users.find((u) => u.username === 'alice') as SimUser;
    const r = await callTool(session.s, 'users_get', { user: 'alice@ravenhelm.zitadel.test' });
    expect(r.data?.user, r.text).toMatchObject({ id: alice.id, loginName: 'alice@corp.example' });
    const found = await callTool(session.s, 'users_search', { username: 'alice' });
    expect(found.data?.users).toEqual([expect.objectContaining({ id: alice.id, loginName: 'alice@corp.example' })]);
  });

  it("a login name on a non-primary domain spelled like another user's username is ambiguous, never a guess", async () => {
    domains();
    // a human whose username is an email on the organisation's own custom domain: its login names are
    // `bob@corp.example@<domain>`, while `bob@corp.example` is one of bob's (edge.test.ts: such a name is
    // refused as ambiguous, listing both by their preferred login names, which name one user each)
    const lookalike = human('bob@corp.example');
    const bob = session.fx.sim.users.find((u) => u.username === 'bob') as SimUser;
    try {
      const plain = await callTool(session.s, 'users_get', { user: 'bob@corp.example' });
      expect(plain.text).toContain(`bob@ravenhelm.zitadel.test (id ${bob.id})`);
      expect(plain.text).toContain(`bob@corp.example@ravenhelm.zitadel.test (id ${lookalike.id})`);
      const r = await callTool(session.s, 'users_get', { user: 'bob@corp.example@corp.example' });
      expect(r.data?.user, r.text).toMatchObject({
        id: lookalike.id,
        loginName: 'bob@corp.example@ravenhelm.zitadel.test',
      });
      const preferred = await callTool(session.s, 'users_get', { user: 'bob@ravenhelm.zitadel.test' });
      expect(preferred.data?.user, preferred.text).toMatchObject({ id: bob.id });
    } finally {
      session.fx.sim.users.splice(session.fx.sim.users.indexOf(lookalike), 1);
    }
  });
});
