import type { ToolError } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { timestampKey } from '../stream.js';
import { parseBound, parseSince, parseWindow } from './log-window.js';
import { buildLineFilter, fitText, logCap } from './logs.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as ToolError).code;
  }
  return undefined;
};

describe('parseSince', () => {
  const now = Date.UTC(2026, 0, 31, 12, 0, 0);
  it('reads durations and ISO times', () => {
    expect(parseSince('90s', now)).toBe(now / 1000 - 90);
    expect(parseSince('15m', now)).toBe(now / 1000 - 900);
    expect(parseSince('2h', now)).toBe(now / 1000 - 7200);
    expect(parseSince('2026-01-31T11:00:00Z', now)).toBe(now / 1000 - 3600);
    expect(parseSince(undefined, now)).toBeUndefined();
  });
  it('refuses anything else with ERR_INVALID_INPUT', () => {
    expect(code(() => parseSince('yesterday', now))).toBe('ERR_INVALID_INPUT');
    expect(code(() => parseSince('15 minutes', now))).toBe('ERR_INVALID_INPUT');
  });
});

describe('grep filters', () => {
  it('substring, case-insensitive and regex modes', () => {
    const sub = buildLineFilter({ grep: 'Error', grepMode: 'substring', ignoreCase: false });
    expect(sub?.({ stream: 'stdout', text: 'an Error here' })).toBe(true);
    expect(sub?.({ stream: 'stdout', text: 'an error here' })).toBe(false);
    const ci = buildLineFilter({ grep: 'Error', grepMode: 'substring', ignoreCase: true });
    expect(ci?.({ stream: 'stdout', text: 'an error here' })).toBe(true);
    const re = buildLineFilter({ grep: '^req \\d+ failed$', grepMode: 'regex', ignoreCase: false });
    expect(re?.({ stream: 'stdout', text: 'req 42 failed' })).toBe(true);
    expect(re?.({ stream: 'stdout', text: 'req x failed' })).toBe(false);
  });
  it('matches against the text without ANSI colors', () => {
    const f = buildLineFilter({ grep: 'red alert', grepMode: 'substring', ignoreCase: false });
    expect(f?.({ stream: 'stdout', text: '\u001b[31mred\u001b[0m alert' })).toBe(true);
  });
  it('refuses an invalid regex or one RE2 cannot express', () => {
    expect(code(() => buildLineFilter({ grep: '(unclosed', grepMode: 'regex', ignoreCase: false }))).toBe(
      'ERR_INVALID_INPUT',
    );
    expect(code(() => buildLineFilter({ grep: '(a)\\1', grepMode: 'regex', ignoreCase: false }))).toBe(
      'ERR_INVALID_INPUT',
    );
  });
  it('runs patterns that backtrack exponentially on the JS engine in linear time', () => {
    const line = { stream: 'stdout' as const, text: 'a'.repeat(4000) };
    for (const grep of ['(.|.)*Z', '(\\w|\\d)+!', '(a+)+$b', '(x*y*)*z']) {
      expect(buildLineFilter({ grep, grepMode: 'regex', ignoreCase: false })?.(line)).toBe(false);
    }
  });
  it('no grep means no filter', () => {
    expect(buildLineFilter({ grep: undefined, grepMode: 'substring', ignoreCase: false })).toBeUndefined();
  });
});

