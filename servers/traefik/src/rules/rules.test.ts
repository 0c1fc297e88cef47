// Cases derived from Traefik's own muxer tests: github.com/traefik/traefik pkg/muxer/http/matcher_test.go
// and mux_test.go (v3 syntax), plus column checks for our error messages.
import { describe, expect, it } from 'vitest';
import { entryPointPath, matchRule, parseQuery, requestOf, routingPath } from './matcher.js';
import { hostsOf, parseRule, RuleError } from './parser.js';

const match = (
  rule: string,
  url: string,
  extra: Parameters<typeof requestOf>[0] extends infer T ? Partial<T> : never = {},
) => matchRule(parseRule(rule), requestOf({ url, ...extra }));

function table(rule: string, cases: Record<string, boolean>, extra: (key: string) => object = (key) => ({ url: key })) {
  const node = parseRule(rule);
  const got = Object.fromEntries(
    Object.keys(cases).map((k) => [k, matchRule(node, requestOf({ url: 'https://example.com', ...extra(k) }))]),
  );
  expect(got, rule).toEqual(cases);
}

describe('rule parser: invalid rules (matcher_test.go expectedError cases)', () => {
  it.each([
    'ClientIP(`1`)',
    'ClientIP()',
    'ClientIP(``)',
    'ClientIP(`127.0.0.1`, `192.168.1.0/24`)',
    'Method()',
    'Method(``)',
    'Method(`GET`, `POST`)',
    'Host()',
    'Host(``)',
    'Host(`🦭.com`)',
    'Host(`example.com`, `example.org`)',
    'HostRegexp(`🦭.com`)',
    'HostRegexp(`(example.com`)',
    'Path(`css`)',
    'Path(`/css`, `/js`)',
    'PathRegexp(`/(css`)',
    'PathPrefix(`css`)',
    'Header(`X-Forwarded-Host`)',
    'Header(`X-Forwarded-Host`, ``)',
    'Header(``, `example.com`)',
    'HeaderRegexp(`X-Forwarded-Host`,`(example.com`)',
    'Query()',
    'Query(``, `traefik`)',
    'Query(`q`, ``)',
    'Query(`q`, `traefik`, `proxy`)',
    'QueryRegexp(`q`, `(traefik`)',
    'rulewithnotmatcher',
    'Host(example.com)',
    '',
  ])('%s is refused', (rule) => {
    expect(() => parseRule(rule)).toThrow(RuleError);
  });

  // Go's net.ParseIP/ParseCIDR, which Traefik's ClientIP uses: no IPv4 part with a leading zero (Go 1.17 on),
  // one prefix length only.
  it.each(['ClientIP(`010.0.0.1`)', 'ClientIP(`10.0.0.0/8/9`)', 'ClientIP(`192.168.01.0/24`)'])(
    '%s is refused',
    (rule) => {
      expect(() => parseRule(rule)).toThrow(RuleError);
    },
  );

  it('says where the problem is', () => {
    const err = (rule: string) => {
      try {
        parseRule(rule);
      } catch (e) {
        return e as RuleError;
      }
      throw new Error('parsed');
    };
    expect(err('Host(`a.com`) && Pth(`/x`)')).toMatchObject({
      col: 18,
      message: expect.stringMatching(/unknown matcher Pth/),
    });
    expect(err('Host(`a.com`) Path(`/x`)')).toMatchObject({
      col: 15,
      message: expect.stringMatching(/expected && or \|\|/),
    });
    expect(err('(Host(`a.com`) || Path(`/x`)')).toMatchObject({
      col: 29,
      message: expect.stringMatching(/expected "\)"/),
    });
    expect(err('Host(`a.com)')).toMatchObject({ col: 6, message: expect.stringMatching(/not terminated/) });
    expect(err("Host('a.com')")).toMatchObject({ col: 6, message: expect.stringMatching(/single quotes/) });
    expect(err('PathRegexp(`^/(a`)').message).toMatch(/regex does not compile.*missing closing \)/);
    // Backreferences are not RE2: refused, never run on a backtracking engine.
    expect(err('PathRegexp(`(a)\\1`)').message).toMatch(/does not compile/);
  });

  it('accepts the four casings Traefik accepts, and double-quoted strings with escapes', () => {
    for (const rule of ['PATHPREFIX("/css")', 'pathprefix("/css")', 'PathPrefix("/css")', 'Pathprefix("/css")']) {
      expect(match(rule, 'https://example.com/css')).toBe(true);
      expect(match(rule, 'https://example.com/js')).toBe(false);
    }
    expect(() => parseRule('pathPrefix(`/css`)')).toThrow(/unknown matcher/);
    expect(match('HostRegexp("^a\\\\.com$")', 'https://a.com')).toBe(true);
  });

  it('collects Host values for TLS domains', () => {
    expect(hostsOf(parseRule('Host(`A.com`) || (Host(`b.com`) && !Path(`/x`))'))).toEqual(['a.com', 'b.com']);
  });
});

