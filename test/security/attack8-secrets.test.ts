/**
 * The secrets server attacked from outside, eighth round: through the real bin over stdio (the SDK Client) against the
 * Secrets Manager simulator through the real AWS SDK client. Error answers shaped by a hostile endpoint or proxy: an
 * error name that is a member of every JS object, an error name far longer than any AWS sends, a message quoting the
 * value percent-encoded (a proxy echoing a form body), a message quoting a long value twice. What each leaves in
 * responses, errors, logs and audit records.
 */
import { describe, expect, it } from 'vitest';
import { assertNowhere, policyFor } from '../secrets/harness.js';
import { useSecretsBin } from './secrets-session.js';

/** Every `k`-character piece of `value` that `text` holds, by offset. */
function piecesIn(text: string, value: string, k = 8): string[] {
  const out: string[] = [];
  for (let i = 0; i + k <= value.length; i++) if (text.includes(value.slice(i, i + k))) out.push(`@${i}`);
  return out;
}

const served = useSecretsBin({
  policy: policyFor({ confirm: false, revealTo: ['ops'] }),
  env: { SECRETS_MAX_ATTEMPTS: '1' },
  seed: (sim) => {
    sim.seed('a8/plain', 'Old-Value-a8-000000000!');
  },
});
const { sim } = served;

describe('an error name that is a member of every JS object', () => {
  // The SDK names the error by the answer's __type (AWS JSON 1.1): any string the endpoint sends.
  it('is read as an unknown name, never as an entry of the error table ("; undefined")', async () => {
    for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      sim.control.failNext = { operation: 'DescribeSecret', type, message: 'odd' };
      const r = await served.bin.call('secrets_describe', { name: 'a8/plain' });
      expect(r.isError, r.text).toBe(true);
      expect(r.text, type).toBe(`ERR_BACKEND_ERROR: could not describe secret "a8/plain": ${type} (odd)`);
    }
  });
});

describe('an error name far longer than any AWS sends', () => {
  it('is not shown: the error stays short and says what to check', async () => {
    const type = `Long${'x'.repeat(200_000)}Exception`;
    sim.control.failNext = { operation: 'DescribeSecret', type, message: 'odd' };
    const r = await served.bin.call('secrets_describe', { name: 'a8/plain' });
    expect(r.isError).toBe(true);
    expect(r.text.length, r.text.slice(0, 200)).toBeLessThan(1_000);
    expect(r.text).toMatch(
      /^ERR_BACKEND_ERROR: could not describe secret "a8\/plain": Secrets Manager answered an error whose name .* is no AWS error name \(not shown\)/,
    );
    expect(served.bin.stderr()).not.toContain('x'.repeat(1_000));
    expect(served.bin.auditText()).not.toContain('x'.repeat(1_000));
  });
});

describe('a message quoting the value as a proxy echoes a form body (percent-encoded)', () => {
  const VALUE = 'Pass word/with+plus=and&amp; "quotes" #8-Tr0ub4dor';
  it('secrets_put: no 8-character piece of the value, as sent or percent-encoded, in any channel', async () => {
    const encoded = encodeURIComponent(VALUE);
    sim.control.failNext = {
      operation: 'PutSecretValue',
      type: 'ValidationException',
      message: `1 validation error: body SecretString=${encoded.slice(4, 40)}... failed to satisfy constraint`,
    };
    const r = await served.bin.call('secrets_put', { name: 'a8/plain', value: VALUE, mode: 'update' });
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(
      /^ERR_INVALID_INPUT: could not store a new value in secret "a8\/plain": ValidationException/,
    );
    for (const [channel, text] of [
      ['result', r.text],
      ['stderr', served.bin.stderr()],
      ['audit', served.bin.auditText()],
    ] as const) {
      expect(piecesIn(text, encoded), channel).toEqual([]);
      expect(piecesIn(text, VALUE), channel).toEqual([]);
    }
    expect(sim.valueOf('a8/plain')).toBe('Old-Value-a8-000000000!');
  });
});

describe('a message quoting a long value whole, then its start again', () => {
  it('secrets_put: the start is cut too, however far into the message it stands', async () => {
    const value = Array.from({ length: 4_090 }, (_, i) => String.fromCharCode(65 + ((i * 7) % 26))).join('');
    sim.control.failNext = {
      operation: 'PutSecretValue',
      type: 'ValidationException',
      message: `${value} ${value.slice(0, 40)}`,
    };
    const r = await served.bin.call('secrets_put', { name: 'a8/plain', value, mode: 'update' });
    expect(r.isError, r.text.slice(0, 300)).toBe(true);
    expect(r.text).toContain('ValidationException ([redacted] [redacted]);');
    assertNowhere([value.slice(0, 5)], { result: r.text });
  });
});

it('no value anywhere', () => {
  assertNowhere(['Pass word/with+plus=and&amp; "quotes" #8-Tr0ub4dor'], {
    results: served.bin.results(),
    stderr: served.bin.stderr(),
    audit: served.bin.auditText(),
  });
});
