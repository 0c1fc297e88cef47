/** A realistic organisation for the Zitadel simulator: two orgs, the MCP project and a look-alike, people, agents, administrators. */

import type { SimUser, ZitadelSim } from './zitadel.js';
import { nextId } from './zitadel-proto.js';

/** Fills a simulator with a realistic organisation: a second org, the MCP project with roles, people and agents. */
export function seedZitadel(sim: ZitadelSim): {
  orgId: string;
  otherOrgId: string;
  projectId: string;
  otherProjectId: string;
} {
  const orgId = sim.orgs[0]?.id as string;
  const otherOrgId = nextId();
  sim.orgs.push({ id: otherOrgId, name: 'Contractors', domain: 'contractors.zitadel.test' });
  const projectId = nextId();
  const otherProjectId = nextId();
  sim.projects.push(
    {
      id: projectId,
      orgId,
      name: 'ravenhelm-mcp',
      roles: [
        { key: 'docker.reader', displayName: 'Docker reader', group: 'docker' },
        { key: 'docker.operator', displayName: 'Docker operator', group: 'docker' },
        { key: 'docker.admin', displayName: 'Docker admin', group: 'docker' },
        { key: 'observability.reader', displayName: 'Observability reader', group: 'observability' },
      ],
    },
    {
      id: otherProjectId,
      orgId,
      name: 'billing',
      roles: [{ key: 'docker.admin', displayName: 'Same name, other project', group: '' }],
    },
  );
  const at = new Date(Date.now() - 86_400_000).toISOString();
  const human = (username: string, given: string, family: string, email: string): SimUser => ({
    id: nextId(),
    orgId,
    username,
    state: 'USER_STATE_ACTIVE',
    created: at,
    human: { givenName: given, familyName: family, displayName: `${given} ${family}`, email, emailVerified: true },
  });
  const alice = human('alice', 'Alice', 'Andersen', 'alice@ravenhelm.test');
  const bob = human('bob', 'Bob', 'Berg', 'bob@ravenhelm.test');
  const bobby = { ...human('bobby', 'Bobby', 'Tables', 'bobby@ravenhelm.test'), state: 'USER_STATE_LOCKED' as const };
  const oncall: SimUser = {
    id: nextId(),
    orgId,
    username: 'agent-oncall',
    state: 'USER_STATE_ACTIVE',
    created: at,
    machine: {
      name: 'On-call agent',
      description: 'restarts things at night',
      accessTokenType: 'ACCESS_TOKEN_TYPE_JWT',
    },
  };
  // Same username in the other organisation: a login-name lookup by username alone is ambiguous.
  const oncallElsewhere: SimUser = {
    ...oncall,
    id: nextId(),
    orgId: otherOrgId,
    machine: { ...oncall.machine!, description: '' },
  };
  // Agents that administer Zitadel itself (memberships, not project grants): an organisation user
  // manager, a project owner of the MCP project, and an instance-wide viewer.
  const admin = (username: string, name: string): SimUser => ({
    id: nextId(),
    orgId,
    username,
    state: 'USER_STATE_ACTIVE',
    created: at,
    machine: { name, description: '', accessTokenType: 'ACCESS_TOKEN_TYPE_JWT' },
  });
  const orgAdmin = admin('agent-orgadmin', 'User manager agent');
  const release = admin('agent-release', 'Release agent');
  const auditor = admin('agent-auditor', 'Audit agent');
  sim.users.push(alice, bob, bobby, oncall, oncallElsewhere, orgAdmin, release, auditor);
  sim.memberships.push(
    {
      userId: orgAdmin.id,
      kind: 'org',
      objectId: orgId,
      resourceOwner: orgId,
      roles: ['ORG_USER_MANAGER'],
      created: at,
    },
    {
      userId: release.id,
      kind: 'project',
      objectId: projectId,
      resourceOwner: orgId,
      roles: ['PROJECT_OWNER'],
      created: at,
    },
    {
      userId: auditor.id,
      kind: 'iam',
      objectId: sim.instanceId,
      resourceOwner: sim.instanceId,
      roles: ['IAM_OWNER_VIEWER'],
      created: at,
    },
  );
  for (const [type, minutesAgo] of [
    ['user.human.password.check.failed', 30],
    ['user.human.password.check.failed', 29],
    ['user.human.password.check.succeeded', 28],
  ] as const) {
    sim.record({
      type,
      aggregateId: alice.id,
      aggregateType: 'user',
      resourceOwner: orgId,
      editorUserId: alice.id,
      creationDate: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
    });
  }
  sim.grants.push(
    { id: nextId(), userId: oncall.id, projectId, orgId, roleKeys: ['docker.operator', 'observability.reader'] },
    { id: nextId(), userId: oncall.id, projectId: otherProjectId, orgId, roleKeys: ['docker.admin'] },
    { id: nextId(), userId: alice.id, projectId, orgId, roleKeys: ['docker.admin'] },
  );
  return { orgId, otherOrgId, projectId, otherProjectId };
}
