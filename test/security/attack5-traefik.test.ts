/**
 * Fifth round against the Traefik server from outside: the real bin over stdio, the SDK Client, the simulator.
 * - a request header named `__proto__` (a valid HTTP token) reaches the rule matcher;
 * - IPv4-mapped IPv6 addresses and ranges in ClientIP and ipAllowList are the IPv4 ones, as Traefik's ip.Checker
 *   reads them;
 * - rules whose `&&` nest with alternatives on each side (the caller's own, or a router in Traefik) are read in
 *   linear time: the precedence check of routes_apply once read the right side of each `&&` once per
 *   alternative of its left side, 2^depth times;
 * - the regexp work of that check, and the regexps compiled per call, are bounded whatever Traefik's routers hold;
 * - TCP routers on an entrypoint HTTP routers share take the connection first (requests_diagnose says so).
 */
import { describe, expect, it } from 'vitest';
import type { TraefikSimulatorOptions } from '../simulators/traefik.js';
import { type Fixture, fails, ok } from '../traefik/harness.js';
import { traefikSession } from './traefik-session.js';

/** The real bin over stdio against a simulator whose docker provider holds `config`, for one describe block. */
function dockerSession(
  config: Parameters<Fixture['sim']['setProvider']>[1],
  entryPoints?: TraefikSimulatorOptions['entryPoints'],
) {
  return traefikSession({
    ...(entryPoints ? { entryPoints } : {}),
    seed: (fx) => fx.sim.setProvider('docker', config),
  });
}

/** `(Path(/aN) || Path(/bN)) && (...)`, n levels deep around `core`: ~36 characters a level. */
function nested(n: number, core: string): string {
  let rule = core;
  for (let i = 0; i < n; i++) rule = `(Path(\`/a${i}\`) || Path(\`/b${i}\`)) && (${rule})`;
  return rule;
}

/** Each ~1,000 RE2 instructions (within the per-regexp bound), unanchored: every byte of a run of "a" steps them all. */
const HEAVY_HOSTS = Object.fromEntries(
  Array.from({ length: 300 }, (_, i) => [
    `heavy${i}`,
    { rule: `HostRegexp(\`(?:a{499}|a{498})\`) && Path(\`/h${i}\`)`, priority: 5, service: 's' },
  ]),
);

