/**
 * The secrets server attacked from outside, seventh round: through the real bin over stdio (the SDK Client) against
 * the Secrets Manager simulator through the real AWS SDK client. Hostile or odd answers (an error quoting part of
 * the value sent, an error name carrying it, a NextToken as long as the service allows) and what each leaves in
 * responses, errors, logs and audit records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertNowhere, policyFor, type SecretsBin, startBin } from '../secrets/harness.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { useSecretsBin } from './secrets-session.js';

const VALUE = 'Zq7-Horse-Battery-Staple-9xK2-Tr0ub4dor-attack7';
const API_KEY = 'ak7-Sup3rSecretApiKey-0aa1bb2cc3dd';
const JSON_VALUE = JSON.stringify({ user: 'app', apiKey: API_KEY, password: 'Pw-Attack7-Initial-Value!' });

/** Every 8-character piece of the value found in the text, by offset: an error quoting a fragment leaks that much. */
function fragmentsIn(text: string, value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= value.length; i++) if (text.includes(value.slice(i, i + 8))) out.push(`@${i}`);
  return out;
}

const served = useSecretsBin({
  policy: policyFor({ confirm: false, revealTo: ['ops'] }),
  seed: (sim) => {
    sim.seed('a7/plain', 'Old-Value-a7-000000000!');
    sim.seed('a7/json', JSON_VALUE);
    for (let i = 0; i < 3; i++) sim.seed(`a7/page/s${i}`, `Page-Value-a7-${i}-xxxxxxxx`);
  },
});
const { sim } = served;

describe('an error that quotes part of the value sent', () => {
  it('secrets_put: a ValidationException quoting the first 24 characters of the value shows none of them', async () => {
    sim.control.failNext = {
      operation: 'PutSecretValue',
      type: 'ValidationException',
      message: `1 validation error detected: Value '${VALUE.slice(0, 24)}...' at 'secretString' failed to satisfy constraint`,
    };
    const r = await served.bin.call('secrets_put', { name: 'a7/plain', value: VALUE, mode: 'update' });
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(
      /^ERR_INVALID_INPUT: could not store a new value in secret "a7\/plain": ValidationException/,
    );
    expect(fragmentsIn(r.text, VALUE)).toEqual([]);
    expect(fragmentsIn(served.bin.stderr(), VALUE)).toEqual([]);
    expect(fragmentsIn(served.bin.auditText(), VALUE)).toEqual([]);
  });

  it('secrets_rotate of one JSON key: an error quoting another key of the object shows none of it', async () => {
    sim.control.failNext = {
      operation: 'PutSecretValue',
      type: 'InvalidParameterException',
      message: `Invalid secret: field apiKey '${API_KEY}' looks malformed`,
    };
    const r = await served.bin.call('secrets_rotate', { name: 'a7/json', jsonKey: 'password' });
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(
      /^ERR_INVALID_INPUT: could not store a new value in secret "a7\/json": InvalidParameterException/,
    );
    expect(fragmentsIn(r.text, API_KEY)).toEqual([]);
    expect(fragmentsIn(served.bin.stderr(), API_KEY)).toEqual([]);
    expect(sim.valueOf('a7/json')).toBe(JSON_VALUE);
  });

  it('an error whose name (__type) carries the value: refused without repeating it', async () => {
    sim.control.failNext = { operation: 'PutSecretValue', type: VALUE.replace(/-/g, ''), message: 'no' };
    const value = VALUE.replace(/-/g, '');
    const r = await served.bin.call('secrets_put', { name: 'a7/plain', value, mode: 'update' });
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(/^ERR_BACKEND_ERROR: could not store a new value in secret "a7\/plain"/);
    expect(r.text).toContain('nothing was stored');
    expect(fragmentsIn(r.text, value)).toEqual([]);
    expect(fragmentsIn(served.bin.stderr(), value)).toEqual([]);
    expect(fragmentsIn(served.bin.auditText(), value)).toEqual([]);
  });

  it('a value holding a known error name still creates its secret (upsert after ResourceNotFoundException)', async () => {
    const value = 'ResourceNotFoundException-is-my-Passw0rd!';
    const r = await served.bin.call('secrets_put', { name: 'a7/new-resource', value, mode: 'upsert' });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured).toMatchObject({ name: 'a7/new-resource', created: true });
    expect(sim.valueOf('a7/new-resource')).toBe(value);
  });

  it('no value anywhere', () => {
    assertNowhere([VALUE, API_KEY, VALUE.replace(/-/g, '')], {
      results: served.bin.results(),
      stderr: served.bin.stderr(),
      audit: served.bin.auditText(),
    });
  });
});

