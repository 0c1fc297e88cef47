/**
 * Traefik rebuilds the lists its API pages over on every configuration reload, so a reload between two
 * pages of one read can shrink a list under the next page: Traefik then answers 400 "invalid request:
 * page: 2, per_page: 100". Seen in a CI run (routes_apply's precedence check reading every router while a
 * 2,400-router file was being removed): the caller was told its own request was invalid. Through the real
 * bin over stdio and the simulator, which reloads exactly between two pages here.
 */
import { describe, expect, it } from 'vitest';
import { fails, ok, useTraefikSession } from './harness.js';

const session = useTraefikSession();

const routers = (n: number, prefix: string) =>
  Object.fromEntries(
    Array.from({ length: n }, (_, i) => [
      `${prefix}${i}`,
      { rule: `Host(\`${prefix}${i}.example.com\`)`, service: 's' },
    ]),
  );
const BULK = { http: { routers: routers(150, 'bulk'), services: { s: { loadBalancer: { servers: [] } } } } };
const SURVIVORS = { http: { routers: routers(5, 'keep'), services: { s: { loadBalancer: { servers: [] } } } } };

const pageOf = (url: URL) => (url.pathname === '/api/http/routers' ? Number(url.searchParams.get('page') ?? 1) : 0);
const routerPages = () =>
  session.fx.sim.requests.filter((r) => r.url.startsWith('/api/http/routers?')).map((r) => new URL(r.url, 'http://x'));

describe('a list that a reload shrinks between two pages', () => {
  it('is read again from the first page: the answer is the list as it is now', async () => {
    session.fx.sim.setProvider('kubernetescrd', SURVIVORS);
    session.fx.sim.setProvider('docker', BULK);
    let reloaded = false;
    session.fx.sim.beforeAnswer = (url) => {
      if (pageOf(url) === 2 && !reloaded) {
        reloaded = true;
        session.fx.sim.setProvider('docker', { http: {} }); // the 150 routers go between page 1 and page 2
      }
    };
    const before = routerPages().length;
    try {
      // before the fix: ERR_INVALID_INPUT: Traefik rejected the request: invalid request: page: 2, per_page: 100
      const r = await ok(session.client, 'routers_list', {});
      expect(reloaded).toBe(true);
      expect(r.total).toBe(5);
      expect(r.routers.map((x: { name: string }) => x.name).sort()).toEqual(
        ['keep0', 'keep1', 'keep2', 'keep3', 'keep4'].map((n) => `${n}@kubernetescrd`),
      );
      expect(
        routerPages()
          .slice(before)
          .map((u) => u.searchParams.get('page')),
      ).toEqual(['1', '2', '1']);
    } finally {
      session.fx.sim.beforeAnswer = undefined;
    }
  });

  it('a list that keeps changing under its pages is a clear "retry" after three reads, not the caller\'s error', async () => {
    session.fx.sim.setProvider('docker', BULK);
    session.fx.sim.beforeAnswer = (url) => {
      const page = pageOf(url);
      if (page === 1) session.fx.sim.setProvider('docker', BULK);
      if (page === 2) session.fx.sim.setProvider('docker', { http: {} });
    };
    const before = routerPages().length;
    try {
      const text = await fails(session.client, 'routers_list', {});
      expect(text).toBe(
        "ERR_BACKEND_UNAVAILABLE: Traefik's api/http/routers changed while it was read page by page, 3 times in a row (its configuration is reloading); retry in a few seconds",
      );
      expect(
        routerPages()
          .slice(before)
          .map((u) => u.searchParams.get('page')),
      ).toEqual(['1', '2', '1', '2', '1', '2']);
    } finally {
      session.fx.sim.beforeAnswer = undefined;
      session.fx.sim.setProvider('docker', { http: {} });
    }
  });
});
