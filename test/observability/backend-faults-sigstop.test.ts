/**
 * A real Prometheus and Alertmanager frozen with SIGSTOP under load (20 calls at once), then resumed:
 * every call answers by its deadline with an error that names the backend and says what to do, the
 * shared limiter gives every slot back, and the other backends (Loki) keep answering meanwhile.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { type ObservabilityServices, observabilityServer } from '@ravenhelm/mcp-observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServedOverHttp, serveOverHttp } from '../fixtures/fault-server.js';
import { LokiSimulator } from '../simulators/loki.js';
import {
  type Listening,
  type Proc,
  postAlerts,
  startAlertmanager,
  startExporter,
  startPrometheus,
  waitFor,
} from './fixture.js';

const TIMEOUT_MS = 1500;
// what a call may take beyond its deadline: the abort, the error, the HTTP round trip
const SLACK_MS = 1000;
const LIMIT = 8;

let exporter: Listening;
let prometheus: Proc;
let alertmanager: Proc;
const loki = new LokiSimulator();
let server: ServedOverHttp<ObservabilityServices>;
const frozen = new Set<number>();

/** The pid of the engine listening on this URL's port (the fixture does not expose it). */
function pidOf(url: string): number {
  const flag = `--web.listen-address=${new URL(url).host}`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(flag)) return Number(entry);
    } catch {
      // the process ended while we looked
    }
  }
  throw new Error(`no process listens with ${flag}`);
}

function freeze(pid: number): void {
  process.kill(pid, 'SIGSTOP');
  frozen.add(pid);
}

function thaw(pid: number): void {
  process.kill(pid, 'SIGCONT');
  frozen.delete(pid);
}

beforeAll(async () => {
  exporter = await startExporter();
  [prometheus, alertmanager] = await Promise.all([startPrometheus([exporter.url]), startAlertmanager(), loki.start()]);
  loki.push({ service_name: 'checkout' }, ['level=error msg="payment declined"', 'level=info msg=ok']);
  await postAlerts(alertmanager.url, [{ labels: { alertname: 'HighErrorRate', service: 'checkout' } }]);
  server = await serveOverHttp<ObservabilityServices>(
    observabilityServer,
    {
      PROMETHEUS_URL: prometheus.url,
      PROMETHEUS_TIMEOUT_MS: String(TIMEOUT_MS),
      ALERTMANAGER_URL: alertmanager.url,
      ALERTMANAGER_TIMEOUT_MS: String(TIMEOUT_MS),
      LOKI_URL: loki.url,
      LOKI_TIMEOUT_MS: String(TIMEOUT_MS),
      OBSERVABILITY_MAX_CONCURRENT_CALLS: String(LIMIT),
      RAVENHELM_TOOLSETS: 'all',
    },
    ['mcp:observability:admin'],
  );
  // Prometheus has scraped the exporter at least once
  await waitFor('a first scrape', async () => {
    const r = await server.call('metrics_query', { query: 'up{job="demo"}' });
    return !r.isError && r.text.includes('demo');
  });
}, 120_000);

afterAll(async () => {
  for (const pid of frozen) thaw(pid);
  await server?.close();
  await Promise.all([prometheus?.stop(), alertmanager?.stop(), loki.close(), exporter?.close()]);
});

/** ravenhelm_tool_calls_in_flight as the metrics endpoint would show it. */
async function inFlightGauge(): Promise<number> {
  const values = (await server.rt.metrics.inFlight.get()).values;
  return values.reduce((sum, v) => sum + v.value, 0);
}

function limiter(): { active: number; waiting: number } {
  // every observability backend shares one limiter; Prometheus's client exposes it
  return server.services.prometheus.http.limiter;
}

