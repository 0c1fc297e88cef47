/**
 * Round 8 against the Zitadel server from outside: the real bin over stdio, the SDK Client, the Zitadel
 * simulator (test/simulators/zitadel.ts, built from Zitadel's protos and source, cited there).
 *
 * - events_list of a user searches the instance's `user.grant.added` events for the user's removed grants
 *   (ListEvents cannot filter on the payload's userId). A user grant's aggregate is owned by the organisation
 *   that made it (internal/repository/usergrant/aggregate.go, internal/command/user_grant.go), which may be any
 *   organisation the project is granted to, not only the server's own or ZITADEL_ALLOWED_ORG_IDS. Their events
 *   (that organisation's project, roles, and its administrators' names as editors) are outside the server's
 *   bound, as events_list with another organisation's orgId is.
 * - keys_add refuses a key for an account that administers Zitadel, by its memberships. Management
 *   ListUserMemberships lists only the instance's memberships and those of the organisation the call acts in
 *   (internal/api/grpc/management/user_converter.go ListUserMembershipsRequestToModel:
 *   NewMembershipResourceOwnersSearchQuery(instance, ctx org)); a user of ours can be a member (ORG_OWNER,
 *   PROJECT_OWNER) of another organisation, and a key would hand that power to the caller.
 */
import { describe, expect, it } from 'vitest';
import { nextId } from '../simulators/zitadel-proto.js';
import { callTool, useZitadelSession } from '../zitadel/harness.js';

interface Ev {
  type: string;
  editorId?: string;
  editor?: string;
  details?: { grantId?: string; projectId?: string; roleKeys?: string[] };
}

describe("events_list stays in the server's organisations", () => {
  // Only the home organisation is allowed (ZITADEL_ALLOWED_ORG_IDS).
  const session = useZitadelSession();

  it('a grant another organisation made to one of ours: its events, project and editors are not shown', async () => {
    const { fx, s } = session;
    const { userId } = fx.sim.addServiceAccount({ username: 'agent-foreign-grant', manager: false });
    // an administrator of the other organisation, who made the grant there
    const foreignAdmin = nextId();
    fx.sim.users.push({
      id: foreignAdmin,
      orgId: fx.ids.otherOrgId,
      username: 'contractor-admin',
      state: 'USER_STATE_ACTIVE',
      created: new Date().toISOString(),
      human: {
        givenName: 'Carla',
        familyName: 'Contractor',
        displayName: 'Carla Contractor',
        email: 'carla@contractors.test',
        emailVerified: true,
      },
    });
    const foreignProject = nextId();
    const foreignGrant = nextId();
    fx.sim.grants.push({
      id: foreignGrant,
      userId,
      projectId: foreignProject,
      orgId: fx.ids.otherOrgId,
      roleKeys: ['billing.viewer'],
    });
    const on = {
      aggregateId: foreignGrant,
      aggregateType: 'usergrant',
      resourceOwner: fx.ids.otherOrgId,
      editorUserId: foreignAdmin,
    };
    fx.sim.record({
      type: 'user.grant.added',
      ...on,
      payload: { userId, projectId: foreignProject, roleKeys: ['billing.viewer'] },
    });
    fx.sim.record({ type: 'user.grant.changed', ...on, payload: { roleKeys: ['billing.viewer', 'billing.admin'] } });
    // and a grant of our own, whose events are shown
    const granted = await callTool(s, 'roles_grant', { user: userId, roles: ['docker.reader'] });
    expect(granted.isError, granted.text).toBe(false);
    const ownGrant = granted.data?.grantId as string;

    for (const args of [{ user: userId }, { user: userId, categories: ['grants'] }]) {
      const r = await callTool(s, 'events_list', args);
      expect(r.isError, r.text.slice(0, 300)).toBe(false);
      const events = r.data?.events as Ev[];
      // before the fix: the other organisation's user.grant.changed and user.grant.added were listed, with
      // its project id, its role keys and its administrator (id and name) as editor
      expect(events.filter((e) => e.type.startsWith('user.grant.')).map((e) => e.details?.grantId)).toEqual([ownGrant]);
      const all = JSON.stringify(r.data) + r.text;
      expect(all).not.toContain(foreignProject);
      expect(all).not.toContain('billing.');
      expect(all).not.toContain(foreignAdmin);
      expect(all).not.toContain('Carla Contractor');
    }
  });
});

describe('keys_add for an account that administers another allowed organisation', () => {
  // Home and Contractors both allowed.
  const session = useZitadelSession({ allowOtherOrg: true });

  it.each([
    ['org', 'ORG_OWNER', /ORG_OWNER on organisation Contractors \(id \d+\)/],
    ['project', 'PROJECT_OWNER', /PROJECT_OWNER on project \S+ \(id \d+\)/],
  ] as const)('refuses the key of a %s member there (%s): no key is made', async (kind, role, named) => {
    const { fx, s } = session;
    const { userId } = fx.sim.addServiceAccount({ username: `agent-${kind}-owner-elsewhere`, manager: false });
    let objectId: string = fx.ids.otherOrgId;
    if (kind === 'project') {
      objectId = nextId();
      fx.sim.projects.push({ id: objectId, orgId: fx.ids.otherOrgId, name: 'contractor-billing', roles: [] });
    }
    fx.sim.memberships.push({
      userId,
      kind,
      objectId,
      resourceOwner: fx.ids.otherOrgId,
      roles: [role],
      created: new Date().toISOString(),
    });
    const keys = () => fx.sim.keys.filter((k) => k.userId === userId).length;
    const before = keys();
    const r = await callTool(s, 'keys_add', { user: userId });
    // before the fix: the key of Contractors' owner, returned to the caller (Zitadel listed no membership:
    // the call acted in the home organisation)
    expect(r.isError, r.text.slice(0, 300)).toBe(true);
    expect(r.text).toMatch(new RegExp(`^ERR_NOT_ALLOWED: .*\\(id ${userId}\\) administers Zitadel`));
    expect(r.text).toMatch(named);
    expect(r.text).not.toContain('PRIVATE KEY');
    expect(keys()).toBe(before);
  });

  it('an account with no membership anywhere still gets its key', async () => {
    const { fx, s } = session;
    const { userId } = fx.sim.addServiceAccount({ username: 'agent-member-nowhere', manager: false });
    const before = fx.sim.keys.filter((k) => k.userId === userId).length;
    const r = await callTool(s, 'keys_add', { user: userId });
    expect(r.isError, r.text.slice(0, 300)).toBe(false);
    expect(fx.sim.keys.filter((k) => k.userId === userId).length).toBe(before + 1);
  });
});