describe('rule matcher (matcher_test.go tables)', () => {
  it('ClientIP', () => {
    table('ClientIP(`127.0.0.1`)', { '127.0.0.1': true, '192.168.1.1': false, '1': false }, (k) => ({ clientIp: k }));
    table('ClientIP(`192.168.1.0/24`)', { '192.168.1.1': true, '192.168.1.100': true, '192.168.2.1': false }, (k) => ({
      clientIp: k,
    }));
    table('ClientIP(`fe80::/10`)', { 'fe80::1': true, '::1': false }, (k) => ({ clientIp: k }));
  });

  it('Method', () => {
    table('Method(`get`)', { GET: true, POST: false }, (k) => ({ method: k }));
  });

  it('Host, with ports, case, trailing dots, wildcards and *', () => {
    table('Host(`example.com`)', {
      'https://example.com': true,
      'https://example.com:8080': true,
      'https://example.com/path': true,
      'https://EXAMPLE.COM/path': true,
      'https://example.org': false,
      'https://example.com.': true,
    });
    table('Host(`example.com.`)', {
      'https://example.com': true,
      'https://example.com.': true,
      'https://example.org.': false,
    });
    table('Host(`*.example.com`)', {
      'https://test.example.com': true,
      'https://example.com': false,
      'https://test.otherexample.com': false,
    });
    table('Host(`*`)', { 'https://localhost': true, 'https://example.com': true });
    table('Host(`127.0.0.1`)', { 'http://127.0.0.1/foo': true });
    table('Host(`10::10`)', { 'http://[10::10]/foo': true });
  });

  it('HostRegexp is unanchored RE2 and case sensitive; v2 syntax does not match', () => {
    table('HostRegexp(`^[a-zA-Z-]+\\.com$`)', {
      'https://example.com': true,
      'https://example.com:8080': true,
      'https://example.org': false,
    });
    table('HostRegexp(`^[A-Z]+\\.com$`)', { 'https://example.com': false, 'https://EXAMPLE.com': false });
    table('HostRegexp(`{domain:[a-zA-Z-]+\\.com}`)', { 'https://example.com': false });
  });

  it('Path, PathPrefix, PathRegexp', () => {
    table('Path(`/css`)', {
      'https://example.com': false,
      'https://example.org/css': true,
      'https://example.com/css/': false,
      'https://example.com/css/main.css': false,
    });
    table('PathPrefix(`/css`)', { 'https://example.com/css/main.css': true, 'https://example.com/html': false });
    table('PathRegexp(`^/(css|js)`)', {
      'https://example.com/CSS': false,
      'https://example.com/js/main.js': true,
      'https://example.com/html': false,
    });
    table('PathRegexp("/{path:(css|js)}")', {
      'https://example.com/{path:css}': true,
      'https://example.com/%7Bpath:js%7D/': true,
      'https://example.org/css': false,
    });
    // Non-reserved encodings are decoded for routing; reserved ones are not.
    expect(match('PathPrefix(`/foo bar`)', 'https://example.com/foo%20bar')).toBe(true);
    expect(routingPath('/a%2Fb%41')).toBe('/a%2FbA');
    // Decoded bytes form UTF-8 text, as in Go; the muxer looks the reserved set up upper case only (the
    // entrypoint's normalizePath has upper-cased every escape before: see entryPointPath).
    expect(routingPath('/caf%C3%A9%2F%c3%a9')).toBe('/café%2Fé');
    expect(routingPath('/a%3ab%3Ac')).toBe('/a:b%3Ac');
    expect(match('PathPrefix(`/café`)', 'https://example.com/café/menu')).toBe(true);
  });

  it('Header and HeaderRegexp use canonical header keys', () => {
    const h = (k: string) => ({ headers: JSON.parse(k) as Record<string, string[]> });
    table(
      'Header(`x-forwarded-proto`, `https`)',
      {
        '{"X-Forwarded-Proto":["https"]}': true,
        '{"X-Forwarded-Proto":["http","https"]}': true,
        '{"X-Forwarded-Host":["example.com"]}': false,
      },
      h,
    );
    table(
      'HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)',
      {
        '{"X-Forwarded-Proto":["http"]}': true,
        '{"X-Forwarded-Proto":["HTTPS"]}': false,
        '{"X-Forwarded-Proto":["ws","https"]}': true,
      },
      h,
    );
    // The Host header is the request's host, not a header (Go's server takes it out of Request.Header).
    expect(match('Header(`Host`, `example.com`)', 'https://example.com', { headers: { host: 'example.com' } })).toBe(
      false,
    );
    expect(match('Host(`example.org`)', 'https://example.com', { headers: { host: 'example.org' } })).toBe(true);
  });

  it('Query and QueryRegexp', () => {
    table('Query(`q`, `traefik`)', {
      'https://example.com': false,
      'https://example.com?rel=ddg&q=traefik': true,
      'https://example.com?q=awesome&q=traefik': true,
      'https://example.com?q=TRAEFIK': false,
      'https://example.com?Q=traefik': false,
    });
    table('Query(`mobile`)', { 'https://example.com?mobile': true, 'https://example.com?mobile=true': false });
    table('QueryRegexp(`q`, `^(traefik|nginx)$`)', {
      'https://example.com?q=nginx': true,
      'https://example.com?q=NGINX': false,
      'https://example.com?q=haproxy': false,
    });
    table('QueryRegexp(`q`, `^.*$`)', { 'https://example.com?q=TRAEFIK': true, 'https://example.com?rel=ddg': false });
  });

  it("Go's url.ParseQuery: ';' pieces and bad escapes dropped, empty keys kept, '+' a space", () => {
    expect([...parseQuery('a=1;b=2&=e&c&d=x+y&d=%zz&%zz=1&&d=%41')]).toEqual([
      ['', ['e']],
      ['c', ['']],
      ['d', ['x y', 'A']],
    ]);
  });

  it("the entrypoint's path: normalizePath (upper-case escapes, unreserved decoded), then sanitizePath", () => {
    expect(entryPointPath('/a%2fb/%7e%41/./x/..//c/')).toBe('/a%2Fb/~A/c/');
    expect(entryPointPath('/a//b/..', { sanitizePath: false })).toBe('/a//b/..');
    expect(entryPointPath('')).toBe('/');
    expect(entryPointPath('/100%')).toBeUndefined();
  });

  it('boolean operators with precedence and negation (mux_test.go)', () => {
    table('Host("example.com") || Host("example.org") && Path("/css")', {
      'https://example.com/js': true,
      'https://example.org/css': true,
      'https://example.org/js': false,
    });
    table('(Host("example.com") || Host("example.org")) && Path("/css")', {
      'https://example.com/js': false,
      'https://example.org/css': true,
    });
    table('!(Host("example.com") && !Path("/css"))', {
      'https://example.com/css': true,
      'https://example.org/css': true,
      'https://example.com/js': false,
    });
    table('!(!(Host("example.com") && Pathprefix("/css")))', {
      'https://example.com/css': true,
      'https://example.com/js': false,
      'https://example.org/css': false,
    });
  });
});

