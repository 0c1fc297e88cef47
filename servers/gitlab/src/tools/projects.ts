import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { decodeKeysetCursor, encodeKeysetCursor } from '../backend.js';
import { defineTool } from './define.js';
import {
  Cursor,
  clip,
  GroupPath,
  Limit,
  num,
  Paging,
  ProjectPath,
  type Rec,
  Search,
  str,
  strOrNull,
} from './shapes.js';

const ProjectSummary = z.object({
  path: z.string(),
  name: z.string(),
  visibility: z.string(),
  defaultBranch: z.string().nullable(),
  archived: z.boolean(),
  lastActivityAt: z.string().nullable(),
});

function summary(p: Rec) {
  return {
    path: str(p.path_with_namespace),
    name: str(p.name),
    visibility: str(p.visibility),
    defaultBranch: strOrNull(p.default_branch),
    archived: p.archived === true,
    lastActivityAt: strOrNull(p.last_activity_at),
  };
}

export const projectsList = defineTool({
  name: 'projects_list',
  toolset: 'projects',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List projects',
  description:
    'List or search GitLab projects the server may see (allowlisted paths only), oldest id first; cursor paging.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    search: Search,
    membership: z.boolean().default(false).describe("Only projects the server's GitLab user is a member of"),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ projects: z.array(ProjectSummary), hiddenByAllowlist: z.number(), ...Paging }),
  handler: async ({ search, membership, limit, cursor }, { gitlab, signal }) => {
    const at = decodeKeysetCursor(cursor);
    const perPage = at?.perPage ?? limit;
    const { rows, link } = await gitlab.call('the project list', signal, async (api, scope) => {
      const rows = (await api.Projects.all({
        pagination: 'keyset',
        orderBy: 'id',
        sort: 'asc',
        perPage,
        maxPages: 1,
        ...(at ? { idAfter: at.idAfter } : {}),
        ...(search ? { search } : {}),
        ...(membership ? { membership: true } : {}),
      } as never)) as unknown as Rec[];
      return { rows, link: scope.lastHeaders?.link ?? '' };
    });
    const idAfter = nextIdAfter(link);
    const visible = rows.filter((p) => gitlab.allowlist.allows(str(p.path_with_namespace)));
    return {
      projects: visible.map(summary),
      hiddenByAllowlist: rows.length - visible.length,
      total: null,
      truncated: idAfter !== null,
      ...(idAfter !== null ? { nextCursor: encodeKeysetCursor(Number(idAfter), perPage) } : {}),
    };
  },
});

/** id_after of GitLab's rel="next" Link (keyset paging); null on the last page. */
export function nextIdAfter(link: string): string | null {
  const next = /<([^>]+)>;\s*rel="next"/.exec(link)?.[1];
  if (next === undefined) return null;
  const idAfter = URL.canParse(next) ? new URL(next).searchParams.get('id_after') : null;
  if (idAfter === null || !/^\d{1,12}$/.test(idAfter))
    throw new ToolError(
      'ERR_BACKEND_ERROR',
      "the Link header of GitLab's project list names a next page without a numeric id_after; check that GITLAB_URL points at GitLab itself, not a proxy that rewrites it",
    );
  return idAfter;
}

export const projectsGet = defineTool({
  name: 'projects_get',
  toolset: 'projects',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Get a project',
  description: 'One project by full path: description, default branch, visibility, open issue count, URLs, activity.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath }),
  output: ProjectSummary.extend({
    id: z.number(),
    description: z.string(),
    webUrl: z.string(),
    httpCloneUrl: z.string(),
    openIssues: z.number().nullable(),
    createdAt: z.string().nullable(),
  }),
  handler: async ({ project }, { gitlab, signal }) => {
    const p = (await gitlab.call(`project "${project}"`, signal, (api) =>
      api.Projects.show(gitlab.project(project)),
    )) as unknown as Rec;
    return {
      ...summary(p),
      id: num(p.id),
      description: clip(p.description, 1000),
      webUrl: str(p.web_url),
      httpCloneUrl: str(p.http_url_to_repo),
      openIssues: typeof p.open_issues_count === 'number' ? p.open_issues_count : null,
      createdAt: strOrNull(p.created_at),
    };
  },
});

export const projectsCreate = defineTool({
  name: 'projects_create',
  toolset: 'projects',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Create a project',
  description: 'Create an empty project in a group (the new path must be inside the allowlist); private by default.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({
    group: GroupPath,
    name: z.string().min(1).max(255).describe('Project name'),
    path: z
      .string()
      .max(255)
      .regex(/^[\w.-]+$/, 'one path segment')
      .optional()
      .describe('URL path; default: derived from the name'),
    visibility: z.enum(['private', 'internal', 'public']).default('private').describe('Who can see it'),
    description: z.string().max(2000).optional().describe('Short description'),
  }),
  output: ProjectSummary.extend({ id: z.number(), webUrl: z.string() }),
  handler: async ({ group, name, path, visibility, description }, { gitlab, signal }) => {
    const slug =
      path ??
      name
        .trim()
        .toLowerCase()
        .replace(/[^\w.-]+/g, '-');
    gitlab.project(`${gitlab.group(group)}/${slug}`);
    const p = (await gitlab.call(`a new project in "${group}"`, signal, async (api) => {
      const ns = (await api.Groups.show(group, { withProjects: false } as never)) as unknown as Rec;
      return api.Projects.create({
        name,
        path: slug,
        namespaceId: num(ns.id),
        visibility,
        ...(description ? { description } : {}),
      } as never);
    })) as unknown as Rec;
    return { ...summary(p), id: num(p.id), webUrl: str(p.web_url) };
  },
});

export const projectTools = [projectsList, projectsGet, projectsCreate] as const;
