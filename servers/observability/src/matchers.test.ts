import { describe, expect, it } from 'vitest';
import { formatMatcher, fromAmMatcher, narrows, parseMatcher, toAmMatcher } from './matchers.js';

describe('parseMatcher', () => {
  it('reads the four Alertmanager operators, quoted and bare values, escapes', () => {
    expect(parseMatcher('severity="critical"')).toEqual({ name: 'severity', op: '=', value: 'critical' });
    expect(parseMatcher(' env != dev ')).toEqual({ name: 'env', op: '!=', value: 'dev' });
    expect(parseMatcher('job=~"api|web.*"')).toEqual({ name: 'job', op: '=~', value: 'api|web.*' });
    expect(parseMatcher('team!~"ops"')).toEqual({ name: 'team', op: '!~', value: 'ops' });
    expect(parseMatcher('msg="say \\"hi\\" \\\\ now"')).toEqual({ name: 'msg', op: '=', value: 'say "hi" \\ now' });
    expect(parseMatcher('region=""')).toEqual({ name: 'region', op: '=', value: '' });
    // Any other backslash stays, as Alertmanager's parser keeps it: regex escapes need no doubling.
    expect(parseMatcher('job=~"api\\.v1\\d+"')).toEqual({ name: 'job', op: '=~', value: 'api\\.v1\\d+' });
    expect(parseMatcher('note="a\\tb\\q"')).toEqual({ name: 'note', op: '=', value: 'a\\tb\\q' });
  });

  it('refuses what Alertmanager would misread, naming the expected syntax', () => {
    for (const [text, why] of [
      ['alertname==foo', '"==" is not an operator'],
      ['alertname=~~foo', '"=~~" is not an operator'],
      ['alertname', 'not a label matcher'],
      ['1abc="x"', 'not a label matcher'],
      ['a="x" extra', 'unterminated quote'],
      ['a="x\\"', 'unterminated quote'],
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

  it('quotes values the way Alertmanager parses them back: only backslash, quote and line feed escaped', () => {
    // pkg/labels/parse.go unescapes \", \\ and \n only; any other \x stays a backslash and x.
    expect(formatMatcher({ name: 'note', op: '=', value: 'a\tb' })).toBe('note="a\tb"');
    expect(formatMatcher({ name: 'note', op: '=', value: 'a\u0001b\rc' })).toBe('note="a\u0001b\rc"');
    expect(formatMatcher({ name: 'note', op: '=', value: 'say "hi"\n\\' })).toBe('note="say \\"hi\\"\\n\\\\"');
    for (const value of ['a\tb', 'line1\nline2', 'q"\\', '\u00e9\u0007', 'api\\.v1', 'x\\n']) {
      const back = parseMatcher(formatMatcher({ name: 'n', op: '!=', value }));
      expect(back).toEqual({ name: 'n', op: '!=', value });
    }
  });

  it('knows which matchers narrow a silence on their own', () => {
    const m = (op: '=' | '!=' | '=~' | '!~', value: string) => ({ name: 'alertname', op, value });
    for (const value of ['DiskFull', 'x']) expect(narrows(m('=', value)), value).toBe(true);
    for (const value of ['DiskFull|HighLoad', 'api-.*', '5..', '.*Error.*', 'critical|warning', '[A-Z]\\w*Full'])
      expect(narrows(m('=~', value)), value).toBe(true);
    // Everything that also matches an absent label, or every value a label has.
    expect(narrows(m('=', ''))).toBe(false);
    for (const value of [
      '.*',
      '.+',
      '.*.',
      '(.+)',
      '.{1,}',
      '\\w+',
      '\\S+',
      '[^ ]+',
      '[a-zA-Z].*',
      'x|',
      'DiskFull|.*',
    ])
      expect(narrows(m('=~', value)), value).toBe(false);
    // A regex written to reject exactly the fixed probes still accepts a random value.
    expect(narrows(m('=~', '[0-9a-f]{18}|DiskFull'))).toBe(false);
    for (const value of ['', 'NoSuchAlert', '.*']) {
      expect(narrows(m('!=', value)), `!=${value}`).toBe(false);
      expect(narrows(m('!~', value)), `!~${value}`).toBe(false);
    }
  });
});
