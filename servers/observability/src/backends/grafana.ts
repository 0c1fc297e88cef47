import type { BackendHttp } from '@ravenhelm/kit';
import { type BackendOptions, expectArray, expectObject, httpFor, statusError } from './common.js';

export interface GrafanaSearchHit {
  uid: string;
  title: string;
  type?: string;
  url?: string;
  tags?: string[];
  folderUid?: string;
  folderTitle?: string;
}

export interface GrafanaDashboardAnswer {
  meta: { folderTitle?: string; folderUid?: string; url?: string; updated?: string; version?: number };
  dashboard: Record<string, unknown>;
}

/** Grafana HTTP API: dashboard search and dashboards by uid. */
export class GrafanaBackend {
  readonly http: BackendHttp;

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
    return expectArray('Grafana', res.body, 'the dashboard search') as GrafanaSearchHit[];
  }

  async dashboard(uid: string, signal?: AbortSignal): Promise<GrafanaDashboardAnswer> {
    const res = await this.http.request('GET', `/api/dashboards/uid/${encodeURIComponent(uid)}`, { signal });
    if (res.status !== 200) throw statusError('Grafana', res, `dashboard ${uid}`, 'ERR_INVALID_INPUT');
    const body = expectObject('Grafana', res.body, `dashboard ${uid}`);
    return {
      meta: (body.meta as GrafanaDashboardAnswer['meta']) ?? {},
      dashboard: expectObject('Grafana', body.dashboard, `dashboard ${uid}`),
    };
  }
}
