/**
 * A Grafana simulator (tests only), built from Grafana's own material, not from what our client expects:
 *
 * - Search: grafana/grafana `pkg/api/search.go` (`limit` above 5000 is refused with 422 `Limit is above maximum
 *   allowed (5000), use page parameter to access hits beyond limit`; `page` is 1-based; default limit 1000) and
 *   `docs/sources/developers/http_api/folder_dashboard_search.md` (hit fields: id, uid, title, uri, url, slug,
 *   type, tags, isStarred, folderUid/folderTitle/folderUrl only for dashboards in a folder).
 * - Dashboards: `pkg/api/dashboard.go` GetDashboard (`{meta, dashboard}`; 404 `{"message":"Dashboard not
 *   found"}`; a dashboard stored with a v2 API version is refused with 406 `dashboard api version not supported,
 *   use /apis/dashboard.grafana.app/<version>/namespaces/<namespace>/dashboards/<uid> instead`, the namespace of
 *   org 1 being `default`) and `pkg/api/dashboard_test.go`.
 * - The v1 dashboard model (`docs/sources/dashboards/build-dashboards/view-dashboard-json-model.md`): panels
 *   with `targets`; rows as panels of type `row` (collapsed rows hold their panels); legacy `rows`; library
 *   panels stored as `{id, gridPos, libraryPanel: {uid, name}}` without their model; server-side expressions
 *   as targets with datasource `{type: "__expr__", uid: "__expr__"}` whose text is in `expression`
 *   (`pkg/expr`); template variables in `templating.list`.
 * - v2 dashboards: `apps/dashboard/pkg/apis/dashboard/v2beta1/dashboard_spec.cue` (elements keyed by name,
 *   PanelKind with `data.spec.queries[].spec.query` DataQueryKind `{group, datasource: {name}, spec}`,
 *   `vizConfig.group` as the plugin id, LibraryPanelKind, GridLayout/RowsLayout/TabsLayout referencing
 *   elements, variables as `{kind, spec: {name, ...}}`), served as a Kubernetes-style object with the folder in
 *   the `grafana.app/folder` annotation; errors there are Kubernetes `Status` objects.
 * - Library elements: `docs/sources/developers/http_api/library_element.md` (`{result: {uid, name, kind: 1, type,
 *   model, meta: {folderName, ...}}}`; 404 `{"message":"library element could not be found"}`).
 * - Folders: `docs/sources/developers/http_api/folder.md` (`GET /api/folders/:uid`; 404 `{"message":"folder
 *   not found"}`; with nested folders (Grafana 10+) a folder under another also carries `parentUid` and `parents`,
 *   the whole chain of folder objects from the root down to its immediate parent; both absent at the root; a parent
 *   the token may not view is listed as `{"uid": "redacted", "title": "redacted"}`: `pkg/api/folder.go`
 *   newToFolderDto, `REDACTED`; knob `deniedFolders`). The
 *   search hit's `folderUid` / `folderTitle` name the immediate folder only (folder_dashboard_search.md), as
 *   does a dashboard's `meta.folderTitle`.
 *
 * - Permissions: the token may lack dashboards:read on some dashboards (`deniedDashboards`). The route's RBAC
 *   check (`pkg/api/api.go`: `/api/dashboards/uid/:uid` behind `authorize(ac.EvalPermission(
 *   dashboards.ActionDashboardsRead))`) lets through a token that can read any dashboard; GetDashboard's guardian
 *   then refuses this one with 403 `{"message":"Access denied to this dashboard"}` (`pkg/api/dashboard.go`
 *   dashboardGuardianResponse). A token that can read no dashboard at all (`denyAllDashboards`) is stopped by the
 *   middleware with 403 `{"title":"Access denied","message":"You'll need additional permissions to perform this
 *   action. Permissions needed: dashboards:read","accessErrorId":"ACE..."}` (`pkg/services/accesscontrol/
 *   middleware.go` deny). The search answers only what the token may read (`pkg/api/search.go`).
 *
 * - Search order (legacy SQL search, `pkg/services/search/service.go` SearchHandler and `sortedHits`,
 *   `pkg/services/search/model/model.go` HitList.Less, `pkg/services/sqlstore/searchstore/builder.go`
 *   applyFilters/ToSQL, `filters.go` TitleSorter, `pkg/services/search/sorting.go` alpha-asc/alpha-desc):
 *   the page is cut in SQL, `ORDER BY dashboard.title ASC` (DESC for `sort=alpha-desc`; ASC too when no sort is
 *   given) with LIMIT/OFFSET; on SQLite, Grafana's default database, that compares titles byte by byte (BINARY
 *   collation: "Zeta" before "alpha"). Only when `sort` is absent, Go then re-sorts each page on its own: folders
 *   before dashboards, then `strings.ToLower(title)` compared as bytes, with `sort.Sort`, which is not stable
 *   (equal lower-case titles come in no promised order: knob `unstableTies` permutes them on each request), and
 *   sorts each hit's tags (`sort.Strings`). So with more than one page the concatenated pages are not in one
 *   order. An unknown `sort` value selects no sorter and skips the re-sort (SQL order only).
 *
 * Reading a v1-stored dashboard through `/apis/...` (Grafana converts it) is not simulated: 501.
 */
