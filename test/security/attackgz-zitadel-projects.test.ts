/**
 * The Zitadel server attacked from outside (attackgz): grants on projects other than the MCP project.
 * Other applications trust their own projects' roles (`billing`'s `docker.admin` is billing's, not ours),
 * so roles_grant and roles_revoke change grants on the MCP project only, and roles_create adds roles to it
 * only, unless the policy file lists a project's id for that tool. Through the real bin over stdio, the SDK Client and the Zitadel simulator.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../fixtures/spawn.js';
import { callTool as call, connectStdio, useZitadelSession } from '../zitadel/harness.js';

const main = useZitadelSession();

const grantsOn = (username: string, projectId: string) => {
  const u = main.fx.sim.users.find((x) => x.username === username && x.orgId === main.fx.ids.orgId);
  if (!u) throw new Error(`seed changed: no ${username}`);
  return main.fx.sim.grants.find((g) => g.userId === u.id && g.projectId === projectId)?.roleKeys ?? [];
};

/** The environment of the bin on the same simulator under another policy file (its own audit log). */
function envWithPolicy(name: string, toolsYaml: string): Record<string, string> {
  const policy = join(main.fx.dir, `${name}.yaml`);
  const spiffe = main.fx.env.RAVENHELM_LOCAL_SPIFFE_ID as string;
  writeFileSync(policy, `servers:\n  zitadel:\n    spiffe:\n      default: ['${spiffe}']\n    tools:\n${toolsYaml}`);
  return {
    ...main.fx.env,
    RAVENHELM_POLICY_FILE: policy,
    ZITADEL_POLICY_FILE: policy,
    RAVENHELM_AUDIT_FILE: join(main.fx.dir, `${name}.jsonl`),
  };
}

describe('grants on projects other than the MCP project', () => {
  const refused = (tool: string, change = 'changes grants on') =>
    new RegExp(
      `^ERR_NOT_ALLOWED: ${tool} ${change} the MCP project \\(id \\d+\\) only, and project (billing )?\\(id \\d+\\) is not listed for it: other applications trust that project's roles\\. An operator can add its id under servers\\.zitadel\\.tools\\.${tool}\\.options\\.otherProjects`,
    );

  it('roles_grant on another project, by name or id, is refused by default and changes nothing', async () => {
    const billing = main.fx.ids.otherProjectId;
    const before = grantsOn('alice', billing);
    for (const project of ['billing', billing]) {
      const r = await call(main.s, 'roles_grant', { user: 'alice', roles: ['docker.admin'], project });
      // before the fix: alice held billing's docker.admin, which the billing application trusts
      expect(r.text).toMatch(refused('roles_grant'));
    }
    expect(grantsOn('alice', billing)).toEqual(before);
  });

  it('roles_revoke on another project is refused by default: another application keeps its grants', async () => {
    const billing = main.fx.ids.otherProjectId;
    expect(grantsOn('agent-oncall', billing)).toEqual(['docker.admin']);
    const r = await call(main.s, 'roles_revoke', { user: 'agent-oncall', roles: ['docker.admin'], project: 'billing' });
    expect(r.text).toMatch(refused('roles_revoke'));
    expect(grantsOn('agent-oncall', billing)).toEqual(['docker.admin']);
  });

  it('roles_create on another project is refused by default and adds no role; the policy can open it', async () => {
    const billing = main.fx.ids.otherProjectId;
    const rolesOf = (projectId: string) =>
      main.fx.sim.projects.find((p) => p.id === projectId)?.roles.map((r) => r.key) ?? [];
    const before = rolesOf(billing);
    for (const project of ['billing', billing]) {
      const r = await call(main.s, 'roles_create', { key: 'billing.superuser', displayName: 'x', project });
      // before the fix: billing gained a role its application might grant on sight
      expect(r.text).toMatch(refused('roles_create', 'adds roles to'));
    }
    expect(rolesOf(billing)).toEqual(before);
    const s = await connectStdio(
      envWithPolicy(
        'billing-roles',
        `      roles_create:\n        options:\n          otherProjects: ['${billing}']\n`,
      ),
    );
    try {
      const created = await call(s, 'roles_create', { key: 'billing.auditor', displayName: 'x', project: 'billing' });
      expect(created.isError, created.text).toBe(false);
      expect(rolesOf(billing)).toEqual([...before, 'billing.auditor']);
    } finally {
      await s.close();
    }
  });

  it('the MCP project is unchanged: granted and revoked as before', async () => {
    const mcp = main.fx.ids.projectId;
    const granted = await call(main.s, 'roles_grant', { user: 'alice', roles: ['docker.reader'] });
    expect(granted.isError, granted.text).toBe(false);
    expect(grantsOn('alice', mcp)).toContain('docker.reader');
    const revoked = await call(main.s, 'roles_revoke', { user: 'alice', roles: ['docker.reader'] });
    expect(revoked.isError, revoked.text).toBe(false);
    expect(grantsOn('alice', mcp)).not.toContain('docker.reader');
  });

  it('a project the policy lists for a tool is open to that tool only', async () => {
    const billing = main.fx.ids.otherProjectId;
    const s = await connectStdio(
      envWithPolicy(
        'billing-grants',
        `      roles_grant:\n        options:\n          otherProjects: ['${billing}']\n`,
      ),
    );
    try {
      const granted = await call(s, 'roles_grant', { user: 'alice', roles: ['docker.admin'], project: 'billing' });
      expect(granted.isError, granted.text).toBe(false);
      expect(grantsOn('alice', billing)).toEqual(['docker.admin']);
      const revoke = await call(s, 'roles_revoke', { user: 'alice', roles: ['docker.admin'], project: 'billing' });
      expect(revoke.text).toMatch(refused('roles_revoke'));
      expect(grantsOn('alice', billing)).toEqual(['docker.admin']);
    } finally {
      await s.close();
    }
  });

  it('a project named instead of its id in the policy stops the server at start, saying what to write', () => {
    const env = envWithPolicy(
      'by-name',
      `      roles_grant:\n        options:\n          otherProjects: ['billing']\n`,
    );
    const r = spawnSync(
      process.execPath,
      ['--conditions=@ravenhelm/source', '--import', 'tsx', 'servers/zitadel/src/bin.ts', '--stdio'],
      { cwd: REPO_ROOT, env, input: '', encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status, r.stderr.slice(-600)).not.toBe(0);
    expect(r.stderr).toMatch(
      /servers\.zitadel\.tools\.roles_grant\.options is invalid \(otherProjects\.0: a Zitadel project id \(digits\)\); it takes otherProjects: a list of project ids/,
    );
  });
});
