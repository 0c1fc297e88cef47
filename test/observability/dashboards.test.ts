import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrafanaSimulator } from '../simulators/grafana.js';
import { call, callError, makeServices } from './harness.js';

const TOKEN = 'glsa_test_token_do_not_print';
const grafana = new GrafanaSimulator(TOKEN);
let services: ReturnType<typeof makeServices>;

beforeAll(async () => {
  await grafana.start();
  services = makeServices({ grafana: { url: grafana.url, auth: { token: TOKEN } } });
  grafana.add({
    uid: 'checkout-overview',
    title: 'Checkout Overview',
    tags: ['checkout', 'prod'],
    folderUid: 'f-shop',
    folderTitle: 'Shop',
    panels: [
      {
        id: 1,
        type: 'timeseries',
        title: 'Request rate',
        datasource: { type: 'prometheus', uid: 'prom1' },
        targets: [{ refId: 'A', expr: 'sum(rate(http_requests_total{service="checkout"}[5m]))' }],
      },
      { id: 2, type: 'row', title: 'Errors', collapsed: false, panels: [] },
      {
        id: 3,
        type: 'logs',
        title: 'Error logs',
        datasource: { type: 'loki', uid: 'loki1' },
        targets: [{ refId: 'A', expr: '{service_name="checkout"} |= "error"' }],
      },
      {
        id: 4,
        type: 'row',
        title: 'Internals',
        collapsed: true,
        panels: [
          {
            id: 5,
            type: 'stat',
            title: 'Queue depth',
            targets: [{ refId: 'B', datasource: { type: 'prometheus', uid: 'prom2' }, expr: 'max(queue_depth)' }],
          },
        ],
      },
    ],
  });
  grafana.add({
    uid: 'legacy-db',
    title: 'Legacy Database',
    tags: ['db'],
    rows: [
      {
        title: 'Connections',
        panels: [
          {
            id: 1,
            type: 'graph',
            title: 'Open',
            datasource: 'Prometheus',
            targets: [{ refId: 'A', expr: 'pg_conns' }],
          },
        ],
      },
    ],
  });
  for (let i = 0; i < 25; i++)
    grafana.add({ uid: `gen-${i}`, title: `Generated ${String(i).padStart(2, '0')}`, tags: ['gen'] });
});

afterAll(async () => {
  await grafana.close();
});

describe('dashboards_search', () => {
  it('finds dashboards by text and tag, with folders', async () => {
    const res = await call('dashboards_search', { query: 'checkout' }, services);
    expect(res).toMatchObject({ total: 1, truncated: false });
    expect(res.dashboards[0]).toEqual({
      uid: 'checkout-overview',
      title: 'Checkout Overview',
      folder: 'Shop',
      tags: ['checkout', 'prod'],
      url: '/d/checkout-overview',
    });
    const tagged = await call('dashboards_search', { tags: ['db'] }, services);
    expect(tagged.dashboards.map((d: { uid: string }) => d.uid)).toEqual(['legacy-db']);
    expect(tagged.dashboards[0].folder).toBe('General');
    const req = grafana.control.requests.at(-1);
    expect(req?.url.searchParams.get('type')).toBe('dash-db');
    expect(req?.url.searchParams.getAll('tag')).toEqual(['db']);
  });

  it('pages with totals', async () => {
    const first = await call('dashboards_search', { tags: ['gen'], limit: 10 }, services);
    expect(first).toMatchObject({ total: 25, returned: 10, truncated: true });
    const second = await call('dashboards_search', { tags: ['gen'], limit: 10, cursor: first.nextCursor }, services);
    expect(second.dashboards[0].title).toBe('Generated 10');
  });
});

describe('dashboards_get', () => {
  it('summarizes panels with rows flattened, datasources and queries', async () => {
    const res = await call('dashboards_get', { uid: 'checkout-overview' }, services);
    expect(res).toMatchObject({
      uid: 'checkout-overview',
      title: 'Checkout Overview',
      folder: 'Shop',
      folderUid: 'f-shop',
      tags: ['checkout', 'prod'],
      url: '/d/checkout-overview/checkout-overview',
      version: 3,
      rows: ['Errors', 'Internals'],
      total: 3,
      returned: 3,
      truncated: false,
    });
    expect(res.panels).toEqual([
      {
        id: 1,
        title: 'Request rate',
        type: 'timeseries',
        row: null,
        datasource: 'prometheus:prom1',
        queries: [{ refId: 'A', datasource: null, query: 'sum(rate(http_requests_total{service="checkout"}[5m]))' }],
      },
      {
        id: 3,
        title: 'Error logs',
        type: 'logs',
        row: 'Errors',
        datasource: 'loki:loki1',
        queries: [{ refId: 'A', datasource: null, query: '{service_name="checkout"} |= "error"' }],
      },
      {
        id: 5,
        title: 'Queue depth',
        type: 'stat',
        row: 'Internals',
        datasource: null,
        queries: [{ refId: 'B', datasource: 'prometheus:prom2', query: 'max(queue_depth)' }],
      },
    ]);
    expect(JSON.stringify(res)).not.toContain('gridPos');
  });

  it('reads legacy rows and bounds the panel list', async () => {
    const legacy = await call('dashboards_get', { uid: 'legacy-db' }, services);
    expect(legacy.panels[0]).toMatchObject({ title: 'Open', row: 'Connections', datasource: 'Prometheus' });
    const bounded = await call('dashboards_get', { uid: 'checkout-overview', maxPanels: 1 }, services);
    expect(bounded).toMatchObject({ total: 3, returned: 1, truncated: true });
  });

  it("says ERR_NOT_FOUND with Grafana's message for an unknown uid", async () => {
    const err = await callError('dashboards_get', { uid: 'nope' }, services);
    expect(err.code).toBe('ERR_NOT_FOUND');
    expect(err.message).toBe('Grafana: dashboard nope not found (Dashboard not found)');
  });

  it('times out on a slow Grafana and reports a failing one', async () => {
    const slow = makeServices({ grafana: { url: grafana.url, timeoutMs: 200, auth: { token: TOKEN } } });
    grafana.control.delayMs = 3000;
    try {
      const t0 = Date.now();
      const err = await callError('dashboards_get', { uid: 'checkout-overview' }, slow);
      expect(err.code).toBe('ERR_BACKEND_TIMEOUT');
      expect(err.message).toMatch(/^Grafana did not answer within 200 ms/);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      grafana.control.delayMs = 0;
    }
    grafana.control.fail = { status: 500, json: { message: 'database is locked' } };
    try {
      const err = await callError('dashboards_search', { query: 'checkout' }, services);
      expect(err.code).toBe('ERR_BACKEND_ERROR');
      expect(err.message).toBe('Grafana failed on the dashboard search (HTTP 500: database is locked)');
    } finally {
      grafana.control.fail = undefined;
    }
  });

  it('reports a rejected token without showing it', async () => {
    const wrong = makeServices({ grafana: { url: grafana.url, auth: { token: 'wrong-secret-token' } } });
    const err = await callError('dashboards_search', {}, wrong);
    expect(err.code).toBe('ERR_BACKEND_ERROR');
    expect(err.message).toMatch(/Grafana rejected our credentials \(HTTP 401\)/);
    expect(err.message).not.toContain('wrong-secret-token');
    expect(grafana.control.requests.at(-1)?.headers.authorization).toBe('Bearer wrong-secret-token');
  });
});
