import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, policyFor, type SecretsBin, sdkFor, startBin } from './harness.js';

// Where a new value goes beyond the secret, said in the answer of secrets_put and secrets_rotate whatever the confirm
// policy (the plan says it only when a plan is shown). Replica Regions (User Guide, "Replicate secrets across
// Regions": a new primary value "propagates" to the replicas) and a replica in another AWS account (User Guide,
// "Replicate AWS Secrets Manager secrets across accounts": "When the secret value in the primary secret changes,
// Secrets Manager propagates the new value to the replica secret"; DescribeSecret CrossAccountReplicas).
const sim = new SecretsManagerSimulator();
let sdk: SecretsManagerClient;
let open: SecretsBin;
let bin: SecretsBin;
const VALUE = 'Notes-Value-77a1c2!x';
const PUT = 'Notes-Put-Value-9f1e-X!';
const XARN = 'arn:aws:secretsmanager:eu-north-1:210987654321:secret:team-b/db-Ab12Cd';

beforeAll(async () => {
  await sim.start();
  sdk = sdkFor(sim);
  for (const name of ['rn/put', 'rn/rot', 'rn/cput', 'rn/crot']) {
    sim.seed(name, VALUE, { replicas: ['eu-west-1', 'us-east-1'] });
    sim.replicaStatus(name, 'us-east-1', 'Failed', 'Secret with this name already exists in this region');
  }
  sim.seed('rn/xacct', VALUE, { crossAccountReplicas: [{ arn: XARN }] });
  sim.seed('rn/plain', VALUE);
  [open, bin] = await Promise.all([
    startBin({ sim, policy: policyFor({ confirm: false, revealTo: ['ops'] }) }),
    startBin({ sim }),
  ]);
}, 60_000);
afterAll(async () => {
  sdk.destroy();
  await Promise.all([open?.close(), bin?.close()]);
  await sim.close();
});

describe('replication in the answers of secrets_put and secrets_rotate', () => {
  it('confirm policy off: secrets_put says where the value replicates, and where replication failed', async () => {
    const r = await open.call('secrets_put', { name: 'rn/put', value: PUT, mode: 'update' });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured?.replication).toContain('the new value replicates to eu-west-1');
    expect(r.structured?.replication).toContain('replication to us-east-1 has FAILED');
    expect(sim.valueOf('rn/put')).toBe(PUT);
  });

  it('confirm policy off: secrets_rotate says it too', async () => {
    const r = await open.call('secrets_rotate', { name: 'rn/rot' });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured?.replication).toContain('the new value replicates to eu-west-1');
    expect(r.structured?.replication).toContain('replication to us-east-1 has FAILED');
  });

  it('confirm policy on: the plan and the answer both say it', async () => {
    for (const [tool, args] of [
      ['secrets_put', { name: 'rn/cput', value: PUT, mode: 'update' }],
      ['secrets_rotate', { name: 'rn/crot' }],
    ] as const) {
      const r = await bin.confirmed(tool, args);
      expect(r.isError, r.text).toBe(false);
      expect(r.structured?.replication, tool).toContain('the new value replicates to eu-west-1');
    }
  });

  it('a secret without replicas has no replication field', async () => {
    const r = await open.call('secrets_put', { name: 'rn/plain', value: PUT, mode: 'update' });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured).not.toHaveProperty('replication');
  });

  it('a cross-account replica: DescribeSecret reports it, and the answer names the other account', async () => {
    const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'rn/xacct' }));
    expect(d.CrossAccountReplicas).toEqual([{ ReplicaSecretARN: XARN, ReplicationStatus: 'InSync' }]);
    const r = await open.call('secrets_put', { name: 'rn/xacct', value: PUT, mode: 'update' });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured?.replication).toContain(`the new value also replicates to AWS account 210987654321 (${XARN})`);
  });

  it('never shows a value', () => {
    for (const b of [open, bin]) {
      assertNowhere([VALUE, PUT], { results: b.results(), stderr: b.stderr(), audit: b.auditText() });
    }
  });
});
