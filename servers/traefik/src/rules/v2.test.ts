// Cases from Traefik's pkg/muxer/http/matcher_v2_test.go (ruleSyntax v2).
import { describe, expect, it } from 'vitest';
import { matchRule, requestOf } from './matcher.js';
import { RuleError } from './parser.js';
import { parseRuleV2 } from './v2.js';

const match = (rule: string, url: string, extra: { method?: string; headers?: Record<string, string> } = {}) =>
  matchRule(parseRuleV2(rule), requestOf({ url, ...extra }));

describe('v2 rules', () => {
  it.each([
    'ClientIP(`1`)',
    'ClientIP()',
    'ClientIP(``)',
    'Method()',
    'Method(``)',
    'Host()',
    'Host(``)',
    'Host(`🦭.com`)',
    'Path()',
    'Path(`css`)',
    'PathPrefix(``)',
    'Headers()',
    'Headers(`X-Forwarded-Host`)',
    'Headers(`X-Forwarded-Host`, ``)',
    'Headers(`X-Forwarded-Host`, `example.com`, `example.org`)',
  ])('%s is refused as Traefik refuses it', (rule) => {
    expect(() => parseRuleV2(rule)).toThrow(RuleError);
  });

  it('several hosts, case-insensitive, trailing dot; HostHeader is Host', () => {
    expect(match('Host(`example.com`, `example.org`)', 'http://example.org/')).toBe(true);
    expect(match('Host(`EXAMPLE.COM`)', 'http://example.com/')).toBe(true);
    expect(match('Host(`example.com.`)', 'http://example.com/')).toBe(true);
    expect(match('HostHeader(`example.com`)', 'http://www.example.com/')).toBe(false);
    expect(match('host(`example.com`) && Path(`/css`, `/js`)', 'http://example.com/js')).toBe(true);
  });

  it('PathPrefix, Method (upper-cased), Headers pairs, ClientIP lists', () => {
    expect(match('PathPrefix(`/css`, `/js`)', 'http://a/js/app.js')).toBe(true);
    expect(match('Path(`/css`)', 'http://a/css/')).toBe(false);
    expect(match('Method(`get`)', 'http://a/')).toBe(true);
    expect(match('Method(`GET`, `POST`)', 'http://a/', { method: 'PUT' })).toBe(false);
    const h = 'Headers(`x-forwarded-proto`, `https`, `X-Env`, `prod`)';
    expect(match(h, 'http://a/', { headers: { 'X-Forwarded-Proto': 'https', 'x-env': 'prod' } })).toBe(true);
    expect(match(h, 'http://a/', { headers: { 'X-Forwarded-Proto': 'https' } })).toBe(false);
    const ip = parseRuleV2('ClientIP(`127.0.0.1`, `192.168.1.0/24`)');
    expect(matchRule(ip, requestOf({ url: 'http://a/', clientIp: '192.168.1.9' }))).toBe(true);
    expect(matchRule(ip, requestOf({ url: 'http://a/', clientIp: '10.0.0.1' }))).toBe(false);
  });

  // TestHostRegexpV2Matcher, TestHostRegexp, Test_addRoute: gorilla host templates, (?i), port stripped.
  it('HostRegexp: templates anchored, case-insensitive; text outside braces is literal', () => {
    const host = (rule: string, url: string) => match(rule, url);
    expect(host('HostRegexp(`example.com`, `example.org`)', 'https://example.com:8080/')).toBe(true);
    expect(host('HostRegexp(`example.com`, `example.org`)', 'https://example.org/path')).toBe(true);
    // without braces the argument is quoted: not a regexp (Traefik's "This is weird" case)
    expect(host('HostRegexp(`(example.com`)', 'https://example.com/')).toBe(false);
    expect(host('HostRegexp(`^[A-Z]+\\.com$`)', 'https://EXAMPLE.com/')).toBe(false);
    expect(host('HostRegexp(`{domain:[a-zA-Z-]+\\.com}`)', 'https://example.com/path')).toBe(true);
    expect(host('HostRegexp(`{domain:[a-zA-Z-]+\\.com}`)', 'https://example.org/')).toBe(false);
    for (const rule of [
      'HostRegexp(`{subdomain:(foo\\.)?bar\\.com}`)',
      'HostRegexp(`{subdomain:(?:foo\\.)?bar\\.com}`)',
    ]) {
      expect(host(rule, 'http://foo.bar.com/')).toBe(true);
      expect(host(rule, 'http://bar.com/')).toBe(true);
      for (const miss of ['http://fooubar.com/', 'http://barucom/', 'http://barcom/'])
        expect(host(rule, miss)).toBe(false);
    }
    expect(host('HostRegexp(`{dummy:[a-z-]+\\.bar\\.com}`)', 'http://FOO.bar.com/')).toBe(true);
    expect(host('HostRegexp(`foo.bar.com`)', 'http://FOO.bar.com/')).toBe(true);
    expect(host('HostRegexp(`foo.bar.com`)', 'http://fooubar.com/')).toBe(false);
    // {name} alone is one label ([^.]+)
    expect(host('HostRegexp(`{sub}.example.com`)', 'http://a.example.com/')).toBe(true);
    expect(host('HostRegexp(`{sub}.example.com`)', 'http://a.b.example.com/')).toBe(false);
  });

  it('Path/PathPrefix templates (TestPathV2Matcher, TestPathPrefixV2Matcher)', () => {
    const p = 'Path(`/css{path:(/.*)?}`)';
    expect(match(p, 'https://example.com/css/main.css')).toBe(true);
    expect(match(p, 'https://example.com/css/components/component.css')).toBe(true);
    expect(match(p, 'https://example.com/css.css')).toBe(false);
    expect(match(p, 'https://example.com/')).toBe(false);
    const pp = 'PathPrefix(`/css-{name:[0-9]?}`)';
    expect(match(pp, 'https://example.com/css-1/main.css')).toBe(true);
    expect(match(pp, 'https://example.org/css-222/main.css')).toBe(true);
    expect(match(pp, 'https://example.com/css.css')).toBe(false);
    expect(match('Path(`/v{n}/x`)', 'http://a/v1/x')).toBe(true);
    expect(match('Path(`/v{n}/x`)', 'http://a/v1/2/x')).toBe(false);
  });

  it('HeadersRegexp: unanchored, canonical key, any value (TestHeaderRegexpV2Matcher)', () => {
    const h = (rule: string, v: string[]) =>
      matchRule(parseRuleV2(rule), requestOf({ url: 'https://example.com/', headers: { 'X-Forwarded-Proto': v } }));
    expect(h('HeadersRegexp(`x-forwarded-proto`, `^https?$`)', ['ws', 'https'])).toBe(true);
    expect(h('HeadersRegexp(`X-Forwarded-Proto`, `^https?$`)', ['HTTPS'])).toBe(false);
    // a plain regexp, not a template: `{secure:s?}` is literal text around `s?`
    expect(h('HeadersRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)', ['http{secure:s}'])).toBe(true);
    expect(h('HeadersRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)', ['https'])).toBe(false);
    // gorilla's pairs are a map: a repeated key keeps its last value
    expect(h('Headers(`X-Forwarded-Proto`, `http`, `X-Forwarded-Proto`, `https`)', ['https'])).toBe(true);
  });

  it('Query: key=value templates against the first value (Test_addRoute)', () => {
    expect(match('Query(`foo=bar`, `bar=baz`)', 'http://localhost/foo?foo=bar&bar=baz')).toBe(true);
    expect(match('Query(`foo=bar`, `bar=baz`)', 'http://localhost/foo?bar=baz')).toBe(false);
    expect(match('Query(`foo=b=ar`)', 'http://localhost/foo?foo=b=ar')).toBe(true);
    expect(match('Query(`foo=b=ar`)', 'http://localhost/foo?foo=bar')).toBe(false);
    // an empty value matches any value of a present key; only the first value counts
    expect(match('Query(`debug=`)', 'http://a/?debug=1')).toBe(true);
    expect(match('Query(`debug=`)', 'http://a/?other=1')).toBe(false);
    expect(match('Query(`id={id:[0-9]+}`)', 'http://a/?id=42')).toBe(true);
    expect(match('Query(`id={id:[0-9]+}`)', 'http://a/?id=x&id=42')).toBe(false);
    // arguments without `=` pair up with the next part (route.Queries pairs)
    expect(match('Query(`foo`, `bar`)', 'http://a/?foo=bar')).toBe(true);
  });

  it('templates gorilla refuses make the rule fail; secrets in them are not repeated', () => {
    for (const rule of [
      'Query(`foo`)',
      'HostRegexp(`{sub.example.com`)',
      'Path(`/a/{}`)',
      'PathPrefix(`/a/{x:}`)',
      'Path(`/{x:[^}]+}`)',
      'Query(`token={t:(s3cret}`)',
      'HeadersRegexp(`X-A`, `(s3cret`)',
      'Query(`a={v}`, `b={v}`)',
      'HostRegexp(`🦭.com`)',
    ]) {
      expect(() => parseRuleV2(rule), rule).toThrow(RuleError);
      try {
        parseRuleV2(rule);
      } catch (err) {
        expect((err as Error).message).not.toContain('s3cret');
      }
    }
  });

  it('a `*` in a v2 Host is a literal character, not a wildcard', () => {
    expect(match('Host(`*.example.com`)', 'http://a.example.com/')).toBe(false);
    expect(match('Host(`*.example.com`) || Host(`b.example.com`)', 'http://b.example.com./')).toBe(true);
  });

  it('v3-only matchers are unknown in v2', () => {
    expect(() => parseRuleV2('Header(`X-A`, `1`)')).toThrow(/unknown matcher Header; v2 matchers are/);
  });
});
