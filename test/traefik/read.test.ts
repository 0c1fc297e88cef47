import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectStdio, fails, ok, useTraefikSession } from './harness.js';

const session = useTraefikSession({
  seed: (fx) => {
    const routers: Record<string, Record<string, unknown>> = {};
    for (let i = 0; i < 130; i++)
      routers[`app${String(i).padStart(3, '0')}`] = { rule: `Host(\`app${i}.example.com\`)`, service: 'pool' };
    routers.broken = { rule: 'Host(`broken.example.com`)', service: 'missing', entryPoints: ['web', 'nope'] };
    routers.admin = { rule: 'Host(`admin.example.com`)', service: 'pool', middlewares: ['auth'], tls: {} };
    fx.sim.setProvider('docker', {
      http: {
        routers,
        services: {
          pool: { loadBalancer: { servers: [{ url: 'http://10.0.0.1:80' }, { url: 'http://10.0.0.2:80' }] } },
          idle: { loadBalancer: { servers: [{ url: 'http://10.0.0.9:80' }] } },
        },
        middlewares: { auth: { basicAuth: { users: ['admin:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/'] } } },
      },
      tcp: {
        routers: { db: { rule: 'HostSNI(`db.example.com`)', service: 'pg', tls: { passthrough: true } } },
        services: { pg: { loadBalancer: { servers: [{ address: '10.0.0.5:5432' }] } } },
      },
    });
    fx.sim.serverHealth.set('http://10.0.0.2:80', 'DOWN');
    writeFileSync(
      join(fx.dir, 'static.yml'),
      'http:\n  routers:\n    files:\n      rule: PathPrefix(`/files`)\n      service: pool@docker\n',
    );
  },
});

