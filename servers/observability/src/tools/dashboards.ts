import { jsonBytes, ListPage, pageList } from '@ravenhelm/kit';
import { z } from 'zod';
import { defineTool, listBudget, READ_ANNOTATIONS, withoutItems } from './define.js';

const SEARCH_FETCH_LIMIT = 5000;

export const dashboardsSearch = defineTool({
  name: 'dashboards_search',
  toolset: 'dashboards',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Search Grafana dashboards',
  description: 'Find Grafana dashboards by title text and tags; returns uid, title, folder, tags; paged.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    query: z.string().min(1).max(200).optional().describe('Text the title contains'),
    tags: z.array(z.string().min(1).max(100)).max(10).optional().describe('Dashboards must have all these tags'),
    limit: z.number().int().min(1).max(200).default(20).describe('Most dashboards in this page'),
    cursor: z.string().max(64).optional().describe('nextCursor from the previous page'),
  }),
  output: z.object({
    dashboards: z.array(
      z.object({
        uid: z.string(),
        title: z.string(),
        folder: z.string().describe('Folder title ("General" at the root)'),
        tags: z.array(z.string()),
        url: z.string(),
      }),
    ),
    ...ListPage,
  }),
  handler: async (input, { grafana, signal, maxOutputBytes }) => {
    const hits = await grafana.search(
      { query: input.query, tags: input.tags, limit: SEARCH_FETCH_LIMIT, page: 1 },
      signal,
    );
    const rows = hits
      .filter((h) => (h.type ?? 'dash-db') === 'dash-db')
      .map((h) => ({
        uid: h.uid,
        title: h.title,
        folder: h.folderTitle ?? 'General',
        tags: h.tags ?? [],
        url: h.url ?? '',
      }));
    const page = pageList(rows, { cursor: input.cursor, limit: input.limit, maxBytes: listBudget(maxOutputBytes) });
    return { dashboards: page.items, ...withoutItems(page) };
  },
});

const PanelSummary = z.object({
  id: z.number().int().nullable(),
  title: z.string(),
  type: z.string(),
  row: z.string().nullable().describe('Title of the row the panel sits in'),
  datasource: z.string().nullable().describe('"type:uid", a name, or null for the default'),
  queries: z.array(z.object({ refId: z.string(), datasource: z.string().nullable(), query: z.string() })),
});
type PanelSummary = z.output<typeof PanelSummary>;

type Json = Record<string, unknown>;

function datasourceOf(ds: unknown): string | null {
  if (typeof ds === 'string') return ds;
  if (ds && typeof ds === 'object') {
    const { type, uid } = ds as { type?: string; uid?: string };
    if (type || uid) return [type, uid].filter(Boolean).join(':');
  }
  return null;
}

function queriesOf(panel: Json): PanelSummary['queries'] {
  const targets = Array.isArray(panel.targets) ? (panel.targets as Json[]) : [];
  return targets.slice(0, 10).map((t, i) => {
    const text = [t.expr, t.query, t.rawSql, t.rawQuery, t.target].find((v) => typeof v === 'string' && v !== '');
    return {
      refId: typeof t.refId === 'string' ? t.refId : String.fromCharCode(65 + i),
      datasource: datasourceOf(t.datasource),
      query: typeof text === 'string' ? (text.length > 500 ? `${text.slice(0, 500)}…` : text) : '',
    };
  });
}

function panelSummary(panel: Json, row: string | null): PanelSummary {
  return {
    id: typeof panel.id === 'number' ? panel.id : null,
    title: typeof panel.title === 'string' ? panel.title : '',
    type: typeof panel.type === 'string' ? panel.type : 'unknown',
    row,
    datasource: datasourceOf(panel.datasource),
    queries: queriesOf(panel),
  };
}

/** Every panel with the row it sits in: rows are panels of type "row" (collapsed ones hold their panels), or legacy `rows`. */
export function flattenPanels(dashboard: Json): PanelSummary[] {
  const out: PanelSummary[] = [];
  let row: string | null = null;
  for (const p of Array.isArray(dashboard.panels) ? (dashboard.panels as Json[]) : []) {
    if (p.type === 'row') {
      row = typeof p.title === 'string' ? p.title : '';
      for (const inner of Array.isArray(p.panels) ? (p.panels as Json[]) : []) out.push(panelSummary(inner, row));
      continue;
    }
    out.push(panelSummary(p, row));
  }
  for (const r of Array.isArray(dashboard.rows) ? (dashboard.rows as Json[]) : []) {
    const title = typeof r.title === 'string' ? r.title : '';
    for (const p of Array.isArray(r.panels) ? (r.panels as Json[]) : []) out.push(panelSummary(p, title));
  }
  return out;
}

export const dashboardsGet = defineTool({
  name: 'dashboards_get',
  toolset: 'dashboards',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Summarize a Grafana dashboard',
  description:
    'One dashboard by uid as a summary: title, folder, tags, variables and panels (title, type, datasource, queries) with rows flattened; not raw JSON.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    uid: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/, 'must be a dashboard uid')
      .describe('Dashboard uid, from dashboards_search'),
    maxPanels: z.number().int().min(1).max(300).default(100).describe('Most panels listed'),
  }),
  output: z.object({
    uid: z.string(),
    title: z.string(),
    folder: z.string(),
    folderUid: z.string().nullable(),
    tags: z.array(z.string()),
    url: z.string(),
    version: z.number().int().nullable(),
    variables: z.array(z.string()).describe('Template variable names ($name in queries)'),
    rows: z.array(z.string()),
    panels: z.array(PanelSummary),
    total: z.number().int().describe('Panels on the dashboard'),
    returned: z.number().int(),
    truncated: z.boolean(),
  }),
  handler: async (input, { grafana, signal, maxOutputBytes }) => {
    const { meta, dashboard } = await grafana.dashboard(input.uid, signal);
    const all = flattenPanels(dashboard);
    let take = Math.min(input.maxPanels, all.length);
    const budget = listBudget(maxOutputBytes) - 2048;
    while (take > 1 && jsonBytes(all.slice(0, take)) > budget) take = Math.floor(take * 0.8);
    const panels = all.slice(0, take);
    const templating = (dashboard.templating as { list?: { name?: unknown }[] } | undefined)?.list ?? [];
    return {
      uid: String(dashboard.uid ?? input.uid),
      title: String(dashboard.title ?? ''),
      folder: meta.folderTitle ?? 'General',
      folderUid: meta.folderUid || null,
      tags: Array.isArray(dashboard.tags) ? dashboard.tags.map(String) : [],
      url: meta.url ?? '',
      version: typeof meta.version === 'number' ? meta.version : null,
      variables: templating.map((v) => String(v.name ?? '')).slice(0, 50),
      rows: [...new Set(all.map((p) => p.row).filter((r): r is string => r !== null))],
      panels,
      total: all.length,
      returned: panels.length,
      truncated: panels.length < all.length,
    };
  },
});

export const dashboardTools = [dashboardsSearch, dashboardsGet];
