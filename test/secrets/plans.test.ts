import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, type CallResult, policyFor, type SecretsBin, startBin } from './harness.js';

// Under the confirm policy, the plan of secrets_put and secrets_rotate reads the secret: a call the secret's
// state will refuse (rotation by a Lambda function or another service, a rotation in progress, scheduled for
// deletion, a JSON secret without jsonKey) is refused at once, before anyone is asked to confirm; a plan that is
// shown names the version it replaces, so a confirmation is of that state. secrets_put without the confirm
// policy refuses the same secrets (a value stored there would never reach the database).
const sim = new SecretsManagerSimulator();
let bin: SecretsBin;
let open: SecretsBin;
let sdk: SecretsManagerClient;
const LAMBDA = 'arn:aws:lambda:eu-north-1:123456789012:function:rotate-orders-db';
const RDS_NAME = 'rds!db-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const NEW = 'value-p-new-Aa1!xyzxyzxyz';
const OLD = 'value-p-old-Aa1!xyzxyzxyz';
const OTHER = 'value-p-other-Aa1!xyzxyzxy';
const PENDING = 'value-p-pending-Aa1!xyzxyz';
const values = [NEW, OLD, OTHER, PENDING, 'value-p-rds-Aa1!xyzxyz'];

beforeAll(async () => {
  await sim.start();
  sim.seed('p/lambda', OLD, { rotatedDaysAgo: 3, rotation: { lambdaArn: LAMBDA, afterDays: 30 } });
  sim.seed(RDS_NAME, JSON.stringify({ username: 'admin', password: 'value-p-rds-Aa1!xyzxyz' }), {
    owningService: 'rds',
    rotation: { schedule: 'rate(7 days)' },
  });
  sim.seed('p/pending', OLD);
  sim.seed('p/json', JSON.stringify({ user: 'app', password: OLD }));
  sim.seed('p/raced', OLD);
  sim.seed('p/deleted', OLD);
  sim.seed('p/exists', OLD);
  sdk = new SecretsManagerClient({
    endpoint: sim.url,
    region: sim.region,
    credentials: { accessKeyId: sim.accessKeyId, secretAccessKey: sim.secretAccessKey },
    maxAttempts: 1,
  });
  // what a rotation function's createSecret step leaves while it runs
  await sdk.send(
    new PutSecretValueCommand({ SecretId: 'p/pending', SecretString: PENDING, VersionStages: ['AWSPENDING'] }),
  );
  bin = await startBin({ sim, policy: policyFor({ revealTo: ['ops'] }) });
  open = await startBin({ sim, policy: policyFor({ confirm: false }) });
}, 60_000);

afterAll(async () => {
  sdk?.destroy();
  await bin?.close();
  await open?.close();
  await sim.close();
});

const writes = () =>
  sim.control.operations.filter((o) => ['PutSecretValue', 'UpdateSecretVersionStage', 'CreateSecret'].includes(o))
    .length;
const tokenOf = (r: CallResult) =>
  (r.raw as { _meta?: Record<string, { token?: string; plan?: string }> })._meta?.['ravenhelm/confirmation'];

/** The first call of a confirm-policy tool: refused outright, with no plan and no token to confirm. */
async function refusedAtOnce(name: string, args: Record<string, unknown>): Promise<string> {
  const w = writes();
  const r = await bin.call(name, args);
  expect(r.isError).toBe(true);
  expect(tokenOf(r), r.text).toBeUndefined();
  expect(r.text).not.toContain('ERR_CONFIRMATION_REQUIRED');
  expect(writes()).toBe(w);
  return r.text;
}

