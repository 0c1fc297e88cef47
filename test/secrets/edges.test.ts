import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { policyFor, type SecretsBin, startBin } from './harness.js';

// Where the service's own semantics differ from what a tool promises: its tag filters match prefixes, each
// on its own; a leading "!" in a filter negates it; a forced DeleteSecret succeeds for a secret that does not
// exist. Also ARNs (complete and partial) as names, and a rotation policy the exclusions contradict.
const sim = new SecretsManagerSimulator();
let bin: SecretsBin;
let goneArn: string;
let plainArn: string;
let hyphenArn: string;
const ROT_VALUE = 'value-r-Aa1!xyzxyzxyz';

beforeAll(async () => {
  await sim.start();
  sim.seed('tag/a', 'value-a-Aa1!xyzxyzxyz', { tags: { env: 'prod' } });
  sim.seed('tag/b', 'value-b-Aa1!xyzxyzxyz', { tags: { environment: 'prod' } });
  sim.seed('tag/c', 'value-c-Aa1!xyzxyzxyz', { tags: { env: 'dev', team: 'prod' } });
  sim.seed('tag/d', 'value-d-Aa1!xyzxyzxyz', { tags: { env: 'production' } });
  sim.seed('tag/e', 'value-e-Aa1!xyzxyzxyz', { tags: { owner: 'ops', env: 'prod' } });
  goneArn = sim.seed('gone/x', 'value-x-Aa1!xyzxyzxyz');
  plainArn = sim.seed('arn/plain+=.@_-name', 'value-p-Aa1!xyzxyzxyz');
  hyphenArn = sim.seed('arn/db-prod01', 'value-h-Aa1!xyzxyzxyz');
  sim.seed('rot/a', ROT_VALUE);
  // tags may hold letters a ListSecrets filter value cannot (service model FilterValueStringType)
  sim.seed('tag/f', 'value-f-Aa1!xyzxyzxyz', { tags: { équipe: 'paiements#1' } });
  bin = await startBin({ sim, policy: policyFor({ allowForceDelete: true }) });
}, 60_000);

afterAll(async () => {
  await bin?.close();
  await sim.close();
});

const names = (r: { structured?: Record<string, unknown> | undefined }) =>
  ((r.structured?.secrets as { name: string }[] | undefined) ?? []).map((s) => s.name);

/** Every secret secrets_list names, following its cursors (at most `maxCalls`); `check` sees each answer. */
async function listAll(
  b: SecretsBin,
  args: Record<string, unknown>,
  maxCalls: number,
  check: (r: Awaited<ReturnType<SecretsBin['call']>>) => void = () => {},
): Promise<{ seen: string[]; calls: number }> {
  const seen: string[] = [];
  let cursor: string | undefined;
  let calls = 0;
  do {
    const r = await b.call('secrets_list', { ...args, ...(cursor ? { cursor } : {}) });
    expect(r.isError, r.text).toBe(false);
    check(r);
    seen.push(...names(r));
    cursor = r.structured?.nextCursor as string | undefined;
    calls++;
  } while (cursor && calls < maxCalls);
  return { seen, calls };
}

