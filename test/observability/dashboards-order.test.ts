/**
 * dashboards_search under Grafana's real search order (see test/simulators/grafana.ts: SQL cuts pages by title
 * bytes, Go re-sorts each page by lower-case title with an unstable sort). The cursor (last dashboard shown +
 * digest of the set shown) must not depend on that order: every dashboard once, in one order, no false `cut`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrafanaSimulator } from '../simulators/grafana.js';
import { call, makeServices, type Result } from './harness.js';

const TOKEN = 'glsa_order_token';
let grafana: GrafanaSimulator;

beforeAll(async () => {
  grafana = await new GrafanaSimulator(TOKEN).start();
});

afterAll(async () => {
  await grafana?.close();
});

const uids = (r: Result): string[] => r.dashboards.map((d: { uid: string }) => d.uid);

async function pageAll(
  services: ReturnType<typeof makeServices>,
  limit: number,
): Promise<{ seen: string[]; cuts: number }> {
  const seen: string[] = [];
  let cuts = 0;
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await call('dashboards_search', { limit, ...(cursor ? { cursor } : {}) }, services);
    seen.push(...uids(page));
    if (page.cut) cuts++;
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return { seen, cuts };
}

describe('the Grafana simulator orders search hits as Grafana does', () => {
  it('default: SQL byte order cuts the page, then lower-case title within it; alpha-asc/desc: SQL order only', async () => {
    const sim = await new GrafanaSimulator(TOKEN).start();
    try {
      for (const [uid, title] of [
        ['z', 'Zeta'],
        ['a', 'alpha'],
        ['b', 'Beta'],
        ['c', 'charlie'],
      ]) {
        sim.add({ uid: uid as string, title: title as string, tags: ['b', 'A', 'a'] });
      }
      const search = async (q: string) => {
        const res = await fetch(`${sim.url}/api/search?${q}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        return (await res.json()) as { uid: string; tags: string[] }[];
      };
      expect((await search('')).map((h) => h.uid)).toEqual(['a', 'b', 'c', 'z']);
      // page 1 of 2 is [Beta, Zeta] by bytes; page 2 is [alpha, charlie]
      expect((await search('limit=2&page=1')).map((h) => h.uid)).toEqual(['b', 'z']);
      expect((await search('limit=2&page=2')).map((h) => h.uid)).toEqual(['a', 'c']);
      expect((await search('sort=alpha-asc')).map((h) => h.uid)).toEqual(['b', 'z', 'a', 'c']);
      expect((await search('sort=alpha-desc')).map((h) => h.uid)).toEqual(['c', 'a', 'z', 'b']);
      // tags sorted only by the default re-sort
      expect((await search(''))[0]?.tags).toEqual(['A', 'a', 'b']);
      expect((await search('sort=alpha-asc'))[0]?.tags).toEqual(['b', 'A', 'a']);
    } finally {
      await sim.close();
    }
  });
});

describe('dashboards_search does not depend on Grafana order', () => {
  it('equal lower-case titles that Grafana permutes on each call: every dashboard once, no cut', async () => {
    const spellings = ['CPU', 'cpu', 'Cpu', 'cPU'];
    for (let i = 0; i < 24; i++) grafana.add({ uid: `tie-${i}`, title: spellings[i % 4] as string });
    grafana.unstableTies = true;
    const services = makeServices({ grafana: { url: grafana.url, auth: { token: TOKEN } } });
    for (let round = 0; round < 5; round++) {
      const { seen, cuts } = await pageAll(services, 5);
      expect(seen.length).toBe(24);
      expect(new Set(seen).size).toBe(24);
      expect(cuts).toBe(0);
    }
    for (let i = 0; i < 24; i++) grafana.dashboards.delete(`tie-${i}`);
    grafana.unstableTies = false;
  });

  it("past Grafana's 5000-hit page (orders restart per page): one order by title, every dashboard once", async () => {
    const sim = await new GrafanaSimulator(TOKEN).start();
    try {
      for (let i = 0; i < 5_000; i++) sim.add({ uid: `up-${i}`, title: `Metrics ${String(i).padStart(4, '0')}` });
      // lower-case titles sort after every upper-case one by bytes: all on Grafana's page 2
      for (let i = 0; i < 3; i++) sim.add({ uid: `low-${i}`, title: `alerts ${i}` });
      const services = makeServices({ grafana: { url: sim.url, auth: { token: TOKEN } } });
      const first = await call('dashboards_search', { limit: 4 }, services);
      expect(uids(first)).toEqual(['low-0', 'low-1', 'low-2', 'up-0']);
      const next = await call('dashboards_search', { limit: 2, cursor: first.nextCursor }, services);
      expect(uids(next)).toEqual(['up-1', 'up-2']);
      expect(next.cut).toBeUndefined();
    } finally {
      await sim.close();
    }
  });
});
