/**
 * A stateful GitLab REST v4 simulator (tests only), answering over loopback HTTP.
 *
 * Built from GitLab's own reference (gitlabhq/gitlabhq):
 * - doc/api/rest/_index.md: PRIVATE-TOKEN auth and `401 Unauthorized`; offset pagination headers
 *   (x-page, x-per-page, x-next-page, x-prev-page, x-total, x-total-pages, Link first/prev/next/last;
 *   per_page default 20, max 100; x-total, x-total-pages and rel="last" omitted past 10,000 rows);
 *   keyset pagination (`pagination=keyset&order_by=id`, Link rel="next" only, no totals) on /projects;
 *   error bodies `{"message": ...}` / `{"error": ...}`; 404 for resources the token cannot see.
 * - doc/api/projects.md, groups.md, members.md (access levels 10..50), users.md, pipelines.md,
 *   jobs.md (`scope[]`, `include_retried`, GET /jobs/:id/trace as text/plain, retry/cancel; trigger jobs
 *   only in GET /pipelines/:id/bridges, with `downstream_pipeline`),
 *   merge_requests.md (`changes_count` with "+", `head_pipeline`, GET /diffs with `collapsed` and
 *   `too_large`, GET /changes with `overflow`, GET /pipelines: see `mergeRequestPipelines`), merge_request_approvals.md, issues.md, notes.md,
 *   project_level_variables.md and group_level_variables.md (values are plain in the API: masking
 *   applies to job logs; hidden variables answer `value: null`), projects.md#hooks (the hook `token`
 *   is write-only: never in responses), runners.md (status, contacted_at), repository_files.md
 *   (base64 `content`; /raw with X-Gitlab-* headers), repositories.md (tree), wikis.md.
 * - doc/administration/settings/user_and_ip_rate_limits.md: a throttled request gets 429 with
 *   `Retry-After` and RateLimit-* headers and the plain-text body "Retry later".
 * - doc/ci/jobs/job_logs.md: `section_start:<unix>:<name>[collapsed=true]\r\e[0K` / `section_end` markers.
 * - doc/api/rest/_index.md "Redirects" and lib/api/helpers.rb `find_project!` (gitlab-org/gitlab MR 128642,
 *   "Redirect API requests to moved projects", and MR 259297 documenting the 405): a project named by a
 *   path it had before a rename or transfer answers GET with `301 Moved Permanently` and a Location that
 *   names it by id (same sub-path and query); any other method gets `405 {"message": "Non GET methods are
 *   not allowed for moved projects"}`. By id or by its current path nothing changes.
 * - lib/api/helpers.rb `find_group`: a group reference of digits only is an id, anything else a full path
 *   looked up without following redirect routes (groups are not redirected like projects).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ACCESS,
  type SimDiff,
  type SimGroup,
  type SimIssue,
  type SimJob,
  type SimMergeRequest,
  type SimNote,
  type SimPipeline,
  type SimProject,
  type SimState,
  type SimUser,
  type SimVariable,
  seed,
} from './gitlab-seed.js';
import { listen } from './http.js';

export * from './gitlab-seed.js';

export interface GitLabRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  token: string | undefined;
}

export interface GitLabControl {
  delayMs: number;
  /** Every request gets this answer instead (GitLab failing). */
  fail: { status: number; body: string; contentType?: string; retryAfter?: number } | undefined;
  /**
   * The next `count` requests (only those whose path matches `path`, when given: GitLab also has limits per
   * endpoint group, user_and_ip_rate_limits.md) are throttled with this Retry-After.
   */
  throttle:
    | {
        count: number;
        retryAfterSeconds: number;
        path?: RegExp;
        /**
         * Retry-After as an HTTP date (RFC 9110 section 10.2.3 allows either form): GitLab's own throttle sends
         * seconds (lib/gitlab/rack_attack.rb), a proxy or CDN in front of it may send the date.
         */
        asDate?: boolean;
      }
    | undefined;
  /** Above this many rows GitLab stops counting (x-total omitted). */
  countLimit: number;
  /**
   * The instance's diff limits (application settings `diff_max_files`, `diff_max_lines`, `diff_max_patch_bytes`;
   * doc/administration/diff_limits.md: defaults 1000, 50,000 and 200 KB, at most 3000, 100,000 and 500 KB). They
   * apply when GitLab stores a merge request's diff (see `storedDiffs`).
   */
  diffMaxFiles: number;
  diffMaxLines: number;
  diffMaxPatchBytes: number;
  /**
   * Whether GET /diffs reads the stored files expanded. Current GitLab passes `{ expanded: true }`
   * (lib/api/merge_requests.rb `paginated_diffs(params[:page], params[:per_page], { expanded: true })`): no
   * file is collapsed. Releases before that read them with the collection's defaults, and
   * Gitlab::Git::DiffCollection collapses (empties) a file's patch over 10% of diff_max_patch_bytes and every
   * file once the safe limits are reached (see `apiDiffs`). Both are in the field; false models the older ones.
   */
  diffsExpanded: boolean;
  requests: GitLabRequest[];
}

export interface GitLabSim {
  url: string;
  state: SimState;
  control: GitLabControl;
  close(): Promise<void>;
}

type Json = unknown;
interface Answer {
  status: number;
  body: Json | string;
  headers?: Record<string, string>;
  text?: boolean;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
    readonly headers?: Record<string, string>,
  ) {
    super(String(status));
  }
}

const notFound = (what: string) => new HttpError(404, { message: `404 ${what} Not Found` });
const forbidden = (why?: string) => new HttpError(403, { message: why ? `403 Forbidden - ${why}` : '403 Forbidden' });
const badRequest = (message: Json) => new HttpError(400, { message });
const missing = (param: string) => new HttpError(400, { error: `${param} is missing` });

