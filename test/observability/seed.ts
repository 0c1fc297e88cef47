/** Data the SDK-client contract cases read from the Loki, Tempo and Grafana simulators. */
import type { GrafanaSimulator } from '../simulators/grafana.js';
import type { LokiSimulator } from '../simulators/loki.js';
import type { TempoSimulator } from '../simulators/tempo.js';

export const TRACE_IDS = {
  checkout: '4bf92f3577b34da6a3ce929d0e0e4736',
  /** An orphan span that starts before the true root (clock skew). */
  skewed: '0af7651916cd43dd8448eb211c80319c',
  /** Over the simulator's per-trace size limit: v2 answers PARTIAL. */
  huge: '00000000000000000000000000b16b16',
  /** The root span never arrived. */
  headless: '000000000000000000000000000d0d0d',
} as const;

/** Lines a query may scan before the Loki simulator answers 504 (its query timeout). */
export const LOKI_SCAN_LIMIT = 500;

const hex16 = (n: number) => n.toString(16).padStart(16, '0');

export function seedLoki(loki: LokiSimulator): void {
  const now = Date.now();
  loki.push(
    { service_name: 'checkout', env: 'prod' },
    Array.from({ length: 30 }, (_, i) => ({
      atMs: now - 60_000 + i * 1000,
      line: i % 3 === 0 ? `level=error msg="charge failed" seq=${i}` : `level=info msg="ok" seq=${i}`,
    })),
  );
  loki.push({ service_name: 'db', env: 'prod' }, [{ atMs: now - 5000, line: 'level=error msg="disk full"' }]);
  loki.push(
    { service_name: 'noisy', env: 'prod' },
    Array.from({ length: LOKI_SCAN_LIMIT + 100 }, (_, i) => ({ atMs: now - 50_000 + i * 10, line: `debug ${i}` })),
  );
  loki.timeoutAfterScannedLines = LOKI_SCAN_LIMIT;
}

export function seedTempo(tempo: TempoSimulator): void {
  const t0 = Date.now() - 30_000;
  tempo.addTrace(TRACE_IDS.checkout, [
    { spanId: hex16(1), service: 'gateway', name: 'GET /orders', startMs: t0, durationMs: 120, status: 'ok' },
    {
      spanId: hex16(2),
      parentSpanId: hex16(1),
      service: 'orders',
      name: 'SELECT orders',
      startMs: t0 + 5,
      durationMs: 80,
      status: 'error',
      statusMessage: 'deadlock detected',
      attributes: { 'db.system': 'postgresql' },
      kind: 'client',
    },
  ]);
  tempo.addTrace(TRACE_IDS.skewed, [
    {
      spanId: hex16(50),
      parentSpanId: hex16(49),
      service: 'worker',
      name: 'process job',
      startMs: t0 - 80,
      durationMs: 10,
    },
    { spanId: hex16(51), service: 'gateway', name: 'GET /orders', startMs: t0, durationMs: 30, kind: 'server' },
  ]);
  tempo.addTrace(
    TRACE_IDS.huge,
    Array.from({ length: 200 }, (_, i) => ({
      spanId: hex16(1000 + i),
      ...(i > 0 ? { parentSpanId: hex16(1000) } : {}),
      service: `svc-${i % 7}`,
      name: `op ${i}`,
      startMs: t0 + i,
      durationMs: 0.5,
    })),
  );
  tempo.addTrace(TRACE_IDS.headless, [
    {
      spanId: hex16(62),
      parentSpanId: hex16(61),
      service: 'cache',
      name: 'SET key',
      startMs: t0 + 40,
      durationMs: 0.3,
    },
  ]);
  tempo.maxTraceBytes = 20_000;
}

export function seedGrafana(grafana: GrafanaSimulator): void {
  grafana.add({
    uid: 'checkout-overview',
    title: 'Checkout Overview',
    tags: ['checkout'],
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
    ],
  });
  grafana.add({
    uid: 'db-overview',
    title: 'Database Overview',
    tags: ['db'],
    variables: [
      { name: 'instance', type: 'query', query: 'label_values(pg_up, instance)', current: { value: 'db-1' } },
    ],
    panels: [
      { id: 1, gridPos: { h: 8, w: 12, x: 0, y: 0 }, libraryPanel: { uid: 'lib-conns', name: 'Connections' } },
      {
        id: 2,
        type: 'stat',
        title: 'Saturation',
        targets: [
          { refId: 'A', datasource: { type: 'prometheus', uid: 'prom1' }, expr: 'pg_conns / pg_max_conns' },
          { refId: 'B', datasource: { type: '__expr__', uid: '__expr__' }, type: 'math', expression: '$A * 100' },
        ],
      },
    ],
  });
  grafana.addLibraryElement({
    uid: 'lib-conns',
    name: 'Connections',
    model: {
      type: 'timeseries',
      targets: [{ refId: 'A', datasource: { type: 'prometheus', uid: 'prom1' }, expr: 'pg_conns' }],
    },
  });
  grafana.addV2('v2-dash', {
    title: 'Dynamic dashboard',
    tags: ['v2'],
    elements: {
      'panel-1': {
        kind: 'Panel',
        spec: {
          id: 1,
          title: 'Latency',
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
                      datasource: { name: 'prom1' },
                      spec: { expr: 'up' },
                    },
                  },
                },
              ],
            },
          },
          vizConfig: { kind: 'VizConfig', group: 'timeseries', version: '12.1.0', spec: {} },
        },
      },
    },
    layout: {
      kind: 'GridLayout',
      spec: { items: [{ kind: 'GridLayoutItem', spec: { element: { kind: 'ElementReference', name: 'panel-1' } } }] },
    },
    variables: [],
  });
}