describe('read tools through the real bin', () => {
  it('overview counts errors and warnings', async () => {
    const o = await ok(session.client, 'overview_get');
    const section = (family: string, kind: string) =>
      o.sections.find((s: { family: string; kind: string }) => s.family === family && s.kind === kind);
    expect(section('http', 'routers')).toEqual({ family: 'http', kind: 'routers', total: 133, warnings: 0, errors: 1 });
    expect(section('tcp', 'routers').total).toBe(1);
    expect(o.sections).toHaveLength(8);
    expect(o.providers).toEqual(['Docker', 'File']);
    expect(o.problems).toBe(1);
  });

  it('entrypoints', async () => {
    const e = await ok(session.client, 'entrypoints_list');
    expect(e.entryPoints).toEqual([
      { name: 'web', address: ':80' },
      { name: 'websecure', address: ':443' },
    ]);
  });

  it('routers: follows X-Next-Page across Traefik pages, filters by provider locally, pages the answer', async () => {
    const first = await ok(session.client, 'routers_list', { provider: 'docker', limit: 100 });
    expect(first).toMatchObject({ total: 132, returned: 100, truncated: true });
    expect(first.routers).toHaveLength(100);
    // Traefik was asked page by page (100 per page, 133 routers: pages 1 and 2).
    const pages = session.fx.sim.requests.filter((r) => r.url.startsWith('/api/http/routers?')).map((r) => r.url);
    expect(pages.some((u) => u.includes('page=2'))).toBe(true);
    const second = await ok(session.client, 'routers_list', {
      provider: 'docker',
      limit: 100,
      cursor: first.nextCursor,
    });
    expect(second.routers).toHaveLength(32);
    expect(second).toMatchObject({ returned: 32, truncated: false });
    expect(second.nextCursor).toBeUndefined();
    expect(new Set([...first.routers, ...second.routers].map((r: { name: string }) => r.name)).size).toBe(132);
    const file = await ok(session.client, 'routers_list', { provider: 'file' });
    expect(file.routers.map((r: { name: string }) => r.name)).toEqual(['files@file']);
  });

  it("routers: Traefik's status and search filters, with errors shown", async () => {
    const disabled = await ok(session.client, 'routers_list', { status: 'disabled' });
    expect(disabled.routers).toEqual([
      expect.objectContaining({
        name: 'broken@docker',
        status: 'disabled',
        errors: ['entryPoint "nope" doesn\'t exist', 'the service "missing@docker" does not exist'],
      }),
    ]);
    expect(session.fx.sim.requests.at(-1)?.url).toContain('status=disabled');
    const search = await ok(session.client, 'routers_list', { search: 'ADMIN.example' });
    expect(search.routers.map((r: { name: string }) => r.name)).toEqual(['admin@docker']);
  });

  it('one router with priority, middlewares, service and TLS options', async () => {
    const r = await ok(session.client, 'routers_get', { name: 'admin@docker' });
    expect(r).toMatchObject({
      rule: 'Host(`admin.example.com`)',
      priority: 'Host(`admin.example.com`)'.length,
      middlewares: ['auth'],
      service: 'pool',
      tls: { options: 'default' },
      entryPoints: ['web', 'websecure'],
    });
    const tcp = await ok(session.client, 'routers_get', { protocol: 'tcp', name: 'db@docker' });
    expect(tcp.tls).toEqual({ passthrough: true, options: 'default' });
  });

  it('unknown routers and bad names are clear errors', async () => {
    expect(await fails(session.client, 'routers_get', { name: 'admin@file' })).toMatch(
      /ERR_NOT_FOUND: Traefik has no http router admin@file; similar: admin@docker/,
    );
    expect(await fails(session.client, 'routers_get', { name: 'admin' })).toMatch(/must be the full name/);
  });

  it('services with server health; unused services have no status', async () => {
    const s = await ok(session.client, 'services_list', { provider: 'docker' });
    const pool = s.services.find((x: { name: string }) => x.name === 'pool@docker');
    expect(pool).toMatchObject({
      type: 'loadbalancer',
      up: 1,
      servers: [
        { url: 'http://10.0.0.1:80', status: 'UP' },
        { url: 'http://10.0.0.2:80', status: 'DOWN' },
      ],
    });
    expect(pool.usedBy).toContain('admin@docker');
    const idle = s.services.find((x: { name: string }) => x.name === 'idle@docker');
    expect(idle.servers).toEqual([{ url: 'http://10.0.0.9:80', status: 'unknown' }]);
    const tcp = await ok(session.client, 'services_list', { protocol: 'tcp' });
    expect(tcp.services[0].servers).toEqual([{ url: '10.0.0.5:5432', status: 'UP' }]);
  });

  it('middlewares with their configuration, password hashes redacted', async () => {
    const res = await session.client.callTool({ name: 'middlewares_list', arguments: {} });
    expect(JSON.stringify(res)).not.toContain('$apr1$');
    const m = (res.structuredContent as { middlewares: unknown[] }).middlewares;
    expect(m).toEqual([
      expect.objectContaining({ name: 'auth@docker', type: 'basicauth', config: { users: ['admin:[redacted]'] } }),
    ]);
  });

  it('pages stay within the output budget and say so', async () => {
    const small = await connectStdio({ ...session.fx.env, RAVENHELM_MAX_OUTPUT_BYTES: '4096' });
    try {
      const page = await ok(small, 'routers_list', { limit: 100 });
      expect(page.returned).toBeLessThan(100);
      expect(page.returned).toBeGreaterThan(0);
      expect(page).toMatchObject({ total: 133, truncated: true, nextCursor: expect.any(String) });
      expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThanOrEqual(4096);
    } finally {
      await small.close();
    }
  });

  it('an unreachable API and a failing API are clear errors', async () => {
    session.fx.sim.fail = { status: 502, text: 'Bad Gateway' };
    try {
      expect(await fails(session.client, 'overview_get')).toMatch(
        /ERR_BACKEND_ERROR: the Traefik API answered HTTP 502: Bad Gateway/,
      );
    } finally {
      session.fx.sim.fail = undefined;
    }
    const wrongPath = await connectStdio({ ...session.fx.env, TRAEFIK_API_URL: `${session.fx.sim.url}/dashboard/` });
    try {
      expect(await fails(wrongPath, 'overview_get')).toMatch(
        /ERR_NOT_FOUND: Traefik says: 404 page not found \(GET \/api\/overview\); check the name, and that backend.api.url is Traefik's API/,
      );
    } finally {
      await wrongPath.close();
    }
    const dead = await connectStdio({
      ...session.fx.env,
      TRAEFIK_API_URL: 'http://127.0.0.1:9',
      TRAEFIK_API_TIMEOUT_MS: '2000',
    });
    try {
      expect(await fails(dead, 'routers_list')).toMatch(/ERR_BACKEND_UNAVAILABLE: Traefik API is unreachable/);
    } finally {
      await dead.close();
    }
  });
});
