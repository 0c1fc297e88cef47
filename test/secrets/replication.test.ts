import {
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RemoveRegionsFromReplicationCommand,
  ReplicateSecretToRegionsCommand,
  RestoreSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, awsError, policyFor, type SecretsBin, sdkFor, startBin } from './harness.js';

// Multi-Region secrets. DeleteSecret refuses a primary that still has replicas and any change made in a replica's
// Region, with InvalidParameterException (the service's wording, as real accounts logged it:
// gruntwork-io/cloud-nuke#435 and rebuy-de/aws-nuke#1127): "You can't delete secret <ARN> that still has replica
// regions [..]." and "Operation not permitted on a replica secret. Call must be made in primary secret's region.".
// Below, replication as DescribeSecret reports it (API reference, ReplicationStatusType: Region, KmsKeyId, Status
// InSync | Failed | InProgress, StatusMessage; LastAccessedDate omitted when never read in the Region), RestoreSecret
// on a replica (User Guide, "Promote a replica secret": it "can't be updated independently from its primary"), and an
// ARN of another Region (the service answers for its own Region: ResourceNotFoundException, as real clients logged it
// in DataDog/datadog-lambda-js#639 and newrelic/newrelic-lambda-extension#208).
const sim = new SecretsManagerSimulator();
let sdk: SecretsManagerClient;
let bin: SecretsBin;
let open: SecretsBin;
const VALUE = 'Replication-Value-4e8a1c!';

beforeAll(async () => {
  await sim.start();
  sdk = sdkFor(sim);
  [bin, open] = await Promise.all([
    startBin({ sim, policy: policyFor({ revealTo: ['ops'], allowForceDelete: true }) }),
    startBin({ sim, policy: policyFor({ confirm: false, revealTo: ['ops'], allowForceDelete: true }) }),
  ]);
}, 60_000);
afterAll(async () => {
  sdk.destroy();
  await Promise.all([bin?.close(), open?.close()]);
  await sim.close();
});

describe('the simulator, through @aws-sdk/client-secrets-manager', () => {
  it('replicates, shows ReplicationStatus, refuses DeleteSecret until the replicas are removed', async () => {
    sim.seed('repl/sim', VALUE);
    const added = await sdk.send(
      new ReplicateSecretToRegionsCommand({
        SecretId: 'repl/sim',
        AddReplicaRegions: [{ Region: 'eu-west-1' }, { Region: 'us-east-1' }],
      }),
    );
    expect(added.ReplicationStatus?.map((r) => r.Region)).toEqual(['eu-west-1', 'us-east-1']);
    const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'repl/sim' }));
    expect(d.PrimaryRegion).toBe(sim.region);
    expect(d.ReplicationStatus?.map((r) => r.Region)).toEqual(['eu-west-1', 'us-east-1']);
    const listed = await sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['repl/sim'] }] }));
    expect(listed.SecretList?.[0]?.PrimaryRegion).toBe(sim.region);

    const refused = await awsError(
      sdk.send(new DeleteSecretCommand({ SecretId: 'repl/sim', RecoveryWindowInDays: 7 })),
    );
    expect(refused.name).toBe('InvalidParameterException');
    expect(refused.message).toBe(
      `You can't delete secret ${d.ARN} that still has replica regions [eu-west-1, us-east-1].`,
    );

    const bad = await awsError(
      sdk.send(new RemoveRegionsFromReplicationCommand({ SecretId: 'repl/sim', RemoveReplicaRegions: ['EU_WEST'] })),
    );
    expect(bad.name).toBe('ValidationException');
    const removed = await sdk.send(
      new RemoveRegionsFromReplicationCommand({
        SecretId: 'repl/sim',
        RemoveReplicaRegions: ['eu-west-1', 'us-east-1'],
      }),
    );
    expect(removed.ReplicationStatus).toEqual([]);
    const deleted = await sdk.send(new DeleteSecretCommand({ SecretId: 'repl/sim', RecoveryWindowInDays: 7 }));
    expect(deleted.DeletionDate).toBeInstanceOf(Date);
  });

  it('a replica (PrimaryRegion is another Region) takes no change in its own Region', async () => {
    const arn = sim.seed('repl/replica', VALUE, { replicaOf: 'us-east-1' });
    expect(arn).toContain(`:secretsmanager:${sim.region}:`);
    const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'repl/replica' }));
    expect(d.PrimaryRegion).toBe('us-east-1');
    for (const p of [
      sdk.send(new DeleteSecretCommand({ SecretId: 'repl/replica', ForceDeleteWithoutRecovery: true })),
      sdk.send(new PutSecretValueCommand({ SecretId: 'repl/replica', SecretString: 'x' })),
      sdk.send(
        new RemoveRegionsFromReplicationCommand({ SecretId: 'repl/replica', RemoveReplicaRegions: [sim.region] }),
      ),
    ]) {
      expect(await awsError(p)).toEqual({
        name: 'InvalidParameterException',
        message: "Operation not permitted on a replica secret. Call must be made in primary secret's region.",
      });
    }
    expect(sim.has('repl/replica')).toBe(true);
  });
});

