import { describe, expect, it } from 'vitest';
import { checkRouteHosts, regexpScope } from '../tools/route-guard.js';
import { parseRule } from './parser.js';
import { overlapOf, type Reach, reachOf } from './reach.js';

const reach = (rule: string) => reachOf(parseRule(rule));
const whereOf = (a: Reach[], b: Reach[]) => overlapOf(a, b)?.where;

describe('regexpScope: what a HostRegexp provably matches', () => {
  it.each([
    ['^api\\.example\\.com$', { host: 'api.example.com' }],
    ['(?i)^API\\.example\\.com$', { host: 'api.example.com' }],
    ['^[a-z]+\\.example\\.com$', { domain: 'example.com' }],
    ['^(api|www)\\.example\\.com$', { domain: 'example.com' }],
    ['^.*\\.example\\.com$', { domain: 'example.com' }],
  ])('%s', (pattern, want) => expect(regexpScope(pattern)).toEqual(want));

  it.each([
    'example\\.com', // not anchored
    '^.*\\.example\\.com', // no $
    '^a\\.example\\.com$|^evil\\.com$', // top-level alternation
    '^\\Q(\\E?evil\\.com$', // \Q quoting hides characters from a reader
    '^[[:alpha:](]+\\.example\\.com$', // POSIX classes
    '^.*\\.example\\.com\\$', // the final $ escaped
    '^.*example\\.com$', // no dot before the domain: matches badexample.com
    '^.*\\.example\\.co+$', // a quantifier on the last literal
    '^.*\\.example\\.com{0}$',
    '(?s)^.*\\.example\\.com$', // other flags are not judged
  ])('not judged: %s', (pattern) => expect(regexpScope(pattern)).toBeUndefined());
});

describe('checkRouteHosts', () => {
  const allow = ['shop.example.com', '*.apps.example.com'];
  const check = (rule: string) => () => checkRouteHosts(parseRule(rule), allow);
  it('allows hosts inside, any depth below *.domain, not the domain itself', () => {
    expect(check('Host(`shop.example.com.`) && Path(`/`)')).not.toThrow();
    expect(check('Host(`a.b.apps.example.com`)')).not.toThrow();
    expect(check('Host(`*.apps.example.com`)')).not.toThrow();
    expect(check('Host(`apps.example.com`)')).toThrow(/not allowed/);
    expect(check('Host(`xapps.example.com`)')).toThrow(/not allowed/);
  });
  it('refuses every branch that can match any host', () => {
    expect(check('(Host(`shop.example.com`) || Method(`GET`)) && Path(`/x`)')).toThrow(/can match any host/);
    expect(check('!Host(`shop.example.com`) && Host(`shop.example.com`)')).not.toThrow();
  });
  it('is a no-op without an allowlist', () => {
    expect(() => checkRouteHosts(parseRule('PathPrefix(`/`)'), [])).not.toThrow();
  });
});

describe('overlapOf', () => {
  it('host and path must both overlap', () => {
    expect(whereOf(reach('Host(`a.com`)'), reach('Host(`a.com`) && PathPrefix(`/x`)'))).toBe('a.com');
    expect(whereOf(reach('Host(`a.com`) && PathPrefix(`/y`)'), reach('Host(`a.com`) && Path(`/x`)'))).toBeUndefined();
    expect(whereOf(reach('Host(`a.com`) && PathPrefix(`/x`)'), reach('Host(`a.com`) && Path(`/x/1`)'))).toBe('a.com');
    expect(whereOf(reach('Host(`a.com`)'), reach('Host(`b.com`)'))).toBeUndefined();
    expect(whereOf(reach('HostRegexp(`^[a-z]+\\.a\\.com$`)'), reach('Host(`x.a.com`)'))).toBe('x.a.com');
    expect(whereOf(reach('HostRegexp(`^[a-z]+\\.a\\.com$`)'), reach('Host(`x.b.com`)'))).toBeUndefined();
    expect(whereOf(reach('Host(`*.a.com`)'), reach('Host(`x.a.com`)'))).toBe('x.a.com');
  });
  it('a negation or a rule without Host() reaches every host', () => {
    expect(whereOf(reach('!Host(`a.com`)'), reach('Host(`a.com`)'))).toBe('a.com');
    expect(whereOf(reach('PathPrefix(`/`)'), reach('Method(`GET`)'))).toBe('any host');
  });
});
