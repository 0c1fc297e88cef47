import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, type Fixture, fails, ok, startFixture, useTraefikSession } from './harness.js';

const session = useTraefikSession({
  seed: (fx) => {
    fx.sim.setProvider('docker', {
      http: {
        routers: {
          site: { rule: 'Host(`shop.example.com`)', service: 'web', entryPoints: ['web'] },
          api: { rule: 'Host(`shop.example.com`) && PathPrefix(`/api`)', service: 'api', entryPoints: ['web'] },
          admin: {
            rule: 'Host(`shop.example.com`) && PathPrefix(`/admin`)',
            service: 'web',
            middlewares: ['office', 'auth'],
            entryPoints: ['web'],
          },
          pinned: { rule: 'PathPrefix(`/`)', priority: 1, service: 'web', entryPoints: ['web'] },
          gone: { rule: 'Host(`old.example.com`)', service: 'nothing', entryPoints: ['web'] },
          secure: { rule: 'Host(`shop.example.com`)', service: 'api', tls: {}, entryPoints: ['websecure'] },
          tieA: { rule: 'Host(`tie.example.com`) && Path(`/x`)', service: 'web', entryPoints: ['web'] },
          tieB: { rule: 'Host(`tie.example.com`) && Path(`/x`)', service: 'api', entryPoints: ['web'] },
          mobile: {
            rule: 'Host(`m.example.com`) && (HeaderRegexp(`User-Agent`, `(?i)mobile`) || Query(`m`))',
            service: 'web',
            entryPoints: ['web'],
          },
        },
        services: {
          web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } },
          api: { loadBalancer: { servers: [{ url: 'http://10.0.0.2' }, { url: 'http://10.0.0.3' }] } },
        },
        middlewares: {
          office: { ipAllowList: { sourceRange: ['192.168.0.0/16', '2001:db8::/32'] } },
          auth: { basicAuth: { users: ['ops:$apr1$x$y'] } },
        },
      },
    });
  },
});

