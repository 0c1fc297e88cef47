import {
  BackendHttp,
  type BackendRecorder,
  type BackendResponse,
  clipChars,
  DEFAULT_MAX_RESPONSE_BYTES,
  type Semaphore,
  ToolError,
  withoutValues,
} from '@ravenhelm/kit';
import { z } from 'zod';

/** Connection settings shared by every backend family: where it is, how long to wait, who we are. */
export function endpointConfig(name: string, defaultUrl: string, defaultMaxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES) {
  return z
    .object({
      maxResponseBytes: z.coerce
        .number()
        .int()
        .min(64 * 1024)
        .max(256 * 1024 * 1024)
        .default(defaultMaxResponseBytes)
        .describe(`Largest ${name} answer read for one call; larger ones are refused before they are buffered`),
      url: z
        .string()
        .url()
        // fetch refuses a URL with credentials in it, so every call would fail as "unreachable"; the message
        // names the settings to use and never the URL, which holds the password
        .refine(withoutUserInfo, {
          message: `must not hold a user name or password (user:password@host): set ${name.toUpperCase()}_USERNAME and ${name.toUpperCase()}_PASSWORD (auth.username, auth.password) or ${name.toUpperCase()}_TOKEN (auth.token) instead`,
        })
        .default(defaultUrl)
        .describe(`${name} base URL (no trailing path needed)`),
      timeoutMs: z.coerce
        .number()
        .int()
        .min(100)
        .max(120_000)
        .default(10_000)
        .describe(`Per-call timeout for ${name} API calls`),
      tenant: z.string().min(1).max(256).optional().describe('Sent as X-Scope-OrgID (multi-tenant Mimir, Loki, Tempo)'),
      auth: z
        .object({
          token: z.string().min(1).optional().describe('Bearer token (secret)'),
          username: z.string().min(1).optional().describe('Basic auth user'),
          password: z.string().min(1).optional().describe('Basic auth password (secret)'),
        })
        .prefault({})
        .describe('Bearer token, or basic user and password; the token wins when both are set'),
    })
    .prefault({});
}

function withoutUserInfo(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username === '' && parsed.password === '';
  } catch {
    return true; // .url() has said what is wrong with it
  }
}

export type EndpointConfig = z.output<ReturnType<typeof endpointConfig>>;

/** Options every backend class takes: the endpoint plus an optional body cap. */
export interface BackendOptions {
  url: string;
  timeoutMs: number;
  tenant?: string | undefined;
  auth?: { token?: string | undefined; username?: string | undefined; password?: string | undefined } | undefined;
  maxResponseBytes?: number;
  /** The config key that raises the cap, named in the refusal (`backend.prometheus.maxResponseBytes`). */
  maxResponseBytesSetting?: string;
  /** One limiter shared by all of the server's backends, so a few broad queries cannot exhaust memory. */
  limiter?: Semaphore;
  /** Where this backend's calls are recorded (ravenhelm_backend_*), under the label `backend`. */
  metrics?: BackendRecorder | undefined;
  backend?: string | undefined;
}

