/**
 * Backend metrics an operator can act on, end to end: the observability server over Streamable HTTP,
 * called through the MCP SDK client, in front of a real Prometheus behind the fault proxy (an HTTP error
 * answer, a hang, a slow backend) and an Alertmanager that is down; the server's /metrics is scraped the
 * way Prometheus would and read per backend and outcome.
 */
import { type ObservabilityServices, observabilityServer } from '@ravenhelm/mcp-observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import { type ServedOverHttp, serveOverHttp } from '../fixtures/fault-server.js';
import { deadUrl, type Proc, startPrometheus } from '../observability/fixture.js';
import { backendSeries, delta, expectBoundedLabels, outcomes, scrape, value } from './backend-metrics-harness.js';

const SLOTS = 2;
const TIMEOUT_MS = 3000;
const BACKENDS = ['prometheus', 'alertmanager', 'loki', 'tempo', 'grafana'] as const;

let prometheus: Proc;
let proxy: FaultProxy;
let served: ServedOverHttp<ObservabilityServices>;

beforeAll(async () => {
  prometheus = await startPrometheus([]);
  const u = new URL(prometheus.url);
  proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port) });
  served = await serveOverHttp<ObservabilityServices>(
    observabilityServer,
    {
      PROMETHEUS_URL: proxy.url as string,
      PROMETHEUS_TIMEOUT_MS: String(TIMEOUT_MS),
      ALERTMANAGER_URL: await deadUrl(),
      OBSERVABILITY_MAX_CONCURRENT_CALLS: String(SLOTS),
    },
    ['mcp:observability:read'],
  );
}, 120_000);

afterAll(async () => {
  await served?.close();
  await proxy?.close();
  await prometheus?.stop();
});

const query = (q: string) => served.call('metrics_query', { query: q });
const durationCount = (s: Awaited<ReturnType<typeof scrape>>, backend: string) =>
  value(s, 'ravenhelm_backend_request_duration_seconds_count', { backend });

