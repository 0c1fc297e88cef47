// requests_diagnose with chain middlewares: a chain refuses what its members refuse (pkg/middlewares/chain);
// and with ruleSyntax v2 routers, which Traefik routes in the same priority order with its v2 matchers
// (pkg/muxer/http/matcher_v2.go; gorilla mux templates from containous/mux regexp.go).
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
          // HostRegexp in v2 is a gorilla mux template: `{sub:[a-z]+}` is one group of letters, anchored.
          old: { rule: 'HostRegexp(`{sub:[a-z]+}.example.com`)', ruleSyntax: 'v2', priority: 5, service: 'web' },
          feed: {
            rule: 'Host(`feed.example.com`) && Query(`format=rss`) && HeadersRegexp(`Accept`, `xml$`)',
            ruleSyntax: 'v2',
            priority: 8,
            service: 'web',
          },
          versioned: { rule: 'PathPrefix(`/v{n:[0-9]+}/`)', ruleSyntax: 'v2', priority: 7, service: 'web' },
          // gorilla's Headers pairs are a map (mux mapFromPairsToString): the repeated key keeps its last value
          dup: { rule: 'Headers(`X-Env`, `blue`, `X-Env`, `green`)', ruleSyntax: 'v2', priority: 9, service: 'web' },
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
  it('a v2 HostRegexp template is evaluated: it takes a host of letters, not one with a digit', async () => {
    const d = await ok(session.client, 'requests_diagnose', { url: 'http://abc.example.com/' });
    expect(d.router).toBe('old@docker');
    expect(d.skipped).toEqual([]);
    expect(d.cause).toMatch(/^forwarded to web@docker/);
    const other = await ok(session.client, 'requests_diagnose', { url: 'http://v2.example.com/' });
    expect(other.router).toBe('catchall@docker');
    expect(other.cause).toMatch(/^forwarded/);
    expect(other.cause).not.toMatch(/not evaluated/);
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
    expect(d.cause).toMatch(/^forwarded to web@docker/);
  });

  it('a v2 router whose Headers do not match is passed over', async () => {
    const d = await ok(session.client, 'requests_diagnose', {
      url: 'http://v2.example.com/',
      headers: { 'X-Tenant': 'green' },
    });
    expect(d.router).toBe('catchall@docker');
    expect(d.cause).toMatch(/^forwarded/);
  });

  it('Query (first value of the key) and HeadersRegexp decide', async () => {
    const url = 'http://feed.example.com/news?format=rss';
    const d = await ok(session.client, 'requests_diagnose', { url, headers: { accept: 'application/xml' } });
    expect(d.router).toBe('feed@docker');
    const second = await ok(session.client, 'requests_diagnose', {
      url: 'http://feed.example.com/news?format=atom&format=rss',
      headers: { accept: 'application/xml' },
    });
    // mux compares the first value only; the request falls to `old`, whose HostRegexp takes any letters
    expect(second.router).toBe('old@docker');
    const miss = await ok(session.client, 'requests_diagnose', { url, headers: { accept: 'text/html' } });
    expect(miss.router).toBe('old@docker');
  });

  it('Headers with a repeated key: the last value is the one compared', async () => {
    const url = 'http://any.example.org/';
    expect((await ok(session.client, 'requests_diagnose', { url, headers: { 'X-Env': 'green' } })).router).toBe(
      'dup@docker',
    );
    expect((await ok(session.client, 'requests_diagnose', { url, headers: { 'X-Env': 'blue' } })).router).toBe(
      'catchall@docker',
    );
  });

  it('a v2 PathPrefix template matches by its regexp on the routing path', async () => {
    expect((await ok(session.client, 'requests_diagnose', { url: 'http://any.example.org/v12/items' })).router).toBe(
      'versioned@docker',
    );
    expect((await ok(session.client, 'requests_diagnose', { url: 'http://any.example.org/vx/items' })).router).toBe(
      'catchall@docker',
    );
  });
});
