import { readCappedBody } from '@ravenhelm/auth';
import {
  BackendCall,
  type BackendRecorder,
  type BackendSeries,
  backendLabel,
  outcomeOfError,
  outcomeOfStatus,
} from './backend-metrics.js';
import { ToolError } from './errors.js';
import { Semaphore } from './semaphore.js';
import { formatTraceparent, SpanKind, startChildSpan } from './telemetry/trace.js';

/** Default cap on one backend answer: enough for any answer a tool can show within its output budget. */
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Default number of calls to one backend client in flight at once; further calls queue. */
export const DEFAULT_MAX_CONCURRENT_CALLS = 8;

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
  /**
   * Cap on one response body, in bytes (default 4 MiB). A larger answer is refused as soon as the cap is
   * passed (or at once, from Content-Length): the rest is never read. A call can lower or raise it.
   */
  maxResponseBytes?: number | undefined;
  /** The config key that raises the cap, named in the refusal: `backend.prometheus.maxResponseBytes`. */
  maxResponseBytesSetting?: string | undefined;
  /** Calls in flight at once (default 8); more wait in a queue within their own deadline. */
  maxConcurrent?: number | undefined;
  /** A semaphore shared with the server's other backend clients; wins over maxConcurrent. */
  limiter?: Semaphore | undefined;
  /**
   * With a shared limiter: the most of its slots this client holds at once (default: all but a quarter of
   * them), so one frozen backend, whose calls hold their slots until their deadline, cannot starve the
   * server's other backends.
   */
  maxShare?: number | undefined;
  /** Where calls, their outcome, time and slot wait are recorded (ravenhelm_backend_*), and the slots watched. */
  metrics?: BackendRecorder | undefined;
  /** This backend's metric label, short and stable: 'prometheus', 'gitlab' (default: from `name`). */
  backend?: string | undefined;
}

/** The slots of a shared limiter one backend client may hold by default: all but a quarter. */
export function defaultShare(limit: number): number {
  return Math.max(1, limit - Math.floor(limit / 4));
}

export interface BackendRequestInit {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  json?: unknown;
  form?: Record<string, string>;
  signal?: AbortSignal | undefined;
  headers?: Record<string, string>;
  /** Deadline for the whole call, queueing included (default: the client's timeoutMs). */
  timeoutMs?: number;
  /** This call's body cap (default: the client's maxResponseBytes). */
  maxBytes?: number | undefined;
  /** How to narrow this particular query, for the too-large refusal: "use a larger step or a shorter range". */
  narrowHint?: string | undefined;
}

