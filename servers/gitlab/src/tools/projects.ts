import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { decodeKeysetCursor, encodeKeysetCursor, type GitLabBackend } from '../backend.js';
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
    if (gitlab.allowlist.restricted) return scanAllowed(gitlab, signal, { search, membership, limit, at });
    const perPage = at?.perPage ?? limit;
    const { rows, idAfter } = await keysetPage(gitlab, signal, { perPage, idAfter: at?.idAfter, search, membership });
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

/** One keyset page of GitLab's project list (oldest id first) and the id_after of the next one. */
async function keysetPage(
  gitlab: GitLabBackend,
  signal: AbortSignal,
  q: { perPage: number; idAfter: number | undefined; search?: string | undefined; membership: boolean },
): Promise<{ rows: Rec[]; idAfter: string | null }> {
  const { rows, link } = await gitlab.call('the project list', signal, async (api, scope) => {
    const rows = (await api.Projects.all({
      pagination: 'keyset',
      orderBy: 'id',
      sort: 'asc',
      perPage: q.perPage,
      maxPages: 1,
      ...(q.idAfter !== undefined ? { idAfter: q.idAfter } : {}),
      ...(q.search ? { search: q.search } : {}),
      ...(q.membership ? { membership: true } : {}),
    } as never)) as unknown as Rec[];
    return { rows, link: scope.lastHeaders?.link ?? '' };
  });
  return { rows, idAfter: nextIdAfter(link) === null ? null : afterRows(rows, q.idAfter) };
}

/**
 * Where the page after `rows` starts. GitLab's rel="next" only says whether one comes: with order_by=id asc
 * the next page starts after the highest id read (GitLab's keyset paginator writes that very id), so an
 * id_after that does not move forward (a proxy or a cache rewriting the link) cannot repeat or skip
 * projects, and an empty page ends the list.
 */
function afterRows(rows: Rec[], idAfter: number | undefined): string | null {
  const last = Math.max(0, ...rows.map((p) => num(p.id)).filter(Number.isSafeInteger));
  return last > (idAfter ?? 0) ? String(last) : null;
}

/** GitLab pages of 100 read for one call when the allowlist hides part of the list. */
const SCAN_PAGES = 5;

/**
 * The list under an allowlist that is not "**". GitLab's search matches names and descriptions of
 * every project, so sending it would make the hidden count and the paging an oracle for projects
 * outside the allowlist (search "acquisition": hiddenByAllowlist 1). Instead the list is read
 * unfiltered, in pages of 100, and the search applies here to the allowed projects only: the answer
 * and its counts are the same whatever the search says about hidden projects.
 */
async function scanAllowed(
  gitlab: GitLabBackend,
  signal: AbortSignal,
  q: { search?: string | undefined; membership: boolean; limit: number; at: { idAfter: number } | undefined },
) {
  const needle = q.search?.toLowerCase();
  const matches = (p: Rec) =>
    !needle || [p.path_with_namespace, p.name, p.description].some((v) => str(v).toLowerCase().includes(needle));
  const projects: ReturnType<typeof summary>[] = [];
  let hidden = 0;
  let idAfter: number | undefined = q.at?.idAfter;
  for (let n = 0; n < SCAN_PAGES; n++) {
    const page = await keysetPage(gitlab, signal, { perPage: 100, idAfter, membership: q.membership });
    for (const p of page.rows) {
      idAfter = num(p.id);
      if (!gitlab.allowlist.allows(str(p.path_with_namespace))) hidden++;
      else if (matches(p)) projects.push(summary(p));
      if (projects.length === q.limit) {
        const more = p !== page.rows.at(-1) || page.idAfter !== null;
        return pageOf(projects, hidden, more ? idAfter : null, q.limit);
      }
    }
    if (page.idAfter === null) return pageOf(projects, hidden, null, q.limit);
    idAfter = Number(page.idAfter);
  }
  // the scan budget is spent: the cursor continues after the last project read
  return pageOf(projects, hidden, idAfter ?? null, q.limit);
}

function pageOf(projects: ReturnType<typeof summary>[], hidden: number, idAfter: number | null, limit: number) {
  return {
    projects,
    hiddenByAllowlist: hidden,
    total: null,
    truncated: idAfter !== null,
    ...(idAfter !== null ? { nextCursor: encodeKeysetCursor(idAfter, limit) } : {}),
  };
}

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
    gitlab.same('project', project, p.path_with_namespace);
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
      // the project goes into the namespace GitLab resolved: it must be the allowlisted group itself
      gitlab.same('group', group, ns.full_path);
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