describe('secrets edge cases', () => {
  it('secrets_list: a tag a filter cannot carry is matched by the tool; a namePrefix with a wildcard says there are none', async () => {
    const key = await bin.call('secrets_list', { tagKey: 'équipe' });
    expect(key.isError, key.text).toBe(false);
    expect(names(key)).toEqual(['tag/f']);
    const value = await bin.call('secrets_list', { tagKey: 'équipe', tagValue: 'paiements#1' });
    expect(names(value)).toEqual(['tag/f']);
    expect(names(await bin.call('secrets_list', { tagValue: 'paiements#2' }))).toEqual([]);
    const before = sim.control.operations.length;
    const wild = await bin.call('secrets_list', { namePrefix: 'tag/*' });
    expect(wild.isError).toBe(true);
    expect(wild.text).toBe(
      'ERR_INVALID_INPUT: namePrefix "tag/*" holds a character no secret name contains (names: ASCII letters, digits and /_+=.@-), so it matches nothing. It is a plain prefix: there are no wildcards (drop the "*" or "?").',
    );
    expect(sim.control.operations.length).toBe(before);
  });

  it('secrets_list tagKey and tagValue select the exact tag, not prefixes of any key and any value', async () => {
    const pair = await bin.call('secrets_list', { tagKey: 'env', tagValue: 'prod' });
    expect(pair.isError, pair.text).toBe(false);
    expect(names(pair)).toEqual(['tag/a', 'tag/e']);
    expect(names(await bin.call('secrets_list', { tagKey: 'env' }))).toEqual(['tag/a', 'tag/c', 'tag/d', 'tag/e']);
    expect(names(await bin.call('secrets_list', { tagValue: 'prod' }))).toEqual(['tag/a', 'tag/b', 'tag/c', 'tag/e']);
    // Paged one entry at a time, the cursors still reach every match once (pages may come back empty).
    const { seen } = await listAll(bin, { tagKey: 'env', tagValue: 'prod', limit: 1 }, 20);
    expect(seen).toEqual(['tag/a', 'tag/e']);
  });

  it('secrets_list and store_audit refuse a name prefix starting with "!", which the service reads as "not"', async () => {
    for (const tool of ['secrets_list', 'store_audit']) {
      const r = await bin.call(tool, { namePrefix: '!tag/' });
      expect(r.isError, r.text).toBe(true);
      expect(r.text).toMatch(/ERR_INVALID_INPUT: namePrefix "!tag\/" starts with "!", which no secret name contains/);
    }
  });

  it('secrets_list with a tag filter and a small output budget reaches every match once', async () => {
    const want: string[] = [];
    for (let i = 0; i < 24; i++) {
      const name = `page/s${String(i).padStart(2, '0')}`;
      sim.seed(name, `page-value-${i}-Aa1!xyzxyz`, {
        description: `${'d'.repeat(180)} ${i}`,
        tags: { owner: i % 3 === 0 ? 'team-x' : 'team' },
      });
      if (i % 3 !== 0) want.push(name);
    }
    const small = await startBin({ sim, env: { RAVENHELM_MAX_OUTPUT_BYTES: '4096' } });
    try {
      const { seen, calls } = await listAll(small, { tagKey: 'owner', tagValue: 'team', limit: 100 }, 40, (r) =>
        expect(Buffer.byteLength(JSON.stringify(r.structured))).toBeLessThanOrEqual(4096),
      );
      expect(calls).toBeGreaterThan(2);
      expect(seen).toEqual(want);
    } finally {
      await small.close();
    }
  });

  it('reads a secret by name, by complete ARN and by partial ARN (the service takes a trailing -xxxxxx for a suffix)', async () => {
    for (const name of ['arn/plain+=.@_-name', plainArn, plainArn.slice(0, -7)]) {
      const r = await bin.call('secrets_get', { name });
      expect(r.isError, r.text).toBe(false);
      expect(r.structured).toMatchObject({ name: 'arn/plain+=.@_-name', kind: 'string', revealed: false });
    }
    expect((await bin.call('secrets_describe', { name: hyphenArn })).structured?.name).toBe('arn/db-prod01');
    const partial = await bin.call('secrets_describe', { name: hyphenArn.slice(0, -7) });
    expect(partial.text).toMatch(
      /ERR_NOT_FOUND: could not describe secret ".*:secret:arn\/db-prod01": ResourceNotFoundException/,
    );
    // says why: the service took "-prod01" for the random suffix (API reference, SecretId, partial ARNs)
    expect(partial.text).toContain(
      'an ARN without its random suffix is read as a complete one when the name ends in "-" and six letters or digits: give the name (secrets_list) or the complete ARN',
    );
    const read = await bin.call('secrets_get', { name: hyphenArn.slice(0, -7) });
    expect(read.text).toMatch(/^ERR_NOT_FOUND: .*six letters or digits: give the name/);
    // a partial ARN of a name that does not end that way is found, and gets no such note
    expect((await bin.call('secrets_describe', { name: 'arn/none' })).text).not.toContain('random suffix');
  });

  it('secrets_rotate refuses a class the exclusions empty instead of leaving it out of the new value', async () => {
    const r = await bin.confirmed('secrets_rotate', {
      name: 'rot/a',
      classes: ['lower', 'digits'],
      exclude: '0123456789',
    });
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(/ERR_INVALID_INPUT: no characters left in digits after exclusions/);
    expect(sim.valueOf('rot/a')).toBe(ROT_VALUE);
  });

  it('secrets_delete force refuses a secret that does not exist instead of reporting it deleted', async () => {
    // An ARN with another suffix names no secret: the real one must stay, and the answer must say so.
    const wrongSuffix = `${goneArn.slice(0, -6)}${goneArn.endsWith('zzzzzz') ? 'yyyyyy' : 'zzzzzz'}`;
    for (const name of [wrongSuffix, 'gone/y']) {
      const r = await bin.confirmed('secrets_delete', { name, force: true });
      expect(r.isError, r.text).toBe(true);
      expect(r.text).toMatch(/ERR_NOT_FOUND: could not delete secret ".*": ResourceNotFoundException.*secrets_list/);
    }
    expect(sim.has('gone/x')).toBe(true);
    const done = await bin.confirmed('secrets_delete', { name: goneArn, force: true });
    expect(done.structured).toMatchObject({ name: 'gone/x', recoverable: false });
    expect(sim.has('gone/x')).toBe(false);
  });
});
