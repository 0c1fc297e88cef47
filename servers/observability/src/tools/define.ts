import {
  changedNote,
  createToolDefiner,
  cursorState,
  pageByKey,
  ToolError,
  tupleKey,
  wellFormed,
} from '@ravenhelm/kit';
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
    /** From pagingNow: the instant the listing's relative times were read at. */
    state?: Buffer | undefined;
  },
): { items: T[]; total: number; returned: number; truncated: boolean; nextCursor?: string; note?: string } {
  const { changed, ...page } = pageByKey(distinctKeys(entries), {
    tool: opts.tool,
    bind: JSON.stringify(opts.bind),
    cursor: opts.cursor,
    limit: opts.limit,
    maxBytes: opts.maxBytes,
    state: opts.state,
  });
  return changed ? { ...page, note: `${changedNote(opts.what)}${opts.why ?? ''}` } : page;
}

/** A time input read against "now": "now", "now-1h", or omitted where the default is now. */
export const readsNow = (time: string | undefined): boolean => time === undefined || /^\s*now\b/.test(time);

/**
 * The instant a listing's relative times ("now-1h", an omitted end) are read at. A first page reads the clock and
 * its cursor carries that instant (6 bytes of ms, bound to the tool and its arguments by pageByKey), so every
 * later page reads the same window, and so the same series in the same order, instead of one that moved with
 * the clock. `relative` false (all times absolute): nothing to carry.
 */
export function pagingNow(
  listing: { tool: string; bind: unknown; cursor: string | undefined },
  relative: boolean,
): { nowMs: number; state?: Buffer } {
  const carried = cursorState(listing.cursor, { tool: listing.tool, bind: JSON.stringify(listing.bind) });
  if (carried !== undefined && carried.length !== 6) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `cursor is not one ${listing.tool} issued; omit it to start from the first page`,
    );
  }
  if (!relative) {
    if (carried !== undefined) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `cursor is not one ${listing.tool} issued; omit it to start from the first page`,
      );
    }
    return { nowMs: Date.now() };
  }
  const nowMs = carried === undefined ? Date.now() : carried.readUIntBE(0, 6);
  const state = Buffer.alloc(6);
  state.writeUIntBE(nowMs, 0, 6);
  return { nowMs, state };
}
