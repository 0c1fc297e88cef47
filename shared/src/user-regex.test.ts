import { describe, expect, it } from 'vitest';
import { ToolError } from './errors.js';
import { compileUserPattern, MAX_PATTERN_SIZE, repeatedSize } from './user-regex.js';

const refusal = (pattern: string): ToolError => {
  try {
    compileUserPattern(pattern, { field: 'grep' });
  } catch (err) {
    if (err instanceof ToolError) return err;
    throw err;
  }
  throw new Error(`${pattern} was accepted`);
};

describe('compileUserPattern', () => {
  it('matches like a regex, anywhere or whole, with optional case folding', () => {
    const p = compileUserPattern('^req \\d+ failed$', { field: 'grep' });
    expect(p.test('req 42 failed')).toBe(true);
    expect(p.test('req x failed')).toBe(false);
    const ci = compileUserPattern('error', { field: 'grep', ignoreCase: true });
    expect(ci.test('an ERROR here')).toBe(true);
    const whole = compileUserPattern('/etc/[a-z]+', { field: 'argv[1]' });
    expect(whole.matchesWhole('/etc/hostname')).toBe(true);
    expect(whole.matchesWhole('/etc/hostname /run/secrets/x')).toBe(false);
    expect(whole.test('x /etc/hostname y')).toBe(true);
  });

  it('runs patterns that backtrack exponentially on the JS engine in linear time', () => {
    // On the JS engine each of these takes seconds on a 24-character line and doubles per character.
    const long = `${'a'.repeat(5000)}`;
    for (const pattern of ['(.|.)*Z', '(\\w|\\d)+!', '(a+)+b', '(a|aa)*b']) {
      const p = compileUserPattern(pattern, { field: 'grep' });
      expect(p.test(long)).toBe(false);
    }
  });

  it('names the construct RE2 does not support and what to do', () => {
    const cases: [string, RegExp][] = [
      ['(?=x)y', /lookahead/],
      ['(?!x)y', /lookahead/],
      ['(?<=x)y', /lookbehind/],
      ['(a)\\1', /backreference/],
      ['a++', /possessive/],
      ['a{2000}', /repeat count/],
    ];
    for (const [pattern, construct] of cases) {
      const err = refusal(pattern);
      expect(err.code).toBe('ERR_INVALID_INPUT');
      expect(err.message).toMatch(construct);
      expect(err.message).toMatch(/^grep: /);
      expect(err.message).toMatch(/substring/);
    }
  });

  it('passes the parser message on for plain syntax errors', () => {
    const err = refusal('(unclosed');
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/missing closing \)/);
  });

  it('bounds how far a pattern grows by its repeats, and refuses one past the bound before RE2 compiles it', () => {
    expect(repeatedSize('DiskFull|HighLoad')).toBe(16);
    expect(repeatedSize('[0-9]{1,3}')).toBe(4);
    expect(repeatedSize('(ab){3}')).toBe(8);
    expect(repeatedSize('((ab){10}){10}')).toBe(2 * 11 * 11);
    expect(repeatedSize('\\p{Greek}{100}')).toBe(101);
    expect(repeatedSize('[]{}]{100}')).toBe(101);
    expect(repeatedSize('\\Qa{9}\\E')).toBe(8);
    expect(repeatedSize(`(${'x'.repeat(970)}){1000}`)).toBeGreaterThan(900_000);
    // re2js compiles this 978-character pattern (its nested repeats are each within RE2's 1,000) into a
    // million instructions: seconds of one core, from one grep argument.
    const err = refusal(`(${'x'.repeat(970)}){1000}`);
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(
      new RegExp(`^grep: the pattern's repeats make it \\d+ steps long, over ${MAX_PATTERN_SIZE}; use fewer`),
    );
    expect(compileUserPattern('[a-z]{1,63}(-[a-z0-9]{1,63}){0,5}', { field: 'grep' }).test('api-v1')).toBe(true);
  });
});
