import { AUTH_ERROR_CODES, AuthError } from '@ravenhelm/auth';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLE, RavenhelmError, toRavenhelmError, withoutValuePieces, withoutValues } from './errors.js';

describe('error table', () => {
  it('maps every auth code to a 4xx/5xx protocol error', () => {
    for (const code of AUTH_ERROR_CODES) {
      const m = ERROR_TABLE[code];
      expect(m.kind, code).toBe('protocol');
      expect(m.http, code).toBeGreaterThanOrEqual(400);
    }
  });

  it('keeps tool-level errors as HTTP 200 so the model can read them', () => {
    for (const [code, m] of Object.entries(ERROR_TABLE)) {
      if (m.kind === 'tool') expect(m.http, code).toBe(200);
    }
  });

  it('wraps unknown errors without leaking their message', () => {
    const e = toRavenhelmError(new Error('password=hunter2'));
    expect(e.code).toBe('ERR_INTERNAL');
    expect(e.message).not.toContain('hunter2');
    const auth = toRavenhelmError(new AuthError('ERR_TOKEN_EXPIRED', 'token expired'));
    expect(auth).toBeInstanceOf(RavenhelmError);
    expect(auth.mapping.http).toBe(401);
  });
});

describe('withoutValues', () => {
  it('replaces every occurrence of each value at least minLength long, and leaves shorter ones', () => {
    const text = 'token glpat-abcdef12 sent twice: glpat-abcdef12; pin 1234 and id ab';
    expect(withoutValues(text, ['glpat-abcdef12', '1234', 'ab'], 4)).toBe(
      'token [redacted] sent twice: [redacted]; pin [redacted] and id ab',
    );
    expect(withoutValues(text, ['1234'], 8)).toBe(text);
    expect(withoutValues('a-b', ['', '-'])).toBe('a[redacted]b');
  });

  it('also cuts the JSON-escaped and percent-encoded forms a backend echoes', () => {
    const value = 'pa"ss\\wo/rd+\n';
    const echoed = `{"detail":${JSON.stringify(`bad ${value}`)}} url: /login?p=${encodeURIComponent(value)} raw ${value}`;
    const out = withoutValues(echoed, [value], 4);
    expect(out).toBe('{"detail":"bad [redacted]"} url: /login?p=[redacted] raw [redacted]');
    for (const piece of ['pa"ss', 'pa\\"ss', 'pa%22ss', 'wo/rd', 'wo%2Frd']) expect(out).not.toContain(piece);
  });
});

describe('withoutValuePieces', () => {
  const VALUE = 'Zq7-Horse-Battery-Staple-9xK2-Tr0ub4dor';

  it('cuts a quoted part of a value (its first 24 characters), which withoutValues leaves whole', () => {
    const text = `Value '${VALUE.slice(0, 24)}...' at 'secretString' failed`;
    expect(withoutValues(text, [VALUE], 4)).toBe(text);
    expect(withoutValuePieces(text, [VALUE], 8, 4)).toBe("Value '[redacted]...' at 'secretString' failed");
  });

  it('cuts one field of a JSON value, JSON-escaped and percent-encoded pieces, and short values whole', () => {
    const json = JSON.stringify({ user: 'app', apiKey: 'ak-Sup3rSecretKey-0aa1', password: 'Pw-Initial!' });
    expect(withoutValuePieces(`field apiKey 'ak-Sup3rSecretKey-0aa1' is malformed`, [json], 8, 4)).toBe(
      "field apiKey '[redacted]' is malformed",
    );
    const odd = 'pa"ss\\wo/rd+Sup3r\nSecret-tail';
    const escaped = JSON.stringify(odd).slice(1, 18);
    const encoded = encodeURIComponent(odd).slice(6, 30);
    const text = `body "${escaped}" url ?k=${encoded}& pin 1234`;
    expect(withoutValues(text, [odd], 4)).toBe(text);
    expect(withoutValuePieces(text, [odd, '1234'], 8, 4)).toBe('body "[redacted]" url ?k=[redacted]& pin [redacted]');
    expect(withoutValuePieces('pin 123', ['123'], 8, 4)).toBe('pin 123');
  });

  it('leaves ordinary text alone: pieces shorter than pieceLength, and values with nothing in common', () => {
    const text = 'Horse-B and Staple are words; 1234567 too';
    expect(withoutValuePieces(text, [VALUE, '12345678'], 8, 4)).toBe(text);
    expect(withoutValuePieces('', [VALUE], 8)).toBe('');
    expect(() => withoutValuePieces('x', [VALUE], 0)).toThrow(RangeError);
  });

  it('merges touching pieces into one cut and keeps the text between separate quotes', () => {
    const text = `${VALUE.slice(20)}${VALUE.slice(0, 12)} | ${VALUE.slice(5, 17)}`;
    expect(withoutValuePieces(text, [VALUE], 8)).toBe('[redacted] | [redacted]');
  });

  it('with end: returns the text before it, cutting a value that crosses it', () => {
    const text = `head ${VALUE} tail`;
    // "head " + the first 3 characters of the value: they are cut because the value goes on past end
    expect(withoutValuePieces(text, [VALUE], 8, 4, 8)).toBe('head [redacted]');
    expect(withoutValuePieces(text, [VALUE], 8, 4, 5)).toBe('head ');
    expect(withoutValuePieces(`a${text}`, ['zzzzzzzzzz'], 8, 4, 4)).toBe('ahea');
  });

  it('a 64 KiB message against a 64 KiB value, and a repetitive pair, stay linear', () => {
    const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/';
    let seed = 7;
    const random = (n: number) =>
      Array.from({ length: n }, () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return letters[seed >>> 26];
      }).join('');
    const value = random(65_536);
    const quoting = `bad ${value.slice(0, 30_000)} and ${value.slice(40_000)} end ${random(2_000)}`;
    const other = random(65_536);
    const cases: [string, string, string][] = [
      [other, value, other],
      [quoting, value, `bad [redacted] and [redacted] end ${quoting.slice(-2_000)}`],
      ['a'.repeat(65_536), 'a'.repeat(65_535), '[redacted]'],
      ['ab'.repeat(32_768), 'ba'.repeat(32_768), '[redacted]'],
    ];
    let took = 0;
    for (const [text, v, expected] of cases) {
      const started = performance.now();
      const out = withoutValuePieces(text, [v], 8, 4);
      took += performance.now() - started;
      expect(out === expected, out.slice(0, 80)).toBe(true);
    }
    // linear: tens of ms each, even on a busy machine; a quadratic scan would take minutes
    expect(took).toBeLessThan(5_000);
  });
});
