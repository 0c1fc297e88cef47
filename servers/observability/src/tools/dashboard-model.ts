/**
 * Reading Grafana dashboard models into panel summaries: the classic JSON model (panels, row panels, legacy
 * rows, library panel references, `__expr__` targets, `templating.list`) and the v2 schema (elements, layouts,
 * DataQueryKind queries, LibraryPanelKind, variables as kinds).
 */

import { clipChars, jsonBytes } from '@ravenhelm/kit';
import { z } from 'zod';

type Json = Record<string, unknown>;

const MAX_QUERY_CHARS = 500;
/** Queries summarized per panel, at most; a panel with more says so in its `cut`. */
const MAX_PANEL_QUERIES = 10;
/** Template variables listed, at most; the last one shown says what was left out in its `cut`. */
export const MAX_VARIABLES = 50;

export const PanelSummary = z.object({
  id: z.number().int().nullable(),
  title: z.string(),
  type: z.string(),
  row: z.string().nullable(),
  datasource: z.string().nullable(),
  queries: z.array(z.object({ refId: z.string(), datasource: z.string().nullable(), query: z.string() })),
  /** What the bounds left out of this panel; absent when nothing was. */
  cut: z.array(z.string()).optional(),
  library: z.object({ uid: z.string(), name: z.string() }).optional(),
  libraryError: z.string().optional(),
});
export type PanelSummary = z.output<typeof PanelSummary>;

export const VariableSummary = z.object({
  name: z.string(),
  type: z.string(),
  query: z.string().optional(),
  current: z.string().optional(),
  /** On the last variable shown when the bounds left variables out; absent otherwise. */
  cut: z.array(z.string()).optional(),
});
export type VariableSummary = z.output<typeof VariableSummary>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const list = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]).map(obj) : []);
const cut = (s: string, n = MAX_QUERY_CHARS) => clipChars(s, n);

export function datasourceOf(ds: unknown): string | null {
  if (typeof ds === 'string') return ds;
  if (ds && typeof ds === 'object') {
    const { type, uid } = ds as { type?: string; uid?: string };
    if (type || uid) return [type, uid].filter(Boolean).join(':');
  }
  return null;
}

const isExpression = (ds: unknown) =>
  ds === '__expr__' ||
  (ds && typeof ds === 'object' && ((ds as Json).type === '__expr__' || (ds as Json).uid === '__expr__'));

/** A target's text: the query field its datasource uses; server-side expressions keep theirs in `expression`. */
function queryText(t: Json, datasource: unknown): string {
  if (isExpression(datasource) || isExpression(t.datasource)) {
    const kind = str(t.type);
    const reducer = kind === 'reduce' ? str(t.reducer) : undefined;
    const text = str(t.expression) ?? '';
    return cut(kind ? `${kind}${reducer ? ` ${reducer}` : ''}: ${text}` : text);
  }
  const text = [t.expr, t.query, t.rawSql, t.rawQuery, t.target, t.expression].find(
    (v) => typeof v === 'string' && v !== '',
  );
  return typeof text === 'string' ? cut(text) : '';
}

/** The first MAX_PANEL_QUERIES of a panel's queries, summarized, and the panel's `cut` when it has more. */
function boundedQueries(
  all: Json[],
  summarize: (q: Json, i: number) => PanelSummary['queries'][number],
): Pick<PanelSummary, 'queries' | 'cut'> {
  const queries = all.slice(0, MAX_PANEL_QUERIES).map(summarize);
  if (all.length <= MAX_PANEL_QUERIES) return { queries };
  return {
    queries,
    cut: [`queries: ${MAX_PANEL_QUERIES} of ${all.length} shown; no tool shows the rest (the panel in Grafana does)`],
  };
}

function v1Queries(panel: Json): Pick<PanelSummary, 'queries' | 'cut'> {
  return boundedQueries(list(panel.targets), (t, i) => ({
    refId: str(t.refId) ?? String.fromCharCode(65 + i),
    datasource: datasourceOf(t.datasource),
    query: queryText(t, t.datasource ?? panel.datasource),
  }));
}

function v1Panel(panel: Json, row: string | null): PanelSummary {
  const lib = obj(panel.libraryPanel);
  const libUid = str(lib.uid);
  return {
    id: typeof panel.id === 'number' ? panel.id : null,
    title: str(panel.title) ?? str(lib.name) ?? '',
    type: str(panel.type) ?? (libUid ? 'library-panel' : 'unknown'),
    row,
    datasource: datasourceOf(panel.datasource),
    ...v1Queries(panel),
    ...(libUid ? { library: { uid: libUid, name: str(lib.name) ?? '' } } : {}),
  };
}

/** Every panel of a classic model with the row it sits in (row panels, collapsed rows, legacy `rows`). */
export function flattenPanels(dashboard: Json): PanelSummary[] {
  const out: PanelSummary[] = [];
  let row: string | null = null;
  for (const p of list(dashboard.panels)) {
    if (p.type === 'row') {
      row = typeof p.title === 'string' ? p.title : '';
      for (const inner of list(p.panels)) out.push(v1Panel(inner, row));
      continue;
    }
    out.push(v1Panel(p, row));
  }
  for (const r of list(dashboard.rows)) {
    const title = typeof r.title === 'string' ? r.title : '';
    for (const p of list(r.panels)) out.push(v1Panel(p, title));
  }
  return out;
}

