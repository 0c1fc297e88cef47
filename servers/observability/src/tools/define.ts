import { createHash } from 'node:crypto';
import { createToolDefiner, decodeCursor, encodeCursor, pageList, ToolError } from '@ravenhelm/kit';
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

/** A short hex hash of an item's id: the tie-break of a keyset order (any total order will do). */
export function idKey(id: string, chars = 12): string {
  return createHash('sha256').update(id).digest('hex').slice(0, chars);
}

/**
 * An instant as a fixed-width key that sorts newest first (ms from year 275760 down; years before 1970 too);
 * a time that does not parse sorts last.
 */
export function newestFirstKey(ms: number): string {
  const MAX_MS = 8.64e15; // the ECMAScript time range, both ways
  return Number.isFinite(ms) ? String(MAX_MS - ms).padStart(17, '0') : '9'.repeat(17);
}

/** A page of a keyset-ordered list, and whether the items before it changed since the cursor was issued. */
export interface KeysetPage<T> {
  items: T[];
  total: number;
  returned: number;
  truncated: boolean;
  nextCursor?: string;
  changed: boolean;
}

const KEYSET_CURSOR = /^([a-z])\.([0-9a-f]{1,40})\.([A-Za-z0-9_-]{11})$/;

/**
 * Pages a list that changes between calls (alerts resolve and fire, silences expire) by key, not by offset:
 * rows are ordered by their keys (plain string order, every key distinct); the cursor holds the last key shown
 * and a digest of the keys shown so far. The next page starts after that key wherever the list now stands (an
 * item gone or added before it shifts nothing), and `changed` says the set before it is not the one shown.
 */
export function keysetPage<T>(
  keyed: readonly { key: string; row: T }[],
  opts: { tag: string; tool: string; cursor: string | undefined; limit: number; maxBytes: number },
): KeysetPage<T> {
  const sorted = [...keyed].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  const keys = sorted.map((k) => k.key);
  const rows = sorted.map((k) => k.row);
  let start = 0;
  let changed = false;
  if (opts.cursor) {
    const m = KEYSET_CURSOR.exec(opts.cursor);
    if (m && m[1] === opts.tag) {
      const last = m[2] as string;
      start = keys.findIndex((k) => k > last);
      if (start < 0) start = keys.length;
      changed = setDigest(keys.slice(0, start)) !== m[3];
    } else {
      // an offset cursor from an older replica, or none this tool issued
      try {
        start = Math.min(decodeCursor(opts.cursor), keys.length);
      } catch {
        throw new ToolError(
          'ERR_INVALID_INPUT',
          `cursor is not one ${opts.tool} issued; omit it to start from the first page`,
        );
      }
    }
  }
  const page = pageList(rows, { cursor: encodeCursor(start), limit: opts.limit, maxBytes: opts.maxBytes });
  const end = start + page.returned;
  const { nextCursor: _offset, ...rest } = page;
  return {
    ...rest,
    ...(page.truncated ? { nextCursor: `${opts.tag}.${keys[end - 1]}.${setDigest(keys.slice(0, end))}` } : {}),
    changed,
  };
}
