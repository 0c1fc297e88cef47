import { sliceChars, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { type Api, countOf, fitPage, type GitLabBackend } from '../backend.js';
import { type CallScope, GitLabHttpError } from '../client.js';
import { cleanLog, tailLines } from '../log-text.js';
import { defineTool } from './define.js';
import { branchMergeRequestPipelines, mergeRequestFailure, notRead } from './merge-request-pipelines.js';
import {
  Cursor,
  Id,
  Limit,
  num,
  Paging,
  ProjectPath,
  pagingOf,
  type Rec,
  str,
  strOrNull,
  UserRef,
  userRef,
} from './shapes.js';

export const PIPELINE_STATUSES = [
  'created',
  'waiting_for_resource',
  'preparing',
  'pending',
  'running',
  'success',
  'failed',
  'canceled',
  'skipped',
  'manual',
  'scheduled',
] as const;

const PipelineSummary = z.object({
  id: z.number(),
  ref: z.string(),
  sha: z.string(),
  status: z.string(),
  source: z.string().nullable(),
  createdAt: z.string().nullable(),
});

export const PipelineSummaryOf = (p: Rec) => ({
  id: num(p.id),
  ref: str(p.ref),
  sha: str(p.sha).slice(0, 12),
  status: str(p.status),
  source: strOrNull(p.source),
  createdAt: strOrNull(p.created_at),
});

const JobShape = z.object({
  id: z.number(),
  name: z.string(),
  status: z.string(),
  allowFailure: z.boolean(),
  failureReason: z.string().nullable(),
  durationSeconds: z.number().nullable(),
});

const jobOf = (j: Rec) => ({
  id: num(j.id),
  name: str(j.name),
  status: str(j.status),
  allowFailure: j.allow_failure === true,
  failureReason: strOrNull(j.failure_reason),
  durationSeconds: typeof j.duration === 'number' ? Math.round(j.duration * 10) / 10 : null,
});

/** Most jobs read for one pipeline (GitLab pages them by 100). */
const MAX_JOBS = 500;

/**
 * Every job of a pipeline (latest attempts only), trigger jobs included, in pages of 100, up to MAX_JOBS,
 * and how many there are: the first page of each list is always read for GitLab's count (x-total). Where
 * GitLab does not count (past 10,000 rows), the jobs read stand in: at least the pipeline's total.
 * GitLab lists trigger jobs (bridges) apart from the rest: without them a pipeline failed by its child
 * or multi-project pipeline shows no failed job at all.
 */
export async function pipelineJobs(
  api: Api,
  project: string,
  pipelineId: number,
  scope?: string[],
): Promise<{ jobs: Rec[]; complete: boolean; total: number }> {
  const jobs: Rec[] = [];
  let total = 0;
  let complete = true;
  const opts = (page: number) => ({ page, perPage: 100, showExpanded: true, maxPages: 1, ...(scope ? { scope } : {}) });
  const lists = [
    (page: number) => api.Jobs.all(project, { pipelineId, ...opts(page) } as never),
    (page: number) => api.Jobs.allPipelineBridges(project, pipelineId, opts(page) as never),
  ];
  for (const list of lists) {
    let counted: number | undefined;
    let read = 0;
    for (let page = 1; ; page++) {
      const res = (await list(page)) as unknown as {
        data: Rec[];
        paginationInfo: { total: number; next: number | null };
      };
      if (page === 1) counted = countOf(res.paginationInfo.total, res.data.length) ?? undefined;
      read += res.data.length;
      const room = MAX_JOBS - jobs.length;
      if (res.data.length > room) complete = false;
      jobs.push(...res.data.slice(0, room));
      if (!res.paginationInfo.next) break;
      if (jobs.length >= MAX_JOBS) {
        complete = false;
        break;
      }
    }
    total += counted ?? read;
  }
  return { jobs, complete, total: Math.max(total, jobs.length) };
}

/** A trigger job: GitLab renders its `downstream_pipeline` (null until one is created), other jobs have none. */
const isBridge = (j: Rec) => 'downstream_pipeline' in j;

/**
 * What a failed trigger job says in place of a log (it has none): the downstream pipeline to diagnose
 * next, named only when its project is inside the allowlist.
 */
function downstreamNote(gitlab: GitLabBackend, bridge: Rec): string {
  const d = bridge.downstream_pipeline as Rec | null;
  if (!d) return '(trigger job, no log: it created no downstream pipeline; failureReason says why)';
  const project = projectOfPipelineUrl(gitlab.url, str(d.web_url));
  const id = num(d.id);
  if (project === null || !gitlab.allowlist.allows(project))
    return `(trigger job, no log: downstream pipeline ${id} in a project outside this server's allowlist is ${str(d.status)})`;
  return `(trigger job, no log: downstream pipeline ${id} of "${project}" is ${str(d.status)}; diagnose it with pipelines_diagnose project "${project}", pipelineId ${id})`;
}

/** The project path in a pipeline's web_url (…/group/project/-/pipelines/1), below GitLab's relative root. */
export function projectOfPipelineUrl(gitlabUrl: string, webUrl: string): string | null {
  if (!URL.canParse(webUrl)) return null;
  const root = new URL(gitlabUrl).pathname.replace(/\/+$/, '');
  let path = new URL(webUrl).pathname;
  if (root && path.startsWith(`${root}/`)) path = path.slice(root.length);
  return /^\/(.+?)\/(?:-\/)?pipelines\/\d+$/.exec(path)?.[1] ?? null;
}

export const pipelinesList = defineTool({
  name: 'pipelines_list',
  toolset: 'pipelines',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List pipelines',
  description: "List a project's pipelines, newest first; filter by ref, status or source.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    ref: z.string().min(1).max(255).optional().describe('Branch or tag'),
    status: z.enum(PIPELINE_STATUSES).optional(),
    source: z.string().min(1).max(40).optional().describe('push, merge_request_event, schedule, web, api...'),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ pipelines: z.array(PipelineSummary), ...Paging, note: z.string().optional() }),
  handler: async ({ project, ref: given, status, source, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    const ref = shortRef(given);
    const page = await gitlab.page<Rec>(`pipelines of "${project}"`, signal, cursor, limit, (api, req) =>
      api.Pipelines.all(gitlab.project(project), {
        ...req,
        orderBy: 'id',
        sort: 'desc',
        ...(ref ? { ref } : {}),
        ...(status ? { status } : {}),
        ...(source ? { source } : {}),
      } as never),
    );
    const fitted = fitPage({ ...page, items: page.items.map(PipelineSummaryOf) }, cursor, limit, maxOutputBytes - 1024);
    // a branch's merge request pipelines are not on the branch's ref: say where they are (first page only)
    const lookForMrs =
      ref !== undefined &&
      !ref.startsWith('refs/') &&
      cursor === undefined &&
      (!source || source === 'merge_request_event');
    const note = lookForMrs ? await mergeRequestPipelinesNote(gitlab, project, ref, status, signal) : undefined;
    return { pipelines: fitted.items, ...pagingOf(fitted), ...(note ? { note } : {}) };
  },
});

