import { readFile } from 'node:fs/promises';
import { type BackendRecorder, type BackendSeries, loadOnce, sliceChars, ToolError, visible } from '@ravenhelm/kit';
import type { AccessLevel } from './access.js';
import { Allowlist } from './allowlist.js';
import {
  type CallScope,
  callScope,
  createHandler,
  GitLabHttpError,
  GitLabNetworkError,
  type HandlerOptions,
  MAX_JSON_ANSWER_BYTES,
} from './client.js';
import type { Api } from './gitbeaker.js';
import { fitItems } from './tools/shapes.js';

export type { Api } from './gitbeaker.js';

export interface GitLabBackendOptions {
  url: string;
  /** The server's own token (never the caller's): given directly or read from a file. */
  token?: string | undefined;
  tokenFile?: string | undefined;
  timeoutMs: number;
  maxRetries: number;
  maxRetryWaitMs: number;
  allowlist: readonly string[];
  /** The highest role a tool may grant (GITLAB_MEMBER_MAX_ACCESS); default maintainer. */
  memberMaxAccess?: AccessLevel | undefined;
  /** How much of a job log is kept while reading it (its tail). */
  maxLogBytes: number;
  /** Where GitLab requests are recorded (ravenhelm_backend_*{backend="gitlab"}). */
  metrics?: BackendRecorder | undefined;
}

export interface PageRequest {
  page: number;
  perPage: number;
  showExpanded: true;
  maxPages: 1;
}

export interface Paged<T> {
  items: T[];
  /** null when GitLab does not count (keyset paging, or more than 10,000 matches). */
  total: number | null;
  nextCursor?: string;
}

const TOKEN_TTL_MS = 30_000;

/**
 * A token as an HTTP header can carry it: GitLab's tokens (doc/security/tokens/_index.md: `glpat-` and the
 * other prefixes, then URL-safe characters) are visible ASCII. A file holding two lines or nothing at all is the
 * operator's to fix: sent, it failed as "GitLab is unreachable" (fetch refuses a line break in a header) or as
 * a token GitLab refused (401), both pointing away from the file.
 */
function checkedToken(value: string, where: string): string {
  if (/^[\x21-\x7e]+$/.test(value)) return value;
  const what =
    value === ''
      ? 'is empty'
      : /[\r\n]/.test(value)
        ? 'holds more than one line'
        : 'holds spaces or characters a token does not have';
  throw new ToolError(
    'ERR_BACKEND_UNAVAILABLE',
    `${where} ${what}; it must hold the GitLab token alone (visible ASCII, one line)`,
  );
}

/**
 * GitLab as the tools need it: gitbeaker resources over our request handler, every call bounded by
 * the configured timeout and the caller's signal, every failure turned into a ToolError that says
 * what was wrong and what to do, and the allowlist checked before anything is sent.
 */
export class GitLabBackend {
  readonly allowlist: Allowlist;
  readonly memberMaxAccess: AccessLevel;
  readonly url: string;
  readonly timeoutMs: number;
  /** How much of a job log one call reads (its tail, or a window from an offset). */
  readonly maxLogBytes: number;
  #token: { value: string; at: number } | undefined;
  readonly #opts: GitLabBackendOptions;
  // gitbeaker (its ~150 resource classes and their dependencies) is loaded by the first call, not at start.
  readonly #gitbeaker = loadOnce('GitLab client (@gitbeaker/rest)', () => import('./gitbeaker.js'));
  #api: Api | undefined;
  readonly #series: BackendSeries | undefined;

  constructor(opts: GitLabBackendOptions) {
    this.#opts = opts;
    this.url = opts.url.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs;
    this.maxLogBytes = opts.maxLogBytes;
    this.allowlist = new Allowlist(opts.allowlist);
    this.memberMaxAccess = opts.memberMaxAccess ?? 'maintainer';
    this.#series = opts.metrics?.backend('gitlab');
  }

