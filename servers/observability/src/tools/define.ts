import { createHash } from 'node:crypto';
import { createToolDefiner } from '@ravenhelm/kit';
import { z } from 'zod';
import type { AlertmanagerBackend } from '../backends/alertmanager.js';
import type { GrafanaBackend } from '../backends/grafana.js';
import type { LokiBackend } from '../backends/loki.js';
import type { PrometheusBackend } from '../backends/prometheus.js';
import type { TempoBackend } from '../backends/tempo.js';

/** How incident_get_context finds a service's alerts, metrics and error logs. */
export interface IncidentSettings {
  /** Alert labels that name a service, tried in order: `service`, `job`, `app`... */
  serviceLabels: readonly string[];
  /** PromQL with `$service` where the service name goes (inside a string literal). */
  metricTemplates: readonly { name: string; query: string }[];
  /** LogQL with `$service`, e.g. `{service_name="$service"} |~ "(?i)error"`. */
  logQuery: string;
}

/** What every observability tool handler receives besides the base context. */
export interface ObservabilityServices {
  prometheus: PrometheusBackend;
  alertmanager: AlertmanagerBackend;
  loki: LokiBackend;
  tempo: TempoBackend;
  grafana: GrafanaBackend;
  incident: IncidentSettings;
}

// Annotated so declaration emit can name the type through the kit's public export.
export const defineTool: ReturnType<typeof createToolDefiner<ObservabilityServices>> =
  createToolDefiner<ObservabilityServices>();

export const READ_ANNOTATIONS = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
} as const;

/** The paging cursor every paged observability tool takes. */
export const Cursor = z.string().max(64).optional().describe('From nextCursor');

/** Leaves room for the envelope around a list when paging within the output budget. */
export function listBudget(maxOutputBytes: number): number {
  return Math.max(1024, maxOutputBytes - 2048);
}

/** A page's list fields without its items (the tool names its own list field). */
export function withoutItems<T extends { items: unknown }>(page: T): Omit<T, 'items'> {
  const { items: _items, ...rest } = page;
  return rest;
}

/**
 * An order-free digest (11 base64url chars of sha256) of the items earlier pages held, for cursors over lists
 * that change between calls (alerts_list_rules, dashboards_search): the next page says so when the items
 * before it are no longer the same set.
 */
export function setDigest(ids: readonly string[]): string {
  return createHash('sha256')
    .update([...ids].sort().join('\0'))
    .digest('base64url')
    .slice(0, 11);
}
