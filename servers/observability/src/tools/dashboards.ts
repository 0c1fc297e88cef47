import { jsonBytes, ListPage, pageList, RavenhelmError, sliceChars } from '@ravenhelm/kit';
import { z } from 'zod';
import { GRAFANA_SEARCH_MAX } from '../backends/grafana.js';
import {
  boundedVariables,
  flattenPanels,
  flattenV2,
  PanelSummary,
  VariableSummary,
  variablesOf,
  variablesOfV2,
  withLibraryModel,
} from './dashboard-model.js';
import { Cursor, defineTool, listBudget, READ_ANNOTATIONS, withoutItems } from './define.js';

/** Library panel models fetched per call, at most. */
const MAX_LIBRARY_FETCHES = 20;

export const dashboardsSearch = defineTool({
  name: 'dashboards_search',
  toolset: 'dashboards',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Search dashboards',
  description: 'Grafana dashboards by title text and tags.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    query: z.string().min(1).max(200).optional().describe('Title text'),
    tags: z.array(z.string().min(1).max(100)).max(10).optional().describe('All required'),
    limit: z.number().int().min(1).max(200).default(20),
    cursor: Cursor,
  }),
  output: z.object({
    dashboards: z.array(
      z.object({
        uid: z.string(),
        title: z.string(),
        folder: z.string(),
        tags: z.array(z.string()),
        url: z.string(),
      }),
    ),
    ...ListPage,
    capped: z.string().optional(),
  }),
  handler: async (input, { grafana, signal, maxOutputBytes }) => {
    const hits = await grafana.search(
      { query: input.query, tags: input.tags, limit: GRAFANA_SEARCH_MAX, page: 1 },
      signal,
    );
    // Grafana returns at most 5000 hits per request; a full page means more may match.
    const capped =
      hits.length >= GRAFANA_SEARCH_MAX
        ? `Grafana returned its maximum of ${GRAFANA_SEARCH_MAX} hits; more dashboards may match: narrow query or tags`
        : undefined;
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
    return { dashboards: page.items, ...withoutItems(page), ...(capped ? { capped } : {}) };
  },
});

export const dashboardsGet = defineTool({
  name: 'dashboards_get',
  toolset: 'dashboards',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Get a dashboard',
  description: 'One Grafana dashboard: variables, panels and their queries.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    uid: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,40}$/, 'must be a dashboard uid')
      .describe('Dashboard uid'),
    maxPanels: z.number().int().min(1).max(300).default(100),
    libraryPanels: z.boolean().default(false).describe('Fetch their models'),
    cursor: Cursor,
  }),
  output: z.object({
    uid: z.string(),
    schema: z.enum(['v1', 'v2']),
    title: z.string(),
    folder: z.string(),
    folderUid: z.string().nullable(),
    tags: z.array(z.string()),
    url: z.string(),
    version: z.number().int().nullable(),
    variables: z.array(VariableSummary),
    rows: z.array(z.string()),
    panels: z.array(PanelSummary),
    ...ListPage,
  }),
  handler: async (input, { grafana, signal, maxOutputBytes }) => {
    const found = await grafana.dashboard(input.uid, signal);
    let head: {
      title: string;
      folder: string;
      folderUid: string | null;
      tags: string[];
      url: string;
      version: number | null;
    };
    let all: PanelSummary[];
    let variables: VariableSummary[];
    if (found.schema === 'v1') {
      const { meta, dashboard } = found;
      head = {
        title: String(dashboard.title ?? ''),
        folder: meta.folderTitle ?? 'General',
        folderUid: meta.folderUid || null,
        tags: Array.isArray(dashboard.tags) ? dashboard.tags.map(String) : [],
        url: meta.url ?? '',
        version: typeof meta.version === 'number' ? meta.version : null,
      };
      all = flattenPanels(dashboard);
      variables = variablesOf(dashboard);
    } else {
      const { metadata, spec } = found;
      const annotations = (metadata.annotations ?? {}) as Record<string, unknown>;
      const folderUid =
        typeof annotations['grafana.app/folder'] === 'string' ? annotations['grafana.app/folder'] : null;
      head = {
        title: String(spec.title ?? ''),
        folder: folderUid ? ((await grafana.folderTitle(folderUid, signal)) ?? folderUid) : 'General',
        folderUid,
        tags: Array.isArray(spec.tags) ? spec.tags.map(String) : [],
        url: `/d/${input.uid}`,
        version: typeof metadata.generation === 'number' ? metadata.generation : null,
      };
      all = flattenV2(spec);
      variables = variablesOfV2(spec);
    }
    if (input.libraryPanels) all = await resolveLibraryPanels(all, grafana, signal);
    // Variables take at most half the budget, every page; panels in dashboard order, as many as maxPanels and
    // the rest of the budget allow (at least one); the cursor continues after the last one shown.
    const shownVariables = boundedVariables(variables, Math.floor(listBudget(maxOutputBytes) / 2));
    const rows = [...new Set(all.map((p) => p.row).filter((r): r is string => r !== null))];
    const budget = listBudget(maxOutputBytes) - 2048 - jsonBytes(shownVariables) - jsonBytes(rows);
    const page = pageList(all, { cursor: input.cursor, limit: input.maxPanels, maxBytes: budget });
    return {
      uid: input.uid,
      schema: found.schema,
      ...head,
      variables: shownVariables,
      rows,
      panels: page.items,
      ...withoutItems(page),
    };
  },
});

/** Fetches each distinct library panel once (bounded); a failure is stated on the panel, not fatal. */
async function resolveLibraryPanels(
  panels: PanelSummary[],
  grafana: { libraryElement: (uid: string, signal?: AbortSignal) => Promise<{ model: Record<string, unknown> }> },
  signal: AbortSignal,
): Promise<PanelSummary[]> {
  const uids = [...new Set(panels.flatMap((p) => (p.library?.uid ? [p.library.uid] : [])))];
  const models = new Map<string, Record<string, unknown> | string>();
  await Promise.all(
    uids.slice(0, MAX_LIBRARY_FETCHES).map(async (uid) => {
      try {
        models.set(uid, (await grafana.libraryElement(uid, signal)).model);
      } catch (err) {
        models.set(uid, err instanceof RavenhelmError ? err.message : 'could not be read');
      }
    }),
  );
  return panels.map((p) => {
    if (!p.library) return p;
    const model = models.get(p.library.uid);
    if (model === undefined) return { ...p, libraryError: `not fetched: over ${MAX_LIBRARY_FETCHES} library panels` };
    return typeof model === 'string' ? { ...p, libraryError: sliceChars(model, 300) } : withLibraryModel(p, model);
  });
}

export const dashboardTools = [dashboardsSearch, dashboardsGet];
