import { type BackendHttp, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import {
  type BackendOptions,
  expectArray,
  expectObject,
  httpFor,
  parseAnswer,
  statusError,
  vendorMessage,
} from './common.js';

export interface GrafanaSearchHit {
  uid: string;
  title: string;
  type?: string;
  url?: string;
  tags?: string[];
  folderUid?: string;
  folderTitle?: string;
}

/** Grafana refuses a larger `limit` with 422 (pkg/api/search.go); more hits need `page`. */
export const GRAFANA_SEARCH_MAX = 5000;

type Json = Record<string, unknown>;

/** Folder levels named in a path, at most (Grafana's own limit is lower: folder.MaxNestedFolderDepth). */
const MAX_FOLDER_DEPTH = 16;

const FOLDER_CACHE_MS = 60_000;
/** A parent folder the service account may not view, in a path. */
const HIDDEN_FOLDER = '(no access)';
const FOLDER_CACHE_ENTRIES = 1000;

/** How a folder path is written in answers: titles from the root, as Grafana's breadcrumb shows them. */
export const FOLDER_SEPARATOR = ' / ';

/** A dashboard as /api/dashboards serves it (v1 JSON model), or a v2-schema resource from /apis. */
export type GrafanaDashboard =
  | {
      schema: 'v1';
      meta: { folderTitle?: string; folderUid?: string; url?: string; updated?: string; version?: number };
      dashboard: Json;
    }
  | { schema: 'v2'; apiVersion: string; metadata: Json; spec: Json };

const SearchHits = z.array(
  z.looseObject({
    uid: z.string(),
    title: z.string(),
    tags: z.array(z.string()).nullish(),
    folderUid: z.string().optional(),
    folderTitle: z.string().optional(),
  }),
);

/** The path Grafana names in its 406 for v2 dashboards, rebuilt from checked parts (never followed as given). */
function v2PathFrom(message: string, uid: string): string | undefined {
  const m =
    /\/apis\/dashboard\.grafana\.app\/(v\d+[a-z0-9]*)\/namespaces\/([a-z0-9][a-z0-9-]{0,62})\/dashboards\/([A-Za-z0-9_-]{1,40})/.exec(
      message,
    );
  if (!m || m[3] !== uid) return undefined;
  return `/apis/dashboard.grafana.app/${m[1]}/namespaces/${m[2]}/dashboards/${uid}`;
}

/** Grafana HTTP API: dashboard search, dashboards by uid (both schemas), library elements, folders. */
export class GrafanaBackend {
  readonly http: BackendHttp;
  /** Folder paths read in the last minute: a search page names up to 20 folders, and they rarely move. */
  readonly #folderPaths = new Map<string, { path: string[]; at: number }>();

  constructor(opts: BackendOptions) {
    this.http = httpFor('Grafana', opts);
  }

  async search(
    q: { query?: string | undefined; tags?: string[] | undefined; limit: number; page: number },
    signal?: AbortSignal,
  ): Promise<GrafanaSearchHit[]> {
    const res = await this.http.request('GET', '/api/search', {
      query: { type: 'dash-db', query: q.query, tag: q.tags ?? [], limit: q.limit, page: q.page },
      signal,
    });
    if (res.status !== 200) throw statusError('Grafana', res, 'the dashboard search', 'ERR_INVALID_INPUT');
    const hits = expectArray('Grafana', res.body, 'the dashboard search');
    return parseAnswer('Grafana', SearchHits, hits, 'the dashboard search') as GrafanaSearchHit[];
  }

  async dashboard(uid: string, signal?: AbortSignal): Promise<GrafanaDashboard> {
    const res = await this.http.request('GET', `/api/dashboards/uid/${encodeURIComponent(uid)}`, { signal });
    if (res.status === 406) return this.#dashboardV2(uid, vendorMessage(res.body), signal);
    if (res.status !== 200) throw statusError('Grafana', res, `dashboard ${uid}`, 'ERR_INVALID_INPUT');
    const body = expectObject('Grafana', res.body, `dashboard ${uid}`);
    return {
      schema: 'v1',
      meta: (body.meta as Extract<GrafanaDashboard, { schema: 'v1' }>['meta']) ?? {},
      dashboard: expectObject('Grafana', body.dashboard, `dashboard ${uid}`),
    };
  }

  /** Grafana 12 stores some dashboards in the v2 schema; /api/dashboards answers 406 naming the /apis path. */
  async #dashboardV2(uid: string, message: string, signal?: AbortSignal): Promise<GrafanaDashboard> {
    const path = v2PathFrom(message, uid);
    if (!path) {
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        `Grafana cannot serve dashboard ${uid} through /api/dashboards (HTTP 406: ${message}) and named no /apis/dashboard.grafana.app path for it; open /d/${uid} in Grafana`,
        { backend: 'Grafana', status: 406 },
      );
    }
    const res = await this.http.request('GET', path, { signal });
    if (res.status !== 200) {
      throw new ToolError(
        res.status === 404 ? 'ERR_NOT_FOUND' : 'ERR_BACKEND_ERROR',
        `dashboard ${uid} uses Grafana's v2 schema, so it is read from ${path}, which answered HTTP ${res.status} (${vendorMessage(res.body)}); the service account needs dashboards:read on that API (Grafana 12+)`,
        { backend: 'Grafana', status: res.status },
      );
    }
    const body = expectObject('Grafana', res.body, `dashboard ${uid}`);
    return {
      schema: 'v2',
      apiVersion: String(body.apiVersion ?? ''),
      metadata: expectObject('Grafana', body.metadata ?? {}, `dashboard ${uid} metadata`),
      spec: expectObject('Grafana', body.spec, `dashboard ${uid} spec`),
    };
  }

  /** A library panel's saved model (`/api/library-elements/:uid` -> `{result: {name, type, model}}`). */
  async libraryElement(uid: string, signal?: AbortSignal): Promise<{ name: string; type: string; model: Json }> {
    const res = await this.http.request('GET', `/api/library-elements/${encodeURIComponent(uid)}`, { signal });
    if (res.status !== 200) throw statusError('Grafana', res, `library panel ${uid}`, 'ERR_INVALID_INPUT');
    const result = expectObject('Grafana', expectObject('Grafana', res.body, 'the library panel').result, 'its result');
    return {
      name: String(result.name ?? ''),
      type: String(result.type ?? ''),
      model: expectObject('Grafana', result.model ?? {}, 'the library panel model'),
    };
  }

  /**
   * A folder's titles from the root down to it. With nested folders (Grafana 10+) `GET /api/folders/:uid` adds
   * `parents`, the chain from the root to the immediate parent (docs/sources/developers/http_api/folder.md);
   * undefined when Grafana cannot say. `title` is the folder's title as the caller just read it (a search hit's
   * `folderTitle`, a dashboard's `meta.folderTitle`): a cached path that ends otherwise was renamed and is read
   * again. A folder moved under another parent keeps its title, so its old path may show for up to a minute.
   */
  async folderPath(uid: string, signal?: AbortSignal, title?: string): Promise<string[] | undefined> {
    const cached = this.#folderPaths.get(uid);
    const renamed = title !== undefined && cached?.path.at(-1) !== title;
    if (cached && !renamed && Date.now() - cached.at < FOLDER_CACHE_MS) return cached.path;
    const path = await this.#readFolderPath(uid, signal);
    if (path) {
      this.#folderPaths.delete(uid);
      this.#folderPaths.set(uid, { path, at: Date.now() });
      // oldest first in insertion order: the map stays bounded
      if (this.#folderPaths.size > FOLDER_CACHE_ENTRIES)
        this.#folderPaths.delete(this.#folderPaths.keys().next().value as string);
    }
    return path;
  }

  async #readFolderPath(uid: string, signal?: AbortSignal): Promise<string[] | undefined> {
    let res: Awaited<ReturnType<BackendHttp['request']>>;
    try {
      res = await this.http.request('GET', `/api/folders/${encodeURIComponent(uid)}`, { signal });
    } catch {
      return undefined; // the folder path is a nicety: the dashboard is still answered with its folder's title
    }
    if (res.status !== 200) return undefined;
    const body = res.body as { title?: unknown; parents?: unknown } | undefined;
    if (typeof body?.title !== 'string') return undefined;
    const parents = Array.isArray(body.parents) ? body.parents : [];
    // a parent the token may not view comes as uid and title "redacted" (pkg/api/folder.go newToFolderDto)
    const titles = parents.map((p) => {
      const { uid, title } = (p ?? {}) as { uid?: unknown; title?: unknown };
      return uid === 'redacted' && title === 'redacted' ? HIDDEN_FOLDER : title;
    });
    if (!titles.every((t): t is string => typeof t === 'string')) return [body.title];
    return [...titles.slice(-MAX_FOLDER_DEPTH), body.title];
  }
}
