import {
  DeleteSecretCommand,
  DescribeSecretCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RemoveRegionsFromReplicationCommand,
  ReplicateSecretToRegionsCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, awsError, policyFor, type SecretsBin, sdkFor, startBin } from './harness.js';

// Multi-Region secrets. DeleteSecret refuses a primary that still has replicas and any change made in a replica's
// Region, with InvalidParameterException (the service's wording, as real accounts logged it:
// gruntwork-io/cloud-nuke#435 and rebuy-de/aws-nuke#1127): "You can't delete secret <ARN> that still has replica
// regions [..]." and "Operation not permitted on a replica secret. Call must be made in primary secret's region.".
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
