import type { ToolError } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { findRule, globMatcher, parseExecOptions, quoteArgv } from './exec-allowlist.js';
import { executorNamedBy, isRunner, programName } from './exec-programs.js';

const c = (name: string) => ({ name, id: 'f'.repeat(64) });

const refusal = (options: Record<string, unknown>): ToolError => {
  try {
    parseExecOptions(options);
  } catch (err) {
    return err as ToolError;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
};

describe('exec allowlist', () => {
  const rules = parseExecOptions({
    allow: [
      { container: 'web-*', argv: ['cat', '/etc/hostname'] },
      { container: 'db?', argv: ['pg_isready', '-h', { pattern: '[a-z0-9.-]{1,63}' }] },
      { argv: ['echo'], rest: { pattern: '[a-z]+', max: 2 } },
    ],
  });

  it('matches an exact argv on a glob-matched container', () => {
    expect(findRule(rules, c('web-1'), ['cat', '/etc/hostname'])?.rule.container).toBe('web-*');
  });

  it('rules are exact by default: extra arguments are refused (no reading other files)', () => {
    expect(findRule(rules, c('web-1'), ['cat', '/etc/hostname', '/run/secrets/db_password'])).toBeUndefined();
    expect(findRule(rules, c('web-1'), ['cat', '/etc/hostname', '/proc/1/environ'])).toBeUndefined();
    expect(findRule(rules, c('web-1'), ['cat'])).toBeUndefined();
  });

  it('a { pattern } argument must match the whole argument', () => {
    expect(findRule(rules, c('db1'), ['pg_isready', '-h', 'localhost'])).toBeDefined();
    expect(findRule(rules, c('db1'), ['pg_isready', '-h', 'localhost; id'])).toBeUndefined();
    expect(findRule(rules, c('db1'), ['pg_isready', '-h', 'x', '-p', '5432'])).toBeUndefined();
  });

  it('rest allows at most max further arguments, each matching its pattern', () => {
    expect(findRule(rules, c('any'), ['echo'])).toBeDefined();
    expect(findRule(rules, c('any'), ['echo', 'hi', 'there'])).toBeDefined();
    expect(findRule(rules, c('any'), ['echo', 'a', 'b', 'c'])).toBeUndefined();
    expect(findRule(rules, c('any'), ['echo', 'HI'])).toBeUndefined();
  });

  it('refuses a container the glob does not match', () => {
    expect(findRule(rules, c('db12'), ['pg_isready', '-h', 'x'])).toBeUndefined();
    expect(findRule(rules, c('api'), ['cat', '/etc/hostname'])).toBeUndefined();
  });

  it('argv elements must be equal, not substrings', () => {
    expect(findRule(rules, c('anything'), ['echoo'])).toBeUndefined();
    expect(findRule(rules, c('anything'), ['ech'])).toBeUndefined();
  });

  it('globs escape regex characters and run on the linear-time engine', () => {
    expect(globMatcher('a.b*')('a.bc')).toBe(true);
    expect(globMatcher('a.b*')('axbc')).toBe(false);
    expect(globMatcher('web-?')('web-1')).toBe(true);
    expect(globMatcher('(x)|[y]+')('(x)|[y]+')).toBe(true);
    expect(globMatcher(`${'*a'.repeat(30)}b`)('a'.repeat(128))).toBe(false);
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
      { allow: [{ argv: ['x', { pattern: '(?=a)' }] }] },
      { allow: [{ argv: ['x', { regex: 'a' }] }] },
    ]) {
      const err = refusal(bad);
      expect(err.code).toBe('ERR_NOT_ALLOWED');
      expect(err.message).toMatch(/allow/);
    }
  });

  it('refuses the old prefix form (exact: false) and says what to write instead', () => {
    const err = refusal({ allow: [{ argv: ['cat'], exact: false }] });
    expect(err.message).toMatch(/prefix rules are no longer supported/);
    expect(err.message).toMatch(/rest/);
    // exact: true is the default now and still accepted
    expect(parseExecOptions({ allow: [{ argv: ['cat', '/etc/hostname'], exact: true }] })).toHaveLength(1);
  });

  it('refuses a variable argument to an interpreter or command runner (sh -c, find -exec)', () => {
    for (const rule of [
      { argv: ['sh', '-c', { pattern: '.*' }] },
      { argv: ['/bin/bash'], rest: { pattern: '.*' } },
      { argv: ['python3', '-c', { pattern: 'print\\(.*\\)' }] },
      { argv: ['find', '/var/log'], rest: { pattern: '.*', max: 6 } },
      { argv: ['env', { pattern: '[A-Z]+=.*' }] },
    ]) {
      const err = refusal({ allow: [rule] });
      expect(err.code).toBe('ERR_NOT_ALLOWED');
      expect(err.message).toMatch(/runs code or other programs/);
    }
    // spelled out literally, they are the operator's explicit choice
    expect(parseExecOptions({ allow: [{ argv: ['sh', '-c', 'cat /etc/hostname'] }] })).toHaveLength(1);
  });

  it("variable arguments need a known-safe program or the operator's runsPrograms: false (audit #8)", () => {
    // wrappers, loaders and suffixed binaries a runner denylist missed: all refused, vouched for or not
    const runners = ['ionice', 'chrt', 'taskset', 'setpriv', 'gosu', 'su-exec', 'tini', 'dumb-init', 'capsh'];
    runners.push('time', 's6-setuidgid', 'prlimit', 'make', 'npx', 'npm', 'java', 'pwsh', 'Rscript', 'irb');
    runners.push('jshell', 'julia', 'ld-linux-x86-64.so.2', '/lib/ld-musl-x86_64.so.1', 'busybox.static');
    runners.push('sh.static', 'bash-static', 'python3.11-dbg', 'SH', 'ksh93', 'tclsh8.6', 'ex', 'view', 'expect');
    runners.push('unbuffer', 'valgrind', 'parallel', 'socat', 'nc', 'ncat', 'scp', 'wget', 'sort', 'ip');
    for (const argv0 of runners) {
      for (const rule of [
        { argv: [argv0], rest: { pattern: '.*', max: 8 } },
        { argv: [argv0], rest: { pattern: '.*', max: 8 }, runsPrograms: false },
        { argv: [argv0, '-x'], runsPrograms: false },
      ]) {
        const err = refusal({ allow: [rule] });
        expect(err.message, argv0).toMatch(/runs code or other programs/);
      }
    }
    // a program nobody here knows: variable arguments only on the operator's word
    const err = refusal({ allow: [{ argv: ['myctl', 'status'], rest: { pattern: '.*' } }] });
    expect(err.message).toMatch(/"myctl" is not a program known never to run another.*runsPrograms: false/);
    expect(
      parseExecOptions({ allow: [{ argv: ['myctl', 'status'], rest: { pattern: '.*' }, runsPrograms: false }] }),
    ).toHaveLength(1);
    // known-safe programs take patterns as before (the example policy's rules)
    expect(parseExecOptions({ allow: [{ argv: ['ls', '-l'], rest: { pattern: '/var/log(/[a-z]+)*' } }] })).toHaveLength(
      1,
    );
    expect(parseExecOptions({ allow: [{ argv: ['/usr/bin/pg_isready', '-h', { pattern: '[a-z]+' }] }] })).toHaveLength(
      1,
    );
    expect(refusal({ allow: [{ argv: ['cat.static'], rest: { pattern: '.*' } }] }).message).toMatch(
      /not a program known/,
    );
  });

  it('under a vouched-for rule, a caller argument naming a shell, interpreter, loader or wrapper never matches', () => {
    const vouched = parseExecOptions({
      allow: [{ argv: ['myctl', '-c3'], rest: { pattern: '.*' }, runsPrograms: false }],
    });
    expect(findRule(vouched, c('a'), ['myctl', '-c3', 'status', '--all'])).toBeDefined();
    for (const arg of [
      'sh',
      '/bin/sh',
      'busybox.static',
      '/lib/ld-musl-x86_64.so.1',
      'python3.11',
      '--rsh=bash',
      'ionice',
    ]) {
      expect(findRule(vouched, c('a'), ['myctl', '-c3', arg, '-c', 'id']), arg).toBeUndefined();
    }
    // a known-safe program runs nothing its arguments name: `echo sh` is fine
    const safe = parseExecOptions({ allow: [{ argv: ['echo'], rest: { pattern: '.*' } }] });
    expect(findRule(safe, c('a'), ['echo', 'sh'])).toBeDefined();
  });

  it('normalises program names before comparing them with the runner lists', () => {
    expect(programName('/usr/bin/Python3.11-dbg')).toBe('python');
    expect(programName('busybox.static')).toBe('busybox');
    expect(programName('7z')).toBe('7z');
    expect(isRunner('/usr/local/bin/node20')).toBe(true);
    expect(isRunner('cat')).toBe(false);
    expect(executorNamedBy('-h')).toBeUndefined();
    expect(executorNamedBy('--shell=/bin/zsh')).toBe('zsh');
  });

  it('quotes a long argv bounded, counting what it left out (audit #11)', () => {
    const argv = ['cat', ...Array.from({ length: 63 }, () => 'x'.repeat(4096))];
    const q = quoteArgv(argv);
    expect(q.whole).toBe(false);
    expect(q.text.length).toBeLessThan(600);
    expect(q.text).toMatch(/\.\.\.\(4096 chars\)/);
    expect(q.text).toMatch(/more argument\(s\); 64 arguments, 258051 characters in all/);
    expect(quoteArgv(['cat', '/etc/hostname'])).toEqual({ text: '["cat","/etc/hostname"]', whole: true });
  });

  it('the program itself cannot be a pattern', () => {
    expect(refusal({ allow: [{ argv: [{ pattern: '.*' }] }] }).message).toMatch(/argv\[0\]/);
  });
});
