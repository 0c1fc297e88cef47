import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { policyFor, type SecretsBin, startBin } from './harness.js';

// What a failed call tells the caller to do next must fit what was missing or refused: a version is found with
// secrets_describe, not secrets_list; a secret to restore is listed only with includeDeleted; a password the
// service cannot make is a policy problem, not an endpoint problem.
const sim = new SecretsManagerSimulator();
let bin: SecretsBin;
const VALUE = 'value-h-Aa1!xyzxyzxyz';
const JSON_VALUE = JSON.stringify({ user: 'app', password: VALUE });

beforeAll(async () => {
  await sim.start();
  sim.seed('hint/a', VALUE);
  sim.seed('hint/rot', VALUE);
  sim.seed('hint/nopass', VALUE);
  sim.seed('hint/sched', VALUE);
  sim.seed('hint/twice', VALUE);
  sim.seed('hint/json', JSON_VALUE);
  bin = await startBin({ sim, policy: policyFor({ allowForceDelete: true }) });
}, 60_000);

afterAll(async () => {
  await bin?.close();
  await sim.close();
});

describe('secrets error hints', () => {
  it('secrets_get of a missing version or stage points at secrets_describe, which lists them', async () => {
    for (const args of [{ versionStage: 'NOPE' }, { versionId: '00000000-0000-4000-8000-000000000000' }]) {
      const r = await bin.call('secrets_get', { name: 'hint/a', ...args });
      expect(r.isError, r.text).toBe(true);
      expect(r.text).toMatch(/^ERR_NOT_FOUND: could not read secret "hint\/a": ResourceNotFoundException \(.*\)/);
      expect(r.text).toMatch(/secrets_describe lists its versions and their stages/);
    }
  });

  it('secrets_restore of a name that is not scheduled for deletion says where such secrets are listed', async () => {
    const r = await bin.call('secrets_restore', { name: 'hint/none' });
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(/^ERR_NOT_FOUND: could not restore secret "hint\/none": ResourceNotFoundException/);
    expect(r.text).toMatch(/secrets_list with includeDeleted=true/);
  });

  it('secrets_rotate with the service generator refuses a class the exclusions empty before asking it', async () => {
    const r = await bin.confirmed('secrets_rotate', {
      name: 'hint/rot',
      classes: ['lower', 'digits'],
      exclude: '0123456789',
      generator: 'service',
    });
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(/^ERR_INVALID_INPUT: no characters left in digits after exclusions/);
    expect(r.text).not.toMatch(/endpoint/);
    expect(sim.control.operations).not.toContain('GetRandomPassword');
    expect(sim.valueOf('hint/rot')).toBe(VALUE);
  });

  it('secrets_rotate with the service generator says what to do when GetRandomPassword answers no password', async () => {
    const seen = sim.control.operations.length;
    sim.control.answerNext = { operation: 'GetRandomPassword', json: {} };
    const r = await bin.confirmed('secrets_rotate', { name: 'hint/nopass', generator: 'service' });
    expect(r.isError, r.text).toBe(true);
    expect(sim.control.answerNext).toBeUndefined(); // the call reached the service
    expect(r.text).toMatch(/^ERR_BACKEND_ERROR: GetRandomPassword answered without a password/);
    expect(r.text).toMatch(/retry/);
    expect(r.text).toMatch(/generator "local"/);
    expect(r.text).toMatch(/endpoint is Secrets Manager/);
    // the plan reads the secret, and reads it again when the confirmation comes back; then nothing is stored
    expect(sim.control.operations.slice(seen)).toEqual([
      'DescribeSecret',
      'GetSecretValue',
      'DescribeSecret',
      'GetSecretValue',
      'GetRandomPassword',
    ]);
    expect(sim.valueOf('hint/nopass')).toBe(VALUE);
  });

  it('secrets_rotate jsonKey says whether the secret is not JSON or lacks the key, and what to give', async () => {
    const plain = await bin.confirmed('secrets_rotate', { name: 'hint/rot', jsonKey: 'password' });
    expect(plain.text).toMatch(/^ERR_INVALID_INPUT: secret "hint\/rot" is not a JSON object; omit jsonKey/);
    const json = await bin.confirmed('secrets_rotate', { name: 'hint/json', jsonKey: 'pasword' });
    expect(json.text).toMatch(
      /^ERR_INVALID_INPUT: secret "hint\/json" has no key "pasword"; its keys: user, password$/,
    );
    expect(sim.valueOf('hint/json')).toBe(JSON_VALUE);
  });

  it('secrets_delete force deletes a secret already scheduled for deletion', async () => {
    const scheduled = await bin.confirmed('secrets_delete', { name: 'hint/sched', recoveryWindowDays: 7 });
    expect(scheduled.structured).toMatchObject({ name: 'hint/sched', recoverable: true });
    const forced = await bin.confirmed('secrets_delete', { name: 'hint/sched', force: true });
    expect(forced.isError, forced.text).toBe(false);
    expect(forced.structured).toMatchObject({ name: 'hint/sched', recoverable: false });
    expect(sim.has('hint/sched')).toBe(false);
  });

  it('secrets_delete of a secret already scheduled for deletion says so instead of only "restore it"', async () => {
    await bin.confirmed('secrets_delete', { name: 'hint/twice', recoveryWindowDays: 7 });
    const again = await bin.confirmed('secrets_delete', { name: 'hint/twice' });
    expect(again.isError, again.text).toBe(true);
    // refused by the plan, which reads the secret, before a confirmation is asked for
    expect(again.text).toMatch(/^ERR_CONFLICT: secret "hint\/twice" is already scheduled for deletion \(since \d{4}-/);
    expect(again.text).toMatch(/secrets_restore cancels it/);
    expect(sim.has('hint/twice')).toBe(true);
  });
});
