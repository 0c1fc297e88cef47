import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';

// The simulator driven by the real SDK, exactly as the server drives it: signing, protocol, errors.
const sim = new SecretsManagerSimulator();
let sdk: SecretsManagerClient;

function clientWith(secretAccessKey: string, region = sim.region) {
  return new SecretsManagerClient({
    endpoint: sim.url,
    region,
    credentials: { accessKeyId: sim.accessKeyId, secretAccessKey },
    maxAttempts: 1,
  });
}

async function awsError(p: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  await sim.start();
  sdk = clientWith(sim.secretAccessKey);
});
afterAll(async () => {
  sdk.destroy();
  await sim.close();
});

describe('Secrets Manager simulator (through @aws-sdk/client-secrets-manager)', () => {
  it('speaks AWS JSON 1.1 with a verified SigV4 signature', async () => {
    await sdk.send(new CreateSecretCommand({ Name: 'proto/one', SecretString: 'v1-value-xyz' }));
    const req = sim.control.requests.at(-1);
    expect(req?.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(req?.headers['x-amz-target']).toBe('secretsmanager.CreateSecret');
    expect(String(req?.headers.authorization)).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIASIMULATOR0000001\/\d{8}\/eu-north-1\/secretsmanager\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    const wrongKey = clientWith('not-the-right-secret-key-000000000000000');
    const bad = await awsError(wrongKey.send(new ListSecretsCommand({})));
    expect(bad).toMatchObject({ name: 'InvalidSignatureException', status: 400 });
    const wrongRegion = clientWith(sim.secretAccessKey, 'us-east-1');
    expect((await awsError(wrongRegion.send(new ListSecretsCommand({})))).name).toBe('InvalidSignatureException');
    wrongKey.destroy();
    wrongRegion.destroy();
  });

  it('answers unsigned and non-JSON-1.1 requests with the service error body', async () => {
    const unsigned = await fetch(sim.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.ListSecrets' },
      body: '{}',
    });
    expect(unsigned.status).toBe(400);
    expect(await unsigned.json()).toEqual({
      __type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    });
    const wrongTarget = await fetch(sim.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'kms.ListKeys' },
      body: '{}',
    });
    expect(((await wrongTarget.json()) as { __type: string }).__type).toBe('UnknownOperationException');
  });

  it('moves stages like the service: AWSCURRENT -> AWSPREVIOUS, AWSPENDING by label moves', async () => {
    const created = await sdk.send(new CreateSecretCommand({ Name: 'proto/stages', SecretString: 'first-value-1' }));
    const v1 = created.VersionId as string;
    const put = await sdk.send(new PutSecretValueCommand({ SecretId: 'proto/stages', SecretString: 'second-value-2' }));
    const v2 = put.VersionId as string;
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    let d = await sdk.send(new DescribeSecretCommand({ SecretId: 'proto/stages' }));
    expect(d.VersionIdsToStages).toEqual({ [v1]: ['AWSPREVIOUS'], [v2]: ['AWSCURRENT'] });
    const pending = await sdk.send(
      new PutSecretValueCommand({
        SecretId: 'proto/stages',
        SecretString: 'third-value-3',
        VersionStages: ['AWSPENDING'],
      }),
    );
    const v3 = pending.VersionId as string;
    const cur = await sdk.send(new GetSecretValueCommand({ SecretId: 'proto/stages' }));
    expect(cur.SecretString).toBe('second-value-2');
    expect(
      (await sdk.send(new GetSecretValueCommand({ SecretId: 'proto/stages', VersionStage: 'AWSPENDING' })))
        .SecretString,
    ).toBe('third-value-3');
    const wrongFrom = await awsError(
      sdk.send(
        new UpdateSecretVersionStageCommand({
          SecretId: 'proto/stages',
          VersionStage: 'AWSCURRENT',
          RemoveFromVersionId: v1,
          MoveToVersionId: v3,
        }),
      ),
    );
    expect(wrongFrom.name).toBe('InvalidParameterException');
    await sdk.send(
      new UpdateSecretVersionStageCommand({
        SecretId: 'proto/stages',
        VersionStage: 'AWSCURRENT',
        RemoveFromVersionId: v2,
        MoveToVersionId: v3,
      }),
    );
    d = await sdk.send(new DescribeSecretCommand({ SecretId: 'proto/stages' }));
    expect(d.VersionIdsToStages?.[v3]?.sort()).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect(d.VersionIdsToStages?.[v2]).toEqual(['AWSPREVIOUS']);
    expect(d.VersionIdsToStages?.[v1]).toBeUndefined(); // no labels left: deprecated, not listed
    expect(d.CreatedDate).toBeInstanceOf(Date); // epoch seconds on the wire, parsed by the SDK
  });

  it('creates a secret without a value as one with no version; the first PutSecretValue is AWSCURRENT', async () => {
    const created = await sdk.send(new CreateSecretCommand({ Name: 'proto/empty' }));
    expect(created.VersionId).toBeUndefined();
    const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'proto/empty' }));
    expect(d.Name).toBe('proto/empty');
    expect(d.VersionIdsToStages ?? {}).toEqual({});
    const read = await awsError(sdk.send(new GetSecretValueCommand({ SecretId: 'proto/empty' })));
    expect(read).toMatchObject({
      name: 'ResourceNotFoundException',
      status: 400,
      message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
    });
    // the first version gets AWSCURRENT even when only another label is asked for
    const first = await sdk.send(
      new PutSecretValueCommand({
        SecretId: 'proto/empty',
        SecretString: 'empty-first-1',
        VersionStages: ['AWSPENDING'],
      }),
    );
    expect(first.VersionStages?.sort()).toEqual(['AWSCURRENT', 'AWSPENDING']);
    expect((await sdk.send(new GetSecretValueCommand({ SecretId: 'proto/empty' }))).SecretString).toBe('empty-first-1');
  });

  it('refuses reads of a secret scheduled for deletion until it is restored', async () => {
    await sdk.send(new CreateSecretCommand({ Name: 'proto/deleted', SecretString: 'to-be-deleted-1' }));
    const both = await awsError(
      sdk.send(
        new DeleteSecretCommand({
          SecretId: 'proto/deleted',
          RecoveryWindowInDays: 7,
          ForceDeleteWithoutRecovery: true,
        }),
      ),
    );
    expect(both.name).toBe('InvalidParameterException');
    const tooShort = await awsError(
      sdk.send(new DeleteSecretCommand({ SecretId: 'proto/deleted', RecoveryWindowInDays: 3 })),
    );
    expect(tooShort.name).toBe('InvalidParameterException');
    const del = await sdk.send(new DeleteSecretCommand({ SecretId: 'proto/deleted', RecoveryWindowInDays: 7 }));
    expect(del.DeletionDate?.getTime()).toBeGreaterThan(Date.now() + 6.9 * 86_400_000);
    const read = await awsError(sdk.send(new GetSecretValueCommand({ SecretId: 'proto/deleted' })));
    expect(read).toMatchObject({ name: 'InvalidRequestException', status: 400 });
    const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'proto/deleted' }));
    expect(d.DeletedDate).toBeInstanceOf(Date);
    const listed = await sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['proto/deleted'] }] }));
    expect(listed.SecretList).toEqual([]);
    const planned = await sdk.send(
      new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['proto/deleted'] }], IncludePlannedDeletion: true }),
    );
    expect(planned.SecretList?.map((s) => s.Name)).toEqual(['proto/deleted']);
    await sdk.send(new RestoreSecretCommand({ SecretId: 'proto/deleted' }));
    expect((await sdk.send(new GetSecretValueCommand({ SecretId: 'proto/deleted' }))).SecretString).toBe(
      'to-be-deleted-1',
    );
    const missing = await awsError(sdk.send(new GetSecretValueCommand({ SecretId: 'proto/nope' })));
    expect(missing).toMatchObject({ name: 'ResourceNotFoundException', status: 400 });
    const exists = await awsError(sdk.send(new CreateSecretCommand({ Name: 'proto/deleted', SecretString: 'x' })));
    expect(exists.name).toBe('ResourceExistsException');
    // A forced deletion of a secret that does not exist succeeds (API reference, ForceDeleteWithoutRecovery);
    // without force it is ResourceNotFoundException.
    const ghost = await sdk.send(new DeleteSecretCommand({ SecretId: 'proto/nope', ForceDeleteWithoutRecovery: true }));
    expect(ghost.DeletionDate).toBeInstanceOf(Date);
    const ghostWindow = await awsError(sdk.send(new DeleteSecretCommand({ SecretId: 'proto/nope' })));
    expect(ghostWindow.name).toBe('ResourceNotFoundException');
  });

  it('force-deletes a secret scheduled for deletion at once; a second recovery window is refused', async () => {
    await sdk.send(new CreateSecretCommand({ Name: 'proto/scheduled', SecretString: 'to-be-deleted-2' }));
    await sdk.send(new DeleteSecretCommand({ SecretId: 'proto/scheduled', RecoveryWindowInDays: 7 }));
    const again = await awsError(sdk.send(new DeleteSecretCommand({ SecretId: 'proto/scheduled' })));
    expect(again).toMatchObject({ name: 'InvalidRequestException', status: 400 });
    const forced = await sdk.send(
      new DeleteSecretCommand({ SecretId: 'proto/scheduled', ForceDeleteWithoutRecovery: true }),
    );
    expect(forced.Name).toBe('proto/scheduled');
    expect(sim.has('proto/scheduled')).toBe(false);
    const gone = await awsError(sdk.send(new RestoreSecretCommand({ SecretId: 'proto/scheduled' })));
    expect(gone.name).toBe('ResourceNotFoundException');
  });

  it('pages with NextToken and filters by name and tag prefixes (case-sensitive) with negation', async () => {
    for (let i = 0; i < 7; i++) sim.seed(`page/s${i}`, `value-${i}`, { tags: { team: i % 2 ? 'Blue' : 'red' } });
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const out = await sdk.send(
        new ListSecretsCommand({ MaxResults: 3, NextToken: token, Filters: [{ Key: 'name', Values: ['page/'] }] }),
      );
      names.push(...(out.SecretList ?? []).map((s) => s.Name as string));
      token = out.NextToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(names).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `page/s${i}`));
    const blue = await sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'tag-value', Values: ['Bl'] }] }));
    expect(blue.SecretList?.length).toBe(3);
    const caseSensitive = await sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'tag-value', Values: ['bl'] }] }));
    expect(caseSensitive.SecretList).toEqual([]);
    const notPage = await sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['!page/'] }] }));
    expect(notPage.SecretList?.every((s) => !s.Name?.startsWith('page/'))).toBe(true);
    const badMax = await awsError(sdk.send(new ListSecretsCommand({ MaxResults: 101 })));
    expect(badMax.name).toBe('InvalidParameterException');
    // Filter Values pattern (API reference, Filter): no "*", "#" or letters outside ASCII
    for (const bad of ['page/*', 'équipe', 'a#1']) {
      const e = await awsError(sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'tag-key', Values: [bad] }] })));
      expect(e.name).toBe('ValidationException');
    }
  });

  it('generates passwords by the documented options', async () => {
    const out = await sdk.send(
      new GetRandomPasswordCommand({ PasswordLength: 40, ExcludePunctuation: true, ExcludeCharacters: 'abc' }),
    );
    expect(out.RandomPassword).toHaveLength(40);
    expect(out.RandomPassword).toMatch(/^[A-Za-z0-9]+$/);
    expect(out.RandomPassword).not.toMatch(/[abc]/);
    expect(out.RandomPassword).toMatch(/[0-9]/);
  });

  it('tags and updates: TagResource replaces a key, UpdateSecret makes a new AWSCURRENT only with a value', async () => {
    await sdk.send(
      new CreateSecretCommand({ Name: 'proto/tags', SecretString: 'tag-value-1', Tags: [{ Key: 'a', Value: '1' }] }),
    );
    await sdk.send(
      new TagResourceCommand({
        SecretId: 'proto/tags',
        Tags: [
          { Key: 'a', Value: '2' },
          { Key: 'b', Value: '3' },
        ],
      }),
    );
    let d = await sdk.send(new DescribeSecretCommand({ SecretId: 'proto/tags' }));
    expect(d.Tags).toEqual([
      { Key: 'a', Value: '2' },
      { Key: 'b', Value: '3' },
    ]);
    const before = Object.keys(d.VersionIdsToStages ?? {});
    const described = await sdk.send(new UpdateSecretCommand({ SecretId: 'proto/tags', Description: 'now described' }));
    expect(described.VersionId).toBeUndefined();
    d = await sdk.send(new DescribeSecretCommand({ SecretId: 'proto/tags' }));
    expect(d.Description).toBe('now described');
    expect(Object.keys(d.VersionIdsToStages ?? {})).toEqual(before);
    const valued = await sdk.send(new UpdateSecretCommand({ SecretId: 'proto/tags', SecretString: 'tag-value-2' }));
    d = await sdk.send(new DescribeSecretCommand({ SecretId: 'proto/tags' }));
    expect(d.VersionIdsToStages?.[valued.VersionId as string]).toEqual(['AWSCURRENT']);
    expect(d.VersionIdsToStages?.[before[0] as string]).toEqual(['AWSPREVIOUS']);
  });

  it('replays an idempotent PutSecretValue and refuses the same token with another value', async () => {
    await sdk.send(new CreateSecretCommand({ Name: 'proto/idem', SecretString: 'idem-1' }));
    const token = 'a'.repeat(36);
    const one = await sdk.send(
      new PutSecretValueCommand({ SecretId: 'proto/idem', SecretString: 'idem-2', ClientRequestToken: token }),
    );
    const again = await sdk.send(
      new PutSecretValueCommand({ SecretId: 'proto/idem', SecretString: 'idem-2', ClientRequestToken: token }),
    );
    expect(again.VersionId).toBe(one.VersionId);
    const clash = await awsError(
      sdk.send(
        new PutSecretValueCommand({ SecretId: 'proto/idem', SecretString: 'idem-3', ClientRequestToken: token }),
      ),
    );
    expect(clash.name).toBe('ResourceExistsException');
  });

  it('answers rotation state as DescribeSecret/ListSecrets do; a managed secret refuses PutSecretValue', async () => {
    sim.seed('proto/rotated-once', 'once-value', { rotatedDaysAgo: 5 });
    const once = await sdk.send(new DescribeSecretCommand({ SecretId: 'proto/rotated-once' }));
    expect(once.RotationEnabled).toBe(false);
    expect(once.LastRotatedDate?.getTime()).toBeLessThan(Date.now() - 4 * 86_400_000);
    sim.seed('rds!db-proto', 'managed-value', {
      owningService: 'rds',
      rotatedDaysAgo: 1,
      rotation: { afterDays: 7, window: '2h' },
    });
    const managed = await sdk.send(new DescribeSecretCommand({ SecretId: 'rds!db-proto' }));
    expect(managed).toMatchObject({
      OwningService: 'rds',
      RotationEnabled: true,
      RotationRules: { AutomaticallyAfterDays: 7, Duration: '2h' },
    });
    expect(managed.RotationLambdaARN).toBeUndefined();
    expect(Math.abs((managed.NextRotationDate?.getTime() ?? 0) - (Date.now() + 6 * 86_400_000))).toBeLessThan(60_000);
    const listed = await sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'owning-service', Values: ['rds'] }] }));
    expect(listed.SecretList?.map((e) => [e.Name, e.OwningService, e.RotationEnabled])).toEqual([
      ['rds!db-proto', 'rds', true],
    ]);
    const put = await awsError(sdk.send(new PutSecretValueCommand({ SecretId: 'rds!db-proto', SecretString: 'x' })));
    expect(put.name).toBe('InvalidRequestException');
    expect(sim.valueOf('rds!db-proto')).toBe('managed-value');
  });

  it('refuses to delete a managed secret without a recovery window (User Guide, secrets managed by other services)', async () => {
    sim.seed('rds!db-proto-del', 'managed-del-value', { owningService: 'rds' });
    const forced = await awsError(
      sdk.send(new DeleteSecretCommand({ SecretId: 'rds!db-proto-del', ForceDeleteWithoutRecovery: true })),
    );
    expect(forced).toMatchObject({ name: 'InvalidRequestException', status: 400 });
    expect(forced.message).toContain('managed by rds');
    expect(sim.has('rds!db-proto-del')).toBe(true);
  });

  it('describes a replicated primary and refuses to delete it until its replicas are removed (DeleteSecret)', async () => {
    sim.seed('proto/replicated', 'replicated-value', { replicas: ['eu-west-1'] });
    const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'proto/replicated' }));
    expect(d.PrimaryRegion).toBe(sim.region);
    expect(d.ReplicationStatus).toEqual([expect.objectContaining({ Region: 'eu-west-1', Status: 'InSync' })]);
    for (const how of [{ RecoveryWindowInDays: 7 }, { ForceDeleteWithoutRecovery: true }]) {
      const refused = await awsError(sdk.send(new DeleteSecretCommand({ SecretId: 'proto/replicated', ...how })));
      // the service's answer (replication.test.ts cites where it was seen)
      expect(refused).toMatchObject({ name: 'InvalidParameterException', status: 400 });
      expect(refused.message).toMatch(
        /^You can't delete secret arn:aws:secretsmanager:.* that still has replica regions \[eu-west-1\]\.$/,
      );
    }
    expect(sim.has('proto/replicated')).toBe(true);
  });

  it('checks SecretId and Name lengths as the API reference constrains them (ValidationException)', async () => {
    const empty = await awsError(sdk.send(new DescribeSecretCommand({ SecretId: '' })));
    expect(empty).toMatchObject({ name: 'ValidationException', status: 400 });
    const long = await awsError(sdk.send(new GetSecretValueCommand({ SecretId: `a${'b'.repeat(2048)}` })));
    expect(long.name).toBe('ValidationException');
    const noName = await awsError(sdk.send(new CreateSecretCommand({ Name: '', SecretString: 'v' })));
    expect(noName.name).toBe('ValidationException');
    const longName = await awsError(sdk.send(new CreateSecretCommand({ Name: 'n'.repeat(513), SecretString: 'v' })));
    expect(longName.name).toBe('ValidationException');
  });
});
