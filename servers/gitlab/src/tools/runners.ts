import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { fitPage } from '../backend.js';
import { defineTool } from './define.js';
import { Cursor, Limit, num, Paging, ProjectPath, pagingOf, type Rec, str, strOrNull } from './shapes.js';

const Runner = z.object({
  id: z.number(),
  description: z.string(),
  type: z.string(),
  status: z.string(),
  paused: z.boolean(),
  contactedAt: z.string().nullable(),
  tags: z.array(z.string()),
});

const runnerOf = (r: Rec) => ({
  id: num(r.id),
  description: str(r.description),
  type: str(r.runner_type),
  status: str(r.status),
  paused: r.paused === true || r.active === false,
  contactedAt: strOrNull(r.contacted_at),
  tags: Array.isArray(r.tag_list) ? r.tag_list.map(String) : [],
});

export const runnersList = defineTool({
  name: 'runners_list',
  toolset: 'runners',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List runners',
  description:
    "List CI runners with status and last contact: a project's runners, or every runner (admin token, no allowlist).",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath.optional().describe('Project full path; omit for every runner (admin token, no allowlist)'),
    status: z.enum(['online', 'offline', 'stale', 'never_contacted']).optional(),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ runners: z.array(Runner), ...Paging }),
  handler: async ({ project, status, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    // every runner of the instance names and tags the runners of projects outside the allowlist
    if (project === undefined && gitlab.allowlist.restricted)
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        `listing every runner of the instance would show runners of projects outside this server's allowlist (${gitlab.allowlist.patterns.join(', ') || 'empty'}); pass project (an allowed one) to list the runners it can use`,
      );
    const projectId = project === undefined ? undefined : gitlab.project(project);
    const page = await gitlab.page<Rec>(
      project ? `runners of "${project}"` : 'all runners',
      signal,
      cursor,
      limit,
      (api, req) =>
        api.Runners.all({ ...req, ...(projectId ? { projectId } : {}), ...(status ? { status } : {}) } as never),
    );
    const fitted = fitPage({ ...page, items: page.items.map(runnerOf) }, cursor, limit, maxOutputBytes - 512);
    return { runners: fitted.items, ...pagingOf(fitted) };
  },
});

export const runnerTools = [runnersList] as const;