/**
 * A branch or tag as GitLab stores a pipeline's ref: its short name (refs/heads/main is "main",
 * Gitlab::Git.ref_name), which the pipelines API matches exactly; other full refs (merge requests) stay.
 */
const shortRef = (ref: string | undefined) => ref?.replace(/^refs\/(heads|tags)\/(?=.)/, '');

/**
 * Where the merge request pipelines of a branch are: GitLab runs them on `refs/merge-requests/<iid>/head`,
 * merged results on `/merge`, merge trains on `/train` (merge_request.rb `ref_path`, `merge_ref_path`,
 * `train_ref_path`; doc/ci/pipelines/merge_request_pipelines.md, merge_trains.md), never on the branch, and
 * the pipelines API filters `ref` exactly. Counts them per ref, with the same status filter, for the branch's
 * latest merge requests, and names the ones not read (see branchMergeRequestPipelines).
 */
async function mergeRequestPipelinesNote(
  gitlab: GitLabBackend,
  project: string,
  branch: string,
  status: string | undefined,
  signal: AbortSignal,
): Promise<string | undefined> {
  const path = gitlab.project(project);
  try {
    const found = await gitlab.call(`merge request pipelines of ${branch} in "${project}"`, signal, (api) =>
      branchMergeRequestPipelines(api, path, branch, status),
    );
    const refs: string[] = [];
    for (const mr of found.read)
      for (const [ref, { count, counted }] of [...mr.refs].sort(([a], [b]) => a.localeCompare(b))) {
        const notes = [
          counted ? String(count) : `more than ${count}`,
          ...(ref.endsWith('/train') ? ['merge train'] : []),
          ...(mr.state === 'opened' ? [] : [`!${mr.iid} ${mr.state}`]),
        ];
        refs.push(`${ref} (${notes.join(', ')})`);
      }
    const skipped = notRead(found);
    if (refs.length === 0 && !skipped) return undefined;
    return [
      ...(refs.length > 0
        ? [
            `merge request pipelines of ${branch} run on other refs, not listed here: ${refs.join(', ')}; list them with ref set to one of those`,
          ]
        : []),
      ...(skipped ? [skipped] : []),
    ].join('; ');
  } catch (err) {
    return `merge request pipelines of ${branch} (on refs/merge-requests/<iid>/head|merge|train) could not be looked up: ${(err as Error).message}`;
  }
}

