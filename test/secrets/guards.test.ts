import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, type CallResult, policyFor, type SecretsBin, startBin } from './harness.js';

// What the secrets tools refuse to do to a secret whatever the caller asks: turn a binary secret into a string,
// reach the service with a name it refuses, delete a secret another AWS service manages. Through the real bin
// (MCP SDK client) against the simulator, with and without the confirm policy.
const sim = new SecretsManagerSimulator();
let bin: SecretsBin;
let open: SecretsBin;
let sdk: SecretsManagerClient;
const KEYSTORE = 'keystore-bytes-\u00e9-Aa1!xyzxyz';
const NEW = 'value-g-new-Aa1!xyzxyzxyz';
const RDS_NAME = 'rds!db-1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const RDS_VALUE = 'value-g-rds-Aa1!xyzxyzxyz';

beforeAll(async () => {
  await sim.start();
  sim.seed('g/keystore', KEYSTORE, { binary: true });
  sim.seed('g/turned', 'value-g-text-Aa1!xyzxyzxyz');
  sim.seed(RDS_NAME, JSON.stringify({ username: 'admin', password: RDS_VALUE }), { owningService: 'rds' });
  sim.seed('other!managed', 'value-g-other-Aa1!xyzxyzxy', { owningService: 'appflow' });
  sdk = new SecretsManagerClient({
    endpoint: sim.url,
    region: sim.region,
    credentials: { accessKeyId: sim.accessKeyId, secretAccessKey: sim.secretAccessKey },
    maxAttempts: 1,
  });
  bin = await startBin({ sim, policy: policyFor({ revealTo: ['ops'], allowForceDelete: true }) });
  open = await startBin({ sim, policy: policyFor({ confirm: false, allowForceDelete: true }) });
}, 60_000);

afterAll(async () => {
  sdk?.destroy();
  await bin?.close();
  await open?.close();
  await sim.close();
});

const tokenOf = (r: CallResult) =>
  (r.raw as { _meta?: Record<string, { token?: string; plan?: string }> })._meta?.['ravenhelm/confirmation'];
const changes = () =>
  sim.control.operations.filter((o) =>
    ['PutSecretValue', 'UpdateSecret', 'UpdateSecretVersionStage', 'CreateSecret', 'DeleteSecret'].includes(o),
  ).length;

/** A call refused outright: no plan or token to confirm, and nothing changed in the store. */
async function refused(b: SecretsBin, name: string, args: Record<string, unknown>): Promise<string> {
  const before = changes();
  const r = await b.call(name, args);
  expect(r.isError, r.text).toBe(true);
  expect(tokenOf(r), r.text).toBeUndefined();
  expect(r.text).not.toContain('ERR_CONFIRMATION_REQUIRED');
  expect(changes()).toBe(before);
  return r.text;
}

describe('binary secrets keep their type', () => {
  it('secrets_put over a binary secret is refused before confirmation, and without the confirm policy', async () => {
    for (const b of [bin, open]) {
      const text = await refused(b, 'secrets_put', { name: 'g/keystore', value: NEW });
      expect(text).toMatch(/^ERR_CONFLICT: secret "g\/keystore" holds binary data \(SecretBinary\)/);
      expect(text).toContain('--secret-binary');
    }
    const got = await sdk.send(new GetSecretValueCommand({ SecretId: 'g/keystore' }));
    expect(got.SecretString).toBeUndefined();
    expect(Buffer.from(got.SecretBinary as Uint8Array).toString('utf8')).toBe(KEYSTORE);
  });

  it('files_migrate and a secret turned binary since the plan are refused the same way', async () => {
    // another writer stores a binary value: the next put (no plan) meets it
    await sdk.send(new PutSecretValueCommand({ SecretId: 'g/turned', SecretBinary: Buffer.from(KEYSTORE) }));
    const text = await refused(open, 'secrets_put', { name: 'g/turned', value: NEW, mode: 'update' });
    expect(text).toMatch(/^ERR_CONFLICT: secret "g\/turned" holds binary data/);
  });
});

describe('values at the limits', () => {
  it('a 64 KiB JSON value with thousands of weak fields is stored and answered within the output budget', async () => {
    const fields: Record<string, string> = {};
    let i = 0;
    while (JSON.stringify(fields).length < 65_000) fields[`password_${i++}`] = i % 2 ? '' : 'short';
    const value = JSON.stringify(fields);
    expect(Buffer.byteLength(value)).toBeLessThanOrEqual(65_536);
    const r = await open.call('secrets_put', { name: 'g/wide-json', value, mode: 'create' });
    expect(r.isError, r.text.slice(0, 300)).toBe(false);
    expect(sim.has('g/wide-json')).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(r.raw))).toBeLessThanOrEqual(64 * 1024);
    const findings = r.structured?.findings as { issue: string; key?: string; detail?: string }[];
    expect(findings.length).toBeGreaterThan(10);
    expect(findings.at(-1)?.detail).toMatch(/^\+\d+ more findings not listed \(answer size cap\)$/);
    const more = Number(/\+(\d+)/.exec(findings.at(-1)?.detail ?? '')?.[1]);
    // every weak field is counted: listed (less the summary) plus not listed
    const weak = Object.values(fields).reduce((n, v) => n + (v === '' ? 1 : 2), 0);
    expect(findings.length - 1 + more).toBe(weak);
    expect(r.text).not.toContain('"short"');
  });
});

