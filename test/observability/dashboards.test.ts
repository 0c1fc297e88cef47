import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrafanaSimulator } from '../simulators/grafana.js';
import { listen } from './fixture.js';
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
  grafana.add({
    uid: 'library-and-expr',
    title: 'Library and expressions',
    variables: [
      {
        name: 'service',
        type: 'query',
        datasource: { type: 'prometheus', uid: 'prom1' },
        query: { query: 'label_values(up, job)', refId: 'PrometheusVariableQueryEditor-VariableQuery' },
        current: { text: 'checkout', value: 'checkout' },
      },
      {
        name: 'env',
        type: 'custom',
        query: 'prod,staging',
        current: { text: ['prod', 'staging'], value: ['prod', 'staging'] },
      },
    ],
    panels: [
      // library panels are stored as a reference only (their model lives in /api/library-elements)
      { id: 7, gridPos: { h: 8, w: 12, x: 0, y: 0 }, libraryPanel: { uid: 'lib-errors', name: 'Error rate' } },
      { id: 8, gridPos: { h: 8, w: 12, x: 12, y: 0 }, libraryPanel: { uid: 'lib-gone', name: 'Deleted panel' } },
      {
        id: 9,
        type: 'stat',
        title: 'Error percentage',
        datasource: { type: 'prometheus', uid: 'prom1' },
        targets: [
          { refId: 'A', expr: 'sum(rate(errors_total[5m]))' },
          { refId: 'B', datasource: { type: '__expr__', uid: '__expr__' }, type: 'math', expression: '$A * 100' },
          {
            refId: 'C',
            datasource: { type: '__expr__', uid: '__expr__' },
            type: 'reduce',
            reducer: 'mean',
            expression: 'B',
          },
        ],
      },
    ],
  });
  grafana.addLibraryElement({
    uid: 'lib-errors',
    name: 'Error rate',
    model: {
      type: 'timeseries',
      title: 'Error rate',
      datasource: { type: 'prometheus', uid: 'prom1' },
      targets: [{ refId: 'A', expr: 'sum(rate(http_requests_total{code=~"5.."}[5m]))' }],
    },
  });
  grafana.addFolder('f-v2', 'Platform');
  grafana.addV2(
    'v2-dash',
    {
      title: 'Dynamic dashboard',
      tags: ['v2'],
      elements: {
        'panel-1': {
          kind: 'Panel',
          spec: {
            id: 1,
            title: 'Latency',
            description: '',
            links: [],
            data: {
              kind: 'QueryGroup',
              spec: {
                queries: [
                  {
                    kind: 'PanelQuery',
                    spec: {
                      refId: 'A',
                      hidden: false,
                      query: {
                        kind: 'DataQuery',
                        group: 'prometheus',
                        version: 'v0',
                        datasource: { name: 'prom1' },
                        spec: { expr: 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket[5m])))' },
                      },
                    },
                  },
                ],
                transformations: [],
                queryOptions: {},
              },
            },
            vizConfig: {
              kind: 'VizConfig',
              group: 'timeseries',
              version: '12.1.0',
              spec: { options: {}, fieldConfig: { defaults: {}, overrides: [] } },
            },
          },
        },
        'panel-2': {
          kind: 'LibraryPanel',
          spec: { id: 2, title: 'Errors (shared)', libraryPanel: { uid: 'lib-errors', name: 'Error rate' } },
        },
      },
      layout: {
        kind: 'RowsLayout',
        spec: {
          rows: [
            {
              kind: 'RowsLayoutRow',
              spec: {
                title: 'Golden signals',
                layout: {
                  kind: 'GridLayout',
                  spec: {
                    items: [
                      {
                        kind: 'GridLayoutItem',
                        spec: {
                          x: 0,
                          y: 0,
                          width: 12,
                          height: 8,
                          element: { kind: 'ElementReference', name: 'panel-1' },
                        },
                      },
                      {
                        kind: 'GridLayoutItem',
                        spec: {
                          x: 12,
                          y: 0,
                          width: 12,
                          height: 8,
                          element: { kind: 'ElementReference', name: 'panel-2' },
                        },
                      },
                    ],
                  },
                },
              },
            },
          ],
        },
      },
      variables: [
        {
          kind: 'QueryVariable',
          spec: {
            name: 'cluster',
            current: { text: 'eu-1', value: 'eu-1' },
            hide: 'dontHide',
            refresh: 'onDashboardLoad',
            skipUrlSync: false,
            query: { kind: 'DataQuery', group: 'prometheus', version: 'v0', spec: { query: 'label_values(cluster)' } },
            regex: '',
            sort: 'disabled',
            options: [],
            multi: false,
            includeAll: false,
            allowCustomValue: true,
          },
        },
      ],
      timeSettings: {
        from: 'now-6h',
        to: 'now',
        autoRefresh: '',
        autoRefreshIntervals: [],
        hideTimepicker: false,
        fiscalYearStartMonth: 0,
      },
      cursorSync: 'Off',
      annotations: [],
      links: [],
      preload: false,
    },
    'f-v2',
  );
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
      url: '/d/checkout-overview/checkout-overview',
    });
    const tagged = await call('dashboards_search', { tags: ['db'] }, services);
    expect(tagged.dashboards.map((d: { uid: string }) => d.uid)).toEqual(['legacy-db']);
    expect(tagged.dashboards[0].folder).toBe('General');
    const req = grafana.control.requests.at(-1);
    expect(req?.url.searchParams.get('type')).toBe('dash-db');
    expect(req?.url.searchParams.getAll('tag')).toEqual(['db']);
  });

  it("reads past Grafana's 5000-hit page with `page`, and says where its own bound stopped it", async () => {
    const big = await new GrafanaSimulator(TOKEN).start();
    try {
      for (let i = 0; i < 12_001; i++) big.add({ uid: `d${i}`, title: `Dash ${String(i).padStart(5, '0')}` });
      const many = makeServices({ grafana: { url: big.url, auth: { token: TOKEN } } });
      const res = await call('dashboards_search', { limit: 5 }, many);
      expect(res).toMatchObject({ total: 12_001, returned: 5, truncated: true });
      expect(res.capped).toBeUndefined();
      const pages = big.control.requests.map((r) => [r.url.searchParams.get('limit'), r.url.searchParams.get('page')]);
      expect(pages).toEqual([
        ['5000', '1'],
        ['5000', '2'],
        ['5000', '3'],
      ]);
      // the last dashboard, beyond the first 5000, is reachable
      const last = await call('dashboards_search', { query: 'Dash 12000' }, many);
      expect(last.dashboards.map((d: { uid: string }) => d.uid)).toEqual(['d12000']);
      for (let i = 12_001; i < 20_001; i++) big.add({ uid: `d${i}`, title: `Dash ${String(i).padStart(5, '0')}` });
      const capped = await call('dashboards_search', { limit: 5 }, many);
      expect(capped).toMatchObject({ total: 20_000, truncated: true });
      expect(capped.capped).toMatch(/read the first 20000 hits .*more dashboards may match: narrow query or tags/);
    } finally {
      await big.close();
    }
    const few = await call('dashboards_search', { tags: ['gen'] }, services);
    expect(few.capped).toBeUndefined();
  });

  it('names nested folders by their path from the root (Grafana search gives the immediate folder only)', async () => {
    const nested = await new GrafanaSimulator(TOKEN).start();
    try {
      nested.addFolder('f-team', 'Team A');
      nested.addFolder('f-pay', 'Payments', 'f-team');
      nested.addFolder('f-co', 'Checkout', 'f-pay');
      nested.add({ uid: 'deep', title: 'Deep', folderUid: 'f-co', folderTitle: 'Checkout' });
      nested.add({ uid: 'top', title: 'Top', folderUid: 'f-team', folderTitle: 'Team A' });
      nested.add({ uid: 'root', title: 'Root' });
      const svc = makeServices({ grafana: { url: nested.url, auth: { token: TOKEN } } });
      const res = await call('dashboards_search', {}, svc);
      expect(res.dashboards.map((d: { uid: string; folder: string }) => [d.uid, d.folder])).toEqual([
        ['deep', 'Team A / Payments / Checkout'],
        ['root', 'General'],
        ['top', 'Team A'],
      ]);
      const got = await call('dashboards_get', { uid: 'deep' }, svc);
      expect(got).toMatchObject({ folder: 'Team A / Payments / Checkout', folderUid: 'f-co' });
      // a parent the token may not view: Grafana names it "redacted"; the path says so without guessing
      nested.deniedFolders.add('f-team');
      const fresh = makeServices({ grafana: { url: nested.url, auth: { token: TOKEN } } });
      const hidden = await call('dashboards_get', { uid: 'deep' }, fresh);
      expect(hidden.folder).toBe('(no access) / Payments / Checkout');
    } finally {
      await nested.close();
    }
  });

  it('shows a renamed folder by its new name at once, not the path read before (cached for a minute)', async () => {
    const moving = await new GrafanaSimulator(TOKEN).start();
    try {
      moving.addFolder('f-team', 'Team A');
      moving.addFolder('f-co', 'Checkout', 'f-team');
      moving.add({ uid: 'deep', title: 'Deep', folderUid: 'f-co', folderTitle: 'Checkout' });
      const svc = makeServices({ grafana: { url: moving.url, auth: { token: TOKEN } } });
      expect((await call('dashboards_search', {}, svc)).dashboards[0].folder).toBe('Team A / Checkout');
      expect((await call('dashboards_get', { uid: 'deep' }, svc)).folder).toBe('Team A / Checkout');
      moving.addFolder('f-co', 'Checkout v2', 'f-team');
      expect((await call('dashboards_search', {}, svc)).dashboards[0].folder).toBe('Team A / Checkout v2');
      moving.addFolder('f-co', 'Checkout v3', 'f-team');
      expect((await call('dashboards_get', { uid: 'deep' }, svc)).folder).toBe('Team A / Checkout v3');
      // unchanged: the cached path serves the next page without another folder read
      const reads = () => moving.control.requests.filter((r) => r.url.pathname.startsWith('/api/folders/')).length;
      const before = reads();
      await call('dashboards_search', {}, svc);
      expect(reads()).toBe(before);
    } finally {
      await moving.close();
    }
  });

  it('pages with totals', async () => {
    const first = await call('dashboards_search', { tags: ['gen'], limit: 10 }, services);
    expect(first).toMatchObject({ total: 25, returned: 10, truncated: true });
    const second = await call('dashboards_search', { tags: ['gen'], limit: 10, cursor: first.nextCursor }, services);
    expect(second.dashboards[0].title).toBe('Generated 10');
    expect(second.cut).toBeUndefined();
  });

  it("refuses another tool's offset cursor (dashboards_get's panel cursor was read as an offset), reads its own older form", async () => {
    const search = await call('dashboards_search', { tags: ['gen'] }, services);
    // dashboards_get paged panels by the kit's offset cursor (o:<n>), which dashboards_search read as its offset
    for (const [cursor, refusal] of [
      [
        Buffer.from('o:1').toString('base64url'),
        /^cursor is an offset cursor .*which dashboards_search does not read; omit it/,
      ],
      [
        (await call('dashboards_get', { uid: 'checkout-overview', maxPanels: 1 }, services)).nextCursor,
        /^cursor belongs to another listing of dashboards_search/,
      ],
    ] as const) {
      const err = await callError('dashboards_search', { tags: ['gen'], limit: 3, cursor }, services);
      expect(err.code).toBe('ERR_INVALID_INPUT');
      expect(err.message).toMatch(refusal);
    }
    // the form an older replica of dashboards_search issued (d:<offset>:<last>:<digest>) still goes on from there
    const own = Buffer.from(`d:3:${'a'.repeat(8)}:${'b'.repeat(11)}`).toString('base64url');
    const old = await call('dashboards_search', { tags: ['gen'], limit: 3, cursor: own }, services);
    expect(old.dashboards.map((d: { uid: string }) => d.uid)).toEqual(
      search.dashboards.slice(3, 6).map((d: { uid: string }) => d.uid),
    );
  });

  it('the last dashboard shown and one before it are both deleted: the next page starts right after it, skipping none', async () => {
    const live = await new GrafanaSimulator(TOKEN).start();
    try {
      for (let i = 0; i < 20; i++) live.add({ uid: `gone-${i}`, title: `Gone ${String(i).padStart(2, '0')}` });
      const svc = makeServices({ grafana: { url: live.url, auth: { token: TOKEN } } });
      const uids = (r: Awaited<ReturnType<typeof call>>) => r.dashboards.map((d: { uid: string }) => d.uid);
      const first = await call('dashboards_search', { limit: 10 }, svc);
      expect(uids(first).at(-1)).toBe('gone-9');
      live.dashboards.delete('gone-2');
      live.dashboards.delete('gone-9');
      const second = await call('dashboards_search', { limit: 5, cursor: first.nextCursor }, svc);
      // from its old position the page would start at gone-12, skipping gone-10 and gone-11
      expect(uids(second)).toEqual(['gone-10', 'gone-11', 'gone-12', 'gone-13', 'gone-14']);
      expect(second.cut).toEqual([expect.stringMatching(/changed since the previous page/)]);
    } finally {
      await live.close();
    }
  });

  it('continues after the last dashboard shown when dashboards are saved, deleted or renamed between pages, and says so', async () => {
    const live = await new GrafanaSimulator(TOKEN).start();
    try {
      const title = (i: number) => `Live ${String(i).padStart(2, '0')}`;
      for (let i = 0; i < 30; i++) live.add({ uid: `live-${i}`, title: title(i) });
      const svc = makeServices({ grafana: { url: live.url, auth: { token: TOKEN } } });
      const uids = (r: Awaited<ReturnType<typeof call>>) => r.dashboards.map((d: { uid: string }) => d.uid);
      const first = await call('dashboards_search', { limit: 10 }, svc);
      expect(uids(first).at(-1)).toBe('live-9');
      // two dashboards the first page showed are deleted: an offset would now skip live-10 and live-11
      live.dashboards.delete('live-2');
      live.dashboards.delete('live-5');
      const second = await call('dashboards_search', { limit: 10, cursor: first.nextCursor }, svc);
      expect(uids(second)).toEqual(Array.from({ length: 10 }, (_, i) => `live-${10 + i}`));
      expect(second.cut).toEqual([expect.stringMatching(/changed since the previous page/)]);
      // a new dashboard sorted before the cursor: an offset would repeat live-19; it is never listed on later pages
      live.add({ uid: 'live-new', title: 'Live 00 new' });
      const third = await call('dashboards_search', { limit: 10, cursor: second.nextCursor }, svc);
      expect(uids(third)).toEqual(Array.from({ length: 10 }, (_, i) => `live-${20 + i}`));
      expect(third.cut).toEqual([expect.stringMatching(/changed since the previous page/)]);
      expect(third.truncated).toBe(false);
      // renamed from after the cursor to before it: listed on no later page, and the page says so
      const head = await call('dashboards_search', { limit: 5 }, svc);
      live.add({ uid: 'live-29', title: 'Live 00 renamed' });
      const tail = await call('dashboards_search', { limit: 50, cursor: head.nextCursor }, svc);
      expect(tail.cut).toEqual([expect.stringMatching(/changed since the previous page/)]);
      const now: string[] = uids(await call('dashboards_search', { limit: 50 }, svc));
      expect(uids(tail)).toEqual(now.slice(now.indexOf(uids(head).at(-1)) + 1));
      expect(uids(tail)).not.toContain('live-29');
      // unchanged between two pages: nothing to say
      const again = await call('dashboards_search', { limit: 10 }, svc);
      const next = await call('dashboards_search', { limit: 10, cursor: again.nextCursor }, svc);
      expect(next.cut).toBeUndefined();
      expect(uids(next)[0]).toBe(uids(await call('dashboards_search', { limit: 20 }, svc))[10]);
      // the last dashboard shown is gone: the page goes on from the same position and says so
      live.dashboards.delete(uids(next).at(-1));
      const after = await call('dashboards_search', { limit: 10, cursor: next.nextCursor }, svc);
      expect(after.cut).toEqual([expect.stringMatching(/changed since the previous page/)]);
      expect(after.returned).toBeGreaterThan(0);
      const bad = await callError('dashboards_search', { cursor: 'not-a-cursor!' }, svc);
      expect(bad.code).toBe('ERR_INVALID_INPUT');
    } finally {
      await live.close();
    }
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
    // the cursor reaches every panel once, in dashboard order
    const all = await call('dashboards_get', { uid: 'checkout-overview' }, services);
    const ids: number[] = [];
    let page = bounded;
    for (let calls = 1; ; calls++) {
      ids.push(...page.panels.map((p: { id: number }) => p.id));
      if (!page.nextCursor || calls > 5) break;
      page = await call(
        'dashboards_get',
        { uid: 'checkout-overview', maxPanels: 1, cursor: page.nextCursor },
        services,
      );
    }
    expect(page).toMatchObject({ returned: 1, truncated: false });
    expect(ids).toEqual(all.panels.map((p: { id: number }) => p.id));
    expect(ids).toHaveLength(3);
    // and so does a page cut by the output budget
    const small = await call('dashboards_get', { uid: 'checkout-overview' }, services, { maxOutputBytes: 4300 });
    expect(small.returned).toBeLessThan(3);
    expect(small.nextCursor).toBeDefined();
    const rest = await call('dashboards_get', { uid: 'checkout-overview', cursor: small.nextCursor }, services);
    expect([...small.panels, ...rest.panels].map((p: { id: number }) => p.id)).toEqual(ids);
  });

  it('binds the panel cursor to its dashboard (an offset cursor went on from panel N of any other)', async () => {
    const first = await call('dashboards_get', { uid: 'checkout-overview', maxPanels: 1 }, services);
    expect(first.nextCursor).toBeDefined();
    const other = await call('dashboards_get', { uid: 'library-and-expr' }, services);
    expect(other.total).toBeGreaterThan(1);
    const err = await callError(
      'dashboards_get',
      { uid: 'library-and-expr', maxPanels: 1, cursor: first.nextCursor },
      services,
    );
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/^cursor belongs to another listing of dashboards_get/);
  });

  it('names library panels, marks them, and fetches their models when asked', async () => {
    const res = await call('dashboards_get', { uid: 'library-and-expr' }, services);
    expect(res.panels.slice(0, 2)).toEqual([
      {
        id: 7,
        title: 'Error rate',
        type: 'library-panel',
        row: null,
        datasource: null,
        queries: [],
        library: { uid: 'lib-errors', name: 'Error rate' },
      },
      {
        id: 8,
        title: 'Deleted panel',
        type: 'library-panel',
        row: null,
        datasource: null,
        queries: [],
        library: { uid: 'lib-gone', name: 'Deleted panel' },
      },
    ]);
    expect(grafana.control.requests.some((r) => r.url.pathname.startsWith('/api/library-elements/'))).toBe(false);
    const resolved = await call('dashboards_get', { uid: 'library-and-expr', libraryPanels: true }, services);
    expect(resolved.panels[0]).toEqual({
      id: 7,
      title: 'Error rate',
      type: 'timeseries',
      row: null,
      datasource: 'prometheus:prom1',
      queries: [{ refId: 'A', datasource: null, query: 'sum(rate(http_requests_total{code=~"5.."}[5m]))' }],
      library: { uid: 'lib-errors', name: 'Error rate' },
    });
    expect(resolved.panels[1]).toMatchObject({
      type: 'library-panel',
      libraryError: expect.stringMatching(/library element could not be found/),
    });
  });

  it('shows server-side expressions (__expr__ targets) by their expression', async () => {
    const res = await call('dashboards_get', { uid: 'library-and-expr' }, services);
    expect(res.panels[2].queries).toEqual([
      { refId: 'A', datasource: null, query: 'sum(rate(errors_total[5m]))' },
      { refId: 'B', datasource: '__expr__:__expr__', query: 'math: $A * 100' },
      { refId: 'C', datasource: '__expr__:__expr__', query: 'reduce mean: B' },
    ]);
  });

  it('says when a panel holds more queries than it lists (v1, library and v2 panels)', async () => {
    const refIds = Array.from({ length: 12 }, (_, i) => String.fromCharCode(65 + i));
    const targets = refIds.map((refId) => ({ refId, expr: `up{shard="${refId}"}` }));
    const cut = ['queries: 10 of 12 shown; no tool shows the rest (the panel in Grafana does)'];
    grafana.addLibraryElement({ uid: 'lib-wide', name: 'Wide', model: { type: 'timeseries', targets } });
    grafana.add({
      uid: 'many-queries',
      title: 'Many queries',
      panels: [
        { id: 1, type: 'timeseries', title: 'Shards', targets },
        { id: 2, type: 'stat', title: 'Few', targets: targets.slice(0, 10) },
        { id: 3, libraryPanel: { uid: 'lib-wide', name: 'Wide' } },
      ],
    });
    const v1 = await call('dashboards_get', { uid: 'many-queries', libraryPanels: true }, services);
    const [wide, few, library] = v1.panels;
    expect(wide.queries.map((q: { refId: string }) => q.refId)).toEqual(refIds.slice(0, 10));
    expect(wide.cut).toEqual(cut);
    expect(few.queries).toHaveLength(10);
    expect(few).not.toHaveProperty('cut');
    expect(library).toMatchObject({ type: 'timeseries', library: { uid: 'lib-wide' }, cut });
    expect(library.queries).toHaveLength(10);

    const queries = refIds.map((refId) => ({
      kind: 'PanelQuery',
      spec: { refId, query: { kind: 'DataQuery', group: 'prometheus', spec: { expr: `up{shard="${refId}"}` } } },
    }));
    grafana.addV2('many-queries-v2', {
      title: 'Many queries (v2)',
      elements: {
        shards: {
          kind: 'Panel',
          spec: {
            id: 1,
            title: 'Shards',
            vizConfig: { kind: 'VizConfig', group: 'timeseries', spec: {} },
            data: { kind: 'QueryGroup', spec: { queries } },
          },
        },
      },
      layout: { kind: 'GridLayout', spec: { items: [] } },
    });
    const v2 = await call('dashboards_get', { uid: 'many-queries-v2' }, services);
    expect(v2.panels[0].queries.map((q: { refId: string }) => q.refId)).toEqual(refIds.slice(0, 10));
    expect(v2.panels[0].cut).toEqual(cut);
  });

  it('keeps template variables: name, type, query and current value', async () => {
    const res = await call('dashboards_get', { uid: 'library-and-expr' }, services);
    expect(res.variables).toEqual([
      { name: 'service', type: 'query', query: 'label_values(up, job)', current: 'checkout' },
      { name: 'env', type: 'custom', query: 'prod,staging', current: 'prod,staging' },
    ]);
  });

  it('says how many template variables it left out, by count and by budget (v1 and v2)', async () => {
    const names = Array.from({ length: 73 }, (_, i) => `var${i}`);
    grafana.add({
      uid: 'many-variables',
      title: 'Many variables',
      variables: names.map((name) => ({ name, type: 'custom', query: 'a,b', current: { text: 'a', value: 'a' } })),
      panels: [{ id: 1, type: 'stat', title: 'Up', targets: [{ refId: 'A', expr: 'up' }] }],
    });
    const res = await call('dashboards_get', { uid: 'many-variables' }, services);
    expect(res.variables.map((v: { name: string }) => v.name)).toEqual(names.slice(0, 50));
    expect(res.variables[49].cut).toEqual([
      "variables: 50 of 73 shown; no tool shows the rest (the dashboard's settings in Grafana do)",
    ]);
    expect(res.variables.slice(0, 49).filter((v: object) => 'cut' in v)).toEqual([]);
    expect(res.panels).toHaveLength(1);

    // 50 variables with long queries and values do not fit a 20 kB answer: fewer are shown, and it says so
    const long = names.slice(0, 50).map((name) => ({
      kind: 'QueryVariable',
      spec: { name, query: `label_values(${'x'.repeat(400)}, job)`, current: { text: 'v', value: 'v'.repeat(300) } },
    }));
    grafana.addV2('long-variables-v2', {
      title: 'Long variables',
      variables: long,
      elements: {},
      layout: { kind: 'GridLayout', spec: { items: [] } },
    });
    const small = await call('dashboards_get', { uid: 'long-variables-v2' }, services, { maxOutputBytes: 20_000 });
    const shown = small.variables.length;
    expect(shown).toBeGreaterThan(0);
    expect(shown).toBeLessThan(50);
    expect(small.variables[shown - 1].cut).toEqual([
      `variables: ${shown} of 50 shown; no tool shows the rest (the dashboard's settings in Grafana do)`,
    ]);
    expect(JSON.stringify(small).length).toBeLessThanOrEqual(20_000);
  });

  it('reads a Grafana 12 v2-schema dashboard through the API the 406 names', async () => {
    const res = await call('dashboards_get', { uid: 'v2-dash' }, services);
    expect(res).toMatchObject({
      uid: 'v2-dash',
      schema: 'v2',
      title: 'Dynamic dashboard',
      folder: 'Platform',
      folderUid: 'f-v2',
      tags: ['v2'],
      version: 2,
      rows: ['Golden signals'],
      variables: [{ name: 'cluster', type: 'query', query: 'label_values(cluster)', current: 'eu-1' }],
      total: 2,
    });
    expect(res.panels).toEqual([
      {
        id: 1,
        title: 'Latency',
        type: 'timeseries',
        row: 'Golden signals',
        datasource: null,
        queries: [
          {
            refId: 'A',
            datasource: 'prometheus:prom1',
            query: 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket[5m])))',
          },
        ],
      },
      {
        id: 2,
        title: 'Errors (shared)',
        type: 'library-panel',
        row: 'Golden signals',
        datasource: null,
        queries: [],
        library: { uid: 'lib-errors', name: 'Error rate' },
      },
    ]);
    const paths = grafana.control.requests.slice(-3).map((r) => r.url.pathname);
    expect(paths).toContain('/apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/v2-dash');
  });

  it('says exactly what to do when a v2 dashboard cannot be read, and never follows a path for another uid', async () => {
    const seen: string[] = [];
    const fake = await listen((req, res) => {
      seen.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      if (req.url?.startsWith('/api/dashboards/uid/other')) {
        res.writeHead(406).end(
          JSON.stringify({
            message:
              'dashboard api version not supported, use /apis/dashboard.grafana.app/v2beta1/namespaces/default/dashboards/evil instead',
          }),
        );
      } else if (req.url?.startsWith('/api/dashboards/uid/')) {
        res.writeHead(406).end(
          JSON.stringify({
            message:
              'dashboard api version not supported, use /apis/dashboard.grafana.app/v2beta1/namespaces/org-2/dashboards/locked instead',
          }),
        );
      } else {
        res.writeHead(403).end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            message: 'dashboards.dashboard.grafana.app "locked" is forbidden',
            reason: 'Forbidden',
            code: 403,
          }),
        );
      }
    });
    try {
      const via = makeServices({ grafana: { url: fake.url, auth: { token: TOKEN } } });
      const forbidden = await callError('dashboards_get', { uid: 'locked' }, via);
      expect(forbidden.code).toBe('ERR_BACKEND_ERROR');
      expect(forbidden.message).toMatch(
        /uses Grafana's v2 schema.*\/apis\/dashboard\.grafana\.app\/v2beta1\/namespaces\/org-2\/dashboards\/locked.*HTTP 403.*dashboards:read/,
      );
      const other = await callError('dashboards_get', { uid: 'other' }, via);
      expect(other.code).toBe('ERR_BACKEND_ERROR');
      expect(other.message).toMatch(/named no \/apis\/dashboard\.grafana\.app path for it; open \/d\/other/);
      expect(seen.some((u) => u.includes('evil'))).toBe(false);
    } finally {
      await fake.close();
    }
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

  it("says a 403 is a missing permission, with Grafana's words for it, not a rejected token", async () => {
    grafana.deniedDashboards.add('legacy-db');
    try {
      const err = await callError('dashboards_get', { uid: 'legacy-db' }, services);
      expect(err.code).toBe('ERR_BACKEND_ERROR');
      expect(err.message).toBe(
        'Grafana denied our credentials access to dashboard legacy-db (HTTP 403: Access denied to this dashboard); they are valid but lack permission for it: grant the configured account access, or ask for something it may read',
      );
      expect(err.details).toMatchObject({ backend: 'Grafana', status: 403 });
    } finally {
      grafana.deniedDashboards.delete('legacy-db');
    }
    grafana.denyAllDashboards = true;
    try {
      const err = await callError('dashboards_get', { uid: 'checkout-overview' }, services);
      expect(err.message).toMatch(
        /HTTP 403: You'll need additional permissions .*Permissions needed: dashboards:read\)/,
      );
      expect(err.message).not.toMatch(/rejected/);
      expect(err.message).not.toContain(TOKEN);
    } finally {
      grafana.denyAllDashboards = false;
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
