import { dataBudgetOf, jsonBytes } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOKI_NEXT_GEN_WARNING, LokiSimulator } from '../simulators/loki.js';
import {
  deadUrl,
  demoRules,
  type Listening,
  type Proc,
  postAlerts,
  silentServer,
  startAlertmanager,
  startExporter,
  startPrometheus,
  waitFor,
} from './fixture.js';
import { call, callError, makeServices } from './harness.js';

let exporter: Listening;
let prom: Proc;
let am: Proc;
const loki = new LokiSimulator();
let services: ReturnType<typeof makeServices>;

const incident = {
  metricTemplates: [
    { name: 'request rate by code', query: 'sum by (code) (rate(demo_requests_total{service="$service"}[10s]))' },
    { name: 'broken template', query: 'sum(rate(demo_requests_total{service="$service"}[10s]' },
  ],
  logQuery: '{service_name="$service"} |~ "(?i)error"',
};

beforeAll(async () => {
  exporter = await startExporter();
  [prom, am] = await Promise.all([
    startPrometheus([exporter.url], { rules: demoRules() }),
    startAlertmanager(),
    loki.start(),
  ]);
  services = makeServices({
    prometheus: { url: prom.url },
    alertmanager: { url: am.url },
    loki: { url: loki.url },
    incident,
  });
  await postAlerts(am.url, [
    {
      labels: { alertname: 'HighErrorRate', service: 'checkout', severity: 'critical' },
      annotations: { summary: '5xx above 5%' },
    },
    { labels: { alertname: 'DiskFull', service: 'db', severity: 'warning' } },
    // the name of a Prometheus rule of the fixture (it fails every evaluation: many-to-many matching)
    { labels: { alertname: 'CheckoutJoinBroken', service: 'payments', severity: 'warning' } },
  ]);
  const now = Date.now();
  loki.push(
    { service_name: 'checkout' },
    Array.from({ length: 40 }, (_, i) => ({
      atMs: now - 60_000 + i * 1000,
      line: i % 2 ? `ERROR charge failed ${i}` : `info ok ${i}`,
    })),
  );
  loki.push({ service_name: 'db' }, [{ atMs: now - 1000, line: 'error: disk full' }]);
  await waitFor('rates for the demo target', async () => {
    const res = await fetch(
      `${prom.url}/api/v1/query?query=${encodeURIComponent('count(rate(demo_requests_total[10s]))')}`,
    );
    const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
    return Number(body.data.result[0]?.value[1]) === 180;
  });
  await waitFor('alerts to be active', async () => {
    const res = await fetch(`${am.url}/api/v2/alerts?unprocessed=false`);
    return ((await res.json()) as unknown[]).length === 3;
  });
  await waitFor('the broken rule to be evaluated', async () => {
    const res = await fetch(`${prom.url}/api/v1/rules`);
    return (await res.text()).includes('many-to-many');
  });
});

afterAll(async () => {
  await Promise.all([prom?.stop(), am?.stop(), exporter?.close(), loki.close()]);
});

