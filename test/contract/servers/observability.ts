/**
 * Contract cases for the observability server: a real Prometheus 2.42 scraping a prom-client target, a real
 * Alertmanager 0.25, and the Loki, Tempo and Grafana simulators (built from the vendors' own material, see
 * test/simulators/README.md). Every tool has cases for each output shape it can produce: summary and raw,
 * empty and non-empty, truncated pages, partial answers, and tool errors.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  demoRules,
  postAlerts,
  ROUTES,
  startAlertmanager,
  startExporter,
  startPrometheus,
  waitFor,
} from '../../observability/fixture.js';
import { seedGrafana, seedLoki, seedTempo, TRACE_IDS } from '../../observability/seed.js';
import { GrafanaSimulator } from '../../simulators/grafana.js';
import { LokiSimulator } from '../../simulators/loki.js';
import { TempoSimulator } from '../../simulators/tempo.js';
import type { ContractCase, ContractSuite } from '../types.js';

const GRAFANA_TOKEN = 'glsa_contract_token_never_shown';

type Check = NonNullable<ContractCase['check']>;

function expectKeys(keys: string[]): Check {
  return (s) => {
    for (const k of keys) if (s?.[k] === undefined) throw new Error(`structuredContent has no ${k}`);
  };
}

function expectValue(path: string, want: unknown): Check {
  return (s) => {
    // biome-ignore lint/suspicious/noExplicitAny: walking an arbitrary structured result
    const got = path.split('.').reduce<any>((v, k) => v?.[k], s);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`${path} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
  };
}

function all(...checks: Check[]): Check {
  return (s, t) => {
    for (const c of checks) c(s, t);
  };
}

const suite: ContractSuite = {
  server: 'observability',
  bin: 'servers/observability/src/bin.ts',
  async setup() {
    const exporter = await startExporter();
    const loki = new LokiSimulator();
    const tempo = new TempoSimulator();
    const grafana = new GrafanaSimulator(GRAFANA_TOKEN);
    const [prom, am] = await Promise.all([
      startPrometheus([exporter.url], { rules: demoRules() }),
      startAlertmanager(),
      loki.start(),
      tempo.start(),
      grafana.start(),
    ]);
    const state = await mkdtemp(join(tmpdir(), 'rh-obs-contract-'));
    const stop = async () => {
      await Promise.all([prom.stop(), am.stop(), exporter.close(), loki.close(), tempo.close(), grafana.close()]);
      await rm(state, { recursive: true, force: true });
    };
    try {
      seedLoki(loki);
      seedTempo(tempo);
      seedGrafana(grafana);
      await postAlerts(am.url, [
        {
          labels: { alertname: 'HighErrorRate', service: 'checkout', severity: 'critical' },
          annotations: { summary: '5xx above 5%' },
        },
        { labels: { alertname: 'DiskFull', service: 'db', severity: 'warning' } },
      ]);
      // A silence made through the API, for alerts_expire_silence.
      const now = Date.now();
      const created = await fetch(`${am.url}/api/v2/silences`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          matchers: [{ name: 'alertname', value: 'DiskFull', isRegex: false, isEqual: true }],
          startsAt: new Date(now).toISOString(),
          endsAt: new Date(now + 3_600_000).toISOString(),
          createdBy: 'contract',
          comment: 'contract fixture',
        }),
      });
      const { silenceID } = (await created.json()) as { silenceID: string };
      await waitFor('8 scrapes of the demo target', async () => {
        const q = encodeURIComponent('count(count_over_time(demo_requests_total[1m]) >= 8)');
        const res = await fetch(`${prom.url}/api/v1/query?query=${q}`);
        const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
        return Number(body.data.result[0]?.value[1]) === ROUTES * 3;
      });
      await waitFor('the rules to be evaluated (one firing, one broken)', async () => {
        const body = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as {
          data: { groups: { rules: { state?: string; health: string }[] }[] };
        };
        const rules = body.data.groups.flatMap((g) => g.rules);
        return rules.some((r) => r.state === 'firing') && rules.some((r) => r.health === 'err');
      });
      await waitFor('alerts to be known', async () => {
        const res = await fetch(`${am.url}/api/v2/alerts`);
        return ((await res.json()) as unknown[]).length === 2;
      });

      const cases: ContractCase[] = [
        // metrics_query: every resultType, empty, paged, refused
        {
          tool: 'metrics_query',
          label: 'vector, sorted, truncated page',
          arguments: { query: 'demo_temperature_celsius', sort: 'desc', limit: 5 },
          expect: 'ok',
          check: all(expectValue('returned', 5), expectValue('truncated', true), expectKeys(['time', 'nextCursor'])),
        },
        {
          tool: 'metrics_query',
          label: 'empty vector',
          arguments: { query: 'no_such_metric_anywhere' },
          expect: 'ok',
          check: expectValue('total', 0),
        },
        { tool: 'metrics_query', label: 'scalar', arguments: { query: '1 + 1' }, expect: 'ok' },
        {
          tool: 'metrics_query',
          label: 'range vector (matrix)',
          arguments: { query: 'demo_temperature_celsius{sensor=~"s1|s2"}[30s]' },
          expect: 'ok',
          check: all(expectValue('resultType', 'matrix'), expectValue('returned', 2)),
        },
        { tool: 'metrics_query', label: 'PromQL parse error', arguments: { query: 'sum(' }, expect: 'error' },
        // metrics_query_range: summary and raw, empty and non-empty, truncated
        {
          tool: 'metrics_query_range',
          label: 'summary, top-k page with the rest counted',
          arguments: { query: 'rate(demo_requests_total[10s])', start: 'now-30s', step: '2s', topK: 3 },
          expect: 'ok',
          check: all(expectValue('returned', 3), expectValue('truncated', true), expectKeys(['rest', 'series'])),
        },
        {
          tool: 'metrics_query_range',
          label: 'summary, empty',
          arguments: { query: 'no_such_metric_anywhere', start: 'now-30s', step: '5s' },
          expect: 'ok',
          check: expectValue('total', 0),
        },
        {
          tool: 'metrics_query_range',
          label: 'raw, bounded',
          arguments: {
            query: 'demo_temperature_celsius',
            start: 'now-20s',
            step: '1s',
            mode: 'raw',
            topK: 4,
            maxRawPoints: 20,
          },
          expect: 'ok',
          check: all(expectValue('returned', 4), expectValue('truncated', true), expectKeys(['raw'])),
        },
        {
          tool: 'metrics_query_range',
          label: 'raw, empty',
          arguments: { query: 'no_such_metric_anywhere', start: 'now-30s', step: '5s', mode: 'raw' },
          expect: 'ok',
        },
        {
          tool: 'metrics_query_range',
          label: 'too many points per series',
          arguments: { query: 'up', start: 'now-1h', step: '100ms' },
          expect: 'error',
        },
        {
          tool: 'metrics_list_names',
          label: 'paged',
          arguments: { filter: 'demo', limit: 1 },
          expect: 'ok',
          check: expectValue('truncated', true),
        },
        { tool: 'metrics_list_names', label: 'no match', arguments: { filter: 'zzz-nothing' }, expect: 'ok' },
        { tool: 'metrics_list_labels', label: 'all labels', arguments: {}, expect: 'ok' },
        {
          tool: 'metrics_list_label_values',
          label: 'values of a label within a selector',
          arguments: { label: 'code', match: ['demo_requests_total'] },
          expect: 'ok',
          check: expectValue('values', ['200', '404', '500']),
        },
        { tool: 'metrics_get_metadata', label: 'by filter', arguments: { filter: 'demo_' }, expect: 'ok' },
        { tool: 'metrics_get_metadata', label: 'unknown metric', arguments: { metric: 'nope_total' }, expect: 'error' },
        {
          tool: 'metrics_list_targets',
          label: 'up and down targets',
          arguments: {},
          expect: 'ok',
          check: expectValue('counts.down', 1),
        },
        // alerts
        {
          tool: 'alerts_list',
          label: 'all alerts',
          arguments: {},
          expect: 'ok',
          check: expectValue('total', 2),
        },
        {
          tool: 'alerts_list',
          label: 'matchers, paged',
          arguments: { matchers: ['service=~"checkout|db"'], limit: 1 },
          expect: 'ok',
          check: expectValue('truncated', true),
        },
        {
          tool: 'alerts_list',
          label: 'no match',
          arguments: { matchers: ['alertname="Nothing"'] },
          expect: 'ok',
          check: expectValue('total', 0),
        },
        {
          tool: 'alerts_list',
          label: 'malformed matcher',
          arguments: { matchers: ['alertname==HighErrorRate'] },
          expect: 'error',
        },
        { tool: 'alerts_list_groups', label: 'groups', arguments: {}, expect: 'ok' },
        { tool: 'alerts_list_silences', label: 'active silences', arguments: {}, expect: 'ok' },
        {
          tool: 'alerts_create_silence',
          label: 'new silence',
          arguments: {
            matchers: ['alertname="HighErrorRate"', 'service="checkout"'],
            author: 'contract',
            comment: 'contract case',
            duration: '10m',
          },
          expect: 'ok',
          check: expectValue('silence.matchers', ['alertname="HighErrorRate"', 'service="checkout"']),
        },
        {
          tool: 'alerts_create_silence',
          label: 'match-everything silence refused',
          arguments: { matchers: ['alertname=~".*"'], author: 'contract', comment: 'too wide', duration: '10m' },
          expect: 'error',
        },
        {
          tool: 'alerts_expire_silence',
          label: 'expire',
          arguments: { silenceId: silenceID },
          expect: 'ok',
          check: expectValue('alreadyExpired', false),
        },
        {
          tool: 'alerts_expire_silence',
          label: 'already expired',
          arguments: { silenceId: silenceID },
          expect: 'ok',
          check: expectValue('alreadyExpired', true),
        },
        // alerts_list_rules: broken and firing first, filtered, cut, refused
        {
          tool: 'alerts_list_rules',
          label: 'broken first, firing next, paged',
          arguments: { limit: 2 },
          expect: 'ok',
          check: all(
            expectValue('rules.0.health', 'err'),
            expectValue('rules.1.state', 'firing'),
            expectValue('truncated', true),
            expectKeys(['counts', 'nextCursor']),
          ),
        },
        {
          tool: 'alerts_list_rules',
          label: 'pending, active alerts cut',
          arguments: { state: ['pending'], alertsPerRule: 1 },
          expect: 'ok',
          check: all(expectValue('total', 1), expectValue('rules.0.for', '1h'), expectKeys(['cut'])),
        },
        {
          tool: 'alerts_list_rules',
          label: 'recording rules, long query cut',
          arguments: { type: 'record' },
          expect: 'ok',
          check: all(expectValue('total', 2), expectKeys(['cut'])),
        },
        {
          tool: 'alerts_list_rules',
          label: 'no match',
          arguments: { matchers: ['team="nobody"'] },
          expect: 'ok',
          check: expectValue('total', 0),
        },
        {
          tool: 'alerts_list_rules',
          label: 'malformed matcher',
          arguments: { matchers: ['severity==critical'] },
          expect: 'error',
        },
        // logs
        {
          tool: 'logs_search',
          label: 'lines, limit reached',
          arguments: { query: '{service_name="checkout"} |= "error"', limit: 3 },
          expect: 'ok',
          check: all(expectValue('returned', 3), expectValue('truncated', true)),
        },
        {
          tool: 'logs_search',
          label: 'no lines',
          arguments: { query: '{service_name="nothing-here"}' },
          expect: 'ok',
          check: expectValue('returned', 0),
        },
        {
          tool: 'logs_search',
          label: "Loki's query timeout (504)",
          arguments: { query: '{service_name="noisy"}' },
          expect: 'error',
          check: (_s, text) => {
            if (!/ERR_BACKEND_TIMEOUT/.test(text))
              throw new Error(`expected ERR_BACKEND_TIMEOUT: ${text.slice(0, 200)}`);
          },
        },
        {
          tool: 'logs_search',
          label: 'LogQL parse error',
          arguments: { query: '{service_name="checkout"} |= error' },
          expect: 'error',
        },
        {
          tool: 'logs_query_metric',
          label: 'error counts by service, summarized',
          arguments: {
            query: 'sum by (service_name) (count_over_time({service_name=~"checkout|db"} |= "error" [1m]))',
            start: 'now-15m',
            step: '1m',
          },
          expect: 'ok',
          check: all(expectValue('total', 2), expectKeys(['series', 'rest', 'scanned'])),
        },
        {
          tool: 'logs_query_metric',
          label: 'raw points, top 1, truncated page',
          arguments: {
            query: 'sum by (service_name) (count_over_time({service_name=~"checkout|db"} [1m]))',
            start: 'now-15m',
            step: '1m',
            mode: 'raw',
            topK: 1,
          },
          expect: 'ok',
          check: all(expectValue('returned', 1), expectValue('truncated', true), expectKeys(['raw', 'nextCursor'])),
        },
        {
          tool: 'logs_query_metric',
          label: 'a log query, refused',
          arguments: { query: '{service_name="checkout"}' },
          expect: 'error',
        },
        {
          tool: 'logs_query_metric',
          label: 'LogQL parse error',
          arguments: { query: 'sum(count_over_time({service_name="checkout"}))' },
          expect: 'error',
        },
        { tool: 'logs_list_labels', label: 'labels', arguments: {}, expect: 'ok' },
        {
          tool: 'logs_list_label_values',
          label: 'values',
          arguments: { label: 'service_name' },
          expect: 'ok',
        },
        // traces
        {
          tool: 'traces_get',
          label: 'complete trace',
          arguments: { traceId: TRACE_IDS.checkout },
          expect: 'ok',
          check: expectValue('rootService', 'gateway'),
        },
        {
          tool: 'traces_get',
          label: 'orphan span before the true root',
          arguments: { traceId: TRACE_IDS.skewed },
          expect: 'ok',
          check: all(expectValue('rootService', 'gateway'), expectValue('orphans', 1)),
        },
        {
          tool: 'traces_get',
          label: "partial: over Tempo's size limit",
          arguments: { traceId: TRACE_IDS.huge, maxSpans: 5 },
          expect: 'ok',
          check: expectKeys(['partial']),
        },
        {
          tool: 'traces_get',
          label: 'unknown trace',
          arguments: { traceId: 'deadbeefdeadbeefdeadbeefdeadbeef' },
          expect: 'error',
        },
        {
          tool: 'traces_search',
          label: 'matches',
          arguments: { query: '{ status = error }' },
          expect: 'ok',
        },
        {
          tool: 'traces_search',
          label: 'root not yet received, sub-millisecond',
          arguments: { query: '{ resource.service.name = "cache" }' },
          expect: 'ok',
          check: all(expectValue('traces.0.rootService', null), expectValue('traces.0.durationMs', 0)),
        },
        {
          tool: 'traces_search',
          label: 'no matches',
          arguments: { query: '{ resource.service.name = "nobody" }' },
          expect: 'ok',
          check: expectValue('returned', 0),
        },
        { tool: 'traces_search', label: 'TraceQL parse error', arguments: { query: '{ status = }' }, expect: 'error' },
        // dashboards
        {
          tool: 'dashboards_search',
          label: 'paged',
          arguments: { limit: 1 },
          expect: 'ok',
          check: expectValue('truncated', true),
        },
        { tool: 'dashboards_search', label: 'no match', arguments: { query: 'zzz-none' }, expect: 'ok' },
        {
          tool: 'dashboards_get',
          label: 'panels, rows and variables',
          arguments: { uid: 'checkout-overview' },
          expect: 'ok',
        },
        {
          tool: 'dashboards_get',
          label: 'library panel resolved, __expr__ target, variables',
          arguments: { uid: 'db-overview', libraryPanels: true },
          expect: 'ok',
          check: all(
            expectValue('panels.0.type', 'timeseries'),
            expectValue('panels.1.queries.1.query', 'math: $A * 100'),
          ),
        },
        {
          tool: 'dashboards_get',
          label: 'v2-schema dashboard',
          arguments: { uid: 'v2-dash' },
          expect: 'ok',
          check: expectValue('schema', 'v2'),
        },
        { tool: 'dashboards_get', label: 'unknown uid', arguments: { uid: 'nope' }, expect: 'error' },
        // incident
        {
          tool: 'incident_get_context',
          label: 'service with alerts, metrics and logs',
          arguments: { service: 'checkout', range: '5m' },
          expect: 'ok',
          check: expectValue('failedBackends', []),
        },
        {
          tool: 'incident_get_context',
          label: 'unknown alert: sections skipped',
          arguments: { alertName: 'NoSuchAlert' },
          expect: 'ok',
          check: expectValue('service', null),
        },
        { tool: 'incident_get_context', label: 'neither service nor alert', arguments: {}, expect: 'error' },
      ];
      return {
        env: {
          PROMETHEUS_URL: prom.url,
          ALERTMANAGER_URL: am.url,
          LOKI_URL: loki.url,
          TEMPO_URL: tempo.url,
          GRAFANA_URL: grafana.url,
          GRAFANA_TOKEN,
          RAVENHELM_AUDIT_FILE: join(state, 'audit.jsonl'),
        },
        cases,
        stop,
      };
    } catch (err) {
      await stop();
      throw err;
    }
  },
};

export default suite;
