import {
  DescribeSecretCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { SecretsBackend } from '@ravenhelm/mcp-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { awsError, policyFor, type SecretsBin, sdkFor, startBin } from './harness.js';

// Two identical secrets_put calls at once must leave one new version, not two: with two, AWSPREVIOUS lands on a
// copy of the new value and the value before it loses its label (out of reach of a rollback).
const sim = new SecretsManagerSimulator();
let sdk: SecretsManagerClient;
let bin: SecretsBin;
const OLD = 'Idem-Old-Value-9f3e2a!';
const NEW = 'Idem-New-Value-51c7bd!';

beforeAll(async () => {
  await sim.start();
  sdk = sdkFor(sim);
  bin = await startBin({ sim, policy: policyFor({ confirm: false, revealTo: ['ops'] }) });
}, 60_000);
afterAll(async () => {
  sdk.destroy();
  await bin?.close();
  await sim.close();
});

describe('ClientRequestToken idempotency (API reference, PutSecretValue ClientRequestToken)', () => {
  it('the simulator: same token + same value makes no new version; same token + other value is ResourceExistsException', async () => {
    sim.seed('idem/sim', OLD);
    const token = 'a1b2c3d4-0000-4000-8000-000000000001';
    const first = await sdk.send(
      new PutSecretValueCommand({ SecretId: 'idem/sim', SecretString: NEW, ClientRequestToken: token }),
    );
    const again = await sdk.send(
      new PutSecretValueCommand({ SecretId: 'idem/sim', SecretString: NEW, ClientRequestToken: token }),
    );
    expect(first.VersionId).toBe(token);
    expect(again.VersionId).toBe(token);
    const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'idem/sim' }));
    expect(Object.keys(d.VersionIdsToStages ?? {})).toHaveLength(2);
    expect(
      await awsError(
        sdk.send(new PutSecretValueCommand({ SecretId: 'idem/sim', SecretString: 'other', ClientRequestToken: token })),
      ),
    ).toMatchObject({ name: 'ResourceExistsException' });
    expect(sim.valueOf('idem/sim')).toBe(NEW);
    expect(sim.valueOf('idem/sim', 'AWSPREVIOUS')).toBe(OLD);
  });

  it('two identical concurrent secrets_put calls write one version; AWSPREVIOUS keeps the value before', async () => {
    sim.seed('idem/put', OLD);
    const before = Object.keys(sim.stagesOf('idem/put'));
    // both calls read AWSCURRENT before either writes
    sim.control.delayMs = 150;
    const [a, b] = await Promise.all([
      bin.call('secrets_put', { name: 'idem/put', value: NEW, mode: 'update' }),
      bin.call('secrets_put', { name: 'idem/put', value: NEW, mode: 'update' }),
    ]).finally(() => {
      sim.control.delayMs = 0;
    });
    expect(a.isError, a.text).toBe(false);
    expect(b.isError, b.text).toBe(false);
    expect(a.structured?.versionId).toBe(b.structured?.versionId);
    const stages = sim.stagesOf('idem/put');
    expect(Object.keys(stages)).toHaveLength(2);
    expect(stages[before[0] as string]).toEqual(['AWSPREVIOUS']);
    expect(sim.valueOf('idem/put')).toBe(NEW);
    expect(sim.valueOf('idem/put', 'AWSPREVIOUS')).toBe(OLD);
  });

  it('the same value stored again after another value makes a new current version (the token is per base version)', async () => {
    sim.seed('idem/abA', OLD);
    const first = await bin.call('secrets_put', { name: 'idem/abA', value: NEW, mode: 'update' });
    await bin.call('secrets_put', { name: 'idem/abA', value: 'Idem-Between-Value-0c1!', mode: 'update' });
    const back = await bin.call('secrets_put', { name: 'idem/abA', value: NEW, mode: 'update' });
    expect(back.isError, back.text).toBe(false);
    expect(back.structured?.versionId).not.toBe(first.structured?.versionId);
    expect(sim.valueOf('idem/abA')).toBe(NEW);
    expect(sim.valueOf('idem/abA', 'AWSPREVIOUS')).toBe('Idem-Between-Value-0c1!');
  });

  it('a value put back on a base version that became current again is made current (the old version is not left unlabelled)', async () => {
    const arn = sim.seed('idem/rollback', OLD);
    expect(arn).toMatch(/^arn:/);
    const base = Object.keys(sim.stagesOf('idem/rollback'))[0] as string;
    await bin.call('secrets_put', { name: 'idem/rollback', value: NEW, mode: 'update' });
    // an operator rolls back: AWSCURRENT moves to the first version again
    sim.putValue('idem/rollback', 'Idem-Other-Writer-77!');
    const holder = Object.entries(sim.stagesOf('idem/rollback')).find(([, s]) => s.includes('AWSCURRENT'))?.[0];
    await sdk.send(
      new UpdateSecretVersionStageCommand({
        SecretId: 'idem/rollback',
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: base,
        RemoveFromVersionId: holder,
      }),
    );
    expect(sim.valueOf('idem/rollback')).toBe(OLD);
    const again = await bin.call('secrets_put', { name: 'idem/rollback', value: NEW, mode: 'update' });
    expect(again.isError, again.text).toBe(false);
    expect(sim.valueOf('idem/rollback')).toBe(NEW);
  });

  it('two identical concurrent upserts of a new secret: one creates it, the other finds the value stored', async () => {
    sim.control.delayMs = 150;
    const [a, b] = await Promise.all([
      bin.call('secrets_put', { name: 'idem/new', value: NEW }),
      bin.call('secrets_put', { name: 'idem/new', value: NEW }),
    ]).finally(() => {
      sim.control.delayMs = 0;
    });
    expect(a.isError, a.text).toBe(false);
    expect(b.isError, b.text).toBe(false);
    expect(Object.keys(sim.stagesOf('idem/new'))).toHaveLength(1);
    expect([a.structured?.created, b.structured?.created].sort()).toEqual([false, true]);
  });

  it('the token depends on the server-held key: without it, nobody can test a guessed value against a VersionId', async () => {
    const saved = { ...process.env };
    // the SDK's own credential chain, as the server uses it: the simulator's keys, nothing from this machine
    Object.assign(process.env, sim.sdkEnv('/nonexistent'));
    const backend = (key: string) =>
      new SecretsBackend({
        region: sim.region,
        endpoint: sim.url,
        timeoutMs: 5000,
        maxAttempts: 1,
        requestTokenKey: Buffer.from(key),
      });
    const [k1, k2] = [backend('key-one-0123456789abcdef'), backend('key-two-0123456789abcdef')];
    const signal = new AbortController().signal;
    const name = 'idem/keyed';
    sim.seed(name, OLD);
    const base = Object.keys(sim.stagesOf(name))[0] as string;
    /** Stores NEW over `base` (AWSCURRENT moved back to it first) and returns the ClientRequestToken sent. */
    const tokenOf = async (sm: SecretsBackend) => {
      const holder = Object.entries(sim.stagesOf(name)).find(([, st]) => st.includes('AWSCURRENT'))?.[0];
      if (holder !== base) {
        await sdk.send(
          new UpdateSecretVersionStageCommand({
            SecretId: name,
            VersionStage: 'AWSCURRENT',
            MoveToVersionId: base,
            RemoveFromVersionId: holder,
          }),
        );
      }
      const from = sim.control.requests.length;
      await sm.store(name, NEW, 'update', undefined, signal);
      const put = sim.control.requests
        .slice(from)
        .find((q) => q.headers['x-amz-target'] === 'secretsmanager.PutSecretValue');
      return String(JSON.parse(put?.body ?? '{}').ClientRequestToken);
    };
    try {
      const one = await tokenOf(k1);
      expect(one).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      // same secret, same base version, same value: the same key gives the same token, another key another
      expect(await tokenOf(k1)).toBe(one);
      expect(await tokenOf(k2)).not.toBe(one);
      expect(sim.valueOf(name)).toBe(NEW);
    } finally {
      k1.destroy();
      k2.destroy();
      process.env = saved;
    }
  });
});