export const pipelinesGet = defineTool({
  name: 'pipelines_get',
  toolset: 'pipelines',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Get a pipeline with its jobs',
  description:
    'One pipeline: status, ref, timing, and its jobs by stage in run order (latest attempts; unsuccessful first when cut).',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath, pipelineId: Id.describe('From pipelines_list') }),
  output: z.object({
    pipeline: PipelineSummary.extend({
      startedAt: z.string().nullable(),
      finishedAt: z.string().nullable(),
      durationSeconds: z.number().nullable(),
      user: UserRef,
      webUrl: z.string(),
    }),
    stages: z.array(z.object({ name: z.string(), status: z.string(), jobs: z.array(JobShape) })),
    jobsTruncated: z.boolean(),
    jobsShown: z.number(),
    jobsTotal: z.number(),
  }),
  handler: async ({ project, pipelineId }, { gitlab, signal, maxOutputBytes }) => {
    const path = gitlab.project(project);
    return gitlab.call(`pipeline ${pipelineId} of "${project}"`, signal, async (api) => {
      const p = (await api.Pipelines.show(path, pipelineId)) as unknown as Rec;
      const { jobs, complete, total } = await pipelineJobs(api, path, pipelineId);
      return {
        pipeline: {
          ...PipelineSummaryOf(p),
          startedAt: strOrNull(p.started_at),
          finishedAt: strOrNull(p.finished_at),
          durationSeconds: typeof p.duration === 'number' ? p.duration : null,
          user: userRef(p.user),
          webUrl: str(p.web_url),
        },
        ...stagesWithin(byStage(jobs), maxOutputBytes - 1024, complete),
        jobsTotal: total,
      };
    });
  },
});

/** Jobs grouped by stage, stages in the order their first job ran (GitLab lists jobs newest first). */
export function byStage(jobs: Rec[]) {
  const sorted = [...jobs].sort((a, b) => num(a.id) - num(b.id));
  const stages = new Map<string, Rec[]>();
  for (const j of sorted) {
    const name = str(j.stage);
    const list = stages.get(name) ?? [];
    list.push(j);
    stages.set(name, list);
  }
  return [...stages].map(([name, list]) => ({ name, status: stageStatus(list), jobs: list.map(jobOf) }));
}

type Stage = ReturnType<typeof byStage>[number];

/**
 * Stages (their status from every job) with the jobs that fit `maxBytes`: jobs that did not succeed
 * first, then the rest in run order. A 400-job pipeline answers instead of overflowing the budget.
 */