  /** The gitbeaker resources, built once on first use. */
  async api(): Promise<Api> {
    if (this.#api) return this.#api;
    const { createApi } = await this.#gitbeaker();
    this.#api ??= createApi({
      host: this.url,
      token: () => this.#readToken(),
      queryTimeout: this.#opts.timeoutMs,
      ...this.#handlerOptions(),
    });
    return this.#api;
  }

  /**
   * GitLab's metadata endpoint sent by our request handler alone (what readiness asks): a probed but
   * otherwise idle server does not load gitbeaker.
   */
  async metadata(signal: AbortSignal): Promise<unknown> {
    const scope: CallScope = { signal, attempts: 0 };
    try {
      const headers = { 'private-token': await this.#readToken() };
      const send = createHandler(this.#handlerOptions());
      const res = await callScope.run(scope, () =>
        send('metadata', {
          method: 'GET',
          prefixUrl: `${this.url}/api/v4/`,
          headers,
          signal: AbortSignal.timeout(this.timeoutMs),
        }),
      );
      return res.body;
    } catch (err) {
      throw toToolError(err, 'the metadata endpoint', this.url, this.timeoutMs);
    }
  }

  #handlerOptions(): HandlerOptions {
    return {
      maxRetries: this.#opts.maxRetries,
      maxRetryWaitMs: this.#opts.maxRetryWaitMs,
      maxJsonBytes: MAX_JSON_ANSWER_BYTES,
      maxTextBytes: this.#opts.maxLogBytes,
      metrics: this.#series,
    };
  }

  async #readToken(): Promise<string> {
    if (this.#opts.token) return checkedToken(this.#opts.token, 'GITLAB_TOKEN');
    if (!this.#opts.tokenFile)
      throw new ToolError(
        'ERR_BACKEND_UNAVAILABLE',
        'no GitLab token is configured; set GITLAB_TOKEN_FILE (or GITLAB_TOKEN) for this server',
      );
    if (this.#token && Date.now() - this.#token.at < TOKEN_TTL_MS) return this.#token.value;
    try {
      const value = (await readFile(this.#opts.tokenFile, 'utf8')).trim();
      checkedToken(value, `the GitLab token file ${this.#opts.tokenFile} (GITLAB_TOKEN_FILE)`);
      this.#token = { value, at: Date.now() };
      return value;
    } catch (err) {
      if (err instanceof ToolError) throw err;
      throw new ToolError(
        'ERR_BACKEND_UNAVAILABLE',
        `cannot read the GitLab token file ${this.#opts.tokenFile} (${(err as NodeJS.ErrnoException).code ?? 'error'}); check GITLAB_TOKEN_FILE`,
      );
    }
  }

  /** The project path if the allowlist allows it (checked before GitLab is asked). */
  project(path: string): string {
    return this.allowlist.check('project', path);
  }

  group(path: string): string {
    return this.allowlist.check('group', path);
  }

  /**
   * GitLab answered about `requested` with a record whose full path is `answered`: a group renamed or
   * moved (resolved through its old path), or a proxy answering for something else. The record is
   * used only when it is the one asked for, so a move out of the allowlist is never followed.
   */
  same(kind: 'project' | 'group', requested: string, answered: unknown): void {
    if (typeof answered === 'string' && answered.toLowerCase() === requested.toLowerCase()) return;
    throw new ToolError(
      'ERR_NOT_FOUND',
      `GitLab answered for ${kind} "${requested}" with a ${kind} at another path (renamed or moved?); nothing was changed. Find its current path with ${kind === 'project' ? 'projects_list' : 'groups_list'} (it must be inside the allowlist)`,
      { kind, path: requested },
    );
  }

  /**
   * Runs gitbeaker calls for one tool call: bounded, cancellable, errors mapped. `secrets`: the secret values
   * the call sends (sensitive arguments), cut out of whatever GitLab or a proxy answers before it is shown.
   */
  async call<T>(
    subject: string,
    signal: AbortSignal,
    fn: (api: Api, scope: CallScope) => Promise<T>,
    secrets?: readonly (string | undefined)[],
  ): Promise<T> {
    const sent = secrets?.filter((s): s is string => s !== undefined);
    for (let attempt = 0; ; attempt++) {
      const scope: CallScope = { signal, attempts: 0, ...(sent?.length ? { secrets: sent } : {}) };
      try {
        const api = await this.api();
        return await callScope.run(scope, () => fn(api, scope));
      } catch (err) {
        if (attempt === 0 && !scope.writesApplied && (await this.#renewedAfter401(err))) continue;
        // "retry later" would be wrong here: a second issue, a second retried pipeline
        if (scope.writeUnsure && !(err instanceof ToolError))
          throw new ToolError(
            'ERR_OUTCOME_UNKNOWN',
            `GitLab at ${this.url} did not confirm ${subject}: ${scope.writeUnsure}${err instanceof GitLabHttpError && err.gitlabMessage ? ` (GitLab said: ${err.gitlabMessage})` : ''}, so it may or may not have been done. Check the current state (list or get it) before calling again: a second call could do it twice`,
            err instanceof GitLabHttpError ? { status: err.status } : {},
          );
        throw (
          (await this.#archivedRefusal(err, subject, signal)) ?? toToolError(err, subject, this.url, this.timeoutMs)
        );
      }
    }
  }

  /**
   * GitLab refused the token (401) while the one read from GITLAB_TOKEN_FILE is cached (TOKEN_TTL_MS): the
   * operator may have rotated it already (a token revoked or expired, then the file rewritten, or the token
   * expiring between two pages of one call). The file is read again at once; true when it holds another
   * token, and the call (which changed nothing yet) is sent once more with it.
   */
  async #renewedAfter401(err: unknown): Promise<boolean> {
    if (!(err instanceof GitLabHttpError) || err.status !== 401 || this.#opts.token || !this.#opts.tokenFile)
      return false;
    const used = this.#token?.value;
    this.#token = undefined;
    try {
      return (await this.#readToken()) !== used;
    } catch {
      return false;
    }
  }

  /**
   * A change to a project refused with 403 because the project is archived: GitLab's ProjectPolicy
   * (app/policies/concerns/archived_abilities.rb) takes every create/update ability on issues, merge
   * requests, notes, pipelines, jobs and wikis from an archived project whatever the role, and the API
   * answers a bare "403 Forbidden". "It needs a higher role" would then be wrong, so the project is read
   * once to tell; when that read fails too, the 403 is reported as it came.
   */
  async #archivedRefusal(err: unknown, subject: string, signal: AbortSignal): Promise<ToolError | undefined> {
    if (!(err instanceof GitLabHttpError) || err.status !== 403 || !err.request) return undefined;
    if (err.request.method === 'GET' || err.request.method === 'HEAD') return undefined;
    const ref = /\/api\/v4\/projects\/([^/]+)\/./.exec(err.request.path)?.[1];
    if (!ref || signal.aborted) return undefined;
    try {
      const project = decodeURIComponent(ref);
      const scope: CallScope = { signal, attempts: 0 };
      const api = await this.api();
      const p = (await callScope.run(scope, () => api.Projects.show(project))) as unknown as Record<string, unknown>;
      if (p.archived !== true) return undefined;
      const name = typeof p.path_with_namespace === 'string' ? p.path_with_namespace : project;
      return new ToolError(
        'ERR_CONFLICT',
        `GitLab refused ${subject} (403): project "${name}" is archived, and GitLab keeps an archived project read-only for every role; nothing was changed. Ask an Owner to unarchive it (Settings > General > Advanced, or POST /projects/:id/unarchive) if it should change again`,
        { status: 403, archived: true },
      );
    } catch {
      return undefined;
    }
  }

  /** One page of an offset-paginated list; the cursor carries page, page size and items already shown. */
  async page<T>(
    subject: string,
    signal: AbortSignal,
    cursor: string | undefined,
    limit: number,
    fn: (api: Api, req: PageRequest) => Promise<unknown>,
  ): Promise<Paged<T>> {
    const at = decodeOffsetCursor(cursor) ?? { page: 1, perPage: limit, skip: 0 };
    const res = listed<T>(
      await this.call(subject, signal, (api) =>
        fn(api, { page: at.page, perPage: at.perPage, showExpanded: true, maxPages: 1 }),
      ),
      subject,
      this.url,
    );
    const next = nextPage(at.page, res);
    return {
      items: res.data.slice(at.skip),
      total: countOf(res.paginationInfo.total, res.data.length),
      ...(next ? { nextCursor: encodeOffsetCursor({ page: next, perPage: at.perPage, skip: 0 }) } : {}),
    };
  }
}

/** One page of a GitLab list as gitbeaker returns it (`showExpanded`, `maxPages: 1`). */
export interface ListPage<T> {
  data: T[];
  paginationInfo: { total: number; next: number | null };
}

/**
 * A page of a list, or ERR_BACKEND_ERROR when GitLab (or a proxy) answered something else than a JSON array
 * there: gitbeaker then returns the value as it came, without paging facts.
 */
export function listed<T>(res: unknown, subject: string, url: string): ListPage<T> {
  const r = res as Partial<ListPage<T>> | null;
  if (r && Array.isArray(r.data) && r.paginationInfo && typeof r.paginationInfo === 'object') return r as ListPage<T>;
  const data = r && typeof r === 'object' && 'data' in r ? (r as { data: unknown }).data : r;
  const kind = data === null ? 'null' : Array.isArray(data) ? 'an array without paging facts' : `a ${typeof data}`;
  throw new ToolError(
    'ERR_BACKEND_ERROR',
    `GitLab answered ${subject} with ${kind}, not a list; check that GITLAB_URL (${url}) points at GitLab itself, not a proxy or another service`,
  );
}

/**
 * The page after `page`, when GitLab says there is one. Offset pages follow each other: x-next-page only says
 * whether another comes, so any other number there (the same page, an earlier one, a jump) is not followed
 * as given (it would repeat or skip rows), and an empty page ends the list whatever the header says.
 */
export function nextPage(page: number, res: ListPage<unknown>): number | null {
  return res.paginationInfo.next && res.data.length > 0 ? page + 1 : null;
}

/** GitLab's count (x-total) when it is one: a whole number, at least the rows on the page read. */
export function countOf(total: unknown, atLeast: number): number | null {
  return typeof total === 'number' && Number.isSafeInteger(total) && total >= atLeast ? total : null;
}

export interface OffsetCursor {
  page: number;
  perPage: number;
  skip: number;
}

export function encodeOffsetCursor(c: OffsetCursor): string {
  return Buffer.from(`o:${c.page}:${c.perPage}:${c.skip}`).toString('base64url');
}

/**
 * Deepest offset a cursor may ask for: far past what an agent pages through, short of making GitLab count
 * off millions of rows for one page (GitLab itself refuses offsets past 50,000 on /projects:
 * doc/administration/instance_limits.md "Max offset allowed by the REST API for offset-based pagination").
 */
const MAX_CURSOR_OFFSET = 1_000_000;

/** GitLab's largest page (doc/api/rest/_index.md: `per_page` max 100). */
const MAX_PER_PAGE = 100;

export function decodeOffsetCursor(cursor: string | undefined): OffsetCursor | undefined {
  if (!cursor) return undefined;
  const m = /^o:(\d{1,7}):(\d{1,3}):(\d{1,3})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw badCursor();
  const [page, perPage, skip] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // every cursor this server issues has a page from 1, GitLab's page size and a skip inside that page
  if (page < 1) throw badCursor(`its page is ${page}, and pages start at 1`);
  if (perPage < 1 || perPage > MAX_PER_PAGE)
    throw badCursor(`its page size is ${perPage}, and GitLab's pages hold 1 to ${MAX_PER_PAGE}`);
  if (skip > perPage) throw badCursor(`it skips ${skip} items of a page of ${perPage}`);
  if ((page - 1) * perPage > MAX_CURSOR_OFFSET)
    throw badCursor(
      `it starts ${(page - 1) * perPage} items in, past the ${MAX_CURSOR_OFFSET} a cursor may reach; narrow the list with filters instead`,
    );
  return { page, perPage, skip };
}

export function encodeKeysetCursor(idAfter: number, perPage: number): string {
  return Buffer.from(`k:${idAfter}:${perPage}`).toString('base64url');
}

export function decodeKeysetCursor(cursor: string | undefined): { idAfter: number; perPage: number } | undefined {
  if (!cursor) return undefined;
  const m = /^k:(\d{1,12}):(\d{1,3})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw badCursor();
  const [idAfter, perPage] = [Number(m[1]), Number(m[2])];
  if (idAfter < 1) throw badCursor(`it continues after id ${idAfter}, and GitLab's ids start at 1`);
  if (perPage < 1 || perPage > MAX_PER_PAGE)
    throw badCursor(`its page size is ${perPage}, and GitLab's pages hold 1 to ${MAX_PER_PAGE}`);
  return { idAfter, perPage };
}

/** A cursor this server did not issue (hand-made, edited or from another tool): what to send instead. */
function badCursor(why?: string): ToolError {
  return new ToolError(
    'ERR_INVALID_INPUT',
    `cursor is not one this tool issued${why ? ` (${why})` : ''}; send the nextCursor of this tool's last answer unchanged, or omit cursor to start from the first page`,
  );
}

/**
 * Re-cuts a page so it fits a byte budget: when items had to be left out, the next cursor points into
 * the same GitLab page (skip) so nothing is lost and nothing is shown twice.
 */
export function fitPage<T>(
  page: Paged<T>,
  cursor: string | undefined,
  limit: number,
  maxBytes: number,
): { items: T[]; total: number | null; truncated: boolean; nextCursor?: string } {
  const at = decodeOffsetCursor(cursor) ?? { page: 1, perPage: limit, skip: 0 };
  const items = fitItems(page.items, maxBytes);
  if (items.length < page.items.length) {
    const nextCursor = encodeOffsetCursor({ page: at.page, perPage: at.perPage, skip: at.skip + items.length });
    return { items, total: page.total, truncated: true, nextCursor };
  }
  return {
    items,
    total: page.total,
    truncated: page.nextCursor !== undefined,
    ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  };
}

/**
 * Where a redirect points when that is not GitLab's own API at `gitlabUrl` (another scheme, host or port, or a
 * page outside /api/v4/, like a sign-in page): its origin and path, without query or fragment; undefined when it
 * stays in the API (GitLab sends a moved project's old path to /api/v4/projects/<id>, doc/api/rest/_index.md
 * "Redirects") or names nothing.
 */
export function redirectElsewhere(location: URL | undefined, gitlabUrl: string): string | undefined {
  if (!location || !URL.canParse(gitlabUrl)) return undefined;
  const api = new URL(`${gitlabUrl.replace(/\/+$/, '')}/api/v4/`);
  if (location.origin === api.origin && location.pathname.startsWith(api.pathname)) return undefined;
  return visible(sliceChars(`${location.origin}${location.pathname}`, 200), { oneLine: true });
}

/** Maps anything a GitLab call threw to a ToolError that names the subject and says what to do. */
export function toToolError(err: unknown, subject: string, url: string, timeoutMs: number): ToolError {
  if (err instanceof ToolError) return err;
  if (err instanceof GitLabNetworkError) {
    switch (err.kind) {
      case 'timeout':
        return new ToolError(
          'ERR_BACKEND_TIMEOUT',
          `GitLab at ${url} did not answer about ${subject} within ${timeoutMs} ms; retry later or raise GITLAB_TIMEOUT_MS`,
        );
      case 'stalled':
        return new ToolError(
          'ERR_BACKEND_TIMEOUT',
          `GitLab at ${url} began answering about ${subject} but did not finish within ${timeoutMs} ms (the answer stalled or trickled); retry later, check GitLab and any proxy in front of it, or raise GITLAB_TIMEOUT_MS`,
        );
      case 'broken':
        return new ToolError(
          'ERR_BACKEND_UNAVAILABLE',
          `the connection to GitLab at ${url} broke while it answered about ${subject} (${err.detail}); retry, and if it repeats check GitLab and any proxy in front of it`,
          { reason: err.detail },
        );
      case 'invalid':
        return new ToolError(
          'ERR_BACKEND_ERROR',
          `GitLab's answer about ${subject} was not JSON this server can read (${err.detail}); check that GITLAB_URL points at GitLab itself, not a login page or proxy`,
        );
      case 'cancelled':
        return new ToolError('ERR_CANCELLED', `the call to GitLab about ${subject} was cancelled`);
      case 'too-large':
        if (err.detail.startsWith('GitLab kept linking'))
          return new ToolError(
            'ERR_OUTPUT_TOO_LARGE',
            `GitLab's answer about ${subject} did not end (${err.detail}); reading stopped there. Check GitLab at ${url} and any proxy in front of it`,
          );
        return new ToolError(
          'ERR_OUTPUT_TOO_LARGE',
          `GitLab's answer about ${subject} was too large (${err.detail}); reading stopped there. Narrow the request (filters, a smaller page)`,
        );
      default:
        return new ToolError(
          'ERR_BACKEND_UNAVAILABLE',
          `GitLab is unreachable at ${url} (${err.detail}); check GITLAB_URL and that GitLab is up`,
          { reason: err.detail },
        );
    }
  }
  if (err instanceof GitLabHttpError) {
    const { status, gitlabMessage: msg } = err;
    const said = msg ? ` (GitLab said: ${msg})` : '';
    const details: Record<string, unknown> = { status };
    switch (status) {
      case 400:
        return new ToolError('ERR_INVALID_INPUT', `GitLab rejected the request for ${subject}${said}`, details);
      case 401:
        return new ToolError(
          'ERR_BACKEND_ERROR',
          `GitLab refused this server's token (401) for ${subject}; the operator must renew GITLAB_TOKEN_FILE`,
          details,
        );
      case 403:
        return new ToolError(
          'ERR_NOT_ALLOWED',
          `GitLab forbids ${subject} to this server's token (403)${said}; it needs a higher role or the api scope`,
          details,
        );
      case 404:
        return new ToolError(
          'ERR_NOT_FOUND',
          `${subject} was not found, or this server's token cannot see it (GitLab answers 404 for both)${said}`,
          details,
        );
      case 301:
      case 302:
      case 303:
      case 307:
      case 308: {
        const elsewhere = redirectElsewhere(err.location, url);
        if (elsewhere)
          return new ToolError(
            'ERR_BACKEND_ERROR',
            `GitLab at ${url} redirected the request for ${subject} (HTTP ${status}) to ${elsewhere}, outside its API; this server does not follow redirects (its token stays with GITLAB_URL). Set GITLAB_URL to the address GitLab's API answers at (https, host, relative root)`,
            details,
          );
        // GitLab redirects a project's old path (renamed or transferred); following it could leave the allowlist
        return new ToolError(
          'ERR_NOT_FOUND',
          `${subject} has moved: GitLab redirects its old path (HTTP ${status}), which this server does not follow; find the new path with projects_list (it must be inside the allowlist)`,
          details,
        );
      }
      case 405:
      case 409:
        return new ToolError('ERR_CONFLICT', `GitLab refused ${subject} in its current state${said}`, details);
      case 422:
        return new ToolError('ERR_INVALID_INPUT', `GitLab could not process ${subject}${said}`, details);
      case 429: {
        const wait = err.retryAfterSeconds;
        if (wait !== undefined) details.retryAfterSeconds = wait;
        return new ToolError(
          'ERR_BACKEND_UNAVAILABLE',
          `GitLab is rate-limiting this server (429) on ${subject}${wait !== undefined ? `; retry after ${wait} s` : '; retry later'}${err.attempts > 1 ? ` (tried ${err.attempts} times)` : ''}`,
          details,
        );
      }
      default:
        if (err.retryAfterSeconds !== undefined) details.retryAfterSeconds = err.retryAfterSeconds;
        return new ToolError(
          status >= 500 ? 'ERR_BACKEND_UNAVAILABLE' : 'ERR_BACKEND_ERROR',
          `GitLab failed on ${subject} (HTTP ${status})${said}${err.attempts > 1 ? ` after ${err.attempts} attempts` : ''}; retry later`,
          details,
        );
    }
  }
  return new ToolError(
    'ERR_BACKEND_ERROR',
    `the GitLab call about ${subject} failed (${(err as Error)?.name ?? 'error'}); check GitLab at ${url}`,
  );
}
