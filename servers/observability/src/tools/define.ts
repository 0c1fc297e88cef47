import { changedNote, createToolDefiner, pageByKey, tupleKey, wellFormed } from '@ravenhelm/kit';
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
 * Entries for the kit's pageByKey, whose keys must be distinct: a key seen before (a backend that lists one
 * item twice, two Alertmanager routes that give one receiver the same group labels) gets the next free
 * occurrence number as a last tuple part, so the repeat keeps its place in the answer's order.
 */
export function distinctKeys<T>(entries: readonly { key: string; item: T }[]): { key: string; item: T }[] {
  const cleaned = entries.map((e) => ({ key: wellFormed(e.key), item: e.item }));
  const taken = new Set(cleaned.map((e) => e.key));
  const seen = new Set<string>();
  return cleaned.map((e) => {
    if (!seen.has(e.key)) {
      seen.add(e.key);
      return e;
    }
    let n = 1;
    while (taken.has(tupleKey(e.key, String(n)))) n++;
    const key = tupleKey(e.key, String(n));
    taken.add(key);
    return { key, item: e.item };
  });
}

/** What a page by key says when the items before it changed (the kit's changedNote); absent otherwise. */
export const PageNote = z.string().optional();

/**
 * A page of `entries` by key (the kit's pageByKey over distinctKeys), its page fields, and a `note` when the
 * items before it are not the set the cursor's page was cut from: `what` names the list, `why` adds a cause.
 */
export function keyPage<T>(
  entries: readonly { key: string; item: T }[],
  opts: {
    tool: string;
    bind: unknown;
    cursor: string | undefined;
    limit: number;
    maxBytes: number;
    what: string;
    why?: string;
  },
): { items: T[]; total: number; returned: number; truncated: boolean; nextCursor?: string; note?: string } {
  const { changed, ...page } = pageByKey(distinctKeys(entries), {
    tool: opts.tool,
    bind: JSON.stringify(opts.bind),
    cursor: opts.cursor,
    limit: opts.limit,
    maxBytes: opts.maxBytes,
  });
  return changed ? { ...page, note: `${changedNote(opts.what)}${opts.why ?? ''}` } : page;
}
