import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { FILE_VALUES, makeTree, type Tree } from './fixture-tree.js';
import { assertNowhere, type SecretsBin, startBin } from './harness.js';

// files_audit and files_migrate through the real bin over stdio, on a generated tree.
const sim = new SecretsManagerSimulator();
let tree: Tree;
let bin: SecretsBin;
// the real SDK, to put the store in states no tool makes
let sdk: SecretsManagerClient;
const OLD_VALUE = 'old-Value-unlabelled-42';
const values = [...Object.values(FILE_VALUES), 'postgrespassword', OLD_VALUE];
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

beforeAll(async () => {
  await sim.start();
  tree = makeTree();
  bin = await startBin({ sim, env: { SECRETS_FILE_ROOTS: tree.root, SECRETS_FILE_MAX_BYTES: String(256 * 1024) } });
  sdk = new SecretsManagerClient({
    endpoint: sim.url,
    region: sim.region,
    credentials: { accessKeyId: sim.accessKeyId, secretAccessKey: sim.secretAccessKey },
    maxAttempts: 1,
  });
}, 60_000);

afterAll(async () => {
  sdk?.destroy();
  await bin?.close();
  await sim.close();
  rmSync(tree.base, { recursive: true, force: true });
});

type Row = { file: string; line: number; key: string; issue: string };
const rows = (findings: Row[]) =>
  findings.map((f) => `${f.file.slice(tree.root.length + 1)}:${f.line} ${f.key} ${f.issue}`);

describe('files_audit', () => {
  it('finds placeholders, weak defaults and plain-text secrets by file, line and key', async () => {
    const r = await bin.call('files_audit', {});
    expect(r.isError).toBe(false);
    expect(rows(r.structured?.findings).sort()).toEqual(
      [
        'app/.env.example:1 POSTGRES_PASSWORD placeholder',
        'app/.env:2 POSTGRES_PASSWORD weak-default',
        'app/.env:2 POSTGRES_PASSWORD plaintext',
        'app/.env:3 REDIS_PASSWORD placeholder',
        'app/.env:4 API_TOKEN plaintext',
        'app/.env:5 JWT_SECRET placeholder',
        'app/.env:7 ADMIN_EMAIL placeholder',
        'app/.env:8 SMTP_PASSWORD empty',
        'deploy/docker-compose.yml:5 POSTGRES_PASSWORD weak-default',
        'deploy/docker-compose.yml:5 POSTGRES_PASSWORD plaintext',
        'deploy/docker-compose.yml:10 MINIO_SECRET_KEY plaintext',
        'deploy/docker-compose.prod.yml.template:4 GF_SECURITY_ADMIN_PASSWORD placeholder',
      ].sort(),
    );
    expect(r.structured).toMatchObject({ files: 4, total: 12, truncated: false });
    const skipped = ((r.structured?.skipped ?? []) as string[]).map((s) => s.slice(tree.root.length + 1));
    expect(skipped).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^big\/\.env: larger than 262144 bytes/),
        'escape: symlink outside the root',
        'linked/.env: symlink outside the root',
      ]),
    );
  });

  it('scans one directory inside the roots and refuses paths that leave them', async () => {
    const sub = await bin.call('files_audit', { path: 'deploy' });
    expect(sub.structured?.files).toBe(2);
    expect(rows(sub.structured?.findings).every((r) => r.startsWith('deploy/'))).toBe(true);
    const dotdot = await bin.call('files_audit', { path: 'app/../../outside' });
    expect(dotdot.text).toMatch(/ERR_NOT_ALLOWED: .*".." is not allowed/);
    const absolute = await bin.call('files_audit', { path: tree.outside });
    expect(absolute.text).toMatch(/ERR_NOT_ALLOWED: .*resolves outside the configured roots/);
    const viaLink = await bin.call('files_audit', { path: 'escape' });
    expect(viaLink.text).toMatch(/ERR_NOT_ALLOWED: .*resolves outside the configured roots/);
    const limited = await bin.call('files_audit', { limit: 2 });
    expect(limited.structured).toMatchObject({ total: 12, truncated: true });
    expect(limited.structured?.findings).toHaveLength(2);
    // the cursor reaches the other findings, in the same order as one call that shows them all
    const whole = await bin.call('files_audit', {});
    const paged: string[] = [];
    let page = limited;
    for (let calls = 1; ; calls++) {
      paged.push(...rows(page.structured?.findings));
      if (!page.structured?.nextCursor || calls > 12) break;
      page = await bin.call('files_audit', { limit: 5, cursor: page.structured.nextCursor });
    }
    expect(page.structured?.truncated).toBe(false);
    expect(paged).toEqual(rows(whole.structured?.findings));
    expect(paged).toHaveLength(12);
  });

  it('stops at the file cap and says so', async () => {
    const capped = await startBin({ sim, env: { SECRETS_FILE_ROOTS: tree.root, SECRETS_FILE_MAX_FILES: '2' } });
    try {
      const r = await capped.call('files_audit', {});
      expect(r.structured).toMatchObject({ files: 2, truncated: true });
      expect(r.structured?.skipped).toContain('*: stopped after 2 files (backend.files.maxFiles)');
    } finally {
      await capped.close();
    }
  }, 30_000);
});

