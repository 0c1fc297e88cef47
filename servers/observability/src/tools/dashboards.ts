import { clipChars, jsonBytes, ListPage, pageByKey, RavenhelmError, sliceChars, tupleKey } from '@ravenhelm/kit';
import { z } from 'zod';
import {
  FOLDER_SEPARATOR,
  GRAFANA_SEARCH_MAX,
  type GrafanaBackend,
  type GrafanaSearchHit,
} from '../backends/grafana.js';
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
import { Cursor, defineTool, distinctKeys, listBudget, READ_ANNOTATIONS, withoutItems } from './define.js';

/** Library panel models fetched per call, at most. */
const MAX_LIBRARY_FETCHES = 20;
/** Search pages of GRAFANA_SEARCH_MAX hits read per call, at most (20,000 dashboards). */
const MAX_SEARCH_PAGES = 4;
/** A folder path's length in answers, at most. */
const MAX_PATH_CHARS = 300;
/** A folder's titles from the root as one bounded text ("Team / Payments / Checkout"). */
function pathText(path: string[]): string;
function pathText(path: string[] | undefined): string | undefined;
function pathText(path: string[] | undefined): string | undefined {
  return path && clipChars(path.join(FOLDER_SEPARATOR), MAX_PATH_CHARS);
}

/** Folders whose path (nested folders) is read per call, at most. */
const MAX_FOLDER_FETCHES = 20;

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
    cut: z.array(z.string()).optional(),
  }),
  handler: async (input, { grafana, signal, maxOutputBytes }) => {
    // Grafana returns at most 5000 hits per request (a larger limit is a 422): read on with `page`, bounded.
    const hits: GrafanaSearchHit[] = [];
    const seen = new Set<string>();
    let full = true;
    for (let page = 1; full && page <= MAX_SEARCH_PAGES; page++) {
      const batch = await grafana.search(
        { query: input.query, tags: input.tags, limit: GRAFANA_SEARCH_MAX, page },
        signal,
      );
      full = batch.length >= GRAFANA_SEARCH_MAX;
      // a dashboard saved between two pages may move into the next one: each is listed once
      for (const h of batch) if (!seen.has(h.uid) && seen.add(h.uid)) hits.push(h);
    }
    const read = MAX_SEARCH_PAGES * GRAFANA_SEARCH_MAX;
    const capped = full
      ? `read the first ${read} hits (${MAX_SEARCH_PAGES} pages of Grafana's ${GRAFANA_SEARCH_MAX}); more dashboards may match: narrow query or tags`
      : undefined;
    const rows = hits
      .filter((h) => (h.type ?? 'dash-db') === 'dash-db')
      .map((h) => ({
        uid: h.uid,
        title: h.title,
        folder: h.folderTitle || 'General',
        folderUid: h.folderUid,
        folderTitle: h.folderTitle,
        tags: h.tags ?? [],
        url: h.url ?? '',
      }));
    // One total order of our own, paged by key: Grafana's is not one (pkg/services/search/service.go sortedHits
    // re-sorts each page by lower-case title after SQL cut the pages by byte order, so hits past 5000 restart the
    // order; its sort.Sort leaves equal lower-case titles in no promised order, which may differ between calls).
    const key = (d: { title: string; uid: string }) => tupleKey(d.title.toLowerCase(), d.title, d.uid);
    const opts = {
      tool: 'dashboards_search',
      bind: JSON.stringify([input.query ?? null, input.tags ?? []]),
      cursor: input.cursor,
      legacyOffset: legacySearchOffset,
      limit: input.limit,
      maxBytes: listBudget(maxOutputBytes),
    };
    // The search names only the immediate folder; with nested folders the path says where it is. Paths are read
    // for the page's folders, then the page is cut again with them (a longer folder may leave room for fewer).
    const first = pageByKey(distinctKeys(rows.map((item) => ({ key: key(item), item }))), opts);
    const paths = await folderPaths(first.items, grafana, signal);
    const { changed, ...page } = pageByKey(
      distinctKeys(
        rows.map(({ folderUid, folderTitle: _title, ...d }) => {
          const path = folderUid ? paths.get(folderUid) : undefined;
          return { key: key(d), item: path ? { ...d, folder: path } : d };
        }),
      ),
      opts,
    );
    return {
      dashboards: page.items,
      ...withoutItems(page),
      ...(capped ? { capped } : {}),
      ...(changed ? { cut: [LIST_CHANGED] } : {}),
    };
  },
});

/**
 * Every call reads the whole search anew, and dashboards are saved, deleted and renamed between two calls: an
 * offset alone would repeat or skip dashboards without a word. Paged by key, the next page starts right after
 * the last dashboard shown wherever it now stands (by title, then uid), and says when the set before it changed.
 */
const LIST_CHANGED =
  'dashboards matching this search changed since the previous page (saved, deleted or renamed): this page goes on after the last one shown, but ones now sorted before it are not listed and renamed ones may repeat; call again without cursor for a consistent list';

/**
 * The offset of a cursor an older replica of this tool issued (`d:<offset>:<last>:<digest>`, base64url), undefined
 * for any other: pageByKey reads an offset only through this (legacyOffset), so one of another tool (the kit's
 * `o:<offset>`, which dashboards_get still issues for panels) is refused.
 */
function legacySearchOffset(cursor: string): number | undefined {
  const old = /^d:(\d{1,9}):[A-Za-z0-9_-]{8}:[A-Za-z0-9_-]{11}$/.exec(
    Buffer.from(cursor, 'base64url').toString('utf8'),
  );
  return old ? Number(old[1]) : undefined;
}

/** Folder paths ("Team / Payments / Checkout") by uid, for at most MAX_FOLDER_FETCHES folders. */
async function folderPaths(
  rows: readonly { folderUid?: string | undefined; folderTitle?: string | undefined }[],
  grafana: GrafanaBackend,
  signal: AbortSignal,
): Promise<Map<string, string>> {
  // each folder once, with the title the search just gave for it (a renamed folder is read again)
  const titles = new Map<string, string | undefined>();
  for (const r of rows)
    if (r.folderUid && !titles.has(r.folderUid)) titles.set(r.folderUid, r.folderTitle || undefined);
  const paths = new Map<string, string>();
  await Promise.all(
    [...titles].slice(0, MAX_FOLDER_FETCHES).map(async ([uid, title]) => {
      const path = await grafana.folderPath(uid, signal, title);
      if (path) paths.set(uid, pathText(path));
    }),
  );
  return paths;
}

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
        folder: meta.folderUid
          ? (pathText(await grafana.folderPath(meta.folderUid, signal, meta.folderTitle || undefined)) ??
            meta.folderTitle ??
            meta.folderUid)
          : (meta.folderTitle ?? 'General'),
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
        folder: folderUid ? (pathText(await grafana.folderPath(folderUid, signal)) ?? folderUid) : 'General',
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
    // Paged by position, the cursor bound to this dashboard: an offset cursor (it paged so before) of one
    // dashboard, or of any tool that pages by offset, went on "from panel N" of any other.
    const { changed: _changed, ...page } = pageByKey(
      all.map((item, i) => ({ key: String(i).padStart(9, '0'), item })),
      { tool: 'dashboards_get', bind: input.uid, cursor: input.cursor, limit: input.maxPanels, maxBytes: budget },
    );
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
