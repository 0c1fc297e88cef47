/**
 * Routers whose rules are beyond this server's own bounds (a regexp over 1,000 RE2 instructions, nesting deeper
 * than 64 levels), which Traefik accepts and serves: routes_apply's precedence check and certificates_sweep
 * read what they can of them and say what they could not, through the real bin over stdio (SDK Client)
 * against the simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirmed, connectStdio, type Fixture, fails, ok, startFixture } from './harness.js';
import { startTlsFixture, type TlsFixture } from './tls-servers.js';

/** ~40,000 RE2 instructions (Go accepts it; over this server's 1,000). */
const HEAVY = `(?:${Array.from({ length: 40 }, (_, i) => `a{${1000 - i}}`).join('|')})`;
/** 70 levels of parentheses: beyond this server's parser (64), fine for Traefik's go/parser. */
const deep = (rule: string) => `${'('.repeat(70)}${rule}${')'.repeat(70)}`;

let fx: Fixture;
let client: Awaited<ReturnType<typeof connectStdio>>;
let tlsFx: TlsFixture;

beforeAll(async () => {
  tlsFx = await startTlsFixture();
  fx = await startFixture();
  fx.sim.setProvider('docker', {
    http: {
      routers: {
        // the Host is within bounds, the path regexp is not
        bigpath: { rule: `Host(\`shop.example.com\`) && PathRegexp(\`${HEAVY}\`)`, priority: 10, service: 's' },
        // the host regexp itself is over the bounds: any host may match
        bighost: { rule: `HostRegexp(\`${HEAVY}\`) && Path(\`/only\`)`, priority: 10, service: 's' },
        // deep, but matchers joined by && only: read whole
        deepand: { rule: deep('Host(`deep.example.com`) && PathPrefix(`/d`)'), priority: 10, service: 's' },
        // deep with ||: not read
        deepor: { rule: deep('Host(`a.example.com`) || Host(`b.example.com`)'), priority: 10, service: 's' },
        // TLS routers for the sweep
        tlsbig: { rule: `Host(\`good.example.test\`) && PathRegexp(\`${HEAVY}\`)`, service: 's', tls: {} },
        tlsdeep: { rule: deep('Host(`soon.example.test`) || Host(`gone.example.test`)'), service: 's', tls: {} },
      },
      services: { s: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
    },
  });
  fx.env.TRAEFIK_TLS_ADDRESS = `127.0.0.1:${tlsFx.port}`;
  fx.env.TRAEFIK_TLS_TIMEOUT_MS = '5000';
  client = await connectStdio(fx.env);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await fx?.close();
  await tlsFx?.close();
});

const apply = (rule: string, extra: Record<string, unknown> = {}) => ({
  name: 'mine',
  rule,
  servers: ['http://10.9.9.9:80'],
  priority: 1000,
  ...extra,
});

describe('routes_apply and routers whose rules are not evaluated here', () => {
  it('a router is checked on the part of its rule within bounds: another host is no conflict with it', async () => {
    const text = await fails(client, 'routes_apply', apply('Host(`other.example.com`)'));
    // bigpath (shop.example.com) and deepand (deep.example.com) are read well enough to rule them out
    expect(text).not.toMatch(/bigpath@docker|deepand@docker/);
    // what is unknown is said to be unknown, not a certain conflict
    expect(text).toMatch(/^ERR_CONFLICT: the new router \(priority 1000\) may take precedence over 2 router\(s\)/);
    expect(text).toMatch(
      /bighost@docker \(priority 10 < 1000; may conflict on other\.example\.com: rule of router bighost@docker was not evaluated \(HostRegexp regex is too large to evaluate here \([^()]+; limit 1000\)\)\)/,
    );
    expect(text).toMatch(
      /deepor@docker \(priority 10 < 1000; may conflict on other\.example\.com: rule of router deepor@docker was not evaluated \(rule nests deeper than 64 levels\)\)/,
    );
    expect(text).toContain('pass shadows: ["bighost@docker","deepor@docker"]');
  });

  it('on the host a router claims, only the unevaluated part is unknown', async () => {
    const text = await fails(
      client,
      'routes_apply',
      apply('Host(`shop.example.com`) || Host(`deep.example.com`)', { shadows: ['bighost@docker', 'deepor@docker'] }),
    );
    // deepand is read whole: a certain conflict; bigpath's path is unknown: a possible one
    expect(text).toMatch(/would take precedence over 2 router\(s\) this server did not write \(1 of them only may\)/);
    expect(text).toMatch(
      /bigpath@docker \(priority 10 < 1000; may conflict on shop\.example\.com: rule of router bigpath@docker was not evaluated \(PathRegexp regex is too large to evaluate here \([^()]+; limit 1000\)\)\)/,
    );
    expect(text).toMatch(/deepand@docker \(priority 10 < 1000; deep\.example\.com\)/);
  });

  it('accepted in shadows, the plan says which conflicts are only possible', async () => {
    const { plan, result } = await confirmed(
      client,
      'routes_apply',
      apply('Host(`shop.example.com`)', { shadows: ['bighost@docker', 'deepor@docker', 'bigpath@docker'] }),
    );
    expect(plan).toMatch(
      /\ntakes precedence over: bighost@docker .*; bigpath@docker \(priority 10 < 1000; may conflict on shop\.example\.com: rule of router bigpath@docker was not evaluated/,
    );
    expect(result.isError).toBeFalsy();
    expect((result.structuredContent as { written: boolean }).written).toBe(false);
  });
});

describe('certificates_sweep and rules not evaluated here', () => {
  it('says the rule was over the limits (not that it does not parse) and probes the Host() names it could read', async () => {
    const sweep = await ok(client, 'certificates_sweep', { withinDays: 3650 });
    expect(sweep.skipped.join('\n')).not.toMatch(/does not parse/);
    // the regexp over the bounds is no obstacle to reading Host() names
    expect(sweep.skipped.join('\n')).not.toMatch(/tlsbig/);
    expect(sweep.skipped).toContain(
      "tlsdeep@docker: rule not evaluated (over this server's limits: rule nests deeper than 64 levels); the Host() names read from its text: soon.example.test, gone.example.test",
    );
    const probed = sweep.expiring.map((e: { host: string }) => e.host);
    // within 3650 days every probed certificate is listed: the names of both routers were probed
    expect(probed).toEqual(expect.arrayContaining(['good.example.test', 'soon.example.test', 'gone.example.test']));
    expect(sweep.hosts).toBe(3);
  });
});