describe('plans that read the secret', () => {
  it('secrets_put on a secret a Lambda function rotates is refused before confirmation, and without the confirm policy', async () => {
    const text = await refusedAtOnce('secrets_put', { name: 'p/lambda', value: NEW });
    expect(text).toContain(
      `ERR_CONFLICT: secret "p/lambda" has rotation turned on, by the Lambda function ${LAMBDA}, which also changes the credential on the database or service`,
    );
    expect(text).toContain('aws secretsmanager rotate-secret --secret-id p/lambda');
    expect(text).toContain('aws secretsmanager cancel-rotate-secret --secret-id p/lambda');
    const w = writes();
    const direct = await open.call('secrets_put', { name: 'p/lambda', value: NEW, mode: 'update' });
    expect(direct.isError).toBe(true);
    expect(direct.text).toContain('has rotation turned on, by the Lambda function');
    expect(writes()).toBe(w);
    expect(sim.valueOf('p/lambda')).toBe(OLD);
  });

  it('secrets_put on a secret RDS manages is refused before confirmation, naming RDS and its own way', async () => {
    const text = await refusedAtOnce('secrets_put', { name: RDS_NAME, value: NEW });
    expect(text).toContain(`ERR_CONFLICT: secret "${RDS_NAME}" is managed by rds`);
    expect(text).toContain('--rotate-master-user-password --apply-immediately');
  });

  it('secrets_put while a rotation runs is refused: the rotation would make its own version AWSCURRENT', async () => {
    const text = await refusedAtOnce('secrets_put', { name: 'p/pending', value: NEW, mode: 'update' });
    expect(text).toMatch(
      /^ERR_CONFLICT: secret "p\/pending" has a rotation in progress: version [0-9a-f-]{36} holds AWSPENDING but not AWSCURRENT, and when it finishes it makes that version AWSCURRENT/,
    );
    expect(sim.valueOf('p/pending')).toBe(OLD);
  });

  it('secrets_rotate refusals (Lambda, JSON without jsonKey) come before confirmation', async () => {
    expect(await refusedAtOnce('secrets_rotate', { name: 'p/lambda' })).toContain(
      'has rotation turned on, by the Lambda function',
    );
    expect(await refusedAtOnce('secrets_rotate', { name: 'p/json' })).toContain(
      'ERR_CONFLICT: secret "p/json" is a JSON object (keys: user, password); give jsonKey to rotate one key',
    );
    expect(await refusedAtOnce('secrets_rotate', { name: 'p/json', jsonKey: 'pass' })).toContain('has no key "pass"');
  });

  it('secrets_put by mode: create of an existing secret, update of a missing one, a secret scheduled for deletion', async () => {
    expect(await refusedAtOnce('secrets_put', { name: 'p/exists', value: NEW, mode: 'create' })).toContain(
      'ERR_CONFLICT: secret "p/exists" already exists; mode "update" (or "upsert") stores a new value in it',
    );
    expect(await refusedAtOnce('secrets_put', { name: 'p/absent', value: NEW, mode: 'update' })).toMatch(
      /^ERR_NOT_FOUND: no secret "p\/absent"/,
    );
    const del = await bin.confirmed('secrets_delete', { name: 'p/deleted', recoveryWindowDays: 7 });
    expect(del.isError, del.text).toBe(false);
    expect(await refusedAtOnce('secrets_put', { name: 'p/deleted', value: NEW })).toMatch(
      /^ERR_CONFLICT: secret "p\/deleted" is scheduled for deletion \(since \d{4}-.*\): secrets_restore cancels that/,
    );
    expect(await refusedAtOnce('secrets_rotate', { name: 'p/deleted' })).toContain('is scheduled for deletion');
    expect(sim.has('p/absent')).toBe(false);
    // a name the service would refuse to create (CreateSecret Name: ASCII letters, digits and /_+=.@-)
    expect(await refusedAtOnce('secrets_put', { name: 'p/my!secret', value: NEW })).toMatch(
      /^ERR_INVALID_INPUT: no secret "p\/my!secret" exists, and it cannot be created by that name: a secret name is 1-512 ASCII letters, digits and \/_\+=\.@-/,
    );
  });

  it('the plan names the version it replaces; a confirmation of it does not hold once another writer changed the secret', async () => {
    const current = Object.keys(sim.stagesOf('p/raced'))[0] as string;
    const first = await bin.call('secrets_put', { name: 'p/raced', value: NEW, mode: 'update' });
    const confirmation = tokenOf(first);
    expect(confirmation?.plan).toBe(
      `Store the given value in secret "p/raced" as its new AWSCURRENT version; version ${current} (AWSCURRENT now) becomes AWSPREVIOUS, unless it already holds this value`,
    );
    // someone else stores a value before the confirmation comes back
    await sdk.send(new PutSecretValueCommand({ SecretId: 'p/raced', SecretString: OTHER }));
    const w = writes();
    const second = await bin.call('secrets_put', {
      name: 'p/raced',
      value: NEW,
      mode: 'update',
      confirmationToken: confirmation?.token,
    });
    expect(second.isError).toBe(true);
    expect(second.text).toMatch(/^ERR_CONFLICT: nothing was changed: what secrets_put would do now differs/);
    expect(writes()).toBe(w);
    expect(sim.valueOf('p/raced')).toBe(OTHER);
    // confirmed again, against the state as it is now
    const again = await bin.confirmed('secrets_put', { name: 'p/raced', value: NEW, mode: 'update' });
    expect(again.isError, again.text).toBe(false);
    expect(sim.valueOf('p/raced')).toBe(NEW);
    expect(sim.valueOf('p/raced', 'AWSPREVIOUS')).toBe(OTHER);
  });

  it('a rotate plan names the version that becomes AWSPREVIOUS', async () => {
    const current = Object.keys(sim.stagesOf('p/exists'))[0] as string;
    const r = await bin.call('secrets_rotate', { name: 'p/exists', length: 20 });
    expect(tokenOf(r)?.plan).toBe(
      `Rotate secret "p/exists": a new 20-char value (lower, upper, digits, symbols) staged AWSPENDING, then AWSCURRENT moves to it from version ${current}, which becomes AWSPREVIOUS`,
    );
  });

  it('secrets_delete refuses before confirmation: no such secret, a second recovery window, force when policy has it off', async () => {
    expect(await refusedAtOnce('secrets_delete', { name: 'p/typo' })).toMatch(
      /^ERR_NOT_FOUND: could not delete secret "p\/typo": ResourceNotFoundException.*secrets_list/,
    );
    expect(await refusedAtOnce('secrets_delete', { name: 'p/deleted', recoveryWindowDays: 7 })).toMatch(
      /^ERR_CONFLICT: secret "p\/deleted" is already scheduled for deletion \(since \d{4}-.*\); secrets_restore cancels it\./,
    );
    expect(await refusedAtOnce('secrets_delete', { name: 'p/exists', force: true })).toMatch(
      /^ERR_NOT_ALLOWED: force deletion is off/,
    );
    const deletes = sim.control.operations.filter((o) => o === 'DeleteSecret').length;
    expect(deletes).toBe(1);
    expect(sim.has('p/exists')).toBe(true);
  });

  it('never shows a value', () => {
    for (const b of [bin, open]) {
      assertNowhere(values, { results: b.results(), stderr: b.stderr(), audit: b.auditText() });
    }
  });
});
