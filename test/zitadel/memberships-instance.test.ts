// keys_add's administrator check sees memberships in every organisation of the instance, through the real bin
// over stdio, the SDK Client and the Zitadel simulator. Management ListUserMemberships lists only the instance's
// memberships and those of the organisation a call acts in (ListUserMembershipsRequestToModel), so the check
// used to read it in the allowed organisations only: an ORG_OWNER of an organisation the server is not bound to
// got a key, and with it that organisation. v2 ListAdministrators lists every organisation's, and counts those
// the server's account may not read while leaving them out of its page (internal/query/administrator.go).
import { describe, expect, it } from 'vitest';
import type { SimMembership } from '../simulators/zitadel.js';
import { nextId } from '../simulators/zitadel-proto.js';
import { callTool, useZitadelSession } from './harness.js';

// bound to its own organisation only (ZITADEL_ALLOWED_ORG_IDS)
const session = useZitadelSession();

/** A fresh service account in the home organisation with `memberships` (objects made as needed); its id. */
function accountWith(username: string, memberships: (Omit<SimMembership, 'userId' | 'created'> & {})[]): string {
  const { userId } = session.fx.sim.addServiceAccount({ username, manager: false });
  for (const m of memberships) session.fx.sim.memberships.push({ ...m, userId, created: new Date().toISOString() });
  return userId;
}

/** An organisation the server is not bound to, with a project of its own. */
function outsiders() {
  const orgId = nextId();
  const projectId = nextId();
  session.fx.sim.orgs.push({ id: orgId, name: `Outsiders-${orgId.slice(-4)}`, domain: `o${orgId}.zitadel.test` });
  session.fx.sim.projects.push({ id: projectId, orgId, name: 'outsiders-billing', roles: [] });
  return { orgId, projectId };
}

const keysOf = (userId: string) => session.fx.sim.keys.filter((k) => k.userId === userId).length;

describe('keys_add: memberships in organisations outside ZITADEL_ALLOWED_ORG_IDS', () => {
  it.each([
    ['ORG_OWNER of the organisation', 'org', /ORG_OWNER on organisation \(id \d+\)/],
    ['PROJECT_OWNER of one of its projects', 'project', /PROJECT_OWNER on project \(id \d+\)/],
    [
      'PROJECT_GRANT_OWNER of a grant of its project',
      'projectGrant',
      /PROJECT_GRANT_OWNER on project grant \(id \d+\)/,
    ],
  ] as const)('refuses the key of an account that is %s: no key is made', async (_what, kind, named) => {
    const o = outsiders();
    const role = { org: 'ORG_OWNER', project: 'PROJECT_OWNER', projectGrant: 'PROJECT_GRANT_OWNER' }[kind];
    const objectId = kind === 'org' ? o.orgId : kind === 'project' ? o.projectId : nextId();
    const id = accountWith(`agent-outside-${kind.toLowerCase()}`, [
      {
        kind,
        objectId,
        resourceOwner: o.orgId,
        roles: [role],
        ...(kind === 'projectGrant' ? { projectId: o.projectId, grantedOrgId: session.fx.ids.otherOrgId } : {}),
      },
    ]);
    const r = await callTool(session.s, 'keys_add', { user: id });
    // before the fix: a key, returned to the caller (no read of the home organisation listed the membership)
    expect(r.isError, r.text.slice(0, 300)).toBe(true);
    expect(r.text).toMatch(new RegExp(`^ERR_NOT_ALLOWED: agent-outside-\\S+ \\(id ${id}\\) administers Zitadel`));
    expect(r.text).toMatch(named);
    // what the organisation and its project are called stays outside the server's bound
    expect(r.text).not.toMatch(/outsiders/i);
    expect(r.text).not.toContain('PRIVATE KEY');
    expect(r.text).not.toContain('hidden');
    expect(keysOf(id)).toBe(1); // the one it was made with
  });

  it('an account that administers nothing anywhere still gets its key', async () => {
    const id = accountWith('agent-outside-none', []);
    const r = await callTool(session.s, 'keys_add', { user: id, expiresInDays: 1 });
    expect(r.isError, r.text.slice(0, 300)).toBe(false);
    expect(keysOf(id)).toBe(2);
  });
});

describe("keys_add when Zitadel hides memberships from the server's account: closed, naming what to grant", () => {
  const grantThem =
    "grant this server's service account iam.member.read, org.member.read, project.member.read and project.grant.member.read on the instance (the IAM_OWNER_VIEWER role has them)";

  it('without org.member.read: an owner of another organisation is refused, and the permission is named', async () => {
    const o = outsiders();
    const id = accountWith('agent-hidden-owner', [
      { kind: 'org', objectId: o.orgId, resourceOwner: o.orgId, roles: ['ORG_OWNER'] },
    ]);
    session.fx.sim.withheld.add('org.member.read');
    try {
      const r = await callTool(session.s, 'keys_add', { user: id });
      // before the fix: a key (the membership was neither in the home organisation nor visible)
      expect(r.text).toBe(
        `ERR_NOT_ALLOWED: agent-hidden-owner (id ${id}) administers Zitadel through its memberships (1 membership, 1 of them hidden from this server's service account): a key would hand that power to the caller outside this server's tiers, policy and audit. Keys of such accounts are made by an operator in Zitadel; for an agent, use an account with project grants only (agents_onboard). To see the 1 hidden from it, ${grantThem}`,
      );
      expect(keysOf(id)).toBe(1); // the one it was made with
    } finally {
      session.fx.sim.withheld.delete('org.member.read');
    }
  });

  it('an ORG_OWNER service account (its own organisation only) sees no other organisation: refused, named', async () => {
    const o = outsiders();
    const id = accountWith('agent-hidden-elsewhere', [
      { kind: 'project', objectId: o.projectId, resourceOwner: o.orgId, roles: ['PROJECT_OWNER'] },
    ]);
    session.fx.sim.orgBoundManagers.add(session.fx.serviceAccountId);
    try {
      const r = await callTool(session.s, 'keys_add', { user: id });
      // before the fix: a key
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(
        /^ERR_NOT_ALLOWED: agent-hidden-elsewhere \(id \d+\) administers Zitadel .*\(1 membership, 1 of them hidden/,
      );
      expect(r.text).toContain(grantThem);
      expect(keysOf(id)).toBe(1); // the one it was made with
    } finally {
      session.fx.sim.orgBoundManagers.delete(session.fx.serviceAccountId);
    }
  });

  it('a Zitadel without ListAdministrators: nothing is made, and the error says why', async () => {
    const id = accountWith('agent-old-zitadel', []);
    session.fx.sim.administratorsApi = false;
    try {
      const r = await callTool(session.s, 'keys_add', { user: id });
      expect(r.text).toMatch(
        new RegExp(
          `^ERR_NOT_FOUND: could not check the Zitadel memberships of user ${id} across the instance \\(v2 ListAdministrators, which this check needs; Zitadel versions without zitadel.internal_permission.v2 lack it\\), so nothing was done`,
        ),
      );
      expect(keysOf(id)).toBe(1); // the one it was made with
    } finally {
      session.fx.sim.administratorsApi = true;
    }
  });
});
