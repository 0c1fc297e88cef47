/**
 * The HTTP layer under @gitbeaker/rest: gitbeaker builds every endpoint, query and body; this handler
 * sends them with fetch and decides what the stock handler does not: retries only idempotent reads
 * (429 and 5xx, honouring Retry-After, bounded in count and wait), caps every body it reads (a job
 * log keeps only its tail), and reports each failure with the status and GitLab's own message.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FormattedResponse, RequestHandlerFn } from '@gitbeaker/requester-utils';
import {
  type BackendOutcome,
  type BackendSeries,
  charStartFrom,
  isBrokenConnection,
  outcomeOfStatus,
  secondsSince,
  sliceChars,
  visible,
  withoutValues,
} from '@ravenhelm/kit';
import { JsonFieldWindow, type JsonWindowRead, type JsonWindowSpec } from './json-window.js';
import { stripAnsi } from './log-text.js';

export interface RetryPolicy {
  /** Extra attempts for an idempotent read after 429/5xx. */
  maxRetries: number;
  /** A Retry-After longer than this is not waited for: the call fails and says when to retry. */
  maxRetryWaitMs: number;
}

/** What one tool call's requests share: the caller's abort signal, and facts the handler reports back. */
export interface CallScope {
  signal: AbortSignal;
  /** Headers of the last response (Link for keyset paging). */
  lastHeaders?: Record<string, string>;
  /** Size of the last text body before its tail was kept. */
  textTotalBytes?: number;
  textTruncated?: boolean;
  /** Requests sent for this call, retries included: bounded by MAX_REQUESTS_PER_CALL. */
  attempts: number;
  /** JSON bytes read for this call: bounded by JSON_ANSWERS_PER_CALL answers of `maxJsonBytes`. */
  jsonBytes?: number;
  /**
   * Set before a raw read (a repository file): the next answer's body, whatever its type, is read only up
   * to the end of this byte window and then dropped, so a file of any size costs at most offset + bytes.
   */
  bodyWindow?: { offset: number; bytes: number; headBytes: number };
  /** What that read kept. */
  windowRead?: BodyWindow;
  /**
   * Set before a JSON read of a text GitLab sends only inside JSON (a wiki page): the next answer is read
   * only until a byte window of that field's value (and the fields wanted besides) has been seen.
   */
  jsonWindow?: JsonWindowSpec;
  /** What that read kept. */
  jsonWindowRead?: JsonWindowRead;
  /** Requests other than GET/HEAD that GitLab answered with success: a call with none can be sent again. */
  writesApplied?: number;
  /**
   * A change (a request other than GET/HEAD) was sent and GitLab's answer says neither yes nor no: none came in
   * time, it broke off, or a gateway answered 502/504 for it. GitLab may have made the change all the same.
   */
  writeUnsure?: string;
  /**
   * Secret values this call sends (a CI/CD variable's value, a webhook's URL and token): cut out of every
   * answer text it shows, as the server's own credentials are, since a proxy or WAF page may echo the body.
   */
  secrets?: readonly string[];
}

export interface BodyWindow {
  window: Buffer;
  /** The body's first `headBytes`. */
  head: Buffer;
  /** Bytes received: the body's size only when it ended before the window did. */
  received: number;
}

/**
 * Most requests one tool call may send. gitbeaker follows rel="next" links by itself whenever a list
 * was asked without a page bound (or came back short): a GitLab (or a proxy) linking a page to itself
 * must end the call, not loop until the deadline. The widest tool (pipelines_diagnose) needs ~20.
 */
export const MAX_REQUESTS_PER_CALL = 64;

/**
 * JSON one call may read in all, in answers of at most `maxJsonBytes` each: room for a tool that pages
 * through big answers (merge request diffs), none for an answer repeated by rel="next" until memory runs out.
 */
export const JSON_ANSWERS_PER_CALL = 4;

/** The most JSON one answer may carry before reading stops. */
export const MAX_JSON_ANSWER_BYTES = 16 * 1024 * 1024;