describe('incident_get_context', () => {
  it('gathers alerts, metric summaries and error logs for a service', async () => {
    const res = await call('incident_get_context', { service: 'checkout', range: '5m', maxLogLines: 5 }, services);
    expect(res.service).toBe('checkout');
    expect(res.alerts).toMatchObject({ ok: true, backend: 'Alertmanager', total: 1, truncated: false });
    expect(res.alerts.items[0]).toMatchObject({ name: 'HighErrorRate', severity: 'critical', summary: '5xx above 5%' });
    const [rate, broken] = res.metrics.items;
    expect(rate).toMatchObject({
      name: 'request rate by code',
      ok: true,
      total: 3,
      query: 'sum by (code) (rate(demo_requests_total{service="checkout"}[10s]))',
    });
    // code 200 and 404 each grow at 1+2+...+60 = 1830/s, code 500 at 55.9/s: the 500 series ranks last
    expect(['200', '404']).toContain(rate.series[0].labels.code);
    expect(rate.series[0].stats.max).toBeGreaterThan(100);
    expect(rate.series[2].labels.code).toBe('500');
    expect(rate.series[2].stats.max).toBeLessThan(rate.series[0].stats.max);
    expect(broken).toMatchObject({ ok: false, error: { code: 'ERR_QUERY_INVALID' } });
    expect(res.metrics.ok).toBe(true);
    expect(res.logs).toMatchObject({
      ok: true,
      backend: 'Loki',
      query: '{service_name="checkout"} |~ "(?i)error"',
      truncated: true,
      scannedLines: 40,
    });
    expect(res.logs.lines).toHaveLength(5);
    expect(res.logs.lines[0]).toMatchObject({ line: 'ERROR charge failed 39', labels: { service_name: 'checkout' } });
    expect(res.partial).toBe(true); // the broken template
    expect(res.failedBackends).toEqual([]);
  });

  it('finds the service from an alert name', async () => {
    const res = await call('incident_get_context', { alertName: 'DiskFull', range: '5m' }, services);
    expect(res).toMatchObject({ service: 'db', alertName: 'DiskFull', alerts: { total: 1 } });
    expect(res.logs.lines.map((l: { line: string }) => l.line)).toEqual(['error: disk full']);
    const none = await call('incident_get_context', { alertName: 'NoSuchAlert' }, services);
    expect(none).toMatchObject({ service: null, partial: true, alerts: { ok: true, total: 0 } });
    expect(none.metrics.skipped).toMatch(/no service given/);
    expect(none.logs.skipped).toMatch(/no service given/);
  });

  it('shows the Prometheus rule behind a firing alert: its expression, for and health', async () => {
    const res = await call('incident_get_context', { service: 'payments', range: '5m' }, services);
    expect(res.alerts.items.map((a: { name: string }) => a.name)).toEqual(['CheckoutJoinBroken']);
    expect(res.alerts.rules).toEqual({
      total: 1,
      items: [
        {
          name: 'CheckoutJoinBroken',
          group: 'checkout-alerts',
          query: 'demo_requests_total * on (service) demo_requests_total > 0',
          for: '0s',
          health: 'err',
          state: 'inactive',
        },
      ],
    });
    // a rule named by the caller is shown even with nothing firing; an alert without a rule has none
    const pending = await call('incident_get_context', { alertName: 'TemperatureHigh', range: '5m' }, services);
    expect(pending.alerts.total).toBe(0);
    expect(pending.alerts.rules.items[0]).toMatchObject({ query: 'demo_temperature_celsius > 45', for: '1h' });
    const ruleless = await call('incident_get_context', { service: 'checkout', range: '5m' }, services);
    expect(ruleless.alerts.rules).toEqual({ total: 0, items: [] });
  });

  it('returns partial results naming the backends that are down', async () => {
    const partial = makeServices({
      prometheus: { url: prom.url },
      alertmanager: { url: await deadUrl() },
      loki: { url: await deadUrl() },
      incident: {
        metricTemplates: [incident.metricTemplates[0] as { name: string; query: string }],
        logQuery: incident.logQuery,
      },
    });
    const res = await call('incident_get_context', { service: 'checkout', range: '5m' }, partial);
    expect(res.partial).toBe(true);
    expect(res.failedBackends).toEqual(['Alertmanager', 'Loki']);
    expect(res.alerts).toMatchObject({ ok: false, error: { code: 'ERR_BACKEND_UNAVAILABLE' } });
    expect(res.alerts.error.message).toMatch(/^Alertmanager is unreachable/);
    expect(res.logs.error.message).toMatch(/^Loki is unreachable/);
    expect(res.metrics.ok).toBe(true);
    expect(res.metrics.items[0].total).toBe(3);
  });

  it('reports a hung Prometheus as timed out and still returns alerts and logs', async () => {
    const hung = await silentServer();
    try {
      const slow = makeServices({
        prometheus: { url: hung.url, timeoutMs: 300 },
        alertmanager: { url: am.url },
        loki: { url: loki.url },
        incident,
      });
      const t0 = Date.now();
      const res = await call('incident_get_context', { service: 'checkout', range: '5m' }, slow);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(res).toMatchObject({ partial: true, failedBackends: ['Prometheus'] });
      expect(res.metrics).toMatchObject({ ok: false, error: { code: 'ERR_BACKEND_TIMEOUT' } });
      expect(res.metrics.error.message).toMatch(/^Prometheus did not answer within 300 ms/);
      expect(res.alerts.rules).toMatchObject({ total: 0, items: [], error: { code: 'ERR_BACKEND_TIMEOUT' } });
      expect(res.alerts).toMatchObject({ ok: true, total: 1 });
      expect(res.logs.ok).toBe(true);
      expect(res.logs.lines.length).toBeGreaterThan(0);
    } finally {
      await hung.close();
    }
  });

  it('summarizes a metric logQuery (a matrix with fractional-second timestamps) instead of failing', async () => {
    const metricLogs = makeServices({
      prometheus: { url: prom.url },
      alertmanager: { url: am.url },
      loki: { url: loki.url },
      incident: {
        metricTemplates: [],
        logQuery: 'sum(count_over_time({service_name="$service"} |~ "(?i)error" [1m]))',
      },
    });
    const res = await call('incident_get_context', { service: 'checkout', range: '5m' }, metricLogs);
    expect(res.failedBackends).toEqual([]);
    expect(res.logs).toMatchObject({ ok: true, backend: 'Loki', lines: [] });
    expect(res.logs.series).toHaveLength(1);
    expect(res.logs.series[0].labels).toEqual({});
    expect(res.logs.series[0].stats.max).toBe(20); // 20 ERROR lines within the last minute at most
    expect(res.logs.series[0].stats.samples).toBeGreaterThan(0);
    const sent = loki.control.requests.at(-1)?.url.searchParams;
    expect(sent?.get('query')).toBe('sum(count_over_time({service_name="checkout"} |~ "(?i)error" [1m]))');
  });

  it("carries Loki's warnings (they may mean the lines are partial), and none when it gave none", async () => {
    const quiet = await call('incident_get_context', { service: 'checkout', range: '5m', maxLogLines: 5 }, services);
    expect(quiet).not.toHaveProperty('warnings');
    loki.nextGenEngine = true;
    try {
      const res = await call('incident_get_context', { service: 'checkout', range: '5m', maxLogLines: 5 }, services);
      expect(res.warnings).toEqual([`Loki: ${LOKI_NEXT_GEN_WARNING}`]);
      expect(res.logs.lines).toHaveLength(5);
    } finally {
      loki.nextGenEngine = false;
    }
  });

  it("carries Prometheus's warnings (a remote read that failed: the numbers may be partial)", async () => {
    const partial = await startPrometheus([exporter.url], { remoteRead: `${await deadUrl()}/api/v1/read` });
    try {
      const svc = makeServices({
        prometheus: { url: partial.url },
        alertmanager: { url: am.url },
        loki: { url: loki.url },
        incident,
      });
      const res = await call('incident_get_context', { service: 'checkout', range: '5m' }, svc);
      expect(res.warnings).toHaveLength(1);
      expect(res.warnings[0]).toMatch(/^Prometheus \(request rate by code\): remote_read: error sending request/);
    } finally {
      await partial.stop();
    }
  });

  it('refuses a service name that could break out of a query string', async () => {
    const err = await callError('incident_get_context', { service: 'checkout"} or vector(1) #' }, services);
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/service: may contain only letters/);
    const neither = await callError('incident_get_context', {}, services);
    expect(neither.message).toMatch(/give a service, an alertName, or both/);
  });

  it('stays within a small output budget', async () => {
    const res = await call('incident_get_context', { service: 'checkout', range: '5m', maxLogLines: 200 }, services, {
      maxOutputBytes: 3000,
    });
    expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThanOrEqual(3000);
    expect(res.logs.truncated).toBe(true);
  });
});

