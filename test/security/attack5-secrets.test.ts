/**
 * The secrets server attacked from outside, fifth round: through the real bin over stdio (the MCP SDK Client) against
 * the Secrets Manager simulator through the real AWS SDK client. Values at the edges of what text can carry, cursors
 * replayed against other listings, a service that keeps throttling, KMS refusals, names that differ only by case.
 */
import { describe, expect, it } from 'vitest';
import { assertNowhere, policyFor, type SecretsBin } from '../secrets/harness.js';
import { useSecretsBin } from './secrets-session.js';

const VALUE = 'Att5-Kestrel-Lantern-82-Quarry!';
const served = useSecretsBin({ policy: policyFor({ confirm: false, revealTo: ['ops'] }) });
const { sim } = served;

async function reveal(name: string): Promise<string> {
  const first = await served.bin.call('secrets_get', { name, reveal: true });
  const second = await served.bin.call('secrets_get', {
    name,
    reveal: true,
    revealToken: first.structured?.revealToken,
  });
  expect(second.isError, second.text).toBe(false);
  return second.structured?.value as string;
}

describe('values at the edges of text', () => {
  it('a value holding NUL and control characters is stored and revealed exactly', async () => {
    const value = `a\u0000b\u0001c\u007f\r\n\u2028end-${VALUE}`;
    const put = await served.bin.call('secrets_put', { name: 'a5/nul', value });
    expect(put.isError, put.text).toBe(false);
    expect(sim.valueOf('a5/nul')).toBe(value);
    expect(await reveal('a5/nul')).toBe(value);
  });

  it('a value with an unpaired surrogate (no UTF-8 form) is refused, and nothing is stored', async () => {
    // JSON carries "\ud800" as an escape; UTF-8 cannot: the service would keep some other value than the one given
    // (the kit's argument check refuses it, as for every tool)
    const value = `Lone-\ud800-Surrogate-${VALUE}`;
    const put = await served.bin.call('secrets_put', { name: 'a5/surrogate', value });
    expect(put.isError).toBe(true);
    expect(put.text).toMatch(/^ERR_INVALID_INPUT: invalid arguments for secrets_put: value: .*surrogate/);
    expect(put.text).not.toContain('Lone-');
    expect(sim.has('a5/surrogate')).toBe(false);
  });

  it('64 KiB is counted in UTF-8 bytes: 65,536 bytes of mixed text are stored, one byte more is refused before sending', async () => {
    const fits = `${'€'.repeat(21_845)}x`; // 65,535 + 1 bytes
    expect(Buffer.byteLength(fits)).toBe(65_536);
    const ok = await served.bin.call('secrets_put', { name: 'a5/edge', value: fits });
    expect(ok.isError, ok.text.slice(0, 200)).toBe(false);
    expect(sim.valueOf('a5/edge')).toBe(fits);
    const from = sim.control.operations.length;
    const over = await served.bin.call('secrets_put', { name: 'a5/edge', value: `${fits}y` });
    expect(over.text).toMatch(/^ERR_INVALID_INPUT: the value for secret "a5\/edge" is 65537 bytes in UTF-8/);
    expect(sim.control.operations.slice(from)).not.toContain('PutSecretValue');
  });
});

describe('names that differ only by case', () => {
  it('are different secrets: each tool reads and writes the one named, and a reveal token of one opens no other', async () => {
    sim.seed('A5/Case', `Upper-${VALUE}`);
    sim.seed('a5/case', `Lower-${VALUE}`);
    expect(await reveal('A5/Case')).toBe(`Upper-${VALUE}`);
    const token = (await served.bin.call('secrets_get', { name: 'A5/Case', reveal: true })).structured?.revealToken;
    const other = await served.bin.call('secrets_get', { name: 'a5/case', reveal: true, revealToken: token });
    expect(other.text).toMatch(/^ERR_CONFIRMATION_INVALID/);
    await served.bin.call('secrets_put', { name: 'a5/case', value: `Lower-New-${VALUE}`, mode: 'update' });
    expect(sim.valueOf('A5/Case')).toBe(`Upper-${VALUE}`);
  });
});

describe('a cursor replayed against another listing', () => {
  it('secrets_list refuses a cursor from a listing with other filters instead of skipping entries', async () => {
    for (const n of ['1', '2', '3']) {
      sim.seed(`a5cur/a/${n}`, VALUE);
      sim.seed(`a5cur/b/${n}`, VALUE);
    }
    const a = await served.bin.call('secrets_list', { namePrefix: 'a5cur/a/', limit: 1 });
    const cursor = a.structured?.nextCursor as string;
    expect(cursor).toBeTruthy();
    const same = await served.bin.call('secrets_list', { namePrefix: 'a5cur/a/', limit: 5, cursor });
    expect(same.structured?.secrets.map((s: { name: string }) => s.name)).toEqual(['a5cur/a/2', 'a5cur/a/3']);
    const b = await served.bin.call('secrets_list', { namePrefix: 'a5cur/b/', limit: 5, cursor });
    expect(b.isError, b.text).toBe(true);
    expect(b.text).toMatch(/^ERR_INVALID_INPUT: cursor .*other filters/);
    const audit = await served.bin.call('store_audit', { namePrefix: 'a5cur/a/', limit: 5, cursor });
    expect(audit.text).toMatch(/^ERR_INVALID_INPUT: cursor /);
  });
});

