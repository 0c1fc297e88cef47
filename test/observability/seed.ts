/** Data the SDK-client contract cases read from the Loki, Tempo and Grafana simulators. */
import type { GrafanaSimulator } from '../simulators/grafana.js';
import type { LokiSimulator } from '../simulators/loki.js';
import type { TempoSimulator } from '../simulators/tempo.js';

export const TRACE_IDS = {
  checkout: '4bf92f3577b34da6a3ce929d0e0e4736',
} as const;

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
    },
  ]);
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
  grafana.add({ uid: 'db-overview', title: 'Database Overview', tags: ['db'] });
}
