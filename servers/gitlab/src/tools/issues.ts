import { z } from 'zod';
import { fitPage } from '../backend.js';
import { defineTool } from './define.js';
import {
  Cursor,
  clip,
  Id,
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

const IssueSummary = z.object({
  iid: z.number(),
  title: z.string(),
  state: z.string(),
  labels: z.array(z.string()),
  author: UserRef,
  assignees: z.array(z.string()),
  updatedAt: z.string().nullable(),
});

const issueSummary = (i: Rec) => ({
  iid: num(i.iid),
  title: str(i.title),
  state: str(i.state),
  labels: Array.isArray(i.labels) ? i.labels.map(String) : [],
  author: userRef(i.author),
  assignees: Array.isArray(i.assignees) ? (i.assignees as Rec[]).map((a) => str(a.username)) : [],
  updatedAt: strOrNull(i.updated_at),
});

const IssueIid = Id.describe('Issue IID (the #number in the project)');
const Label = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^,]+$/, 'one label, no commas');

export const issuesList = defineTool({
  name: 'issues_list',
  toolset: 'issues',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List issues',
  description: "List or search a project's issues, newest first; filter by state and labels.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    state: z.enum(['opened', 'closed', 'all']).default('opened'),
    labels: z.array(Label).max(10).optional().describe('All must match'),
    search: Search,
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ issues: z.array(IssueSummary), ...Paging }),
  handler: async ({ project, state, labels, search, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    const page = await gitlab.page<Rec>(`issues of "${project}"`, signal, cursor, limit, (api, req) =>
      api.Issues.all({
        projectId: gitlab.project(project),
        ...req,
        state,
        ...(labels?.length ? { labels: labels.join(',') } : {}),
        ...(search ? { search } : {}),
      } as never),
    );
    const fitted = fitPage({ ...page, items: page.items.map(issueSummary) }, cursor, limit, maxOutputBytes - 512);
    return { issues: fitted.items, ...pagingOf(fitted) };
  },
});

const IssueDetail = IssueSummary.extend({
  description: z.string(),
  createdAt: z.string().nullable(),
  closedAt: z.string().nullable(),
  comments: z.number(),
  webUrl: z.string(),
});

const issueDetail = (i: Rec) => ({
  ...issueSummary(i),
  description: clip(i.description, 4000),
  createdAt: strOrNull(i.created_at),
  closedAt: strOrNull(i.closed_at),
  comments: num(i.user_notes_count ?? 0),
  webUrl: str(i.web_url),
});

export const issuesGet = defineTool({
  name: 'issues_get',
  toolset: 'issues',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Get an issue',
  description: 'One issue with its description (clipped at 4000 chars), labels, assignees and dates.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath, iid: IssueIid }),
  output: IssueDetail,
  handler: async ({ project, iid }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    const i = (await gitlab.call(`issue #${iid} of "${project}"`, signal, (api) =>
      api.Issues.show(iid, { projectId: path }),
    )) as unknown as Rec;
    return issueDetail(i);
  },
});

export const issuesCreate = defineTool({
  name: 'issues_create',
  toolset: 'issues',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Create an issue',
  description: 'Open a new issue in a project with a title, optional description and labels; returns its IID and URL.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    title: z.string().min(1).max(255).describe('Issue title'),
    description: z.string().max(50_000).optional().describe('Markdown description'),
    labels: z.array(Label).max(20).optional(),
  }),
  output: IssueDetail,
  handler: async ({ project, title, description, labels }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    const i = (await gitlab.call(`a new issue in "${project}"`, signal, (api) =>
      api.Issues.create(path, title, {
        ...(description ? { description } : {}),
        ...(labels?.length ? { labels: labels.join(',') } : {}),
      } as never),
    )) as unknown as Rec;
    return issueDetail(i);
  },
});

export const issuesComment = defineTool({
  name: 'issues_comment',
  toolset: 'issues',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Comment on an issue',
  description: 'Add a comment (note) to an issue; returns the note id.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    iid: IssueIid,
    body: z.string().min(1).max(20_000).describe('Markdown text'),
  }),
  output: z.object({ noteId: z.number(), createdAt: z.string().nullable() }),
  handler: async ({ project, iid, body }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    const n = (await gitlab.call(`a comment on issue #${iid} of "${project}"`, signal, (api) =>
      api.IssueNotes.create(path, iid, body),
    )) as unknown as Rec;
    return { noteId: num(n.id), createdAt: strOrNull(n.created_at) };
  },
});

export const issuesClose = defineTool({
  name: 'issues_close',
  toolset: 'issues',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Close an issue',
  description: 'Closes an issue (reopenable in GitLab); closing a closed issue changes nothing.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath, iid: IssueIid }),
  output: IssueDetail,
  handler: async ({ project, iid }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    const i = (await gitlab.call(`closing issue #${iid} of "${project}"`, signal, (api) =>
      api.Issues.edit(path, iid, { stateEvent: 'close' }),
    )) as unknown as Rec;
    return issueDetail(i);
  },
});

export const issueTools = [issuesList, issuesGet, issuesCreate, issuesComment, issuesClose] as const;
