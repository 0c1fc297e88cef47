import { MAX_PATTERN_SIZE } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { formatMatcher, fromAmMatcher, narrows, parseMatcher, regexValues, toAmMatcher } from './matchers.js';

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
    // Regexes whose every value can be listed: alternatives, small sets and ranges, fixed repeats, anchors.
    for (const value of [
      'DiskFull|HighLoad',
      'critical|warning',
      '^(DiskFull|HighLoad)$',
      '(?:api|web)-(eu|us)[12]?',
      'disk[0-9]',
      'api\\.v1',
      'x{2,3}',
      'a+b'.replace('+', '\\+'),
    ])
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
      // Open sets however narrow they look: the guard cannot tell `[A-Z]\w*Full` from every alert name.
      '[A-Z][A-Za-z0-9]*',
      '[A-Z].*',
      '[a-z]+',
      '(?i)diskfull',
      'api-.*',
      '5..',
      '.*Error.*',
      '[A-Z]\\w*Full',
      '[0-9a-f]{18}|DiskFull',
      'DiskFull?*',
      '\\QDisk\\E',
      'x{2,}',
      'Disk{Full',
      '[a-z]{8}',
      Array.from({ length: 101 }, (_, i) => `A${i}`).join('|'),
    ])
      expect(narrows(m('=~', value)), value).toBe(false);
    for (const value of ['', 'NoSuchAlert', '.*']) {
      expect(narrows(m('!=', value)), `!=${value}`).toBe(false);
      expect(narrows(m('!~', value)), `!~${value}`).toBe(false);
    }
  });

  it('lists the values of a finite regex exactly as RE2 accepts them', () => {
    expect([...(regexValues('(?:api|web)-(eu|us)', 100) ?? [])].sort()).toEqual([
      'api-eu',
      'api-us',
      'web-eu',
      'web-us',
    ]);
    expect([...(regexValues('[a-c-]x?', 100) ?? [])].sort()).toEqual(
      ['-', '-x', 'a', 'ax', 'b', 'bx', 'c', 'cx'].sort(),
    );
    expect(regexValues('a{2}|b{0,1}', 100)).toEqual(new Set(['aa', '', 'b']));
    expect(regexValues('[ab]{7}', 100)).toBeUndefined(); // 128 values
    for (const value of ['a)|(b', '(a', '[ab', '\\', 'a|b)']) expect(regexValues(value, 100), value).toBeUndefined();
  });

  it('refuses a regex whose repeats grow past the kit bound before RE2 compiles it', () => {
    const refused = parseMatcher(`alertname=~"(${'x'.repeat(60)}){100}"`);
    expect('error' in refused && refused.error).toMatch(new RegExp(`steps long, over ${MAX_PATTERN_SIZE}: use fewer`));
    expect(parseMatcher('job=~"[a-z]{1,63}(-[a-z0-9]{1,63}){0,5}"')).not.toHaveProperty('error');
  });
});