export function stagesWithin(stages: Stage[], maxBytes: number, complete: boolean) {
  const all = stages.flatMap((st) => st.jobs);
  const quiet = (j: Stage['jobs'][number]) => j.status === 'success' || j.status === 'skipped';
  const ranked = [...all.filter((j) => !quiet(j)), ...all.filter(quiet)];
  let used = Buffer.byteLength(JSON.stringify(stages.map((st) => ({ ...st, jobs: [] }))), 'utf8');
  const kept = new Set<number>();
  for (const j of ranked) {
    const size = Buffer.byteLength(JSON.stringify(j), 'utf8') + 1;
    if (kept.size > 0 && used + size > maxBytes) break;
    kept.add(j.id);
    used += size;
  }
  return {
    stages: stages.map((st) => ({ ...st, jobs: st.jobs.filter((j) => kept.has(j.id)) })),
    jobsTruncated: !complete || kept.size < all.length,
    jobsShown: kept.size,
  };
}

function stageStatus(jobs: Rec[]): string {
  const s = jobs.map((j) => ({ status: str(j.status), allowed: j.allow_failure === true }));
  if (s.some((j) => j.status === 'failed' && !j.allowed)) return 'failed';
  for (const state of ['running', 'pending', 'created', 'canceled', 'manual', 'skipped'])
    if (s.some((j) => j.status === state)) return state;
  return s.some((j) => j.status === 'failed') ? 'success_with_warnings' : 'success';
}

const FailedJob = z.object({
  id: z.number(),
  name: z.string(),
  stage: z.string(),
  failureReason: z.string().nullable(),
  allowFailure: z.boolean(),
  section: z.string().nullable(),
  logTail: z.string(),
  earlierErrors: z.array(z.string()),
  logBytes: z.number(),
});

export const pipelinesDiagnose = defineTool({
  name: 'pipelines_diagnose',
  toolset: 'pipelines',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Why did a pipeline fail',
  description: 'Failed jobs of a pipeline with stage, reason, allow_failure, the failing log section and last lines.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    pipelineId: Id.optional().describe('Pipeline id; default: the latest failed pipeline (on ref when given)'),
    ref: z.string().min(1).max(255).optional().describe('Branch or tag, used when pipelineId is omitted'),
    lines: z.number().int().min(1).max(100).default(20).describe('Log lines per failed job'),
    maxJobs: z.number().int().min(1).max(10).default(5).describe('Most failed jobs whose logs are read'),
  }),
  output: z.object({
    pipeline: PipelineSummary,
    summary: z.string(),
    failedJobs: z.array(FailedJob),
    failedJobsTotal: z.number(),
  }),
  handler: async ({ project, pipelineId, ref: given, lines, maxJobs }, { gitlab, signal, maxOutputBytes }) => {
    const path = gitlab.project(project);
    const ref = shortRef(given);
    return gitlab.call(`the failure of a pipeline of "${project}"`, signal, async (api, scope) => {
      const { pipeline: p, caveat } = await findPipeline(api, path, pipelineId, ref);
      const { jobs } = await pipelineJobs(api, path, num(p.id), ['failed']);
      // latest attempt of each job name only, hard failures first
      const failed = [...jobs]
        .sort((a, b) => num(b.id) - num(a.id))
        .filter((j, i, all) => all.findIndex((k) => k.name === j.name) === i)
        .sort((a, b) => Number(a.allow_failure === true) - Number(b.allow_failure === true) || num(a.id) - num(b.id));
      const perJobBytes = Math.max(
        1024,
        Math.floor((maxOutputBytes - 2048) / Math.max(1, Math.min(maxJobs, failed.length))),
      );
      const failedJobs = [];
      for (const j of failed.slice(0, maxJobs)) {
        const base = {
          id: num(j.id),
          name: str(j.name),
          stage: str(j.stage),
          failureReason: strOrNull(j.failure_reason),
          allowFailure: j.allow_failure === true,
        };
        if (isBridge(j)) {
          failedJobs.push({
            ...base,
            section: null,
            logTail: downstreamNote(gitlab, j),
            earlierErrors: [],
            logBytes: 0,
          });
          continue;
        }
        try {
          const log = await readLog(api, scope, path, num(j.id));
          const tail = tailLines(log.lines, lines, Math.min(perJobBytes, 8 * 1024));
          failedJobs.push({
            ...base,
            section: failingSection(tail.lines) ?? log.lastSection,
            logTail: tail.lines.map((l) => l.text).join('\n'),
            earlierErrors: earlierErrors(log.lines, log.lines.length - tail.lines.length),
            logBytes: log.totalBytes,
          });
        } catch (err) {
          // one unreadable log (erased, expired) must not hide the other failures
          const code = err instanceof GitLabHttpError ? `HTTP ${err.status}` : (err as Error).name;
          failedJobs.push({
            ...base,
            section: null,
            logTail: `(log unavailable: ${code}; try jobs_get_log)`,
            earlierErrors: [],
            logBytes: 0,
          });
        }
      }
      const hard = failed.filter((j) => j.allow_failure !== true);
      const summary =
        failed.length === 0
          ? `pipeline ${p.id} is ${p.status}: no failed jobs`
          : `pipeline ${p.id} (${p.ref}) is ${p.status}: ${hard.length} failed job(s) ${namedFailures(hard) || 'none'}` +
            (failed.length > hard.length ? `; ${failed.length - hard.length} allowed to fail` : '') +
            (failed.length > maxJobs ? `; logs read for the first ${maxJobs}` : '') +
            (caveat ? `; ${caveat}` : '');
      return { pipeline: PipelineSummaryOf(p), summary, failedJobs, failedJobsTotal: failed.length };
    });
  },
});

