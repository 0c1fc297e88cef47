// Cases from Traefik's pkg/muxer/http/matcher_v2_test.go (ruleSyntax v2).
import { describe, expect, it } from 'vitest';
import { matchRule, requestOf } from './matcher.js';
import { RuleError } from './parser.js';
import { parseRuleV2, V2Unsupported } from './v2.js';

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

  it('gorilla templates, HostRegexp, HeadersRegexp, Query and `*` hosts are left unevaluated', () => {
    for (const rule of [
      'Path(`/css{path:(/.*)?}`)',
      'PathPrefix(`/css-{name:[0-9]?}`)',
      'HostRegexp(`{domain:[a-zA-Z-]+\\.com}`)',
      'HeadersRegexp(`X-Forwarded-Proto`, `^https?$`)',
      'Query(`a=b`)',
      'Host(`*.example.com`)',
    ]) {
      expect(() => parseRuleV2(rule), rule).toThrow(V2Unsupported);
    }
  });

  it('v3-only matchers are unknown in v2', () => {
    expect(() => parseRuleV2('Header(`X-A`, `1`)')).toThrow(/unknown matcher Header; v2 matchers are/);
  });
});