const main = dockerSession({
  http: {
    routers: {
      proto: { rule: 'Header(`__proto__`, `1`)', priority: 100, service: 's', entryPoints: ['web'] },
      mapped: { rule: 'ClientIP(`::ffff:10.0.0.0/112`)', priority: 90, service: 's', entryPoints: ['web'] },
      mappedone: { rule: 'ClientIP(`::ffff:10.9.9.9`)', priority: 90, service: 's', entryPoints: ['web'] },
      v6all: { rule: 'ClientIP(`::/0`)', priority: 80, service: 's', entryPoints: ['web'] },
      guarded: { rule: 'Host(`guarded.example.com`)', priority: 95, service: 's', middlewares: ['allow'] },
      fallback: { rule: 'PathPrefix(`/`)', priority: 1, service: 's', entryPoints: ['web'] },
      // a router another provider holds, 26 `&&` levels deep (Traefik's go/parser takes it)
      tangled: { rule: nested(26, 'Host(`tangled.example.com`)'), priority: 1, service: 's' },
      ...HEAVY_HOSTS,
    },
    middlewares: { allow: { ipAllowList: { sourceRange: ['::ffff:172.16.0.0/108'] } } },
    services: { s: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
  },
});

describe('a request header named __proto__', () => {
  it('reaches the matcher: Header(`__proto__`, ...) matches it', async () => {
    // JSON.parse keeps "__proto__" as an own key, as the SDK's JSON-RPC carries it
    const headers = JSON.parse('{"__proto__": "1"}') as Record<string, string>;
    const d = await ok(main.client, 'requests_diagnose', { url: 'http://x.example.com/', headers });
    expect(d.router).toBe('proto@docker');
    const other = await ok(main.client, 'requests_diagnose', { url: 'http://x.example.com/', headers: { x: '1' } });
    expect(other.router).toBe('fallback@docker');
  });

  it('is still checked like any other header name (length)', async () => {
    const headers = JSON.parse(`{"${'a'.repeat(257)}": "1"}`) as Record<string, string>;
    const text = await fails(main.client, 'requests_diagnose', { url: 'http://x.example.com/', headers });
    expect(text).toMatch(/ERR_INVALID_INPUT/);
  });
});

describe('IPv4-mapped IPv6 addresses and ranges (pkg/ip/checker.go canonicalAddr unmaps both sides)', () => {
  const diagnose = (clientIp: string, host = 'x.example.com') =>
    ok(main.client, 'requests_diagnose', { url: `http://${host}/`, clientIp });

  it('ClientIP(`::ffff:10.0.0.0/112`) and ClientIP(`::ffff:10.9.9.9`) match the IPv4 clients they map', async () => {
    expect((await diagnose('10.0.0.5')).router).toBe('mapped@docker');
    expect((await diagnose('10.9.9.9')).router).toBe('mappedone@docker');
    expect((await diagnose('10.1.0.5')).router).toBe('fallback@docker');
  });

  it('an IPv4-mapped client is an IPv4 client: ::/0 does not hold it', async () => {
    expect((await diagnose('::ffff:192.168.1.1')).router).toBe('fallback@docker');
    expect((await diagnose('::ffff:10.0.0.5')).router).toBe('mapped@docker');
    expect((await diagnose('2001:db8::1')).router).toBe('v6all@docker');
  });

  it('an ipAllowList of a mapped range lets the IPv4 client through', async () => {
    const d = await diagnose('172.16.0.9', 'guarded.example.com');
    expect(d.router).toBe('guarded@docker');
    expect(d.middlewares[0]).toMatch(/^allow@docker \(ipallowlist\): pass: /);
    const refused = await diagnose('172.32.0.9', 'guarded.example.com');
    expect(refused.status).toBe(403);
  });
});

describe('nested && with alternatives on both sides', () => {
  it("the caller's own rule (within the 2,048-character input limit) is judged quickly", async () => {
    const rule = nested(26, 'Host(`mine.example.com`)');
    expect(rule.length).toBeLessThan(2048);
    const started = Date.now();
    const res = await main.client.callTool({
      name: 'routes_apply',
      arguments: { name: 'deep', rule, servers: ['http://10.9.9.9'] },
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    // the rule itself is fine: the answer is a plan or a precedence refusal, not a timeout
    expect(JSON.stringify(res.content)).toMatch(/ERR_CONFIRMATION_REQUIRED|ERR_CONFLICT/);
  }, 120_000);
});

describe('regexp work of the precedence check', () => {
  it('is bounded per call: routers past the budget are named as possible conflicts, quickly', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `Host(\`${'a'.repeat(240)}${i}.example.com\`)`);
    const started = Date.now();
    const text = await fails(main.client, 'routes_apply', {
      name: 'heavy',
      rule: names.join(' || '),
      servers: ['http://10.9.9.9'],
      priority: 1000,
    });
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(text).toMatch(
      /may conflict on a+\d\.example\.com: rule of router heavy\d+@docker was not evaluated \(regex work beyond this call's budget\)/,
    );
  }, 300_000);
});

describe('thousands of routers with regexps near the per-regexp bound', () => {
  const many = Object.fromEntries(
    Array.from({ length: 1500 }, (_, i) => [
      `re${i}`,
      { rule: `PathRegexp(\`^/r${i}/(?:a{480}|b{480})\`)`, priority: 5, service: 's', entryPoints: ['web'] },
    ]),
  );
  const big = dockerSession(
    {
      http: {
        routers: { ...many, fallback: { rule: 'PathPrefix(`/`)', priority: 1, service: 's', entryPoints: ['web'] } },
        services: { s: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
      },
    },
    [{ name: 'web', address: ':80' }],
  );

  it('requests_diagnose compiles within a per-call budget and names the routers it did not evaluate', async () => {
    const started = Date.now();
    const d = await ok(big.client, 'requests_diagnose', { url: 'http://x.example.com/nothing' });
    const took = Date.now() - started;
    expect(d.router).toBe('fallback@docker');
    expect(d.cause).toMatch(/^likely forwarded/);
    expect(d.skipped.join('\n')).toMatch(
      /re\d+@docker: not evaluated here: PathRegexp regex not compiled: this call's budget of 300000 RE2 instructions to compile is spent/,
    );
    expect(took).toBeLessThan(3_000);
  }, 120_000);
});

describe('TCP routers on an entrypoint HTTP routers share (they apply first)', () => {
  const tcp = dockerSession(
    {
      http: {
        routers: {
          plain: { rule: 'PathPrefix(`/`)', service: 's', entryPoints: ['web', 'alt'] },
          secure: { rule: 'PathPrefix(`/`)', service: 's', entryPoints: ['websecure'], tls: {} },
        },
        services: { s: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
      },
      tcp: {
        routers: {
          catchall: { rule: 'HostSNI(`*`)', service: 't', entryPoints: ['web'] },
          db: {
            rule: 'HostSNI(`db.example.com`)',
            service: 't',
            entryPoints: ['websecure'],
            tls: { passthrough: true },
          },
          some: { rule: 'HostSNI(`*`) && ClientIP(`10.0.0.0/8`)', service: 't', entryPoints: ['alt'] },
        },
        services: { t: { loadBalancer: { servers: [{ address: '10.0.0.9:5432' }] } } },
      },
    },
    [
      { name: 'web', address: ':80' },
      { name: 'websecure', address: ':443' },
      { name: 'alt', address: ':8080' },
    ],
  );

  it('a non-TLS HostSNI(`*`) router takes every plain connection: no HTTP router is named', async () => {
    const d = await ok(tcp.client, 'requests_diagnose', { url: 'http://shop.example.com/' });
    expect(d.router).toBeUndefined();
    expect(d.cause).toMatch(
      /^the connection goes to TCP router catchall@docker \(HostSNI\(`\*`\)\) before any HTTP router/,
    );
  });

  it('a TLS HostSNI router takes its host only; other hosts reach the HTTP router', async () => {
    const db = await ok(tcp.client, 'requests_diagnose', { url: 'https://db.example.com/' });
    expect(db.router).toBeUndefined();
    expect(db.cause).toMatch(/TCP router db@docker .* every TLS connection for db\.example\.com/);
    const shop = await ok(tcp.client, 'requests_diagnose', { url: 'https://shop.example.com/' });
    expect(shop.router).toBe('secure@docker');
    expect(shop.cause).toMatch(/^forwarded to s@docker/);
  });

  it('one that may match (HostSNI(`*`) with ClientIP) makes the answer uncertain and is named', async () => {
    const d = await ok(tcp.client, 'requests_diagnose', { url: 'http://shop.example.com:8080/' });
    expect(d.router).toBe('plain@docker');
    expect(d.cause).toMatch(/^likely forwarded/);
    expect(d.cause).toMatch(/some@docker \(not evaluated here; TCP routers apply before HTTP ones\)/);
  });
});