describe('linear-time regexes', () => {
  it('a catastrophic-backtracking pattern on a long path stays fast (re2js, not the JS engine)', () => {
    const node = parseRule('PathRegexp(`^/(a+)+$`)');
    const req = requestOf({ url: `https://example.com/${'a'.repeat(20_000)}!` });
    const started = performance.now();
    expect(matchRule(node, req)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('a regexp of more than 1,000 RE2 instructions is not evaluated; real host and path patterns are', () => {
    const tooLarge = /regex is too large to evaluate here/;
    // Refused before compiling (repeat counts), and after (program size).
    expect(() => parseRule(`PathRegexp(\`(?:${'a{999}|'.repeat(40)}b)\`)`)).toThrow(/repeat counts sum to 39960/);
    expect(() => parseRule(`PathRegexp(\`(?:${'[a-z]{30}'.repeat(40)})\`)`)).toThrow(tooLarge);
    // Go's own limit (a count above 1000) is still reported as Go reports it.
    expect(() => parseRule('PathRegexp(`a{1001}`)')).toThrow(/invalid repeat count/);
    expect(match('HostRegexp(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.example\\.com$`)', 'https://a-1.example.com')).toBe(
      true,
    );
    expect(
      match('PathRegexp(`^/v[0-9]{1,3}/(users|orders)/[0-9a-f]{24}$`)', `https://x/v2/users/${'ab'.repeat(12)}`),
    ).toBe(true);
  });
});