export function httpFor(name: string, opts: BackendOptions): BackendHttp {
  const auth = opts.auth?.token
    ? { bearer: opts.auth.token }
    : opts.auth?.username && opts.auth.password !== undefined
      ? { basic: { username: opts.auth.username, password: opts.auth.password } }
      : undefined;
  const secrets = auth?.bearer
    ? [auth.bearer]
    : auth?.basic
      ? [auth.basic.password, Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64')]
      : [];
  return new ScrubbingHttp(
    {
      name,
      baseUrl: opts.url,
      timeoutMs: opts.timeoutMs,
      auth,
      headers: opts.tenant ? { 'X-Scope-OrgID': opts.tenant } : undefined,
      maxResponseBytes: opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      maxResponseBytesSetting: opts.maxResponseBytesSetting,
      limiter: opts.limiter,
      metrics: opts.metrics,
      backend: opts.backend,
    },
    secrets,
  );
}

/**
 * Backend text ends up in messages the model reads; a proxy or a debug handler that echoes our request
 * headers would put the backend's credentials there, in an error answer of any status (Prometheus sends
 * `{"status":"error"}` with HTTP 200 too). Every answer but a 200 loses every configured secret wherever it
 * sits. A 200 answer can be large (a 16 MiB matrix), so it is scrubbed where vendors write messages: a text
 * body whole, and the top-level strings and string lists of a JSON object (`error`, `message`, `warnings`).
 */
class ScrubbingHttp extends BackendHttp {
  readonly #secrets: string[];

  constructor(opts: ConstructorParameters<typeof BackendHttp>[0], secrets: string[]) {
    super(opts);
    this.#secrets = secrets.filter((s) => s.length > 0);
  }

  override async request<T = unknown>(
    method: string,
    path: string,
    init?: Parameters<BackendHttp['request']>[2],
  ): Promise<BackendResponse<T>> {
    const res = await super.request<T>(method, path, init);
    if (this.#secrets.length === 0) return res;
    const body = res.status === 200 ? scrubTopLevel(res.body, this.#secrets) : scrubSecrets(res.body, this.#secrets);
    return { ...res, body: body as T };
  }
}

/** A 200 body with its text, or its top-level strings and string lists, scrubbed; nested data is left as is. */
function scrubTopLevel(body: unknown, secrets: readonly string[]): unknown {
  if (typeof body === 'string') return withoutValues(body, secrets);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const out: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const [key, value] of Object.entries(out)) {
    if (typeof value === 'string') out[key] = withoutValues(value, secrets);
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
      out[key] = value.map((v) => withoutValues(v, secrets));
    }
  }
  return out;
}

/** `body` with every secret (raw, JSON-escaped or percent-encoded) replaced; a body that cannot be handled is withheld. */
export function scrubSecrets(body: unknown, secrets: readonly string[]): unknown {
  const replaceAll = (text: string) => withoutValues(text, secrets);
  if (typeof body === 'string') return replaceAll(body);
  if (body === null || typeof body !== 'object') return body;
  try {
    return JSON.parse(replaceAll(JSON.stringify(body)));
  } catch {
    return '(error body withheld)';
  }
}

const MAX_VENDOR_MESSAGE = 500;

/** A vendor's error text, one line, bounded: bodies are JSON `{error|message}` or plain text. */
export function vendorMessage(body: unknown, maxChars = MAX_VENDOR_MESSAGE): string {
  let text = '';
  if (typeof body === 'string') text = body;
  else if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const candidate = b.error ?? b.message ?? b.msg;
    text = typeof candidate === 'string' ? candidate : jsonText(body);
  }
  text = text.replace(/\s+/g, ' ').trim();
  return clipChars(text, maxChars) || '(empty body)';
}

/**
 * A vendor's JSON as text, or a word on why not: JSON.stringify recurses, and a body nested some thousands of
 * levels deep (JSON.parse reads it without recursing) overflows the stack, which was an internal error.
 */
function jsonText(body: unknown): string {
  try {
    return JSON.stringify(body) ?? '';
  } catch {
    return '(a JSON body nested too deeply to show)';
  }
}

const MAX_NOTES = 5;
// five clipped notes stay within the slack the range tools leave below their list budget (2 KiB)
const MAX_NOTE_CHARS = 200;

/**
 * A vendor's notes beside the data (Prometheus `warnings` / `infos`, Loki `warnings`): at most MAX_NOTES
 * clipped lines, the last one counting what was left out; undefined when the vendor said nothing.
 */
export function boundedNotes(list: unknown, key: 'warnings' | 'infos'): string[] | undefined {
  if (!Array.isArray(list) || list.length === 0) return undefined;
  const lines = list.map((w) =>
    typeof w === 'string' ? vendorMessage(w, MAX_NOTE_CHARS) : `(a ${key.slice(0, -1)} that is not text)`,
  );
  return lines.length > MAX_NOTES
    ? [
        ...lines.slice(0, MAX_NOTES - 1),
        `(${lines.length - (MAX_NOTES - 1)} more ${key} not shown; ${lines.length} in all)`,
      ]
    : lines;
}

/**
 * Turns a non-2xx answer into a ToolError the model can act on. 400 means the query or input was wrong
 * (`queryCode`), 404 means not found, 401 means our credentials were rejected (said without echoing them),
 * 403 that they lack permission for this one thing (with the vendor's message, scrubbed of secrets like every
 * non-200 body), the rest are backend errors.
 */