/** GitLab's answers nest a few levels; far deeper is not GitLab, and recursing into it would overflow the stack. */
const MAX_JSON_DEPTH = 64;

/** The deepest array/object nesting of a JSON text (strings skipped), in one pass. */
export function nestingOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) max = depth;
    } else if (c === 93 || c === 125) depth--;
  }
  return max;
}

export const callScope = new AsyncLocalStorage<CallScope>();

export class GitLabHttpError extends Error {
  constructor(
    readonly status: number,
    readonly gitlabMessage: string,
    readonly retryAfterSeconds: number | undefined,
    readonly attempts: number,
    /** What was asked: the method and the URL's path (`/api/v4/projects/a%2Fb/issues`, encoded as sent). */
    readonly request?: { method: string; path: string },
    /** Where a redirect (3xx) pointed, resolved against the request's URL; never followed. */
    readonly location?: URL,
  ) {
    super(`GitLab answered HTTP ${status}`);
    this.name = 'GitLabHttpError';
  }
}

export class GitLabNetworkError extends Error {
  constructor(
    /** timeout: no answer in time; stalled: the answer began but did not finish in time; broken: the
     *  connection failed mid-answer; invalid: a JSON answer that does not parse. */
    readonly kind: 'timeout' | 'stalled' | 'cancelled' | 'unreachable' | 'broken' | 'invalid' | 'too-large',
    readonly detail: string,
  ) {
    super(`GitLab request failed: ${kind}`);
    this.name = 'GitLabNetworkError';
  }
}

export interface HandlerOptions extends RetryPolicy {
  /** Cap on JSON bodies read into memory. */
  maxJsonBytes: number;
  /** Text bodies (job logs) keep only their last this-many bytes. */
  maxTextBytes: number;
  /** Where each request (its retries included) is recorded: ravenhelm_backend_*{backend="gitlab"}. */
  metrics?: BackendSeries | undefined;
}

const IDEMPOTENT = new Set(['GET', 'HEAD']);

/** Seconds from a Retry-After header (delta-seconds or HTTP date); undefined when absent or unreadable. */
export function retryAfterSeconds(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v);
  // an HTTP-date (RFC 9110 section 5.6.7: IMF-fixdate, RFC 850 or asctime) starts with the weekday and ends with
  // GMT or the year; Date.parse guesses at anything else ("1, 1" from two merged headers, "-1", "1.5" are 2001)
  if (!/^[A-Za-z]{3}/.test(v) || !/(GMT|\d{4})$/.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function readCapped(
  res: Response,
  max: number,
  keepTail: boolean,
  tooLarge = `the answer exceeded ${max} bytes`,
): Promise<{ buf: Buffer; total: number }> {
  const chunks: Buffer[] = [];
  let kept = 0;
  let total = 0;
  if (!res.body) return { buf: Buffer.alloc(0), total: 0 };
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const b = Buffer.from(chunk);
    total += b.length;
    if (!keepTail && total > max) {
      await res.body.cancel().catch(() => undefined);
      throw new GitLabNetworkError('too-large', tooLarge);
    }
    chunks.push(b);
    kept += b.length;
    while (keepTail && kept - (chunks[0]?.length ?? 0) >= max) kept -= (chunks.shift() as Buffer).length;
  }
  let buf = Buffer.concat(chunks);
  if (buf.length > max) buf = buf.subarray(buf.length - max);
  // a tail begins at a character, so its bytes and its text agree (offsets into it stay exact)
  const start = keepTail && total > buf.length ? Math.min(charStartFrom(buf, 0), 3) : 0;
  return { buf: buf.subarray(start), total };
}

