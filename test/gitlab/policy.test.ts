import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryAuditSink, createRuntime, loadConfig, type SuiteRuntime, silentLogger } from '@ravenhelm/kit';
import { gitlabServer } from '@ravenhelm/mcp-gitlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, type GitLabSim, startGitLabSim } from '../simulators/gitlab.js';

// The kit's request pipeline around the GitLab tools (in process): read-only mode derived from
// readOnlyHint, toolsets, and the confirm policy on the HIGH variable tools.
let sim: GitLabSim;
let dir: string;
const SPIFFE = 'spiffe://ravenhelm.local/agent/oncall';

beforeAll(async () => {
  sim = await startGitLabSim();
  dir = mkdtempSync(join(tmpdir(), 'gitlab-policy-'));
});
afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

async function runtime(policy: string): Promise<{ rt: SuiteRuntime; audit: ReturnType<typeof createMemoryAuditSink> }> {
  const policyFile = join(dir, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(policyFile, policy);
  const config = loadConfig({
    backendSchema: gitlabServer.backendConfig,
    backendEnv: gitlabServer.backendEnv,
    env: {
      GITLAB_URL: sim.url,
      GITLAB_TOKEN: ADMIN_TOKEN,
      RAVENHELM_TRANSPORT: 'http',
      RAVENHELM_POLICY_FILE: policyFile,
      RAVENHELM_LOCAL_SCOPES: 'mcp:gitlab:admin',
      RAVENHELM_LOCAL_SPIFFE_ID: SPIFFE,
    },
  });
  const audit = createMemoryAuditSink();
  const rt = await createRuntime(gitlabServer as never, config, silentLogger(), { audit });
  return { rt, audit };
}

const spiffe = `    spiffe:\n      default: ['${SPIFFE}']\n`;

describe('policy around the GitLab tools', () => {
  it('read-only mode lists exactly the tools with readOnlyHint', async () => {
    const { rt } = await runtime(`servers:\n  gitlab:\n    readOnly: true\n${spiffe}`);
    try {
      const listed = rt.pipeline.listTools(rt.localPrincipal).map((t) => t.name);
      const readOnly = gitlabServer.tools.filter((t) => t.annotations.readOnlyHint).map((t) => t.name);
      expect(listed.sort()).toEqual(readOnly.sort());
      const refused = await rt.pipeline.call(rt.localPrincipal, 'issues_close', { project: 'platform/api', iid: 1 });
      expect(refused.isError).toBe(true);
      expect(refused.content[0]?.text).toMatch(/^ERR_READ_ONLY/);
    } finally {
      await rt.close();
    }
  });

  it('toolsets can be narrowed', async () => {
    const { rt } = await runtime(`servers:\n  gitlab:\n    toolsets:\n      enabled: [pipelines, jobs]\n${spiffe}`);
    try {
      const listed = rt.pipeline.listTools(rt.localPrincipal);
      const toolsets = new Set(listed.map((t) => rt.registry.get('gitlab', t.name)?.toolset));
      expect([...toolsets].sort()).toEqual(['jobs', 'pipelines']);
    } finally {
      await rt.close();
    }
  });

  it('variables_delete under confirm: a plan first (GitLab untouched), then the confirmed call deletes', async () => {
    const { rt, audit } = await runtime(`servers:\n  gitlab:\n    confirm: destructive\n${spiffe}`);
    try {
      const args = { project: 'platform/api', key: 'LOG_LEVEL' };
      const deletesBefore = sim.control.requests.filter((r) => r.method === 'DELETE').length;
      const first = await rt.pipeline.call(rt.localPrincipal, 'variables_delete', args);
      expect(first.isError).toBe(true);
      expect(first.content[0]?.text).toMatch(/ERR_CONFIRMATION_REQUIRED.*delete CI\/CD variable LOG_LEVEL/);
      expect(sim.control.requests.filter((r) => r.method === 'DELETE').length).toBe(deletesBefore);
      const token = (first._meta?.['ravenhelm/confirmation'] as { token: string } | undefined)?.token;
      expect(token).toBeTypeOf('string');
      const second = await rt.pipeline.call(rt.localPrincipal, 'variables_delete', {
        ...args,
        confirmationToken: token,
      });
      expect(second.isError).toBeFalsy();
      expect(second.structuredContent).toEqual({ deleted: true, key: 'LOG_LEVEL', environmentScope: '*' });
      expect(
        sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.variables.map((v) => v.key),
      ).not.toContain('LOG_LEVEL');
      expect(audit.records.some((r) => r.tool === 'variables_delete' && r.outcome === 'success')).toBe(true);
    } finally {
      await rt.close();
    }
  });

  it('variables_set under confirm: neither the plan nor the audit records hold the value', async () => {
    const { rt, audit } = await runtime(`servers:\n  gitlab:\n    confirm: destructive\n${spiffe}`);
    const value = 'plan-never-shows-Q7w2e9';
    try {
      const args = { project: 'platform/api', key: 'PLAN_SECRET', value };
      const first = await rt.pipeline.call(rt.localPrincipal, 'variables_set', args);
      expect(first.content[0]?.text).toMatch(/set CI\/CD variable PLAN_SECRET/);
      const token = (first._meta?.['ravenhelm/confirmation'] as { token: string } | undefined)?.token;
      expect(token).toBeTypeOf('string');
      const second = await rt.pipeline.call(rt.localPrincipal, 'variables_set', { ...args, confirmationToken: token });
      expect(second.structuredContent).toMatchObject({ key: 'PLAN_SECRET', created: true });
      expect(JSON.stringify([first, second, audit.records])).not.toContain(value);
      expect(audit.records.filter((r) => r.tool === 'variables_set').length).toBeGreaterThanOrEqual(2);
    } finally {
      await rt.close();
    }
  });

  it('hooks_create: credentials in the receiver URL reach neither the audit records nor the answer (attackgz)', async () => {
    const { rt, audit } = await runtime(`servers:\n  gitlab:\n${spiffe}`);
    // userinfo, a query token and a path secret (Slack/Teams style): what hooks_list hides, the audit kept
    const url = 'https://hookuser:Pw-in-userinfo-81x@receiver.example/services/T0/B0/PathSecret93k?token=Qs-secret-27z';
    try {
      const r = await rt.pipeline.call(rt.localPrincipal, 'hooks_create', {
        project: 'platform/api',
        url,
        events: ['pipeline'],
      });
      expect(r.isError, r.content[0]?.text).toBeFalsy();
      expect(audit.records.some((a) => a.tool === 'hooks_create' && a.outcome === 'success')).toBe(true);
      const seen = JSON.stringify([r, audit.records]);
      for (const secret of ['Pw-in-userinfo-81x', 'Qs-secret-27z']) expect(seen).not.toContain(secret);
      expect(JSON.stringify(audit.records)).not.toContain('PathSecret93k');
    } finally {
      await rt.close();
    }
  });
});