export interface BackendResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** Whether a call's deadline has passed. */
type Timed = { readonly aborted: boolean };

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
  readonly #opts: BackendHttpOptions;
  readonly #maxBytes: number;
  readonly limiter: Semaphore;
  /** With a shared limiter: this client's share of it (taken first, so its own queue waits here). */
  readonly share: Semaphore | undefined;
  readonly #series: BackendSeries | undefined;

  constructor(opts: BackendHttpOptions) {
    this.#opts = opts;
    this.#maxBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.limiter = opts.limiter ?? new Semaphore(opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_CALLS);
    if (opts.limiter) {
      const share = Math.min(opts.limiter.limit, opts.maxShare ?? defaultShare(opts.limiter.limit));
      if (share < opts.limiter.limit) this.share = new Semaphore(share);
    }
    if (opts.metrics) {
      this.#series = opts.metrics.backend(opts.backend ?? backendLabel(opts.name));
      opts.metrics.watchSlots(this.limiter);
      if (this.share) opts.metrics.watchSlots(this.share, 'share');
    }
  }

  /** The default body cap of this client, in bytes. */
  get maxResponseBytes(): number {
    return this.#maxBytes;
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

  /**
   * Sends a request and parses JSON (or returns text when the body is not JSON). Non-2xx is returned,
   * not thrown. The call waits for a free slot first (within its deadline), and its body is capped.
   */
  async request<T = unknown>(method: string, path: string, init: BackendRequestInit = {}): Promise<BackendResponse<T>> {
    const url = this.url(path, init.query);
    const timeoutMs = init.timeoutMs ?? this.#opts.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const call = new BackendCall(this.#series);
    let releaseShare: (() => void) | undefined;
    let releaseSlot: () => void;
    try {
      if (this.share) releaseShare = await this.share.acquire(signal);
      releaseSlot = await this.limiter.acquire(signal);
    } catch {
      releaseShare?.();
      const busy =
        this.share && !releaseShare
          ? `${this.share.active} calls to ${this.name} were in flight (its share of the server's backend limit: ${this.share.limit})`
          : this.share
            ? `${this.limiter.active} calls to this server's backends were in flight (limit ${this.limiter.limit}, shared)`
            : `${this.limiter.active} calls to ${this.name} were in flight (limit ${this.limiter.limit})`;
      call.gaveUp(timeout.aborted);
      throw this.#queueError(timeout, timeoutMs, call.waitedMs(), busy);
    }
    call.sent();
    const release = () => {
      releaseSlot();
      releaseShare?.();
    };
    // A child span of the tool call's span when traces are on; its context goes to the backend.
    const span = startChildSpan(`${method} ${this.name}`, SpanKind.CLIENT, () => ({
      'http.request.method': method,
      'url.full': safeUrl(url),
      'server.address': url.hostname,
      'ravenhelm.backend': this.name,
    }));
    try {
      const res = await this.#send<T>(
        method,
        url,
        init,
        signal,
        timeout,
        timeoutMs,
        span && formatTraceparent(span.context),
      );
      span?.setAttributes({ 'http.response.status_code': res.status });
      if (res.status >= 500) span?.fail(String(res.status));
      call.done(outcomeOfStatus(res.status));
      return res;
    } catch (err) {
      call.done(outcomeOfError(err, !timeout.aborted && init.signal?.aborted === true));
      span?.fail((err as ToolError).code ?? 'error').setAttributes({ 'error.type': (err as ToolError).code });
      throw err;
    } finally {
      span?.end();
      release();
    }
  }

  async #send<T>(
    method: string,
    url: URL,
    init: BackendRequestInit,
    signal: AbortSignal,
    timeout: Timed,
    timeoutMs: number,
    traceparent?: string,
  ): Promise<BackendResponse<T>> {
    const headers = this.#headers(init.headers);
    if (traceparent) headers.traceparent = traceparent;
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
      // 'manual', not 'error': with redirect 'error', undici (Node 20) loses the abort of a fetch whose
      // objects were garbage-collected mid-body, so a stalled body outlived its deadline for good
      res = await fetch(url, { method, headers, body, signal, redirect: 'manual' });
    } catch (err) {
      throw this.#networkError(err, timeout, timeoutMs, url);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      const to = res.headers.get('location');
      // not followed: a redirect could take the credentials to another host
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        `${this.name} answered ${method} ${safeUrl(url)} with a redirect (HTTP ${res.status}${to ? ` to ${safeUrl(new URL(to, url))}` : ''}); redirects are not followed: set the ${this.name} URL to the address it redirects to`,
        { backend: this.name, status: res.status },
      );
    }
    const cap = init.maxBytes ?? this.#maxBytes;
    const progress = { bytes: 0 };
    let text: string;
    try {
      // a declared Content-Length over the cap is refused before any byte is read; otherwise reading stops at the
      // first chunk past the cap and the rest of the stream is cancelled
      const body = await readCappedBody(res, cap, {
        tooLarge: (size) => this.#tooLarge(method, url, cap, size, init.narrowHint),
        progress,
      });
      text = body.toString('utf8');
    } catch (err) {
      if (err instanceof ToolError) throw err;
      throw this.#bodyError(err, timeout, timeoutMs, url, res.status, progress.bytes);
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

  #tooLarge(method: string, url: URL, cap: number, size: { declared?: number }, hint?: string): ToolError {
    const seen =
      size.declared !== undefined
        ? `an answer of ${size.declared.toLocaleString('en-US')} bytes (Content-Length)`
        : `more than ${cap.toLocaleString('en-US')} bytes`;
    const raise = this.#opts.maxResponseBytesSetting ?? `the ${this.name} maxResponseBytes setting`;
    return new ToolError(
      'ERR_OUTPUT_TOO_LARGE',
      `${this.name} answered ${method} ${safeUrl(url)} with ${seen}, over this call's cap of ${cap.toLocaleString('en-US')} bytes; reading stopped there. ${hint ?? 'Narrow the query (shorter time range, coarser step, more selective matchers, a limit)'}, or have an operator raise ${raise}`,
      {
        backend: this.name,
        capBytes: cap,
        ...(size.declared !== undefined ? { contentLength: size.declared } : {}),
      },
    );
  }

  #queueError(timeout: Timed, timeoutMs: number, waitedMs: number, busy: string): ToolError {
    if (timeout.aborted) {
      return new ToolError(
        'ERR_BACKEND_TIMEOUT',
        `the call to ${this.name} waited ${waitedMs} ms for a free slot and reached its ${timeoutMs} ms deadline: ${busy}; retry later or narrow the queries in flight`,
        { backend: this.name },
      );
    }
    return new ToolError('ERR_BACKEND_TIMEOUT', `the call to ${this.name} was cancelled while queued (${busy})`, {
      backend: this.name,
    });
  }

  #networkError(err: unknown, timeout: Timed, timeoutMs: number, url: URL): ToolError {
    if (timeout.aborted) {
      return new ToolError(
        'ERR_BACKEND_TIMEOUT',
        `${this.name} did not answer within ${timeoutMs} ms (${safeUrl(url)}); try a narrower query or check the backend`,
      );
    }
    if ((err as Error)?.name === 'AbortError') {
      return new ToolError('ERR_BACKEND_TIMEOUT', `the call to ${this.name} was cancelled`);
    }
    const cause = causeOf(err);
    if (!isBrokenConnection(cause)) {
      return new ToolError(
        'ERR_BACKEND_UNAVAILABLE',
        `${this.name} is unreachable at ${safeUrl(url)} (${cause}); check that it is running and the URL is right`,
      );
    }
    // connected, then the connection went away before any answer: a crash, a restart or a proxy in between
    return new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `${this.name} at ${safeUrl(url)} closed the connection before answering (${cause}); retry, and if it repeats check the backend and any proxy in front of it`,
    );
  }

  /** A failure after the status line arrived: the body stalled, trickled past the deadline, or was cut off. */
  #bodyError(err: unknown, timeout: Timed, timeoutMs: number, url: URL, status: number, bytes: number): ToolError {
    const got = `${bytes.toLocaleString('en-US')} bytes of its HTTP ${status} answer had arrived`;
    if (timeout.aborted) {
      return new ToolError(
        'ERR_BACKEND_TIMEOUT',
        `${this.name} did not finish answering within ${timeoutMs} ms (${safeUrl(url)}): ${got}, then it stalled or trickled; retry, try a narrower query, or check the backend and any proxy in front of it`,
        { backend: this.name, status, bytesRead: bytes },
      );
    }
    if ((err as Error)?.name === 'AbortError') {
      return new ToolError('ERR_BACKEND_TIMEOUT', `the call to ${this.name} was cancelled while its answer was read`);
    }
    return new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `the connection to ${this.name} broke while its answer was read (${causeOf(err)}; ${safeUrl(url)}): ${got}; retry, and if it repeats check the backend and any proxy in front of it`,
      { backend: this.name, status, bytesRead: bytes },
    );
  }
}

/** Whether a system/undici error code means an open connection broke (vs. none could be made). */
export function isBrokenConnection(code: string): boolean {
  return BROKEN.has(code);
}

const BROKEN = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** The system or undici code under a fetch failure (`fetch failed` carries it in `cause`). */
function causeOf(err: unknown): string {
  const e = err as {
    code?: string;
    name?: string;
    cause?: { code?: string; message?: string; cause?: { code?: string } };
  };
  return e?.cause?.code ?? e?.cause?.cause?.code ?? e?.code ?? e?.cause?.message ?? e?.name ?? 'error';
}