describe('requests_diagnose', () => {
  it('picks the longest rule (default priority = rule length) and reports a healthy service', async () => {
    const d = await ok(session.client, 'requests_diagnose', { url: 'http://shop.example.com/api/v1' });
    expect(d).toMatchObject({
      router: 'api@docker',
      priority: 'Host(`shop.example.com`) && PathPrefix(`/api`)'.length,
      service: { name: 'api@docker', up: 2, total: 2 },
      ties: [],
    });
    expect(d.status).toBeUndefined();
    expect(d.cause).toMatch(/^forwarded to api@docker \(2\/2 servers UP\)/);
    const home = await ok(session.client, 'requests_diagnose', { url: 'http://shop.example.com/' });
    expect(home.router).toBe('site@docker');
    // An explicit priority of 1 loses to every default (length-based) priority.
    const other = await ok(session.client, 'requests_diagnose', { url: 'http://unknown.example.com/x' });
    expect(other.router).toBe('pinned@docker');
  });

  it('HTTPS requests only meet TLS routers', async () => {
    const d = await ok(session.client, 'requests_diagnose', { url: 'https://shop.example.com/api' });
    expect(d.router).toBe('secure@docker');
    const none = await ok(session.client, 'requests_diagnose', { url: 'https://nothing.example.com/' });
    expect(none).toMatchObject({ status: 404 });
    expect(none.cause).toMatch(/no TLS router on websecure matches GET nothing.example.com\//);
    // The URL's port picks the entrypoint: nothing listens on :8443, so every entrypoint is considered.
    expect((await ok(session.client, 'requests_diagnose', { url: 'https://shop.example.com:8443/api' })).router).toBe(
      'secure@docker',
    );
    // http:// on port 443 reaches websecure, where the non-TLS routers are not attached.
    const wrongPort = await ok(session.client, 'requests_diagnose', { url: 'http://shop.example.com:443/api' });
    expect(wrongPort).toMatchObject({ status: 404 });
    expect(wrongPort.cause).toMatch(/no non-TLS router on websecure matches/);
  });

  it('404 from a disabled router says why it is disabled', async () => {
    const d = await ok(session.client, 'requests_diagnose', { url: 'http://old.example.com/', entryPoint: 'web' });
    // pinned (PathPrefix(`/`)) still catches it: the disabled router is not in the muxer.
    expect(d.router).toBe('pinned@docker');
    session.fx.sim.setProvider('docker', {
      http: { routers: { gone: { rule: 'Host(`old.example.com`)', service: 'nothing' } } },
    });
    const dead = await ok(session.client, 'requests_diagnose', { url: 'http://old.example.com/' });
    expect(dead.status).toBe(404);
    expect(dead.cause).toBe(
      '404: router gone@docker would match but is disabled: the service "nothing@docker" does not exist',
    );
  });
});

describe('requests_diagnose: middlewares and services', () => {
  let fx2: Fixture;
  let c2: Client;
  beforeAll(async () => {
    fx2 = await startFixture();
    fx2.sim.setProvider('docker', {
      http: {
        routers: {
          admin: {
            rule: 'Host(`shop.example.com`) && PathPrefix(`/admin`)',
            service: 'web',
            middlewares: ['office', 'auth'],
          },
          legacy: { rule: 'Host(`v2.example.com`)', ruleSyntax: 'v2', service: 'web' },
          templated: { rule: 'PathPrefix(`/v{n:[0-9]+}`)', ruleSyntax: 'v2', service: 'web' },
          tieA: { rule: 'Host(`tie.example.com`) && Path(`/x`)', service: 'web' },
          tieB: { rule: 'Host(`tie.example.com`) && Path(`/x`)', service: 'web' },
          mobile: {
            rule: 'Host(`m.example.com`) && (HeaderRegexp(`User-Agent`, `(?i)mobile`) || Query(`m`))',
            service: 'down',
          },
          lb: { rule: 'Host(`lb.example.com`)', service: 'web', middlewares: ['lb-office'] },
          cdn: { rule: 'Host(`cdn.example.com`)', service: 'web', middlewares: ['cdn-office'] },
          v6: { rule: 'Host(`v6.example.com`)', service: 'web', middlewares: ['v6-office'] },
        },
        services: {
          web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } },
          down: { loadBalancer: { servers: [{ url: 'http://10.0.0.7' }] } },
        },
        middlewares: {
          office: { ipAllowList: { sourceRange: ['192.168.0.0/16', '2001:db8::/32'] } },
          auth: { basicAuth: { users: ['ops:$apr1$x$y'] } },
          'lb-office': { ipAllowList: { sourceRange: ['203.0.113.0/24'], ipStrategy: { depth: 1 } } },
          // ipv6Subnet: the client counts as its /64, which is the one address allowed here
          'v6-office': { ipAllowList: { sourceRange: ['2001:db8::'], ipStrategy: { ipv6Subnet: 64 } } },
          'cdn-office': {
            ipAllowList: { sourceRange: ['203.0.113.0/24'], ipStrategy: { excludedIPs: ['10.0.0.0/8'] } },
          },
        },
      },
    });
    fx2.sim.serverHealth.set('http://10.0.0.7', 'DOWN');
    c2 = await connectStdio(fx2.env);
  });
  afterAll(async () => {
    await c2?.close();
    await fx2?.close();
  });

  it('ipAllowList refuses an outside client with 403; basicAuth without credentials gives 401', async () => {
    const outside = await ok(c2, 'requests_diagnose', { url: 'http://shop.example.com/admin', clientIp: '10.1.2.3' });
    expect(outside).toMatchObject({ router: 'admin@docker', status: 403 });
    expect(outside.cause).toBe(
      '403: middleware office@docker (ipallowlist): 403 Forbidden: 10.1.2.3 is not in 192.168.0.0/16, 2001:db8::/32',
    );
    const inside = await ok(c2, 'requests_diagnose', { url: 'http://shop.example.com/admin', clientIp: '2001:db8::5' });
    expect(inside.status).toBe(401);
    expect(inside.middlewares).toEqual([
      'office@docker (ipallowlist): pass: 2001:db8::5 is in 192.168.0.0/16, 2001:db8::/32',
      'auth@docker (basicauth): refuse: 401 Unauthorized: no basic Authorization header',
    ]);
    const authed = await ok(c2, 'requests_diagnose', {
      url: 'http://shop.example.com/admin',
      clientIp: '192.168.1.1',
      headers: { authorization: 'Basic b3BzOnNlY3JldA==' },
    });
    expect(authed.status).toBeUndefined();
    expect(authed.cause).toMatch(/^likely forwarded to web@docker/);
    expect(JSON.stringify(authed)).not.toContain('b3BzOnNlY3JldA');
  });

  it("ipAllowList with an ipStrategy judges the address Traefik picks from X-Forwarded-For, not the connection's", async () => {
    const lb = (clientIp: string, xff?: string) =>
      ok(c2, 'requests_diagnose', {
        url: 'http://lb.example.com/',
        clientIp,
        ...(xff === undefined ? {} : { headers: { 'x-forwarded-for': xff } }),
      });
    // behind a load balancer at 10.0.0.9: depth 1 is the address it appended
    expect((await lb('10.0.0.9', '198.51.100.1, 203.0.113.7')).middlewares).toEqual([
      'lb-office@docker (ipallowlist): pass: 203.0.113.7 (X-Forwarded-For depth 1) is in 203.0.113.0/24',
    ]);
    const spoofed = await lb('203.0.113.7', '198.51.100.1');
    expect(spoofed.status).toBe(403);
    expect((await lb('203.0.113.7', '')).cause).toContain('no client IP (X-Forwarded-For depth 1)');
    expect((await lb('10.0.0.9')).middlewares[0]).toMatch(/: unknown: .*give headers \{"X-Forwarded-For"/);
    const cdn = (xff: string) =>
      ok(c2, 'requests_diagnose', {
        url: 'http://cdn.example.com/',
        clientIp: '10.0.0.9',
        headers: { 'X-Forwarded-For': xff },
      });
    expect((await cdn('198.51.100.1, 203.0.113.7, 10.1.1.1,10.2.2.2')).status).toBeUndefined();
    expect((await cdn('203.0.113.7, 198.51.100.1, 10.1.1.1')).status).toBe(403);
    const v6 = (clientIp: string) => ok(c2, 'requests_diagnose', { url: 'http://v6.example.com/', clientIp });
    expect((await v6('2001:db8::5:6')).status).toBeUndefined();
    expect((await v6('2001:db8:0:1::5')).status).toBe(403);
  });

  it('no server UP is a 503; header regexes and queries decide the match', async () => {
    const d = await ok(c2, 'requests_diagnose', {
      url: 'http://m.example.com/',
      headers: { 'user-agent': 'Some Mobile Browser' },
    });
    expect(d).toMatchObject({ router: 'mobile@docker', status: 503, service: { up: 0, total: 1 } });
    expect(d.cause).toBe('503: no server of down@docker is UP (health checks fail)');
    const q = await ok(c2, 'requests_diagnose', { url: 'http://m.example.com/?m' });
    expect(q.router).toBe('mobile@docker');
    const miss = await ok(c2, 'requests_diagnose', {
      url: 'http://m.example.com/',
      headers: { 'User-Agent': 'desktop' },
    });
    expect(miss.status).toBe(404);
    expect(miss.nearMisses).toEqual([
      {
        router: 'mobile@docker',
        failed: ['HeaderRegexp(`User-Agent`, `(?i)mobile`)', 'Query(`m`)'],
      },
    ]);
  });

  it('evaluates ruleSyntax v2 rules, gorilla templates included', async () => {
    const d = await ok(c2, 'requests_diagnose', { url: 'http://v2.example.com/' });
    expect(d.router).toBe('legacy@docker');
    expect(d.skipped).toEqual([]);
    const templated = await ok(c2, 'requests_diagnose', { url: 'http://nothing.example.com/v12' });
    expect(templated.router).toBe('templated@docker');
    const none = await ok(c2, 'requests_diagnose', { url: 'http://nothing.example.com/' });
    expect(none.status).toBe(404);
    expect(none.cause).not.toMatch(/not evaluated/);
  });

  it('reports ties of equal priority', async () => {
    const d = await ok(c2, 'requests_diagnose', { url: 'http://tie.example.com/x' });
    expect(d.ties).toHaveLength(1);
    expect([d.router, ...d.ties].sort()).toEqual(['tieA@docker', 'tieB@docker']);
    expect(d.cause).toMatch(/order between them is not guaranteed/);
  });

  it('bad input is refused', async () => {
    expect(await fails(c2, 'requests_diagnose', { url: 'ftp://x.example.com/' })).toMatch(/http:\/\/ or https:\/\//);
    expect(await fails(c2, 'requests_diagnose', { url: 'http://x/', clientIp: 'not-an-ip' })).toMatch(
      /ERR_INVALID_INPUT: clientIp "not-an-ip" is not an IPv4 or IPv6 address/,
    );
  });
});