/** Bytes [offset, offset + bytes) of a body and its first `headBytes`; the rest is not fetched. */
async function readWindow(
  res: Response,
  { offset, bytes, headBytes }: NonNullable<CallScope['bodyWindow']>,
): Promise<BodyWindow> {
  const window: Buffer[] = [];
  const head: Buffer[] = [];
  let received = 0;
  let headKept = 0;
  const end = offset + bytes;
  for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
    const b = Buffer.from(chunk);
    if (headKept < headBytes) {
      head.push(b.subarray(0, headBytes - headKept));
      headKept = Math.min(headBytes, headKept + b.length);
    }
    if (received + b.length > offset && received < end)
      window.push(b.subarray(Math.max(0, offset - received), end - received));
    received += b.length;
    if (received >= end && headKept >= headBytes) break; // leaving the loop cancels the body
  }
  return { window: Buffer.concat(window), head: Buffer.concat(head), received };
}

/**
 * A JSON object read until `spec`'s window of one string field and the fields it wants were seen; the
 * rest is not fetched. Whole chunks are read (what has arrived costs nothing more), so a small answer is
 * read to its end and the field's size is known.
 */
async function readJsonWindow(res: Response, spec: JsonWindowSpec): Promise<JsonWindowRead> {
  const reader = new JsonFieldWindow(spec);
  for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
    reader.push(Buffer.from(chunk));
    if (reader.enough) return reader.result(); // leaving the loop cancels the body
  }
  throw new SyntaxError('the JSON answer ended early');
}

const CREDENTIAL_HEADERS = ['private-token', 'authorization', 'job-token'];

/**
 * Shortest secret value cut out of an answer: a shorter one would cut ordinary words and numbers out of
 * GitLab's message, and is no secret worth the name.
 */
const MIN_SECRET_CHARS = 4;

/**
 * `text` with every credential this request carried replaced, and every secret value its call sends
 * (`CallScope.secrets`), before it is cut or shown anywhere.
 */
export function withoutCredentials(
  text: string,
  headers: Record<string, string> | undefined,
  secrets: readonly string[] = [],
): string {
  const credentials = Object.entries(headers ?? {})
    .filter(([name, value]) => CREDENTIAL_HEADERS.includes(name.toLowerCase()) && typeof value === 'string')
    .flatMap(([, value]) => [value, value.replace(/^\s*(bearer|basic)\s+/i, '')]);
  // the longest first: a secret may hold a shorter one (a webhook URL its token)
  const values = [...secrets].sort((a, b) => b.length - a.length);
  return withoutValues(withoutValues(text, credentials, 8), values, MIN_SECRET_CHARS);
}

/**
 * The words of an HTML error page: its <title> ("GitLab is not responding (502)" in GitLab's own
 * public/502.html, "502 Bad Gateway" from nginx), else its text without markup, styles and scripts.
 */
export function htmlPageText(html: string): string {
  const strip = (s: string) =>
    s
      .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<[^>]*>/g, ' ')
      .replace(/&(amp|lt|gt|quot|#39|nbsp);/g, (_, e: string) =>
        e === 'amp' ? '&' : e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'quot' ? '"' : e === '#39' ? "'" : ' ',
      )
      .replace(/\s+/g, ' ')
      .trim();
  const title = strip(/<title\b[^>]*>([\s\S]*?)<\/title\s*>/i.exec(html)?.[1] ?? '');
  // the page is whoever answered's: its controls and bidi overrides are shown as [U+XXXX], never passed on
  return `${visible(title || strip(html), { oneLine: true })} (an HTML page, not GitLab's API: GitLab or a proxy in front of it)`;
}

