import { CreateSecretCommand, DeleteSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, policyFor, type SecretsBin, sdkFor, startBin } from './harness.js';

// A confirmation binds the plan people saw; the confirmed call plans again and runs only when the plan is the same.
// secrets_delete's plan named the secret by name only, so a secret deleted and created again under that name between
// the plan and the confirmation (another operator, a pipeline) read the same, and the confirmation deleted the new
// secret, one nobody had seen. Found in the December 2026 attack round.
const sim = new SecretsManagerSimulator();
let bin: SecretsBin;
let sdk: SecretsManagerClient;
const OLD = 'value-ct-old-Aa1!xyzxyzxyz';
const FRESH = 'value-ct-fresh-Aa1!xyzxyzxy';

beforeAll(async () => {
  await sim.start();
  sim.seed('ct/recreated', OLD);
  sim.seed('ct/kept', OLD);
  sdk = sdkFor(sim);
  bin = await startBin({ sim, policy: policyFor({ confirm: true, allowForceDelete: true }) });
}, 60_000);

afterAll(async () => {
  sdk?.destroy();
  await bin?.close();
  await sim.close();
});

const tokenOf = (raw: unknown) =>
  (raw as { _meta?: Record<string, { token?: string }> })._meta?.['ravenhelm/confirmation']?.token;

describe('secrets_delete confirmed after the secret was replaced by another of the same name', () => {
  it('deletes nothing, and shows the plan for the secret there now', async () => {
    const first = await bin.call('secrets_delete', { name: 'ct/recreated' });
    const token = tokenOf(first.raw);
    expect(token).toBeDefined();
    const before = sim.control.operations.filter((o) => o === 'DescribeSecret').length;
    await sdk.send(new DeleteSecretCommand({ SecretId: 'ct/recreated', ForceDeleteWithoutRecovery: true }));
    await sdk.send(new CreateSecretCommand({ Name: 'ct/recreated', SecretString: FRESH }));
    const r = await bin.call('secrets_delete', { name: 'ct/recreated', confirmationToken: token });
    expect(sim.control.operations.filter((o) => o === 'DescribeSecret').length).toBeGreaterThan(before);
    const listed = await bin.call('secrets_list', { namePrefix: 'ct/recreated', includeDeleted: true });
    expect(listed.structured?.secrets).toHaveLength(1);
    expect(listed.structured?.secrets?.[0]?.deleted).toBeUndefined();
    expect(sim.valueOf('ct/recreated')).toBe(FRESH);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      /^ERR_CONFLICT: nothing was changed: what secrets_delete would do now differs from the plan/,
    );
  });

  it('the same secret, confirmed, is scheduled for deletion by the ARN the plan showed', async () => {
    const first = await bin.call('secrets_delete', { name: 'ct/kept', recoveryWindowDays: 7 });
    expect(first.text).toMatch(/arn:aws:secretsmanager:[^:]+:\d{12}:secret:ct\/kept-[A-Za-z0-9]{6}/);
    const r = await bin.call('secrets_delete', {
      name: 'ct/kept',
      recoveryWindowDays: 7,
      confirmationToken: tokenOf(first.raw),
    });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured).toMatchObject({ name: 'ct/kept', recoverable: true });
    const listed = await bin.call('secrets_list', { namePrefix: 'ct/kept', includeDeleted: true });
    expect(listed.structured?.secrets?.[0]?.deleted).toBeDefined();
  });

  it('no value in any answer, log or audit record', () => {
    assertNowhere([OLD, FRESH], { results: bin.results(), stderr: bin.stderr(), audit: bin.auditText() });
  });
});
