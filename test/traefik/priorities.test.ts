/**
 * Router priorities as Traefik's API gives them, through the real bin over stdio (SDK Client) against the
 * simulator. Traefik's priority is a Go int (64 bits); its internal routers use math.MaxInt, MaxInt-1 and
 * MaxInt-2 (pkg/provider/traefik/internal.go apiConfiguration, pingConfiguration), numbers a double cannot
 * tell apart, so the API also writes each as `priorityStr` (pkg/api/handler_http.go, strconv.FormatInt).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, type Fixture, ok, type Structured, startFixture } from './harness.js';

const MAX_INT = 9223372036854775807n;

let fx: Fixture;
let client: Client;

beforeAll(async () => {
  fx = await startFixture({
    entryPoints: [
      { name: 'web', address: ':80' },
      { name: 'traefik', address: ':8080' },
    ],
  });
  // api.insecure + api.dashboard + ping, as internal.go writes them (entrypoint "traefik", ruleSyntax "default")
  fx.sim.setProvider('internal', {
    http: {
      routers: {
        api: {
          entryPoints: ['traefik'],
          service: 'api@internal',
          priority: MAX_INT - 1n,
          rule: 'PathPrefix(`/api`)',
          ruleSyntax: 'default',
        },
        dashboard: {
          entryPoints: ['traefik'],
          service: 'dashboard@internal',
          priority: MAX_INT - 2n,
          rule: 'PathPrefix(`/`)',
          ruleSyntax: 'default',
          middlewares: ['dashboard_redirect@internal', 'dashboard_stripprefix@internal'],
        },
        ping: {
          entryPoints: ['traefik'],
          service: 'ping@internal',
          priority: MAX_INT,
          rule: 'PathPrefix(`/ping`)',
          ruleSyntax: 'default',
        },
      },
      services: { api: {}, dashboard: {}, ping: {} },
      middlewares: {
        dashboard_redirect: {
          redirectRegex: {
            regex: '^(http:\\/\\/(\\[[\\w:.]+\\]|[\\w\\._-]+)(:\\d+)?)\\/$',
            // biome-ignore lint/suspicious/noTemplateCurlyInString: Go's regexp replacement syntax
            replacement: '${1}/dashboard/',
            permanent: true,
          },
        },
        dashboard_stripprefix: { stripPrefix: { prefixes: ['/dashboard/', '/dashboard'] } },
      },
    },
  });
  // The largest priority a double holds exactly (2^53-1): still a JSON number in the answers.
  fx.sim.setProvider('docker', {
    http: {
      routers: {
        big: { entryPoints: ['web'], service: 'big', priority: 2 ** 53 - 1, rule: 'Host(`big.example.com`)' },
      },
      services: { big: { loadBalancer: { servers: [{ url: 'http://10.0.0.9:80' }] } } },
    },
  });
  client = await connectStdio(fx.env);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await fx?.close();
});

describe('priorities near Go math.MaxInt (internal routers)', () => {
  it('the API writes them exactly (priority and priorityStr)', async () => {
    const res = await fetch(`${fx.sim.url}/api/http/routers/ping@internal`);
    expect(await res.text()).toMatch(/"priority":9223372036854775807,.*"priorityStr":"9223372036854775807"/);
  });

  it('routers_get and routers_list give them exactly: a decimal string beyond 2^53, a number below', async () => {
    const ping = await ok(client, 'routers_get', { name: 'ping@internal' });
    expect(ping.priority).toBe('9223372036854775807');
    const { routers } = await ok(client, 'routers_list', { provider: 'internal' });
    expect(Object.fromEntries(routers.map((r: Structured) => [r.name, r.priority]))).toEqual({
      'api@internal': '9223372036854775806',
      'dashboard@internal': '9223372036854775805',
      'ping@internal': '9223372036854775807',
    });
    const web = await ok(client, 'routers_get', { name: 'big@docker' });
    expect(web.priority).toBe(2 ** 53 - 1);
  });

  it('ping@internal (MaxInt) takes /ping over dashboard@internal (MaxInt-2): no tie', async () => {
    const d = await ok(client, 'requests_diagnose', { url: 'http://localhost:8080/ping' });
    expect(d.router).toBe('ping@internal');
    expect(d.priority).toBe('9223372036854775807');
    expect(d.ties).toEqual([]);
    expect(d.cause).not.toMatch(/same priority/);
  });

  it('api@internal (MaxInt-1) takes /api/rawdata over dashboard@internal (MaxInt-2)', async () => {
    const d = await ok(client, 'requests_diagnose', { url: 'http://localhost:8080/api/rawdata' });
    expect(d.router).toBe('api@internal');
    expect(d.ties).toEqual([]);
  });
});

describe('redirect status codes (pkg/middlewares/redirect/redirect.go moveHandler)', () => {
  it('a permanent redirect is 301 for GET and 308 otherwise (the dashboard redirect of internal.go)', async () => {
    const get = await ok(client, 'requests_diagnose', { url: 'http://localhost:8080/' });
    expect(get).toMatchObject({ router: 'dashboard@internal', status: 301 });
    expect(get.cause).toMatch(/^301: middleware dashboard_redirect@internal \(redirectregex\): 301 Moved Permanently/);
    const post = await ok(client, 'requests_diagnose', { url: 'http://localhost:8080/', method: 'POST' });
    expect(post.status).toBe(308);
  });
});
