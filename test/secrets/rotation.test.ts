import {
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, policyFor, type SecretsBin, startBin } from './harness.js';

// secrets_rotate where rotation belongs to someone else: a Lambda function, the service that owns the secret,
// or a rotation already running. Nothing is stored; the answer says who rotates it and how to start that.
const sim = new SecretsManagerSimulator();
let bin: SecretsBin;
let sdk: SecretsManagerClient;
const LAMBDA = 'arn:aws:lambda:eu-north-1:123456789012:function:rotate-orders-db';
const RDS_NAME = 'rds!db-3f0c1a7e-1b2c-4d5e-8f90-a1b2c3d4e5f6';
const LAMBDA_VALUE = 'value-r-lambda-Aa1!xyzxyz';
const RDS_VALUE = JSON.stringify({ username: 'admin', password: 'value-r-rds-Aa1!xyzxyz' });
const PENDING_OLD = 'value-r-pending-old-Aa1!xyz';
const PENDING_NEW = 'value-r-pending-new-Aa1!xyz';
const HAND_VALUE = 'value-r-hand-Aa1!xyzxyzxyz';
const OVERDUE_VALUE = 'value-r-overdue-Aa1!xyzxyz';
const values = [OVERDUE_VALUE, LAMBDA_VALUE, 'value-r-rds-Aa1!xyzxyz', PENDING_OLD, PENDING_NEW, HAND_VALUE];

beforeAll(async () => {
  await sim.start();
  sim.seed('r/lambda', LAMBDA_VALUE, { rotatedDaysAgo: 10, rotation: { lambdaArn: LAMBDA, afterDays: 30 } });
  sim.seed(RDS_NAME, RDS_VALUE, {
    owningService: 'rds',
    rotation: { schedule: 'rate(7 days)', window: '3h', nextInDays: 2 },
  });
  sim.seed('r/pending', PENDING_OLD);
  // rotation every 30 days, last run 40 days ago: overdue
  sim.seed('r/overdue', OVERDUE_VALUE, {
    createdDaysAgo: 40,
    rotatedDaysAgo: 40,
    rotation: { lambdaArn: LAMBDA, afterDays: 30 },
  });
  sim.seed('r/hand', HAND_VALUE, { rotatedDaysAgo: 40 });
  sdk = new SecretsManagerClient({
    endpoint: sim.url,
    region: sim.region,
    credentials: { accessKeyId: sim.accessKeyId, secretAccessKey: sim.secretAccessKey },
    maxAttempts: 1,
  });
  bin = await startBin({ sim, policy: policyFor({ confirm: false }) });
}, 60_000);

afterAll(async () => {
  sdk?.destroy();
  await bin?.close();
  await sim.close();
});

const writes = () =>
  sim.control.operations.filter((o) => o === 'PutSecretValue' || o === 'UpdateSecretVersionStage').length;