describe('a frozen Prometheus (SIGSTOP) under 20 concurrent calls', () => {
  it('answers every call by its deadline, keeps Loki answering, and gives every slot back', async () => {
    const pid = pidOf(prometheus.url);
    freeze(pid);
    let answers: Awaited<ReturnType<typeof server.call>>[] = [];
    let lokiAnswers: Awaited<ReturnType<typeof server.call>>[] = [];
    try {
      const prom = Array.from({ length: 20 }, (_, i) =>
        server.call(i % 2 ? 'metrics_query' : 'metrics_list_targets', i % 2 ? { query: 'up' } : {}),
      );
      // while every Prometheus call is stuck, a Loki search must still be answered
      await new Promise((r) => setTimeout(r, 200));
      lokiAnswers = await Promise.all(
        Array.from({ length: 3 }, () => server.call('logs_search', { query: '{service_name="checkout"}', limit: 5 })),
      );
      // mid-freeze: the Prometheus calls are in flight, and show in the gauge
      expect(await inFlightGauge()).toBeGreaterThan(0);
      answers = await Promise.all(prom);
      expect(server.rt.pipeline.inFlight).toBe(0);
      expect(await inFlightGauge()).toBe(0);
    } finally {
      thaw(pid);
    }
    for (const a of answers) {
      expect(a.isError, a.text).toBe(true);
      expect(a.text).toMatch(/Prometheus/);
      expect(a.text).toMatch(/ERR_BACKEND_TIMEOUT|did not answer|deadline/);
      expect(a.text).toMatch(/retry|check|narrow/);
      expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
    console.log(
      `frozen Prometheus: 20 calls answered in max ${Math.max(...answers.map((a) => a.ms))} ms (deadline ${TIMEOUT_MS}); Loki during freeze: ${lokiAnswers.map((a) => a.ms).join(', ')} ms\n${[...new Set(answers.map((a) => a.text))].join('\n')}`,
    );
    for (const a of lokiAnswers) {
      expect(a.isError, a.text).toBe(false);
      expect(a.text).toMatch(/payment declined/);
    }
    // Loki did not wait for Prometheus's deadline to pass
    expect(Math.max(...lokiAnswers.map((a) => a.ms))).toBeLessThan(TIMEOUT_MS / 2);
    const l = limiter();
    expect({ active: l.active, waiting: l.waiting }).toEqual({ active: 0, waiting: 0 });

    // after SIGCONT, calls work again at full concurrency
    await waitFor(
      'Prometheus to answer again',
      async () => !(await server.call('metrics_query', { query: 'up' })).isError,
      20_000,
    );
    const after = await Promise.all(
      Array.from({ length: 2 * LIMIT }, () => server.call('metrics_query', { query: 'up' })),
    );
    for (const a of after) expect(a.isError, a.text).toBe(false);
    expect({ active: limiter().active, waiting: limiter().waiting }).toEqual({ active: 0, waiting: 0 });
  }, 60_000);

  it('a frozen Alertmanager times out the same way while Prometheus answers', async () => {
    const pid = pidOf(alertmanager.url);
    freeze(pid);
    let answers: Awaited<ReturnType<typeof server.call>>[] = [];
    let promAnswers: Awaited<ReturnType<typeof server.call>>[] = [];
    try {
      const am = Array.from({ length: 20 }, (_, i) => server.call(i % 2 ? 'alerts_list' : 'alerts_list_silences', {}));
      await new Promise((r) => setTimeout(r, 200));
      promAnswers = await Promise.all(Array.from({ length: 3 }, () => server.call('metrics_query', { query: 'up' })));
      answers = await Promise.all(am);
    } finally {
      thaw(pid);
    }
    for (const a of answers) {
      expect(a.isError, a.text).toBe(true);
      expect(a.text).toMatch(/Alertmanager/);
      expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
    for (const a of promAnswers) expect(a.isError, a.text).toBe(false);
    expect(Math.max(...promAnswers.map((a) => a.ms))).toBeLessThan(TIMEOUT_MS / 2);
    await waitFor('Alertmanager to answer again', async () => !(await server.call('alerts_list', {})).isError, 20_000);
    expect({ active: limiter().active, waiting: limiter().waiting }).toEqual({ active: 0, waiting: 0 });
  }, 60_000);
});
