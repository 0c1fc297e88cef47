import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretsBackend } from '@ravenhelm/mcp-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, policyFor, type SecretsBin, startBin } from './harness.js';

// Writes as the service takes them: a repeated put keeps the version history, a value is measured in bytes
// of UTF-8, an ARN names an existing secret only; and what to do when the region or the KMS key is wrong.
const sim = new SecretsManagerSimulator();
let bin: SecretsBin;
const FIRST = 'value-w-first-Aa1!xyzxyz';
const SECOND = 'value-w-second-Aa1!xyzxyz';
const THIRD = 'value-w-third-Aa1!xyzxyz';
const ARN_VALUE = 'value-w-arn-Aa1!xyzxyzxyz';
const KMS_VALUE = 'value-w-kms-Aa1!xyzxyzxyz';
/** 21,846 "€" are 65,538 bytes of UTF-8 in 21,846 characters, far under the 65,536-character input cap. */
const EUROS = '€'.repeat(21_846);
/** Exactly 65,536 bytes: the most the service holds. */
const FULL = `${'€'.repeat(21_845)}a`;
const values = [FIRST, SECOND, THIRD, ARN_VALUE, KMS_VALUE, EUROS.slice(0, 40)];

beforeAll(async () => {
  await sim.start();
  sim.seed('w/history', FIRST);
  sim.seed('w/arn', FIRST);
  sim.seed('w/kms', FIRST);
  sim.seed('w/json', JSON.stringify({ user: 'app', blob: 'x'.repeat(64_000), password: FIRST }));
  bin = await startBin({ sim, policy: policyFor({ confirm: false }) });
}, 60_000);

afterAll(async () => {
  await bin?.close();
  await sim.close();
});

const writes = () => sim.control.operations.filter((o) => o === 'CreateSecret' || o === 'PutSecretValue').length;

