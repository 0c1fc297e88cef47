// The simulator against facts read from Traefik's pkg/api handlers and testdata (see the file's header),
// over raw HTTP, so a drift in the simulator shows up here and not as a passing client test.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TraefikSimulator } from '../simulators/traefik.js';

let sim: TraefikSimulator;
let dir: string;
const get = (path: string) => fetch(`${sim.url}${path}`);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rh-traefik-sim-'));
  sim = await new TraefikSimulator({ directory: dir, watchIntervalMs: 20 }).start();
  const routers: Record<string, Record<string, unknown>> = {};
  for (let i = 0; i < 5; i++) routers[`r${i}`] = { rule: `Host(\`r${i}.test\`)`, service: 'svc' };
  routers.orphan = { rule: 'Host(`o.test`)', service: 'svc', entryPoints: ['nope'] };
  sim.setProvider('myprovider', {
    http: {
      routers,
      services: {
        svc: { loadBalancer: { servers: [{ url: 'http://127.0.0.1' }] } },
        unused: { loadBalancer: { servers: [{ url: 'http://127.0.0.2' }] } },
      },
    },
  });
});

afterAll(async () => {
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Traefik API simulator fidelity', () => {
  it('pages with per_page/page and X-Next-Page (1 on the last page); past the end is a 400 sent as text/plain', async () => {
    const first = await get('/api/http/routers?per_page=4&page=1');
    expect(first.headers.get('x-next-page')).toBe('2');
    expect(((await first.json()) as unknown[]).length).toBe(4);
    const last = await get('/api/http/routers?per_page=4&page=2');
    expect(last.headers.get('x-next-page')).toBe('1');
    const past = await get('/api/http/routers?per_page=4&page=3');
    expect(past.status).toBe(400);
    expect(past.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await past.text()).toBe('{"message":"invalid request: page: 3, per_page: 4"}\n');
    expect((await get('/api/http/routers?per_page=0')).status).toBe(400);
  });

  it('router representation: name, provider, priorityStr, using, errors; priority omitted when never built', async () => {
    const r1 = (await (await get('/api/http/routers/r1@myprovider')).json()) as Record<string, unknown>;
    expect(r1).toMatchObject({
      name: 'r1@myprovider',
      provider: 'myprovider',
      status: 'enabled',
      using: ['web', 'websecure'],
      priority: 'Host(`r1.test`)'.length,
      priorityStr: String('Host(`r1.test`)'.length),
    });
    expect(r1).not.toHaveProperty('error');
    const orphan = (await (await get('/api/http/routers/orphan@myprovider')).json()) as Record<string, unknown>;
    expect(orphan).toMatchObject({
      status: 'disabled',
      error: ['entryPoint "nope" doesn\'t exist', 'no valid entryPoint for this router'],
      priorityStr: '0',
    });
    expect(orphan).not.toHaveProperty('priority');
    expect(orphan).not.toHaveProperty('using');
  });

  it("default priority is Go's len(rule), in bytes; a negative priority is kept (rules-and-priority.md)", async () => {
    sim.setProvider('prio', {
      http: {
        routers: {
          cafe: { rule: 'PathPrefix(`/café`)', service: 'svc' },
          fallback: { rule: 'PathPrefix(`/`)', priority: -1, service: 'svc' },
        },
        services: { svc: { loadBalancer: { servers: [{ url: 'http://127.0.0.1' }] } } },
      },
    });
    try {
      const cafe = (await (await get('/api/http/routers/cafe@prio')).json()) as Record<string, unknown>;
      expect(cafe).toMatchObject({ priority: 20, priorityStr: '20' });
      const fallback = (await (await get('/api/http/routers/fallback@prio')).json()) as Record<string, unknown>;
      expect(fallback).toMatchObject({ priority: -1, priorityStr: '-1' });
    } finally {
      sim.providers.delete('prio');
      sim.rebuild();
    }
  });

  it('404s carry Traefik messages; unknown paths and methods answer like gorilla/mux', async () => {
    const missing = await get('/api/http/routers/nope@file');
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('{"message":"router not found: nope@file"}\n');
    expect((await get('/api/http/services/x@file')).status).toBe(404);
    expect(await (await get('/api/nothing')).text()).toBe('404 page not found\n');
    expect((await fetch(`${sim.url}/api/overview`, { method: 'POST' })).status).toBe(405);
  });

  it('search (rule or name, case-insensitive) and status filters; there is no provider filter', async () => {
    const search = (await (await get('/api/http/routers?search=R3.TEST')).json()) as { name: string }[];
    expect(search.map((r) => r.name)).toEqual(['r3@myprovider']);
    const disabled = (await (await get('/api/http/routers?status=disabled')).json()) as { name: string }[];
    expect(disabled.map((r) => r.name)).toEqual(['orphan@myprovider']);
    const all = (await (await get('/api/http/routers?provider=nothing')).json()) as unknown[];
    expect(all).toHaveLength(6);
  });

  it('services: serverStatus only once built (used by a router); usedBy sorted; type lower-case', async () => {
    const services = (await (await get('/api/http/services')).json()) as Record<string, unknown>[];
    const svc = services.find((s) => s.name === 'svc@myprovider');
    expect(svc).toMatchObject({ type: 'loadbalancer', serverStatus: { 'http://127.0.0.1': 'UP' } });
    // orphan never reached the service: it has no valid entrypoint.
    expect(svc?.usedBy).toEqual(['r0@myprovider', 'r1@myprovider', 'r2@myprovider', 'r3@myprovider', 'r4@myprovider']);
    const unused = services.find((s) => s.name === 'unused@myprovider');
    expect(unused).not.toHaveProperty('serverStatus');
    expect(unused).not.toHaveProperty('usedBy');
  });

  it('file provider: loads <name>@file, qualifies references, keeps the last good config when a file breaks', async () => {
    writeFileSync(
      join(dir, 'a.yaml'),
      'http:\n  routers:\n    a:\n      rule: Host(`a.test`)\n      service: a\n  services:\n    a:\n      loadBalancer:\n        servers:\n          - url: http://10.0.0.1\n',
    );
    await waitFor(async () => (await get('/api/http/routers/a@file')).status === 200);
    writeFileSync(
      join(dir, 'b.yml'),
      'http:\n  routers:\n    b:\n      rule: Host(`b.test`)\n      service: missing\n',
    );
    await waitFor(async () => (await get('/api/http/routers/b@file')).status === 200);
    const b = (await (await get('/api/http/routers/b@file')).json()) as Record<string, unknown>;
    expect(b).toMatchObject({ status: 'disabled', error: ['the service "missing@file" does not exist'] });
    writeFileSync(join(dir, 'c.yaml'), 'http: [broken\n');
    await waitFor(async () => sim.fileError !== undefined);
    writeFileSync(join(dir, 'a.yaml'), 'http: {}\n');
    await new Promise((r) => setTimeout(r, 150));
    expect((await get('/api/http/routers/a@file')).status).toBe(200); // still the last good configuration
    const overview = (await (await get('/api/overview')).json()) as { providers: string[] };
    expect(overview.providers).toEqual(['myprovider', 'File']);
  });
});

async function waitFor(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
}