export async function startGitLabSim(state: SimState = seed()): Promise<GitLabSim> {
  const control: GitLabControl = {
    delayMs: 0,
    fail: undefined,
    throttle: undefined,
    countLimit: 10_000,
    diffMaxFiles: 1000,
    diffMaxLines: 50_000,
    diffMaxPatchBytes: 200 * 1024,
    diffsExpanded: false,
    requests: [],
  };
  let base = '';
  const listening = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = () => void respond(req, res, Buffer.concat(chunks).toString('utf8'));
      if (control.delayMs > 0) setTimeout(reply, control.delayMs);
      else reply();
    });
  });
  base = listening.url;

  async function respond(req: IncomingMessage, res: ServerResponse, rawBody: string) {
    if (res.destroyed) return;
    const url = new URL(req.url ?? '/', base);
    const token = (req.headers['private-token'] as string | undefined) ?? bearer(req.headers.authorization);
    control.requests.push({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, token });
    if (control.requests.length > 500) control.requests.shift();
    let answer: Answer;
    if (control.fail) {
      const f = control.fail;
      answer = {
        status: f.status,
        body: f.body,
        text: !f.contentType?.includes('json'),
        headers: f.retryAfter !== undefined ? { 'retry-after': String(f.retryAfter) } : {},
      };
      if (f.contentType?.includes('json')) answer = { ...answer, body: JSON.parse(f.body), text: false };
    } else if (control.throttle && control.throttle.count > 0 && (control.throttle.path?.test(url.pathname) ?? true)) {
      control.throttle.count--;
      const ra = control.throttle.retryAfterSeconds;
      answer = {
        status: 429,
        body: 'Retry later\n',
        text: true,
        headers: {
          'retry-after': control.throttle.asDate ? new Date(Date.now() + ra * 1000).toUTCString() : String(ra),
          'ratelimit-limit': '600',
          'ratelimit-observed': '601',
          'ratelimit-remaining': '0',
          'ratelimit-reset': String(Math.floor(Date.now() / 1000) + ra),
          'ratelimit-name': 'throttle_authenticated_api',
        },
      };
    } else {
      try {
        let body: Record<string, unknown> = {};
        const type = req.headers['content-type'] ?? '';
        if (rawBody && type.includes('json')) body = JSON.parse(rawBody);
        else if (rawBody && (type.includes('multipart/form-data') || type.includes('x-www-form-urlencoded'))) {
          // GitLab (Grape) takes form bodies as well as JSON; gitbeaker sends some edits as multipart
          const form = await new Response(rawBody, { headers: { 'content-type': type } }).formData();
          for (const [k, v] of form) body[k] = typeof v === 'string' ? v : '';
        }
        for (const [k, v] of url.searchParams) if (!(k in body)) body[k] = v;
        answer = route(req.method ?? 'GET', url, token, body);
      } catch (err) {
        if (err instanceof HttpError)
          answer = { status: err.status, body: err.body, ...(err.headers ? { headers: err.headers } : {}) };
        else answer = { status: 500, body: { message: '500 Internal Server Error' } };
      }
    }
    const headers: Record<string, string> = {
      // a failure given with its own type (an HTML error page from a proxy or Workhorse) keeps it
      'content-type': control.fail?.contentType ?? (answer.text ? 'text/plain; charset=utf-8' : 'application/json'),
      ...(answer.headers ?? {}),
    };
    if (answer.status === 204) res.writeHead(204, headers).end();
    else res.writeHead(answer.status, headers).end(answer.text ? String(answer.body) : JSON.stringify(answer.body));
  }

  // ---- helpers over state -------------------------------------------------------------------------

  const userById = (id: number) => state.users.find((u) => u.id === id);
  const userBasic = (u: SimUser | undefined) =>
    u
      ? {
          id: u.id,
          username: u.username,
          name: u.name,
          state: u.state,
          locked: false,
          avatar_url: null,
          web_url: `${base}/${u.username}`,
        }
      : null;

  function caller(token: string | undefined): SimUser {
    const id = token ? state.tokens.get(token) : undefined;
    const u = id ? userById(id) : undefined;
    if (!u || u.state === 'blocked') throw new HttpError(401, { message: '401 Unauthorized' });
    return u;
  }

  const groupById = (id: number) => state.groups.find((g) => g.id === id);
  const ancestors = (g: SimGroup | undefined): SimGroup[] => {
    const out: SimGroup[] = [];
    for (let cur = g; cur; cur = cur.parent_id ? groupById(cur.parent_id) : undefined) out.push(cur);
    return out;
  };
  const groupAccess = (g: SimGroup, u: SimUser) => Math.max(0, ...ancestors(g).map((a) => a.members.get(u.id) ?? 0));
  const projectAccess = (p: SimProject, u: SimUser) =>
    Math.max(p.members.get(u.id) ?? 0, groupAccess(groupById(p.namespace_id) as SimGroup, u));
  const canSeeProject = (p: SimProject, u: SimUser) =>
    u.is_admin || p.visibility !== 'private' || projectAccess(p, u) > 0;
  const canSeeGroup = (g: SimGroup, u: SimUser) => u.is_admin || g.visibility !== 'private' || groupAccess(g, u) > 0;

  function findProject(ref: string, u: SimUser): SimProject {
    const p = /^\d+$/.test(ref)
      ? state.projects.find((x) => x.id === Number(ref))
      : state.projects.find((x) => x.path_with_namespace.toLowerCase() === ref.toLowerCase());
    if (!p || !canSeeProject(p, u)) throw notFound('Project');
    return p;
  }
  /** A path the project had before it moved: GET is redirected to it by id, other methods are refused. */
  function movedProject(method: string, url: URL, ref: string, u: SimUser): void {
    if (/^\d+$/.test(ref) || state.projects.some((x) => x.path_with_namespace.toLowerCase() === ref.toLowerCase()))
      return;
    const movedTo = state.redirects?.get(ref.toLowerCase());
    const p = movedTo === undefined ? undefined : state.projects.find((x) => x.id === movedTo);
    if (!p || !canSeeProject(p, u)) return;
    if (method !== 'GET') throw new HttpError(405, { message: 'Non GET methods are not allowed for moved projects' });
    const location = new URL(url.pathname.replace(encodeURIComponent(ref), String(p.id)) + url.search, base);
    throw new HttpError(
      301,
      { message: `This resource has been moved permanently to ${location}.` },
      { location: location.toString() },
    );
  }
  function findGroup(ref: string, u: SimUser): SimGroup {
    const g = /^\d+$/.test(ref)
      ? groupById(Number(ref))
      : state.groups.find((x) => x.full_path.toLowerCase() === ref.toLowerCase());
    if (!g || !canSeeGroup(g, u)) throw notFound('Group');
    return g;
  }
  const need = (level: number, have: number, isAdmin: boolean) => {
    if (!isAdmin && have < level) throw forbidden();
  };

  /** Offset pagination exactly as documented: headers, Link, per_page clamp, uncounted past the limit. */
  function paged<T>(items: T[], url: URL, map: (t: T, index: number) => Json, maxPerPage = 100): Answer {
    const perPage = Math.min(maxPerPage, Math.max(1, Number(url.searchParams.get('per_page')) || 20));
    const page = Math.max(1, Number(url.searchParams.get('page')) || 1);
    const totalPages = Math.max(1, Math.ceil(items.length / perPage));
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const counted = items.length <= control.countLimit;
    const link = (p: number, rel: string) => {
      const u = new URL(url.pathname + url.search, base);
      u.searchParams.set('page', String(p));
      u.searchParams.set('per_page', String(perPage));
      return `<${u}>; rel="${rel}"`;
    };
    const links = [];
    if (page > 1) links.push(link(page - 1, 'prev'));
    if (page < totalPages) links.push(link(page + 1, 'next'));
    links.push(link(1, 'first'));
    if (counted) links.push(link(totalPages, 'last'));
    const headers: Record<string, string> = {
      'x-page': String(page),
      'x-per-page': String(perPage),
      'x-next-page': page < totalPages ? String(page + 1) : '',
      'x-prev-page': page > 1 ? String(page - 1) : '',
      link: links.join(', '),
    };
    if (counted) {
      headers['x-total'] = String(items.length);
      headers['x-total-pages'] = String(totalPages);
    }
    return { status: 200, body: slice.map((t, i) => map(t, (page - 1) * perPage + i)), headers };
  }

  const boolParam = (v: unknown): boolean | undefined =>
    v === undefined ? undefined : v === true || v === 'true' || v === '1';

  // ---- entities as GitLab renders them --------------------------------------------------------------

  const projectJson = (p: SimProject, simple = false) => {
    const ns = groupById(p.namespace_id) as SimGroup;
    const basic = {
      id: p.id,
      description: p.description,
      name: p.name,
      name_with_namespace: `${ns.full_path.split('/').join(' / ')} / ${p.name}`,
      path: p.path,
      path_with_namespace: p.path_with_namespace,
      created_at: p.created_at,
      // an empty repository too: GitLab >= 14.1 names the branch a first push creates (gitlab-org/gitlab
      // MR 64944, `default_branch_or_main`), and says `empty_repo: true` below
      default_branch: p.default_branch,
      tag_list: [],
      topics: [],
      ssh_url_to_repo: `ssh://git@127.0.0.1/${p.path_with_namespace}.git`,
      http_url_to_repo: `${base}/${p.path_with_namespace}.git`,
      web_url: `${base}/${p.path_with_namespace}`,
      avatar_url: null,
      star_count: 0,
      last_activity_at: p.last_activity_at,
      namespace: { id: ns.id, name: ns.name, path: ns.path, kind: 'group', full_path: ns.full_path },
    };
    if (simple) return basic;
    return {
      ...basic,
      visibility: p.visibility,
      archived: p.archived,
      open_issues_count: p.issues.filter((i) => i.state === 'opened').length,
      issues_enabled: true,
      merge_requests_enabled: p.merge_requests_access_level !== 'disabled',
      merge_requests_access_level: p.merge_requests_access_level ?? 'enabled',
      jobs_enabled: true,
      wiki_enabled: true,
      empty_repo: p.files.size === 0,
      forks_count: state.projects.filter((x) => x.forked_from_id === p.id).length,
    };
  };

  const pipelineBasic = (p: SimProject, pl: SimPipeline) => ({
    id: pl.id,
    iid: pl.iid,
    project_id: p.id,
    sha: pl.sha,
    ref: pl.ref,
    status: pl.status,
    source: pl.source,
    created_at: pl.created_at,
    updated_at: pl.updated_at,
    web_url: `${base}/${p.path_with_namespace}/-/pipelines/${pl.id}`,
  });
  const pipelineJson = (p: SimProject, pl: SimPipeline) => ({
    ...pipelineBasic(p, pl),
    before_sha: '0000000000000000000000000000000000000000',
    tag: false,
    yaml_errors: null,
    user: userBasic(userById(pl.user_id)),
    started_at: pl.started_at,
    finished_at: pl.finished_at,
    committed_at: null,
    duration: pl.duration,
    queued_duration: 0.01,
    coverage: null,
    detailed_status: { icon: `status_${pl.status}`, text: pl.status, label: pl.status, group: pl.status },
  });
  const jobJson = (p: SimProject, j: SimJob) => {
    const pl = p.pipelines.find((x) => x.id === j.pipeline_id) as SimPipeline;
    return {
      id: j.id,
      status: j.status,
      stage: j.stage,
      name: j.name,
      ref: pl.ref,
      tag: false,
      coverage: null,
      allow_failure: j.allow_failure,
      created_at: j.created_at,
      started_at: j.started_at,
      finished_at: j.finished_at,
      erased_at: null,
      duration: j.duration,
      queued_duration: 0.5,
      user: userBasic(userById(pl.user_id)),
      commit: {
        author_email: 'alice@example.test',
        author_name: 'Alice',
        created_at: pl.created_at,
        id: pl.sha,
        message: 'Round invoice totals',
        short_id: pl.sha.slice(0, 8),
        title: 'Round invoice totals',
      },
      pipeline: { id: pl.id, project_id: p.id, ref: pl.ref, sha: pl.sha, status: pl.status },
      web_url: `${base}/${p.path_with_namespace}/-/jobs/${j.id}`,
      // jobs.md (the job's `artifacts`): once a job has finished its log is archived as a `trace` artifact
      // with its size in bytes (file_format null on gitlab.com answers, "raw" in the doc's example); a
      // running job's log is not archived yet
      artifacts:
        ['success', 'failed', 'canceled'].includes(j.status) && j.trace !== ''
          ? [{ file_type: 'trace', size: Buffer.byteLength(j.trace), filename: 'job.log', file_format: null }]
          : [],
      runner: null,
      // GitLab exposes failure_reason only on failed jobs
      ...(j.status === 'failed' ? { failure_reason: j.failure_reason } : {}),
      archived: false,
      tag_list: [],
    };
  };
  /** jobs.md "List pipeline bridges": a job's fields and the downstream pipeline it created. */
  const bridgeJson = (p: SimProject, j: SimJob) => {
    const dp = j.bridge ? state.projects.find((x) => x.id === j.bridge?.project_id) : undefined;
    const dpl = dp?.pipelines.find((x) => x.id === j.bridge?.pipeline_id);
    return { ...jobJson(p, j), downstream_pipeline: dp && dpl ? pipelineBasic(dp, dpl) : null };
  };
  /**
   * lib/api/entities/merge_request_basic.rb (gitlabhq/gitlabhq): `merge_status` is `public_merge_status`
   * (app/models/merge_request.rb: cannot_be_merged_rechecking and preparing shown as "checking"),
   * `detailed_merge_status` comes from app/services/merge_requests/mergeability/detailed_merge_status_service.rb
   * (preparing -> "preparing"; checking or cannot_be_merged_rechecking -> "checking"; unchecked -> "unchecked";
   * otherwise the checks: CheckConflictStatusService fails with "conflict" on cannot_be_merged and is still
   * "checking" when neither can_be_merged nor cannot_be_merged, i.e. cannot_be_merged_recheck), and
   * `has_conflicts` is `cannot_be_merged?`: false in every state still being checked. Other merge checks
   * (approvals, CI, discussions) are not simulated: a checked MR without conflicts is "mergeable".
   */
  const mergeability = (mr: SimMergeRequest) => {
    const s = mr.merge_status;
    return {
      merge_status: s === 'cannot_be_merged_rechecking' || s === 'preparing' ? 'checking' : s,
      detailed_merge_status:
        s === 'preparing'
          ? 'preparing'
          : s === 'unchecked'
            ? 'unchecked'
            : s === 'can_be_merged'
              ? 'mergeable'
              : s === 'cannot_be_merged'
                ? 'conflict'
                : 'checking',
      has_conflicts: s === 'cannot_be_merged',
    };
  };
  const mrJson = (p: SimProject, mr: SimMergeRequest, detailed: boolean) => {
    const head = mr.head_pipeline_id ? p.pipelines.find((x) => x.id === mr.head_pipeline_id) : undefined;
    const basic = {
      id: mr.id,
      iid: mr.iid,
      project_id: p.id,
      title: mr.title,
      description: mr.description,
      state: mr.state,
      created_at: mr.created_at,
      updated_at: mr.updated_at,
      merged_at: mr.state === 'merged' ? mr.updated_at : null,
      closed_at: mr.state === 'closed' ? mr.updated_at : null,
      target_branch: mr.target_branch,
      source_branch: mr.source_branch,
      // merge_requests.md: project_id is always target_project_id; source_project_id is the fork's for a fork's MR
      source_project_id: mr.source_project_id ?? p.id,
      target_project_id: p.id,
      author: userBasic(userById(mr.author_id)),
      assignees: [],
      reviewers: [],
      draft: mr.draft || mr.title.startsWith('Draft:'),
      work_in_progress: mr.draft || mr.title.startsWith('Draft:'),
      ...mergeability(mr),
      sha: head?.sha ?? 'f'.repeat(40),
      user_notes_count: mr.notes.length,
      labels: [],
      web_url: `${base}/${p.path_with_namespace}/-/merge_requests/${mr.iid}`,
    };
    if (!detailed) return basic;
    const stored = storedDiffs(mr);
    return {
      ...basic,
      // MergeRequestDiff#real_size: the stored files' count, with "+" when the collection overflowed
      changes_count: `${stored.files.length}${stored.overflow ? '+' : ''}`,
      head_pipeline: head ? pipelineJson(p, head) : null,
      pipeline: head ? pipelineBasic(p, head) : null,
      diff_refs: { base_sha: 'a'.repeat(40), head_sha: head?.sha ?? 'f'.repeat(40), start_sha: 'a'.repeat(40) },
      merge_error: null,
      user: { can_merge: true },
    };
  };
  const issueJson = (p: SimProject, i: SimIssue) => ({
    id: i.id,
    iid: i.iid,
    project_id: p.id,
    title: i.title,
    description: i.description,
    state: i.state,
    created_at: i.created_at,
    updated_at: i.updated_at,
    closed_at: i.closed_at,
    labels: i.labels,
    author: userBasic(userById(i.author_id)),
    assignees: i.assignee_ids.map((id) => userBasic(userById(id))),
    user_notes_count: i.notes.length,
    web_url: `${base}/${p.path_with_namespace}/-/issues/${i.iid}`,
    references: { short: `#${i.iid}`, full: `${p.path_with_namespace}#${i.iid}` },
  });
  const noteJson = (n: SimNote, type: string, parentId: number) => ({
    id: n.id,
    type: null,
    body: n.body,
    author: userBasic(userById(n.author_id)),
    created_at: n.created_at,
    updated_at: n.created_at,
    system: n.system,
    noteable_id: parentId,
    noteable_type: type,
    confidential: false,
    internal: false,
  });
  const variableJson = (v: SimVariable) => ({
    variable_type: v.variable_type,
    key: v.key,
    value: v.hidden ? null : v.value,
    protected: v.protected,
    masked: v.masked,
    hidden: v.hidden,
    raw: v.raw,
    environment_scope: v.environment_scope,
    description: v.description,
  });
  const hookJson = (h: (typeof state.projects)[number]['hooks'][number], projectId: number) => {
    const { token: _never, ...rest } = h;
    return { ...rest, project_id: projectId, alert_status: 'executable' };
  };
  const userJson = (u: SimUser, asAdmin: boolean) => ({
    ...(userBasic(u) as object),
    created_at: u.created_at,
    bot: u.bot,
    ...(asAdmin ? { is_admin: u.is_admin, email: u.email, last_activity_on: u.last_activity_on } : {}),
  });

  const sortNewest = <T extends { id: number }>(xs: T[]) => [...xs].sort((a, b) => b.id - a.id);

  function variableIn(list: SimVariable[], key: string, scope: string | undefined): SimVariable {
    const matches = list.filter((v) => v.key === key && (scope === undefined || v.environment_scope === scope));
    if (matches.length === 0) throw notFound('Variable');
    if (matches.length > 1)
      throw new HttpError(409, {
        message: "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'",
      });
    return matches[0] as SimVariable;
  }

  function writeVariable(list: SimVariable[], body: Record<string, unknown>, existing?: SimVariable): SimVariable {
    const key = String(body.key ?? existing?.key ?? '');
    if (!existing) {
      if (!body.key) throw missing('key');
      if (body.value === undefined) throw missing('value');
      if (!/^[A-Za-z0-9_]{1,255}$/.test(key)) throw badRequest({ key: ["can contain only letters, digits and '_'."] });
      const scope = String(body.environment_scope ?? '*');
      if (list.some((v) => v.key === key && v.environment_scope === scope))
        throw badRequest({ key: [`(${key}) has already been taken`] });
    }
    const value = body.value === undefined ? (existing?.value ?? '') : String(body.value);
    const masked = boolParam(body.masked) ?? boolParam(body.masked_and_hidden) ?? existing?.masked ?? false;
    if (masked && (value.length < 8 || /\s/.test(value))) throw badRequest({ value: ['is invalid'] });
    const v: SimVariable = {
      key,
      value,
      variable_type: (body.variable_type as SimVariable['variable_type']) ?? existing?.variable_type ?? 'env_var',
      protected: boolParam(body.protected) ?? existing?.protected ?? false,
      masked,
      hidden: existing?.hidden ?? boolParam(body.masked_and_hidden) ?? false,
      raw: boolParam(body.raw) ?? existing?.raw ?? false,
      environment_scope: String(body.environment_scope ?? existing?.environment_scope ?? '*'),
      description: body.description === undefined ? (existing?.description ?? null) : String(body.description),
    };
    if (existing) list.splice(list.indexOf(existing), 1, v);
    else list.push(v);
    return v;
  }

  // ---- routes -------------------------------------------------------------------------------------

  function route(method: string, url: URL, token: string | undefined, body: Record<string, unknown>): Answer {
    const prefix = '/api/v4/';
    if (!url.pathname.startsWith(prefix)) throw new HttpError(404, { error: '404 Not Found' });
    const seg = url.pathname.slice(prefix.length).split('/').map(decodeURIComponent);
    const me = caller(token);
    const ok = (b: Json, status = 200): Answer => ({ status, body: b });
    const q = url.searchParams;
    const [root, id, sub, subId, action, actionId, tail] = seg;
    let key = `${method} ${[root, id && ':id', sub, subId && ':sub', action, actionId && ':aid', tail].filter(Boolean).join('/')}`;
    // literal sub-resources where the generic pattern would read a name as an id
    if (sub === 'repository' && subId === 'tree' && !action) key = `${method} projects/:id/repository/tree`;
    if (sub === 'repository' && subId === 'files' && action && !actionId)
      key = `${method} projects/:id/repository/files/:path`;
    if (sub === 'repository' && subId === 'files' && action && actionId === 'raw' && !tail)
      key = `${method} projects/:id/repository/files/:path/raw`;
    if (root === 'runners' && id === 'all' && !sub) key = `${method} runners/all`;
    if (sub === 'repository' && subId === 'commits' && action && actionId === 'refs' && !tail)
      key = `${method} projects/:id/repository/commits/:sha/refs`;

    if (key === 'GET metadata' || key === 'GET version')
      return ok({ version: '17.5.1', revision: 'sim', kas: { enabled: false }, enterprise: false });
    if (key === 'GET user') return ok(userJson(me, true));

    if (root === 'projects' && !id && method === 'GET') return listProjects(url, me);
    if (key === 'POST projects') {
      if (!body.name && !body.path) throw badRequest('name or path is required');
      const ns = body.namespace_id !== undefined ? groupById(Number(body.namespace_id)) : undefined;
      if (!ns || !canSeeGroup(ns, me)) throw notFound('Namespace');
      need(ACCESS.maintainer, groupAccess(ns, me), me.is_admin);
      const path = String(
        body.path ??
          String(body.name)
            .toLowerCase()
            .replace(/[^\w.-]+/g, '-'),
      );
      const full = `${ns.full_path}/${path}`;
      if (state.projects.some((x) => x.path_with_namespace.toLowerCase() === full.toLowerCase()))
        throw badRequest({ path: ['has already been taken'], name: ['has already been taken'] });
      const now = new Date().toISOString();
      const p: SimProject = {
        id: ++state.nextId,
        name: String(body.name ?? path),
        path,
        namespace_id: ns.id,
        path_with_namespace: full,
        description: String(body.description ?? ''),
        visibility: (body.visibility as SimProject['visibility']) ?? 'private',
        default_branch: 'main',
        archived: false,
        created_at: now,
        last_activity_at: now,
        members: new Map([[me.id, ACCESS.owner]]),
        pipelines: [],
        jobs: [],
        merge_requests: [],
        issues: [],
        variables: [],
        hooks: [],
        files: new Map(),
        wiki: [],
      };
      state.projects.push(p);
      return ok(projectJson(p), 201);
    }
    if (root === 'projects' && id) {
      movedProject(method, url, id, me);
      const p = findProject(id, me);
      const access = projectAccess(p, me);
      // app/policies/project_policy.rb `rule { archived }` with app/policies/concerns/archived_abilities.rb:
      // an archived project loses every create/update/admin/destroy ability on issues, merge requests,
      // notes, pipelines, builds (jobs) and wikis, whatever the role (admins too); lib/api/helpers.rb
      // `authorize!` then answers `forbidden!` without a reason: 403 {"message": "403 Forbidden"}. Project
      // settings (variables, hooks, members) stay writable, and every read works.
      if (p.archived && method !== 'GET' && /^(issues|merge_requests|pipelines|jobs|wikis)$/.test(sub ?? ''))
        throw forbidden();
      // app/policies/project_policy.rb `rule { merge_requests_disabled | repository_disabled }` prevents
      // read_merge_request; lib/api/merge_requests.rb `authorize! :read_merge_request, user_project` then
      // answers 403 {"message": "403 Forbidden"}; one merge request (helpers.rb `find_merge_request_with_access`)
      // is looked up first (404 when there is none), then authorized the same way
      if (sub === 'merge_requests' && p.merge_requests_access_level === 'disabled') {
        if (subId) mrOf(p, subId);
        throw forbidden();
      }
      switch (key) {
        case 'GET projects/:id':
          return ok(projectJson(p));
        case 'GET projects/:id/pipelines': {
          let list = sortNewest(p.pipelines);
          for (const f of ['ref', 'status', 'source'] as const) {
            const v = q.get(f);
            if (v) list = list.filter((x) => x[f] === v);
          }
          if (q.get('sort') === 'asc') list.reverse();
          return paged(list, url, (x) => pipelineBasic(p, x));
        }
        case 'GET projects/:id/pipelines/:sub':
          return ok(pipelineJson(p, pipelineOf(p, subId)));
        case 'GET projects/:id/pipelines/:sub/jobs':
        case 'GET projects/:id/pipelines/:sub/bridges': {
          const pl = pipelineOf(p, subId);
          const bridges = action === 'bridges';
          const scopes = q.getAll('scope[]').concat(q.getAll('scope'));
          const withRetried = !bridges && boolParam(q.get('include_retried') ?? undefined) === true;
          const jobs = sortNewest(
            p.jobs.filter(
              (j) =>
                j.pipeline_id === pl.id &&
                (j.bridge !== undefined) === bridges &&
                (withRetried || !j.retried) &&
                (scopes.length === 0 || scopes.includes(j.status)),
            ),
          );
          return paged(jobs, url, (j) => (bridges ? bridgeJson(p, j) : jobJson(p, j)));
        }
        case 'POST projects/:id/pipelines/:sub/retry': {
          need(ACCESS.developer, access, me.is_admin);
          const pl = pipelineOf(p, subId);
          for (const j of p.jobs.filter(
            (x) => x.pipeline_id === pl.id && !x.retried && ['failed', 'canceled'].includes(x.status),
          )) {
            j.retried = true;
            p.jobs.push({
              ...j,
              id: ++state.nextId,
              status: 'pending',
              retried: false,
              failure_reason: null,
              trace: '',
              started_at: null,
              finished_at: null,
              duration: null,
            });
          }
          pl.status = 'running';
          pl.finished_at = null;
          return ok(pipelineJson(p, pl), 201);
        }
        case 'POST projects/:id/pipelines/:sub/cancel': {
          need(ACCESS.developer, access, me.is_admin);
          const pl = pipelineOf(p, subId);
          const active = p.jobs.filter(
            (x) => x.pipeline_id === pl.id && ['created', 'pending', 'running', 'manual'].includes(x.status),
          );
          for (const j of active) j.status = 'canceled';
          if (['created', 'pending', 'running', 'waiting_for_resource', 'preparing'].includes(pl.status))
            pl.status = 'canceled';
          return ok(pipelineJson(p, pl), 201);
        }
        case 'GET projects/:id/jobs/:sub':
          return ok(jobJson(p, jobOf(p, subId)));
        case 'GET projects/:id/jobs/:sub/trace':
          return { status: 200, body: jobOf(p, subId).trace, text: true };
        case 'POST projects/:id/jobs/:sub/retry': {
          need(ACCESS.developer, access, me.is_admin);
          const j = jobOf(p, subId);
          if (!['failed', 'canceled', 'success'].includes(j.status)) throw forbidden('Job is not retryable');
          j.retried = true;
          const copy: SimJob = {
            ...j,
            id: ++state.nextId,
            status: 'pending',
            retried: false,
            failure_reason: null,
            trace: '',
            started_at: null,
            finished_at: null,
            duration: null,
          };
          p.jobs.push(copy);
          return ok(jobJson(p, copy), 201);
        }
        case 'GET projects/:id/merge_requests': {
          let list = sortNewest(p.merge_requests);
          const st = q.get('state');
          if (st && st !== 'all') list = list.filter((m) => m.state === st);
          const tb = q.get('target_branch');
          if (tb) list = list.filter((m) => m.target_branch === tb);
          // merge_requests.md "List project merge requests": `source_branch`, exact like `target_branch`
          const sb = q.get('source_branch');
          if (sb) list = list.filter((m) => m.source_branch === sb);
          // lib/api/helpers/merge_requests_helpers.rb `source_project_id` (Integer): the project the branch is in
          const sp = q.get('source_project_id');
          if (sp) list = list.filter((m) => (m.source_project_id ?? p.id) === Number(sp));
          const s = q.get('search')?.toLowerCase();
          if (s) list = list.filter((m) => `${m.title} ${m.description}`.toLowerCase().includes(s));
          // merge_requests.md: `order_by` created_at (default) or updated_at, `sort` desc (default) or asc
          const by = q.get('order_by') === 'updated_at' ? 'updated_at' : 'created_at';
          list.sort((a, b) => b[by].localeCompare(a[by]) || b.id - a.id);
          if (q.get('sort') === 'asc') list.reverse();
          return paged(list, url, (m) => mrJson(p, m, false));
        }
        case 'GET projects/:id/merge_requests/:sub':
          return ok(mrJson(p, mrOf(p, subId), true));
        case 'GET projects/:id/merge_requests/:sub/pipelines':
          return paged(mergeRequestPipelines(p, mrOf(p, subId)), url, ([q, x]) => pipelineBasic(q, x));
        case 'GET projects/:id/merge_requests/:sub/diffs': {
          // PaginatedMergeRequestDiff (lib/gitlab/diff/file_collection/paginated_merge_request_diff.rb): a page
          // holds at most DEFAULT_PER_PAGE = 30 files whatever per_page asks, and its headers say so
          const stored = storedDiffs(mrOf(p, subId)).files;
          const shown = apiDiffs(stored);
          return paged(stored, url, (_d, i) => shown[i], 30);
        }
        case 'GET projects/:id/merge_requests/:sub/changes': {
          const mr = mrOf(p, subId);
          const stored = storedDiffs(mr);
          return ok({
            ...mrJson(p, mr, true),
            changes: apiDiffs(stored.files).map(({ collapsed: _a, too_large: _b, ...d }) => d),
            overflow: stored.overflow,
          });
        }
        case 'GET projects/:id/merge_requests/:sub/approvals': {
          const mr = mrOf(p, subId);
          return ok({
            id: mr.id,
            iid: mr.iid,
            project_id: p.id,
            title: mr.title,
            state: mr.state,
            merge_status: mergeability(mr).merge_status,
            approved: mr.approved_by.length >= mr.approvals_required,
            approvals_required: mr.approvals_required,
            approvals_left: Math.max(0, mr.approvals_required - mr.approved_by.length),
            approved_by: mr.approved_by.map((id) => ({ user: userBasic(userById(id)) })),
          });
        }
        case 'POST projects/:id/merge_requests/:sub/notes': {
          need(ACCESS.reporter, access, me.is_admin || p.visibility !== 'private');
          const mr = mrOf(p, subId);
          const n = addNote(mr.notes, body, me);
          return ok(noteJson(n, 'MergeRequest', mr.id), 201);
        }
        case 'GET projects/:id/issues': {
          let list = sortNewest(p.issues);
          const st = q.get('state');
          if (st && st !== 'all') list = list.filter((i) => i.state === st);
          const labels = q.get('labels');
          if (labels) list = list.filter((i) => labels.split(',').every((l) => i.labels.includes(l)));
          const s = q.get('search')?.toLowerCase();
          if (s) list = list.filter((i) => `${i.title} ${i.description}`.toLowerCase().includes(s));
          return paged(list, url, (i) => issueJson(p, i));
        }
        case 'GET projects/:id/issues/:sub':
          return ok(issueJson(p, issueOf(p, subId)));
        case 'POST projects/:id/issues': {
          need(ACCESS.guest, access, me.is_admin || p.visibility !== 'private');
          if (!body.title) throw missing('title');
          const iid = Math.max(0, ...p.issues.map((i) => i.iid)) + 1;
          const issue: SimIssue = {
            id: ++state.nextId,
            iid,
            title: String(body.title),
            description: String(body.description ?? ''),
            state: 'opened',
            labels: String(body.labels ?? '')
              .split(',')
              .filter(Boolean),
            author_id: me.id,
            assignee_ids: [],
            created_at: new Date().toISOString(),
            updated_at: new Date().toISOString(),
            closed_at: null,
            notes: [],
          };
          p.issues.push(issue);
          return ok(issueJson(p, issue), 201);
        }
        case 'PUT projects/:id/issues/:sub': {
          need(ACCESS.reporter, access, me.is_admin);
          const issue = issueOf(p, subId);
          if (body.state_event === 'close' && issue.state === 'opened') {
            issue.state = 'closed';
            issue.closed_at = new Date().toISOString();
          } else if (body.state_event === 'reopen') {
            issue.state = 'opened';
            issue.closed_at = null;
          }
          issue.updated_at = new Date().toISOString();
          return ok(issueJson(p, issue));
        }
        case 'POST projects/:id/issues/:sub/notes': {
          need(ACCESS.guest, access, me.is_admin || p.visibility !== 'private');
          const issue = issueOf(p, subId);
          return ok(noteJson(addNote(issue.notes, body, me), 'Issue', issue.id), 201);
        }
        case 'GET projects/:id/variables':
          need(ACCESS.maintainer, access, me.is_admin);
          return paged(p.variables, url, variableJson);
        case 'POST projects/:id/variables':
          need(ACCESS.maintainer, access, me.is_admin);
          return ok(variableJson(writeVariable(p.variables, body)), 201);
        case 'PUT projects/:id/variables/:sub': {
          need(ACCESS.maintainer, access, me.is_admin);
          const existing = variableIn(p.variables, subId as string, scopeFilter(q, body));
          return ok(variableJson(writeVariable(p.variables, body, existing)));
        }
        case 'DELETE projects/:id/variables/:sub': {
          need(ACCESS.maintainer, access, me.is_admin);
          const existing = variableIn(p.variables, subId as string, scopeFilter(q, body));
          p.variables.splice(p.variables.indexOf(existing), 1);
          return { status: 204, body: '' };
        }
        case 'GET projects/:id/hooks':
          need(ACCESS.maintainer, access, me.is_admin);
          return paged(p.hooks, url, (h) => hookJson(h, p.id));
        case 'POST projects/:id/hooks': {
          need(ACCESS.maintainer, access, me.is_admin);
          if (!body.url) throw missing('url');
          if (!/^https?:\/\//.test(String(body.url))) throw new HttpError(422, { error: 'Invalid url given' });
          const h = {
            id: ++state.nextId,
            url: String(body.url),
            token: body.token === undefined ? null : String(body.token),
            push_events: boolParam(body.push_events) ?? true,
            merge_requests_events: boolParam(body.merge_requests_events) ?? false,
            pipeline_events: boolParam(body.pipeline_events) ?? false,
            issues_events: boolParam(body.issues_events) ?? false,
            enable_ssl_verification: boolParam(body.enable_ssl_verification) ?? true,
            created_at: new Date().toISOString(),
          };
          p.hooks.push(h);
          return ok(hookJson(h, p.id), 201);
        }
        case 'DELETE projects/:id/hooks/:sub': {
          need(ACCESS.maintainer, access, me.is_admin);
          const h = p.hooks.find((x) => x.id === Number(subId));
          if (!h) throw notFound('Hook');
          p.hooks.splice(p.hooks.indexOf(h), 1);
          return { status: 204, body: '' };
        }
        case 'GET projects/:id/repository/tree': {
          const files = refFiles(p, q.get('ref') ?? p.default_branch);
          const dir = (q.get('path') ?? '').replace(/\/+$/, '');
          const recursive = boolParam(q.get('recursive') ?? undefined) === true;
          const entries = new Map<string, { type: string; path: string }>();
          for (const f of files.keys()) {
            if (dir && !f.startsWith(`${dir}/`)) continue;
            const rest = dir ? f.slice(dir.length + 1) : f;
            const parts = rest.split('/');
            if (recursive) {
              for (let i = 1; i < parts.length; i++) {
                const d = [dir, ...parts.slice(0, i)].filter(Boolean).join('/');
                entries.set(d, { type: 'tree', path: d });
              }
              entries.set(f, { type: 'blob', path: f });
            } else if (parts.length === 1) entries.set(f, { type: 'blob', path: f });
            else {
              const d = [dir, parts[0]].filter(Boolean).join('/');
              entries.set(d, { type: 'tree', path: d });
            }
          }
          if (dir && entries.size === 0) throw notFound('Tree');
          const list = [...entries.values()].sort((a, b) => a.path.localeCompare(b.path));
          return paged(list, url, (e) => ({
            id: Buffer.from(e.path).toString('hex').slice(0, 40).padEnd(40, '0'),
            name: e.path.split('/').pop(),
            type: e.type,
            path: e.path,
            mode: e.type === 'tree' ? '040000' : '100644',
          }));
        }
        case 'GET projects/:id/repository/commits/:sha/refs': {
          // commits.md: the branches and tags of this project that contain the commit; `type` branch,
          // tag or all (default branch); 404 "Commit Not Found" for a revision that resolves to none.
          const rev = action as string;
          const type = q.get('type') ?? 'branch';
          let refs: { type: 'branch' | 'tag'; name: string }[];
          if (p.files.has(rev)) refs = [{ type: 'branch', name: rev }];
          else {
            const found = commitAt(p, rev);
            if (!found) throw notFound('Commit');
            refs = found.refs;
          }
          return paged(
            refs.filter((r) => type === 'all' || r.type === type),
            url,
            (r) => r,
          );
        }
        case 'GET projects/:id/repository/files/:path': {
          // repository_files.md "Get file from repository": `ref` is required and may not be blank
          const ref = q.get('ref');
          if (ref === null) throw missing('ref');
          if (ref === '') throw new HttpError(400, { error: 'ref is empty' });
          const { filePath, buf } = fileAt(p, ref, action as string);
          return ok({ ...fileMeta(filePath, buf, ref), content: buf.toString('base64') });
        }
        case 'GET projects/:id/repository/files/:path/raw': {
          // repository_files.md "Get raw file from repository": `ref` is optional (default: the project's
          // HEAD); the bytes as text/plain (lib/api/helpers.rb `send_git_blob`, Content-Disposition inline),
          // the metadata as X-Gitlab-* headers (lib/api/helpers/headers_helpers.rb `set_http_headers`)
          const ref = q.get('ref');
          if (ref === '') throw new HttpError(400, { error: 'ref is empty' });
          const { filePath, buf } = fileAt(p, ref ?? 'HEAD', action as string);
          // header values go out as their UTF-8 bytes, as Rack sends them
          const raw = (v: unknown) => Buffer.from(String(v)).toString('latin1');
          const headers: Record<string, string> = {
            'content-disposition': raw(`inline; filename="${filePath.split('/').pop()}"`),
          };
          for (const [k, v] of Object.entries(fileMeta(filePath, buf, ref ?? '')))
            headers[`x-gitlab-${k.replaceAll('_', '-')}`] = raw(v);
          return { status: 200, body: buf.toString('utf8'), text: true, headers };
        }
        // lib/api/entities/wiki_page_basic.rb and wiki_page.rb: Grape exposes fields in declaration order,
        // the basic ones (format, slug, title) first, then content and its encoding; wikis.md lists no other
        // form of a page (no raw endpoint: `render_html` and `version` are its only options)
        case 'GET projects/:id/wikis':
          return ok(
            p.wiki.map((w) => ({
              format: w.format,
              slug: w.slug,
              title: w.title,
              ...(boolParam(q.get('with_content') ?? undefined) ? { content: w.content, encoding: 'UTF-8' } : {}),
            })),
          );
        case 'GET projects/:id/wikis/:sub': {
          const w = p.wiki.find((x) => x.slug === subId);
          if (!w) throw notFound('Wiki Page');
          return ok({ format: w.format, slug: w.slug, title: w.title, content: w.content, encoding: 'UTF-8' });
        }
        case 'GET projects/:id/runners':
          need(ACCESS.maintainer, access, me.is_admin);
          return paged(
            state.runners.filter((r) => r.is_shared || r.project_ids.includes(p.id)),
            url,
            runnerJson,
          );
      }
    }

    if (root === 'groups' && !id && method === 'GET') {
      const s = q.get('search')?.toLowerCase();
      const list = state.groups.filter((g) => canSeeGroup(g, me) && (!s || g.full_path.toLowerCase().includes(s)));
      return paged(list, url, groupJson);
    }
    if (root === 'groups' && id) {
      const g = findGroup(id, me);
      const access = groupAccess(g, me);
      switch (key) {
        case 'GET groups/:id':
          return ok(groupJson(g));
        case 'GET groups/:id/members':
          return paged([...g.members], url, ([uid, level]) => memberJson(uid, level));
        case 'POST groups/:id/members': {
          need(ACCESS.maintainer, access, me.is_admin);
          if (body.user_id === undefined && body.username === undefined) throw missing('user_id');
          if (body.access_level === undefined) throw missing('access_level');
          const u =
            body.user_id !== undefined
              ? userById(Number(body.user_id))
              : state.users.find((x) => x.username === body.username);
          if (!u) throw notFound('User');
          const level = Number(body.access_level);
          if (![10, 20, 30, 40, 50].includes(level)) throw badRequest('access_level does not have a valid value');
          if (!me.is_admin && level > access) throw forbidden();
          if (g.members.has(u.id)) throw new HttpError(409, { message: 'Member already exists' });
          g.members.set(u.id, level);
          return ok(memberJson(u.id, level), 201);
        }
        case 'DELETE groups/:id/members/:sub': {
          need(ACCESS.maintainer, access, me.is_admin);
          const uid = Number(subId);
          if (!g.members.has(uid)) throw notFound('Member');
          const owners = [...g.members].filter(([, l]) => l === ACCESS.owner);
          if (g.members.get(uid) === ACCESS.owner && owners.length === 1)
            throw forbidden('A group must have at least one owner');
          g.members.delete(uid);
          return { status: 204, body: '' };
        }
        case 'GET groups/:id/variables':
          need(ACCESS.maintainer, access, me.is_admin);
          return paged(g.variables, url, variableJson);
        case 'POST groups/:id/variables':
          need(ACCESS.maintainer, access, me.is_admin);
          return ok(variableJson(writeVariable(g.variables, body)), 201);
        case 'PUT groups/:id/variables/:sub': {
          need(ACCESS.maintainer, access, me.is_admin);
          const existing = variableIn(g.variables, subId as string, scopeFilter(q, body));
          return ok(variableJson(writeVariable(g.variables, body, existing)));
        }
        case 'DELETE groups/:id/variables/:sub': {
          need(ACCESS.maintainer, access, me.is_admin);
          const existing = variableIn(g.variables, subId as string, scopeFilter(q, body));
          g.variables.splice(g.variables.indexOf(existing), 1);
          return { status: 204, body: '' };
        }
      }
    }

    if (root === 'users') {
      if (key === 'GET users') {
        const s = q.get('search')?.toLowerCase();
        const un = q.get('username')?.toLowerCase();
        const list = state.users.filter(
          (u) =>
            (!s || `${u.username} ${u.name} ${me.is_admin ? u.email : ''}`.toLowerCase().includes(s)) &&
            (!un || u.username.toLowerCase() === un) &&
            (!q.get('blocked') || u.state === 'blocked'),
        );
        return paged(list, url, (u) => userJson(u, me.is_admin));
      }
      if (key === 'GET users/:id') {
        const u = userById(Number(id));
        if (!u) throw notFound('User');
        return ok(userJson(u, me.is_admin));
      }
      if (!me.is_admin) throw forbidden();
      if (key === 'POST users') {
        for (const f of ['email', 'username', 'name']) if (!body[f]) throw missing(f);
        if (state.users.some((u) => u.username === body.username))
          throw new HttpError(409, { message: 'Username has already been taken' });
        if (state.users.some((u) => u.email === body.email))
          throw new HttpError(409, { message: 'Email has already been taken' });
        const u: SimUser = {
          id: ++state.nextId,
          username: String(body.username),
          name: String(body.name),
          email: String(body.email),
          state: 'active',
          is_admin: boolParam(body.admin) ?? false,
          bot: false,
          created_at: new Date().toISOString(),
          last_activity_on: null,
        };
        state.users.push(u);
        return ok(userJson(u, true), 201);
      }
      const u = userById(Number(id));
      if (!u) throw notFound('User');
      if (key === 'POST users/:id/block') {
        if (u.state === 'blocked') return ok(null, 201);
        u.state = 'blocked';
        return ok(true, 201);
      }
      if (key === 'POST users/:id/unblock') {
        u.state = 'active';
        return ok(true, 201);
      }
      if (key === 'PUT users/:id') {
        if (body.admin !== undefined) u.is_admin = boolParam(body.admin) ?? false;
        return ok(userJson(u, true));
      }
    }

    if (key === 'GET runners/all' || key === 'GET runners') {
      if (key === 'GET runners/all' && !me.is_admin) throw forbidden();
      // runners.md "List owned runners": GET /runners is the caller's own runners (project runners of
      // projects it maintains; instance runners only through /runners/all); GET /runners/all is every one.
      let list =
        key === 'GET runners/all'
          ? state.runners
          : state.runners.filter(
              (r) =>
                r.runner_type !== 'instance_type' &&
                state.projects.some((p) => r.project_ids.includes(p.id) && projectAccess(p, me) >= 40),
            );
      const st = q.get('status');
      if (st) list = list.filter((r) => r.status === st);
      return paged(list, url, runnerJson);
    }

    throw new HttpError(404, { error: '404 Not Found' });
  }

  function listProjects(url: URL, me: SimUser): Answer {
    const q = url.searchParams;
    let list = state.projects.filter((p) => canSeeProject(p, me)).sort((a, b) => a.id - b.id);
    const s = q.get('search')?.toLowerCase();
    if (s) list = list.filter((p) => `${p.path_with_namespace} ${p.description}`.toLowerCase().includes(s));
    if (boolParam(q.get('membership') ?? undefined)) list = list.filter((p) => projectAccess(p, me) > 0);
    const simple = boolParam(q.get('simple') ?? undefined) === true;
    if (q.get('pagination') === 'keyset') {
      if ((q.get('order_by') ?? 'created_at') !== 'id')
        throw new HttpError(405, { error: 'Keyset pagination is not yet available for this type of request' });
      const desc = q.get('sort') === 'desc';
      if (desc) list.reverse();
      const after = Number(q.get('id_after') ?? 0);
      const before = Number(q.get('id_before') ?? 0);
      if (after) list = list.filter((p) => p.id > after);
      if (before) list = list.filter((p) => p.id < before);
      const perPage = Math.min(100, Math.max(1, Number(q.get('per_page')) || 20));
      const slice = list.slice(0, perPage);
      const headers: Record<string, string> = {};
      // like GitLab's keyset paginator: a full page links to the next one without peeking, so an exact
      // multiple ends with one empty page that carries no Link (doc/api/rest/_index.md)
      if (slice.length === perPage) {
        const next = new URL(url.pathname + url.search, base);
        next.searchParams.delete(desc ? 'id_after' : 'id_before');
        next.searchParams.set(desc ? 'id_before' : 'id_after', String(slice.at(-1)?.id));
        headers.link = `<${next}>; rel="next"`;
      }
      return { status: 200, body: slice.map((p) => projectJson(p, simple)), headers };
    }
    return paged(list, url, (p) => projectJson(p, simple));
  }

  const groupJson = (g: SimGroup) => ({
    id: g.id,
    web_url: `${base}/groups/${g.full_path}`,
    name: g.name,
    path: g.path,
    description: g.description,
    visibility: g.visibility,
    full_name: g.full_path.split('/').join(' / '),
    full_path: g.full_path,
    parent_id: g.parent_id,
    created_at: at0,
  });
  const at0 = '2026-01-01T00:00:00.000Z';
  const memberJson = (uid: number, level: number) => ({
    ...(userBasic(userById(uid)) as object),
    access_level: level,
    created_at: at0,
    expires_at: null,
  });
  const runnerJson = (r: SimState['runners'][number]) => ({
    id: r.id,
    description: r.description,
    ip_address: null,
    active: !r.paused,
    paused: r.paused,
    is_shared: r.is_shared,
    runner_type: r.runner_type,
    name: null,
    online: r.online,
    status: r.status,
    contacted_at: r.contacted_at,
    tag_list: r.tag_list,
  });
  /**
   * The files GitLab stores for a merge request (MergeRequestDiff#save_diffs: `compare.diffs(Commit.max_diff_options)`,
   * then merge_request_diff_files), following Gitlab::Git::DiffCollection#each_serialized_patch and
   * Gitlab::Git::Diff (lib/gitlab/git/diff_collection.rb, diff.rb): collecting stops, and the diff is marked
   * overflow, at `max_files` files, or when the lines so far reach `max_lines` or the bytes so far reach
   * `max_files` x 5 KB (the file that crosses is dropped); a patch of diff_max_patch_bytes or more is stored
   * empty with `too_large` (Diff#too_large!).
   *
   * Order: the limits cut Gitaly's stream, which comes in git's order (`gitalyOrder`), and the files kept are
   * then stored sorted (`fileCollectionSort`) with that rank as `relative_order`, the order every read uses.
   * So which files an overflowing merge request keeps follows git's order, and the API lists them sorted.
   */
  function storedDiffs(mr: SimMergeRequest): { files: SimDiff[]; overflow: boolean } {
    const files: SimDiff[] = [];
    let lines = 0;
    let bytes = 0;
    let overflow = false;
    for (const d of gitalyOrder(mr.diffs)) {
      if (files.length >= control.diffMaxFiles) {
        overflow = true;
        break;
      }
      const tooLarge = d.too_large || Buffer.byteLength(d.diff) >= control.diffMaxPatchBytes;
      const diff = tooLarge ? '' : d.diff;
      lines += lineCount(diff);
      bytes += Buffer.byteLength(diff);
      if (lines >= control.diffMaxLines || bytes >= control.diffMaxFiles * 5 * 1024) {
        overflow = true;
        break;
      }
      files.push({ ...d, diff, too_large: tooLarge });
    }
    return { files: fileCollectionSort(files), overflow };
  }
  /**
   * The stored files as the API reads them (Gitlab::Diff::FileCollection::PaginatedDiffs: one DiffCollection
   * over every file up to the page, so the limits count from the first file). Not expanded (older releases):
   * a patch of 10% of diff_max_patch_bytes or more is collapsed (Diff#collapsed?, patch_safe_limit_bytes), and
   * once `safe_max_files` (diff_max_files / 10, at most 100) files have passed, or more than `safe_max_lines`
   * (diff_max_lines / 10, at most 5000) lines or `safe_max_files` x 5 KB bytes, every further file with lines
   * is collapsed (DiffCollection#over_safe_limits?). A collapsed file's patch is emptied (Diff#collapse!).
   * A binary patch is sent as "Binary files <old> and <new> differ" (Diff#json_safe_diff, binary_message).
   */
  function apiDiffs(files: SimDiff[]): SimDiff[] {
    const safeFiles = Math.min(Math.floor(control.diffMaxFiles / 10), 100);
    const safeLines = Math.min(Math.floor(control.diffMaxLines / 10), 5000);
    const safeBytes = safeFiles * 5 * 1024;
    // DiffCollection#expand_diff?: a collection of one file is always shown expanded
    const expanded = control.diffsExpanded || files.length === 1;
    let lines = 0;
    let bytes = 0;
    return files.map((d, i) => {
      const binary = d.binary === true && d.diff !== '';
      let diff = binary ? `Binary files ${d.old_path} and ${d.new_path} differ\n` : d.diff;
      let collapsed = false;
      if (!expanded && !d.too_large) {
        const overSafe = i >= safeFiles || lines > safeLines || bytes >= safeBytes;
        if (Buffer.byteLength(diff) >= control.diffMaxPatchBytes / 10 || (overSafe && lineCount(diff) > 0)) {
          diff = '';
          collapsed = true;
        }
      }
      lines += lineCount(diff);
      bytes += Buffer.byteLength(diff);
      const { binary: _b, ...rest } = d;
      return { ...rest, diff, collapsed, too_large: d.too_large };
    });
  }

  function pipelineOf(p: SimProject, id: string | undefined): SimPipeline {
    const pl = p.pipelines.find((x) => x.id === Number(id));
    if (!pl) throw notFound('Pipeline');
    return pl;
  }
  function jobOf(p: SimProject, id: string | undefined): SimJob {
    // the job endpoints find CI jobs only, not trigger jobs (bridges)
    const j = p.jobs.find((x) => x.id === Number(id) && x.bridge === undefined);
    if (!j) throw notFound('Job');
    return j;
  }
  function mrOf(p: SimProject, iid: string | undefined): SimMergeRequest {
    const mr = p.merge_requests.find((x) => x.iid === Number(iid));
    if (!mr) throw notFound('Merge Request');
    return mr;
  }
  /**
   * GET /merge_requests/:iid/pipelines (lib/api/merge_requests.rb: `paginate` over `all_pipelines`, rendered as
   * PipelineBasic; no filters): app/finders/ci/pipelines_for_merge_request_finder.rb unites the pipelines the
   * merge request triggered (source merge_request_event: its head, merged results and merge train pipelines,
   * on `ref_path` / `merge_ref_path` / `train_ref_path` of app/models/merge_request.rb, i.e.
   * refs/merge-requests/<iid>/head|merge|train) with the branch pipelines of its source branch in its source
   * project whose sha is one of its commits, and sorts merge_request_event pipelines first, then by id
   * descending. A merge request from a fork triggers its pipelines in the fork on the source branch, or in
   * this project on refs/merge-requests/<iid>/head when run here (app/services/merge_requests/
   * create_pipeline_service.rb; doc/ci/pipelines/merge_request_pipelines.md "Use with forked projects").
   */
  function mergeRequestPipelines(p: SimProject, mr: SimMergeRequest): [SimProject, SimPipeline][] {
    const source = state.projects.find((x) => x.id === (mr.source_project_id ?? p.id)) ?? p;
    const mrRef = new RegExp(`^refs/merge-requests/${mr.iid}/(head|merge|train)$`);
    const shas = mr.commit_shas ?? source.pipelines.filter((x) => x.ref === mr.source_branch).map((x) => x.sha);
    const event = (x: SimPipeline) => x.source === 'merge_request_event';
    const triggered: [SimProject, SimPipeline][] = [
      ...p.pipelines.filter((x) => event(x) && mrRef.test(x.ref)).map((x): [SimProject, SimPipeline] => [p, x]),
      ...(source === p
        ? []
        : source.pipelines
            .filter((x) => event(x) && x.ref === mr.source_branch)
            .map((x): [SimProject, SimPipeline] => [source, x])),
    ];
    const branch = source.pipelines
      .filter((x) => x.ref === mr.source_branch && !NON_BRANCH_SOURCES.has(x.source) && shas.includes(x.sha))
      .map((x): [SimProject, SimPipeline] => [source, x]);
    const newest = (xs: [SimProject, SimPipeline][]) => [...xs].sort((a, b) => b[1].id - a[1].id);
    return [...newest(triggered), ...newest(branch)];
  }
  function issueOf(p: SimProject, iid: string | undefined): SimIssue {
    const i = p.issues.find((x) => x.iid === Number(iid));
    if (!i) throw notFound('Issue');
    return i;
  }
  /**
   * A file at a ref as the files endpoints find it (lib/api/files.rb `assign_file_vars!`): `HEAD` is the
   * default branch (repository_files.md); a ref naming no commit, which is every ref of an empty repository,
   * is `404 Commit Not Found`; a path not in that commit `404 File Not Found`.
   */
  function fileAt(p: SimProject, ref: string, filePath: string) {
    const files = p.files.get(ref === 'HEAD' ? p.default_branch : ref) ?? commitAt(p, ref)?.files;
    if (!files) throw notFound('Commit');
    const content = files.get(filePath);
    if (content === undefined) throw notFound('File');
    return { filePath, buf: Buffer.from(content, 'utf8') };
  }
  /** repository_files.md: the attributes of a file besides its content (the X-Gitlab-* headers of HEAD and raw). */
  const fileMeta = (filePath: string, buf: Buffer, ref: string) => ({
    file_name: filePath.split('/').pop(),
    file_path: filePath,
    size: buf.length,
    encoding: 'base64',
    content_sha256: 'sim',
    ref,
    blob_id: 'b'.repeat(40),
    commit_id: 'c'.repeat(40),
    last_commit_id: 'c'.repeat(40),
    execute_filemode: false,
  });
  function refFiles(p: SimProject, ref: string): Map<string, string> {
    const files = p.files.get(ref) ?? commitAt(p, ref)?.files;
    if (!files) throw notFound('Tree');
    return files;
  }
  /**
   * A commit named by its SHA (or a prefix of 7 or more), as Gitaly resolves it in this project's
   * repository: its own objects, and for a fork of a public or internal project the objects of the fork
   * network's pool (git_object_deduplication.md: GitLab pools only non-private projects, and "users will
   * be able to fetch Git objects that might not exist in their own repository"). A commit found only in the
   * pool is on none of this project's refs.
   */
  function commitAt(p: SimProject, rev: string) {
    if (!/^[0-9a-f]{7,40}$/i.test(rev)) return undefined;
    const match = (q: SimProject) => [...(q.commits ?? [])].find(([sha]) => sha.startsWith(rev.toLowerCase()));
    const own = match(p);
    if (own) return { sha: own[0], ...own[1] };
    const upstream = state.projects.find((x) => x.id === p.forked_from_id);
    const pooled = upstream && upstream.visibility !== 'private' ? match(upstream) : undefined;
    return pooled ? { sha: pooled[0], files: pooled[1].files, refs: [] } : undefined;
  }
  function addNote(list: SimNote[], body: Record<string, unknown>, me: SimUser): SimNote {
    if (!body.body) throw missing('body');
    const n: SimNote = {
      id: ++state.nextId,
      body: String(body.body),
      author_id: me.id,
      created_at: new Date().toISOString(),
      system: false,
    };
    list.push(n);
    return n;
  }

  return {
    url: listening.url,
    state,
    control,
    close: () => listening.close(),
  };
}

