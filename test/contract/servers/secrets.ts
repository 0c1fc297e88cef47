/**
 * The secrets server in the SDK-client contract suite: the Secrets Manager simulator (through the real
 * AWS SDK in the bin), a generated tree of .env and compose files, and a policy that lets the local stdio
 * principal call every tool (HIGH tools on its SPIFFE ID, reveal for its subject, confirm on destructive).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTree } from '../../secrets/fixture-tree.js';
import { SecretsManagerSimulator } from '../../simulators/secrets-manager.js';
import type { ContractCase, ContractSuite } from '../types.js';

const SUBJECT = 'contract-ops';
const SPIFFE = 'spiffe://ravenhelm.test/agent/contract';
const DB_PASSWORD = 'Contract-Db-Pass-5e2f7a91';
const NEW_VALUE = 'Contract-New-Value-81c3d0aa';

function expectNoValue(structured: Record<string, unknown> | undefined, text: string): void {
  for (const v of [DB_PASSWORD, NEW_VALUE]) {
    if (text.includes(v) || JSON.stringify(structured ?? {}).includes(v))
      throw new Error('a secret value was returned');
  }
}

const suite: ContractSuite = {
  server: 'secrets',
  bin: 'servers/secrets/src/bin.ts',
  async setup() {
    const sim = await new SecretsManagerSimulator().start();
    sim.seed('contract/db', JSON.stringify({ username: 'app', password: DB_PASSWORD }), { tags: { team: 'contract' } });
    sim.seed('contract/weak', 'redispassword', { createdDaysAgo: 120 });
    const tree = makeTree();
    const dir = mkdtempSync(join(tmpdir(), 'secrets-contract-'));
    const policyFile = join(dir, 'policy.json');
    writeFileSync(
      policyFile,
      JSON.stringify({
        version: 1,
        servers: {
          secrets: {
            confirm: 'destructive',
            spiffe: { default: [SPIFFE] },
            tools: { secrets_get: { options: { reveal: { subjects: [SUBJECT] } } } },
          },
        },
      }),
    );
    const env: Record<string, string> = {
      HOME: dir,
      AWS_ENDPOINT_URL: sim.url,
      AWS_REGION: sim.region,
      ...sim.sdkEnv(dir),
      SECRETS_FILE_ROOTS: tree.root,
      RAVENHELM_POLICY_FILE: policyFile,
      RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
      RAVENHELM_LOCAL_SUBJECT: SUBJECT,
      RAVENHELM_LOCAL_SCOPES: 'mcp:secrets:admin',
      RAVENHELM_LOCAL_SPIFFE_ID: SPIFFE,
      RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
    };
    const cases: ContractCase[] = [
      {
        tool: 'secrets_list',
        label: 'all secrets, metadata only',
        arguments: {},
        expect: 'ok',
        check: (s, text) => {
          if (!Array.isArray(s?.secrets) || s.secrets.length !== 2) throw new Error('expected 2 secrets');
          expectNoValue(s, text);
        },
      },
      {
        tool: 'secrets_list',
        label: 'truncated page',
        arguments: { limit: 1 },
        expect: 'ok',
        check: (s) => {
          if (s?.truncated !== true || typeof s.nextCursor !== 'string') throw new Error('expected a next cursor');
        },
      },
      { tool: 'secrets_list', label: 'empty result', arguments: { namePrefix: 'nothing/' }, expect: 'ok' },
      { tool: 'secrets_describe', label: 'versions and stages', arguments: { name: 'contract/db' }, expect: 'ok' },
      { tool: 'secrets_describe', label: 'not found', arguments: { name: 'contract/none' }, expect: 'error' },
      {
        tool: 'secrets_get',
        label: 'masked',
        arguments: { name: 'contract/db' },
        expect: 'ok',
        check: (s, text) => {
          if (s?.revealed !== false || s.kind !== 'json') throw new Error('expected a masked JSON secret');
          expectNoValue(s, text);
        },
      },
      {
        tool: 'secrets_get',
        label: 'reveal step 1: token, no value',
        arguments: { name: 'contract/db', jsonKey: 'password', reveal: true },
        expect: 'ok',
        check: (s, text) => {
          if (typeof s?.revealToken !== 'string') throw new Error('expected a revealToken');
          expectNoValue(s, text);
        },
      },
      {
        tool: 'secrets_get',
        label: 'missing JSON key',
        arguments: { name: 'contract/db', jsonKey: 'x' },
        expect: 'error',
      },
      {
        tool: 'secrets_put',
        label: 'create',
        arguments: { name: 'contract/new', value: NEW_VALUE },
        expect: 'ok',
        check: (s, text) => {
          if (s?.created !== true) throw new Error('expected created');
          expectNoValue(s, text);
        },
      },
      {
        tool: 'secrets_rotate',
        label: 'new AWSCURRENT',
        arguments: { name: 'contract/new', length: 24 },
        expect: 'ok',
      },
      {
        tool: 'secrets_delete',
        label: 'recovery window',
        arguments: { name: 'contract/new', recoveryWindowDays: 7 },
        expect: 'ok',
      },
      { tool: 'secrets_get', label: 'scheduled for deletion', arguments: { name: 'contract/new' }, expect: 'error' },
      { tool: 'secrets_restore', label: 'restore', arguments: { name: 'contract/new' }, expect: 'ok' },
      {
        tool: 'store_audit',
        label: 'findings by name',
        arguments: {},
        expect: 'ok',
        check: (s) => {
          const found = (s?.findings as { name: string; issue: string }[] | undefined) ?? [];
          if (!found.some((f) => f.name === 'contract/weak' && f.issue === 'weak-default'))
            throw new Error('missed a weak default');
        },
      },
      { tool: 'files_audit', label: 'scan the roots', arguments: {}, expect: 'ok' },
      { tool: 'files_audit', label: 'path leaves the roots', arguments: { path: '../outside' }, expect: 'error' },
      {
        tool: 'files_migrate',
        label: 'plain-text key into the store',
        arguments: { file: 'app/.env', key: 'API_TOKEN', name: 'contract/migrated' },
        expect: 'ok',
      },
    ];
    return {
      env,
      cases,
      async stop() {
        await sim.close();
        rmSync(dir, { recursive: true, force: true });
        rmSync(tree.base, { recursive: true, force: true });
      },
    };
  },
};

export default suite;