describe('writers racing', () => {
  it('a put landing in the middle of a rotation: the rotation says so, leaves no AWSPENDING, and the put stands', async () => {
    sim.seed('g/raced', 'value-g-raced-old-Aa1!xyzxy');
    const OTHER = 'value-g-raced-other-Aa1!xyz';
    sim.control.beforeNext = { operation: 'UpdateSecretVersionStage', run: () => sim.putValue('g/raced', OTHER) };
    const r = await open.call('secrets_rotate', { name: 'g/raced', length: 24 });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      /^ERR_CONFLICT: secret "g\/raced" changed while it was rotated: AWSCURRENT moved from version [0-9a-f-]{36} to [0-9a-f-]{36} \(another writer\)/,
    );
    expect(r.text).toContain('its AWSPENDING label was removed');
    expect(sim.valueOf('g/raced')).toBe(OTHER);
    expect(Object.values(sim.stagesOf('g/raced')).flat()).not.toContain('AWSPENDING');
    // nothing is left that reads as a rotation in progress: the next write goes through
    const next = await open.call('secrets_put', { name: 'g/raced', value: NEW, mode: 'update' });
    expect(next.isError, next.text).toBe(false);
    expect(sim.valueOf('g/raced')).toBe(NEW);
  });
});

describe('names the service refuses are refused by the schema, before any call', () => {
  it.each([
    ['', /name: is empty: a secret name is 1-512 ASCII letters, digits and \/_\+=\.@-/],
    ['g/my secret', /name: "g\/my secret" holds " ", which no secret name contains/],
    ['g/tab\there#', /name: "g\/tab\\there#" holds "\\t", "#", which no secret name contains/],
    ['n'.repeat(513), /name: is 513 characters; a secret name is 1-512/],
    ['arn:aws:rds:eu-north-1:123456789012:db:orders', /name: "arn:aws:rds:[^"]+" is not a Secrets Manager secret ARN/],
  ])('%j', async (name, message) => {
    const calls = sim.control.operations.length;
    for (const tool of ['secrets_get', 'secrets_put', 'secrets_delete', 'secrets_describe']) {
      const r = await open.call(tool, { name, value: NEW });
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(new RegExp(`^ERR_INVALID_INPUT: invalid arguments for ${tool}: `));
      expect(r.text).toMatch(message);
      expect(r.text).not.toContain(NEW);
    }
    expect(sim.control.operations.length).toBe(calls);
  });

  it('the plan of a new secret whose name ends in "-" and six characters warns of partial ARNs (CreateSecret Name)', async () => {
    const r = await bin.call('secrets_put', { name: 'g/db-master', value: NEW, mode: 'create' });
    expect(tokenOf(r)?.plan).toBe(
      'Create secret "g/db-master" with the given value as its AWSCURRENT version; note: the name ends in "-" and six characters, which AWS advises against: a partial ARN (without the random suffix) will not find it, so refer to it by name or complete ARN',
    );
    const plain = await bin.call('secrets_put', { name: 'g/db-main', value: NEW, mode: 'create' });
    expect(tokenOf(plain)?.plan).toBe('Create secret "g/db-main" with the given value as its AWSCURRENT version');
  });

  it('keeps names other services create ("!") and complete or partial secret ARNs', async () => {
    const arn = sim.seed('g/by-arn', 'value-g-arn-Aa1!xyzxyzxyz');
    for (const name of [RDS_NAME, arn, arn.slice(0, -7)]) {
      const r = await open.call('secrets_describe', { name });
      expect(r.isError, r.text).toBe(false);
    }
  });
});

describe('secrets another AWS service manages are deleted through it', () => {
  it('secrets_delete of an RDS-managed secret is refused before confirmation, naming RDS and its way', async () => {
    for (const b of [bin, open]) {
      for (const force of [false, true]) {
        const text = await refused(b, 'secrets_delete', { name: RDS_NAME, force });
        expect(text).toContain(`ERR_CONFLICT: secret "${RDS_NAME}" is managed by rds, which depends on it`);
        expect(text).toContain('--no-manage-master-user-password');
        if (force) expect(text).toContain('refuses a deletion without recovery window');
      }
    }
    const other = await refused(bin, 'secrets_delete', { name: 'other!managed' });
    expect(other).toContain('is managed by appflow, which depends on it; deleting it here would break appflow');
    expect(sim.control.operations).not.toContain('DeleteSecret');
    expect(sim.has(RDS_NAME)).toBe(true);
  });

  it('a value sent to a tool that does not take it is refused and not recorded in the audit', async () => {
    const r = await open.call('secrets_delete', { name: 'g/keystore', value: NEW, password: NEW });
    expect(r.text).toMatch(
      /^ERR_INVALID_INPUT: invalid arguments for secrets_delete: unknown argument\(s\) value, password/,
    );
    expect(open.auditText()).toContain('"value":"[not shown: the tool has no such argument]"');
    assertNowhere([NEW], { results: open.results(), stderr: open.stderr(), audit: open.auditText() });
  });

  it('secrets_delete of a primary secret replicated to other Regions names the replicas to remove first', async () => {
    sim.seed('g/replicated', 'value-g-repl-Aa1!xyzxyzxyz', { replicas: ['eu-west-1', 'us-east-1'] });
    for (const b of [bin, open]) {
      const text = await refused(b, 'secrets_delete', { name: 'g/replicated', recoveryWindowDays: 7 });
      expect(text).toMatch(/^ERR_CONFLICT: secret "g\/replicated" is replicated to eu-west-1, us-east-1/);
      expect(text).toContain(
        'aws secretsmanager remove-regions-from-replication --secret-id g/replicated --remove-replica-regions eu-west-1 us-east-1',
      );
    }
    expect(sim.has('g/replicated')).toBe(true);
  });

  it('never shows a value', () => {
    for (const b of [bin, open]) {
      assertNowhere([KEYSTORE, NEW, RDS_VALUE], { results: b.results(), stderr: b.stderr(), audit: b.auditText() });
    }
  });
});