describe('backend metrics, observability server with a real Prometheus', () => {
  it('counts each backend call by backend and outcome: ok, a 4xx and a 5xx answer, a timeout, a backend down', async () => {
    const before = await scrape(served.http.url);
    for (let i = 0; i < 3; i++) expect((await query('vector(1)')).isError).toBe(false);
    // Prometheus itself refuses a query that does not parse: HTTP 400 bad_data
    for (let i = 0; i < 2; i++) expect((await query('sum(')).isError).toBe(true);
    proxy.only = /^POST \/api\/v1\/query /;
    proxy.mode = { kind: 'respond', status: 503, headers: { 'content-type': 'text/plain' }, body: 'overloaded' };
    for (let i = 0; i < 2; i++) expect((await query('vector(1)')).isError).toBe(true);
    proxy.mode = { kind: 'hang' };
    const hung = await query('vector(1)');
    proxy.mode = { kind: 'pass' };
    proxy.only = undefined;
    expect(hung.text).toMatch(/did not answer within/);
    for (let i = 0; i < 2; i++) expect((await served.call('alerts_list', {})).isError).toBe(true);

    const after = await scrape(served.http.url);
    expect(delta(outcomes(after, 'prometheus'), outcomes(before, 'prometheus'))).toEqual({
      ok: 3,
      http_4xx: 2,
      http_5xx: 2,
      timeout: 1,
    });
    expect(delta(outcomes(after, 'alertmanager'), outcomes(before, 'alertmanager'))).toEqual({ unavailable: 2 });
    // every call that reached its backend has a duration; the hung one took its whole deadline
    expect(durationCount(after, 'prometheus') - durationCount(before, 'prometheus')).toBe(8);
    expect(durationCount(after, 'alertmanager') - durationCount(before, 'alertmanager')).toBe(2);
    const slowest = value(after, 'ravenhelm_backend_request_duration_seconds_bucket', {
      backend: 'prometheus',
      le: '0.5',
    });
    const all = value(after, 'ravenhelm_backend_request_duration_seconds_bucket', {
      backend: 'prometheus',
      le: '+Inf',
    });
    expect(all - slowest).toBeGreaterThanOrEqual(1);
    expectBoundedLabels(after, 'observability', BACKENDS);
  }, 60_000);

  it('a slow backend with more calls than slots: waiters show in the gauges, the wait histogram grows, the backend time excludes the wait', async () => {
    const DELAY_MS = 300;
    const CALLS = 8;
    const before = await scrape(served.http.url);
    const waitCount = (s: typeof before) =>
      value(s, 'ravenhelm_backend_slot_wait_seconds_count', { backend: 'prometheus' });
    const waitSum = (s: typeof before) =>
      value(s, 'ravenhelm_backend_slot_wait_seconds_sum', { backend: 'prometheus' });
    const timeSum = (s: typeof before) =>
      value(s, 'ravenhelm_backend_request_duration_seconds_sum', { backend: 'prometheus' });
    proxy.mode = { kind: 'delay', ms: DELAY_MS };
    let maxWaiting = 0;
    let maxInUse = 0;
    let limit = 0;
    let running = true;
    const watching = (async () => {
      while (running) {
        const s = await scrape(served.http.url);
        maxWaiting = Math.max(maxWaiting, value(s, 'ravenhelm_backend_slots_waiting'));
        maxInUse = Math.max(maxInUse, value(s, 'ravenhelm_backend_slots_in_use'));
        limit = value(s, 'ravenhelm_backend_slots_limit');
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const answers = await Promise.all(Array.from({ length: CALLS }, (_, i) => query(`vector(${i})`)));
      expect(answers.filter((a) => a.isError).map((a) => a.text)).toEqual([]);
    } finally {
      running = false;
      proxy.mode = { kind: 'pass' };
      await watching;
    }
    const after = await scrape(served.http.url);
    console.log(
      `slots: limit ${limit}, max in use ${maxInUse}, max waiting ${maxWaiting}; wait sum ${(waitSum(after) - waitSum(before)).toFixed(2)} s, backend time sum ${(timeSum(after) - timeSum(before)).toFixed(2)} s`,
    );
    expect(limit).toBe(SLOTS);
    expect(maxInUse).toBe(SLOTS);
    expect(maxWaiting).toBeGreaterThan(0);
    expect(waitCount(after) - waitCount(before)).toBe(CALLS);
    // waves of two: 0, 0, 0.3, 0.3, 0.6, 0.6, 0.9, 0.9 s of waiting
    expect(waitSum(after) - waitSum(before)).toBeGreaterThan(1.5);
    // the backend time is about 8 x 0.3 s; with the wait counted in, it would be 2.4 + 3.6 s
    expect(timeSum(after) - timeSum(before)).toBeGreaterThan((CALLS * DELAY_MS * 0.9) / 1000);
    expect(timeSum(after) - timeSum(before)).toBeLessThan(4);
    expect(value(after, 'ravenhelm_backend_slots_waiting')).toBe(0);
    expect(value(after, 'ravenhelm_backend_slots_in_use')).toBe(0);
  }, 60_000);

  it('many distinct queries, matchers and errors add no series: labels stay server, backend and outcome', async () => {
    // every outcome below was already seen by the tests above, so the series exist already
    const before = await scrape(served.http.url);
    const okBefore = value(before, 'ravenhelm_backend_requests_total', { backend: 'prometheus', outcome: 'ok' });
    const N = 30;
    for (let i = 0; i < N; i++) {
      await query(`label_replace(vector(${i}), "probe_${i}", "v${i}", "", "")`);
      await query(`sum(rate(unknown_${i}[5m])`);
      await served.call('alerts_list', { matchers: [`alertname="A${i}"`] });
    }
    const after = await scrape(served.http.url);
    expect(value(after, 'ravenhelm_backend_requests_total', { backend: 'prometheus', outcome: 'ok' }) - okBefore).toBe(
      N,
    );
    expect(backendSeries(after)).toEqual(backendSeries(before));
    expectBoundedLabels(after, 'observability', BACKENDS);
    for (const s of after)
      if (s.name.startsWith('ravenhelm_backend_'))
        expect(JSON.stringify(s.labels)).not.toMatch(/probe_|unknown_|alertname|vector|query/);
  }, 60_000);
});
