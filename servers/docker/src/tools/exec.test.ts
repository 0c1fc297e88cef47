import type { ToolError } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { findRule, globToRegExp, parseExecOptions } from './exec.js';

const c = (name: string) => ({ name, id: 'f'.repeat(64) });

describe('exec allowlist', () => {
  const rules = parseExecOptions({
    allow: [
      { container: 'web-*', argv: ['cat', '/etc/hostname'], exact: true },
      { container: 'db?', argv: ['pg_isready'] },
      { argv: ['echo'] },
    ],
  });

  it('matches an exact argv on a glob-matched container', () => {
    expect(findRule(rules, c('web-1'), ['cat', '/etc/hostname'])?.container).toBe('web-*');
  });

  it('refuses extra arguments on an exact rule (no reading other files)', () => {
    expect(findRule(rules, c('web-1'), ['cat', '/etc/hostname', '/etc/shadow'])).toBeUndefined();
  });

  it('allows extra arguments after a prefix rule', () => {
    expect(findRule(rules, c('db1'), ['pg_isready', '-h', 'localhost'])?.argv).toEqual(['pg_isready']);
  });

  it('refuses a container the glob does not match', () => {
    expect(findRule(rules, c('db12'), ['pg_isready'])).toBeUndefined();
    expect(findRule(rules, c('api'), ['cat', '/etc/hostname'])).toBeUndefined();
  });

  it('a rule without container applies everywhere; argv elements must be equal, not substrings', () => {
    expect(findRule(rules, c('anything'), ['echo', 'hi'])).toBeDefined();
    expect(findRule(rules, c('anything'), ['echoo'])).toBeUndefined();
    expect(findRule(rules, c('anything'), ['ech'])).toBeUndefined();
  });

  it('globs escape regex characters', () => {
    expect(globToRegExp('a.b*').test('a.bc')).toBe(true);
    expect(globToRegExp('a.b*').test('axbc')).toBe(false);
  });

  it('an empty or missing allowlist parses to no rules', () => {
    expect(parseExecOptions({})).toEqual([]);
    expect(parseExecOptions({ allow: [] })).toEqual([]);
  });

  it('an invalid allowlist is refused with ERR_NOT_ALLOWED naming the problem', () => {
    for (const bad of [
      { allow: [{ argv: [] }] },
      { allow: [{ argv: 'cat /etc/hostname' }] },
      { allow: [{ argv: ['x'], shell: true }] },
    ]) {
      let caught: unknown;
      try {
        parseExecOptions(bad);
      } catch (err) {
        caught = err;
      }
      expect((caught as ToolError).code).toBe('ERR_NOT_ALLOWED');
      expect((caught as ToolError).message).toMatch(/allow/);
    }
  });
});