describe('secrets_delete, secrets_put and secrets_rotate on multi-Region secrets (through the MCP client)', () => {
  it('a replica is refused before confirmation, naming its primary Region and what to run there', async () => {
    sim.seed('repl/replica-tool', VALUE, { replicaOf: 'us-east-1' });
    const from = sim.control.operations.length;
    for (const b of [bin, open]) {
      const del = await b.call('secrets_delete', { name: 'repl/replica-tool', recoveryWindowDays: 7 });
      expect(del.isError).toBe(true);
      expect(del.text).toMatch(
        /^ERR_CONFLICT: secret "repl\/replica-tool" is a replica of the primary secret in us-east-1/,
      );
      expect(del.text).toContain(
        `aws secretsmanager remove-regions-from-replication --region us-east-1 --secret-id repl/replica-tool --remove-replica-regions ${sim.region}`,
      );
      expect((del.raw as { _meta?: Record<string, unknown> })._meta?.['ravenhelm/confirmation']).toBeUndefined();
      const put = await b.call('secrets_put', { name: 'repl/replica-tool', value: 'Other-Value-31!x', mode: 'update' });
      expect(put.text).toMatch(
        /^ERR_CONFLICT: secret "repl\/replica-tool" is a replica of the primary secret in us-east-1/,
      );
      const rot = await b.call('secrets_rotate', { name: 'repl/replica-tool' });
      expect(rot.text).toMatch(
        /^ERR_CONFLICT: secret "repl\/replica-tool" is a replica of the primary secret in us-east-1/,
      );
    }
    const writes = sim.control.operations.slice(from).filter((o) => o === 'DeleteSecret' || o === 'PutSecretValue');
    expect(writes).toEqual([]);
    expect(sim.valueOf('repl/replica-tool')).toBe(VALUE);
  });

  it('replicas added between the plan and the confirmed call: the refusal says replicas, not a wrong argument', async () => {
    sim.seed('repl/late', VALUE);
    const plan = await bin.call('secrets_delete', { name: 'repl/late', recoveryWindowDays: 7 });
    const token = (plan.raw as { _meta?: Record<string, { token?: string }> })._meta?.['ravenhelm/confirmation']?.token;
    expect(token, plan.text).toBeTruthy();
    // the confirmed call checks again (the plan runs again); another operator replicates it just before DeleteSecret
    sim.control.beforeNext = { operation: 'DeleteSecret', run: () => sim.replicate('repl/late', ['eu-west-1']) };
    const r = await bin.call('secrets_delete', { name: 'repl/late', recoveryWindowDays: 7, confirmationToken: token });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^ERR_CONFLICT: could not delete secret "repl\/late": InvalidParameterException/);
    expect(r.text).toContain('remove-regions-from-replication');
    expect(sim.has('repl/late')).toBe(true);
  });

  it('never shows a value', () => {
    for (const b of [bin, open]) {
      assertNowhere([VALUE], { results: b.results(), stderr: b.stderr(), audit: b.auditText() });
    }
  });
});

