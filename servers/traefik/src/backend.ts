/** Traefik's read API (`/api/...`): one client with a timeout, a body cap, paging and readable errors. */
import { BackendHttp, type BackendRecorder, ToolError } from '@ravenhelm/kit';

export interface TraefikApiOptions {
  url: string;
  timeoutMs: number;
  basic?: { username: string; password: string } | undefined;
  maxResponseBytes?: number;
  /** Where API calls are recorded (ravenhelm_backend_*{backend="traefik"}). */
  metrics?: BackendRecorder | undefined;
}

export interface ListFilters {
  search?: string | undefined;
  status?: string | undefined;
  serviceName?: string | undefined;
  middlewareName?: string | undefined;
}

export type Item = Record<string, unknown> & { name: string };

/** The most items one tool reads through Traefik's pages (100 per page). */
export const MAX_ITEMS = 5000;
const PER_PAGE = 100;

export class TraefikApi {
  readonly #http: BackendHttp;
  readonly #secrets: string[];

  constructor(opts: TraefikApiOptions) {
    this.#http = new BackendHttp({
      name: 'Traefik API',
      baseUrl: opts.url,
      timeoutMs: opts.timeoutMs,
      auth: opts.basic ? { basic: opts.basic } : undefined,
      maxResponseBytes: opts.maxResponseBytes ?? 16 * 1024 * 1024,
      metrics: opts.metrics,
      backend: 'traefik',
    });
    this.#secrets = opts.basic
      ? [opts.basic.password, Buffer.from(`${opts.basic.username}:${opts.basic.password}`).toString('base64')]
      : [];
  }

  /** GET a path; 2xx bodies are JSON, errors become ToolErrors that carry Traefik's message. */
  async get<T>(
    path: string,
    query: Record<string, string | number | undefined>,
    signal: AbortSignal,
  ): Promise<{ body: T; nextPage: number }> {
    const res = await this.#http.request<unknown>('GET', path, {
      query,
      signal,
      narrowHint:
        'Traefik pages its lists by 100: an answer this large is not a Traefik API answer; check backend.api.url',
    });
    const body = typeof res.body === 'string' ? tryJson(res.body) : res.body;
    if (res.status >= 200 && res.status < 300) {
      return { body: body as T, nextPage: Number(res.headers.get('x-next-page') ?? '1') || 1 };
    }
    const message = this.#scrub(messageOf(body));
    if (res.status === 404) {
      throw new ToolError(
        'ERR_NOT_FOUND',
        `Traefik says: ${message} (GET /${path}); check the name, and that backend.api.url is Traefik's API`,
      );
    }
    if (res.status === 401 || res.status === 403) {
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        `the Traefik API refused our credentials (HTTP ${res.status}); check backend.api.basicAuthFile`,
      );
    }
    if (res.status === 400) throw new ToolError('ERR_INVALID_INPUT', `Traefik rejected the request: ${message}`);
    throw new ToolError('ERR_BACKEND_ERROR', `the Traefik API answered HTTP ${res.status}: ${message}`);
  }

  /** Every item of a list endpoint, following X-Next-Page; stops at MAX_ITEMS and says so. */
  async listAll(
    path: string,
    filters: ListFilters,
    signal: AbortSignal,
    max = MAX_ITEMS,
  ): Promise<{ items: Item[]; truncated: boolean }> {
    const items: Item[] = [];
    let page = 1;
    for (;;) {
      const { body, nextPage } = await this.get<Item[]>(path, { ...filters, page, per_page: PER_PAGE }, signal);
      if (!Array.isArray(body)) throw new ToolError('ERR_BACKEND_ERROR', `Traefik returned a non-list for ${path}`);
      items.push(...body);
      if (items.length >= max) return { items: items.slice(0, max), truncated: nextPage > page || items.length > max };
      if (nextPage <= page) return { items, truncated: false };
      page = nextPage;
    }
  }

  /** One item by full name (`name@provider`); undefined when Traefik has none. */
  async find(path: string, name: string, signal: AbortSignal): Promise<Item | undefined> {
    try {
      return (await this.get<Item>(`${path}/${encodeURIComponent(name)}`, {}, signal)).body;
    } catch (err) {
      if (err instanceof ToolError && err.code === 'ERR_NOT_FOUND') return undefined;
      throw err;
    }
  }

  #scrub(text: string): string {
    let out = text;
    for (const s of this.#secrets) if (s) out = out.split(s).join('[redacted]');
    return out;
  }
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function messageOf(body: unknown): string {
  const raw =
    body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string'
      ? (body as { message: string }).message
      : typeof body === 'string'
        ? body
        : JSON.stringify(body);
  const line = raw.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}...` : line || '(empty body)';
}