import { type Reply, type SimServer, serve } from './http.js';

export interface SimDashboard {
  uid: string;
  title: string;
  tags?: string[];
  folderUid?: string;
  folderTitle?: string;
  /** The dashboard JSON model's panels (schema v16+: rows are panels of type "row"). */
  panels?: unknown[];
  /** The legacy model (schema < 16): rows holding panels. */
  rows?: unknown[];
  /** `templating.list` entries. */
  variables?: unknown[];
}

export interface SimLibraryElement {
  uid: string;
  name: string;
  /** The panel model, as saved from a dashboard. */
  model: Record<string, unknown>;
  folderUid?: string;
}

export const GRAFANA_MAX_LIMIT = 5000;
const NAMESPACE = 'default';

type Stored =
  | { apiVersion: 'v1'; d: SimDashboard }
  | { apiVersion: 'v2beta1'; uid: string; folderUid?: string; spec: Record<string, unknown>; generation: number };

export class GrafanaSimulator {
  readonly dashboards = new Map<string, Stored>();
  readonly library = new Map<string, SimLibraryElement>();
  readonly folders = new Map<string, string>();
  /** Nested folders: a folder's parent folder uid. */
  readonly folderParents = new Map<string, string>();
  /** Folders the token may not view: listed as parents with uid and title "redacted". */
  readonly deniedFolders = new Set<string>();
  /** Dashboards the token may not read (its account lacks dashboards:read on them or their folder). */
  readonly deniedDashboards = new Set<string>();
  /** The token's account may read no dashboard at all (no dashboards:read on any scope). */
  denyAllDashboards = false;
  /** Permute search hits whose lower-case titles are equal on each request (Go's sort.Sort is not stable). */
  unstableTies = false;
  /** Row ids in insertion order: SQLite's order among equal titles. */
  readonly #ids = new Map<string, number>();
  server: SimServer | undefined;

  constructor(readonly token: string) {}

  get url(): string {
    if (!this.server) throw new Error('Grafana simulator not started');
    return this.server.url;
  }

  get control() {
    if (!this.server) throw new Error('Grafana simulator not started');
    return this.server.control;
  }