describe('a service that keeps throttling', () => {
  it('store_audit stops reading at the first throttled secret and continues from it, not passing it by as unreadable', async () => {
    for (let i = 10; i < 30; i++) sim.seed(`a5thr/s${i}`, VALUE);
    sim.control.failFrom = {
      operation: 'GetSecretValue',
      skip: 3,
      type: 'ThrottlingException',
      message: 'Rate exceeded',
    };
    const from = sim.control.operations.length;
    const requestsBefore = sim.control.requests.length;
    let r: Awaited<ReturnType<SecretsBin['call']>>;
    try {
      r = await served.bin.call('store_audit', { namePrefix: 'a5thr/', limit: 20 });
    } finally {
      sim.control.failFrom = undefined;
    }
    const reads = sim.control.requests
      .slice(requestsBefore)
      .filter((q) => q.headers['x-amz-target'] === 'secretsmanager.GetSecretValue').length;
    expect(sim.control.operations.slice(from).filter((o) => o === 'GetSecretValue')).toHaveLength(3);
    // no storm: at most the reads in flight when the first throttle came back, each with its SDK retry
    expect(reads).toBeLessThanOrEqual(3 + 4 * 2);
    expect(r.isError, r.text).toBe(false);
    expect(r.structured?.findings.filter((f: { issue: string }) => f.issue === 'unreadable')).toEqual([]);
    // four reads go out at once; which of them came fourth (and was throttled) is up to the network
    const scanned = r.structured?.scanned as number;
    expect(scanned).toBeGreaterThanOrEqual(1);
    expect(scanned).toBeLessThanOrEqual(3);
    expect(r.structured?.truncated).toBe(true);
    expect(r.structured?.note).toMatch(/^stopped before "a5thr\/s\d+": Secrets Manager answered ThrottlingException/);
    const next = await served.bin.call('store_audit', {
      namePrefix: 'a5thr/',
      limit: 20,
      cursor: r.structured?.nextCursor,
    });
    expect(next.isError, next.text).toBe(false);
    expect(next.structured?.scanned).toBe(20 - scanned);
    expect(next.structured?.findings).toEqual([]);
  });

  it('store_audit throttled on its first read says so, and how to continue', async () => {
    sim.control.failFrom = {
      operation: 'GetSecretValue',
      skip: 0,
      type: 'ThrottlingException',
      message: 'Rate exceeded',
    };
    let r: Awaited<ReturnType<SecretsBin['call']>>;
    try {
      r = await served.bin.call('store_audit', { namePrefix: 'a5thr/', limit: 5 });
    } finally {
      sim.control.failFrom = undefined;
    }
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^ERR_BACKEND_UNAVAILABLE: .*ThrottlingException.*retry later/);
  });
});

describe('KMS refusals', () => {
  it('EncryptionFailure and AccessDenied on a write: say nothing was stored, and never quote the value', async () => {
    sim.seed('a5/kms', `Old-${VALUE}`);
    const value = `New-${VALUE}`;
    sim.control.failNext = {
      operation: 'PutSecretValue',
      type: 'EncryptionFailure',
      message: `KMS key arn:aws:kms:eu-north-1:123456789012:key/1234 is disabled; value was ${value}`,
    };
    const r = await served.bin.call('secrets_put', { name: 'a5/kms', value, mode: 'update' });
    expect(r.text).toMatch(/^ERR_BACKEND_ERROR: could not store a new value in secret "a5\/kms": EncryptionFailure/);
    expect(r.text).toContain('nothing was stored');
    sim.control.failNext = {
      operation: 'GetSecretValue',
      type: 'DecryptionFailure',
      message: "Secrets Manager can't decrypt the protected secret text using the provided KMS key.",
    };
    const g = await served.bin.call('secrets_get', { name: 'a5/kms' });
    expect(g.text).toMatch(/^ERR_BACKEND_ERROR: could not read secret "a5\/kms": DecryptionFailure/);
    expect(sim.valueOf('a5/kms')).toBe(`Old-${VALUE}`);
    assertNowhere([value], {
      results: served.bin.results(),
      stderr: served.bin.stderr(),
      audit: served.bin.auditText(),
    });
  });
});

describe('ARNs of another partition, Region or account', () => {
  it('are looked up as given and answered as not found, naming the ARN', async () => {
    for (const arn of [
      'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a5/nul',
      'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:a5/nul',
      `arn:aws:secretsmanager:${sim.region}:210987654321:secret:a5/nul`,
    ]) {
      const r = await served.bin.call('secrets_get', { name: arn });
      expect(r.text).toMatch(/^ERR_NOT_FOUND: could not read secret "arn:/);
    }
  });
});
