import { describe, expect, it } from 'vitest';
import { formatMatcher, fromAmMatcher, matchesEmpty, parseMatcher, toAmMatcher } from './matchers.js';

describe('parseMatcher', () => {
  it('reads the four Alertmanager operators, quoted and bare values, escapes', () => {
    expect(parseMatcher('severity="critical"')).toEqual({ name: 'severity', op: '=', value: 'critical' });
    expect(parseMatcher(' env != dev ')).toEqual({ name: 'env', op: '!=', value: 'dev' });
    expect(parseMatcher('job=~"api|web.*"')).toEqual({ name: 'job', op: '=~', value: 'api|web.*' });
    expect(parseMatcher('team!~"ops"')).toEqual({ name: 'team', op: '!~', value: 'ops' });
    expect(parseMatcher('msg="say \\"hi\\" \\\\ now"')).toEqual({ name: 'msg', op: '=', value: 'say "hi" \\ now' });
    expect(parseMatcher('region=""')).toEqual({ name: 'region', op: '=', value: '' });
  });

  it('refuses what Alertmanager would misread, naming the expected syntax', () => {
    for (const [text, why] of [
      ['alertname==foo', '"==" is not an operator'],
      ['alertname=~~foo', '"=~~" is not an operator'],
      ['alertname', 'not a label matcher'],
      ['1abc="x"', 'not a label matcher'],
      ['a="x" extra', 'unterminated quote'],
      ['a="x\\q"', 'bad escape'],
      ['a=x,b=y', 'quote it'],
      ['a=~"x(?=y)"', 'the regex does not compile'],
      ['a=~"(a)\\\\1"', 'the regex does not compile'],
    ] as const) {
      const parsed = parseMatcher(text);
      expect('error' in parsed ? parsed.error : 'accepted', text).toContain(why);
      expect('error' in parsed && parsed.error).toContain('write name="value"');
    }
  });

  it('round-trips through the text and Alertmanager object forms', () => {
    for (const text of ['a="b"', 'a!="b"', 'a=~"b.+"', 'a!~"\\"q\\""']) {
      const m = parseMatcher(text);
      if ('error' in m) throw new Error(m.error);
      expect(formatMatcher(m)).toBe(text);
      expect(fromAmMatcher(toAmMatcher(m))).toEqual(m);
    }
    expect(toAmMatcher({ name: 'a', op: '!~', value: 'x' })).toEqual({
      name: 'a',
      value: 'x',
      isRegex: true,
      isEqual: false,
    });
  });

  it('knows which matchers also match an absent label (with RE2, anchored)', () => {
    expect(matchesEmpty({ name: 'a', op: '=~', value: '.*' })).toBe(true);
    expect(matchesEmpty({ name: 'a', op: '=~', value: 'x|' })).toBe(true);
    expect(matchesEmpty({ name: 'a', op: '=~', value: '.+' })).toBe(false);
    expect(matchesEmpty({ name: 'a', op: '!=', value: 'x' })).toBe(true);
    expect(matchesEmpty({ name: 'a', op: '=', value: 'x' })).toBe(false);
    expect(matchesEmpty({ name: 'a', op: '!~', value: 'x.*' })).toBe(true);
  });
});