describe('files_migrate', () => {
  it('moves one key into a new secret; the value reaches the store only; the file is unchanged', async () => {
    const file = join(tree.root, 'app', '.env');
    const before = sha(file);
    const r = await bin.confirmed('files_migrate', { file: 'app/.env', key: 'API_TOKEN', name: 'migrated/api-token' });
    expect(r.isError).toBe(false);
    expect(r.structured).toMatchObject({ name: 'migrated/api-token', created: true, file, line: 4 });
    expect(r.structured?.reference).toMatch(/API_TOKEN from secret migrated\/api-token.*line 4/);
    expect(sim.valueOf('migrated/api-token')).toBe(FILE_VALUES.apiToken);
    expect(sha(file)).toBe(before);
    const again = await bin.confirmed('files_migrate', {
      file: 'app/.env',
      key: 'API_TOKEN',
      name: 'migrated/api-token',
    });
    expect(again.text).toMatch(/^ERR_CONFLICT: secret "migrated\/api-token" already exists; mode "update"/);
  });

  it('merges into a JSON secret key, and takes a compose default', async () => {
    sim.seed('migrated/db', JSON.stringify({ username: 'app' }));
    const r = await bin.confirmed('files_migrate', {
      file: join(tree.root, 'deploy', 'docker-compose.yml'),
      key: 'MINIO_SECRET_KEY',
      name: 'migrated/db',
      jsonKey: 'minio',
      mode: 'upsert',
    });
    expect(r.structured).toMatchObject({ created: false, line: 10 });
    expect(JSON.parse(sim.valueOf('migrated/db') as string)).toEqual({ username: 'app', minio: FILE_VALUES.minio });
    const whole = await bin.confirmed('files_migrate', {
      file: 'app/.env',
      key: 'API_TOKEN',
      name: 'migrated/db',
      mode: 'upsert',
    });
    expect(whole.text).toMatch(
      /ERR_CONFLICT: secret "migrated\/db" is a JSON object \(keys: username, minio\); give jsonKey/,
    );
    expect(JSON.parse(sim.valueOf('migrated/db') as string)).toEqual({ username: 'app', minio: FILE_VALUES.minio });
  });

  // The states the service really has: CreateSecret without a value makes a secret with no version, and a
  // secret whose AWSCURRENT label was taken off keeps only other labels or deprecated versions. GetSecretValue
  // answers ResourceNotFoundException for both, although the secret exists.
  it('upsert stores the value as the first AWSCURRENT version of a secret created without a value', async () => {
    await sdk.send(new CreateSecretCommand({ Name: 'migrated/empty', Description: 'made by hand' }));
    const r = await bin.confirmed('files_migrate', {
      file: 'app/.env',
      key: 'API_TOKEN',
      name: 'migrated/empty',
      mode: 'upsert',
    });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured).toMatchObject({ name: 'migrated/empty', created: false, line: 4 });
    expect(sim.stagesOf('migrated/empty')).toEqual({ [r.structured?.versionId]: ['AWSCURRENT'] });
    expect(sim.valueOf('migrated/empty')).toBe(FILE_VALUES.apiToken);
    // not re-created: its own description stays
    const described = await sdk.send(new DescribeSecretCommand({ SecretId: 'migrated/empty' }));
    expect(described.Description).toBe('made by hand');
  });

  it('update stores a new AWSCURRENT version in a secret whose AWSCURRENT label was taken off', async () => {
    sim.seed('migrated/unlabelled', OLD_VALUE);
    const [old] = Object.keys(sim.stagesOf('migrated/unlabelled'));
    await sdk.send(
      new UpdateSecretVersionStageCommand({
        SecretId: 'migrated/unlabelled',
        VersionStage: 'AWSCURRENT',
        RemoveFromVersionId: old,
      }),
    );
    const r = await bin.confirmed('files_migrate', {
      file: 'deploy/docker-compose.yml',
      key: 'MINIO_SECRET_KEY',
      name: 'migrated/unlabelled',
      jsonKey: 'minio',
      mode: 'update',
    });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured).toMatchObject({ name: 'migrated/unlabelled', created: false, line: 10 });
    expect(sim.stagesOf('migrated/unlabelled')[r.structured?.versionId]).toEqual(['AWSCURRENT']);
    expect(JSON.parse(sim.valueOf('migrated/unlabelled') as string)).toEqual({ minio: FILE_VALUES.minio });
  });

  it('update of a name that does not exist is ERR_NOT_FOUND and creates nothing; upsert creates it', async () => {
    const update = await bin.confirmed('files_migrate', {
      file: 'app/.env',
      key: 'API_TOKEN',
      name: 'migrated/none',
      mode: 'update',
    });
    // refused by the plan, before a confirmation is asked for
    expect(update.text).toMatch(/^ERR_NOT_FOUND: no secret "migrated\/none" \(check the name with secrets_list\)/);
    expect(sim.has('migrated/none')).toBe(false);
    const upsert = await bin.confirmed('files_migrate', {
      file: 'app/.env',
      key: 'API_TOKEN',
      name: 'migrated/none',
      mode: 'upsert',
    });
    expect(upsert.structured).toMatchObject({ name: 'migrated/none', created: true });
    expect(sim.valueOf('migrated/none')).toBe(FILE_VALUES.apiToken);
  });

  it('a secret a Lambda function rotates is refused before confirmation: the value would never reach the database', async () => {
    sim.seed('migrated/rotated', OLD_VALUE, {
      rotation: { lambdaArn: 'arn:aws:lambda:eu-north-1:123456789012:function:rotate-api', afterDays: 30 },
    });
    const writes = sim.control.operations.filter((o) => o === 'PutSecretValue').length;
    const r = await bin.call('files_migrate', {
      file: 'app/.env',
      key: 'API_TOKEN',
      name: 'migrated/rotated',
      mode: 'update',
    });
    expect(r.isError).toBe(true);
    expect((r.raw as { _meta?: Record<string, unknown> })._meta?.['ravenhelm/confirmation']).toBeUndefined();
    expect(r.text).toContain(
      'ERR_CONFLICT: secret "migrated/rotated" has rotation turned on, by the Lambda function arn:aws:lambda:eu-north-1:123456789012:function:rotate-api',
    );
    expect(sim.control.operations.filter((o) => o === 'PutSecretValue').length).toBe(writes);
    expect(sim.valueOf('migrated/rotated')).toBe(OLD_VALUE);
  });

  it('refuses placeholders, references and files outside the roots', async () => {
    const placeholder = await bin.confirmed('files_migrate', { file: 'app/.env', key: 'JWT_SECRET', name: 'm/jwt' });
    expect(placeholder.text).toMatch(/ERR_INVALID_INPUT: JWT_SECRET at line 5 is empty or a placeholder/);
    const ref = await bin.confirmed('files_migrate', {
      file: 'deploy/docker-compose.yml',
      key: 'REDIS_PASSWORD',
      name: 'm/redis',
    });
    expect(ref.text).toMatch(/ERR_INVALID_INPUT: REDIS_PASSWORD at line 9 is a reference/);
    const out = await bin.confirmed('files_migrate', { file: 'linked/.env', key: 'OUTSIDE_SECRET', name: 'm/out' });
    expect(out.text).toMatch(/ERR_NOT_ALLOWED/);
    const missing = await bin.confirmed('files_migrate', { file: 'app/.env', key: 'NOPE', name: 'm/nope' });
    expect(missing.text).toMatch(/ERR_NOT_FOUND: key NOPE is not set/);
    expect(sim.has('m/out')).toBe(false);
  });

  it('no file value appears in any result, the logs or the audit log', () => {
    const audit = bin.auditText();
    expect(audit).toContain('files_migrate');
    assertNowhere(values, { results: bin.results(), stderr: bin.stderr(), audit });
  });
});