/**
 * Sources outside `ci_branch_sources` (app/models/concerns/enums/ci/pipeline.rb: `ci_sources` less
 * merge_request_event, `ci_sources` being every source but the dangling ones): not branch pipelines.
 */
const NON_BRANCH_SOURCES = new Set([
  'merge_request_event',
  'webide',
  'parent_pipeline',
  'ondemand_dast_scan',
  'ondemand_dast_validation',
  'security_orchestration_policy',
  'container_registry_push',
  'duo_workflow',
  'pipeline_execution_policy_schedule',
]);

/** `filter[environment_scope]` arrives in the query (GET, curl examples) or in a JSON body (PUT/DELETE). */
function scopeFilter(q: URLSearchParams, body: Record<string, unknown>): string | undefined {
  const fromBody = (body.filter as { environment_scope?: unknown } | undefined)?.environment_scope;
  return q.get('filter[environment_scope]') ?? (typeof fromBody === 'string' ? fromBody : undefined);
}

/** Gitlab::Git::Util.count_lines: the lines of a text, a last line without a newline included. */
function lineCount(text: string): number {
  if (text === '') return 0;
  const newlines = text.split('\n').length - 1;
  return text.endsWith('\n') ? newlines : newlines + 1;
}

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer (.+)$/i.exec(header ?? '');
  return m?.[1];
}

