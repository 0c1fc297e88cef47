/**
 * Contract cases for the Zitadel server against the Zitadel simulator: an organisation with people,
 * an on-call agent (its username also taken in a second organisation), the MCP project with roles
 * and a second project with a role of the same name.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedZitadel, startZitadelSim } from '../../simulators/zitadel.js';
import type { ContractSuite } from '../types.js';

const ROLE_SCOPES = {
  'identity.reader': ['mcp:zitadel:read'],
  'docker.reader': ['mcp:docker:read'],
  'docker.operator': ['mcp:docker:write'],
  'observability.reader': ['mcp:observability:read'],
};

// No key store configured here: the key file comes back once, marked so, and nothing claims it was stored.
const expectKeyFile = (s: Record<string, unknown> | undefined) => {
  const key = (s?.key as Record<string, unknown> | undefined) ?? s;
  if (typeof key?.keyFile !== 'string' || !key.keyFile.includes('PRIVATE KEY')) {
    throw new Error('expected the key file once');
  }
  if (key.shownOnce !== true || 'stored' in key) throw new Error('expected shownOnce and no stored location');
};

const suite: ContractSuite = {
  server: 'zitadel',
  bin: 'servers/zitadel/src/bin.ts',
  async setup() {
    const sim = await startZitadelSim();
    const ids = seedZitadel(sim);
    // The runner holds mcp:zitadel:admin only, and grants at most its own scopes: a role that gives one of them.
    sim.projects
      .find((p) => p.id === ids.projectId)
      ?.roles.push({ key: 'identity.reader', displayName: 'Identity reader', group: 'zitadel' });
    const dir = mkdtempSync(join(tmpdir(), 'rh-contract-zitadel-'));
    const own = sim.addServiceAccount({ username: 'ravenhelm-mcp' });
    const keyFile = join(dir, 'key.json');
    writeFileSync(keyFile, own.keyFile, { mode: 0o600 });
    const oncall = 'agent-oncall@ravenhelm.zitadel.test';
    // Its namesake in the other organisation: out of the server's reach (ZITADEL_ORG_ID bounds every tool).
    const elsewhereId = sim.users.find((u) => u.username === 'agent-oncall' && u.orgId === ids.otherOrgId)?.id ?? '';
    // A retired agent with one key, for keys_delete.
    const retired = sim.addServiceAccount({ username: 'agent-retired', manager: false });
    const retiredKeyId = (JSON.parse(retired.keyFile) as { keyId: string }).keyId;
    return {
      env: {
        ZITADEL_URL: sim.url,
        ZITADEL_KEY_FILE: keyFile,
        ZITADEL_ORG_ID: ids.orgId,
        ZITADEL_PROJECT_ID: ids.projectId,
        ZITADEL_ALLOWED_ORG_IDS: ids.orgId,
        ZITADEL_ROLE_SCOPES: JSON.stringify(ROLE_SCOPES),
      },
      cases: [
        { tool: 'users_search', label: 'all users', arguments: {}, expect: 'ok' },
        {
          tool: 'users_search',
          label: 'paged, one per page',
          arguments: { type: 'human', limit: 1 },
          expect: 'ok',
          check: (s) => {
            if (typeof s?.nextCursor !== 'string' || s.total !== 3) throw new Error('expected 3 humans, paged');
          },
        },
        { tool: 'users_search', label: 'empty result', arguments: { username: 'nobody-at-all' }, expect: 'ok' },
        { tool: 'users_get', label: 'by login name', arguments: { user: oncall }, expect: 'ok' },
        {
          tool: 'users_get',
          label: 'a username of its own organisation',
          arguments: { user: 'agent-oncall' },
          expect: 'ok',
        },
        {
          tool: 'users_get',
          label: 'a user of another organisation',
          arguments: { user: elsewhereId },
          expect: 'error',
        },
        { tool: 'users_get', label: 'not found', arguments: { user: 'nobody' }, expect: 'error' },
        { tool: 'users_list_grants', label: 'grants across projects', arguments: { user: oncall }, expect: 'ok' },
        { tool: 'projects_list', label: 'all projects', arguments: {}, expect: 'ok' },
        { tool: 'orgs_list', label: 'by name', arguments: { name: 'raven' }, expect: 'ok' },
        { tool: 'roles_list', label: 'the MCP project', arguments: {}, expect: 'ok' },
        { tool: 'roles_list', label: 'another project by name', arguments: { project: 'billing' }, expect: 'ok' },
        { tool: 'agents_get_capabilities', label: 'on-call agent', arguments: { user: oncall }, expect: 'ok' },
        {
          tool: 'events_list',
          label: "a person's logins",
          arguments: { user: 'alice', categories: ['logins'] },
          expect: 'ok',
        },
        { tool: 'events_list', label: 'neither user nor org', arguments: {}, expect: 'error' },
        {
          tool: 'service_accounts_create',
          label: 'new agent account',
          arguments: { username: 'agent-contract', name: 'Contract agent' },
          expect: 'ok',
        },
        {
          tool: 'service_accounts_create',
          label: 'duplicate username',
          arguments: { username: 'agent-contract', name: 'Contract agent' },
          expect: 'error',
        },
        {
          tool: 'keys_add',
          label: 'key shown once',
          arguments: { user: 'agent-contract', expiresInDays: 1 },
          expect: 'ok',
          check: expectKeyFile,
        },
        { tool: 'keys_list', label: 'no key material', arguments: { user: 'agent-contract' }, expect: 'ok' },
        {
          tool: 'roles_grant',
          label: 'a scope the caller holds and an unmapped role',
          arguments: { user: 'agent-contract', roles: ['identity.reader', 'docker.admin'] },
          expect: 'ok',
        },
        {
          tool: 'roles_grant',
          label: "scopes beyond the caller's own",
          arguments: { user: 'agent-contract', roles: ['docker.operator'] },
          expect: 'error',
        },
        {
          tool: 'roles_revoke',
          label: 'one role',
          arguments: { user: 'agent-contract', roles: ['docker.admin'] },
          expect: 'ok',
        },
        {
          tool: 'roles_create',
          label: 'new role on the MCP project',
          arguments: { key: 'contract.role', displayName: 'Contract role' },
          expect: 'ok',
        },
        {
          tool: 'roles_create',
          label: 'duplicate role',
          arguments: { key: 'contract.role', displayName: 'Contract role' },
          expect: 'error',
        },
        { tool: 'users_disable', label: 'lock a person', arguments: { user: 'bob', mode: 'lock' }, expect: 'ok' },
        // a repeat answers the state asked for (the tools are idempotent)
        { tool: 'users_disable', label: 'already locked', arguments: { user: 'bob', mode: 'lock' }, expect: 'ok' },
        {
          tool: 'users_disable',
          label: "the server's own account",
          arguments: { user: 'ravenhelm-mcp' },
          expect: 'error',
        },
        { tool: 'users_enable', label: 'unlock again', arguments: { user: 'bob' }, expect: 'ok' },
        { tool: 'users_enable', label: 'already active', arguments: { user: 'bob' }, expect: 'ok' },
        { tool: 'users_enable', label: 'unknown user', arguments: { user: 'nobody-here' }, expect: 'error' },
        {
          tool: 'keys_delete',
          label: 'unknown key (already absent: idempotent)',
          arguments: { user: 'agent-contract', keyId: '1' },
          expect: 'ok',
        },
        {
          tool: 'keys_delete',
          label: 'unknown user',
          arguments: { user: 'nobody-here', keyId: '1' },
          expect: 'error',
        },
        {
          tool: 'keys_delete',
          label: "a retired agent's key",
          arguments: { user: 'agent-retired', keyId: retiredKeyId },
          expect: 'ok',
        },
        {
          tool: 'agents_onboard',
          label: 'exact scopes',
          arguments: { username: 'agent-onboarded', scopes: ['mcp:zitadel:read'] },
          expect: 'ok',
          check: expectKeyFile,
        },
        {
          tool: 'agents_onboard',
          label: "scopes beyond the caller's own",
          arguments: { username: 'agent-beyond', scopes: ['mcp:docker:read', 'mcp:observability:read'] },
          expect: 'error',
        },
        {
          tool: 'agents_onboard',
          label: 'scopes no role yields',
          arguments: { username: 'agent-impossible', scopes: ['mcp:docker:admin'] },
          expect: 'error',
        },
      ],
      async stop() {
        await sim.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export default suite;
