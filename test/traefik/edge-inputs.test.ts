// Valid but unusual inputs, through the bin and the simulator: negative priorities, non-ASCII paths, a Host
// header named in a rule, entrypoint addresses with a protocol, router names with spaces and slashes.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, type Fixture, fails, ok, startFixture } from './harness.js';

let fx: Fixture;
let client: Client;

beforeAll(async () => {
  // Addresses as the docs allow them: `[host]:port[/tcp|/udp]`.
  fx = await startFixture({
    entryPoints: [
      { name: 'web', address: ':80/tcp' },
      { name: 'websecure', address: ':443/TCP' },
      { name: 'admin', address: ':8080/tcp' },
    ],
  });
  fx.sim.setProvider('docker', {
    http: {
      routers: {
        // A catch-all kept below everything by a negative priority, though its rule is the longest.
        fallback: {
          rule: 'HostRegexp(`^.+$`) || PathPrefix(`/`)',
          priority: -10,
          service: 'web',
          entryPoints: ['web'],
        },
        shop: { rule: 'Host(`shop.example.com`)', service: 'web', entryPoints: ['web'] },
        cafe: { rule: 'Host(`cafe.example.com`) && PathPrefix(`/café`)', service: 'web', entryPoints: ['web'] },
        vhost: { rule: 'Header(`Host`, `vhost.example.com`)', priority: 100, service: 'web', entryPoints: ['web'] },
        internal: {
          rule: 'Host(`shop.example.com`) && PathPrefix(`/internal`)',
          service: 'web',
          entryPoints: ['admin'],
        },
        'GET /dump/request': { rule: 'Host(`dump.example.com`)', service: 'web', entryPoints: ['web'] },
        old: { rule: 'Host(`old.example.com`)', middlewares: ['home-only'], service: 'web', entryPoints: ['web'] },
      },
      services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
      middlewares: {
        'home-only': { redirectRegex: { regex: '^http://old\\.example\\.com/$', replacement: 'https://example.com/' } },
      },
    },
  });
  client = await connectStdio(fx.env);
}, 30_000);

afterAll(async () => {
  await client?.close();
  await fx?.close();
});

describe('requests_diagnose with unusual but valid configurations', () => {
  it('a negative priority ranks below every default priority (docs: "Negative priority values are supported")', async () => {
    const d = await ok(client, 'requests_diagnose', { url: 'http://shop.example.com/' });
    expect(d).toMatchObject({ router: 'shop@docker', priority: 'Host(`shop.example.com`)'.length });
    const other = await ok(client, 'requests_diagnose', { url: 'http://other.example.com/' });
    expect(other).toMatchObject({ router: 'fallback@docker', priority: -10 });
  });

  it('a non-ASCII path is routed on its decoded UTF-8 form, and the priority counts bytes', async () => {
    const d = await ok(client, 'requests_diagnose', { url: 'http://cafe.example.com/café/menu' });
    expect(d).toMatchObject({
      router: 'cafe@docker',
      priority: Buffer.byteLength('Host(`cafe.example.com`) && PathPrefix(`/café`)'),
    });
  });

  it('Header(`Host`) never matches: Go moves the Host header out of the header map', async () => {
    const d = await ok(client, 'requests_diagnose', {
      url: 'http://vhost.example.com/',
      headers: { Host: 'vhost.example.com' },
    });
    expect(d.router).toBe('fallback@docker');
  });

  it('the URL port picks entrypoints whose address names a protocol (":80/tcp")', async () => {
    const d = await ok(client, 'requests_diagnose', { url: 'http://shop.example.com/internal/x' });
    expect(d.router).toBe('shop@docker');
    const admin = await ok(client, 'requests_diagnose', { url: 'http://shop.example.com:8080/internal/x' });
    expect(admin.router).toBe('internal@docker');
    const https = await ok(client, 'requests_diagnose', { url: 'https://shop.example.com/' });
    expect(https.cause).toMatch(/no TLS router on websecure matches/);
  });

  it('redirectRegex matches the URL as received, its query included (Traefik rawURL)', async () => {
    const home = await ok(client, 'requests_diagnose', { url: 'http://old.example.com/' });
    expect(home).toMatchObject({ router: 'old@docker', status: 302 });
    // not permanent: 302 for GET, 307 for other methods (pkg/middlewares/redirect/redirect.go moveHandler)
    const put = await ok(client, 'requests_diagnose', { url: 'http://old.example.com/', method: 'PUT' });
    expect(put).toMatchObject({ router: 'old@docker', status: 307 });
    const tagged = await ok(client, 'requests_diagnose', { url: 'http://old.example.com/?utm=mail' });
    expect(tagged).toMatchObject({ router: 'old@docker', middlewares: [expect.stringMatching(/: pass: /)] });
    expect(tagged.status).toBeUndefined();
  });
});

describe('router names Traefik allows', () => {
  it('routers_get reads a router whose name holds spaces and slashes', async () => {
    const r = await ok(client, 'routers_get', { name: 'GET /dump/request@docker' });
    expect(r).toMatchObject({ name: 'GET /dump/request@docker', rule: 'Host(`dump.example.com`)' });
    expect(await fails(client, 'routers_get', { name: 'GET /dump/requests@docker' })).toMatch(
      /ERR_NOT_FOUND: Traefik has no http router GET \/dump\/requests@docker/,
    );
  });
});

describe('routes_apply precedence check', () => {
  it('counts a negative-priority router as outranked, not as ranked by its rule length', async () => {
    const text = await fails(client, 'routes_apply', {
      name: 'blog',
      rule: 'Host(`blog.example.com`)',
      servers: ['http://10.0.0.9'],
      entryPoints: ['web'],
    });
    expect(text).toMatch(/ERR_CONFLICT: the new router \(priority 24\) would take precedence over 1 router/);
    expect(text).toContain('fallback@docker (priority -10 < 24; blog.example.com)');
  });
});
