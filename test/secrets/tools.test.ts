import { toolSpecs } from '@ravenhelm/mcp-secrets';
import { readAnnotations } from '@ravenhelm/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, policyFor, type SecretsBin, startBin } from './harness.js';

// Every secrets tool through the real bin over stdio and the SDK Client (output validation on), against
// the simulator through the real AWS SDK. At the end, every value is searched for in every captured byte.
const DB_PASSWORD = 'db-Pa55word-7f3c9a1e2b';
const API_KEY = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';
const NEW_TOKEN = 'n3w-T0ken-value-e81f44aa90';
const PUT_AGAIN = 'second-Put-value-55c1d0f2aa';
const WEAK_NEW = 'changeme';
// Short and weak (5 chars, 2 classes), and never part of a hex or base64 string: its first version, 'abc12',
// turned up by chance inside a random hex id or hash of the audit log in a CI run (a run writes about 16,000
// five-character windows of hex: 1 run in 65).
const SHORT = 'qz!!k';
const values = [DB_PASSWORD, API_KEY, NEW_TOKEN, PUT_AGAIN, 'redispassword', SHORT];
const revealedResults: string[] = [];

const sim = new SecretsManagerSimulator();
let bin: SecretsBin;

beforeAll(async () => {
  await sim.start();
  sim.seed('app/db', JSON.stringify({ username: 'app', password: DB_PASSWORD }), {
    description: 'Application database',
    tags: { team: 'platform', env: 'prod' },
    rotatedDaysAgo: 3,
  });
  sim.seed('app/api-key', API_KEY, { tags: { team: 'payments' } });
  sim.seed('legacy/redis', 'redispassword', { createdDaysAgo: 200 });
  sim.seed('legacy/unset', '__UNSET__');
  sim.seed('legacy/short', SHORT);
  bin = await startBin({ sim, env: { SECRETS_MAX_ATTEMPTS: '1', SECRETS_TIMEOUT_MS: '1500' } });
}, 60_000);

afterAll(async () => {
  await bin?.close();
  await sim.close();
});