describe('secrets_rotate and rotation that is not ours', () => {
  it('refuses a secret rotated by a Lambda function, naming it and how to start it; stores nothing', async () => {
    const before = sim.stagesOf('r/lambda');
    const w = writes();
    const r = await bin.call('secrets_rotate', { name: 'r/lambda' });
    expect(r.isError).toBe(true);
    expect(r.text).toContain(
      `ERR_CONFLICT: secret "r/lambda" has rotation turned on, by the Lambda function ${LAMBDA}, which also changes the credential on the database or service`,
    );
    expect(r.text).toContain('aws secretsmanager rotate-secret --secret-id r/lambda');
    expect(writes()).toBe(w);
    expect(sim.stagesOf('r/lambda')).toEqual(before);
    expect(sim.valueOf('r/lambda')).toBe(LAMBDA_VALUE);
  });

  it('refuses a secret managed by RDS, naming the service and its own way to rotate', async () => {
    const w = writes();
    const r = await bin.call('secrets_rotate', { name: RDS_NAME, jsonKey: 'password' });
    expect(r.isError).toBe(true);
    expect(r.text).toContain(`ERR_CONFLICT: secret "${RDS_NAME}" is managed by rds`);
    expect(r.text).toContain('--rotate-master-user-password --apply-immediately');
    // "!" is quoted for a shell
    expect(r.text).toContain(`aws secretsmanager rotate-secret --secret-id '${RDS_NAME}'`);
    expect(writes()).toBe(w);
    expect(sim.valueOf(RDS_NAME)).toBe(RDS_VALUE);
  });

  it('refuses while a rotation is in progress (AWSPENDING on another version), naming that version', async () => {
    // what a rotation function's createSecret step does
    const put = await sdk.send(
      new PutSecretValueCommand({ SecretId: 'r/pending', SecretString: PENDING_NEW, VersionStages: ['AWSPENDING'] }),
    );
    const pending = put.VersionId as string;
    const before = sim.stagesOf('r/pending');
    const w = writes();
    const r = await bin.call('secrets_rotate', { name: 'r/pending' });
    expect(r.isError).toBe(true);
    expect(r.text).toContain(
      `ERR_CONFLICT: secret "r/pending" has a rotation in progress: version ${pending} holds AWSPENDING but not AWSCURRENT`,
    );
    expect(r.text).toContain(`--version-stage AWSPENDING --remove-from-version-id ${pending}`);
    expect(writes()).toBe(w);
    expect(sim.stagesOf('r/pending')).toEqual(before);
    expect(sim.valueOf('r/pending', 'AWSPENDING')).toBe(PENDING_NEW);
  });

  it('rotates a secret rotated once with rotation off since, and one whose AWSPENDING is on AWSCURRENT', async () => {
    const d = await bin.call('secrets_describe', { name: 'r/hand' });
    expect(d.structured).toMatchObject({ rotationEnabled: false });
    expect(Date.parse(d.structured?.rotated)).toBeLessThan(Date.now() - 39 * 86_400_000);
    const current = Object.keys(sim.stagesOf('r/hand'))[0] as string;
    // a finished rotation may leave AWSPENDING on the AWSCURRENT version (API reference, RotateSecret)
    await sdk.send(
      new UpdateSecretVersionStageCommand({ SecretId: 'r/hand', VersionStage: 'AWSPENDING', MoveToVersionId: current }),
    );
    const r = await bin.call('secrets_rotate', { name: 'r/hand' });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured?.versions).toEqual({
      [r.structured?.versionId]: ['AWSCURRENT'],
      [current]: ['AWSPREVIOUS'],
    });
    values.push(sim.valueOf('r/hand') as string);
    expect(sim.valueOf('r/hand', 'AWSPREVIOUS')).toBe(HAND_VALUE);
  });

  it('secrets_describe says who rotates a secret, on what schedule and when next; nothing when rotation is off', async () => {
    const lambda = await bin.call('secrets_describe', { name: 'r/lambda' });
    expect(lambda.structured).toMatchObject({
      rotationEnabled: true,
      rotation: { by: LAMBDA, schedule: 'every 30 days' },
    });
    expect(lambda.structured?.managedBy).toBeUndefined();
    // 30 days after the rotation 10 days ago
    const next = Date.parse(lambda.structured?.rotation.next);
    expect(Math.abs(next - (Date.now() + 20 * 86_400_000))).toBeLessThan(60_000);
    const rds = await bin.call('secrets_describe', { name: RDS_NAME });
    expect(rds.structured).toMatchObject({
      managedBy: 'rds',
      rotation: { by: 'rds (managed rotation)', schedule: 'rate(7 days), within 3h' },
    });
    expect(Date.parse(rds.structured?.rotation.next)).toBeGreaterThan(Date.now() + 86_400_000);
    const hand = await bin.call('secrets_describe', { name: 'r/pending' });
    expect(hand.structured?.rotation).toBeUndefined();
  });

  it('store_audit says of a stale secret with rotation on that its rotation is overdue', async () => {
    const a = await bin.call('store_audit', { namePrefix: 'r/overdue', maxAgeDays: 35 });
    expect(a.isError, a.text).toBe(false);
    const stale = a.structured?.findings.find((f: { issue: string }) => f.issue === 'stale');
    expect(stale?.detail).toMatch(
      new RegExp(
        `^40 days > 35; rotation is on \\(by ${LAMBDA}\\) and was due \\d{4}-.*: it is failing or not running; check the function's logs$`,
      ),
    );
  });

  it('never shows a value', () => {
    assertNowhere(values, { results: bin.results(), stderr: bin.stderr(), audit: bin.auditText() });
  });
});
