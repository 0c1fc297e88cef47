/**
 * A Grafana simulator (tests only): dashboards in folders, /api/search (type=dash-db, query, tag, limit,
 * page), /api/dashboards/uid/:uid, Grafana's 404 and 401 bodies; every call needs the bearer token.
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
}

export const GRAFANA_MAX_LIMIT = 5000;

export class GrafanaSimulator {
  readonly dashboards = new Map<string, SimDashboard>();
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
      if (req.url.pathname === '/api/health') return { status: 200, json: { database: 'ok', version: '11.0.0' } };
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

  add(d: SimDashboard): void {
    this.dashboards.set(d.uid, d);
  }

  route(method: string, url: URL): Reply {
    if (method !== 'GET') return { status: 405, json: { message: 'Method Not Allowed' } };
    if (url.pathname === '/api/search') return this.search(url.searchParams);
    const m = /^\/api\/dashboards\/uid\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const d = this.dashboards.get(decodeURIComponent(m[1] as string));
      if (!d) return { status: 404, json: { message: 'Dashboard not found' } };
      return {
        status: 200,
        json: {
          meta: {
            type: 'db',
            slug: d.title.toLowerCase().replace(/\W+/g, '-'),
            url: `/d/${d.uid}/${d.title.toLowerCase().replace(/\W+/g, '-')}`,
            folderUid: d.folderUid ?? '',
            folderTitle: d.folderTitle ?? 'General',
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
            templating: { list: [] },
            time: { from: 'now-6h', to: 'now' },
          },
        },
      };
    }
    return { status: 404, json: { message: 'Not found' } };
  }

  search(params: URLSearchParams): Reply {
    const type = params.get('type');
    if (type && type !== 'dash-db' && type !== 'dash-folder') return { status: 400, json: { message: 'invalid type' } };
    const limit = Math.min(Number(params.get('limit') ?? 1000), GRAFANA_MAX_LIMIT);
    const page = Math.max(1, Number(params.get('page') ?? 1));
    if (!Number.isInteger(limit) || limit < 1 || !Number.isInteger(page)) {
      return { status: 400, json: { message: 'bad request data' } };
    }
    const query = (params.get('query') ?? '').toLowerCase();
    const tags = params.getAll('tag');
    const hits = [...this.dashboards.values()]
      .filter(() => type !== 'dash-folder')
      .filter((d) => !query || d.title.toLowerCase().includes(query))
      .filter((d) => tags.every((t) => (d.tags ?? []).includes(t)))
      .sort((a, b) => a.title.localeCompare(b.title))
      .slice((page - 1) * limit, page * limit)
      .map((d, i) => ({
        id: i + 1,
        uid: d.uid,
        title: d.title,
        uri: `db/${d.uid}`,
        url: `/d/${d.uid}`,
        type: 'dash-db',
        tags: d.tags ?? [],
        isStarred: false,
        ...(d.folderUid
          ? { folderUid: d.folderUid, folderTitle: d.folderTitle, folderUrl: `/dashboards/f/${d.folderUid}` }
          : {}),
      }));
    return { status: 200, json: hits };
  }
}
