import { createRequire } from 'node:module';
import {
  type AnyTool,
  type BackendRecorder,
  DEFAULT_MAX_CONCURRENT_CALLS,
  defineServer,
  Semaphore,
  specsOf,
} from '@ravenhelm/kit';
import { z } from 'zod';
import { AlertmanagerBackend } from './backends/alertmanager.js';
import { endpointConfig } from './backends/common.js';
import { GrafanaBackend } from './backends/grafana.js';
import { LokiBackend } from './backends/loki.js';
import { PrometheusBackend } from './backends/prometheus.js';
import { TempoBackend } from './backends/tempo.js';
import { alertTools } from './tools/alerts.js';
import { dashboardTools } from './tools/dashboards.js';
import type { ObservabilityServices } from './tools/define.js';
import { incidentTools } from './tools/incident.js';
import { logTools } from './tools/logs.js';
import { metricsTools } from './tools/metrics.js';
import { ruleTools } from './tools/rules.js';
import { traceTools } from './tools/traces.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Every tool of the observability server, in the order tools/list shows them. */
export const tools: readonly AnyTool<ObservabilityServices>[] = [
  ...metricsTools,
  ...alertTools,
  ...ruleTools,
  ...logTools,
  ...traceTools,
  ...dashboardTools,
  ...incidentTools,
];

const FAMILIES = ['prometheus', 'alertmanager', 'loki', 'tempo', 'grafana'] as const;

export const ObservabilityBackendConfig = z.object({
  // Range answers are summarized, so Prometheus may read more than the others before the output budget applies.
  prometheus: endpointConfig('Prometheus', 'http://127.0.0.1:9090', 16 * 1024 * 1024),
  alertmanager: endpointConfig('Alertmanager', 'http://127.0.0.1:9093'),
  loki: endpointConfig('Loki', 'http://127.0.0.1:3100'),
  tempo: endpointConfig('Tempo', 'http://127.0.0.1:3200'),
  grafana: endpointConfig('Grafana', 'http://127.0.0.1:3000'),
  maxConcurrentCalls: z.coerce
    .number()
    .int()
    .min(1)
    .max(256)
    .default(DEFAULT_MAX_CONCURRENT_CALLS)
    .describe('Backend calls in flight at once across all five backends; more wait within their own deadline'),
  incident: z
    .object({
      serviceLabels: z
        .array(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/))
        .min(1)
        .max(10)
        .default(['service', 'job', 'app'])
        .describe('Alert labels that name a service'),
      metricTemplates: z
        .array(z.object({ name: z.string().min(1).max(100), query: z.string().min(1).max(2000) }))
        .max(10)
        .default([
          { name: 'up', query: 'up{job="$service"}' },
          { name: 'request rate', query: 'sum(rate(http_requests_total{service="$service"}[5m]))' },
          {
            name: 'error ratio',
            query:
              'sum(rate(http_requests_total{service="$service",code=~"5.."}[5m])) / sum(rate(http_requests_total{service="$service"}[5m]))',
          },
        ])
        .describe('PromQL summarized for a service; "$service" is replaced by the quoted-safe service name'),
      logQuery: z
        .string()
        .min(3)
        .max(2000)
        .default('{service_name="$service"} |~ "(?i)(error|exception|fatal|panic)"')
        .describe('LogQL for recent error lines; "$service" is replaced by the service name'),
    })
    .prefault({}),
});

export type ObservabilityBackendConfig = z.output<typeof ObservabilityBackendConfig>;

const env: Record<string, string> = {};
for (const f of FAMILIES) {
  const prefix = f.toUpperCase();
  env[`${prefix}_URL`] = `${f}.url`;
  env[`${prefix}_TIMEOUT_MS`] = `${f}.timeoutMs`;
  env[`${prefix}_TENANT`] = `${f}.tenant`;
  env[`${prefix}_TOKEN`] = `${f}.auth.token`;
  env[`${prefix}_USERNAME`] = `${f}.auth.username`;
  env[`${prefix}_PASSWORD`] = `${f}.auth.password`;
  env[`${prefix}_MAX_RESPONSE_BYTES`] = `${f}.maxResponseBytes`;
}
env.OBSERVABILITY_MAX_CONCURRENT_CALLS = 'maxConcurrentCalls';

/** Builds the backend clients from a validated config section. */
export function createObservabilityServices(
  config: ObservabilityBackendConfig,
  metrics?: BackendRecorder,
): ObservabilityServices {
  const limiter = new Semaphore(config.maxConcurrentCalls);
  const opts = <F extends (typeof FAMILIES)[number]>(f: F) => ({
    ...config[f],
    maxResponseBytesSetting: `backend.${f}.maxResponseBytes (${f.toUpperCase()}_MAX_RESPONSE_BYTES)`,
    limiter,
    metrics,
    backend: f,
  });
  return {
    prometheus: new PrometheusBackend(opts('prometheus')),
    alertmanager: new AlertmanagerBackend(opts('alertmanager')),
    loki: new LokiBackend(opts('loki')),
    tempo: new TempoBackend(opts('tempo')),
    grafana: new GrafanaBackend(opts('grafana')),
    incident: config.incident,
  };
}

export const observabilityServer = defineServer({
  name: 'observability',
  version,
  defaultPort: 8702,
  description: 'Prometheus, Alertmanager, Loki, Tempo and Grafana: metrics, alerts, logs, traces, dashboards',
  tools,
  /** What on-call asks first; the rest is one toolsets_enable away (RAVENHELM_TOOLSETS=default). */
  defaultToolsets: ['incident', 'alerts', 'metrics', 'logs'],
  backendConfig: ObservabilityBackendConfig,
  backendEnv: env,
  secretPaths: FAMILIES.flatMap((f) => [`${f}.auth.token`, `${f}.auth.password`]),
  createServices: (config, { metrics }) => createObservabilityServices(config, metrics),
  ready: async ({ prometheus }, signal) => {
    await prometheus.ready(signal);
  },
  close: async () => {
    // fetch keeps no per-backend state to release.
  },
});

/** The registry's view of this server's tools: read by the registry CLI, docs and snapshots. */
export const toolSpecs = specsOf(observabilityServer);

export { AlertmanagerBackend } from './backends/alertmanager.js';
export { type BackendOptions, endpointConfig } from './backends/common.js';
export { GrafanaBackend } from './backends/grafana.js';
export { LokiBackend } from './backends/loki.js';
export { PrometheusBackend } from './backends/prometheus.js';
export { TempoBackend } from './backends/tempo.js';
export type { IncidentSettings, ObservabilityServices } from './tools/define.js';