describe('a value far above the 64 KiB the service holds (an endpoint that is not Secrets Manager)', () => {
  const huge = `Huge-${'q7'.repeat(1_500_000)}`;
  beforeAll(() => {
    sim.seed('a7/huge', 'small-value-a7-0000');
    sim.putValue('a7/huge', huge);
  });

  it('secrets_get masks it; a reveal answers within the output budget or refuses, never a cut value', async () => {
    const masked = await served.bin.call('secrets_get', { name: 'a7/huge' });
    expect(masked.isError, masked.text.slice(0, 300)).toBe(false);
    expect(masked.structured).toMatchObject({ kind: 'string', length: huge.length });
    const ask = await served.bin.call('secrets_get', { name: 'a7/huge', reveal: true });
    const token = ask.structured?.revealToken as string;
    expect(token).toBeTruthy();
    const shown = await served.bin.call('secrets_get', { name: 'a7/huge', reveal: true, revealToken: token });
    const revealed = shown.structured?.value as string | undefined;
    if (!shown.isError) expect(revealed).toBe(huge);
    else expect(shown.text.length).toBeLessThan(2000);
  });

  it('store_audit reads it without failing the audit', async () => {
    const r = await served.bin.call('store_audit', { namePrefix: 'a7/huge' });
    expect(r.isError, r.text.slice(0, 300)).toBe(false);
    expect(served.bin.results().includes(huge.slice(0, 64))).toBe(false);
  });
});

describe('a GetSecretValue answer whose value is not text', () => {
  // API reference, GetSecretValue: SecretString is a string, SecretBinary base64 (a blob); the SDK hands on a JSON
  // number, boolean, array or object in SecretString as it came.
  const odd: Record<string, unknown>[] = [
    { SecretString: 987654321987654 },
    { SecretString: true },
    { SecretString: ['arr-secret-a7-123456'] },
    { SecretString: { o: 'obj-secret-a7-123456' } },
  ];
  it('secrets_get says the answer is not a secret value and what to check, never "internal error"', async () => {
    for (const body of odd) {
      sim.control.answerNext = {
        operation: 'GetSecretValue',
        json: {
          ARN: 'arn:aws:secretsmanager:eu-north-1:123456789012:secret:a7/plain-Ab12Cd',
          Name: 'a7/plain',
          VersionId: '11111111-1111-4111-8111-111111111111',
          VersionStages: ['AWSCURRENT'],
          ...body,
        },
      };
      const r = await served.bin.call('secrets_get', { name: 'a7/plain' });
      expect(r.isError, JSON.stringify(body)).toBe(true);
      expect(r.text).toMatch(
        /^ERR_BACKEND_ERROR: could not read secret "a7\/plain": Secrets Manager answered a SecretString that is not text \(a (number|boolean|array|object), not shown\)/,
      );
      expect(r.text).toContain('check that the endpoint is Secrets Manager');
    }
    assertNowhere(['987654321987654', 'arr-secret-a7-123456', 'obj-secret-a7-123456'], {
      results: served.bin.results(),
      stderr: served.bin.stderr(),
      audit: served.bin.auditText(),
    });
  });
});

describe('a GetSecretValue answer whose binary value is not base64, or that holds no value', () => {
  // API reference, GetSecretValue: SecretBinary is a blob, base64 on the wire, which the SDK decodes to bytes; a JSON
  // number or array there is handed on as it came. A successful answer holds SecretString or SecretBinary.
  const answer = (body: Record<string, unknown>) => ({
    operation: 'GetSecretValue',
    json: {
      ARN: 'arn:aws:secretsmanager:eu-north-1:123456789012:secret:a7/plain-Ab12Cd',
      Name: 'a7/plain',
      VersionId: '22222222-2222-4222-8222-222222222222',
      VersionStages: ['AWSCURRENT'],
      ...body,
    },
  });
  it('a SecretBinary that is a number or an array: refused as no secret value, naming only its type', async () => {
    for (const [body, type] of [
      [{ SecretBinary: 1234567890123 }, 'number'],
      [{ SecretBinary: [77, 88, 99] }, 'array'],
    ] as const) {
      sim.control.answerNext = answer(body);
      const r = await served.bin.call('secrets_get', { name: 'a7/plain' });
      expect(r.isError, r.text).toBe(true);
      expect(r.text).toContain(
        `could not read secret "a7/plain": Secrets Manager answered a SecretBinary that is not base64 bytes (a ${type}, not shown)`,
      );
    }
    await new Promise((done) => setTimeout(done, 100));
    assertNowhere(['1234567890123'], {
      results: served.bin.results(),
      stderr: served.bin.stderr(),
      audit: served.bin.auditText(),
    });
  });

  it('an answer with neither SecretString nor SecretBinary is not read as an empty value', async () => {
    sim.control.answerNext = answer({});
    const r = await served.bin.call('secrets_get', { name: 'a7/plain' });
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toContain('Secrets Manager answered neither SecretString nor SecretBinary');
  });
});