/**
 * The order Gitaly streams a comparison's files in. Gitaly's CommitDiff runs `git diff --patch --raw
 * --full-index --find-renames=30% <left> <right>` and sends each file as git prints it
 * (gitlab-org/gitaly internal/gitaly/service/diff/commit_diff.go). git diffs two trees walking both in tree
 * order, which for the flattened paths is byte order of the path (git tree-diff.c, base_name_compare), and
 * diffcore_rename puts a rename pair where its destination (the new path) was in that queue, dropping the
 * deletion of its source (git diffcore-rename.c, the final loop of diffcore_rename). So: bytes of the new
 * path (a deleted file's new_path is its old path in GitLab's diff hashes).
 */
export function gitalyOrder<T extends { old_path: string; new_path: string }>(diffs: readonly T[]): T[] {
  const key = (d: T) => Buffer.from(d.new_path || d.old_path, 'utf8');
  return [...diffs].sort((a, b) => Buffer.compare(key(a), key(b)));
}

/**
 * GitLab's order of a merge request's files: MergeRequestDiff#build_merge_request_diff_files stores
 * `sort_diffs(diffs)` with each file's rank as `relative_order`, older unsorted diffs are sorted on first
 * read (`reorder_diff_files!`, called by `paginated_diffs` behind GET /diffs), and `merge_request_diff_files`
 * is read `order(:merge_request_diff_id, :relative_order)` (gitlabhq/gitlabhq app/models/merge_request_diff.rb).
 * The sort is Gitlab::Diff::FileCollectionSorter (lib/gitlab/diff/file_collection_sorter.rb): paths
 * (`new_path.presence || old_path`) split on "/" are compared part by part; at the first level where one is
 * a file (its last part) and the other goes deeper, the deeper one (the directory) comes first; otherwise the
 * parts compare as Ruby strings (`<=>`: bytes), and equal parts move to the next level. So directories
 * before files at every level, each group by name: "data/x", "src/gen/a", "src/b", "README".
 */
export function fileCollectionSort<T extends { old_path: string; new_path: string }>(diffs: readonly T[]): T[] {
  const parts = (d: T) => (d.new_path || d.old_path).split('/');
  const compare = (a: string[], b: string[]): number => {
    for (let i = 0; ; i++) {
      const aLast = i === a.length - 1;
      const bLast = i === b.length - 1;
      // B_FOLLOWS_A / A_FOLLOWS_B: a file at this level follows a path that goes on (a directory)
      if (aLast && !bLast) return 1;
      if (bLast && !aLast) return -1;
      const c = Buffer.compare(Buffer.from(a[i] ?? '', 'utf8'), Buffer.from(b[i] ?? '', 'utf8'));
      if (c !== 0 || aLast) return c;
    }
  };
  return [...diffs].sort((a, b) => compare(parts(a), parts(b)));
}