/** A Content-Type's media type, lowercased, without parameters. */
const mediaType = (header: string | null): string => (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

/**
 * GitLab's message in an error answer, on one visible line of at most 300 characters. `scrub` runs on the words
 * taken out of the answer before they are cut: a value the page held escaped (`&amp;` in HTML, `\u00e9` in JSON)
 * is only whole there.
 */
function gitlabMessageOf(text: string, header: string, scrub: (s: string) => string = (s) => s): string {
  const contentType = mediaType(header);
  let msg: unknown = text;
  if (contentType.includes('html') || /^\s*<(!doctype|html)\b/i.test(text)) msg = htmlPageText(text);
  else if (contentType.includes('json')) {
    try {
      const body = JSON.parse(text) as { message?: unknown; error?: unknown; error_description?: unknown };
      msg = body.message ?? body.error_description ?? body.error ?? text;
    } catch {
      msg = text;
    }
  }
  const s = scrub(typeof msg === 'string' ? msg : JSON.stringify(msg));
  // terminal escapes (a link's URL with them) and control characters are nothing a message needs; what
  // would still reorder or hide text (bidi overrides, zero-width characters) is shown as [U+XXXX]
  return sliceChars(visible(stripAnsi(s.replace(/\s+/g, ' ')).trim(), { oneLine: true }), 300);
}

/** What a failed request means for ravenhelm_backend_requests_total. */
function outcomeOf(err: unknown): BackendOutcome {
  if (err instanceof GitLabHttpError) return outcomeOfStatus(err.status);
  if (!(err instanceof GitLabNetworkError)) return 'error';
  return NETWORK_OUTCOMES[err.kind];
}

const NETWORK_OUTCOMES: Record<GitLabNetworkError['kind'], BackendOutcome> = {
  timeout: 'timeout',
  stalled: 'timeout',
  cancelled: 'cancelled',
  unreachable: 'unavailable',
  broken: 'unavailable',
  invalid: 'error',
  'too-large': 'too_large',
};

export function createHandler(opts: HandlerOptions): RequestHandlerFn {
  const send = sender(opts);
  const series = opts.metrics;
  if (!series) return send;
  return async (endpoint, options) => {
    const start = performance.now();
    try {
      const res = await send(endpoint, options);
      series.done(outcomeOfStatus(res.status), secondsSince(start));
      return res;
    } catch (err) {
      series.done(outcomeOf(err), secondsSince(start));
      throw err;
    }
  };
}

function sender(opts: HandlerOptions): RequestHandlerFn {
  return async (endpoint, options = {}) => {
    const {
      method = 'GET',
      prefixUrl,
      searchParams,
      signal,
      headers,
      body,
    } = options as {
      method?: string;
      prefixUrl?: string;
      searchParams?: string;
      signal?: AbortSignal;
      headers?: Record<string, string>;
      body?: string | FormData;
    };
    const scope = callScope.getStore();
    const base = prefixUrl?.endsWith('/') ? prefixUrl : `${prefixUrl ?? ''}/`;
    const url = new URL(endpoint, base);
    url.search = searchParams ?? '';
    const signals = [signal, scope?.signal].filter((s): s is AbortSignal => s !== undefined);
    const combined = signals.length > 0 ? AbortSignal.any(signals) : new AbortController().signal;
    const idempotent = IDEMPOTENT.has(method);
    for (let attempt = 0; ; attempt++) {
      if (scope && ++scope.attempts > MAX_REQUESTS_PER_CALL)
        throw new GitLabNetworkError(
          'too-large',
          `GitLab kept linking a next page: more than ${MAX_REQUESTS_PER_CALL} requests for one call`,
        );
      let res: Response;
      try {
        res = await fetch(url, { method, headers, body, signal: combined, redirect: 'manual' });
      } catch (err) {
        throw unsureIfSent(networkError(err, signal, scope?.signal), idempotent, scope);
      }
      if (res.ok) {
        if (scope && !idempotent) scope.writesApplied = (scope.writesApplied ?? 0) + 1;
        try {
          return await parse(res, opts, scope, headers);
        } catch (err) {
          // the status line came; the body stalled, trickled past the deadline or was cut off
          throw unsureIfSent(networkError(err, signal, scope?.signal, 'body'), idempotent, scope);
        }
      }
      // a gateway gave up waiting for GitLab (or lost it mid-answer): GitLab may still have made the change
      if (scope && !idempotent && (res.status === 502 || res.status === 504))
        scope.writeUnsure = `a gateway in front of GitLab answered HTTP ${res.status} for it`;
      // an error page may echo the request (proxies and debug pages do): our own credentials go first
      const scrub = (t: string) => withoutCredentials(t, headers, scope?.secrets);
      const text = scrub(
        (await readCapped(res, 64 * 1024, false).catch(() => ({ buf: Buffer.alloc(0) }))).buf.toString('utf8'),
      );
      const location = res.headers.get('location');
      const redirect = location !== null && URL.canParse(location, url.href) ? new URL(location, url) : undefined;
      const retryAfter = retryAfterSeconds(res.headers.get('retry-after'));
      const retryable = idempotent && (res.status === 429 || (res.status >= 500 && res.status !== 501));
      const waitMs = retryAfter !== undefined ? retryAfter * 1000 : 250 * 2 ** attempt;
      if (retryable && attempt < opts.maxRetries && waitMs <= opts.maxRetryWaitMs) {
        try {
          await sleep(waitMs, combined);
        } catch (err) {
          if (scope?.signal.aborted) throw networkError(err, signal, scope.signal);
          // the deadline passed while waiting to retry: what went wrong is GitLab's last answer
          throw new GitLabHttpError(
            res.status,
            gitlabMessageOf(text, res.headers.get('content-type') ?? '', scrub),
            retryAfter,
            attempt + 1,
            { method, path: url.pathname },
          );
        }
        continue;
      }
      throw new GitLabHttpError(
        res.status,
        gitlabMessageOf(text, res.headers.get('content-type') ?? '', scrub),
        retryAfter,
        attempt + 1,
        { method, path: url.pathname },
        redirect,
      );
    }
  };
}

/** Network failures after which a change that was sent may have reached GitLab. */
const UNSURE_KINDS: Partial<Record<GitLabNetworkError['kind'], string>> = {
  timeout: 'no answer came in time',
  stalled: 'its answer began but did not finish in time',
  broken: 'the connection broke before the answer was complete',
};

/** `err`, after noting on the call that the change it was sending may have been made (see writeUnsure). */
function unsureIfSent(err: Error, idempotent: boolean, scope: CallScope | undefined): Error {
  const why = err instanceof GitLabNetworkError ? UNSURE_KINDS[err.kind] : undefined;
  if (scope && !idempotent && why) scope.writeUnsure = why;
  return err;
}

function networkError(
  err: unknown,
  timeout: AbortSignal | undefined,
  caller: AbortSignal | undefined,
  phase: 'connect' | 'body' = 'connect',
): Error {
  if (err instanceof GitLabNetworkError) return err;
  if (caller?.aborted) return new GitLabNetworkError('cancelled', 'the call was cancelled');
  const e = err as { name?: string; cause?: { code?: string; message?: string } };
  const late = phase === 'body';
  if (timeout?.aborted || e?.name === 'AbortError' || e?.name === 'TimeoutError')
    return new GitLabNetworkError(
      late ? 'stalled' : 'timeout',
      late ? 'the answer did not finish' : 'no answer in time',
    );
  if (e?.name === 'SyntaxError') return new GitLabNetworkError('invalid', 'the answer is not valid JSON');
  const cause = e?.cause?.code ?? e?.cause?.message ?? e?.name ?? 'network error';
  return new GitLabNetworkError(late || isBrokenConnection(cause) ? 'broken' : 'unreachable', cause);
}

/**
 * GitLab's API answers JSON, plain text (job logs: lib/api/ci/jobs.rb `content_type 'text/plain'`) or a raw
 * blob, never HTML: a raw file is sent as text/plain, its image type or application/octet-stream, an .html
 * file included (app/helpers/workhorse_helper.rb `send_git_blob` with blob_helper.rb `safe_content_type`,
 * there so a browser never runs a repository's HTML). An HTML page with a success
 * status is someone else's: a single sign-on proxy's login page (oauth2-proxy, an identity-aware proxy) or
 * GITLAB_URL pointing at GitLab's web UI. Read as an answer it became a job log, an empty record or a crash.
 */
async function refuseHtml(
  res: Response,
  type: string,
  credentials: Record<string, string> | undefined,
  secrets: readonly string[] | undefined,
) {
  if (type !== 'text/html' && type !== 'application/xhtml+xml') return;
  const page = await readCapped(res, 64 * 1024, false).then(
    (r) => r.buf.toString('utf8'),
    () => '',
  );
  const words = sliceChars(withoutCredentials(htmlPageText(page), credentials, secrets), 300);
  throw new GitLabNetworkError(
    'invalid',
    `HTTP ${res.status} came with ${words}, perhaps a single sign-on proxy's login page`,
  );
}

/** Most links kept from one Link header: GitLab sends prev, next, first and last at most. */
const MAX_LINKS = 8;

/**
 * The Link header (RFC 8288) reduced to its well-formed `<url>; rel="name"` entries, rebuilt. gitbeaker reads
 * it with /<([^>]+)>; rel="([^"]+)"/g, which backtracks over every "<" not closed by a ">": a 15 KB header of
 * them (a hostile proxy) cost half a second of the event loop per answer, and text before GitLab's own links
 * became part of the "next" URL. Here no target may hold "<" or ">", so the scan is linear.
 */
export function cleanLink(header: string): string {
  const links: string[] = [];
  for (const m of header.matchAll(/<([^<>]*)>\s*;\s*rel="([^"<>]*)"/g)) {
    if (links.length >= MAX_LINKS) break;
    links.push(`<${m[1]}>; rel="${m[2]}"`);
  }
  return links.join(', ');
}

