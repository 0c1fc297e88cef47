import { z } from 'zod';
import { fitPage } from '../backend.js';
import { defineTool } from './define.js';
import { ChangedFile, changedFile, MrIid, mergeRequestsGetDiff } from './merge-request-diff.js';
import {
  Cursor,
  clip,
  Limit,
  num,
  Paging,
  ProjectPath,
  pagingOf,
  type Rec,
  Search,
  str,
  strOrNull,
  UserRef,
  userRef,
} from './shapes.js';

const MrSummary = z.object({
  iid: z.number(),
  title: z.string(),
  state: z.string(),
  draft: z.boolean(),
  sourceBranch: z.string(),
  targetBranch: z.string(),
  author: UserRef,
  updatedAt: z.string().nullable(),
});

const mrSummary = (m: Rec) => ({
  iid: num(m.iid),
  title: str(m.title),
  state: str(m.state),
  draft: m.draft === true || m.work_in_progress === true,
  sourceBranch: str(m.source_branch),
  targetBranch: str(m.target_branch),
  author: userRef(m.author),
  updatedAt: strOrNull(m.updated_at),
});

/**
 * Whether GitLab has not finished its mergeability check: `has_conflicts` is `cannot_be_merged?`
 * (lib/api/entities/merge_request_basic.rb), false in every state before the check ends, so it says
 * nothing yet. States from app/models/merge_request.rb (`merge_status`, shown through `public_merge_status`)
 * and detailed_merge_status_service.rb (preparing, checking, unchecked).
 */
const CHECKING = new Set([
  'preparing',
  'unchecked',
  'checking',
  'cannot_be_merged_recheck',
  'cannot_be_merged_rechecking',
]);
export const stillChecking = (m: Rec): boolean =>
  m.has_conflicts !== true && (CHECKING.has(str(m.detailed_merge_status)) || CHECKING.has(str(m.merge_status)));

export const mergeRequestsList = defineTool({
  name: 'merge_requests_list',
  toolset: 'merge_requests',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List merge requests',
  description: "List a project's merge requests, newest first; filter by state, target branch or text.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    state: z.enum(['opened', 'closed', 'merged', 'all']).default('opened'),
    targetBranch: z.string().min(1).max(255).optional().describe('Exact branch name'),
    search: Search,
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ mergeRequests: z.array(MrSummary), ...Paging }),
  handler: async ({ project, state, targetBranch, search, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    const page = await gitlab.page<Rec>(`merge requests of "${project}"`, signal, cursor, limit, (api, req) =>
      api.MergeRequests.all({
        projectId: gitlab.project(project),
        ...req,
        state,
        ...(targetBranch ? { targetBranch } : {}),
        ...(search ? { search } : {}),
      } as never),
    );
    const fitted = fitPage({ ...page, items: page.items.map(mrSummary) }, cursor, limit, maxOutputBytes - 512);
    return { mergeRequests: fitted.items, ...pagingOf(fitted) };
  },
});

export const mergeRequestsGet = defineTool({
  name: 'merge_requests_get',
  toolset: 'merge_requests',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Get a merge request',
  description: 'One merge request with its head pipeline, approval state, mergeability and changed-file count.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath, iid: MrIid }),
  output: MrSummary.extend({
    description: z.string(),
    mergeStatus: z.string(),
    hasConflicts: z.boolean().nullable().describe('null: GitLab is still checking; ask again shortly'),
    changesCount: z.string(),
    overflow: z.boolean(),
    pipelineId: z.number().nullable(),
    pipelineStatus: z.string().nullable(),
    approvalsRequired: z.number(),
    approvalsLeft: z.number(),
    approvedBy: z.array(z.string()),
    webUrl: z.string(),
  }),
  handler: async ({ project, iid }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    return gitlab.call(`merge request !${iid} of "${project}"`, signal, async (api) => {
      const m = (await api.MergeRequests.show(path, iid)) as unknown as Rec;
      // GET /merge_requests/:iid/approvals: available on every tier (approval_state needs Premium)
      const a = (await api.MergeRequestApprovals.showConfiguration(path, { mergerequestIId: iid })) as unknown as Rec;
      const head = m.head_pipeline as Rec | null;
      const changes = str(m.changes_count);
      return {
        ...mrSummary(m),
        description: clip(m.description, 2000),
        mergeStatus: str(m.detailed_merge_status || m.merge_status),
        hasConflicts: stillChecking(m) ? null : m.has_conflicts === true,
        changesCount: changes,
        overflow: changes.endsWith('+'),
        pipelineId: head ? num(head.id) : null,
        pipelineStatus: head ? str(head.status) : null,
        approvalsRequired: num(a.approvals_required ?? 0),
        approvalsLeft: num(a.approvals_left ?? 0),
        approvedBy: ((a.approved_by as Rec[] | undefined) ?? []).map((x) => str((x.user as Rec)?.username)),
        webUrl: str(m.web_url),
      };
    });
  },
});

export const mergeRequestsListChanges = defineTool({
  name: 'merge_requests_list_changes',
  toolset: 'merge_requests',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List files changed by a merge request',
  description:
    "Files a merge request changes with +/- line counts and GitLab's collapsed/too_large flags (no diff text); paged.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath, iid: MrIid, limit: Limit, cursor: Cursor }),
  output: z.object({ files: z.array(ChangedFile), ...Paging }),
  handler: async ({ project, iid, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    // GitLab answers at most 30 files a page here (merge-request-diff.ts): a larger limit gets 30 and a cursor
    const page = await gitlab.page<Rec>(
      `changes of merge request !${iid} of "${project}"`,
      signal,
      cursor,
      limit,
      (api, req) => api.MergeRequests.allDiffs(gitlab.project(project), iid, req as never),
    );
    const files = page.items.map(changedFile);
    const fitted = fitPage({ ...page, items: files }, cursor, limit, maxOutputBytes - 512);
    return { files: fitted.items, ...pagingOf(fitted) };
  },
});

export const mergeRequestsComment = defineTool({
  name: 'merge_requests_comment',
  toolset: 'merge_requests',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Comment on a merge request',
  description: 'Add a comment (note) to a merge request; returns the note id.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({ project: ProjectPath, iid: MrIid, body: z.string().min(1).max(20_000).describe('Markdown text') }),
  output: z.object({ noteId: z.number(), createdAt: z.string().nullable() }),
  handler: async ({ project, iid, body }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    const n = (await gitlab.call(`a comment on merge request !${iid} of "${project}"`, signal, (api) =>
      api.MergeRequestNotes.create(path, iid, body),
    )) as unknown as Rec;
    return { noteId: num(n.id), createdAt: strOrNull(n.created_at) };
  },
});

export const mergeRequestTools = [
  mergeRequestsList,
  mergeRequestsGet,
  mergeRequestsListChanges,
  mergeRequestsGetDiff,
  mergeRequestsComment,
] as const;