describe('replication status, restore and Regions', () => {
  const OTHER = sim.region === 'us-west-2' ? 'ap-south-1' : 'us-west-2';
  beforeAll(() => {
    sim.seed('rs/primary', VALUE, { replicas: ['eu-west-1', 'us-east-1', 'ap-south-1'] });
    sim.replicaStatus('rs/primary', 'us-east-1', 'Failed', 'Secret with this name already exists in this region');
    sim.replicaStatus('rs/primary', 'ap-south-1', 'InProgress');
    sim.seed('rs/replica', VALUE, { replicaOf: 'us-east-1' });
    sim.seed('rs/plain', VALUE);
  });

  describe('replica statuses, RestoreSecret and ARNs of other Regions, through @aws-sdk/client-secrets-manager', () => {
    it('reports each replica with its own status; StatusMessage and LastAccessedDate only when there is one', async () => {
      const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'rs/primary' }));
      expect(d.PrimaryRegion).toBe(sim.region);
      expect(d.ReplicationStatus).toEqual([
        {
          Region: 'eu-west-1',
          KmsKeyId: 'alias/aws/secretsmanager',
          Status: 'InSync',
          StatusMessage: 'Replication succeeded',
        },
        {
          Region: 'us-east-1',
          KmsKeyId: 'alias/aws/secretsmanager',
          Status: 'Failed',
          StatusMessage: 'Secret with this name already exists in this region',
        },
        { Region: 'ap-south-1', KmsKeyId: 'alias/aws/secretsmanager', Status: 'InProgress' },
      ]);
      const plain = await sdk.send(new DescribeSecretCommand({ SecretId: 'rs/plain' }));
      expect(plain.ReplicationStatus).toBeUndefined();
      // a ListSecrets entry has no ReplicationStatus; a replica's names its primary Region (SecretListEntry)
      const page = await sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['rs/replica'] }] }));
      expect(page.SecretList?.[0]?.PrimaryRegion).toBe('us-east-1');
    });

    it('RestoreSecret on a replica is refused as any change in its Region is', async () => {
      expect(await awsError(sdk.send(new RestoreSecretCommand({ SecretId: 'rs/replica' })))).toEqual({
        name: 'InvalidParameterException',
        message: "Operation not permitted on a replica secret. Call must be made in primary secret's region.",
      });
      // a primary not scheduled for deletion still restores (nothing to cancel)
      const ok = await sdk.send(new RestoreSecretCommand({ SecretId: 'rs/plain' }));
      expect(ok.Name).toBe('rs/plain');
    });

    it("an ARN naming another Region is not found: the service answers for its own Region, not the ARN's", async () => {
      const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'rs/plain' }));
      const arn = d.ARN as string;
      expect(arn.split(':')[3]).toBe(sim.region);
      const elsewhere = arn.replace(`:${sim.region}:`, `:${OTHER}:`);
      for (const p of [
        sdk.send(new DescribeSecretCommand({ SecretId: elsewhere })),
        sdk.send(new GetSecretValueCommand({ SecretId: elsewhere })),
        sdk.send(new DescribeSecretCommand({ SecretId: elsewhere.slice(0, -7) })), // partial ARN
      ]) {
        expect(await awsError(p)).toEqual({
          name: 'ResourceNotFoundException',
          message: "Secrets Manager can't find the specified secret.",
        });
      }
      expect((await sdk.send(new DescribeSecretCommand({ SecretId: arn }))).Name).toBe('rs/plain');
    });
  });

  describe('secrets_describe and secrets_list show replication (through the MCP client)', () => {
    it('a primary: its Region, each replica with status and message, and a failed replica said plainly', async () => {
      const r = await bin.call('secrets_describe', { name: 'rs/primary' });
      expect(r.isError, r.text).toBe(false);
      expect(r.structured?.replication).toMatchObject({
        primary: sim.region,
        replicas: [
          { region: 'eu-west-1', status: 'InSync', message: 'Replication succeeded' },
          { region: 'us-east-1', status: 'Failed', message: 'Secret with this name already exists in this region' },
          { region: 'ap-south-1', status: 'InProgress' },
        ],
      });
      expect(r.structured?.replication.replicas[2]).not.toHaveProperty('message');
      expect(r.structured?.replication.note).toMatch(/REPLICATION FAILED to us-east-1: readers there get an old value/);
      expect(r.structured?.replication.note).toMatch(/ap-south-1 \(InProgress\) is not in sync yet/);
      expect(r.text).toContain('REPLICATION FAILED to us-east-1');
    });

    it('a replica: the Region of its primary, in the description and in the listing', async () => {
      const r = await bin.call('secrets_describe', { name: 'rs/replica' });
      expect(r.structured?.replication).toEqual({
        primary: 'us-east-1',
        note: 'this is a replica of the primary in us-east-1: its value and metadata come from there, and changes are made there.',
      });
      const listed = await bin.call('secrets_list', { namePrefix: 'rs/' });
      const rows = Object.fromEntries(
        ((listed.structured?.secrets ?? []) as { name: string }[]).map((s) => [s.name, s]),
      );
      expect(rows['rs/replica']).toMatchObject({ replicaOf: 'us-east-1' });
      expect(rows['rs/primary']).not.toHaveProperty('replicaOf');
      expect(rows['rs/plain']).not.toHaveProperty('replicaOf');
    });

    it('a secret neither replicated nor a replica shows no replication at all', async () => {
      const r = await bin.call('secrets_describe', { name: 'rs/plain' });
      expect(r.isError, r.text).toBe(false);
      expect(r.structured).not.toHaveProperty('replication');
    });
  });

  describe('restore and new values on multi-Region secrets (through the MCP client)', () => {
    it('secrets_restore of a replica is a conflict naming its primary, not a wrong argument', async () => {
      const r = await bin.call('secrets_restore', { name: 'rs/replica' });
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/^ERR_CONFLICT: secret "rs\/replica" is a replica of the primary secret in us-east-1/);
      expect(r.text).toContain('nothing to restore');
    });

    it('the plans of secrets_put and secrets_rotate say where the new value goes, and where it does not', async () => {
      const put = await bin.call('secrets_put', { name: 'rs/primary', value: 'Put-Value-9f1e-X!', mode: 'update' });
      expect(put.isError).toBe(true); // the plan, asking for confirmation
      expect(put.text).toContain('the new value replicates to eu-west-1, ap-south-1');
      expect(put.text).toContain('replication to us-east-1 has FAILED');
      const rot = await bin.call('secrets_rotate', { name: 'rs/primary' });
      expect(rot.text).toContain('the new value replicates to eu-west-1, ap-south-1');
      expect(rot.text).toContain('replication to us-east-1 has FAILED');
      expect(sim.valueOf('rs/primary')).toBe(VALUE);
    });
  });

  describe('an ARN of another Region than the server reads (through the MCP client)', () => {
    it('the not-found error names both Regions and what to do', async () => {
      const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'rs/plain' }));
      const arn = d.ARN as string;
      const elsewhere = arn.replace(`:${sim.region}:`, `:${OTHER}:`);
      for (const [tool, args] of [
        ['secrets_describe', { name: elsewhere }],
        ['secrets_get', { name: elsewhere }],
        ['secrets_restore', { name: elsewhere }],
      ] as const) {
        const r = await open.call(tool, args);
        expect(r.isError, `${tool}: ${r.text}`).toBe(true);
        expect(r.text).toMatch(/^ERR_NOT_FOUND: could not [a-z]+ secret .*ResourceNotFoundException/);
        expect(r.text).toContain(
          `the ARN names Region ${OTHER}, but this server reads Secrets Manager in ${sim.region} (its AWS_REGION or backend.region)`,
        );
        expect(r.text).toContain(`use a server configured for ${OTHER}`);
        expect(r.text).toContain(`the replica's ARN ${arn}`);
      }
    });

    it('an ARN of its own Region that names no secret gets no Region note', async () => {
      const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'rs/plain' }));
      const missing = (d.ARN as string).replace('rs/plain', 'rs/none');
      const r = await open.call('secrets_describe', { name: missing });
      expect(r.text).toMatch(/^ERR_NOT_FOUND/);
      expect(r.text).not.toContain('names Region');
    });

    it('never shows a value', () => {
      for (const b of [bin, open]) {
        assertNowhere([VALUE], { results: b.results(), stderr: b.stderr(), audit: b.auditText() });
      }
    });
  });
});