/** Most failed jobs the summary names one by one; the rest are counted by failure reason. */
const SUMMARY_NAMES = 10;

/** "stage/name (reason), ...", then "and N more (reason: count, ...)" past SUMMARY_NAMES. */
export function namedFailures(jobs: readonly Rec[]): string {
  const reason = (j: Rec) => str(j.failure_reason) || 'unknown';
  const named = jobs.slice(0, SUMMARY_NAMES).map((j) => `${str(j.stage)}/${str(j.name)} (${reason(j)})`);
  const rest = jobs.slice(SUMMARY_NAMES);
  if (rest.length === 0) return named.join(', ');
  const counts = new Map<string, number>();
  for (const j of rest) counts.set(reason(j), (counts.get(reason(j)) ?? 0) + 1);
  const byReason = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 5);
  return `${named.join(', ')} and ${rest.length} more (${byReason.map(([r, n]) => `${r}: ${n}`).join(', ')}${counts.size > 5 ? ', ...' : ''})`;
}

const ERROR_LINE = /\b(error|fail(ed|ure)?|exception|panic|fatal|assert\w*|traceback)\b/i;
const EARLIER_ERRORS = 5;
const EARLIER_ERROR_CHARS = 300;

/** Error-looking lines above the tail (the real cause often scrolls away under cleanup output); the last few. */
export function earlierErrors(lines: readonly { text: string }[], before: number): string[] {
  const found: string[] = [];
  for (let i = Math.min(before, lines.length) - 1; i >= 0 && found.length < EARLIER_ERRORS; i--) {
    const text = (lines[i] as { text: string }).text;
    if (ERROR_LINE.test(text)) found.push(sliceChars(text, EARLIER_ERROR_CHARS));
  }
  return found.reverse();
}

/** Runner housekeeping sections that follow the failure; the failing step is the last section before them. */
const HOUSEKEEPING = /^(cleanup_|upload_artifacts|archive_cache|after_script)/;

export function failingSection(lines: readonly { section: string | null }[]): string | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const s = lines[i]?.section;
    if (s && !HOUSEKEEPING.test(s)) return s;
  }
  return null;
}

