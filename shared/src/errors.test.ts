import { AUTH_ERROR_CODES, AuthError } from '@ravenhelm/auth';
import { describe, expect, it } from 'vitest';
import {
  boundedMessage,
  ERROR_TABLE,
  MAX_ERROR_MESSAGE_BYTES,
  RavenhelmError,
  scrubSteps,
  ToolError,
  toRavenhelmError,
  withoutValuePieces,
  withoutValues,
} from './errors.js';
import { loneSurrogateAt } from './unicode.js';

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

  it('a message against a value of its size, and a repetitive pair, stay linear (counted in steps, not time)', () => {
    const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/';
    let seed = 7;
    const random = (n: number) =>
      Array.from({ length: n }, () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return letters[seed >>> 26];
      }).join('');
    /** The steps scrubbing the four cases of size n takes (each output checked), and the characters they hold. */
    const work = (n: number) => {
      const value = random(n);
      const tail = random(n / 32);
      const quoting = `bad ${value.slice(0, (n * 15) / 32)} and ${value.slice((n * 20) / 32)} end ${tail}`;
      const other = random(n);
      const cases: [string, string, string][] = [
        [other, value, other],
        [quoting, value, `bad [redacted] and [redacted] end ${tail}`],
        ['a'.repeat(n), 'a'.repeat(n - 1), '[redacted]'],
        ['ab'.repeat(n / 2), 'ba'.repeat(n / 2), '[redacted]'],
      ];
      const before = scrubSteps();
      let chars = 0;
      for (const [text, v, expected] of cases) {
        const out = withoutValuePieces(text, [v], 8, 4);
        expect(out === expected, out.slice(0, 80)).toBe(true);
        chars += text.length + v.length;
      }
      return { steps: scrubSteps() - before, chars };
    };
    const small = work(4_096);
    const large = work(16_384);
    // linear: four times the input, about four times the steps, a few dozen per character (a quadratic scan
    // would take sixteen times the steps, and tens of thousands per character at 64 KiB)
    expect(large.steps / small.steps).toBeLessThan(5);
    expect(large.steps / large.chars).toBeLessThan(40);
  });
});

describe('boundedMessage: every error message is capped where the error is made', () => {
  it('leaves a message within the cap whole, and cuts a longer one with a marker, within the cap', () => {
    const fits = 'x'.repeat(MAX_ERROR_MESSAGE_BYTES);
    expect(boundedMessage(fits)).toBe(fits);
    const long = `${'y'.repeat(5_000)}TAIL`;
    const cut = boundedMessage(long);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_BYTES);
    expect(cut).toMatch(/^y+… \[error message cut at \d+ of 5004 bytes\]$/);
    expect(cut).not.toContain('TAIL');
    expect(cut.length).toBeGreaterThan(MAX_ERROR_MESSAGE_BYTES - 64);
  });

  it('never cuts a character in half (a surrogate pair, a 3-byte character)', () => {
    for (let shift = 0; shift < 4; shift++) {
      const cut = boundedMessage(`${'a'.repeat(shift)}${'😀€'.repeat(2_000)}`);
      expect(loneSurrogateAt(cut)).toBe(-1);
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_BYTES);
      const head = cut.slice(0, cut.indexOf('… [error message cut'));
      expect(Buffer.from(head).toString('utf8')).toBe(head);
      expect(cut).toContain(`cut at ${Buffer.byteLength(head)} of ${shift + 2_000 * 7} bytes`);
    }
  });

  it('RavenhelmError and ToolError carry the capped message', () => {
    const huge = 'backend said: '.concat('z'.repeat(100_000));
    expect(Buffer.byteLength(new ToolError('ERR_BACKEND_ERROR', huge).message)).toBeLessThanOrEqual(2048);
    expect(Buffer.byteLength(new RavenhelmError('ERR_INTERNAL', huge).message)).toBeLessThanOrEqual(2048);
    expect(new ToolError('ERR_NOT_FOUND', 'short').message).toBe('short');
  });
});
