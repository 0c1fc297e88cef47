import {
  DescribeSecretCommand,
  RestoreSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { policyFor, type SecretsBin, sdkFor, startBin } from './harness.js';

// RestoreSecret of a secret that is not scheduled for deletion: the API reference names no error for it, and the
// service answers it as a success with the secret's ARN and Name (moto, whose Secrets Manager tests are checked
// against AWS, asserts exactly that: getmoto/moto tests/test_secretsmanager/test_secretsmanager.py,
// test_restore_secret_that_is_not_deleted). The answer carries nothing that says whether a deletion was cancelled:
// secrets_restore must not claim one that did not happen.
const sim = new SecretsManagerSimulator();
let sdk: SecretsManagerClient;
let bin: SecretsBin;
let open: SecretsBin;

beforeAll(async () => {
  await sim.start();
  sdk = sdkFor(sim);
  sim.seed('rst/live', 'Restore-Value-1!aaaa');
  sim.seed('rst/sched', 'Restore-Value-2!bbbb');
  [bin, open] = await Promise.all([
    startBin({ sim }),
    startBin({ sim, policy: policyFor({ confirm: false, revealTo: ['ops'] }) }),
  ]);
}, 60_000);
afterAll(async () => {
  sdk.destroy();
  await Promise.all([bin?.close(), open?.close()]);
  await sim.close();
});

describe('RestoreSecret of a secret not scheduled for deletion', () => {
  it('the simulator answers success with ARN and Name and changes nothing (through @aws-sdk/client-secrets-manager)', async () => {
    const before = await sdk.send(new DescribeSecretCommand({ SecretId: 'rst/live' }));
    const out = await sdk.send(new RestoreSecretCommand({ SecretId: 'rst/live' }));
    expect(out).toMatchObject({ ARN: before.ARN, Name: 'rst/live' });
    const after = await sdk.send(new DescribeSecretCommand({ SecretId: 'rst/live' }));
    expect(after.DeletedDate).toBeUndefined();
    expect(after.LastChangedDate).toEqual(before.LastChangedDate);
  });

  it('secrets_restore says nothing was restored, and its audit outcome records a no-op', async () => {
    const r = await bin.call('secrets_restore', { name: 'rst/live' });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured).toMatchObject({ name: 'rst/live', restored: false });
    expect(r.structured?.note).toMatch(/not scheduled for deletion: nothing to restore, nothing was changed/);
    const outcome = bin
      .auditText()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.tool === 'secrets_restore' && e.outcome === 'success')
      .at(-1);
    expect(outcome?.result).toEqual({ kind: 'noop', reason: 'secret not scheduled for deletion' });
  });

  it('a secret scheduled for deletion is restored and says so, with no note and no no-op', async () => {
    await open.call('secrets_delete', { name: 'rst/sched', recoveryWindowDays: 7 });
    const r = await open.call('secrets_restore', { name: 'rst/sched' });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured).toEqual({ name: 'rst/sched', restored: true });
    const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'rst/sched' }));
    expect(d.DeletedDate).toBeUndefined();
    const outcome = open
      .auditText()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e.tool === 'secrets_restore' && e.outcome === 'success')
      .at(-1);
    expect(outcome).toBeDefined();
    expect(outcome).not.toHaveProperty('result');
  });
});
