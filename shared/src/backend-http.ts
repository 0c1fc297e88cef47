import { ToolError } from './errors.js';

export interface BackendAuth {
  bearer?: string | undefined;
  basic?: { username: string; password: string } | undefined;
}

export interface BackendHttpOptions {
  /** Human name used in errors: "Prometheus", "Loki"... */
  name: string;
  baseUrl: string;
  timeoutMs: number;
  auth?: BackendAuth | undefined;
  /** Extra headers on every request (e.g. X-Scope-OrgID). */
  headers?: Record<string, string> | undefined;
  /** Cap on response bodies read into memory. */
  maxResponseBytes?: number;
}

export interface BackendResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** Removes userinfo and query strings from a URL so it is safe to show in an error. */
export function safeUrl(url: string | URL): string {
  try {
    const u = new URL(url.toString());
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}

/**
 * A small HTTP client for vendor APIs: every call has a timeout, honours the caller's abort signal,
 * caps the body it reads and turns network failures into tool errors that name the backend, never
 * the credentials.
 */
export class BackendHttp {
  readonly #opts: Required<Pick<BackendHttpOptions, 'maxResponseBytes'>> & BackendHttpOptions;

  constructor(opts: BackendHttpOptions) {
    this.#opts = { maxResponseBytes: 32 * 1024 * 1024, ...opts };
  }

  get name(): string {
    return this.#opts.name;
  }

  url(path: string, query?: Record<string, string | number | boolean | string[] | undefined>): URL {
    const base = this.#opts.baseUrl.endsWith('/') ? this.#opts.baseUrl : `${this.#opts.baseUrl}/`;
    const url = new URL(path.replace(/^\//, ''), base);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined) continue;
      for (const item of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(item));
    }
    return url;
  }

  #headers(extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', ...this.#opts.headers, ...extra };
    const auth = this.#opts.auth;
    if (auth?.bearer) h.authorization = `Bearer ${auth.bearer}`;
    else if (auth?.basic)
      h.authorization = `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64')}`;
    return h;
  }

  /** Sends a request and parses JSON (or returns text when the body is not JSON). Non-2xx is returned, not thrown. */
  async request<T = unknown>(
    method: string,
    path: string,
    init: {
      query?: Record<string, string | number | boolean | string[] | undefined>;
      json?: unknown;
      form?: Record<string, string>;
      signal?: AbortSignal | undefined;
      headers?: Record<string, string>;
      timeoutMs?: number;
    } = {},
  ): Promise<BackendResponse<T>> {
    const url = this.url(path, init.query);
    const timeoutMs = init.timeoutMs ?? this.#opts.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const headers = this.#headers(init.headers);
    let body: string | undefined;
    if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    } else if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, signal, redirect: 'error' });
    } catch (err) {
      throw this.#networkError(err, timeout, timeoutMs, url);
    }
    let text: string;
    try {
      text = await readCapped(res, this.#opts.maxResponseBytes);
    } catch (err) {
      if (err instanceof ToolError) throw err;
      throw this.#networkError(err, timeout, timeoutMs, url);
    }
    let parsed: unknown = text;
    if (text.length > 0 && /json/.test(res.headers.get('content-type') ?? 'application/json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  #networkError(err: unknown, timeout: AbortSignal, timeoutMs: number, url: URL): ToolError {
    if (timeout.aborted) {
      return new ToolError(
        'ERR_BACKEND_TIMEOUT',
        `${this.name} did not answer within ${timeoutMs} ms (${safeUrl(url)}); try a narrower query or check the backend`,
      );
    }
    const cause = (err as { cause?: { code?: string } })?.cause?.code ?? (err as Error)?.name ?? 'error';
    if ((err as Error)?.name === 'AbortError') {
      return new ToolError('ERR_BACKEND_TIMEOUT', `the call to ${this.name} was cancelled`);
    }
    return new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `${this.name} is unreachable at ${safeUrl(url)} (${cause}); check that it is running and the URL is right`,
    );
  }
}

async function readCapped(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new ToolError('ERR_OUTPUT_TOO_LARGE', `the backend's answer exceeded ${max} bytes; narrow the query`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
