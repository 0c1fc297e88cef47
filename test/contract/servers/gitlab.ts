/**
 * GitLab contract cases: the real bin against the GitLab simulator, every tool at least once.
 * The server's token is the simulator's administrator (so the admin-only user and runner tools have
 * an 'ok' case) read from a token file; the allowlist leaves out the `secret` group.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, LONG_LOG_JOB, startGitLabSim, UNIT_JOB } from '../../simulators/gitlab.js';
import type { ContractCase, ContractSuite } from '../types.js';

/** Secret values the cases send: the runner (and test/gitlab/stdio.test.ts) search every captured byte for them. */
export const CONTRACT_SECRETS = {
  variableValue: 'contract-Secret-Value-8Kq2',
  hookToken: 'contract-hook-token-Vx31',
} as const;

const P = 'platform/api';

function expectFields(fields: Record<string, unknown>): ContractCase['check'] {
  return (structured) => {
    for (const [k, v] of Object.entries(fields)) {
      if (JSON.stringify(structured?.[k]) !== JSON.stringify(v))
        throw new Error(`${k}: expected ${JSON.stringify(v)}, got ${JSON.stringify(structured?.[k])}`);
    }
  };
}

export const cases: ContractCase[] = [
  {
    tool: 'projects_list',
    label: 'first keyset page',
    arguments: { limit: 5 },
    expect: 'ok',
    check: expectFields({ truncated: true, total: null }),
  },
  {
    tool: 'projects_get',
    label: 'allowlisted project',
    arguments: { project: P },
    expect: 'ok',
    check: expectFields({ path: P }),
  },
  { tool: 'projects_get', label: 'outside the allowlist', arguments: { project: 'secret/vault' }, expect: 'error' },
  {
    tool: 'projects_create',
    label: 'new project in an allowlisted group',
    arguments: { group: 'sandbox', name: 'Contract Demo' },
    expect: 'ok',
    check: expectFields({ path: 'sandbox/contract-demo', visibility: 'private' }),
  },
  {
    tool: 'projects_create',
    label: 'group outside the allowlist',
    arguments: { group: 'secret', name: 'x' },
    expect: 'error',
  },
  {
    tool: 'pipelines_list',
    label: 'failed only',
    arguments: { project: P, status: 'failed' },
    expect: 'ok',
    check: expectFields({ total: 1 }),
  },
  { tool: 'pipelines_get', label: 'jobs by stage', arguments: { project: P, pipelineId: 1030 }, expect: 'ok' },
  {
    tool: 'pipelines_diagnose',
    label: 'latest failed pipeline',
    arguments: { project: P },
    expect: 'ok',
    check: expectFields({ failedJobsTotal: 2 }),
  },
  {
    tool: 'jobs_get_log',
    label: 'tail of a failed job',
    arguments: { project: P, jobId: UNIT_JOB, lines: 20 },
    expect: 'ok',
  },
  {
    tool: 'jobs_get_log',
    label: 'byte-capped long log',
    arguments: { project: P, jobId: LONG_LOG_JOB, maxBytes: 2048 },
    expect: 'ok',
    check: expectFields({ truncated: true }),
  },
  { tool: 'merge_requests_list', label: 'open MRs', arguments: { project: P }, expect: 'ok' },
  {
    tool: 'merge_requests_get',
    label: 'pipeline and approvals',
    arguments: { project: P, iid: 7 },
    expect: 'ok',
    check: expectFields({ approvalsLeft: 1 }),
  },
  {
    tool: 'merge_requests_list_changes',
    label: 'collapsed and too_large flags',
    arguments: { project: P, iid: 7 },
    expect: 'ok',
  },
  {
    tool: 'merge_requests_get_diff',
    label: 'cut diff',
    arguments: { project: P, iid: 7, path: 'src/billing.ts', maxBytes: 2048 },
    expect: 'ok',
    check: expectFields({ truncated: true, collapsed: true }),
  },
  {
    tool: 'merge_requests_get_diff',
    label: 'file not in the MR',
    arguments: { project: P, iid: 7, path: 'nope.ts' },
    expect: 'error',
  },
  {
    tool: 'merge_requests_comment',
    label: 'note',
    arguments: { project: P, iid: 7, body: 'contract note' },
    expect: 'ok',
  },
  {
    tool: 'issues_list',
    label: 'by label',
    arguments: { project: P, labels: ['bug'] },
    expect: 'ok',
    check: expectFields({ total: 1 }),
  },
  { tool: 'issues_get', label: 'one issue', arguments: { project: P, iid: 3 }, expect: 'ok' },
  { tool: 'issues_get', label: 'missing issue', arguments: { project: P, iid: 999 }, expect: 'error' },
  {
    tool: 'issues_create',
    label: 'new issue',
    arguments: { project: P, title: 'contract issue', labels: ['ci'] },
    expect: 'ok',
  },
  { tool: 'issues_comment', label: 'note', arguments: { project: P, iid: 1, body: 'contract comment' }, expect: 'ok' },
  {
    tool: 'issues_close',
    label: 'close',
    arguments: { project: P, iid: 2 },
    expect: 'ok',
    check: expectFields({ state: 'closed' }),
  },
  { tool: 'variables_list', label: 'values never returned', arguments: { project: P }, expect: 'ok' },
  { tool: 'variables_list', label: 'group variables', arguments: { group: 'platform' }, expect: 'ok' },
  {
    tool: 'variables_set',
    label: 'create with a sensitive value',
    arguments: { project: P, key: 'CONTRACT_SECRET', value: CONTRACT_SECRETS.variableValue },
    expect: 'ok',
    check: expectFields({ created: true, masked: true }),
  },
  { tool: 'variables_delete', label: 'delete', arguments: { project: P, key: 'CONTRACT_SECRET' }, expect: 'ok' },
  { tool: 'groups_list', label: 'allowlisted groups', arguments: {}, expect: 'ok' },
  { tool: 'groups_get', label: 'subgroup', arguments: { group: 'platform/infra' }, expect: 'ok' },
  { tool: 'groups_list_members', label: 'members', arguments: { group: 'platform' }, expect: 'ok' },
  {
    tool: 'groups_add_member',
    label: 'add bob',
    arguments: { group: 'platform', username: 'bob', accessLevel: 'developer' },
    expect: 'ok',
  },
  {
    tool: 'groups_remove_member',
    label: 'remove bob',
    arguments: { group: 'platform', username: 'bob' },
    expect: 'ok',
  },
  { tool: 'hooks_list', label: 'no secrets', arguments: { project: P }, expect: 'ok' },
  {
    tool: 'hooks_create',
    label: 'with a secret token',
    arguments: {
      project: P,
      url: 'https://hooks.example.test/contract',
      events: ['pipeline'],
      token: CONTRACT_SECRETS.hookToken,
    },
    expect: 'ok',
  },
  { tool: 'hooks_delete', label: 'seeded hook', arguments: { project: P, hookId: 1 }, expect: 'ok' },
  { tool: 'users_list', label: 'search', arguments: { search: 'ali' }, expect: 'ok' },
  {
    tool: 'users_get',
    label: 'admin flag visible',
    arguments: { username: 'root' },
    expect: 'ok',
    check: expectFields({ admin: true }),
  },
  {
    tool: 'users_create',
    label: 'new user',
    arguments: { username: 'contract-user', name: 'Contract', email: 'contract@example.test' },
    expect: 'ok',
  },
  { tool: 'users_set_admin', label: 'grant', arguments: { username: 'contract-user', admin: true }, expect: 'ok' },
  { tool: 'users_block', label: 'block', arguments: { username: 'contract-user' }, expect: 'ok' },
  { tool: 'users_unblock', label: 'unblock', arguments: { username: 'contract-user' }, expect: 'ok' },
  { tool: 'runners_list', label: 'project runners', arguments: { project: P }, expect: 'ok' },
  {
    tool: 'runners_list',
    label: 'every runner: refused under an allowlist',
    arguments: { status: 'offline' },
    expect: 'error',
  },
  { tool: 'repository_list_tree', label: 'recursive', arguments: { project: P, recursive: true }, expect: 'ok' },
  { tool: 'repository_get_file', label: 'default branch', arguments: { project: P, path: 'README.md' }, expect: 'ok' },
  { tool: 'wiki_list', label: 'pages', arguments: { project: P }, expect: 'ok' },
  { tool: 'wiki_get', label: 'one page', arguments: { project: P, slug: 'home' }, expect: 'ok' },
  { tool: 'pipelines_retry', label: 'failed pipeline', arguments: { project: P, pipelineId: 1030 }, expect: 'ok' },
  { tool: 'jobs_retry', label: 'finished job', arguments: { project: P, jobId: 5101 }, expect: 'ok' },
  {
    tool: 'pipelines_cancel',
    label: 'running pipeline',
    arguments: { project: P, pipelineId: 1030 },
    expect: 'ok',
    check: expectFields({ status: 'canceled' }),
  },
];

const suite: ContractSuite = {
  server: 'gitlab',
  bin: 'servers/gitlab/src/bin.ts',
  async setup() {
    const sim = await startGitLabSim();
    const dir = mkdtempSync(join(tmpdir(), 'gitlab-contract-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    const policyFile = join(dir, 'policy.yaml');
    const spiffeId = 'spiffe://ravenhelm.local/agent/contract';
    writeFileSync(policyFile, `servers:\n  gitlab:\n    spiffe:\n      default: ['${spiffeId}']\n`);
    return {
      env: {
        GITLAB_URL: sim.url,
        GITLAB_TOKEN_FILE: tokenFile,
        GITLAB_ALLOWLIST: 'platform/**,sandbox/**',
        GITLAB_TIMEOUT_MS: '5000',
        RAVENHELM_POLICY_FILE: policyFile,
        RAVENHELM_LOCAL_SCOPES: 'mcp:gitlab:admin',
        RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
        RAVENHELM_LOCAL_SPIFFE_ID: spiffeId,
        RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
      },
      cases,
      async stop() {
        await sim.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export default suite;