/** `templating.list` entries: name, type, the query that fills them, the current value. */
export function variablesOf(dashboard: Json): VariableSummary[] {
  return list(obj(dashboard.templating).list).map((v) => variable(v, str(v.type) ?? 'unknown'));
}

function variable(v: Json, type: string): VariableSummary {
  const q = v.query;
  const query = typeof q === 'string' ? q : (str(obj(q).query) ?? str(obj(obj(q).spec).query) ?? str(v.definition));
  const cur = obj(v.current);
  const value = Array.isArray(cur.value) ? cur.value.join(',') : typeof cur.value === 'string' ? cur.value : undefined;
  return {
    name: cut(str(v.name) ?? '', 100),
    type: cut(type, 100),
    ...(query ? { query: cut(query, 300) } : {}),
    ...(value ? { current: cut(value, 200) } : {}),
  };
}

/**
 * The first variables, at most MAX_VARIABLES and `maxBytes` of them (at least one), in dashboard order; when
 * some are left out the last one shown says how many in its `cut` (no tool pages variables).
 */
export function boundedVariables(all: VariableSummary[], maxBytes: number): VariableSummary[] {
  const statement = (shown: number) =>
    `variables: ${shown} of ${all.length} shown; no tool shows the rest (the dashboard's settings in Grafana do)`;
  const room = maxBytes - Buffer.byteLength(statement(all.length)) - 16;
  const kept: VariableSummary[] = [];
  let used = 2;
  for (const v of all.slice(0, MAX_VARIABLES)) {
    const size = jsonBytes(v) + 1;
    if (kept.length > 0 && used + size > room) break;
    kept.push(v);
    used += size;
  }
  if (kept.length === all.length) return kept;
  const last = kept.length - 1;
  return kept.map((v, i) => (i === last ? { ...v, cut: [statement(kept.length)] } : v));
}

/** Applies a library panel's saved model to its reference (type, datasource, queries; the dashboard's title wins). */
export function withLibraryModel(panel: PanelSummary, model: Json): PanelSummary {
  const from = v1Panel({ ...model, id: panel.id, title: panel.title || model.title }, panel.row);
  return { ...from, library: panel.library, type: from.type === 'library-panel' ? 'unknown' : from.type };
}

// --- v2 schema (apps/dashboard/pkg/apis/dashboard/v2beta1/dashboard_spec.cue) ---

function v2Queries(panelSpec: Json): Pick<PanelSummary, 'queries' | 'cut'> {
  return boundedQueries(list(obj(obj(panelSpec.data).spec).queries), (q, i) => {
    const spec = obj(q.spec);
    const dq = obj(spec.query);
    // v2beta1: DataQueryKind {group, datasource: {name}, spec}; v2alpha1: {kind: <type>, spec} + spec.datasource
    const type = str(dq.group) ?? str(dq.kind);
    const uid = str(obj(dq.datasource).name) ?? str(obj(spec.datasource).uid);
    const ds = type || uid ? [type, uid].filter(Boolean).join(':') : null;
    const inner = obj(dq.spec);
    return {
      refId: str(spec.refId) ?? String.fromCharCode(65 + i),
      datasource: ds,
      query: queryText(inner, type === '__expr__' ? '__expr__' : undefined),
    };
  });
}

function v2Element(name: string, element: Json, row: string | null): PanelSummary {
  const spec = obj(element.spec);
  const id = typeof spec.id === 'number' ? spec.id : null;
  if (element.kind === 'LibraryPanel') {
    const lib = obj(spec.libraryPanel);
    return {
      id,
      title: str(spec.title) ?? str(lib.name) ?? name,
      type: 'library-panel',
      row,
      datasource: null,
      queries: [],
      library: { uid: str(lib.uid) ?? '', name: str(lib.name) ?? '' },
    };
  }
  const viz = obj(spec.vizConfig);
  return {
    id,
    title: str(spec.title) ?? '',
    type: str(viz.group) ?? str(viz.kind) ?? 'unknown',
    row,
    datasource: null,
    ...v2Queries(spec),
  };
}

/** Panels in layout order, each with its row or tab; elements no layout references come last. */
export function flattenV2(spec: Json): PanelSummary[] {
  const elements = obj(spec.elements);
  const out: PanelSummary[] = [];
  const seen = new Set<string>();
  const walk = (layout: Json, row: string | null, depth: number) => {
    if (depth > 8) return;
    const lspec = obj(layout.spec);
    for (const item of list(lspec.items)) {
      const ref = str(obj(obj(item.spec).element).name);
      // own keys only: a layout naming "constructor" or "toString" refers to no element (no phantom panel)
      if (ref && !seen.has(ref) && Object.hasOwn(elements, ref) && elements[ref]) {
        seen.add(ref);
        out.push(v2Element(ref, obj(elements[ref]), row));
      }
    }
    for (const r of [...list(lspec.rows), ...list(lspec.tabs)]) {
      const rspec = obj(r.spec);
      walk(obj(rspec.layout), str(rspec.title) ?? '', depth + 1);
    }
  };
  walk(obj(spec.layout), null, 0);
  for (const [name, el] of Object.entries(elements)) if (!seen.has(name)) out.push(v2Element(name, obj(el), null));
  return out;
}

/** v2 variables: `{kind: "QueryVariable", spec: {name, query: DataQueryKind, current}}`. */
export function variablesOfV2(spec: Json): VariableSummary[] {
  return list(spec.variables).map((v) =>
    variable(obj(v.spec), (str(v.kind) ?? 'unknown').replace(/Variable$/, '').toLowerCase()),
  );
}