describe('a NextToken as long as the service allows', () => {
  // API reference, ListSecrets: NextToken, "Length Constraints: Minimum length of 1. Maximum length of 4096."
  it('secrets_list answers a cursor that it takes back, and sends the NextToken as it came', async () => {
    const token = `AAIA${'x'.repeat(4092)}`;
    expect(token).toHaveLength(4096);
    sim.control.answerNext = {
      operation: 'ListSecrets',
      json: {
        SecretList: [
          { ARN: 'arn:aws:secretsmanager:eu-north-1:123456789012:secret:a7/page/s0-Ab12Cd', Name: 'a7/page/s0' },
        ],
        NextToken: token,
      },
    };
    const first = await served.bin.call('secrets_list', { namePrefix: 'a7/page/', limit: 1 });
    expect(first.isError, first.text).toBe(false);
    const cursor = first.structured?.nextCursor as string;
    expect(cursor).toBeTruthy();
    sim.control.answerNext = { operation: 'ListSecrets', json: { SecretList: [] } };
    const second = await served.bin.call('secrets_list', { namePrefix: 'a7/page/', limit: 1, cursor });
    expect(second.isError, second.text).toBe(false);
    const sent = JSON.parse(sim.control.requests.at(-1)?.body ?? '{}') as { NextToken?: string };
    expect(sent.NextToken).toBe(token);
  });

  it('the simulator refuses a NextToken longer than 4096 characters, as the service model does', async () => {
    const { ListSecretsCommand } = await import('@aws-sdk/client-secrets-manager');
    const { sdkFor, awsError } = await import('../secrets/harness.js');
    const sdk = sdkFor(sim);
    try {
      const e = await awsError(sdk.send(new ListSecretsCommand({ NextToken: 'x'.repeat(4097) })));
      expect(e.name).toBe('ValidationException');
    } finally {
      sdk.destroy();
    }
  });
});

describe('a clock 20 minutes off', () => {
  // SigV4 refuses a request more than 15 minutes from the service's clock (InvalidSignatureException, "Signature
  // expired"); AWS SDKs read the service's Date header, correct their clock offset and retry.
  const skewed = new SecretsManagerSimulator();
  let retrying: SecretsBin;
  let once: SecretsBin;
  beforeAll(async () => {
    await skewed.start();
    skewed.seed('skew/a', 'Skew-Value-a7-0000000!');
    [retrying, once] = await Promise.all([
      startBin({ sim: skewed, policy: policyFor({ confirm: false, revealTo: ['ops'] }) }),
      startBin({ sim: skewed, policy: policyFor({ confirm: false }), env: { SECRETS_MAX_ATTEMPTS: '1' } }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([retrying?.close(), once?.close()]);
    await skewed.close();
  });

  it('with a retry allowed, the SDK corrects its clock from the answer and the call succeeds', async () => {
    for (const ms of [20 * 60_000, -20 * 60_000]) {
      skewed.control.clockSkewMs = ms;
      const r = await retrying.call('secrets_describe', { name: 'skew/a' });
      expect(r.isError, r.text).toBe(false);
      expect(r.structured?.name).toBe('skew/a');
    }
    skewed.control.clockSkewMs = 0;
  });

  it('with one attempt, the error says the clock may be wrong, and a put stores nothing', async () => {
    skewed.control.clockSkewMs = 20 * 60_000;
    try {
      const r = await once.call('secrets_put', { name: 'skew/a', value: 'Skew-New-Value-a7-1!', mode: 'update' });
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(
        /InvalidSignatureException \(Signature expired: .*\); the server's AWS secret key or clock is wrong/,
      );
      expect(skewed.valueOf('skew/a')).toBe('Skew-Value-a7-0000000!');
    } finally {
      skewed.control.clockSkewMs = 0;
    }
  });
});
