import { pageList } from '@ravenhelm/kit';
import { z } from 'zod';
import { defineTool, READ } from './define.js';
import { changedNote, digest, keyedPage, readWhole } from './keyset.js';
import { Cursor, itemBudget, Limit, Page, ProjectRef, pageOf, resolveProject, shortEnum, windowOf } from './shapes.js';

const NameFilter = z.string().min(1).max(200).optional().describe('Substring of the name, any case');

/** Projects read per page (each page reads them all: see keyset.ts); more are not paged, and the answer says so. */
const MAX_PROJECTS = 1000;

const Project = z.object({ id: z.string(), name: z.string(), state: z.string() });

export const projectsList = defineTool({
  name: 'projects_list',
  toolset: 'projects',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: 'List projects',
  description: "Projects of the server's organisation, optionally filtered by name; paged with an exact total.",
  annotations: READ,
  input: z.object({ name: NameFilter, limit: Limit, cursor: Cursor }),
  output: z.object({ projects: z.array(Project), ...Page, notes: z.array(z.string()).optional() }),
  handler: async ({ name, limit, cursor }, { zitadel, signal, maxOutputBytes }) => {
    const filter = name ? { value: name, method: 'TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE' as const } : undefined;
    const readAll = () =>
      readWhole(
        (window) => zitadel.listProjects(filter, window, signal),
        (p, n) => p.id || `#${n}`,
        MAX_PROJECTS,
      );
    let read = await readAll();
    if (read.shifted) read = await readAll();
    const projects = read.items.map((p) => ({
      key: digest(p.id, 12),
      item: { id: p.id, name: p.name ?? '', state: shortEnum(p.state, 'PROJECT_STATE_') },
    }));
    const budget = itemBudget(maxOutputBytes) - 1024;
    const fits = (items: z.output<typeof Project>[]) => pageList(items, { maxBytes: budget }).items.length;
    const page = keyedPage(projects, { cursor, limit, fits, bind: `projects ${name ?? ''}`, tool: 'projects_list' });
    const notes = [
      ...(read.cut
        ? [
            `${read.total} projects match, more than the ${MAX_PROJECTS} a listing reads: only those are paged; narrow it with name`,
          ]
        : []),
      ...(read.shifted ? ['the projects changed while they were read: one may be missing; repeat the call'] : []),
      ...(page.changed ? [changedNote('the projects')] : []),
    ];
    return {
      projects: page.shown,
      total: read.cut ? read.total : read.items.length,
      returned: page.shown.length,
      truncated: page.truncated,
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      ...(notes.length > 0 ? { notes } : {}),
    };
  },
});

export const orgsList = defineTool({
  name: 'orgs_list',
  toolset: 'projects',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: 'List organisations',
  description: 'Zitadel organisations visible to the server, optionally filtered by name; paged with an exact total.',
  annotations: READ,
  input: z.object({ name: NameFilter, limit: Limit, cursor: Cursor }),
  output: z.object({
    orgs: z.array(
      z.object({ id: z.string(), name: z.string(), state: z.string(), primaryDomain: z.string().optional() }),
    ),
    ...Page,
  }),
  handler: async ({ name, limit, cursor }, { zitadel, signal, maxOutputBytes }) => {
    const window = windowOf(cursor, limit);
    const res = await zitadel.listOrgs(name, window, signal);
    const orgs = res.result.map((o) => ({
      id: o.id,
      name: o.name ?? '',
      state: shortEnum(o.state, 'ORGANIZATION_STATE_'),
      ...(o.primaryDomain ? { primaryDomain: o.primaryDomain } : {}),
    }));
    const page = pageOf(res, window, orgs, itemBudget(maxOutputBytes));
    return { orgs: page.items, ...page.paging };
  },
});

export const rolesList = defineTool({
  name: 'roles_list',
  toolset: 'projects',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: "List a project's roles",
  description: "A project's roles; for the configured MCP project each role shows the MCP scopes it grants.",
  annotations: READ,
  input: z.object({
    project: ProjectRef.optional(),
    limit: z.number().int().min(1).max(200).default(100),
    cursor: Cursor,
  }),
  output: z.object({
    projectId: z.string(),
    mcpProject: z.boolean(),
    roles: z.array(
      z.object({ key: z.string(), displayName: z.string(), group: z.string().optional(), scopes: z.array(z.string()) }),
    ),
    ...Page,
  }),
  handler: async ({ project, limit, cursor }, { zitadel, mapping, signal, maxOutputBytes }) => {
    const p = await resolveProject(zitadel, project, mapping.projectId, signal);
    const mcpProject = p.id === mapping.projectId;
    const window = windowOf(cursor, limit);
    const res = await zitadel.listProjectRoles(p.id, window, signal);
    const roles = res.result.map((r) => ({
      key: r.key,
      displayName: r.displayName ?? '',
      ...(r.group ? { group: r.group } : {}),
      scopes: mcpProject && Object.hasOwn(mapping.roleScopes, r.key) ? [...(mapping.roleScopes[r.key] ?? [])] : [],
    }));
    const page = pageOf(res, window, roles, itemBudget(maxOutputBytes));
    return { projectId: p.id, mcpProject, roles: page.items, ...page.paging };
  },
});

export const projectTools = [projectsList, orgsList, rolesList];
