/**
 * Hostile router rules that Traefik accepts, through the real bin over stdio (SDK Client) against the
 * simulator. Traefik parses a rule with go/parser (vulcand/predicate), which nests up to 100,000 levels
 * (go/parser maxNestLev), and compiles its regexps with Go's regexp, which accepts programs of millions of
 * instructions (regexp/syntax maxSize). This server evaluates rules within its own bounds; a router beyond
 * them must make the answer uncertain, never be dropped from it silently, and must not stall the server.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, type Fixture, ok, startFixture } from './harness.js';

let fx: Fixture;
let client: Client;

/** 70 levels of parentheses around a Host matcher: beyond this server's parser depth, fine for go/parser. */
const DEEP = `${'('.repeat(70)}Host(\`deep.example.com\`)${')'.repeat(70)}`;
/**
 * An unanchored PathRegexp whose RE2 program has ~40,000 instructions (Go accepts it): linear in the path,
 * but each byte steps every live thread, tens of thousands on a run of "a" (re2js: ~18 s for 4 kB here).
 */
const HEAVY = `PathRegexp(\`(?:${Array.from({ length: 40 }, (_, i) => `a{${1000 - i}}`).join('|')})\`)`;

/** 80 routers each with a regexp just within the per-regexp bound (~1,000 instructions), meant to add up. */
const MANY = Object.fromEntries(
  Array.from({ length: 80 }, (_, i) => [
    `many${i}`,
    { rule: 'PathRegexp(`(?:a{499}|a{498})`)', priority: 50, service: 'web', entryPoints: ['web'] },
  ]),
);

beforeAll(async () => {
  fx = await startFixture({ entryPoints: [{ name: 'web', address: ':80' }] });
  fx.sim.setProvider('docker', {
    http: {
      routers: {
        fallback: { rule: 'PathPrefix(`/`)', priority: 1, service: 'web', entryPoints: ['web'] },
        deep: { rule: DEEP, priority: 100, service: 'web', entryPoints: ['web'] },
        heavy: { rule: HEAVY, priority: 100, service: 'web', entryPoints: ['web'] },
        ...MANY,
        // Unicode host names: Traefik wants the punycode form and disables these (matcher.go, matcher_v2.go).
        cafe: { rule: 'Host(`café.example.com`)', priority: 200, service: 'web', entryPoints: ['web'] },
        cafe2: {
          rule: 'HostRegexp(`{sub:[a-z]+}.café.example.com`)',
          ruleSyntax: 'v2',
          priority: 200,
          service: 'web',
          entryPoints: ['web'],
        },
      },
      services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
    },
  });
  client = await connectStdio(fx.env);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await fx?.close();
});

describe('rules beyond what this server evaluates', () => {
  it('the simulator (like Traefik) enables them', async () => {
    const { routers } = await ok(client, 'routers_list', { limit: 100, status: 'enabled' });
    expect(routers).toHaveLength(83);
  });

  it('a rule nested deeper than the parser follows makes the answer uncertain, not a certain fallback', async () => {
    const d = await ok(client, 'requests_diagnose', { url: 'http://deep.example.com/' });
    expect(d.router).toBe('fallback@docker');
    expect(d.cause).toMatch(/^likely forwarded/);
    expect(d.cause).toMatch(/router\(s\) [^()]*deep@docker[^()]* \(not evaluated here\) have priority >= 1/);
    expect(d.skipped.join('\n')).toMatch(/deep@docker: not evaluated here: rule nests deeper than 64 levels/);
  });

  it('a regexp too large to evaluate is not run: the answer is quick and names the router', async () => {
    const started = Date.now();
    const d = await ok(client, 'requests_diagnose', { url: `http://x.example.com/${`${'a'.repeat(950)}b`.repeat(4)}` });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(d.cause).toMatch(/heavy@docker/);
    expect(d.skipped.join('\n')).toMatch(
      /heavy@docker: not evaluated here: PathRegexp regex is too large to evaluate here/,
    );
  });
});

describe('regexp work within one call', () => {
  it('is bounded: routers past the budget are named as not evaluated, the rest still evaluated', async () => {
    const started = Date.now();
    const d = await ok(client, 'requests_diagnose', { url: `http://x.example.com/${`${'a'.repeat(480)}b`.repeat(8)}` });
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(d.router).toBe('fallback@docker');
    expect(d.cause).toMatch(/^likely forwarded/);
    expect(d.cause).toMatch(/router\(s\) .*many\d+@docker.* \(not evaluated here\)/);
    expect(d.skipped.join('\n')).toMatch(/many\d+@docker: not evaluated here: regex work beyond this call's budget/);
  });
});

describe('unicode host names', () => {
  it('Traefik disables a Host or HostRegexp with non-ASCII characters (v3 and v2), saying so', async () => {
    const v3 = await ok(client, 'routers_get', { name: 'cafe@docker' });
    expect(v3.status).toBe('disabled');
    expect(v3.errors.join('\n')).toMatch(/for Host matcher, non-ASCII characters are not allowed/);
    const v2 = await ok(client, 'routers_get', { name: 'cafe2@docker' });
    expect(v2.status).toBe('disabled');
    expect(v2.errors.join('\n')).toMatch(/for HostRegexp matcher, non-ASCII characters are not allowed/);
  });

  it('a disabled unicode router is skipped, not an uncertainty; the punycode request goes elsewhere', async () => {
    const d = await ok(client, 'requests_diagnose', { url: 'http://café.example.com/' });
    expect(d.router).not.toMatch(/^cafe/);
    const skipped = d.skipped.filter((s: string) => s.startsWith('cafe')).sort();
    expect(skipped).toEqual([
      'cafe2@docker: HostRegexp value must be ASCII (use the punycode form) (at column 1)',
      'cafe@docker: Host value must be ASCII (use the punycode form) (at column 1)',
    ]);
    expect(d.cause).not.toMatch(/cafe/);
  });
});