async function findPipeline(
  api: Api,
  path: string,
  id: number | undefined,
  ref: string | undefined,
): Promise<{ pipeline: Rec; caveat?: string }> {
  if (id !== undefined) return { pipeline: (await api.Pipelines.show(path, id)) as unknown as Rec };
  const list = (await api.Pipelines.all(path, {
    status: 'failed',
    orderBy: 'id',
    sort: 'desc',
    page: 1,
    perPage: 1,
    maxPages: 1,
    ...(ref ? { ref } : {}),
  } as never)) as unknown as Rec[];
  // with both branch and merge request pipelines (doc/ci/jobs/job_rules.md "Avoid duplicate pipelines") the
  // latest failure may be either: the newest of the two
  let mr: Rec | undefined;
  let caveat: string | undefined;
  if (ref && !ref.startsWith('refs/'))
    try {
      const found = await mergeRequestFailure(api, path, ref);
      mr = found.newest;
      caveat = found.unread;
    } catch (err) {
      // GitLab refusing the extra lookups (throttled, failing) must not hide the branch failure already found;
      // the summary says a newer one may be in the merge request pipelines
      if (!(err instanceof GitLabHttpError) || !list[0]) throw err;
      caveat = `its merge request pipelines could not be checked (HTTP ${err.status}): a newer failure may be there`;
    }
  const first = mr && (!list[0] || num(mr.id) > num(list[0].id)) ? mr : list[0];
  if (!first)
    throw new ToolError(
      'ERR_NOT_FOUND',
      `no failed pipeline in "${path}"${ref ? ` on ${ref}${ref.startsWith('refs/') ? '' : ' or in the merge request pipelines (head, merged results, merge train) of its latest merge requests'}` : ''}${caveat ? `; ${caveat}` : ''}; pass pipelineId or check pipelines_list`,
    );
  return { pipeline: first, ...(caveat ? { caveat } : {}) };
}

/** A job's log, tail-capped while it is read, cleaned for reading. */
export async function readLog(api: Api, scope: CallScope, path: string, jobId: number) {
  scope.textTotalBytes = undefined;
  scope.textTruncated = undefined;
  const raw = (await api.Jobs.showLog(path, jobId)) as unknown;
  const text = typeof raw === 'string' ? raw : '';
  const { lines, lastSection } = cleanLog(text);
  const readBytes = Buffer.byteLength(text, 'utf8');
  const totalBytes = scope.textTotalBytes ?? readBytes;
  return {
    lines,
    lastSection,
    readBytes,
    totalBytes,
    /** Where the text read starts in the log (its tail was kept): line offsets are from here. */
    base: Math.max(0, totalBytes - readBytes),
    cut: scope.textTruncated === true,
  };
}

export const pipelinesRetry = defineTool({
  name: 'pipelines_retry',
  toolset: 'pipelines',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Retry a pipeline',
  description: 'Retry the failed and canceled jobs of a pipeline; returns the pipeline with its new status.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  // Long-running: clients with MCP Tasks may run it as a task; others get the plain call.
  task: 'optional',
  input: z.object({ project: ProjectPath, pipelineId: Id.describe('From pipelines_list') }),
  output: PipelineSummary,
  handler: async ({ project, pipelineId }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    const p = (await gitlab.call(`retrying pipeline ${pipelineId} of "${project}"`, signal, (api) =>
      api.Pipelines.retry(path, pipelineId),
    )) as unknown as Rec;
    return PipelineSummaryOf(p);
  },
});

export const pipelinesCancel = defineTool({
  name: 'pipelines_cancel',
  toolset: 'pipelines',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Cancel a pipeline',
  description: 'Cancel the running and pending jobs of a pipeline; a finished pipeline is returned unchanged.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath, pipelineId: Id.describe('From pipelines_list') }),
  output: PipelineSummary,
  plan: ({ project, pipelineId }) => `cancel every running or pending job of pipeline ${pipelineId} in ${project}`,
  handler: async ({ project, pipelineId }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    const p = (await gitlab.call(`canceling pipeline ${pipelineId} of "${project}"`, signal, (api) =>
      api.Pipelines.cancel(path, pipelineId),
    )) as unknown as Rec;
    return PipelineSummaryOf(p);
  },
});
export const pipelineTools = [pipelinesList, pipelinesGet, pipelinesDiagnose, pipelinesRetry, pipelinesCancel] as const;