export function statusError(
  backend: string,
  res: BackendResponse<unknown>,
  what: string,
  queryCode: 'ERR_QUERY_INVALID' | 'ERR_INVALID_INPUT' = 'ERR_QUERY_INVALID',
): ToolError {
  const msg = vendorMessage(res.body);
  if (res.status === 400 || res.status === 422) {
    const details: Record<string, unknown> = { backend, status: res.status };
    const position = queryCode === 'ERR_QUERY_INVALID' ? queryPosition(msg) : undefined;
    if (position) Object.assign(details, position);
    return new ToolError(queryCode, `${backend} refused ${what}: ${msg}`, details);
  }
  if (res.status === 404) {
    return new ToolError('ERR_NOT_FOUND', `${backend}: ${what} not found (${msg})`, { backend, status: 404 });
  }
  if (res.status === 401) {
    return new ToolError(
      'ERR_BACKEND_ERROR',
      `${backend} rejected our credentials (HTTP 401); check the configured token or user for ${backend}`,
      { backend, status: 401 },
    );
  }
  if (res.status === 403) {
    // 403 is authenticated but not permitted (Grafana: "Access denied to this dashboard", or the permission its
    // RBAC needs): the vendor's message names what is missing; the token itself is fine.
    return new ToolError(
      'ERR_BACKEND_ERROR',
      `${backend} denied our credentials access to ${what} (HTTP 403: ${msg}); they are valid but lack permission for it: grant the configured account access, or ask for something it may read`,
      { backend, status: 403 },
    );
  }
  if (res.status === 504) {
    // Loki's own query timeout and a gateway's alike: the query ran out of time, as Prometheus's timeout does.
    return new ToolError(
      'ERR_BACKEND_TIMEOUT',
      `${backend} timed out on ${what} (HTTP 504: ${msg}); narrow the query: a shorter range, exact label matchers instead of regexes, fewer series`,
      { backend, status: 504 },
    );
  }
  if (res.status === 503) {
    return new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `${backend} is not able to answer ${what} right now (HTTP ${res.status}: ${msg})`,
      { backend, status: res.status },
    );
  }
  return new ToolError('ERR_BACKEND_ERROR', `${backend} failed on ${what} (HTTP ${res.status}: ${msg})`, {
    backend,
    status: res.status,
  });
}

/**
 * Where a query parser says the error is: Loki and Tempo write "parse error at line 1, col 30",
 * Prometheus writes "1:5: parse error" (before 2.x: "parse error at char 5").
 */
export function queryPosition(message: string): { line: number; column: number } | undefined {
  const pos = /line (\d+), col(?:umn)? (\d+)/.exec(message) ?? /(\d+):(\d+): parse error/.exec(message);
  if (pos) return { line: Number(pos[1]), column: Number(pos[2]) };
  const char = /parse error at char (\d+)/.exec(message);
  return char ? { line: 1, column: Number(char[1]) } : undefined;
}

/** Refuses a 2xx body that is not the JSON object the API documents (a proxy's HTML page, say). */
export function expectObject(backend: string, body: unknown, what: string): Record<string, unknown> {
  if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  throw new ToolError('ERR_BACKEND_ERROR', `${backend} answered ${what} with something that is not a JSON object`, {
    backend,
  });
}

export function expectArray(backend: string, body: unknown, what: string): unknown[] {
  if (Array.isArray(body)) return body;
  throw new ToolError('ERR_BACKEND_ERROR', `${backend} answered ${what} with something that is not a JSON list`, {
    backend,
  });
}

/**
 * `body` checked against the shape our readers rely on. Schemas are loose objects: fields a vendor adds
 * pass through untouched. A body that breaks the shape is the backend's fault, said as ERR_BACKEND_ERROR
 * naming the backend and the field (never the value, which is the backend's text).
 */
export function parseAnswer<S extends z.ZodType>(
  backend: string,
  schema: S,
  body: unknown,
  what: string,
  /** Where `body` sits in the answer (`data.result`), for the field name. */
  at = '',
): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = `${at}${fieldName(issue?.path ?? [], at !== '')}` || 'the body';
  // zod says "expected string, received undefined" for an absent field
  const problem = !issue ? 'unexpected shape' : /received undefined$/.test(issue.message) ? 'missing' : issue.message;
  throw new ToolError(
    'ERR_BACKEND_ERROR',
    `${backend} answered ${what} in a shape we cannot read: ${field}: ${problem}; check that the URL points at ${backend} (or a compatible API) and the version is supported`,
    { backend, field },
  );
}

/** `data.result[0].values`; object keys from the answer are clipped so the name stays short. */
function fieldName(path: readonly PropertyKey[], dotFirst = false): string {
  let out = '';
  for (const part of path.slice(0, 8)) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      const clipped = clipChars(key, 40);
      out += /^[A-Za-z_$][\w$]*$/.test(clipped)
        ? `${out || dotFirst ? '.' : ''}${clipped}`
        : `[${JSON.stringify(clipped)}]`;
    }
  }
  return out;
}

/**
 * Checks done by a loop rather than a schema per element: a matrix can hold millions of points and a zod
 * object per point costs more than the rest of the call.
 */
export function isStringRecord(value: unknown): value is Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  for (const v of Object.values(value)) if (typeof v !== 'string') return false;
  return true;
}

/** Labels: an object of string values. */
export const LabelSet = z.custom<Record<string, string>>(isStringRecord, { message: 'not an object of string labels' });

/** A Unix time in nanoseconds as Loki and Tempo write it: a decimal string (or an integer number). */
export function isNanos(value: unknown): value is string | number {
  return (
    (typeof value === 'string' && /^\d{1,20}$/.test(value)) ||
    (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)
  );
}

export const Nanos = z.custom<string | number>(isNanos, { message: 'not a Unix time in nanoseconds' });