describe('secret writes', () => {
  it('secrets_put of the value AWSCURRENT already holds adds no version, so AWSPREVIOUS keeps the value before', async () => {
    const first = await bin.call('secrets_put', { name: 'w/history', value: SECOND, mode: 'update' });
    expect(first.isError, first.text).toBe(false);
    expect(first.structured).toMatchObject({ created: false });
    expect(first.structured?.unchanged).toBeUndefined();
    // the same call again, as after a lost answer
    const again = await bin.call('secrets_put', { name: 'w/history', value: SECOND, mode: 'update' });
    expect(again.isError, again.text).toBe(false);
    expect(again.structured).toMatchObject({
      versionId: first.structured?.versionId,
      created: false,
      unchanged: true,
    });
    expect(sim.valueOf('w/history')).toBe(SECOND);
    expect(sim.valueOf('w/history', 'AWSPREVIOUS')).toBe(FIRST);
    expect(Object.keys(sim.stagesOf('w/history'))).toHaveLength(2);
    // another value is a new version, as before
    const third = await bin.call('secrets_put', { name: 'w/history', value: THIRD });
    expect(third.structured?.versionId).not.toBe(first.structured?.versionId);
    expect(third.structured?.unchanged).toBeUndefined();
    expect(sim.valueOf('w/history', 'AWSPREVIOUS')).toBe(SECOND);
  });

  it('a value over 65,536 bytes of UTF-8 is refused before it is sent, saying its size; 65,536 bytes are stored', async () => {
    const before = writes();
    for (const mode of ['create', 'upsert'] as const) {
      const r = await bin.call('secrets_put', { name: `w/big-${mode}`, value: EUROS, mode });
      expect(r.isError, r.text).toBe(true);
      expect(r.text).toMatch(
        /^ERR_INVALID_INPUT: the value for secret "w\/big-\w+" is 65538 bytes in UTF-8 \(21846 characters\); Secrets Manager holds at most 65536 bytes per value/,
      );
    }
    expect(writes()).toBe(before);
    expect(sim.has('w/big-create') || sim.has('w/big-upsert')).toBe(false);
    const full = await bin.call('secrets_put', { name: 'w/full', value: FULL, mode: 'create' });
    expect(full.isError, full.text).toBe(false);
    expect(sim.valueOf('w/full')).toBe(FULL);
  });

  it('secrets_rotate of a JSON key that would grow the secret past 65,536 bytes stores nothing and says why', async () => {
    const stages = sim.stagesOf('w/json');
    const r = await bin.call('secrets_rotate', { name: 'w/json', jsonKey: 'password', length: 4096 });
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(/^ERR_INVALID_INPUT: the value for secret "w\/json" is 6\d{4} bytes in UTF-8/);
    expect(sim.stagesOf('w/json')).toEqual(stages);
  });

  it('an ARN names an existing secret only: upsert of an unknown ARN is not found, create by ARN asks for the name', async () => {
    const arn = (await bin.call('secrets_get', { name: 'w/arn' })).structured;
    expect(arn?.name).toBe('w/arn');
    const known = sim.seed('w/arn-known', FIRST);
    const byArn = await bin.call('secrets_put', { name: known, value: ARN_VALUE });
    expect(byArn.isError, byArn.text).toBe(false);
    expect(sim.valueOf('w/arn-known')).toBe(ARN_VALUE);

    const missing = known.replace('w/arn-known', 'w/arn-gone');
    const before = sim.control.operations.filter((o) => o === 'CreateSecret').length;
    const upsert = await bin.call('secrets_put', { name: missing, value: ARN_VALUE });
    expect(upsert.isError, upsert.text).toBe(true);
    expect(upsert.text).toMatch(
      /^ERR_NOT_FOUND: no secret has the ARN "arn:aws:secretsmanager:[^"]+:secret:w\/arn-gone-\w{6}" \(check it with secrets_list\); upsert creates a secret only by name/,
    );
    const create = await bin.call('secrets_put', { name: missing, value: ARN_VALUE, mode: 'create' });
    expect(create.text).toMatch(/^ERR_INVALID_INPUT: "arn:aws:secretsmanager:[^"]+" is an ARN; .*give the name/);
    expect(sim.control.operations.filter((o) => o === 'CreateSecret').length).toBe(before);
  });

  it('a KMS key that cannot decrypt or encrypt says to enable it or let the server use it', async () => {
    sim.control.failNext = {
      operation: 'GetSecretValue',
      type: 'DecryptionFailure',
      message: "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
    };
    const read = await bin.call('secrets_get', { name: 'w/kms' });
    expect(read.text).toMatch(
      /^ERR_BACKEND_ERROR: could not read secret "w\/kms": DecryptionFailure \(.*\); the secret's KMS key cannot decrypt it: ask an operator to enable the key .*\(kms:Decrypt in the key policy and IAM\), then retry$/,
    );
    sim.control.failNext = {
      operation: 'PutSecretValue',
      type: 'EncryptionFailure',
      message: "Secrets Manager can't encrypt the protected secret text using the provided KMS key.",
    };
    const write = await bin.call('secrets_put', { name: 'w/kms', value: KMS_VALUE });
    expect(write.text).toMatch(/EncryptionFailure .*enable the key .*kms:GenerateDataKey.*nothing was stored/);
    expect(sim.valueOf('w/kms')).toBe(FIRST);
  });

  it('a value refused for the state of the secret names both causes the reference gives, not only a deletion', async () => {
    // API reference, InvalidRequestException: "The secret is managed by another service, and you must use that
    // service to update it" is one of its causes.
    sim.control.failNext = {
      operation: 'PutSecretValue',
      type: 'InvalidRequestException',
      message: 'The secret is managed by another service, and you must use that service to update it.',
    };
    const r = await bin.call('secrets_put', { name: 'w/kms', value: KMS_VALUE });
    expect(r.text).toMatch(
      /^ERR_CONFLICT: could not store a new value in secret "w\/kms": InvalidRequestException \(.*\); the secret is scheduled for deletion .*secrets_restore cancels it\), or another AWS service manages it .*: change it through that service; nothing was stored$/,
    );
    expect(sim.valueOf('w/kms')).toBe(FIRST);
  });

  it('a region the endpoint does not serve, or none, says to set AWS_REGION instead of blaming keys or network', async () => {
    const other = await startBin({ sim, env: { AWS_REGION: 'us-east-1', SECRETS_MAX_ATTEMPTS: '1' } });
    try {
      const r = await other.call('secrets_list', {});
      expect(r.isError, r.text).toBe(true);
      expect(r.text).toMatch(
        /^ERR_BACKEND_ERROR: could not list secrets: InvalidSignatureException \(Credential should be scoped to a valid region, not 'us-east-1'\. \); Secrets Manager at http:\/\/127\.0\.0\.1:\d+ serves another region than the server signs for: set AWS_REGION \(or backend\.region\)/,
      );
      expect(r.text).not.toMatch(/secret key or clock/);
    } finally {
      await other.close();
    }
    // The SDK refuses a missing or malformed region before sending: not "unreachable".
    const dir = mkdtempSync(join(tmpdir(), 'rh-secrets-region-'));
    const saved = { ...process.env };
    try {
      for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[k];
      Object.assign(process.env, sim.sdkEnv(dir));
      const cases = [
        {
          region: undefined,
          said: /^could not list secrets: Region is missing; set AWS_REGION \(or backend\.region\)/,
        },
        {
          region: 'eu_north 1',
          said: /^could not list secrets: Region not accepted: region="eu_north 1" .*; set AWS_REGION \(or backend\.region\)/,
        },
      ];
      for (const c of cases) {
        const sm = new SecretsBackend({ region: c.region, endpoint: sim.url, timeoutMs: 2000, maxAttempts: 1 });
        try {
          const err = await sm.list({ maxResults: 1 }, new AbortController().signal).catch((e: unknown) => e);
          expect(err).toMatchObject({ code: 'ERR_BACKEND_ERROR', message: expect.stringMatching(c.said) });
        } finally {
          sm.destroy();
        }
      }
    } finally {
      process.env = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('no value written here appears in a result, the logs or the audit log', () => {
    assertNowhere(values, { results: bin.results(), stderr: bin.stderr(), audit: bin.auditText() });
  });
});