describe('incident_get_context within the output budget', () => {
  /** What a handler gets when the whole result must fit the default 64 KiB (RAVENHELM_MAX_OUTPUT_BYTES). */
  const share = dataBudgetOf(64 * 1024);
  const SERVICE = 'kube-checkout';

  beforeAll(async () => {
    // 50 alerts with the labels kube-prometheus-stack puts on them; every tenth is critical.
    await postAlerts(
      am.url,
      Array.from({ length: 50 }, (_, i) => ({
        labels: {
          alertname: `KubePodCrashLooping${i}`,
          service: SERVICE,
          severity: i % 10 === 0 ? 'critical' : 'warning',
          namespace: 'checkout',
          pod: `checkout-api-7d9f8b6c5d-${i}abcd`,
          container: 'server',
          cluster: 'prod-eu-west-1',
          prometheus: 'monitoring/kube-prometheus-stack-prometheus',
          job: 'kube-state-metrics',
          instance: '10.0.12.34:8080',
          endpoint: 'http',
          reason: 'CrashLoopBackOff',
          uid: `0a1b2c3d-4e5f-6789-abcd-ef01234567${String(i).padStart(2, '0')}`,
          team: 'payments',
        },
        annotations: {
          summary: 'Pod is crash looping.',
          runbook_url: 'https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping',
        },
      })),
    );
    await waitFor('the 50 alerts to be active', async () => {
      const res = await fetch(`${am.url}/api/v2/alerts?filter=${encodeURIComponent(`service="${SERVICE}"`)}`);
      return ((await res.json()) as unknown[]).length === 50;
    });
  });

  it('lists the most severe alerts that fit and states how many it left out and where they are', async () => {
    const res = await call('incident_get_context', { service: SERVICE, maxAlerts: 50 }, services, {
      maxOutputBytes: share,
    });
    expect(jsonBytes(res)).toBeLessThanOrEqual(share);
    const kept = res.alerts.items.length as number;
    expect(kept).toBeGreaterThan(5);
    expect(kept).toBeLessThan(50);
    expect(res.alerts).toMatchObject({ ok: true, total: 50, truncated: true });
    expect(res.alerts.items.slice(0, 5).map((a: { severity: string }) => a.severity)).toEqual(
      Array(5).fill('critical'),
    );
    expect(res.cut).toEqual([
      `alerts: ${kept} of 50 listed, most urgent first (0 left out by maxAlerts=50, ${50 - kept} by the output budget); alerts_list with matchers service="${SERVICE}" lists them all`,
    ]);
    // within maxAlerts and the budget: nothing cut by the budget, the maxAlerts cut stated
    const few = await call('incident_get_context', { service: SERVICE, maxAlerts: 5 }, services, {
      maxOutputBytes: share,
    });
    expect(few.alerts.items).toHaveLength(5);
    expect(few.cut).toEqual([
      `alerts: 5 of 50 listed, most urgent first (45 left out by maxAlerts=5, 0 by the output budget); alerts_list with matchers service="${SERVICE}" lists them all`,
    ]);
  });
});
