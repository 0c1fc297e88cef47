/**
 * routes_apply and the hosts it claims, through the real bin over stdio (SDK Client) against the Traefik
 * simulator and a real file-provider directory: the host allowlist (TRAEFIK_ROUTE_HOSTS_ALLOW) and the routers
 * a new route would take precedence over (Traefik sorts routers by priority: the configured one, else the
 * rule's length).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { TraefikBackendConfig } from '@ravenhelm/mcp-traefik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';
import { confirmed, connectStdio, fails, type Structured, useTraefikSession } from './harness.js';

const DASHBOARD_RULE = 'Host(`traefik.example.com`) && (PathPrefix(`/api`) || PathPrefix(`/dashboard`))';

const session = useTraefikSession({
  seed: (fx) => {
    fx.sim.setProvider('docker', {
      http: {
        routers: {
          // the dashboard, published the documented way: a router to api@internal on the TLS entrypoint
          dashboard: { rule: DASHBOARD_RULE, service: 'api@internal', entryPoints: ['websecure'], tls: {} },
          // another team's router (no entryPoints: every entrypoint), priority = its rule's length (24)
          shop: { rule: 'Host(`shop.example.com`)', service: 'shop' },
        },
        services: { shop: { loadBalancer: { servers: [{ url: 'http://10.0.0.3:80' }] } } },
      },
    });
  },
  timeoutMs: 60_000,
});

const grab = {
  name: 'grab',
  rule: 'Host(`traefik.example.com`)',
  servers: ['http://10.6.6.6:80'],
  entryPoints: ['websecure'],
  tls: {},
  priority: 1000,
};

describe('routers a new route would take precedence over', () => {
  it('refuses to take the dashboard host from a router it did not write, naming it; nothing written', async () => {
    const before = session.fx.sim.fileLoads;
    const text = await fails(session.client, 'routes_apply', { ...grab, dryRun: false });
    expect(text).toMatch(
      /ERR_CONFLICT: the new router \(priority 1000\) would take precedence over 1 router\(s\) this server did not write: dashboard@docker \(priority \d+ < 1000; traefik\.example\.com\)/,
    );
    expect(text).toContain('pass shadows: ["dashboard@docker"]');
    expect(readdirSync(session.fx.dir)).toEqual([]);
    expect(session.fx.sim.fileLoads).toBe(before);
  });

  it('named in shadows: the plan and the result say which router it takes precedence over', async () => {
    const { plan, result } = await confirmed(session.client, 'routes_apply', {
      ...grab,
      shadows: ['dashboard@docker'],
    });
    expect(plan).toMatch(/\ntakes precedence over: dashboard@docker \(priority \d+ < 1000; traefik\.example\.com\)$/);
    const s = result.structuredContent as Structured;
    expect(s).toMatchObject({ action: 'create', written: false });
    expect(s.note).toMatch(
      /^takes precedence over: dashboard@docker \(priority \d+ < 1000; traefik\.example\.com\)\. dry run: nothing written/,
    );
  });

  it('no warning where Traefik keeps the existing router first, or where they cannot match the same request', async () => {
    const cases = [
      // the default priority (27) is below the dashboard's (its rule's length)
      { ...grab, priority: undefined },
      // another path on the same host
      { ...grab, rule: 'Host(`traefik.example.com`) && PathPrefix(`/other`)' },
      // plain HTTP: TLS and non-TLS routers are matched apart
      { ...grab, tls: undefined, entryPoints: undefined },
      // another host
      { ...grab, rule: 'Host(`elsewhere.example.com`)' },
    ];
    for (const args of cases) {
      const { plan, result } = await confirmed(session.client, 'routes_apply', args);
      expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
      expect(plan).not.toMatch(/takes precedence/);
      expect((result.structuredContent as Structured).note).not.toMatch(/takes precedence/);
    }
  });

  it('a tie is shadowing too (Traefik orders equal priorities arbitrarily); any-host rules overlap every host', async () => {
    const tie = await fails(session.client, 'routes_apply', {
      name: 'tie',
      rule: 'Host(`shop.example.com`)',
      servers: ['http://10.0.0.9'],
    });
    expect(tie).toMatch(/shop@docker \(same priority 24: Traefik's order is undefined; shop\.example\.com\)/);
    const anyHost = await fails(session.client, 'routes_apply', {
      name: 'catchall',
      rule: 'PathPrefix(`/`) && !Method(`TRACE`)',
      servers: ['http://10.0.0.9'],
      priority: 500,
    });
    expect(anyHost).toMatch(/shop@docker \(priority 24 < 500; shop\.example\.com\)/);
  });

  it("a router in a file it did not write is someone else's; one it wrote may be shadowed, with a note", async () => {
    writeFileSync(
      join(session.fx.dir, 'hand.yaml'),
      'http:\n  routers:\n    hand:\n      rule: Host(`own.example.com`)\n      service: hand\n  services:\n    hand:\n      loadBalancer:\n        servers:\n          - url: http://10.0.0.4\n',
    );
    // until Traefik (the simulator's file provider) has loaded it: bounded, generous
    for (let i = 0; i < 100; i++) {
      const got = await session.client.callTool({ name: 'routers_get', arguments: { name: 'hand@file' } });
      if (!got.isError) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const mine = { name: 'mine', rule: 'Host(`own.example.com`) && PathPrefix(`/`)', servers: ['http://10.0.0.5'] };
    expect(await fails(session.client, 'routes_apply', mine)).toMatch(
      /ERR_CONFLICT: .*hand@file \(priority 23 < 42; own\.example\.com\)/,
    );
    const first = await confirmed(session.client, 'routes_apply', { ...mine, shadows: ['hand@file'], dryRun: false });
    expect(first.result.structuredContent).toMatchObject({ written: true, loaded: true });
    // a longer rule outranks "mine", a router this server wrote: allowed, and said
    const { plan, result } = await confirmed(session.client, 'routes_apply', {
      name: 'mine-v2',
      rule: 'Host(`own.example.com`) && PathPrefix(`/v2`)',
      servers: ['http://10.0.0.6'],
      shadows: ['hand@file'],
    });
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    expect(plan).toContain('mine@file (priority 42 < 44; own.example.com), written by this server');
  });
  it('a rule that outranks many routers: ten named, the rest counted, and more than 20 cannot be accepted', async () => {
    const routers: Record<string, Record<string, unknown>> = {};
    for (let i = 0; i < 25; i++)
      routers[`t${String(i).padStart(2, '0')}`] = { rule: `Host(\`t${i}.team.example.com\`)`, service: 's' };
    session.fx.sim.setProvider('kubernetescrd', {
      http: { routers, services: { s: { loadBalancer: { servers: [] } } } },
    });
    try {
      const text = await fails(session.client, 'routes_apply', {
        name: 'team-all',
        rule: 'HostRegexp(`^t[0-9]+\\.team\\.example\\.com$`)',
        servers: ['http://10.0.0.9'],
        priority: 100,
      });
      expect(text).toMatch(
        /would take precedence over 25 router\(s\) this server did not write: t00@kubernetescrd \(priority 2[0-9] < 100; t0\.team\.example\.com\); .*; and 15 more\. To fix: at most 20 can be accepted in shadows/,
      );
      expect(text.match(/@kubernetescrd/g)).toHaveLength(10);
    } finally {
      session.fx.sim.setProvider('kubernetescrd', {});
    }
  });
});

describe('ruleSyntax v2 routers, read with their v2 matchers (pkg/muxer/http/matcher_v2.go)', () => {
  it('a v2 router outranked on another host is no conflict; on its own host (Host or a HostRegexp template) it is', async () => {
    session.fx.sim.setProvider('consulcatalog', {
      http: {
        routers: {
          legacy: { rule: 'Host(`legacy.example.com`, `old.example.com`)', ruleSyntax: 'v2', service: 's' },
          tenants: { rule: 'HostRegexp(`{tenant:[a-z]+}.tenants.example.com`)', ruleSyntax: 'v2', service: 's' },
        },
        services: { s: { loadBalancer: { servers: [] } } },
      },
    });
    try {
      const route = (rule: string) => ({ name: 'v2check', rule, servers: ['http://10.0.0.9'], priority: 900 });
      const { plan, result } = await confirmed(session.client, 'routes_apply', route('Host(`fresh.example.com`)'));
      expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
      expect(plan).not.toMatch(/takes precedence/);
      expect(await fails(session.client, 'routes_apply', route('Host(`old.example.com`)'))).toMatch(
        /would take precedence over 1 router\(s\) this server did not write: legacy@consulcatalog \(priority \d+ < 900; old\.example\.com\)/,
      );
      expect(await fails(session.client, 'routes_apply', route('Host(`blue.tenants.example.com`)'))).toMatch(
        /: tenants@consulcatalog \(priority \d+ < 900; blue\.tenants\.example\.com\)\. To fix/,
      );
      // `{tenant:[a-z]+}` is one label of letters: a deeper name is not the template's
      const deeper = await confirmed(session.client, 'routes_apply', route('Host(`a.b.tenants.example.com`)'));
      expect(deeper.result.isError, JSON.stringify(deeper.result.content)).toBeFalsy();
    } finally {
      session.fx.sim.setProvider('consulcatalog', {});
    }
  });
});

describe('the host allowlist (TRAEFIK_ROUTE_HOSTS_ALLOW)', () => {
  let guarded: Client;
  const ALLOW = 'shop.example.com, *.apps.example.com';
  beforeAll(async () => {
    guarded = await connectStdio({ ...session.fx.env, TRAEFIK_ROUTE_HOSTS_ALLOW: ALLOW });
  }, 30_000);
  afterAll(async () => {
    await guarded?.close();
  });

  const route = (name: string, rule: string) => ({ name, rule, servers: ['http://10.0.0.7'], dryRun: false });

  it('refuses hosts outside it, and rules that can match any host, before reading or writing anything', async () => {
    const files = readdirSync(session.fx.dir);
    const seen = session.fx.sim.requests.length;
    const refused: [string, RegExp][] = [
      ['Host(`evil.example.com`)', /host "evil\.example\.com" is not allowed by TRAEFIK_ROUTE_HOSTS_ALLOW/],
      ['Host(`apps.example.com`)', /host "apps\.example\.com" is not allowed/],
      ['Host(`shop.example.com`) && !Host(`evil.example.com`)', /host "evil\.example\.com" is not allowed/],
      ['PathPrefix(`/`)', /the rule can match any host/],
      ['Host(`shop.example.com`) || PathPrefix(`/admin`)', /the rule can match any host/],
      ['Host(`*`)', /host "\*" is not allowed/],
      ['HostRegexp(`^.+\\.evil\\.com$`)', /HostRegexp\(.*\) can match hosts outside TRAEFIK_ROUTE_HOSTS_ALLOW/],
      ['HostRegexp(`^a\\.apps\\.example\\.com$|^evil\\.com$`)', /HostRegexp\(.*\) can match hosts outside/],
      ['HostRegexp(`apps\\.example\\.com`)', /HostRegexp\(.*\) can match hosts outside/],
    ];
    for (const [rule, want] of refused) {
      const text = await fails(guarded, 'routes_apply', route('evil', rule));
      expect(text, rule).toMatch(/^ERR_NOT_ALLOWED: /);
      expect(text, rule).toMatch(want);
    }
    expect(session.fx.sim.requests.length).toBe(seen);
    expect(readdirSync(session.fx.dir)).toEqual(files);
  });

  it('accepts hosts within it: exact, below a *.domain, and a HostRegexp that provably ends in one', async () => {
    for (const rule of [
      'Host(`SHOP.example.com`) && PathPrefix(`/cart`)',
      'Host(`a.b.apps.example.com`)',
      'HostRegexp(`^[a-z0-9-]+\\.apps\\.example\\.com$`) || Host(`x.apps.example.com`)',
    ]) {
      const { result } = await confirmed(guarded, 'routes_apply', {
        ...route('fine', rule),
        dryRun: true,
        shadows: ['shop@docker'],
      });
      expect(result.isError, `${rule}: ${JSON.stringify(result.content)}`).toBeFalsy();
    }
  });

  it('is validated at start: a URL or a bare "*" is not an entry', () => {
    expect(TraefikBackendConfig.safeParse({ routeHostsAllow: 'http://x.example.com' }).success).toBe(false);
    expect(TraefikBackendConfig.safeParse({ routeHostsAllow: '*' }).success).toBe(false);
    expect(TraefikBackendConfig.parse({ routeHostsAllow: ALLOW }).routeHostsAllow).toEqual([
      'shop.example.com',
      '*.apps.example.com',
    ]);
  });

  it('unset, the server warns at start that routes_apply may claim any host; set, it does not', async () => {
    let n = 0;
    const stderrOf = async (env: Record<string, string>) => {
      const { command, args } = tsEntry('servers/traefik/src/bin.ts', ['--stdio']);
      const audit = join(session.fx.scratch, `warn-${++n}.jsonl`);
      const transport = new StdioClientTransport({
        command,
        args,
        cwd: REPO_ROOT,
        env: { ...env, RAVENHELM_AUDIT_FILE: audit, RAVENHELM_LOG_LEVEL: 'warn' },
        stderr: 'pipe',
      });
      let text = '';
      transport.stderr?.on('data', (d: Buffer) => {
        text += d.toString();
      });
      const c = new Client({ name: 'warn-test', version: '0' });
      await c.connect(transport);
      await c.listTools();
      await c.close();
      return text;
    };
    expect(await stderrOf(session.fx.env)).toContain(
      'routes_apply may route any host name (no TRAEFIK_ROUTE_HOSTS_ALLOW)',
    );
    expect(await stderrOf({ ...session.fx.env, TRAEFIK_ROUTE_HOSTS_ALLOW: ALLOW })).not.toContain(
      'routes_apply may route any host',
    );
  }, 30_000);
});
