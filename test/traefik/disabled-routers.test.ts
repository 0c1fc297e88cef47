// Routers Traefik disables (a middleware or chain member that does not exist), entrypoints that do not exist,
// and ruleSyntax v2 routers, which Traefik v3 still builds with its v2 matchers.
import { describe, expect, it } from 'vitest';
import { TraefikSimulator } from '../simulators/traefik.js';
import { confirmed, fails, ok, type Structured, useTraefikSession } from './harness.js';

const session = useTraefikSession({
  seed: (fx) => {
    fx.sim.setProvider('docker', {
      http: {
        routers: {
          // `ghost` is named without a provider inside a docker chain: it means ghost@docker.
          broken: { rule: 'Host(`broken.example.com`)', middlewares: ['guard'], service: 'web' },
          fallback: { rule: 'PathPrefix(`/`)', priority: 1, service: 'web' },
          legacy: {
            rule: 'Headers(`X-Tenant`, `blue`) && HostHeader(`legacy.example.com`, `old.example.com`)',
            ruleSyntax: 'v2',
            service: 'web',
          },
        },
        services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
        middlewares: {
          headers: { headers: { customRequestHeaders: { 'X-Env': 'prod' } } },
          guard: { chain: { middlewares: ['headers', 'inner'] } },
          inner: { chain: { middlewares: ['ghost'] } },
        },
      },
    });
  },
});

describe('a router whose chain names a middleware that does not exist', () => {
  it("routers_get shows it disabled with Traefik's error (the chains too)", async () => {
    const r = await ok(session.client, 'routers_get', { name: 'broken@docker' });
    expect(r.status).toBe('disabled');
    expect(r.errors).toEqual(['middleware "ghost@docker" does not exist']);
    const m = await ok(session.client, 'middlewares_list', { search: 'guard' });
    expect(m.middlewares[0]).toMatchObject({ name: 'guard@docker', status: 'disabled' });
  });

  it('requests_diagnose: the request falls through to the next router, and the disabled one is named', async () => {
    const d = await ok(session.client, 'requests_diagnose', { url: 'http://broken.example.com/' });
    expect(d.router).toBe('fallback@docker');
    expect(d.status).toBeUndefined();
    expect(d.cause).toMatch(
      /router broken@docker \(priority 26\) also matches but is disabled, so it serves nothing: middleware "ghost@docker" does not exist/,
    );
  });

  it('routes_apply refuses such a chain before writing anything', async () => {
    const text = await fails(session.client, 'routes_apply', {
      name: 'shop',
      rule: 'Host(`shop.example.com`)',
      servers: ['http://10.0.0.5:8080'],
      middlewares: ['guard@docker'],
    });
    expect(text).toMatch(/middleware guard@docker is a chain whose member inner@docker > ghost@docker does not exist/);
  });

  it('routes_apply still takes a chain whose members all exist', async () => {
    const { plan } = await confirmed(session.client, 'routes_apply', {
      name: 'shop',
      rule: 'Host(`shop.example.com`)',
      servers: ['http://10.0.0.5:8080'],
      middlewares: ['headers@docker'],
      shadows: ['fallback@docker'],
    });
    expect(plan).toMatch(/^create /);
  });
});

describe('requests_diagnose: entryPoint', () => {
  it('an entrypoint Traefik does not have is refused, naming the ones it has', async () => {
    const text = await fails(session.client, 'requests_diagnose', {
      url: 'http://broken.example.com/',
      entryPoint: 'webb',
    });
    expect(text).toMatch(/entryPoint "webb" does not exist; Traefik has web, websecure/);
  });
});

describe('ruleSyntax v2 routers (pkg/muxer/http/matcher_v2.go)', () => {
  it('v2-only matchers (Headers, HostHeader, several hosts) are accepted: the router is enabled', async () => {
    const r = await ok(session.client, 'routers_get', { name: 'legacy@docker' });
    expect(r.status).toBe('enabled');
    expect(r.errors).toBeUndefined();
    const d = await ok(session.client, 'requests_diagnose', {
      url: 'http://old.example.com/',
      headers: { 'X-Tenant': 'blue' },
    });
    expect(d).toMatchObject({ router: 'legacy@docker', skipped: [] });
    expect(d.cause).toMatch(/^forwarded to web@docker/);
  });

  it('core.defaultRuleSyntax v2 shows as ruleSyntax on routers that set none; v3 names are then refused', async () => {
    const sim = await new TraefikSimulator({ defaultRuleSyntax: 'v2' }).start();
    try {
      sim.setProvider('docker', {
        http: {
          routers: {
            old: { rule: 'Headers(`X-A`, `1`)', service: 'web' },
            modern: { rule: 'Header(`X-A`, `1`)', service: 'web' },
            pinned: { rule: 'Header(`X-A`, `1`)', ruleSyntax: 'v3', service: 'web' },
            // gorilla mux refuses these when Traefik builds them (containous/mux route.go Queries, regexp.go)
            oddQuery: { rule: 'Query(`a`)', service: 'web' },
            badTemplate: { rule: 'PathPrefix(`/v{:[0-9]+}`)', service: 'web' },
            badRegexp: { rule: 'HeadersRegexp(`X-A`, `(x`)', service: 'web' },
          },
          services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
        },
      });
      const get = async (name: string) =>
        (await fetch(`${sim.url}/api/http/routers/${name}`)).json() as Promise<Structured>;
      expect(await get('old@docker')).toMatchObject({ ruleSyntax: 'v2', status: 'enabled' });
      expect(await get('modern@docker')).toMatchObject({
        status: 'disabled',
        error: ['error while parsing rule Header(`X-A`, `1`): unsupported function: Header'],
      });
      expect(await get('pinned@docker')).toMatchObject({ ruleSyntax: 'v3', status: 'enabled' });
      expect(await get('oddQuery@docker')).toMatchObject({
        status: 'disabled',
        error: [
          'error while parsing rule Query(`a`): adding rule Query(`a`): error while adding rule Query: mux: number of parameters must be multiple of 2, got [a]',
        ],
      });
      expect(((await get('badTemplate@docker')).error as string[])[0]).toMatch(
        /error while adding rule PathPrefix: mux: missing name or pattern in "\{:\[0-9\]\+\}"$/,
      );
      expect(((await get('badRegexp@docker')).error as string[])[0]).toMatch(
        /error while adding rule HeadersRegexp: error parsing regexp: missing closing \): `\(x`$/,
      );
    } finally {
      await sim.close();
    }
  });
});