describe('secrets tools over stdio', () => {
  it('lists ten lean tools with annotations and output schemas, within a bytes-per-tool budget', async () => {
    const { tools } = await bin.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'files_audit',
      'files_migrate',
      'secrets_delete',
      'secrets_describe',
      'secrets_get',
      'secrets_list',
      'secrets_put',
      'secrets_restore',
      'secrets_rotate',
      'store_audit',
    ]);
    const sizes: Record<string, number> = {};
    const declared = new Map(toolSpecs.map((s) => [s.name, s.annotations]));
    for (const t of tools) {
      expect(t.outputSchema?.type).toBe('object');
      // The hints as sent (defaults left out) read back as the declaration.
      expect(readAnnotations(t.annotations ?? {}), t.name).toEqual(declared.get(t.name));
      // Our contract as tools/list sends it, without what the kit adds: _meta, and for confirm-policy tools
      // the confirmationToken argument and the confirmation sentence.
      const { _meta, ...contract } = structuredClone(t) as typeof t & { _meta?: unknown };
      contract.description = contract.description?.replace(/ Needs confirmation: .*$/, '');
      delete (contract.inputSchema.properties as Record<string, unknown> | undefined)?.confirmationToken;
      expect(contract.description?.length ?? 0).toBeLessThanOrEqual(200);
      sizes[t.name] = Buffer.byteLength(JSON.stringify(contract));
    }
    const mean = Object.values(sizes).reduce((a, b) => a + b, 0) / tools.length;
    // Measured 2026-12-04: mean 1032, max 1251 (secrets_list). The budget stops regrowth.
    expect(mean, JSON.stringify(sizes)).toBeLessThanOrEqual(1050);
    expect(Math.max(...Object.values(sizes)), JSON.stringify(sizes)).toBeLessThanOrEqual(1300);
  });

  it('secrets_list: metadata only, filtered and paged with a cursor', async () => {
    const all = await bin.call('secrets_list', {});
    expect(all.isError).toBe(false);
    const names = all.structured?.secrets.map((s: { name: string }) => s.name);
    // Sorted by CreatedDate (ascending), as the service lists: the 200-day-old secret comes first.
    expect(names[0]).toBe('legacy/redis');
    expect([...names].sort()).toEqual(['app/api-key', 'app/db', 'legacy/redis', 'legacy/short', 'legacy/unset']);
    const db = all.structured?.secrets.find((s: { name: string }) => s.name === 'app/db');
    expect(db).toMatchObject({
      name: 'app/db',
      description: 'Application database',
      tags: { team: 'platform', env: 'prod' },
      // rotated 3 days ago, rotation turned off since: secrets_rotate may rotate it (below)
      rotationEnabled: false,
    });
    expect(Date.parse(db.rotated)).toBeLessThan(Date.now() - 2 * 86_400_000);
    expect(all.structured).toMatchObject({ truncated: false });
    expect(all.structured?.secrets).toHaveLength(5);
    const p1 = await bin.call('secrets_list', { limit: 2 });
    expect(p1.structured).toMatchObject({ truncated: true });
    expect(p1.structured?.secrets).toHaveLength(2);
    const p2 = await bin.call('secrets_list', { limit: 2, cursor: p1.structured?.nextCursor });
    const p3 = await bin.call('secrets_list', { limit: 2, cursor: p2.structured?.nextCursor });
    const paged = [p1, p2, p3].flatMap((p) => p.structured?.secrets.map((s: { name: string }) => s.name));
    expect(paged).toEqual(all.structured?.secrets.map((s: { name: string }) => s.name));
    expect(p3.structured).toMatchObject({ truncated: false });
    expect(p3.structured?.secrets).toHaveLength(1);
    const byPrefix = await bin.call('secrets_list', { namePrefix: 'legacy/' });
    expect(byPrefix.structured?.secrets).toHaveLength(3);
    const byTag = await bin.call('secrets_list', { tagValue: 'payments' });
    expect(byTag.structured?.secrets.map((s: { name: string }) => s.name)).toEqual(['app/api-key']);
    const badCursor = await bin.call('secrets_list', { cursor: 'bm9wZQ' });
    expect(badCursor.isError).toBe(true);
    expect(badCursor.text).toMatch(/ERR_INVALID_INPUT: cursor/);
  });

  it('secrets_describe: versions with stages; a missing secret says what to do', async () => {
    const d = await bin.call('secrets_describe', { name: 'app/db' });
    expect(d.structured).toMatchObject({ name: 'app/db', tags: { team: 'platform' } });
    expect(Object.values(d.structured?.versions ?? {})).toEqual([['AWSCURRENT']]);
    const missing = await bin.call('secrets_describe', { name: 'app/none' });
    expect(missing.isError).toBe(true);
    expect(missing.text).toMatch(
      /ERR_NOT_FOUND: could not describe secret "app\/none": ResourceNotFoundException.*secrets_list/,
    );
  });

  it('secrets_get: masked by default (kind, length, JSON keys, keyed fingerprint)', async () => {
    const g = await bin.call('secrets_get', { name: 'app/db' });
    expect(g.isError).toBe(false);
    expect(g.structured).toMatchObject({
      name: 'app/db',
      kind: 'json',
      jsonKeys: ['username', 'password'],
      revealed: false,
      stages: ['AWSCURRENT'],
    });
    expect(g.structured?.value).toBeUndefined();
    expect(g.structured?.fingerprint).toMatch(/^hmac:[0-9a-f]{16}$/);
    const key = await bin.call('secrets_get', { name: 'app/db', jsonKey: 'password' });
    expect(key.structured).toMatchObject({ kind: 'string', length: DB_PASSWORD.length, revealed: false });
    const again = await bin.call('secrets_get', { name: 'app/db', jsonKey: 'password' });
    expect(again.structured?.fingerprint).toBe(key.structured?.fingerprint);
    const other = await bin.call('secrets_get', { name: 'app/api-key' });
    expect(other.structured?.fingerprint).not.toBe(key.structured?.fingerprint);
    const noKey = await bin.call('secrets_get', { name: 'app/db', jsonKey: 'host' });
    expect(noKey.text).toMatch(/ERR_NOT_FOUND: .*no key "host"; its keys: username, password/);
  });

  it('secrets_get reveal: needs the policy, then a second call with the single-use token', async () => {
    const first = await bin.call('secrets_get', { name: 'app/db', jsonKey: 'password', reveal: true });
    expect(first.structured).toMatchObject({ revealed: false });
    expect(first.structured?.value).toBeUndefined();
    const token = first.structured?.revealToken as string;
    expect(token).toMatch(/^cfm_/);
    const otherArgs = await bin.call('secrets_get', { name: 'app/db', reveal: true, revealToken: token });
    expect(otherArgs.text).toMatch(/ERR_CONFIRMATION_INVALID/);
    const second = await bin.call('secrets_get', {
      name: 'app/db',
      jsonKey: 'password',
      reveal: true,
      revealToken: token,
    });
    expect(second.structured).toMatchObject({ revealed: true, value: DB_PASSWORD });
    revealedResults.push(JSON.stringify(second.raw));
    const replay = await bin.call('secrets_get', {
      name: 'app/db',
      jsonKey: 'password',
      reveal: true,
      revealToken: token,
    });
    expect(replay.isError).toBe(true);
    expect(replay.text).toMatch(/ERR_CONFIRMATION_INVALID/);
  });

  it('secrets_get reveal is refused to callers the policy does not list, or without the admin scope', async () => {
    const intruder = await startBin({ sim, subject: 'intruder' });
    const notAdmin = await startBin({ sim, scopes: 'mcp:secrets:write' });
    const off = await startBin({ sim, policy: policyFor({}) });
    try {
      const a = await intruder.call('secrets_get', { name: 'app/api-key', reveal: true });
      expect(a.text).toMatch(/ERR_NOT_ALLOWED: reveal is not allowed for you/);
      const b = await notAdmin.call('secrets_get', { name: 'app/api-key', reveal: true });
      expect(b.text).toMatch(/ERR_NOT_ALLOWED: reveal needs scope mcp:secrets:admin/);
      const c = await off.call('secrets_get', { name: 'app/api-key', reveal: true });
      expect(c.text).toMatch(/ERR_NOT_ALLOWED: reveal is off/);
      const masked = await intruder.call('secrets_get', { name: 'app/api-key' });
      expect(masked.structured).toMatchObject({ revealed: false, length: API_KEY.length });
      for (const b2 of [intruder, notAdmin, off]) {
        assertNowhere(values, { results: b2.results(), stderr: b2.stderr(), audit: b2.auditText() });
      }
    } finally {
      await Promise.all([intruder.close(), notAdmin.close(), off.close()]);
    }
  }, 60_000);

  it('secrets_put: confirm, create, store a new version, report findings; the value only reaches the store', async () => {
    const created = await bin.confirmed('secrets_put', {
      name: 'new/token',
      value: NEW_TOKEN,
      description: 'made by test',
    });
    expect(created.structured).toMatchObject({ name: 'new/token', created: true, findings: [] });
    expect(sim.valueOf('new/token')).toBe(NEW_TOKEN);
    const updated = await bin.confirmed('secrets_put', { name: 'new/token', value: PUT_AGAIN });
    expect(updated.structured).toMatchObject({ created: false });
    expect(sim.valueOf('new/token')).toBe(PUT_AGAIN);
    expect(sim.valueOf('new/token', 'AWSPREVIOUS')).toBe(NEW_TOKEN);
    const weak = await bin.confirmed('secrets_put', { name: 'new/weak', value: WEAK_NEW, mode: 'create' });
    expect(weak.structured?.findings).toEqual([{ issue: 'placeholder' }]);
    // refused by the plan, before a confirmation is asked for (plans.test.ts)
    const dup = await bin.call('secrets_put', { name: 'new/weak', value: NEW_TOKEN, mode: 'create' });
    expect(dup.text).toMatch(/^ERR_CONFLICT: secret "new\/weak" already exists/);
    const upd = await bin.call('secrets_put', { name: 'new/absent', value: NEW_TOKEN, mode: 'update' });
    expect(upd.text).toMatch(/^ERR_NOT_FOUND/);
  });

  it('secrets_rotate: a new value by the stated policy becomes AWSCURRENT, the old one AWSPREVIOUS', async () => {
    const before = sim.valueOf('app/api-key') as string;
    const r = await bin.confirmed('secrets_rotate', {
      name: 'app/api-key',
      length: 40,
      classes: ['lower', 'upper', 'digits'],
      exclude: 'lI1O0',
    });
    expect(r.isError).toBe(false);
    const { versionId, previousVersionId, versions } = r.structured ?? {};
    expect(versions).toEqual({ [versionId]: ['AWSCURRENT'], [previousVersionId]: ['AWSPREVIOUS'] });
    expect(r.structured?.policy).toBe('40 chars: lower, upper, digits; 5 excluded; local');
    const now = sim.valueOf('app/api-key') as string;
    values.push(now);
    expect(now).not.toBe(before);
    expect(now).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(now).not.toMatch(/[lI1O0]/);
    expect(sim.valueOf('app/api-key', 'AWSPREVIOUS')).toBe(before);
    // The service's own sequence: stage AWSPENDING, move AWSCURRENT, drop AWSPENDING, read the result.
    expect(sim.control.operations.slice(-4)).toEqual([
      'PutSecretValue',
      'UpdateSecretVersionStage',
      'UpdateSecretVersionStage',
      'DescribeSecret',
    ]);
    const whole = await bin.confirmed('secrets_rotate', { name: 'app/db' });
    expect(whole.text).toMatch(
      /ERR_CONFLICT: secret "app\/db" is a JSON object \(keys: username, password\); give jsonKey/,
    );
    const json = await bin.confirmed('secrets_rotate', {
      name: 'app/db',
      jsonKey: 'password',
      generator: 'service',
      length: 24,
    });
    expect(json.isError).toBe(false);
    const stored = JSON.parse(sim.valueOf('app/db') as string) as { username: string; password: string };
    values.push(stored.password);
    expect(stored.username).toBe('app');
    expect(stored.password).toHaveLength(24);
    expect(stored.password).not.toBe(DB_PASSWORD);
    expect(sim.control.operations).toContain('GetRandomPassword');
  });

  it('secrets_delete and secrets_restore: a recovery window, reads refused meanwhile, force only by policy', async () => {
    const del = await bin.confirmed('secrets_delete', { name: 'legacy/short', recoveryWindowDays: 7 });
    expect(del.structured).toMatchObject({ name: 'legacy/short', recoverable: true });
    expect(Date.parse(del.structured?.deletionDate)).toBeGreaterThan(Date.now() + 6.9 * 86_400_000);
    const read = await bin.call('secrets_get', { name: 'legacy/short' });
    expect(read.text).toMatch(
      /ERR_CONFLICT: could not read secret "legacy\/short": InvalidRequestException.*secrets_restore/,
    );
    const restored = await bin.call('secrets_restore', { name: 'legacy/short' });
    expect(restored.structured).toEqual({ name: 'legacy/short', restored: true });
    expect((await bin.call('secrets_get', { name: 'legacy/short' })).isError).toBe(false);
    const force = await bin.confirmed('secrets_delete', { name: 'legacy/short', force: true });
    expect(force.text).toMatch(/ERR_NOT_ALLOWED: force deletion is off/);
    expect(sim.has('legacy/short')).toBe(true);
  });

  it('store_audit: placeholders, weak defaults, weak values and stale secrets by name, never values', async () => {
    const a = await bin.call('store_audit', {});
    expect(a.isError).toBe(false);
    const byName = (n: string) =>
      a.structured?.findings.filter((f: { name: string }) => f.name === n).map((f: { issue: string }) => f.issue);
    expect(byName('legacy/redis')).toEqual(['weak-default', 'stale']);
    expect(byName('legacy/unset')).toEqual(['placeholder']);
    expect(byName('legacy/short')).toEqual(['weak', 'weak']);
    expect(byName('new/weak')).toEqual(['placeholder']);
    expect(byName('app/api-key')).toEqual([]);
    expect(a.structured).toMatchObject({ truncated: false });
    const paged = await bin.call('store_audit', { limit: 2 });
    expect(paged.structured).toMatchObject({ scanned: 2, truncated: true });
    const next = await bin.call('store_audit', { limit: 2, cursor: paged.structured?.nextCursor });
    expect(next.structured?.scanned).toBe(2);
  });

  it('maps AccessDenied, Throttling, DecryptionFailure and a slow service to clear tool errors', async () => {
    sim.control.failNext = {
      operation: 'DescribeSecret',
      type: 'AccessDeniedException',
      message: 'User is not authorized',
    };
    const denied = await bin.call('secrets_describe', { name: 'app/db' });
    expect(denied.text).toMatch(/ERR_BACKEND_ERROR: .*AccessDeniedException.*IAM permission/);
    sim.control.failNext = { operation: 'ListSecrets', type: 'ThrottlingException', message: 'Rate exceeded' };
    const throttled = await bin.call('secrets_list', {});
    expect(throttled.text).toMatch(/ERR_BACKEND_UNAVAILABLE: .*ThrottlingException.*retry later/);
    sim.control.failNext = { operation: 'GetSecretValue', type: 'DecryptionFailure', message: 'KMS key is disabled' };
    const kms = await bin.call('secrets_get', { name: 'app/db' });
    expect(kms.text).toMatch(/ERR_BACKEND_ERROR: .*DecryptionFailure.*KMS key/);
    sim.control.failNext = {
      operation: 'PutSecretValue',
      type: 'LimitExceededException',
      message: 'Too many versions',
    };
    // another value than the current one: the current value again stores nothing, so would not reach the quota
    const quota = await bin.confirmed('secrets_put', { name: 'new/token', value: NEW_TOKEN });
    expect(quota.text).toMatch(/ERR_BACKEND_ERROR: .*LimitExceededException.*quota/);
    sim.control.delayMs = 2500;
    try {
      const slow = await bin.call('secrets_describe', { name: 'app/db' });
      expect(slow.text).toMatch(/ERR_BACKEND_TIMEOUT: Secrets Manager did not answer within 1500 ms/);
    } finally {
      sim.control.delayMs = 0;
    }
  }, 30_000);

  it('no value appears in any result (except the one confirmed reveal), in the logs or in the audit log', async () => {
    const audit = bin.auditText();
    expect(audit).toContain('secrets_put');
    expect(audit).toContain('secrets_rotate');
    // The put records name the secret and show that a value was given, redacted.
    const puts = audit
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { tool: string; phase: string; args?: Record<string, unknown> })
      .filter((r) => r.tool === 'secrets_put' && r.phase === 'attempt');
    expect(puts.length).toBeGreaterThanOrEqual(3);
    for (const r of puts) expect(r.args).toMatchObject({ name: expect.any(String), value: '[redacted]' });
    expect(bin.stderr().length).toBeGreaterThan(0);
    const results = bin.results();
    let shown = results;
    for (const r of revealedResults) shown = shown.replace(r, '');
    expect(shown.length).toBeLessThan(results.length);
    assertNowhere(values, { results: shown, stderr: bin.stderr(), audit });
  });
});
