/** Traefik's read API (`/api/...`): one client with a timeout, a body cap, paging and readable errors. */
import { BackendHttp, type BackendRecorder, sliceChars, ToolError, withoutValues } from '@ravenhelm/kit';
import { z } from 'zod';

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

const Strings = z.array(z.string());

/**
 * The fields the tools read from a router, service, middleware or entrypoint, with the types Traefik's API
 * gives them (pkg/api/testdata/*.json); anything else passes through. An answer that breaks this is not
 * from Traefik: refused at the boundary, so no tool works on (or crashes over) a malformed item.
 */
const ItemShape = z.looseObject({
  name: z.string().min(1).max(1024),
  provider: z.string().optional(),
  status: z.string().optional(),
  type: z.string().optional(),
  rule: z.string().optional(),
  ruleSyntax: z.string().optional(),
  priority: z.union([z.number(), z.string()]).optional(),
  service: z.string().optional(),
  address: z.string().optional(),
  middlewares: Strings.optional(),
  entryPoints: Strings.optional(),
  using: Strings.optional(),
  usedBy: Strings.optional(),
  error: Strings.optional(),
  tls: z
    .looseObject({
      domains: z.array(z.looseObject({ main: z.string().optional(), sans: Strings.optional() })).optional(),
    })
    .optional(),
  serverStatus: z.record(z.string(), z.string()).optional(),
  loadBalancer: z
    .looseObject({
      servers: z.array(z.looseObject({ url: z.string().optional(), address: z.string().optional() })).optional(),
    })
    .optional(),
});

/** The value, checked against `schema`; or an error that says which field of which item is wrong and what to check. */
export function checkedAnswer<T>(schema: z.ZodType<T>, value: unknown, path: string, index?: number): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = [index === undefined ? undefined : `item ${index}`, issue?.path.join('.') || undefined]
    .filter(Boolean)
    .join(', field ');
  throw new ToolError(
    'ERR_BACKEND_ERROR',
    `the answer for /${path} is not what Traefik's API returns (${where || 'the answer'}: ${issue?.message ?? 'invalid'}); check that backend.api.url points at Traefik's API (e.g. http://traefik:8080)`,
  );
}

/** Deeper than any Traefik configuration (about 6 levels); JSON.parse takes 100,000, recursion after it does not. */
const MAX_DEPTH = 32;

/** Whether a parsed JSON value nests deeper than `limit`, found without recursion. */
function nestedDeeper(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, depth] = top;
    if (!v || typeof v !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

function checkedItem(value: unknown, path: string, index?: number): Item {
  if (nestedDeeper(value, MAX_DEPTH)) {
    throw new ToolError(
      'ERR_BACKEND_ERROR',
      `the answer for /${path} is not what Traefik's API returns (${index === undefined ? 'the item' : `item ${index}`}: nested deeper than ${MAX_DEPTH} levels); check that backend.api.url points at Traefik's API (e.g. http://traefik:8080)`,
    );
  }
  return checkedAnswer(ItemShape, value, path, index) as Item;
}

/** The most items one tool reads through Traefik's pages (100 per page). */
export const MAX_ITEMS = 5000;
const PER_PAGE = 100;
/**
 * Pages read beyond those `max` items fill: Traefik's pages are full but the last, so only a reload that moved
 * items between pages (kept once) needs more. An answer that keeps sending empty or repeated pages with a next
 * page ahead is not Traefik's: it is cut there, as truncated, instead of being followed until the call times out.
 */
const EXTRA_PAGES = 5;
/** Reads of a list that changed under its pages before the caller is told to retry. */
const LIST_ATTEMPTS = 3;
/** Traefik's answer for a page past the end of the list. */
const PAGE_GONE = /invalid request: page: \d+, per_page: \d+/;

/** A page past the end of a list that had more pages a moment ago: it changed between two pages. */
class ListChanged extends Error {}

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
    // Traefik pages a list it rebuilds on every configuration reload: a reload between two pages can
    // shrink it under the next page, which Traefik answers 400 "invalid request: page: N, per_page: M"
    // (pkg/api/handler.go pagination). That is not the caller's error: read the list again from page 1.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#listPages(path, filters, signal, max);
      } catch (err) {
        if (!(err instanceof ListChanged)) throw err;
        if (attempt === LIST_ATTEMPTS) {
          throw new ToolError(
            'ERR_BACKEND_UNAVAILABLE',
            `Traefik's ${path} changed while it was read page by page, ${LIST_ATTEMPTS} times in a row (its configuration is reloading); retry in a few seconds`,
          );
        }
      }
    }
  }

  async #listPages(
    path: string,
    filters: ListFilters,
    signal: AbortSignal,
    max: number,
  ): Promise<{ items: Item[]; truncated: boolean }> {
    const items: Item[] = [];
    // An item a reload moved from one page to the next would come twice: kept once.
    const seen = new Set<string>();
    let page = 1;
    let pagesRead = 0;
    for (;;) {
      let got: { body: Item[]; nextPage: number };
      try {
        got = await this.get<Item[]>(path, { ...filters, page, per_page: PER_PAGE }, signal);
      } catch (err) {
        if (page > 1 && err instanceof ToolError && err.code === 'ERR_INVALID_INPUT' && PAGE_GONE.test(err.message)) {
          throw new ListChanged();
        }
        throw err;
      }
      const { body, nextPage } = got;
      if (!Array.isArray(body)) throw new ToolError('ERR_BACKEND_ERROR', `Traefik returned a non-list for ${path}`);
      // one by one (a spread of a huge page overflows the stack), and never more than `max` kept
      for (const [i, item] of body.entries()) {
        if (items.length === max) return { items, truncated: true };
        const checked = checkedItem(item, path, i);
        const key = typeof checked.name === 'string' ? checked.name : undefined;
        if (key !== undefined) {
          if (seen.has(key)) continue;
          seen.add(key);
        }
        items.push(checked);
      }
      if (items.length >= max) return { items, truncated: nextPage > page };
      if (nextPage <= page) return { items, truncated: false };
      if (++pagesRead >= Math.ceil(max / PER_PAGE) + EXTRA_PAGES) return { items, truncated: true };
      page = nextPage;
    }
  }

  /** One item by full name (`name@provider`); undefined when Traefik has none. */
  async find(path: string, name: string, signal: AbortSignal): Promise<Item | undefined> {
    try {
      const full = `${path}/${encodeURIComponent(name)}`;
      return checkedItem((await this.get<unknown>(full, {}, signal)).body, full);
    } catch (err) {
      if (err instanceof ToolError && err.code === 'ERR_NOT_FOUND') return undefined;
      throw err;
    }
  }

  #scrub(text: string): string {
    return withoutValues(text, this.#secrets);
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
  return (line.length > 300 ? `${sliceChars(line, 300)}...` : line) || '(empty body)';
}
