// requests_diagnose with chain middlewares: a chain refuses what its members refuse (pkg/middlewares/chain);
// and with ruleSyntax v2 routers, which Traefik routes in the same priority order but this tool does not evaluate.
import { describe, expect, it } from 'vitest';
import { ok, useTraefikSession } from './harness.js';

const session = useTraefikSession({
  seed: (fx) => {
    fx.sim.setProvider('file', {
      http: {
        middlewares: {
          office: { ipAllowList: { sourceRange: ['192.168.0.0/16'] } },
          headers: { headers: { customRequestHeaders: { 'X-Env': 'prod' } } },
          // Members named without a provider are the chain's own provider's (file).
          secured: { chain: { middlewares: ['headers', 'office', 'auth@docker'] } },
          outer: { chain: { middlewares: ['secured'] } },
        },
      },
    });
    fx.sim.setProvider('docker', {
      http: {
        routers: {
          admin: { rule: 'Host(`chain.example.com`)', middlewares: ['secured@file'], service: 'web' },
          nested: { rule: 'Host(`nested.example.com`)', middlewares: ['outer@file'], service: 'web' },
          catchall: { rule: 'PathPrefix(`/`)', priority: 1, service: 'web' },
          // HostRegexp in v2 is a gorilla mux template, which this tool does not evaluate.
          old: { rule: 'HostRegexp(`{sub:[a-z]+}.example.com`)', ruleSyntax: 'v2', priority: 5, service: 'web' },
          legacy: {
            rule: 'Host(`v2.example.com`, `www.v2.example.com`) && Headers(`X-Tenant`, `blue`)',
            ruleSyntax: 'v2',
            priority: 6,
            service: 'web',
          },
        },
        services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
        middlewares: { auth: { basicAuth: { users: ['ops:$apr1$x$y'] } } },
      },
    });
  },
});

describe('requests_diagnose: chain middlewares', () => {
  it("a chain's ipAllowList refuses an address outside its ranges (403), naming the chain and the member", async () => {
    const d = await ok(session.client, 'requests_diagnose', { url: 'http://chain.example.com/', clientIp: '10.1.2.3' });
    expect(d.router).toBe('admin@docker');
    expect(d.status).toBe(403);
    expect(d.cause).toMatch(/secured@file > office@file \(ipallowlist\)/);
  });

  it("inside the ranges, the chain's basicAuth (another provider's, named with @docker) asks for credentials (401)", async () => {
    const d = await ok(session.client, 'requests_diagnose', {
      url: 'http://chain.example.com/',
      clientIp: '192.168.1.7',
    });
    expect(d.status).toBe(401);
    expect(d.cause).toMatch(/secured@file > auth@docker \(basicauth\)/);
    expect(d.middlewares).toHaveLength(3);
  });

  it('a chain inside a chain is followed too', async () => {
    const d = await ok(session.client, 'requests_diagnose', {
      url: 'http://nested.example.com/',
      clientIp: '10.1.2.3',
    });
    expect(d.router).toBe('nested@docker');
    expect(d.status).toBe(403);
    expect(d.cause).toMatch(/outer@file > secured@file > office@file/);
  });
});

describe('requests_diagnose: ruleSyntax v2 routers', () => {
  it('a v2 router that outranks the winner makes the answer uncertain and is named', async () => {
    const d = await ok(session.client, 'requests_diagnose', { url: 'http://v2.example.com/' });
    expect(d.router).toBe('catchall@docker');
    expect(d.skipped).toEqual(['old@docker: ruleSyntax v2: HostRegexp is not evaluated here']);
    expect(d.cause).toMatch(/^likely forwarded/);
    expect(d.cause).toMatch(/ruleSyntax v2 router\(s\) old@docker \(not evaluated here\) have priority >= 1/);
  });

  it('a v2 router below the winner leaves the answer as it was', async () => {
    const d = await ok(session.client, 'requests_diagnose', {
      url: 'http://nested.example.com/',
      clientIp: '192.168.1.7',
    });
    expect(d.router).toBe('nested@docker');
    expect(d.cause).not.toMatch(/v2/);
  });
});

describe('requests_diagnose: ruleSyntax v2 rules evaluated (pkg/muxer/http/matcher_v2.go)', () => {
  it('several hosts and Headers pairs: a v2 router that matches wins for certain', async () => {
    const d = await ok(session.client, 'requests_diagnose', {
      url: 'http://www.v2.example.com/',
      headers: { 'x-tenant': 'blue' },
    });
    expect(d.router).toBe('legacy@docker');
    expect(d.priority).toBe(6);
    // `old` (priority 5, not evaluated) ranks below the winner: the answer is certain.
    expect(d.cause).toMatch(/^forwarded to web@docker/);
  });

  it('a v2 router whose Headers do not match is passed over', async () => {
    const d = await ok(session.client, 'requests_diagnose', {
      url: 'http://v2.example.com/',
      headers: { 'X-Tenant': 'green' },
    });
    expect(d.router).toBe('catchall@docker');
    expect(d.cause).toMatch(/old@docker \(not evaluated here\) have priority >= 1/);
  });
});