describe('fitText', () => {
  it('keeps the newest lines so that the JSON form fits', () => {
    const text = Array.from({ length: 100 }, (_, i) => `line "${i}"\t\\`).join('\n');
    const out = fitText(text, 200);
    expect(Buffer.byteLength(JSON.stringify(out.text))).toBeLessThanOrEqual(200);
    expect(out.truncated).toBe(true);
    expect(out.text.endsWith('line "99"\t\\')).toBe(true);
    expect(out.totalBytes).toBe(Buffer.byteLength(text));
  });
  it('leaves small text alone', () => {
    expect(fitText('a\nb\n', 100)).toEqual({ text: 'a\nb\n', truncated: false, totalBytes: 4 });
  });
  it('fits text far smaller than the cap whose escapes make its JSON far larger (a log of control characters)', () => {
    // Once returned 66,232 JSON bytes for a 64,512 cap (CI, a log still being written): the cut shrank from
    // the cap, not from the text, and four rounds were not enough to reach the text's own size.
    const line = `error: ${'\u0001'.repeat(1000)}`;
    let checked = 0;
    for (const lines of [1, 4, 10, 12, 30]) {
      for (const partial of [0, 185, 999]) {
        const text = `${Array.from({ length: lines }, () => line).join('\n')}\nerror: ${'\u0001'.repeat(partial)}`;
        for (const cap of [64_512, 25_000, 7_000]) {
          const out = fitText(text, cap);
          const size = Buffer.byteLength(JSON.stringify(out.text));
          expect(size, `${lines} lines + ${partial}, cap ${cap}`).toBeLessThanOrEqual(cap);
          expect(text.endsWith(out.text)).toBe(true);
          // not cut more than needed: one more line's worth would not have fitted
          if (out.truncated) expect(size + 6_020).toBeGreaterThan(cap);
          checked++;
        }
      }
    }
    expect(checked).toBe(45);
  });
});

describe('timestampKey', () => {
  it('orders nano timestamps whose fractions have different lengths', () => {
    const a = '2026-01-31T12:00:00.3Z';
    const b = '2026-01-31T12:00:00.30001Z';
    expect(a < b).toBe(false); // the raw strings sort wrongly
    expect(timestampKey(a) < timestampKey(b)).toBe(true);
  });
});

describe('parseBound', () => {
  it('keeps the nanoseconds of an ISO bound, and asks the engine for the millisecond around it', () => {
    const ts = '2026-12-06T04:40:24.713664099Z';
    const since = parseBound(ts, 'since');
    const until = parseBound(ts, 'until');
    expect(since?.key).toBe('2026-12-06T04:40:24.713664099');
    expect(until?.key).toBe('2026-12-06T04:40:24.713664099');
    // engine since/until are inclusive: since from the millisecond before, until through the one after
    expect(String(since?.engine)).toBe(String(Date.parse('2026-12-06T04:40:24.713Z') / 1000));
    expect(String(until?.engine)).toBe(String(Date.parse('2026-12-06T04:40:24.714Z') / 1000));
    expect(String(parseBound('2026-12-06T04:40:24Z', 'until')?.engine)).toBe(
      String(Date.parse('2026-12-06T04:40:24Z') / 1000),
    );
  });

  it('normalises offsets and short fractions to the key of the engine timestamps', () => {
    expect(parseBound('2026-12-06T05:40:24.7+01:00', 'since')?.key).toBe('2026-12-06T04:40:24.700000000');
    expect(parseBound('2026-12-06T04:40:24Z', 'since')?.key).toBe('2026-12-06T04:40:24.000000000');
    const now = Date.parse('2026-01-31T12:00:00.250Z');
    expect(parseBound('15m', 'since', now)?.key).toBe('2026-01-31T11:45:00.250000000');
  });

  it('refuses until at or before since, to the nanosecond', () => {
    expect(() =>
      parseWindow({ since: '2026-12-06T04:40:24.713664099Z', until: '2026-12-06T04:40:24.713664099Z' }),
    ).toThrow(/must be later/);
    expect(
      parseWindow({ since: '2026-12-06T04:40:24.713664099Z', until: '2026-12-06T04:40:24.7136641Z' }).until?.key,
    ).toBe('2026-12-06T04:40:24.713664100');
  });
});

describe('logCap', () => {
  it('without maxBytes is what fits the budget, with no note', () => {
    expect(logCap(undefined, 26_009)).toEqual({ cap: 26_009 - 1024, notes: [] });
    expect(logCap(undefined, 26_009, 500).cap).toBe(26_009 - 1024 - 500);
  });

  it('says when a maxBytes the caller set was lowered', () => {
    const { cap, notes } = logCap(32_768, 26_009);
    expect(cap).toBe(26_009 - 1024);
    expect(notes[0]).toMatch(/^maxBytes 32768 lowered to 24985/);
    expect(logCap(4096, 26_009)).toEqual({ cap: 4096, notes: [] });
  });
});
