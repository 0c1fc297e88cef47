import { AUTH_ERROR_CODES, AuthError } from '@ravenhelm/auth';
import { describe, expect, it } from 'vitest';
import { ERROR_TABLE, RavenhelmError, toRavenhelmError, withoutValues } from './errors.js';

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