  async start(): Promise<this> {
    this.server = await serve((req) => {
      if (req.url.pathname === '/api/health') return { status: 200, json: { database: 'ok', version: '12.1.0' } };
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        return { status: 401, json: { message: 'Unauthorized', messageId: 'auth.unauthorized', statusCode: 401 } };
      }
      return this.route(req.method, req.url);
    });
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  /** A dashboard stored with the v1 (classic JSON model) API version. */
  add(d: SimDashboard): void {
    if (d.folderUid && d.folderTitle) this.folders.set(d.folderUid, d.folderTitle);
    if (!this.#ids.has(d.uid)) this.#ids.set(d.uid, this.#ids.size + 1);
    this.dashboards.set(d.uid, { apiVersion: 'v1', d });
  }

  /** A dashboard stored with the v2beta1 schema (Grafana 12 dynamic dashboards). */
  addV2(uid: string, spec: Record<string, unknown>, folderUid?: string): void {
    if (!this.#ids.has(uid)) this.#ids.set(uid, this.#ids.size + 1);
    this.dashboards.set(uid, { apiVersion: 'v2beta1', uid, spec, generation: 2, ...(folderUid ? { folderUid } : {}) });
  }

  addLibraryElement(e: SimLibraryElement): void {
    this.library.set(e.uid, e);
  }

  addFolder(uid: string, title: string, parentUid?: string): void {
    this.folders.set(uid, title);
    if (parentUid) this.folderParents.set(uid, parentUid);
  }

  #folderJson(uid: string, title: string): Record<string, unknown> {
    const parentUid = this.folderParents.get(uid);
    return {
      id: [...this.folders.keys()].indexOf(uid) + 1,
      uid,
      title,
      url: `/dashboards/f/${uid}/`,
      version: 1,
      ...(parentUid ? { parentUid } : {}), // `parentUid,omitempty` (pkg/api/dtos/folder.go)
    };
  }

  route(method: string, url: URL): Reply {
    if (method !== 'GET') return { status: 405, json: { message: 'Method Not Allowed' } };
    const p = url.pathname;
    if (p === '/api/search') return this.search(url.searchParams);
    let m = /^\/api\/dashboards\/uid\/([^/]+)$/.exec(p);
    if (m) return this.getDashboard(decodeURIComponent(m[1] as string));
    m = /^\/apis\/dashboard\.grafana\.app\/([^/]+)\/namespaces\/([^/]+)\/dashboards\/([^/]+)$/.exec(p);
    if (m) return this.getResource(m[1] as string, m[2] as string, decodeURIComponent(m[3] as string));
    m = /^\/api\/library-elements\/([^/]+)$/.exec(p);
    if (m) return this.getLibraryElement(decodeURIComponent(m[1] as string));
    m = /^\/api\/folders\/([^/]+)$/.exec(p);
    if (m) {
      const uid = decodeURIComponent(m[1] as string);
      const title = this.folders.get(uid);
      if (title === undefined) return { status: 404, json: { message: 'folder not found', status: 'not-found' } };
      if (this.deniedFolders.has(uid)) {
        // the route's RBAC check (folders:read on folders:uid:<uid>, pkg/api/folder.go registerFolderAPI)
        return {
          status: 403,
          json: {
            title: 'Access denied',
            message: "You'll need additional permissions to perform this action. Permissions needed: folders:read",
            accessErrorId: 'ACE0123456789',
          },
        };
      }
      const parents: Record<string, unknown>[] = [];
      for (let p = this.folderParents.get(uid); p !== undefined && parents.length < 64; p = this.folderParents.get(p)) {
        parents.unshift(
          this.deniedFolders.has(p)
            ? { uid: 'redacted', title: 'redacted' }
            : this.#folderJson(p, this.folders.get(p) ?? ''),
        );
      }
      return {
        status: 200,
        json: { ...this.#folderJson(uid, title), ...(this.folderParents.has(uid) ? { parents } : {}) },
      };
    }
    return { status: 404, json: { message: 'Not found' } };
  }

  getDashboard(uid: string): Reply {
    if (this.denyAllDashboards) {
      return {
        status: 403,
        json: {
          title: 'Access denied',
          message: "You'll need additional permissions to perform this action. Permissions needed: dashboards:read",
          accessErrorId: 'ACE0123456789',
        },
      };
    }
    const stored = this.dashboards.get(uid);
    if (!stored) return { status: 404, json: { message: 'Dashboard not found' } };
    if (this.deniedDashboards.has(uid)) return { status: 403, json: { message: 'Access denied to this dashboard' } };
    if (stored.apiVersion !== 'v1') {
      const url = `/apis/dashboard.grafana.app/${stored.apiVersion}/namespaces/${NAMESPACE}/dashboards/${uid}`;
      return { status: 406, json: { message: `dashboard api version not supported, use ${url} instead` } };
    }
    const d = stored.d;
    const slug = d.title.toLowerCase().replace(/\W+/g, '-');
    return {
      status: 200,
      json: {
        meta: {
          type: 'db',
          slug,
          url: `/d/${d.uid}/${slug}`,
          folderUid: d.folderUid ?? '',
          // read from the folder at request time (pkg/api/dashboard.go GetDashboard looks the folder up by uid)
          folderTitle: d.folderUid ? (this.folders.get(d.folderUid) ?? d.folderTitle ?? '') : 'General',
          version: 3,
          updated: '2026-01-01T00:00:00Z',
        },
        dashboard: {
          id: 1,
          uid: d.uid,
          title: d.title,
          tags: d.tags ?? [],
          schemaVersion: d.rows ? 14 : 39,
          ...(d.panels ? { panels: d.panels } : {}),
          ...(d.rows ? { rows: d.rows } : {}),
          templating: { list: d.variables ?? [] },
          time: { from: 'now-6h', to: 'now' },
        },
      },
    };
  }

  getResource(version: string, namespace: string, uid: string): Reply {
    const stored = this.dashboards.get(uid);
    if (namespace !== NAMESPACE || !stored) {
      return {
        status: 404,
        json: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `dashboards.dashboard.grafana.app "${uid}" not found`,
          reason: 'NotFound',
          details: { name: uid, group: 'dashboard.grafana.app', kind: 'dashboards' },
          code: 404,
        },
      };
    }
    if (stored.apiVersion === 'v1' || version !== stored.apiVersion) {
      return { status: 501, text: 'simulator: conversion between dashboard API versions is not simulated' };
    }
    return {
      status: 200,
      json: {
        kind: 'Dashboard',
        apiVersion: `dashboard.grafana.app/${version}`,
        metadata: {
          name: uid,
          namespace,
          uid: `k8s-${uid}`,
          resourceVersion: '1767268800000',
          generation: stored.generation,
          creationTimestamp: '2026-01-01T00:00:00Z',
          annotations: {
            'grafana.app/createdBy': 'user:admin',
            ...(stored.folderUid ? { 'grafana.app/folder': stored.folderUid } : {}),
          },
        },
        spec: stored.spec,
        status: {},
      },
    };
  }

  getLibraryElement(uid: string): Reply {
    const e = this.library.get(uid);
    if (!e) return { status: 404, json: { message: 'library element could not be found' } };
    return {
      status: 200,
      json: {
        result: {
          id: 1,
          orgId: 1,
          folderId: 0,
          folderUid: e.folderUid ?? '',
          uid: e.uid,
          name: e.name,
          kind: 1,
          type: typeof e.model.type === 'string' ? e.model.type : '',
          description: '',
          model: e.model,
          version: 1,
          meta: {
            folderName: e.folderUid ? (this.folders.get(e.folderUid) ?? '') : 'General',
            folderUid: e.folderUid ?? '',
            connectedDashboards: 1,
            created: '2026-01-01T00:00:00Z',
            updated: '2026-01-01T00:00:00Z',
            createdBy: { id: 1, name: 'admin', avatarUrl: '/avatar/1' },
            updatedBy: { id: 1, name: 'admin', avatarUrl: '/avatar/1' },
          },
        },
      },
    };
  }

  search(params: URLSearchParams): Reply {
    const type = params.get('type');
    if (type && type !== 'dash-db' && type !== 'dash-folder') return { status: 400, json: { message: 'invalid type' } };
    const limit = Number(params.get('limit') ?? 1000);
    const page = Math.max(1, Number(params.get('page') ?? 1));
    if (!Number.isInteger(limit) || !Number.isInteger(page))
      return { status: 400, json: { message: 'bad request data' } };
    if (limit > GRAFANA_MAX_LIMIT) {
      return {
        status: 422,
        json: { message: 'Limit is above maximum allowed (5000), use page parameter to access hits beyond limit' },
      };
    }
    const query = (params.get('query') ?? '').toLowerCase();
    // an unknown sort selects no sorter (SQL title ASC) and, not being empty, skips the re-sort
    const sort = params.get('sort');
    const tags = params.getAll('tag');
    const all = [...this.dashboards.values()].map((s) =>
      s.apiVersion === 'v1'
        ? { uid: s.d.uid, title: s.d.title, tags: s.d.tags ?? [], folderUid: s.d.folderUid }
        : {
            uid: s.uid,
            title: String(s.spec.title ?? ''),
            tags: Array.isArray(s.spec.tags) ? (s.spec.tags as string[]) : [],
            folderUid: s.folderUid,
          },
    );
    const hits = all
      .filter(() => type !== 'dash-folder')
      .filter((d) => !this.denyAllDashboards && !this.deniedDashboards.has(d.uid))
      .filter((d) => !query || d.title.toLowerCase().includes(query))
      .filter((d) => tags.every((t) => d.tags.includes(t)))
      .map((d) => ({ ...d, id: this.#ids.get(d.uid) ?? 0 }))
      .sort((a, b) => (sort === 'alpha-desc' ? -1 : 1) * (bytewise(a.title, b.title) || a.id - b.id))
      .slice((page - 1) * limit, page * limit);
    const ordered = sort === null ? this.#sortedHits(hits) : hits;
    return {
      status: 200,
      json: ordered.map((d) => {
        const slug = d.title.toLowerCase().replace(/\W+/g, '-');
        return {
          id: d.id,
          uid: d.uid,
          title: d.title,
          uri: `db/${slug}`,
          url: `/d/${d.uid}/${slug}`,
          slug: '',
          type: 'dash-db',
          tags: d.tags,
          isStarred: false,
          ...(d.folderUid
            ? {
                folderUid: d.folderUid,
                folderTitle: this.folders.get(d.folderUid) ?? '',
                folderUrl: `/dashboards/f/${d.folderUid}/`,
              }
            : {}),
          sortMeta: 0,
        };
      }),
    };
  }

  /** Go's sortedHits on one page: lower-case title as bytes (folders first; there are none here), tags sorted. */
  #sortedHits<T extends { title: string; tags: string[] }>(hits: T[]): T[] {
    const shuffled = this.unstableTies ? hits.map((h) => ({ h, r: Math.random() })) : hits.map((h, r) => ({ h, r }));
    return shuffled
      .sort((a, b) => bytewise(goLower(a.h.title), goLower(b.h.title)) || a.r - b.r)
      .map(({ h }) => ({ ...h, tags: [...h.tags].sort(bytewise) }));
  }
}

/** Go's string comparison: UTF-8 bytes (JS `<` compares UTF-16 units, which differs above U+FFFF). */
function bytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** strings.ToLower maps each rune on its own (unicode.ToLower); JS toLowerCase applies full mappings (İ). */
function goLower(s: string): string {
  let out = '';
  for (const ch of s) {
    const lower = ch.toLowerCase();
    out += [...lower].length === 1 ? lower : ch;
  }
  return out;
}
