import { z } from 'zod';
import { defineTool, READ } from './define.js';
import { idOr, listWhole } from './keyset.js';
import { Cursor, itemBudget, Limit, Notes, Page, ProjectRef, paging, resolveProject, shortEnum } from './shapes.js';

const NameFilter = z.string().min(1).max(200).optional().describe('Substring of the name, any case');

/** Rows read per page (each page reads them all: see keyset.ts); more are not paged, and the answer says so. */
const MAX_PROJECTS = 1000;
const MAX_ORGS = 1000;
const MAX_ROLES = 1000;

const Project = z.object({ id: z.string(), name: z.string(), state: z.string() });

export const projectsList = defineTool({
  name: 'projects_list',
  toolset: 'projects',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: 'List projects',
  description: "Projects of the server's organisation, optionally filtered by name.",
  annotations: READ,
  input: z.object({ name: NameFilter, limit: Limit, cursor: Cursor }),
  output: z.object({ projects: z.array(Project), ...Page, notes: Notes }),
  handler: async ({ name, limit, cursor }, { zitadel, signal, maxOutputBytes }) => {
    const filter = name ? { value: name, method: 'TEXT_QUERY_METHOD_CONTAINS_IGNORE_CASE' as const } : undefined;
    const page = await listWhole((window) => zitadel.listProjects(filter, window, signal), {
      idOf: (p, n) => idOr(p.id, n),
      show: (p) => ({ id: p.id, name: p.name ?? '', state: shortEnum(p.state, 'PROJECT_STATE_') }),
      max: MAX_PROJECTS,
      what: 'projects',
      narrow: 'narrow it with name',
      tool: 'projects_list',
      bind: name ?? '',
      cursor,
      limit,
      maxBytes: itemBudget(maxOutputBytes),
    });
    return { projects: page.items, ...paging(page) };
  },
});

export const orgsList = defineTool({
  name: 'orgs_list',
  toolset: 'projects',
  tier: 'LOW',
  scopes: ['mcp:zitadel:read'],
  title: 'List organisations',
  description: 'Zitadel organisations visible to the server, optionally filtered by name.',
  annotations: READ,
  input: z.object({ name: NameFilter, limit: Limit, cursor: Cursor }),
  output: z.object({
    orgs: z.array(
      z.object({ id: z.string(), name: z.string(), state: z.string(), primaryDomain: z.string().optional() }),
    ),
    ...Page,
    notes: Notes,
  }),
  handler: async ({ name, limit, cursor }, { zitadel, signal, maxOutputBytes }) => {
    const page = await listWhole((window) => zitadel.listOrgs(name, window, signal), {
      idOf: (o, n) => idOr(o.id, n),
      show: (o) => ({
        id: o.id,
        name: o.name ?? '',
        state: shortEnum(o.state, 'ORGANIZATION_STATE_'),
        ...(o.primaryDomain ? { primaryDomain: o.primaryDomain } : {}),
      }),
      max: MAX_ORGS,
      what: 'organisations',
      narrow: 'narrow it with name',
      tool: 'orgs_list',
      bind: name ?? '',
      cursor,
      limit,
      maxBytes: itemBudget(maxOutputBytes),
    });
    return { orgs: page.items, ...paging(page) };
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
    notes: Notes,
  }),
  handler: async ({ project, limit, cursor }, { zitadel, mapping, signal, maxOutputBytes }) => {
    const p = await resolveProject(zitadel, project, mapping.projectId, signal);
    const mcpProject = p.id === mapping.projectId;
    const page = await listWhole((window) => zitadel.listProjectRoles(p.id, window, signal), {
      // a role's key is unique in its project (Errors.Project.Role.AlreadyExists)
      idOf: (r, n) => idOr(r.key, n),
      show: (r) => ({
        key: r.key,
        displayName: r.displayName ?? '',
        ...(r.group ? { group: r.group } : {}),
        scopes: mcpProject && Object.hasOwn(mapping.roleScopes, r.key) ? [...(mapping.roleScopes[r.key] ?? [])] : [],
      }),
      max: MAX_ROLES,
      what: 'roles',
      narrow: 'review the rest in Zitadel',
      tool: 'roles_list',
      bind: p.id,
      cursor,
      limit,
      maxBytes: itemBudget(maxOutputBytes),
    });
    return { projectId: p.id, mcpProject, roles: page.items, ...paging(page) };
  },
});

export const projectTools = [projectsList, orgsList, rolesList];