async function parse(
  res: Response,
  opts: HandlerOptions,
  scope: CallScope | undefined,
  credentials?: Record<string, string>,
): Promise<FormattedResponse> {
  const headers = Object.fromEntries(res.headers.entries());
  if (headers.link !== undefined) headers.link = cleanLink(headers.link);
  if (scope) scope.lastHeaders = headers;
  // media types compare without case (RFC 9110 section 8.3.1): "Application/JSON" is JSON
  const type = mediaType(res.headers.get('content-type'));
  await refuseHtml(res, type, credentials, scope?.secrets);
  const window = scope?.bodyWindow;
  if (scope && window) {
    scope.bodyWindow = undefined;
    scope.windowRead = await readWindow(res, window);
    return { body: new Blob([scope.windowRead.window]), headers, status: res.status };
  }
  if (res.status === 204) return { body: null, headers, status: res.status };
  const jsonWindow = scope?.jsonWindow;
  if (scope && jsonWindow) {
    scope.jsonWindow = undefined;
    if (type !== 'application/json')
      throw new GitLabNetworkError('invalid', `the answer is ${type || 'untyped'}, not JSON`);
    scope.jsonWindowRead = await readJsonWindow(res, jsonWindow);
    return { body: scope.jsonWindowRead.fields, headers, status: res.status };
  }
  if (type === 'application/json') {
    const used = scope?.jsonBytes ?? 0;
    const perCall = JSON_ANSWERS_PER_CALL * opts.maxJsonBytes;
    const tooLarge =
      perCall - used < opts.maxJsonBytes
        ? `the answers for this call exceeded ${perCall} bytes`
        : `the answer exceeded ${opts.maxJsonBytes} bytes`;
    const { buf } = await readCapped(res, Math.min(opts.maxJsonBytes, perCall - used), false, tooLarge);
    if (scope) scope.jsonBytes = used + buf.length;
    const text = buf.toString('utf8');
    if (nestingOf(text) > MAX_JSON_DEPTH)
      throw new GitLabNetworkError('invalid', `the answer nests deeper than ${MAX_JSON_DEPTH} levels`);
    return { body: text === '' ? {} : (JSON.parse(text) ?? {}), headers, status: res.status };
  }
  if (type.startsWith('text/')) {
    const { buf, total } = await readCapped(res, opts.maxTextBytes, true);
    if (scope) {
      scope.textTotalBytes = total;
      scope.textTruncated = total > buf.length;
    }
    return { body: buf.toString('utf8'), headers, status: res.status };
  }
  const { buf } = await readCapped(res, opts.maxJsonBytes, false);
  return { body: new Blob([buf]), headers, status: res.status };
}
